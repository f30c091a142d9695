//! Counting: strata (region BEDs), subsets (genotype, indel length, SV size and type,
//! allele fraction), the GA4GH counts for each, and the precision-recall curve over a score.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::io::bed::BedRegions;

/// Variant types counted apart.
pub const VTYPES: &[&str] = &["SNV", "INDEL", "SV"];
pub const SNV: usize = 0;
pub const INDEL: usize = 1;
pub const SV: usize = 2;

/// Subsets of each type: "*" is every variant; the rest say what they select.
pub const SUBSETS: &[&str] = &[
    "*",
    "het",
    "homalt",
    "hetalt",
    "ins:1-5",
    "ins:6-15",
    "ins:16-49",
    "ins:50+",
    "del:1-5",
    "del:6-15",
    "del:16-49",
    "del:50+",
    "size:50-100",
    "size:100-300",
    "size:300-1k",
    "size:1k-2.5k",
    "size:2.5k-5k",
    "size:5k+",
    "DEL",
    "INS",
    "DUP",
    "INV",
    "BND",
    "CNV",
    "OTHER",
    "vaf:0-0.05",
    "vaf:0.05-0.1",
    "vaf:0.1-0.2",
    "vaf:0.2-0.35",
    "vaf:0.35-1",
];

/// The subset of a genotype class.
pub fn zyg_subset(z: super::genotype::Zyg) -> Option<u8> {
    use super::genotype::Zyg;
    match z {
        Zyg::Het => Some(1),
        Zyg::HomAlt => Some(2),
        Zyg::HetAlt => Some(3),
        Zyg::Unknown => None,
    }
}

/// Whether an SNV is a transition (A<->G, C<->T); `None` for other bases.
pub fn transition(r: u8, a: u8) -> Option<bool> {
    let purine = |b: u8| match b {
        b'A' | b'G' => Some(true),
        b'C' | b'T' => Some(false),
        _ => None,
    };
    Some(purine(r)? == purine(a)?)
}

/// The subset of an indel length (inserted bases positive).
pub fn indel_subset(len: i64) -> Option<u8> {
    let a = len.unsigned_abs();
    let bin = match a {
        0 => return None,
        1..=5 => 0,
        6..=15 => 1,
        16..=49 => 2,
        _ => 3,
    };
    Some(if len > 0 { 4 + bin } else { 8 + bin })
}

/// The subset of an SV size.
pub fn size_subset(size: u64) -> Option<u8> {
    Some(match size {
        0..=49 => return None,
        50..=99 => 12,
        100..=299 => 13,
        300..=999 => 14,
        1000..=2499 => 15,
        2500..=4999 => 16,
        _ => 17,
    })
}

/// The subset of an SV type name.
pub fn svtype_subset(t: &str) -> u8 {
    match t {
        "DEL" => 18,
        "INS" => 19,
        "DUP" => 20,
        "INV" => 21,
        "BND" => 22,
        "CNV" => 23,
        _ => 24,
    }
}

/// The subset of an allele fraction (INFO `VAF` of a somatic truth set).
pub fn vaf_subset(v: f32) -> Option<u8> {
    if !v.is_finite() || v < 0.0 {
        return None;
    }
    Some(match v {
        x if x < 0.05 => 25,
        x if x < 0.1 => 26,
        x if x < 0.2 => 27,
        x if x < 0.35 => 28,
        _ => 29,
    })
}

/// GA4GH counts of one (stratum, type, subset).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub truth_total: u64,
    pub truth_tp: u64,
    /// Truth variants matched with the right genotype too.
    pub truth_tp_gt: u64,
    pub query_total: u64,
    pub query_tp: u64,
    pub query_tp_gt: u64,
    /// Unmatched query variants with truth variants nearby (hap.py's FP.al).
    pub query_fp_al: u64,
    /// Calls outside the truth's confident regions (hap.py's QUERY.UNK); not in the others.
    pub query_unk: u64,
    /// Transitions and transversions among SNVs, per side.
    pub truth_ti: u64,
    pub truth_tv: u64,
    pub query_ti: u64,
    pub query_tv: u64,
    /// Het (hetalt included) and hom-alt genotypes, per side.
    pub truth_het: u64,
    pub truth_homalt: u64,
    pub query_het: u64,
    pub query_homalt: u64,
}

impl Counts {
    pub fn add(&mut self, o: &Counts) {
        self.truth_total += o.truth_total;
        self.truth_tp += o.truth_tp;
        self.truth_tp_gt += o.truth_tp_gt;
        self.query_total += o.query_total;
        self.query_tp += o.query_tp;
        self.query_tp_gt += o.query_tp_gt;
        self.query_fp_al += o.query_fp_al;
        self.query_unk += o.query_unk;
        self.truth_ti += o.truth_ti;
        self.truth_tv += o.truth_tv;
        self.query_ti += o.query_ti;
        self.query_tv += o.query_tv;
        self.truth_het += o.truth_het;
        self.truth_homalt += o.truth_homalt;
        self.query_het += o.query_het;
        self.query_homalt += o.query_homalt;
    }

    pub fn is_empty(&self) -> bool {
        self.truth_total == 0 && self.query_total == 0
    }

    /// (precision, recall, F1) at allele level (`gt` false) or genotype level.
    /// (truth TP, query TP) at allele level (`gt` false) or genotype level.
    pub fn tp(&self, gt: bool) -> (u64, u64) {
        if gt {
            (self.truth_tp_gt, self.query_tp_gt)
        } else {
            (self.truth_tp, self.query_tp)
        }
    }

    pub fn metrics(&self, gt: bool) -> (Option<f64>, Option<f64>, Option<f64>) {
        let (ttp, qtp) = self.tp(gt);
        let p = (self.query_total > 0).then(|| qtp as f64 / self.query_total as f64);
        let r = (self.truth_total > 0).then(|| ttp as f64 / self.truth_total as f64);
        let f = match (p, r) {
            (Some(p), Some(r)) if p + r > 0.0 => Some(2.0 * p * r / (p + r)),
            (Some(_), Some(_)) => Some(0.0),
            _ => None,
        };
        (p, r, f)
    }
}

/// One contribution: a variant's type, its subsets and its result.
#[derive(Clone, Copy, Debug)]
pub struct Item {
    pub vtype: u8,
    pub subsets: [u8; 6],
    pub n_subsets: u8,
    pub truth: bool,
    pub tp: bool,
    pub gt: bool,
    pub near: bool,
    /// A call outside the confident regions: counted as QUERY.UNK only.
    pub unk: bool,
    /// An SNV's class: transition (true) or transversion.
    pub ti: Option<bool>,
    /// Hom-alt (true) or het (false); `None` without a genotype.
    pub hom: Option<bool>,
}

impl Item {
    pub fn new(vtype: usize, truth: bool) -> Self {
        Item {
            vtype: vtype as u8,
            subsets: [0; 6],
            n_subsets: 1,
            truth,
            tp: false,
            gt: false,
            near: false,
            unk: false,
            ti: None,
            hom: None,
        }
    }

    pub fn with(mut self, s: Option<u8>) -> Self {
        if let Some(s) = s {
            if (self.n_subsets as usize) < self.subsets.len() {
                self.subsets[self.n_subsets as usize] = s;
                self.n_subsets += 1;
            }
        }
        self
    }
}

/// Counts for every stratum x type x subset, flat.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Tally {
    pub n_strata: usize,
    pub cells: Vec<Counts>,
}

impl Tally {
    pub fn new(n_strata: usize) -> Self {
        Tally {
            n_strata,
            cells: vec![Counts::default(); n_strata * VTYPES.len() * SUBSETS.len()],
        }
    }

    fn idx(s: usize, t: usize, sub: usize) -> usize {
        (s * VTYPES.len() + t) * SUBSETS.len() + sub
    }

    pub fn get(&self, s: usize, t: usize, sub: usize) -> &Counts {
        &self.cells[Self::idx(s, t, sub)]
    }

    pub fn add_item(&mut self, s: usize, it: &Item) {
        for &sub in &it.subsets[..it.n_subsets as usize] {
            let c = &mut self.cells[Self::idx(s, it.vtype as usize, sub as usize)];
            if it.unk {
                c.query_unk += 1;
                continue;
            }
            let (ti, tv) = (it.ti == Some(true), it.ti == Some(false));
            let (het, hom) = (it.hom == Some(false), it.hom == Some(true));
            if it.truth {
                c.truth_ti += ti as u64;
                c.truth_tv += tv as u64;
                c.truth_het += het as u64;
                c.truth_homalt += hom as u64;
            } else {
                c.query_ti += ti as u64;
                c.query_tv += tv as u64;
                c.query_het += het as u64;
                c.query_homalt += hom as u64;
            }
            if it.truth {
                c.truth_total += 1;
                c.truth_tp += it.tp as u64;
                c.truth_tp_gt += (it.tp && it.gt) as u64;
            } else {
                c.query_total += 1;
                c.query_tp += it.tp as u64;
                c.query_tp_gt += (it.tp && it.gt) as u64;
                c.query_fp_al += (!it.tp && it.near) as u64;
            }
        }
    }

    pub fn merge(&mut self, o: &Tally) {
        for (a, b) in self.cells.iter_mut().zip(&o.cells) {
            a.add(b);
        }
    }
}

/// A named set of regions, merged and sorted per contig (indexed like the reference).
#[derive(Clone, Debug)]
pub struct Stratum {
    pub name: String,
    pub path: Option<PathBuf>,
    pub by_contig: Vec<Vec<(u64, u64)>>,
}

impl Stratum {
    /// Reads a BED; contigs the reference lacks are left out, and a BED with none of the
    /// reference's contigs is an error (a file for another assembly).
    pub fn read(name: &str, path: &Path, contigs: &[(String, u64)]) -> Result<Self> {
        let bed = BedRegions::read(path)?;
        let mut by_contig = vec![Vec::new(); contigs.len()];
        let mut placed = 0usize;
        for (tid, (cname, _)) in contigs.iter().enumerate() {
            if let Some(v) = bed.by_chrom.get(cname) {
                placed += v.len();
                let mut iv: Vec<(u64, u64)> = v.iter().map(|r| (r.start, r.end)).collect();
                iv.sort_unstable();
                let mut merged: Vec<(u64, u64)> = Vec::with_capacity(iv.len());
                for (s, e) in iv {
                    match merged.last_mut() {
                        Some(last) if s <= last.1 => last.1 = last.1.max(e),
                        _ => merged.push((s, e)),
                    }
                }
                by_contig[tid] = merged;
            }
        }
        if placed == 0 && !bed.chrom_order.is_empty() {
            return Err(Error::format(
                path,
                format!(
                    "none of its contigs is in the reference (first: '{}'): regions for another assembly?",
                    bed.chrom_order[0]
                ),
            ));
        }
        Ok(Stratum {
            name: name.to_string(),
            path: Some(path.to_path_buf()),
            by_contig,
        })
    }

    /// For spans sorted by start, whether each lies inside one region.
    pub fn contains_sorted(
        &self,
        tid: usize,
        spans: impl Iterator<Item = (u64, u64)>,
    ) -> Vec<bool> {
        let iv = &self.by_contig[tid];
        let mut k = 0;
        spans
            .map(|(s, e)| {
                while k < iv.len() && iv[k].1 <= s {
                    k += 1;
                }
                k < iv.len() && iv[k].0 <= s && e <= iv[k].1
            })
            .collect()
    }

    /// Whether one span lies inside one region (any order).
    pub fn contains(&self, tid: usize, s: u64, e: u64) -> bool {
        let iv = &self.by_contig[tid];
        let k = iv.partition_point(|r| r.1 <= s);
        k < iv.len() && iv[k].0 <= s && e <= iv[k].1
    }
}

/// Reads a GIAB-style stratification list: `NAME<TAB>PATH` per line (paths relative to the
/// list's folder); `#` lines and a header naming the columns are skipped.
pub fn read_strat_tsv(path: &Path) -> Result<Vec<(String, PathBuf)>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let mut f = line.split('\t');
        let (Some(name), Some(p)) = (f.next(), f.next()) else {
            return Err(Error::format(
                path,
                format!("line {}: expected NAME<TAB>BED", n + 1),
            ));
        };
        if n == 0 && !(p.ends_with(".bed") || p.ends_with(".bed.gz")) {
            continue; // a header
        }
        let p = Path::new(p.trim());
        out.push((
            name.trim().to_string(),
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                dir.join(p)
            },
        ));
    }
    Ok(out)
}

/// One point of a precision-recall curve.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct CurvePoint {
    /// Calls with a score at least this are kept.
    pub threshold: f64,
    pub truth_tp: u64,
    pub query_tp: u64,
    pub query_fp: u64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

/// The curve from (score, tp) of query variants and (score of its match or NaN) of truth
/// variants: at most `max_points` thresholds (score quantiles), every unscored call kept only
/// at the lowest. Returns the points and the index of the best F1.
pub fn pr_curve(
    query: &mut [(f32, bool)],
    truth: &mut [f32],
    max_points: usize,
) -> (Vec<CurvePoint>, Option<usize>) {
    let key = |s: f32| if s.is_nan() { f32::NEG_INFINITY } else { s };
    query.sort_unstable_by(|a, b| key(b.0).total_cmp(&key(a.0)));
    truth.sort_unstable_by(|a, b| key(*b).total_cmp(&key(*a)));
    let truth_total = truth.len() as u64;
    let scored: Vec<f32> = query.iter().map(|q| q.0).filter(|s| !s.is_nan()).collect();
    if scored.is_empty() || truth_total == 0 {
        return (Vec::new(), None);
    }
    // Thresholds: distinct scores, thinned to quantiles.
    let mut th: Vec<f32> = scored.clone();
    th.dedup();
    if th.len() > max_points {
        let n = th.len();
        th = (0..max_points)
            .map(|i| th[i * (n - 1) / (max_points - 1)])
            .collect();
        th.dedup();
    }
    let mut pts = Vec::with_capacity(th.len());
    let (mut qi, mut ti, mut qtp, mut qfp) = (0usize, 0usize, 0u64, 0u64);
    for &t in &th {
        while qi < query.len() && !query[qi].0.is_nan() && query[qi].0 >= t {
            if query[qi].1 {
                qtp += 1;
            } else {
                qfp += 1;
            }
            qi += 1;
        }
        while ti < truth.len() && !truth[ti].is_nan() && truth[ti] >= t {
            ti += 1;
        }
        let p = if qtp + qfp > 0 {
            qtp as f64 / (qtp + qfp) as f64
        } else {
            1.0
        };
        let r = ti as f64 / truth_total as f64;
        let f = if p + r > 0.0 {
            2.0 * p * r / (p + r)
        } else {
            0.0
        };
        pts.push(CurvePoint {
            threshold: t as f64,
            truth_tp: ti as u64,
            query_tp: qtp,
            query_fp: qfp,
            precision: p,
            recall: r,
            f1: f,
        });
    }
    let best = pts
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.f1.total_cmp(&b.1.f1).then(b.0.cmp(&a.0)))
        .map(|(i, _)| i);
    (pts, best)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curve_finds_the_best_threshold() {
        // Three true calls at high score, two false at low.
        let mut q = vec![
            (30.0, true),
            (25.0, true),
            (20.0, true),
            (5.0, false),
            (3.0, false),
        ];
        let mut t = vec![30.0, 25.0, 20.0, f32::NAN];
        let (pts, best) = pr_curve(&mut q, &mut t, 100);
        assert_eq!(pts.len(), 5);
        let b = &pts[best.unwrap()];
        assert_eq!(b.threshold, 20.0);
        assert_eq!((b.query_tp, b.query_fp, b.truth_tp), (3, 0, 3));
        assert!((b.recall - 0.75).abs() < 1e-9);
    }

    #[test]
    fn every_subset_of_an_sv_is_counted() {
        // "*", genotype, size, type and allele fraction: five subsets.
        let it = Item::new(SV, true)
            .with(Some(1))
            .with(size_subset(120))
            .with(Some(svtype_subset("DEL")))
            .with(vaf_subset(0.3));
        let mut t = Tally::new(1);
        t.add_item(0, &it);
        for sub in [0, 1, 13, 18, 28] {
            assert_eq!(t.get(0, SV, sub).truth_total, 1, "subset {}", SUBSETS[sub]);
        }
    }

    #[test]
    fn containment_needs_one_region() {
        let s = Stratum {
            name: "x".into(),
            path: None,
            by_contig: vec![vec![(10, 20), (20, 30), (40, 50)]],
        };
        assert!(s.contains(0, 10, 11));
        assert!(!s.contains(0, 9, 11));
        assert!(!s.contains(0, 35, 36));
        let v = s.contains_sorted(0, [(5, 6), (12, 15), (45, 51), (49, 50)].into_iter());
        assert_eq!(v, vec![false, true, false, true]);
    }
}
