//! Region, threshold and quantize outputs computed while depths stream in.
//!
//! Regions are finished in output order (sorted by start) as soon as the final depth reaches
//! their end, so only the depths from the first unfinished region's start are retained: a few
//! kilobases for windows or exome targets, a whole contig only for a region that spans one.

use rayon::prelude::*;

use crate::coverage::stats::{quantize_bin, region_mean, region_median, DepthStat, Histogram};
use crate::io::bed::Region;

/// Result of one region: its mean (or median), per-base stats and threshold counts.
pub struct RegionResult {
    pub value: f64,
    pub stat: DepthStat,
    pub thresholds: Vec<u64>,
    /// Bases per depth, when asked for (BED regions feed the region distribution this way).
    pub hist: Option<Histogram>,
}

pub struct RegionStream {
    regions: Vec<Region>,
    next: usize,
    /// Final depths of `[base, base + buf.len())`.
    buf: Vec<i32>,
    base: usize,
    use_median: bool,
    thresholds: Vec<u64>,
    with_hist: bool,
}

impl RegionStream {
    pub fn new(
        regions: Vec<Region>,
        use_median: bool,
        thresholds: &[u64],
        with_hist: bool,
    ) -> Self {
        RegionStream {
            regions,
            next: 0,
            buf: Vec::new(),
            base: 0,
            use_median,
            thresholds: thresholds.to_vec(),
            with_hist,
        }
    }

    /// The contig's regions, for a contig that turned out to have no reads.
    pub fn into_regions(self) -> Vec<Region> {
        self.regions
    }

    /// Takes the final depths of `[at, at + vals.len())` (contiguous with earlier calls) and
    /// returns the regions finished by them, in order.
    pub fn push(&mut self, at: usize, vals: &[i32]) -> Vec<(Region, RegionResult)> {
        let Some(first) = self.regions.get(self.next) else {
            return Vec::new();
        };
        if self.buf.is_empty() {
            // Nothing retained: keep from the next region's start on.
            let from = (first.start as usize).max(at);
            self.base = from;
            if from < at + vals.len() {
                self.buf.extend_from_slice(&vals[from - at..]);
            }
        } else {
            self.buf.extend_from_slice(vals);
        }
        self.complete(at + vals.len())
    }

    /// Ends the contig of length `len`: mosdepth's depth array has one more entry, always 0
    /// here, which regions reaching past the end include.
    pub fn finish(&mut self, len: usize) -> Vec<(Region, RegionResult)> {
        let mut out = self.push(len, &[0]);
        let covered = self.base + self.buf.len();
        out.extend(self.finish_upto(usize::MAX, covered));
        out
    }

    fn complete(&mut self, covered: usize) -> Vec<(Region, RegionResult)> {
        self.finish_upto(covered, covered)
    }

    /// Finishes regions whose end is at most `limit`, with depths available up to `covered`.
    fn finish_upto(&mut self, limit: usize, covered: usize) -> Vec<(Region, RegionResult)> {
        let start = self.next;
        while self.next < self.regions.len() && self.regions[self.next].end as usize <= limit {
            self.next += 1;
        }
        if self.next == start {
            return Vec::new();
        }
        let (buf, base) = (&self.buf, self.base);
        let (use_median, thresholds) = ((self.use_median, self.with_hist), &self.thresholds);
        let done = &self.regions[start..self.next];
        let results: Vec<RegionResult> = if done.len() >= 64 {
            done.par_iter()
                .map_init(Vec::new, |scratch, r| {
                    region_result(buf, base, covered, r, use_median, thresholds, scratch)
                })
                .collect()
        } else {
            let mut scratch = Vec::new();
            done.iter()
                .map(|r| region_result(buf, base, covered, r, use_median, thresholds, &mut scratch))
                .collect()
        };
        let out = done.iter().cloned().zip(results).collect();
        // Drop what no unfinished region needs.
        match self.regions.get(self.next) {
            None => self.buf.clear(),
            Some(r) => {
                let keep = (r.start as usize)
                    .saturating_sub(self.base)
                    .min(self.buf.len());
                if keep > 0 {
                    self.buf.drain(..keep);
                    self.base += keep;
                }
            }
        }
        out
    }
}

fn region_result(
    buf: &[i32],
    base: usize,
    covered: usize,
    r: &Region,
    (use_median, with_hist): (bool, bool),
    thresholds: &[u64],
    scratch: &mut Vec<i32>,
) -> RegionResult {
    let s = (r.start as usize).clamp(base, covered);
    let e = (r.end as usize).clamp(s, covered);
    let slice = &buf[s - base..e - base];
    let len = r.end - r.start;
    let value = if r.start as usize > covered {
        0.0
    } else if use_median {
        region_median(slice, scratch)
    } else {
        region_mean(slice, len)
    };
    let mut counts = vec![0u64; thresholds.len()];
    if !thresholds.is_empty() {
        for &v in slice {
            for (c, &t) in counts.iter_mut().zip(thresholds) {
                if (v as i64) < t as i64 {
                    break;
                }
                *c += 1;
            }
        }
    }
    let hist = with_hist.then(|| {
        let mut h = Histogram::default();
        h.add_depths(slice);
        h
    });
    RegionResult {
        value,
        stat: DepthStat::of(slice),
        thresholds: counts,
        hist,
    }
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

    /// Takes final depths of `[at, at + vals.len())`; calls `emit(start, end, bin)` for each
    /// finished run.
    pub fn push(&mut self, at: usize, vals: &[i32], mut emit: impl FnMut(usize, usize, usize)) {
        if !self.started && !vals.is_empty() {
            self.last_bin = quantize_bin(vals[0] as i64, &self.bins);
            self.started = true;
        }
        let n_labels = self.bins.len() - 1;
        // Positions up to len - 2 are examined, as mosdepth's loop does.
        let stop = self.len.saturating_sub(1);
        for (i, &v) in vals.iter().enumerate() {
            let pos = at + i;
            if pos >= stop {
                break;
            }
            let b = quantize_bin(v as i64, &self.bins);
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

    /// Streaming in uneven chunks gives what one pass over the whole array gives.
    #[test]
    fn streamed_regions_match_whole_array() {
        let d: Vec<i32> = (0..5000).map(|i| (i * 7919) % 13).collect();
        let regions = vec![
            region(0, 100),
            region(50, 4000),
            region(60, 70),
            region(70, 70),
            region(4990, 5000),
            region(4995, 5001),
        ];
        let whole = {
            let mut s = RegionStream::new(regions.clone(), false, &[1, 5], true);
            let mut v = s.push(0, &d);
            v.extend(s.finish(d.len()));
            v
        };
        for step in [1usize, 7, 333, 4096] {
            let mut s = RegionStream::new(regions.clone(), false, &[1, 5], true);
            let mut got = Vec::new();
            for (i, c) in d.chunks(step).enumerate() {
                got.extend(s.push(i * step, c));
            }
            got.extend(s.finish(d.len()));
            assert_eq!(got.len(), regions.len());
            for (a, b) in got.iter().zip(&whole) {
                assert_eq!(a.0, b.0);
                assert_eq!(
                    a.1.value.to_bits(),
                    b.1.value.to_bits(),
                    "step {step} {:?}",
                    a.0
                );
                assert_eq!(a.1.stat, b.1.stat);
                assert_eq!(a.1.thresholds, b.1.thresholds);
            }
        }
        // The last region reaches one past the end, where depth is 0, over its full length.
        let last = &whole[5].1;
        assert_eq!(last.stat.cum_length, 6);
    }

    #[test]
    fn quantize_last_base_joins_previous_run() {
        let bins = vec![0, 1, 5, i64::MAX];
        let d = [0, 0, 3, 3, 7, 0];
        let mut q = QuantizeStream::new(&bins, d.len());
        let mut runs = Vec::new();
        q.push(0, &d[..3], |s, e, b| runs.push((s, e, b)));
        q.push(3, &d[3..], |s, e, b| runs.push((s, e, b)));
        q.finish(|s, e, b| runs.push((s, e, b)));
        assert_eq!(runs, vec![(0, 2, 0), (2, 4, 1), (4, 6, 2)]);
    }
}
