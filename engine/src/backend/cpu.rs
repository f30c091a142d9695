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
        }))
    }
}

struct CpuDepth {
    diff: Vec<i32>,
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

    fn finish(self: Box<Self>) -> Result<Vec<i32>> {
        let mut d = self.diff;
        let mut acc = 0i32;
        for v in d.iter_mut() {
            acc = acc.wrapping_add(*v);
            *v = acc;
        }
        Ok(d)
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
        let d = c.finish().unwrap();
        assert_eq!(d, vec![1, 1, 3, 2, 2, 1, 1, 1, 1, 1, 0]);
    }
}
