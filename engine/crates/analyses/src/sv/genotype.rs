//! Genotypes from reads that support an allele against reads that cross its breakpoints
//! without supporting it.
//!
//! Reference reads are counted at each breakpoint separately and averaged: a read rarely
//! spans a large deletion's whole reference interval, so requiring that would find no
//! reference reads and call every large heterozygous deletion homozygous.

use rustc_hash::FxHashSet;

use crate::sv::signatures::Span;

/// Read spans of one contig sorted by start, for counting reads across a breakpoint.
pub struct SpanIndex {
    spans: Vec<Span>,
    max_len: i64,
}

impl SpanIndex {
    pub fn new(mut spans: Vec<Span>) -> Self {
        spans.sort_unstable_by_key(|s| (s.start, s.end, s.read, s.sample));
        let max_len = spans.iter().map(|s| s.end - s.start).max().unwrap_or(0);
        SpanIndex { spans, max_len }
    }

    /// Distinct reads (hash, sample) whose alignment covers `[bp - w, bp + w)`.
    pub fn covering(&self, bp: i64, w: i64, out: &mut FxHashSet<(u64, u16)>) {
        let hi = self.spans.partition_point(|s| s.start <= bp - w);
        let lo_start = bp + w - self.max_len;
        for s in self.spans[..hi].iter().rev() {
            if s.start < lo_start {
                break;
            }
            if s.end >= bp + w {
                out.insert((s.read, s.sample));
            }
        }
    }
}

/// One sample's genotype.
#[derive(Clone, Debug, PartialEq)]
pub struct Genotype {
    /// "0/0", "0/1", "1/1" or "./.".
    pub gt: &'static str,
    pub gq: u32,
    pub dr: u32,
    pub dv: u32,
    /// Phred-scaled probability that the sample carries no ALT allele.
    pub qual: f64,
}

/// Genotype from `dr` reads against and `dv` for the allele, with per-read error `err`.
pub fn call(dr: u32, dv: u32, err: f64) -> Genotype {
    if dr + dv == 0 {
        return Genotype {
            gt: "./.",
            gq: 0,
            dr,
            dv,
            qual: 0.0,
        };
    }
    let (r, v) = (dr as f64, dv as f64);
    let l = [
        r * (1.0 - err).log10() + v * err.log10(),
        (r + v) * 0.5f64.log10(),
        r * err.log10() + v * (1.0 - err).log10(),
    ];
    let m = l.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let p: Vec<f64> = l.iter().map(|x| 10f64.powf(x - m)).collect();
    let total: f64 = p.iter().sum();
    let best = (0..3)
        .max_by(|&a, &b| p[a].total_cmp(&p[b]).then(b.cmp(&a)))
        .unwrap_or(0);
    let others = (total - p[best]) / total;
    let gq = if others <= 0.0 {
        99
    } else {
        ((-10.0 * others.log10()).round() as i64).clamp(0, 99) as u32
    };
    let p0 = p[0] / total;
    let qual = if p0 <= 0.0 {
        99.0
    } else {
        (-10.0 * p0.log10()).clamp(0.0, 99.0)
    };
    Genotype {
        gt: ["0/0", "0/1", "1/1"][best],
        gq,
        dr,
        dv,
        qual,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn genotypes_follow_read_counts() {
        assert_eq!(call(10, 0, 0.05).gt, "0/0");
        assert_eq!(call(5, 5, 0.05).gt, "0/1");
        assert_eq!(call(6, 3, 0.05).gt, "0/1");
        assert_eq!(call(0, 10, 0.05).gt, "1/1");
        assert_eq!(call(1, 9, 0.05).gt, "1/1");
        assert_eq!(call(0, 0, 0.05).gt, "./.");
        assert!(call(0, 10, 0.05).gq > 20);
        assert!(call(10, 0, 0.05).qual < 1.0);
    }

    #[test]
    fn counts_reads_across_a_breakpoint_once() {
        let sp = |start, end, read| Span {
            start,
            end,
            read,
            sample: 0,
        };
        let idx = SpanIndex::new(vec![
            sp(0, 1000, 1),
            sp(1500, 3000, 1),
            sp(900, 1200, 2),
            sp(100, 960, 3),
        ]);
        let mut s = FxHashSet::default();
        idx.covering(950, 50, &mut s);
        assert_eq!(s.len(), 2);
        assert!(s.contains(&(1, 0)) && s.contains(&(2, 0)));
    }
}
