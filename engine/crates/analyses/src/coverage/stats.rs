//! Coverage statistics with mosdepth's exact arithmetic and output conventions.

use rayon::prelude::*;

/// Depths above this are clamped (to `MAX_COVERAGE - 10`) in the distributions, as mosdepth does.
const MAX_COVERAGE: i32 = 400_000;
/// Pieces of a contig processed in parallel.
pub const PIECE: usize = 1 << 20;

/// Formats like C's `%#.*f`: fixed notation, and a trailing point even with no decimals.
pub fn fmt_fixed(out: &mut String, v: f64, precision: usize) {
    use std::fmt::Write;
    if precision == 0 {
        let _ = write!(out, "{v:.0}.");
    } else {
        let _ = write!(out, "{v:.precision$}");
    }
}

/// Length, summed depth, min and max over some bases.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DepthStat {
    pub cum_length: u64,
    pub cum_depth: u64,
    pub min_depth: u32,
    pub max_depth: u32,
}

impl DepthStat {
    /// mosdepth starts its running totals zeroed (so their minimum stays 0) and resets them
    /// with `clear`, which sets the minimum to the largest value.
    pub const ZERO: DepthStat = DepthStat {
        cum_length: 0,
        cum_depth: 0,
        min_depth: 0,
        max_depth: 0,
    };
    pub const CLEARED: DepthStat = DepthStat {
        cum_length: 0,
        cum_depth: 0,
        min_depth: u32::MAX,
        max_depth: 0,
    };

    pub fn of(d: &[i32]) -> DepthStat {
        let fold = |s: DepthStat, &v: &i32| DepthStat {
            cum_length: s.cum_length + 1,
            cum_depth: s.cum_depth.wrapping_add(v as i64 as u64),
            min_depth: s.min_depth.min(v as u32),
            max_depth: s.max_depth.max(v as u32),
        };
        if d.len() < PIECE {
            return d.iter().fold(DepthStat::CLEARED, fold);
        }
        d.par_chunks(PIECE)
            .map(|c| c.iter().fold(DepthStat::CLEARED, fold))
            .reduce(|| DepthStat::CLEARED, |a, b| a.merge(&b))
    }

    /// The statistics of the bases a backend's histogram counted.
    pub fn of_hist(h: &crate::backend::HistChunk) -> DepthStat {
        let mut s = DepthStat::CLEARED;
        for (i, &n) in h.counts.iter().enumerate() {
            if n == 0 {
                continue;
            }
            let v = h.min.wrapping_add(i as i32);
            s.cum_length += n;
            s.cum_depth = s.cum_depth.wrapping_add((v as i64 as u64).wrapping_mul(n));
            s.min_depth = s.min_depth.min(v as u32);
            s.max_depth = s.max_depth.max(v as u32);
        }
        s
    }

    pub fn merge(&self, b: &DepthStat) -> DepthStat {
        DepthStat {
            cum_length: self.cum_length + b.cum_length,
            cum_depth: self.cum_depth.wrapping_add(b.cum_depth),
            min_depth: self.min_depth.min(b.min_depth),
            max_depth: self.max_depth.max(b.max_depth),
        }
    }

    /// One summary line: name, length, bases, mean, min, max.
    pub fn summary_line(&self, name: &str, precision: usize) -> String {
        let mean = if self.cum_length > 0 {
            self.cum_depth as f64 / self.cum_length as f64
        } else {
            0.0
        };
        let min = if self.min_depth == u32::MAX {
            0
        } else {
            self.min_depth
        };
        let mut s = format!("{name}\t{}\t{}\t", self.cum_length, self.cum_depth);
        fmt_fixed(&mut s, mean, precision);
        s.push_str(&format!("\t{min}\t{}\n", self.max_depth));
        s
    }
}

/// Counts of bases at each depth.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Histogram(pub Vec<u64>);

impl Histogram {
    fn bump(&mut self, v: i32) {
        let v = if v > MAX_COVERAGE {
            MAX_COVERAGE - 10
        } else {
            v
        };
        if v < 0 {
            return;
        }
        let v = v as usize;
        if v >= self.0.len() {
            self.0.resize(v + 10, 0);
        }
        self.0[v] += 1;
    }

    /// Adds every base of `d` (parallel over pieces; integer counts merge exactly).
    pub fn add_depths(&mut self, d: &[i32]) {
        if d.len() < PIECE {
            for &v in d {
                self.bump(v);
            }
            return;
        }
        let parts: Vec<Histogram> = d
            .par_chunks(PIECE)
            .map(|c| {
                let mut h = Histogram::default();
                for &v in c {
                    h.bump(v);
                }
                h
            })
            .collect();
        for p in parts {
            self.merge(&p);
        }
    }

    /// Adds `n` bases of depth `v`, as `n` single additions would.
    pub fn add_count(&mut self, v: i32, n: u64) {
        let v = if v > MAX_COVERAGE {
            MAX_COVERAGE - 10
        } else {
            v
        };
        if v < 0 || n == 0 {
            return;
        }
        let v = v as usize;
        if v >= self.0.len() {
            self.0.resize(v + 10, 0);
        }
        self.0[v] += n;
    }

    /// Adds a backend's exact histogram of a stretch.
    pub fn add_chunk(&mut self, h: &crate::backend::HistChunk) {
        for (i, &n) in h.counts.iter().enumerate() {
            self.add_count(h.min.wrapping_add(i as i32), n);
        }
    }

    pub fn add_one(&mut self, depth: usize) {
        if depth >= self.0.len() {
            self.0.resize(depth + 10, 0);
        }
        self.0[depth] += 1;
    }

    /// Drops trailing empty depths; what is written from the histogram does not change.
    pub fn trim(&mut self) {
        let n = self.0.iter().rposition(|&v| v != 0).map_or(0, |i| i + 1);
        self.0.truncate(n);
        self.0.shrink_to_fit();
    }

    pub fn merge(&mut self, other: &Histogram) {
        if other.0.len() > self.0.len() {
            self.0.resize(other.0.len(), 0);
        }
        for (a, b) in self.0.iter_mut().zip(&other.0) {
            *a += b;
        }
    }

    /// mosdepth's distribution lines: proportion of bases with at least each depth, from the
    /// highest depth down, skipping empty depths above 300 and proportions below 8e-5.
    pub fn write_distribution(&self, chrom: &str, precision: usize, out: &mut String) {
        let sum: u64 = self.0.iter().sum();
        if sum < 1 {
            return;
        }
        let mut cum = 0f64;
        for (depth, &v) in self.0.iter().enumerate().rev() {
            if depth > 300 && v == 0 {
                continue;
            }
            cum += v as f64 / sum as f64;
            if cum < 8e-5 {
                continue;
            }
            out.push_str(chrom);
            out.push('\t');
            out.push_str(itoa::Buffer::new().format(depth));
            out.push('\t');
            fmt_fixed(out, cum, precision);
            out.push('\n');
        }
    }
}

/// A region's mean summed as mosdepth does (each depth divided by the region's length, in
/// order), so results agree to the last bit. `d` holds the region's depths inside the contig;
/// `len` is the region's full length.
pub fn region_mean(d: &[i32], len: u64) -> f64 {
    let l = len as f64;
    let mut acc = 0f64;
    for &v in d {
        acc += v as f64 / l;
    }
    acc
}

/// The lower median of a region's depths (above 65535 counted as 65535), as mosdepth computes
/// it from its counts: the `floor(n/2 + 0.5)`-th smallest value.
pub fn region_median(d: &[i32], scratch: &mut Vec<i32>) -> f64 {
    let k = (0.5 + d.len() as f64 * 0.5) as usize;
    if k == 0 {
        return 0.0;
    }
    scratch.clear();
    scratch.extend(d.iter().map(|v| (*v).clamp(0, 65535)));
    let (_, kth, _) = scratch.select_nth_unstable(k - 1);
    *kth as f64
}

/// Quantize bins from mosdepth's `-q` syntax, e.g. `0:1:4:10:` (a trailing `:` is open-ended).
pub fn parse_quantize(spec: &str) -> Option<Vec<i64>> {
    let mut a = spec.to_string();
    if !a.contains(':') {
        a = format!(":{a}:");
    }
    if a.starts_with(':') {
        a.insert(0, '0');
    }
    if a.ends_with(':') {
        a.push_str(&i64::MAX.to_string());
    }
    let mut q: Vec<i64> = a
        .split(':')
        .map(|s| s.parse::<i64>().ok())
        .collect::<Option<_>>()?;
    q.sort_unstable();
    Some(q)
}

/// Bin labels: `MOSDEPTH_Q<i>` from the environment, else `lo:hi` (`lo:inf` for the last).
pub fn quantize_labels(q: &[i64], env: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
    (0..q.len().saturating_sub(1))
        .map(|i| match env(&format!("MOSDEPTH_Q{i}")) {
            Some(v) if !v.is_empty() => v,
            _ if q[i + 1] == i64::MAX => format!("{}:inf", q[i]),
            _ => format!("{}:{}", q[i], q[i + 1]),
        })
        .collect()
}

/// Moved to the backend (the kernels compute it), re-exported for the coverage code.
pub use crate::backend::depth::quantize_bin;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_format_matches_printf_alt_form() {
        let mut s = String::new();
        fmt_fixed(&mut s, 2.5, 0);
        s.push(' ');
        fmt_fixed(&mut s, 0.125, 2);
        assert_eq!(s, "2. 0.12");
    }

    #[test]
    fn lower_median() {
        let mut c = Vec::new();
        assert_eq!(region_median(&[1, 2, 3, 4], &mut c), 2.0);
        assert_eq!(region_median(&[5, 1, 3], &mut c), 3.0);
        assert_eq!(region_median(&[], &mut c), 0.0);
    }

    #[test]
    fn quantize_syntax() {
        assert_eq!(parse_quantize("0:1:4:"), Some(vec![0, 1, 4, i64::MAX]));
        assert_eq!(parse_quantize("5"), Some(vec![0, 5, i64::MAX]));
        assert_eq!(parse_quantize(":3"), Some(vec![0, 3]));
        assert_eq!(parse_quantize("0::5"), None);
        let q = parse_quantize("1:4").unwrap();
        assert_eq!(quantize_bin(0, &q), -1);
        assert_eq!(quantize_bin(3, &q), 0);
        assert_eq!(quantize_bin(4, &q), 1);
    }

    #[test]
    fn distribution_skips_tiny_proportions() {
        let mut h = Histogram::default();
        h.add_depths(&[0, 1, 1, 2]);
        let mut s = String::new();
        h.write_distribution("c", 2, &mut s);
        assert_eq!(s, "c\t2\t0.25\nc\t1\t0.75\nc\t0\t1.00\n");
    }
}
