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
        Ok(Box::new(ChunkedDepth {
            chunks: (0..(len + 1).div_ceil(CHUNK)).map(|_| None).collect(),
            len: len + 1,
            done: 0,
            acc: 0,
        }))
    }
}

const CHUNK_BITS: u32 = 16;
const CHUNK: usize = 1 << CHUNK_BITS;

/// Differences in lazily allocated chunks, freed once their depths are handed out: memory
/// follows the reads in flight, not the contig length.
struct ChunkedDepth {
    chunks: Vec<Option<Box<[i32]>>>,
    len: usize,
    done: usize,
    acc: i32,
}

impl ChunkedDepth {
    #[inline]
    fn slot(&mut self, p: usize) -> &mut i32 {
        let c = self.chunks[p >> CHUNK_BITS]
            .get_or_insert_with(|| vec![0i32; CHUNK].into_boxed_slice());
        &mut c[p & (CHUNK - 1)]
    }
}

impl ContigDepth for ChunkedDepth {
    fn add_events(&mut self, batch: &EventBatch) -> Result<()> {
        for &p in &batch.starts {
            *self.slot(p as usize) += 1;
        }
        for &p in &batch.ends {
            *self.slot(p as usize) -= 1;
        }
        Ok(())
    }

    fn take_final(&mut self, upto: usize) -> Result<Vec<i32>> {
        let upto = upto.min(self.len);
        let mut out = Vec::with_capacity(upto.saturating_sub(self.done));
        let mut acc = self.acc;
        while self.done < upto {
            let ci = self.done >> CHUNK_BITS;
            let chunk_end = ((ci + 1) * CHUNK).min(upto);
            let from = self.done & (CHUNK - 1);
            let to = from + (chunk_end - self.done);
            match &self.chunks[ci] {
                Some(c) => {
                    for &v in &c[from..to] {
                        acc = acc.wrapping_add(v);
                        out.push(acc);
                    }
                }
                None => out.extend(std::iter::repeat_n(acc, to - from)),
            }
            self.done = chunk_end;
            if self.done & (CHUNK - 1) == 0 {
                self.chunks[ci] = None;
            }
        }
        self.acc = acc;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events() -> EventBatch {
        EventBatch {
            starts: vec![0, 2, 2, 70000],
            ends: vec![5, 3, 10, 140000],
        }
    }

    #[test]
    fn taking_in_steps_equals_one_prefix_sum() {
        let b = CpuBackend::new(1);
        let mut c = b.begin_contig(140000).unwrap();
        c.add_events(&events()).unwrap();
        assert_eq!(c.take_final(4).unwrap(), vec![1, 1, 3, 2]);
        assert_eq!(c.take_final(4).unwrap(), Vec::<i32>::new());
        let rest = c.take_final(140001).unwrap();
        assert_eq!(rest.len(), 140001 - 4);
        assert_eq!(&rest[..7], &[2, 1, 1, 1, 1, 1, 0]);
        assert_eq!(rest[70000 - 4], 1);
        assert_eq!(rest[140000 - 4], 0);
        // A naive prefix sum over the same events.
        let mut d = vec![0i32; 140001];
        for &p in &events().starts {
            d[p as usize] += 1;
        }
        for &p in &events().ends {
            d[p as usize] -= 1;
        }
        let mut acc = 0;
        for v in &mut d {
            acc += *v;
            *v = acc;
        }
        assert_eq!(&d[4..], &rest[..]);
    }
}
