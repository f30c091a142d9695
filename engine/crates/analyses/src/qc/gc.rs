//! Picard's `CollectGcBiasMetrics` (2.27.5, defaults: `SCAN_WINDOW_SIZE` 100, all reads, no
//! bisulfite), including its quirks, so that the numbers match:
//! - windows start at every 0-based reference index from 1 to `len - 100 - 1`; a window with
//!   more than four `N`s has no GC; a window's GC bin is its G+C count (0..100);
//! - every mapped record counts (secondary, supplementary, duplicates and QC failures too),
//!   at the window whose 0-based start equals its 1-based 5' position (`alignment start`, or
//!   `alignment end - 100` on the reverse strand); positions past the last window start read
//!   GC 0 (Picard's array is zero there); unmapped records only count as clusters;
//! - errors per GC bin are mismatches against the reference in M/=/X blocks plus inserted and
//!   deleted bases; `MEAN_BASE_QUALITY` is the phred of errors / bases.

use std::path::Path;

use super::picard::{picard_file, PVal};
use crate::io::Alignment;

pub const WINDOW: usize = 100;
const BINS: usize = 101;

pub const DEFS: &[(&str, &str)] = &[
    ("AT_DROPOUT", "Illumina-style AT dropout: sum over GC ≤ 50 of (% windows - % reads) where positive (Picard)"),
    ("GC_DROPOUT", "The same over GC > 50 (Picard)"),
    ("GC_NC_0_19", "Normalised coverage of windows with 0-19 % GC (Picard)"),
    ("GC_NC_20_39", "Normalised coverage of windows with 20-39 % GC"),
    ("GC_NC_40_59", "Normalised coverage of windows with 40-59 % GC"),
    ("GC_NC_60_79", "Normalised coverage of windows with 60-79 % GC"),
    ("GC_NC_80_100", "Normalised coverage of windows with 80-100 % GC"),
];

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct GcBias {
    pub window: usize,
    pub windows_by_gc: Vec<u64>,
    pub reads_by_gc: Vec<u64>,
    pub bases_by_gc: Vec<u64>,
    pub errors_by_gc: Vec<u64>,
    pub total_clusters: u64,
    pub aligned_reads: u64,
    /// GC bin by window start for the contig in progress (-1: too many `N`s).
    #[serde(skip)]
    gc: Vec<i8>,
    #[serde(skip)]
    seq: Vec<u8>,
}

#[derive(Clone, Debug)]
pub struct Summary {
    pub at_dropout: f64,
    pub gc_dropout: f64,
    pub nc: [f64; 5],
    pub mean_reads_per_window: f64,
}

/// Picard's `GcBiasUtils.calculateGc` over every window start 1..len-window, incrementally,
/// with its asymmetry (a base entering is an `N` only if it is exactly `N`).
pub fn window_gcs(seq: &[u8], window: usize) -> Vec<i8> {
    let len = seq.len();
    let mut gc = vec![0i8; len + 1];
    let last = len as i64 - window as i64;
    let (mut g, mut n, mut prior) = (0i64, 0i64, 0u8);
    let is_gc = |b: u8| matches!(b, b'G' | b'C' | b'g' | b'c');
    let is_n = |b: u8| matches!(b, b'N' | b'n');
    let mut init = true;
    let mut i = 1i64;
    while i < last {
        let (s, e) = (i as usize, i as usize + window);
        if init {
            init = false;
            g = 0;
            n = 0;
            for &b in &seq[s..e] {
                if is_gc(b) {
                    g += 1;
                } else if is_n(b) {
                    n += 1;
                }
            }
        } else {
            let b = seq[e - 1];
            if is_gc(b) {
                g += 1;
            } else if b == b'N' {
                n += 1;
            }
            if is_gc(prior) {
                g -= 1;
            } else if is_n(prior) {
                n -= 1;
            }
        }
        prior = seq[s];
        gc[s] = if n > 4 {
            -1
        } else {
            (g * 100 / window as i64) as i8
        };
        i += 1;
    }
    gc
}

impl GcBias {
    pub fn new(window: usize) -> Self {
        GcBias {
            window,
            windows_by_gc: vec![0; BINS],
            reads_by_gc: vec![0; BINS],
            bases_by_gc: vec![0; BINS],
            errors_by_gc: vec![0; BINS],
            total_clusters: 0,
            aligned_reads: 0,
            gc: Vec::new(),
            seq: Vec::new(),
        }
    }

    /// A new contig (every contig of the reference, in order, reads or not): its windows.
    pub fn contig(&mut self, refseq: &[u8]) {
        self.gc = window_gcs(refseq, self.window);
        let last = refseq.len() as i64 - self.window as i64;
        for i in 1..last.max(1) as usize {
            if let Ok(b) = usize::try_from(self.gc[i]) {
                self.windows_by_gc[b] += 1;
            }
        }
    }

    /// Every record; `refseq` is the sequence of the record's contig (`None` when unplaced).
    pub fn record<A: Alignment>(&mut self, rec: &A, refseq: Option<&[u8]>) {
        if rec.seq_len() == 0 {
            return;
        }
        let flag = rec.flag();
        if flag & 0x1 == 0 || flag & 0x40 != 0 {
            self.total_clusters += 1;
        }
        if flag & 0x4 != 0 {
            return;
        }
        let Some(refseq) = refseq else { return };
        self.aligned_reads += 1;
        let pos = if flag & 0x10 != 0 {
            rec.end_pos() - self.window as i64
        } else {
            rec.pos() + 1
        };
        if pos <= 0 {
            return;
        }
        let Some(&g) = self.gc.get(pos as usize) else {
            return;
        };
        let Ok(g) = usize::try_from(g) else { return };
        self.reads_by_gc[g] += 1;
        self.bases_by_gc[g] += rec.seq_len() as u64;
        self.seq.clear();
        rec.seq_into(&mut self.seq);
        let (mut errors, mut r, mut q) = (0u64, rec.pos() as usize, 0usize);
        let seq = &self.seq;
        rec.for_each_cigar(|c| {
            let n = c.len as usize;
            match c.op {
                b'M' | b'=' | b'X' => {
                    // Both sides are upper case (the reader's and the reference's), so a byte
                    // comparison is htsjdk's case-blind one.
                    match (refseq.get(r..r + n), seq.get(q..q + n)) {
                        (Some(a), Some(b)) => {
                            errors += a.iter().zip(b).filter(|(x, y)| x != y).count() as u64;
                        }
                        _ => {
                            for k in 0..n {
                                let rb = refseq.get(r + k).copied().unwrap_or(b'N');
                                let qb = seq.get(q + k).copied().unwrap_or(b'N');
                                if !rb.eq_ignore_ascii_case(&qb) {
                                    errors += 1;
                                }
                            }
                        }
                    }
                    r += n;
                    q += n;
                }
                b'I' => {
                    errors += n as u64;
                    q += n;
                }
                b'D' => {
                    errors += n as u64;
                    r += n;
                }
                b'S' => q += n,
                b'N' => r += n,
                _ => {}
            }
        });
        self.errors_by_gc[g] += errors;
    }

    pub fn merge(&mut self, o: &GcBias) {
        for (a, b) in [
            (&mut self.windows_by_gc, &o.windows_by_gc),
            (&mut self.reads_by_gc, &o.reads_by_gc),
            (&mut self.bases_by_gc, &o.bases_by_gc),
            (&mut self.errors_by_gc, &o.errors_by_gc),
        ] {
            for (x, y) in a.iter_mut().zip(b) {
                *x += y;
            }
        }
        self.total_clusters += o.total_clusters;
        self.aligned_reads += o.aligned_reads;
    }

    fn mean_reads_per_window(&self) -> f64 {
        let windows: f64 = self.windows_by_gc.iter().map(|&w| w as f64).sum();
        let reads: f64 = self.reads_by_gc.iter().map(|&r| r as f64).sum();
        reads / windows
    }

    fn norm_coverage(&self, mean: f64, lo: usize, hi: usize) -> f64 {
        let (mut windows, mut sum) = (0u64, 0f64);
        for i in lo..=hi {
            if self.windows_by_gc[i] != 0 {
                sum += self.reads_by_gc[i] as f64;
                windows += self.windows_by_gc[i];
            }
        }
        if windows == 0 {
            0.0
        } else {
            sum / (windows as f64 * mean)
        }
    }

    pub fn summary(&self) -> Summary {
        let mean = self.mean_reads_per_window();
        let total_reads: f64 = self.reads_by_gc.iter().map(|&r| r as f64).sum();
        let total_windows: f64 = self.windows_by_gc.iter().map(|&w| w as f64).sum();
        let (mut at, mut gcd) = (0f64, 0f64);
        for i in 0..BINS {
            let rr = self.reads_by_gc[i] as f64 / total_reads;
            let rw = self.windows_by_gc[i] as f64 / total_windows;
            let d = (rw - rr) * 100.0;
            if d > 0.0 {
                if i <= 50 {
                    at += d;
                } else {
                    gcd += d;
                }
            }
        }
        Summary {
            at_dropout: at,
            gc_dropout: gcd,
            nc: [
                self.norm_coverage(mean, 0, 19),
                self.norm_coverage(mean, 20, 39),
                self.norm_coverage(mean, 40, 59),
                self.norm_coverage(mean, 60, 79),
                self.norm_coverage(mean, 80, 100),
            ],
            mean_reads_per_window: mean,
        }
    }

    pub fn summary_text(&self, sample: &str, input: &Path, s: &Summary) -> String {
        let keys = [
            "ACCUMULATION_LEVEL",
            "READS_USED",
            "WINDOW_SIZE",
            "TOTAL_CLUSTERS",
            "ALIGNED_READS",
            "AT_DROPOUT",
            "GC_DROPOUT",
            "GC_NC_0_19",
            "GC_NC_20_39",
            "GC_NC_40_59",
            "GC_NC_60_79",
            "GC_NC_80_100",
            "SAMPLE",
            "LIBRARY",
            "READ_GROUP",
        ];
        let rows = if self.aligned_reads > 0 {
            let mut r = vec![
                PVal::Str("All Reads".into()),
                PVal::Str("ALL".into()),
                PVal::Int(self.window as i64),
                PVal::Int(self.total_clusters as i64),
                PVal::Int(self.aligned_reads as i64),
                PVal::Float(s.at_dropout),
                PVal::Float(s.gc_dropout),
            ];
            r.extend(s.nc.iter().map(|&v| PVal::Float(v)));
            r.extend([PVal::Empty, PVal::Empty, PVal::Empty]);
            vec![r]
        } else {
            Vec::new()
        };
        picard_file(
            "CollectGcBiasMetrics",
            sample,
            input,
            "picard.analysis.GcBiasSummaryMetrics",
            &keys,
            &rows,
            None,
        )
    }

    pub fn detail_text(&self, sample: &str, input: &Path) -> String {
        let keys = [
            "ACCUMULATION_LEVEL",
            "READS_USED",
            "GC",
            "WINDOWS",
            "READ_STARTS",
            "MEAN_BASE_QUALITY",
            "NORMALIZED_COVERAGE",
            "ERROR_BAR_WIDTH",
            "SAMPLE",
            "LIBRARY",
            "READ_GROUP",
        ];
        let mean = self.mean_reads_per_window();
        let rows: Vec<Vec<PVal>> = if self.aligned_reads > 0 {
            (0..BINS)
                .map(|i| {
                    let (w, r) = (self.windows_by_gc[i], self.reads_by_gc[i]);
                    let q = if self.errors_by_gc[i] > 0 {
                        let p = self.errors_by_gc[i] as f64 / self.bases_by_gc[i] as f64;
                        java_round(-10.0 * p.log10())
                    } else {
                        0
                    };
                    let (nc, eb) = if w != 0 {
                        (
                            (r as f64 / w as f64) / mean,
                            ((r as f64).sqrt() / w as f64) / mean,
                        )
                    } else {
                        (0.0, 0.0)
                    };
                    vec![
                        PVal::Str("All Reads".into()),
                        PVal::Str("ALL".into()),
                        PVal::Int(i as i64),
                        PVal::Int(w as i64),
                        PVal::Int(r as i64),
                        PVal::Int(q),
                        PVal::Float(nc),
                        PVal::Float(eb),
                        PVal::Empty,
                        PVal::Empty,
                        PVal::Empty,
                    ]
                })
                .collect()
        } else {
            Vec::new()
        };
        picard_file(
            "CollectGcBiasMetrics",
            sample,
            input,
            "picard.analysis.GcBiasDetailMetrics",
            &keys,
            &rows,
            None,
        )
    }

    /// (GC %, normalised coverage) of bins with windows, for the report.
    pub fn plot_points(&self) -> Vec<[f64; 2]> {
        let mean = self.mean_reads_per_window();
        (0..BINS)
            .filter(|&i| self.windows_by_gc[i] > 0 && mean > 0.0)
            .map(|i| {
                [
                    i as f64,
                    self.reads_by_gc[i] as f64 / self.windows_by_gc[i] as f64 / mean,
                ]
            })
            .collect()
    }
}

/// Java's `Math.round` (half up) to an int.
pub fn java_round(v: f64) -> i64 {
    (v + 0.5).floor() as i64
}

/// The metric values of [`DEFS`].
pub fn values(s: &Summary) -> Vec<Option<f64>> {
    let mut v = vec![Some(s.at_dropout), Some(s.gc_dropout)];
    v.extend(s.nc.iter().map(|&x| Some(x)));
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_gc_slides_like_picard() {
        let mut seq = vec![b'A'; 300];
        for b in seq.iter_mut().skip(150).take(50) {
            *b = b'G';
        }
        let gc = window_gcs(&seq, 100);
        assert_eq!(gc[1], 0);
        assert_eq!(gc[100], 50);
        assert_eq!(gc[150], 50);
        assert_eq!(gc[120], 50);
        assert_eq!(gc[199], 1);
        // Past the last window start Picard's array is 0.
        assert_eq!(gc[250], 0);
        let mut n = vec![b'A'; 300];
        for b in n.iter_mut().skip(10).take(5) {
            *b = b'N';
        }
        assert_eq!(window_gcs(&n, 100)[5], -1);
        assert_eq!(window_gcs(&n, 100)[11], 0);
    }
}
