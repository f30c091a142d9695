//! The reference backend: plain loops on the CPU.

use crate::backend::{Backend, ContigDepth, EventBatch};
use crate::error::Result;

pub struct CpuBackend {
    threads: usize,
}

impl CpuBackend {
    pub fn new(threads: usize) -> Self {
        CpuBackend { threads }
    }
}

impl Backend for CpuBackend {
    fn name(&self) -> &'static str {
        "cpu"
    }
    fn device(&self) -> String {
        format!("{} CPU thread(s)", self.threads)
    }
    fn begin_contig(&self, len: usize) -> Result<Box<dyn ContigDepth>> {
        Ok(Box::new(CpuDepth {
            diff: vec![0i32; len + 1],
            done: 0,
            acc: 0,
        }))
    }
}

/// One array: depth below `done`, differences from `done` on.
struct CpuDepth {
    diff: Vec<i32>,
    done: usize,
    acc: i32,
}

impl CpuDepth {
    fn prefix_sum(&mut self, upto: usize) {
        let upto = upto.min(self.diff.len());
        let mut acc = self.acc;
        for v in &mut self.diff[self.done.min(upto)..upto] {
            acc = acc.wrapping_add(*v);
            *v = acc;
        }
        self.acc = acc;
        self.done = self.done.max(upto);
    }
}

impl ContigDepth for CpuDepth {
    fn add_events(&mut self, batch: &EventBatch) -> Result<()> {
        let d = &mut self.diff;
        for &p in &batch.starts {
            d[p as usize] += 1;
        }
        for &p in &batch.ends {
            d[p as usize] -= 1;
        }
        Ok(())
    }

    fn take_final(&mut self, upto: usize) -> Result<Vec<i32>> {
        let from = self.done;
        self.prefix_sum(upto);
        Ok(self.diff[from.min(self.done)..self.done].to_vec())
    }

    fn finish(mut self: Box<Self>) -> Result<Vec<i32>> {
        let n = self.diff.len();
        self.prefix_sum(n);
        Ok(std::mem::take(&mut self.diff))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scatter_then_prefix_sum() {
        let b = CpuBackend::new(1);
        let mut c = b.begin_contig(10).unwrap();
        c.add_events(&EventBatch {
            starts: vec![0, 2, 2],
            ends: vec![5, 3, 10],
        })
        .unwrap();
        assert_eq!(c.take_final(4).unwrap(), vec![1, 1, 3, 2]);
        assert_eq!(c.take_final(4).unwrap(), Vec::<i32>::new());
        let d = c.finish().unwrap();
        assert_eq!(d, vec![1, 1, 3, 2, 2, 1, 1, 1, 1, 1, 0]);
    }
}
