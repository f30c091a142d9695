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
    fn begin_contig(&self, len: usize, keep_all: bool) -> Result<Box<dyn ContigDepth>> {
        Ok(if keep_all {
            Box::new(WholeDepth {
                diff: vec![0i32; len + 1],
                done: 0,
                acc: 0,
            })
        } else {
            Box::new(ChunkedDepth {
                chunks: (0..(len + 1).div_ceil(CHUNK)).map(|_| None).collect(),
                len: len + 1,
                done: 0,
                acc: 0,
            })
        })
    }
}

/// One array for the whole contig: depth below `done`, differences from `done` on.
struct WholeDepth {
    diff: Vec<i32>,
    done: usize,
    acc: i32,
}

impl WholeDepth {
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

impl ContigDepth for WholeDepth {
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

    fn finish(mut self: Box<Self>) -> Result<Option<Vec<i32>>> {
        let n = self.diff.len();
        self.prefix_sum(n);
        Ok(Some(std::mem::take(&mut self.diff)))
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

    fn finish(self: Box<Self>) -> Result<Option<Vec<i32>>> {
        Ok(None)
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
    fn whole_and_chunked_agree() {
        let b = CpuBackend::new(1);
        let mut w = b.begin_contig(140000, true).unwrap();
        let mut c = b.begin_contig(140000, false).unwrap();
        w.add_events(&events()).unwrap();
        c.add_events(&events()).unwrap();
        assert_eq!(w.take_final(4).unwrap(), vec![1, 1, 3, 2]);
        assert_eq!(c.take_final(4).unwrap(), vec![1, 1, 3, 2]);
        assert_eq!(c.take_final(4).unwrap(), Vec::<i32>::new());
        let rest = c.take_final(140001).unwrap();
        let whole = w.finish().unwrap().unwrap();
        assert_eq!(whole.len(), 140001);
        assert_eq!(&whole[4..], &rest[..]);
        assert_eq!(&whole[..11], &[1, 1, 3, 2, 2, 1, 1, 1, 1, 1, 0]);
        assert_eq!(whole[70000], 1);
        assert_eq!(whole[140000], 0);
        assert!(c.finish().unwrap().is_none());
    }
}
