//! Sample identity: allele counts at a panel of SNP sites (the fingerprint), genotypes from
//! them, relatedness between samples (KING-robust kinship and IBS0), sex from X/Y depth and X
//! heterozygosity, and contamination as VerifyBamID's free-mix model estimates it.
//!
//! The panel is `--sites` (biallelic SNPs of a VCF, with INFO `AF` when present) or, without
//! it, a grid kasane chooses from the reference: about [`GRID_SITES`] positions evenly spaced
//! over the genome (every [`grid_step`] bases of every contig, at least 10 apart), skipping
//! reference `N`s. The grid's alleles are
//! the reference base and the most frequent other base among the run's samples, and its allele
//! frequencies are estimated from the run's samples.

use std::collections::HashMap;
use std::io::BufRead;
use std::path::Path;

use crate::error::{Error, Result};
use crate::io::fasta::FastaReader;
use crate::io::Header;

/// About how many positions the default panel has: 300,000 keep a sample's counts at 5 MB and
/// its fingerprint file near 6 MB, and still hold about 300 variable sites in a human genome (one
/// SNP a kilobase); `--sites` with common SNPs gives far more.
pub const GRID_SITES: u64 = 300_000;

/// The default panel's spacing for a genome of `genome` bases.
pub fn grid_step(genome: u64) -> u64 {
    (genome / GRID_SITES).max(10)
}
/// Fewest informative sites (either sample not homozygous reference) for a relationship; below
/// it the relationship is `unknown`.
pub const MIN_INFORMATIVE: u64 = 100;
/// Fewest reads at a site for a genotype.
pub const MIN_GT_DEPTH: u32 = 8;
/// Per-read error rate of the genotype and contamination models (bases of quality ≥ 20 only
/// are counted).
const ERR: f64 = 0.01;

/// One biallelic SNP of the panel.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Site {
    /// 0-based.
    pub pos: u64,
    /// `ACGT` (or `N`: unknown, the default panel without a reference).
    pub ref_base: u8,
    /// `ACGT`, or `N` where the panel does not say (the default panel).
    pub alt_base: u8,
    /// Population allele frequency of `alt`, where the panel gives it.
    pub af: Option<f64>,
}

/// The sites, per contig of the alignment header, sorted by position.
#[derive(Clone, Debug, Default)]
pub struct Panel {
    pub by_tid: Vec<Vec<Site>>,
    /// What the panel is, for the report: the sites file, or the default grid.
    pub source: String,
    /// First global index of each contig's sites (`by_tid` flattened).
    pub offset: Vec<usize>,
}

impl Panel {
    fn finish(by_tid: Vec<Vec<Site>>, source: String) -> Panel {
        let mut offset = Vec::with_capacity(by_tid.len() + 1);
        let mut n = 0;
        for s in &by_tid {
            offset.push(n);
            n += s.len();
        }
        offset.push(n);
        Panel {
            by_tid,
            source,
            offset,
        }
    }

    pub fn len(&self) -> usize {
        self.offset.last().copied().unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The default grid: every [`grid_step`] bases of every contig, skipping reference `N`s.
    pub fn grid(header: &Header, fasta: Option<&FastaReader>) -> Result<Panel> {
        let step = grid_step(header.refs.iter().map(|r| r.len).sum());
        let mut by_tid = Vec::with_capacity(header.refs.len());
        for r in &header.refs {
            let mut v = Vec::new();
            let seq = match fasta {
                Some(f) if r.len >= step / 2 => Some(f.fetch(&r.name, 0, r.len)?),
                _ => None,
            };
            let mut p = step / 2;
            while p < r.len {
                let b = seq
                    .as_ref()
                    .map_or(b'N', |s| s[p as usize].to_ascii_uppercase());
                if seq.is_none() || matches!(b, b'A' | b'C' | b'G' | b'T') {
                    v.push(Site {
                        pos: p,
                        ref_base: b,
                        alt_base: b'N',
                        af: None,
                    });
                }
                p += step;
            }
            by_tid.push(v);
        }
        Ok(Panel::finish(
            by_tid,
            format!("default grid: one position every {step} bp"),
        ))
    }

    /// The biallelic SNPs of a VCF (plain or bgzipped). Records on contigs the header does not
    /// list are an error when no record's contig is listed (a panel on another reference);
    /// with `fasta`, so is a panel whose REF disagrees with the reference at over 10 % of sites.
    pub fn from_vcf(path: &Path, header: &Header, fasta: Option<&FastaReader>) -> Result<Panel> {
        let raw = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let text = if raw.starts_with(&[0x1f, 0x8b]) {
            crate::io::bgzf::inflate(&raw, path)?
        } else {
            raw
        };
        let mut by_tid: Vec<Vec<Site>> = vec![Vec::new(); header.refs.len()];
        let (mut records, mut placed, mut unknown_contig) = (0u64, 0u64, None::<String>);
        for (n, line) in text.split(|&b| b == b'\n').enumerate() {
            if line.is_empty() || line[0] == b'#' {
                continue;
            }
            records += 1;
            let line = std::str::from_utf8(line)
                .map_err(|_| Error::format(path, format!("line {}: not UTF-8 text", n + 1)))?;
            let f: Vec<&str> = line.trim_end_matches('\r').split('\t').collect();
            if f.len() < 5 {
                return Err(Error::format(
                    path,
                    format!("line {}: a VCF record needs at least 5 columns", n + 1),
                ));
            }
            let Some(tid) = header.tid(f[0]) else {
                unknown_contig.get_or_insert_with(|| f[0].to_string());
                continue;
            };
            let pos: u64 = f[1].parse().map_err(|_| {
                Error::format(
                    path,
                    format!("line {}: POS '{}' is not a number", n + 1, f[1]),
                )
            })?;
            if pos == 0 || pos > header.refs[tid].len {
                return Err(Error::format(
                    path,
                    format!(
                        "line {}: {}:{pos} is outside the contig ({} bp): a panel on another \
                         reference?",
                        n + 1,
                        f[0],
                        header.refs[tid].len
                    ),
                ));
            }
            placed += 1;
            let (r, a) = (f[3].as_bytes(), f[4].as_bytes());
            let snp = |s: &[u8]| s.len() == 1 && matches!(s[0], b'A' | b'C' | b'G' | b'T');
            let (r, a) = (
                r.iter().map(u8::to_ascii_uppercase).collect::<Vec<_>>(),
                a.iter().map(u8::to_ascii_uppercase).collect::<Vec<_>>(),
            );
            if !snp(&r) || !snp(&a) {
                continue;
            }
            let af = f
                .get(7)
                .and_then(|info| info.split(';').find_map(|kv| kv.strip_prefix("AF=")))
                .and_then(|v| v.split(',').next()?.parse::<f64>().ok())
                .filter(|v| v.is_finite() && (0.0..=1.0).contains(v));
            by_tid[tid].push(Site {
                pos: pos - 1,
                ref_base: r[0],
                alt_base: a[0],
                af,
            });
        }
        if records > 0 && placed == 0 {
            return Err(Error::format(
                path,
                format!(
                    "none of its contigs is in the alignments' header (first: '{}'): a sites \
                     file for another reference?",
                    unknown_contig.unwrap_or_default()
                ),
            ));
        }
        for v in &mut by_tid {
            v.sort_by_key(|s| s.pos);
            v.dedup_by_key(|s| s.pos);
        }
        if let Some(fa) = fasta {
            let (mut checked, mut wrong) = (0u64, 0u64);
            for (tid, v) in by_tid.iter().enumerate() {
                if v.is_empty() {
                    continue;
                }
                let name = &header.refs[tid].name;
                let seq = fa.fetch(name, 0, header.refs[tid].len)?;
                for s in v {
                    checked += 1;
                    if seq[s.pos as usize].to_ascii_uppercase() != s.ref_base {
                        wrong += 1;
                    }
                }
            }
            if checked > 0 && wrong * 10 > checked {
                return Err(Error::format(
                    path,
                    format!(
                        "REF differs from the reference {} at {wrong} of {checked} sites: a \
                         sites file for another reference?",
                        fa.path().display()
                    ),
                ));
            }
        }
        let n: usize = by_tid.iter().map(Vec::len).sum();
        if n == 0 {
            return Err(Error::format(path, "no biallelic SNP to genotype"));
        }
        Ok(Panel::finish(by_tid, path.display().to_string()))
    }
}

pub const BASES: [u8; 4] = *b"ACGT";

pub fn base_index(b: u8) -> Option<usize> {
    match b {
        b'A' | b'a' => Some(0),
        b'C' | b'c' => Some(1),
        b'G' | b'g' => Some(2),
        b'T' | b't' => Some(3),
        _ => None,
    }
}

/// Counts of A, C, G, T at each panel site (global index), for one sample.
pub type Counts = Vec<[u32; 4]>;

/// Alleles of each site as the run decides them: the panel's, or (default grid) the reference
/// base and the most frequent other base over every sample (the most frequent two without a
/// reference). Returns indexes into `ACGT`, or `None` where nothing was seen.
pub fn alleles(panel: &Panel, samples: &[&Counts]) -> Vec<Option<(usize, usize)>> {
    let mut out = Vec::with_capacity(panel.len());
    for sites in &panel.by_tid {
        for s in sites {
            let i = out.len();
            let mut tot = [0u64; 4];
            for c in samples {
                for (t, v) in tot.iter_mut().zip(c[i]) {
                    *t += v as u64;
                }
            }
            let r = base_index(s.ref_base);
            let a = base_index(s.alt_base);
            out.push(match (r, a) {
                (Some(r), Some(a)) => Some((r, a)),
                (Some(r), None) => {
                    let alt = (0..4)
                        .filter(|&b| b != r)
                        .max_by_key(|&b| (tot[b], std::cmp::Reverse(b)));
                    alt.map(|a| (r, a))
                }
                _ => {
                    let mut idx = [0usize, 1, 2, 3];
                    idx.sort_by_key(|&b| (std::cmp::Reverse(tot[b]), b));
                    (tot[idx[0]] > 0).then_some((idx[0], idx[1]))
                }
            });
        }
    }
    out
}

/// A genotype: alt allele dosage 0, 1, 2, from ref/alt counts, or `None` below
/// [`MIN_GT_DEPTH`] reads or when two genotypes are about equally likely (< 10:1).
pub fn genotype(r: u32, a: u32) -> Option<u8> {
    let d = r + a;
    if d < MIN_GT_DEPTH {
        return None;
    }
    let ll = |p: f64| a as f64 * p.ln() + r as f64 * (1.0 - p).ln();
    let l = [ll(ERR), ll(0.5), ll(1.0 - ERR)];
    let best = (0..3).max_by(|&x, &y| l[x].total_cmp(&l[y]))?;
    let second = (0..3)
        .filter(|&g| g != best)
        .map(|g| l[g])
        .fold(f64::NEG_INFINITY, f64::max);
    (l[best] - second > 10f64.ln()).then_some(best as u8)
}

/// Genotypes of one sample at every site (see [`genotype`]).
pub fn genotypes(counts: &Counts, alleles: &[Option<(usize, usize)>]) -> Vec<Option<u8>> {
    counts
        .iter()
        .zip(alleles)
        .map(|(c, al)| al.and_then(|(r, a)| genotype(c[r], c[a])))
        .collect()
}

/// Kinship of two samples, KING-robust (within-family estimator) over the sites both have a
/// genotype at, with the fraction of those sites where they share no allele (IBS0).
#[derive(Clone, Debug, serde::Serialize)]
pub struct Kinship {
    pub sites: u64,
    /// Sites where either is not homozygous reference (the informative ones).
    pub informative: u64,
    pub kinship: f64,
    pub ibs0: f64,
    pub relationship: &'static str,
}

/// KING's degree cut-offs (powers of 2^-1.5 between 1/2, 1/4, 1/8, 1/16).
pub fn relationship(kinship: f64, ibs0: f64) -> &'static str {
    if kinship > 0.354 {
        "duplicate or identical twin"
    } else if kinship > 0.177 {
        if ibs0 < 0.1 {
            "first degree: parent and child"
        } else {
            "first degree: full siblings"
        }
    } else if kinship > 0.0884 {
        "second degree"
    } else if kinship > 0.0442 {
        "third degree"
    } else {
        "unrelated"
    }
}

/// Degree of a relationship label: 0 duplicate, 1..3, or 4 unrelated.
pub fn degree(rel: &str) -> u8 {
    if rel.starts_with("duplicate") {
        0
    } else if rel.starts_with("first") {
        1
    } else if rel.starts_with("second") {
        2
    } else if rel.starts_with("third") {
        3
    } else {
        4
    }
}

pub fn kinship(a: &[Option<u8>], b: &[Option<u8>]) -> Kinship {
    let (mut n, mut inf, mut hethet, mut opp, mut het_a, mut het_b, mut ibs0_inf) =
        (0u64, 0u64, 0u64, 0u64, 0u64, 0u64, 0u64);
    for (x, y) in a.iter().zip(b) {
        let (Some(x), Some(y)) = (*x, *y) else {
            continue;
        };
        n += 1;
        if x == 0 && y == 0 {
            continue;
        }
        inf += 1;
        het_a += (x == 1) as u64;
        het_b += (y == 1) as u64;
        hethet += (x == 1 && y == 1) as u64;
        if (x == 0 && y == 2) || (x == 2 && y == 0) {
            opp += 1;
            ibs0_inf += 1;
        }
    }
    let kin = if het_a + het_b > 0 {
        (hethet as f64 - 2.0 * opp as f64) / (het_a + het_b) as f64
    } else {
        f64::NAN
    };
    // IBS0 among the informative sites: sites where both are homozygous reference say nothing
    // about relatedness, and how many there are depends only on the panel.
    let ibs0 = if inf > 0 {
        ibs0_inf as f64 / inf as f64
    } else {
        f64::NAN
    };
    Kinship {
        sites: n,
        informative: inf,
        kinship: kin,
        ibs0,
        relationship: if kin.is_nan() || inf < MIN_INFORMATIVE {
            "unknown"
        } else {
            relationship(kin, ibs0)
        },
    }
}

/// Contamination by free mixing (VerifyBamID's FREEMIX model, without a reference panel's
/// haplotypes): at each site with allele frequency p, the sample's genotype and the
/// contaminant's are drawn from Hardy–Weinberg proportions of p, reads come from the
/// contaminant with probability `c`; `c` is chosen by maximum likelihood over [0, 0.5].
/// Returns `(c, sites used)`; `None` with fewer than 100 usable sites.
pub fn contamination(ref_alt: &[(u32, u32, f64)]) -> Option<(f64, u64)> {
    let sites: Vec<&(u32, u32, f64)> = ref_alt
        .iter()
        .filter(|(r, a, p)| r + a > 0 && *p > 0.0 && *p < 1.0)
        .collect();
    if sites.len() < 100 {
        return None;
    }
    // The per-read error rate is estimated with c (alternating one-dimensional searches): a
    // fixed rate above the true one would explain contaminating reads away as errors.
    let loglik = |c: f64, err: f64| -> f64 {
        let mut total = 0.0;
        for &&(r, a, p) in &sites {
            let hw = [(1.0 - p) * (1.0 - p), 2.0 * p * (1.0 - p), p * p];
            // Work in logs scaled by the best term so deep sites do not underflow.
            let mut terms = [0.0f64; 9];
            let mut m = f64::NEG_INFINITY;
            for g in 0..3 {
                for h in 0..3 {
                    let q = (1.0 - c) * g as f64 / 2.0 + c * h as f64 / 2.0;
                    let q = q * (1.0 - err) + (1.0 - q) * err;
                    let t = (hw[g] * hw[h]).ln() + a as f64 * q.ln() + r as f64 * (1.0 - q).ln();
                    terms[g * 3 + h] = t;
                    m = m.max(t);
                }
            }
            total += m + terms.iter().map(|t| (t - m).exp()).sum::<f64>().ln();
        }
        total
    };
    let (mut c, mut err) = (0.01f64, ERR);
    for _ in 0..4 {
        c = golden_max(|x| loglik(x, err), 0.0, 0.5);
        err = golden_max(|x| loglik(c, x), 1e-5, 0.1);
    }
    // The boundary is a valid answer: compare with c = 0 exactly.
    let c = if loglik(0.0, err) >= loglik(c, err) {
        0.0
    } else {
        c
    };
    Some((c, sites.len() as u64))
}

/// The maximum of a unimodal function on [lo, hi] by golden-section search.
fn golden_max(f: impl Fn(f64) -> f64, mut lo: f64, mut hi: f64) -> f64 {
    let g = (5f64.sqrt() - 1.0) / 2.0;
    let mut x1 = hi - g * (hi - lo);
    let mut x2 = lo + g * (hi - lo);
    let (mut f1, mut f2) = (f(x1), f(x2));
    while hi - lo > 1e-6 {
        if f1 < f2 {
            lo = x1;
            x1 = x2;
            f1 = f2;
            x2 = lo + g * (hi - lo);
            f2 = f(x2);
        } else {
            hi = x2;
            x2 = x1;
            f2 = f1;
            x1 = hi - g * (hi - lo);
            f1 = f(x1);
        }
    }
    (lo + hi) / 2.0
}

/// Sex from depth and X heterozygosity.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Sex {
    /// Mean depth of X (Y) over the mean depth of the autosomes; `None` without such contigs.
    pub x_ratio: Option<f64>,
    pub y_ratio: Option<f64>,
    /// Heterozygous genotypes among X's non-reference genotypes (outside the human PARs).
    pub x_het: Option<f64>,
    pub x_het_sites: u64,
    /// `male`, `female` or `unknown`.
    pub call: &'static str,
}

/// The X and Y contigs by the usual names.
pub fn sex_contig(name: &str) -> Option<u8> {
    match name.trim_start_matches("chr") {
        "X" | "x" => Some(b'X'),
        "Y" | "y" => Some(b'Y'),
        _ => None,
    }
}

/// Contigs that count as autosomes for the depth ratios: numbered ones (`1`..`22`, `chr1`..)
/// where the header has any; else every contig that is not X, Y or mitochondrial.
pub fn autosomes(header: &Header) -> Vec<bool> {
    let numbered = |n: &str| {
        let n = n.trim_start_matches("chr");
        !n.is_empty() && n.len() <= 2 && n.bytes().all(|b| b.is_ascii_digit())
    };
    let any = header.refs.iter().any(|r| numbered(&r.name));
    header
        .refs
        .iter()
        .map(|r| {
            if any {
                numbered(&r.name)
            } else {
                sex_contig(&r.name).is_none()
                    && !matches!(r.name.trim_start_matches("chr"), "M" | "MT")
            }
        })
        .collect()
}

/// Whether 0-based `pos` of an X contig of `len` bp lies in a pseudo-autosomal region, for
/// human-sized X contigs (GRCh37/38 PAR1 ends near 2.7 Mb, PAR2 spans the last 330 kb).
pub fn in_par(pos: u64, len: u64) -> bool {
    len > 150_000_000 && (pos < 2_781_479 || pos >= len.saturating_sub(330_000))
}

pub fn call_sex(x_ratio: Option<f64>, y_ratio: Option<f64>, x_het: Option<f64>) -> &'static str {
    match (x_ratio, y_ratio) {
        (Some(x), Some(y)) if y >= 0.1 && x < 0.75 => "male",
        (Some(x), Some(y)) if y < 0.05 && x >= 0.75 => "female",
        (Some(x), None) => {
            // No Y contig: X depth and heterozygosity alone.
            if x < 0.75 && x_het.is_none_or(|h| h < 0.1) {
                "male"
            } else if x >= 0.75 {
                "female"
            } else {
                "unknown"
            }
        }
        _ => "unknown",
    }
}

/// One sample's fingerprint as written to `SAMPLE.fingerprint.tsv` and read back by
/// `--fingerprints`: counts at the sites with any read.
pub fn fingerprint_text(sample: &str, panel: &Panel, header: &Header, counts: &Counts) -> String {
    let mut s = format!(
        "#kasane fingerprint 1\n#sample\t{sample}\n#panel\t{}\n#contig\tpos\tA\tC\tG\tT\n",
        panel.source
    );
    for (tid, sites) in panel.by_tid.iter().enumerate() {
        for (k, site) in sites.iter().enumerate() {
            let c = counts[panel.offset[tid] + k];
            if c.iter().all(|&v| v == 0) {
                continue;
            }
            s.push_str(&format!(
                "{}\t{}\t{}\t{}\t{}\t{}\n",
                header.refs[tid].name,
                site.pos + 1,
                c[0],
                c[1],
                c[2],
                c[3]
            ));
        }
    }
    s
}

/// An earlier run's fingerprint, as counts on this run's panel (sites it lacks count zero).
pub fn read_fingerprint(path: &Path, panel: &Panel, header: &Header) -> Result<(String, Counts)> {
    let raw = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    if !raw.starts_with(b"#kasane fingerprint") {
        return Err(Error::format(
            path,
            "not a kasane fingerprint file (SAMPLE.fingerprint.tsv from kasane qc)",
        ));
    }
    let mut counts: Counts = vec![[0; 4]; panel.len()];
    let mut sample = None;
    let mut index: HashMap<(usize, u64), usize> = HashMap::new();
    for (tid, sites) in panel.by_tid.iter().enumerate() {
        for (k, s) in sites.iter().enumerate() {
            index.insert((tid, s.pos), panel.offset[tid] + k);
        }
    }
    let mut first = true;
    for (n, line) in raw.lines().enumerate() {
        let line = line.map_err(|_| Error::format(path, format!("line {}: not text", n + 1)))?;
        if first {
            if !line.starts_with("#kasane fingerprint") {
                return Err(Error::format(
                    path,
                    "not a kasane fingerprint file (SAMPLE.fingerprint.tsv from kasane qc)",
                ));
            }
            first = false;
            continue;
        }
        if let Some(s) = line.strip_prefix("#sample\t") {
            sample = Some(s.to_string());
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        let bad = || {
            Error::format(
                path,
                format!("line {}: expected contig, pos, A, C, G, T", n + 1),
            )
        };
        if f.len() != 6 {
            return Err(bad());
        }
        let pos: u64 = f[1].parse().map_err(|_| bad())?;
        let Some(tid) = header.tid(f[0]) else {
            continue;
        };
        if let Some(&i) = pos.checked_sub(1).and_then(|p| index.get(&(tid, p))) {
            for k in 0..4 {
                counts[i][k] = f[2 + k].parse().map_err(|_| bad())?;
            }
        }
    }
    if first {
        return Err(Error::format(path, "empty file: not a kasane fingerprint"));
    }
    let sample = sample.ok_or_else(|| Error::format(path, "no #sample line"))?;
    Ok((sample, counts))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    #[test]
    fn genotypes_follow_the_allele_balance() {
        assert_eq!(genotype(20, 0), Some(0));
        assert_eq!(genotype(10, 10), Some(1));
        assert_eq!(genotype(0, 20), Some(2));
        assert_eq!(genotype(3, 2), None);
        // 1 alt of 9: neither clearly het nor hom-ref at this depth.
        assert_eq!(genotype(8, 1), None);
        assert_eq!(genotype(9, 3), Some(1));
    }

    fn sim_gt(rng: &mut Rng, p: f64) -> u8 {
        (rng.f64() < p) as u8 + (rng.f64() < p) as u8
    }

    #[test]
    fn kinship_separates_duplicates_parents_and_strangers() {
        let mut rng = Rng(7);
        let n = 4000;
        let ps: Vec<f64> = (0..n).map(|_| 0.05 + 0.9 * rng.f64()).collect();
        let mother: Vec<u8> = ps.iter().map(|&p| sim_gt(&mut rng, p)).collect();
        let father: Vec<u8> = ps.iter().map(|&p| sim_gt(&mut rng, p)).collect();
        let child: Vec<u8> = mother
            .iter()
            .zip(&father)
            .map(|(&m, &f)| {
                let from = |g: u8, rng: &mut Rng| match g {
                    0 => 0,
                    2 => 1,
                    _ => (rng.f64() < 0.5) as u8,
                };
                from(m, &mut rng) + from(f, &mut rng)
            })
            .collect();
        let some = |v: &[u8]| v.iter().map(|&g| Some(g)).collect::<Vec<_>>();
        let (m, f, c) = (some(&mother), some(&father), some(&child));
        assert_eq!(kinship(&m, &m).relationship, "duplicate or identical twin");
        assert_eq!(
            kinship(&m, &c).relationship,
            "first degree: parent and child"
        );
        assert_eq!(
            kinship(&f, &c).relationship,
            "first degree: parent and child"
        );
        assert_eq!(kinship(&m, &f).relationship, "unrelated");
    }

    #[test]
    fn free_mix_recovers_a_planted_contamination() {
        let mut rng = Rng(11);
        for &c in &[0.0, 0.02, 0.05, 0.1] {
            let mut sites = Vec::new();
            for _ in 0..3000 {
                let p = 0.05 + 0.9 * rng.f64();
                let g = sim_gt(&mut rng, p) as f64 / 2.0;
                let h = sim_gt(&mut rng, p) as f64 / 2.0;
                let (mut r, mut a) = (0u32, 0u32);
                for _ in 0..30 {
                    let from = if rng.f64() < c { h } else { g };
                    let mut alt = rng.f64() < from;
                    if rng.f64() < 0.005 {
                        alt = !alt;
                    }
                    if alt {
                        a += 1
                    } else {
                        r += 1
                    }
                }
                sites.push((r, a, p));
            }
            let (est, _) = contamination(&sites).unwrap();
            assert!((est - c).abs() < 0.01, "planted {c}, estimated {est}");
        }
    }

    #[test]
    fn sex_from_ratios() {
        assert_eq!(call_sex(Some(0.5), Some(0.5), None), "male");
        assert_eq!(call_sex(Some(1.0), Some(0.0), None), "female");
        assert_eq!(call_sex(Some(1.0), Some(0.5), None), "unknown");
        assert_eq!(call_sex(None, None, None), "unknown");
    }
}
