//! The reference backend: plain loops on the CPU, parallel over pieces with rayon (on the
//! caller's pool). [`reduce_depths`] defines what every backend's reduction must return.

use rayon::prelude::*;

use crate::backend::depth::{
    quantize_bin, ContigDepth, CoverageOps, EventBatch, HistChunk, IntervalSum, ReduceSpec, Reduced,
};
use crate::backend::pairhmm::{
    pair_cost, pair_costs_lanes, pair_costs_wide, PairBatch, PairHmmOps, LANES, WIDE_LANES,
    WIDE_SATURATED,
};
use crate::backend::{Backend, DeviceInfo};
use crate::error::Result;

pub struct CpuBackend {
    threads: usize,
}

impl CpuBackend {
    pub fn new(threads: usize) -> Self {
        CpuBackend { threads }
    }

    pub fn info(&self) -> DeviceInfo {
        DeviceInfo {
            device: self.device(),
            memory: None,
            driver: format!("rayon, {} available core(s)", available_cores()),
            is_gpu: false,
        }
    }
}

fn available_cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

impl Backend for CpuBackend {
    fn name(&self) -> &'static str {
        "cpu"
    }
    fn device(&self) -> String {
        format!("{} CPU thread(s)", self.threads)
    }
    fn coverage(&self) -> &dyn CoverageOps {
        self
    }
    fn pairhmm(&self) -> &dyn PairHmmOps {
        self
    }
}

impl CoverageOps for CpuBackend {
    fn begin_contig(&self, len: usize) -> Result<Box<dyn ContigDepth>> {
        Ok(Box::new(ChunkedDepth::new(len)))
    }
}

impl PairHmmOps for CpuBackend {
    fn pair_costs(&self, batch: &PairBatch) -> Result<Vec<u32>> {
        batch.validate().map_err(|e| e.into_error("cpu"))?;
        // The reads of one haplotype side by side (longest first, so a group's reads are of
        // like length): WIDE_LANES at a time in 16-bit cells while more than LANES are left
        // (lanes whose cost does not fit are scored again alone), then LANES at a time in
        // 32-bit cells; groups in pieces on the caller's pool, each piece reusing its DP
        // scratch. Every cost is pair_cost's number exactly.
        let n = batch.n_pairs();
        let len = |item: u32| batch.items[2 * item as usize + 1];
        let mut order: Vec<u32> = (0..n as u32).collect();
        order.sort_unstable_by_key(|&p| {
            let (r, h) = (batch.pairs[2 * p as usize], batch.pairs[2 * p as usize + 1]);
            (h, std::cmp::Reverse(len(r)), p)
        });
        let mut groups: Vec<(usize, usize)> = Vec::with_capacity(n / LANES + 1);
        let mut a = 0;
        while a < n {
            let h = batch.pairs[2 * order[a] as usize + 1];
            let mut end = a + 1;
            while end < n && batch.pairs[2 * order[end] as usize + 1] == h {
                end += 1;
            }
            while a < end {
                let take = if end - a > LANES { WIDE_LANES } else { LANES };
                let b = (a + take).min(end);
                groups.push((a, b));
                a = b;
            }
        }
        let piece = 16;
        let parts: Vec<Vec<(u32, u32)>> = groups
            .par_chunks(piece)
            .map(|gs| {
                let mut scratch = Vec::new();
                let mut wide = Vec::new();
                let mut row = Vec::new();
                let mut out = Vec::with_capacity(gs.len() * LANES);
                for &(a, b) in gs {
                    let ps = &order[a..b];
                    let reads: Vec<&[u32]> = ps
                        .iter()
                        .map(|&p| batch.item(batch.pairs[2 * p as usize]))
                        .collect();
                    let hap = batch.item(batch.pairs[2 * ps[0] as usize + 1]);
                    if ps.len() > LANES {
                        let costs = pair_costs_wide(&reads, hap, batch.gap_ext, &mut wide);
                        for ((&p, c), r) in ps.iter().zip(costs).zip(&reads) {
                            let c = if c >= WIDE_SATURATED {
                                pair_cost(r, hap, batch.gap_ext, &mut row)
                            } else {
                                c
                            };
                            out.push((p, c));
                        }
                    } else {
                        let costs = pair_costs_lanes(&reads, hap, batch.gap_ext, &mut scratch);
                        out.extend(ps.iter().zip(costs).map(|(&p, c)| (p, c)));
                    }
                }
                out
            })
            .collect();
        let mut costs = vec![0u32; n];
        for (p, c) in parts.into_iter().flatten() {
            costs[p as usize] = c;
        }
        Ok(costs)
    }
}

const CHUNK_BITS: u32 = 16;
const CHUNK: usize = 1 << CHUNK_BITS;

/// Differences in lazily allocated chunks, freed once their depths are handed out: memory
/// follows the reads in flight, not the contig length.
pub struct ChunkedDepth {
    chunks: Vec<Option<Box<[i32]>>>,
    len: usize,
    done: usize,
    acc: i32,
}

impl ChunkedDepth {
    pub fn new(len: usize) -> Self {
        ChunkedDepth {
            chunks: (0..(len + 1).div_ceil(CHUNK)).map(|_| None).collect(),
            len: len + 1,
            done: 0,
            acc: 0,
        }
    }

    #[inline]
    fn slot(&mut self, p: usize) -> &mut i32 {
        let ci = p >> CHUNK_BITS;
        // The last chunk only as long as the contig: a 1 kb contig must not cost 256 KiB.
        let n = (self.len - (ci << CHUNK_BITS)).min(CHUNK);
        let c = self.chunks[ci].get_or_insert_with(|| vec![0i32; n].into_boxed_slice());
        &mut c[p & (CHUNK - 1)]
    }

    /// Final depths of `[done, upto)` (the prefix sum), freeing the chunks passed.
    pub fn take_final(&mut self, upto: usize) -> Vec<i32> {
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
        out
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

    fn reduce(&mut self, to: usize, spec: &ReduceSpec) -> Result<Reduced> {
        let from = self.done;
        let d = self.take_final(to);
        Ok(reduce_depths(from, &d, spec))
    }
}

/// Pieces reduced in parallel; one piece is reduced on the calling thread.
const PIECE: usize = super::depth::INLINE_BASES;

/// The reference reduction of the final depths `d` of `[from, from + d.len())`.
pub fn reduce_depths(from: usize, d: &[i32], spec: &ReduceSpec) -> Reduced {
    let to = from + d.len();
    let mut out = Reduced {
        from,
        to,
        ..Reduced::default()
    };
    if d.is_empty() {
        out.intervals = spec
            .intervals
            .iter()
            .map(|_| IntervalSum::empty(spec.thresholds.len()))
            .collect();
        return out;
    }
    let pieces: Vec<(usize, &[i32])> = d
        .chunks(PIECE)
        .enumerate()
        .map(|(i, c)| (from + i * PIECE, c))
        .collect();
    if spec.runs {
        out.runs = change_points(&pieces, d, |v| v);
    }
    if let Some(q) = spec.quantize {
        out.qruns = change_points(&pieces, d, |v| quantize_bin(v as i64, q) as i32);
    }
    if spec.hist && d.len() <= PIECE {
        // One piece: no pool round trip (many tiny contigs make many of these).
        let (min, max) = d
            .iter()
            .fold((i32::MAX, i32::MIN), |(a, b), &v| (a.min(v), b.max(v)));
        let mut counts = vec![0u64; (max as i64 - min as i64 + 1) as usize];
        for &v in d {
            counts[(v as i64 - min as i64) as usize] += 1;
        }
        out.hist = HistChunk { min, counts };
    } else if spec.hist {
        let (min, max) = d
            .par_chunks(PIECE)
            .map(|c| {
                c.iter()
                    .fold((i32::MAX, i32::MIN), |(a, b), &v| (a.min(v), b.max(v)))
            })
            .reduce(|| (i32::MAX, i32::MIN), |x, y| (x.0.min(y.0), x.1.max(y.1)));
        let n = (max as i64 - min as i64 + 1) as usize;
        let counts = d
            .par_chunks(PIECE)
            .map(|c| {
                let mut h = vec![0u64; n];
                for &v in c {
                    h[(v as i64 - min as i64) as usize] += 1;
                }
                h
            })
            .reduce(
                || vec![0u64; n],
                |mut a, b| {
                    for (x, y) in a.iter_mut().zip(&b) {
                        *x += y;
                    }
                    a
                },
            );
        out.hist = HistChunk { min, counts };
    }
    let one = |&(s, e): &(u64, u64)| {
        let s = (s as usize).clamp(from, to);
        let e = (e as usize).clamp(s, to);
        interval_sum(&d[s - from..e - from], spec.thresholds)
    };
    out.intervals = if spec.intervals.len() >= 64 && d.len() > PIECE {
        spec.intervals.par_iter().map(one).collect()
    } else {
        spec.intervals.iter().map(one).collect()
    };
    out
}

fn change_points(
    pieces: &[(usize, &[i32])],
    d: &[i32],
    f: impl Fn(i32) -> i32 + Sync,
) -> Vec<(u32, i32)> {
    let one = |&(at, c): &(usize, &[i32])| {
        let from = pieces[0].0;
        let mut prev = if at == from {
            None
        } else {
            Some(f(d[at - from - 1]))
        };
        let mut v = Vec::new();
        for (i, &x) in c.iter().enumerate() {
            let y = f(x);
            if prev != Some(y) {
                v.push(((at + i) as u32, y));
                prev = Some(y);
            }
        }
        v
    };
    if pieces.len() == 1 {
        return one(&pieces[0]);
    }
    let parts: Vec<Vec<(u32, i32)>> = pieces.par_iter().map(one).collect();
    parts.concat()
}

fn interval_sum(d: &[i32], thresholds: &[u32]) -> IntervalSum {
    let mut s = IntervalSum::empty(thresholds.len());
    s.len = d.len() as u64;
    for &v in d {
        s.sum = s.sum.wrapping_add(v as i64);
        s.min = s.min.min(v as u32);
        s.max = s.max.max(v as u32);
        for (c, &t) in s.above.iter_mut().zip(thresholds) {
            if v < 0 || (v as u32) < t {
                break;
            }
            *c += 1;
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::testing;

    #[test]
    fn cpu_backend_matches_reference() {
        testing::check_backend(&CpuBackend::new(2));
    }

    #[test]
    fn cpu_pair_costs_match_reference() {
        testing::check_pair_costs(&CpuBackend::new(2));
    }

    #[test]
    fn reduction_of_a_known_stretch() {
        let d = [0, 0, 3, 3, 7, 1];
        let q = [0i64, 1, 5, i64::MAX];
        let spec = ReduceSpec {
            runs: true,
            hist: true,
            intervals: &[(9, 12), (11, 20), (0, 5)],
            thresholds: &[1, 3],
            quantize: Some(&q),
        };
        let r = reduce_depths(10, &d, &spec);
        assert_eq!(r.runs, vec![(10, 0), (12, 3), (14, 7), (15, 1)]);
        assert_eq!(r.qruns, vec![(10, 0), (12, 1), (14, 2), (15, 1)]);
        assert_eq!(r.hist.min, 0);
        assert_eq!(r.hist.counts, vec![2, 1, 0, 2, 0, 0, 0, 1]);
        assert_eq!(r.intervals[0].len, 2);
        assert_eq!(r.intervals[1].sum, 14);
        assert_eq!(r.intervals[1].min, 0);
        assert_eq!(r.intervals[1].max, 7);
        assert_eq!(r.intervals[1].above, vec![4, 3]);
        assert_eq!(r.intervals[2], IntervalSum::empty(2));
    }
}
