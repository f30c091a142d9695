//! Region, threshold and quantize outputs computed from the backend's reductions while depths
//! stream in.
//!
//! Each region accumulates, chunk by chunk, the backend's integer sums (length, sum, min, max,
//! threshold counts) and, from the depth runs, mosdepth's mean (a sequential f64 sum, kept on
//! the host so every backend gives the same bits) or the depth counts behind a median and the
//! region distribution. Regions are finished in output order (sorted by start) as soon as the
//! final depth passes their end; nothing but these accumulators is retained.

use std::collections::BTreeMap;

use rayon::prelude::*;

use crate::backend::depth::INLINE_BASES;
use crate::backend::{IntervalSum, Reduced};
use crate::coverage::stats::{DepthStat, Histogram};
use crate::io::bed::Region;

/// Result of one region: its mean (or median), per-base stats and threshold counts.
pub struct RegionResult {
    pub value: f64,
    pub stat: DepthStat,
    pub thresholds: Vec<u64>,
    /// Bases per depth, when asked for (BED regions feed the region distribution this way).
    pub hist: Option<Histogram>,
}

/// A region being accumulated.
struct Acc {
    sum: IntervalSum,
    /// mosdepth's mean: each base's depth divided by the region's length, added in order.
    mean: f64,
    /// Bases per depth (for the median and the region distribution).
    counts: Option<BTreeMap<i32, u64>>,
}

pub struct RegionStream {
    regions: Vec<Region>,
    accs: Vec<Option<Acc>>,
    /// First region not yet handed out.
    next: usize,
    /// Regions before this one have been opened.
    opened: usize,
    /// Opened regions whose end lies beyond `covered`.
    active: Vec<usize>,
    /// Final depths have been seen up to here.
    covered: usize,
    use_median: bool,
    thresholds: Vec<u32>,
    with_hist: bool,
}

impl RegionStream {
    pub fn new(
        regions: Vec<Region>,
        use_median: bool,
        thresholds: &[u64],
        with_hist: bool,
    ) -> Self {
        let n = regions.len();
        RegionStream {
            regions,
            accs: (0..n).map(|_| None).collect(),
            next: 0,
            opened: 0,
            active: Vec::new(),
            covered: 0,
            use_median,
            // Depths are i32: a threshold beyond u32 can never be reached either way.
            thresholds: thresholds
                .iter()
                .map(|&t| t.min(u32::MAX as u64) as u32)
                .collect(),
            with_hist,
        }
    }

    /// The contig's regions, for a contig that turned out to have no reads.
    pub fn into_regions(self) -> Vec<Region> {
        self.regions
    }

    pub fn thresholds(&self) -> &[u32] {
        &self.thresholds
    }

    /// Opens the regions starting before `to` and returns the intervals the backend must
    /// summarise for the stretch `[covered, to)`, in the order [`push`](Self::push) expects.
    pub fn intervals(&mut self, to: usize) -> Vec<(u64, u64)> {
        while self.opened < self.regions.len() && (self.regions[self.opened].start as usize) < to {
            let r = &self.regions[self.opened];
            self.accs[self.opened] = Some(Acc {
                sum: IntervalSum::empty(self.thresholds.len()),
                mean: 0.0,
                counts: (self.use_median || self.with_hist).then(BTreeMap::new),
            });
            if r.end as usize > self.covered {
                self.active.push(self.opened);
            }
            self.opened += 1;
        }
        self.active
            .iter()
            .map(|&i| (self.regions[i].start, self.regions[i].end))
            .collect()
    }

    /// Whether any region still needs depths.
    pub fn wants_depth(&self) -> bool {
        self.next < self.regions.len()
    }

    /// Takes the reduction of `[covered, r.to)`, made with the intervals from
    /// [`intervals`](Self::intervals) and with runs, and returns the regions it finished, in
    /// order.
    pub fn push(&mut self, r: &Reduced) -> Vec<(Region, RegionResult)> {
        debug_assert_eq!(r.from, self.covered);
        debug_assert_eq!(r.intervals.len(), self.active.len());
        let regions = &self.regions;
        let mut work: Vec<(usize, &IntervalSum, Acc)> = self
            .active
            .iter()
            .zip(&r.intervals)
            .filter_map(|(&i, s)| self.accs[i].take().map(|a| (i, s, a)))
            .collect();
        let update = |(i, s, a): &mut (usize, &IntervalSum, Acc)| {
            let reg = &regions[*i];
            a.sum.merge(s);
            add_runs(a, reg, r);
        };
        if work.len() >= 64 && r.to - r.from > INLINE_BASES {
            work.par_iter_mut().for_each(update);
        } else {
            work.iter_mut().for_each(update);
        }
        for (i, _, a) in work {
            self.accs[i] = Some(a);
        }
        self.covered = r.to;
        let covered = self.covered;
        self.active.retain(|&i| regions[i].end as usize > covered);
        self.emit_finished(false)
    }

    /// Ends the contig: depths are final up to `covered` (its length + 1); every region left is
    /// finished with what it has (a region starting beyond has no bases).
    pub fn finish(&mut self) -> Vec<(Region, RegionResult)> {
        self.emit_finished(true)
    }

    fn emit_finished(&mut self, all: bool) -> Vec<(Region, RegionResult)> {
        let mut out = Vec::new();
        while self.next < self.regions.len() {
            let i = self.next;
            let open = i < self.opened;
            let done = open && self.regions[i].end as usize <= self.covered;
            if !(all || done) {
                break;
            }
            let acc = self.accs[i].take();
            out.push((self.regions[i].clone(), self.result(acc)));
            self.next += 1;
        }
        out
    }

    fn result(&self, acc: Option<Acc>) -> RegionResult {
        let Some(a) = acc else {
            return RegionResult {
                value: 0.0,
                stat: DepthStat::CLEARED,
                thresholds: vec![0; self.thresholds.len()],
                hist: self.with_hist.then(Histogram::default),
            };
        };
        let value = if self.use_median {
            median(a.counts.as_ref(), a.sum.len)
        } else {
            a.mean
        };
        let hist = if self.with_hist {
            let mut h = Histogram::default();
            if let Some(c) = &a.counts {
                for (&v, &n) in c {
                    h.add_count(v, n);
                }
            }
            Some(h)
        } else {
            None
        };
        RegionResult {
            value,
            stat: DepthStat {
                cum_length: a.sum.len,
                cum_depth: a.sum.sum as u64,
                min_depth: a.sum.min,
                max_depth: a.sum.max,
            },
            thresholds: a.sum.above,
            hist,
        }
    }
}

/// Adds the runs of `r` that fall inside region `reg` to its mean and depth counts.
fn add_runs(a: &mut Acc, reg: &Region, r: &Reduced) {
    let s = (reg.start as usize).max(r.from);
    let e = (reg.end as usize).min(r.to);
    if s >= e {
        return;
    }
    let l = (reg.end - reg.start) as f64;
    // The run holding `s`: the last change point at or before it.
    let mut k = r.runs.partition_point(|&(p, _)| (p as usize) <= s) - 1;
    let mut at = s;
    while at < e {
        let v = r.runs[k].1;
        let run_end = r.runs.get(k + 1).map_or(r.to, |n| n.0 as usize).min(e);
        let n = run_end - at;
        // The same quotient added n times: bit-identical to dividing at every base.
        let q = v as f64 / l;
        for _ in 0..n {
            a.mean += q;
        }
        if let Some(c) = a.counts.as_mut() {
            *c.entry(v).or_insert(0) += n as u64;
        }
        at = run_end;
        k += 1;
    }
}

/// The lower median, as mosdepth computes it from its counts (depths above 65535 counted as
/// 65535): the `floor(n/2 + 0.5)`-th smallest of the region's `n` bases.
fn median(counts: Option<&BTreeMap<i32, u64>>, n: u64) -> f64 {
    let k = (0.5 + n as f64 * 0.5) as u64;
    let Some(c) = counts else {
        return 0.0;
    };
    if k == 0 {
        return 0.0;
    }
    let mut seen = 0u64;
    for (&v, &m) in c {
        seen += m;
        if seen >= k {
            return v.clamp(0, 65535) as f64;
        }
    }
    0.0
}

/// mosdepth's quantized runs, streamed. Its quirk is kept: the contig's last base never
/// starts a new run; it joins the run before it.
pub struct QuantizeStream {
    bins: Vec<i64>,
    len: usize,
    last_bin: i64,
    last_pos: usize,
    started: bool,
}

impl QuantizeStream {
    pub fn new(bins: &[i64], len: usize) -> Self {
        QuantizeStream {
            bins: bins.to_vec(),
            len,
            last_bin: -1,
            last_pos: 0,
            started: false,
        }
    }

    /// Takes the bin change points of a stretch (`(position, bin)`, the stretch's first base
    /// always listed); calls `emit(start, end, bin)` for each finished run.
    pub fn push(&mut self, qruns: &[(u32, i32)], mut emit: impl FnMut(usize, usize, usize)) {
        if !self.started {
            if let Some(&(_, b)) = qruns.first() {
                self.last_bin = b as i64;
                self.started = true;
            }
        }
        let n_labels = self.bins.len() - 1;
        // Positions up to len - 2 are examined, as mosdepth's loop does.
        let stop = self.len.saturating_sub(1);
        for &(pos, b) in qruns {
            let (pos, b) = (pos as usize, b as i64);
            if pos >= stop {
                break;
            }
            if b == self.last_bin {
                continue;
            }
            if self.last_bin != -1 && (self.last_bin as usize) < n_labels {
                emit(self.last_pos, pos, self.last_bin as usize);
            }
            self.last_bin = b;
            self.last_pos = pos;
        }
    }

    pub fn finish(&mut self, mut emit: impl FnMut(usize, usize, usize)) {
        let n_labels = self.bins.len() - 1;
        if self.started
            && self.last_bin != -1
            && self.last_pos < self.len
            && (self.last_bin as usize) < n_labels
        {
            emit(self.last_pos, self.len, self.last_bin as usize);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region(start: u64, end: u64) -> Region {
        Region {
            chrom: "c".into(),
            start,
            end,
            name: None,
        }
    }

    /// Streaming in uneven chunks gives what one pass over the whole array gives, and the
    /// same bits as mosdepth's per-base arithmetic.
    #[test]
    fn streamed_regions_match_whole_array() {
        use crate::backend::cpu::reduce_depths;
        use crate::backend::ReduceSpec;
        use crate::coverage::stats::{region_mean, region_median};
        let mut d: Vec<i32> = (0..5000).map(|i| (i * 7919) % 13).collect();
        d.push(0);
        let regions = vec![
            region(0, 100),
            region(50, 4000),
            region(60, 70),
            region(70, 70),
            region(4990, 5000),
            region(4995, 5001),
            region(4995, 5010),
            region(6000, 6100),
        ];
        for use_median in [false, true] {
            for step in [1usize, 7, 333, 4096, 6000] {
                let mut s = RegionStream::new(regions.clone(), use_median, &[1, 5], true);
                let mut got = Vec::new();
                let mut at = 0;
                while at < d.len() {
                    let to = (at + step).min(d.len());
                    let iv = s.intervals(to);
                    let spec = ReduceSpec {
                        runs: true,
                        intervals: &iv,
                        thresholds: s.thresholds(),
                        ..ReduceSpec::default()
                    };
                    got.extend(s.push(&reduce_depths(at, &d[at..to], &spec)));
                    at = to;
                }
                got.extend(s.finish());
                assert_eq!(got.len(), regions.len());
                for (a, r) in got.iter().zip(&regions) {
                    assert_eq!(&a.0, r);
                    let sl = &d[(r.start as usize).min(d.len())..(r.end as usize).min(d.len())];
                    let want = if use_median {
                        region_median(sl, &mut Vec::new())
                    } else {
                        region_mean(sl, r.end - r.start)
                    };
                    assert_eq!(a.1.value.to_bits(), want.to_bits(), "step {step} {r:?}");
                    assert_eq!(a.1.stat, DepthStat::of(sl), "step {step} {r:?}");
                    let t: Vec<u64> = [1, 5]
                        .iter()
                        .map(|&t| sl.iter().filter(|&&v| v >= t).count() as u64)
                        .collect();
                    assert_eq!(a.1.thresholds, t);
                    let mut h = Histogram::default();
                    h.add_depths(sl);
                    let trim = |x: &Histogram| {
                        let mut v = x.0.clone();
                        while v.last() == Some(&0) {
                            v.pop();
                        }
                        v
                    };
                    assert_eq!(trim(a.1.hist.as_ref().unwrap()), trim(&h));
                }
            }
        }
    }

    #[test]
    fn quantize_last_base_joins_previous_run() {
        let bins = vec![0, 1, 5, i64::MAX];
        let d = [0, 0, 3, 3, 7, 0];
        let mut q = QuantizeStream::new(&bins, d.len());
        let mut runs = Vec::new();
        let spec = crate::backend::ReduceSpec {
            quantize: Some(&bins),
            ..Default::default()
        };
        let a = crate::backend::cpu::reduce_depths(0, &d[..3], &spec);
        let b = crate::backend::cpu::reduce_depths(3, &d[3..], &spec);
        q.push(&a.qruns, |s, e, b| runs.push((s, e, b)));
        q.push(&b.qruns, |s, e, b| runs.push((s, e, b)));
        q.finish(|s, e, b| runs.push((s, e, b)));
        assert_eq!(runs, vec![(0, 2, 0), (2, 4, 1), (4, 6, 2)]);
    }
}
