//! Small-variant matching on one contig, in two passes.
//!
//! 1. Atoms equal after normalization (same position, reference span and ALT bases) match one
//!    to one: what `score_small.py` counts after `bcftools norm -a -m -both`.
//! 2. What is left is grouped into clusters of nearby atoms. In each cluster with atoms of both
//!    sides, every subset of each side is applied to the reference (with the atoms already
//!    matched inside the span applied on both); a truth subset and a query subset that spell the
//!    same sequence match, and the largest such pair wins (vcfeval's idea, with haploid
//!    haplotypes: allele level). So an MNP matches its SNVs, an indel placed elsewhere in a
//!    repeat matches, and a complex allele matches its parts, whatever the representation.
//!
//! Genotype level: an exact match needs the same genotype class (het or hom-alt); a haplotype
//! match needs every matched atom of the cluster, on both sides, in one class.

use rustc_hash::FxHashMap;

#[cfg(test)]
use super::variants::Atom;
use super::variants::ContigVars;

/// Atoms closer than this (bp) are solved together.
pub const CLUSTER_SLOP: u64 = 10;
/// Largest number of unmatched atoms per side in a cluster that is solved (2^n subsets).
pub const MAX_CLUSTER_SIDE: usize = 12;

/// How an atom was matched.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum How {
    #[default]
    None,
    Exact,
    Haplotype,
}

/// One atom's result.
#[derive(Clone, Copy, Debug, Default)]
pub struct State {
    pub how: How,
    /// Matched at genotype level too.
    pub gt: bool,
    /// Unmatched, but in a cluster with atoms of the other side (hap.py's allele mismatch,
    /// `FP.al` for query atoms).
    pub near: bool,
    /// A truth atom's score: that of the query atoms it matched (the lowest), NaN unmatched.
    pub score: f32,
}

impl State {
    pub fn tp(&self) -> bool {
        self.how != How::None
    }
}

/// Clusters that were too large to solve (left unmatched).
#[derive(Clone, Copy, Debug, Default)]
pub struct SmallStats {
    pub clusters_solved: u64,
    pub clusters_too_large: u64,
}

/// Matches one contig's atoms. `seq` is the contig's reference sequence.
pub fn match_contig(
    truth: &ContigVars,
    query: &ContigVars,
    seq: &[u8],
) -> (Vec<State>, Vec<State>, SmallStats) {
    let (ta, qa) = (&truth.atoms, &query.atoms);
    let mut ts = vec![State::default(); ta.len()];
    let mut qs = vec![State::default(); qa.len()];
    for s in ts.iter_mut() {
        s.score = f32::NAN;
    }
    // Pass 1: equal atoms, by a merge walk over both sorted lists.
    let (mut i, mut j) = (0, 0);
    while i < ta.len() && j < qa.len() {
        let (t, q) = (&ta[i], &qa[j]);
        match truth.key(t).cmp(&query.key(q)) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                let gt = t.zyg.same_gt(q.zyg);
                ts[i] = State {
                    how: How::Exact,
                    gt,
                    near: false,
                    score: q.score,
                };
                qs[j] = State {
                    how: How::Exact,
                    gt,
                    near: false,
                    score: q.score,
                };
                i += 1;
                j += 1;
            }
        }
    }
    // Pass 2: clusters of what is left (needs the reference's sequence).
    let mut stats = SmallStats::default();
    if seq.is_empty() {
        return (ts, qs, stats);
    }
    let mut left: Vec<(u64, u64, bool, usize)> = ta
        .iter()
        .enumerate()
        .filter(|(i, _)| !ts[*i].tp())
        .map(|(i, a)| (a.pos, a.end(), true, i))
        .chain(
            qa.iter()
                .enumerate()
                .filter(|(j, _)| !qs[*j].tp())
                .map(|(j, a)| (a.pos, a.end(), false, j)),
        )
        .collect();
    left.sort_unstable_by_key(|&(p, e, t, i)| (p, e, !t, i));
    let mut k = 0;
    while k < left.len() {
        let mut end = left[k].1;
        let mut m = k + 1;
        while m < left.len() && left[m].0 <= end + CLUSTER_SLOP {
            end = end.max(left[m].1);
            m += 1;
        }
        let cluster = &left[k..m];
        k = m;
        let tidx: Vec<usize> = cluster.iter().filter(|c| c.2).map(|c| c.3).collect();
        let qidx: Vec<usize> = cluster.iter().filter(|c| !c.2).map(|c| c.3).collect();
        if tidx.is_empty() || qidx.is_empty() {
            continue;
        }
        for &t in &tidx {
            ts[t].near = true;
        }
        for &q in &qidx {
            qs[q].near = true;
        }
        if tidx.len() > MAX_CLUSTER_SIDE || qidx.len() > MAX_CLUSTER_SIDE {
            stats.clusters_too_large += 1;
            continue;
        }
        stats.clusters_solved += 1;
        solve(truth, query, seq, &tidx, &qidx, &mut ts, &mut qs);
    }
    (ts, qs, stats)
}

/// An edit for sequence building: position, reference span, ALT bases.
type Edit<'a> = (u64, u32, &'a [u8]);

/// Whether `b` can follow `a` on one haplotype (both sorted by position).
fn compatible(a: &Edit<'_>, b: &Edit<'_>) -> bool {
    if b.0 < a.0 + a.1 as u64 {
        return false;
    }
    // Two insertions at one place, or an insertion right where a deletion/SNV ends... the
    // latter is fine; only two insertions at the same point are ambiguous.
    !(b.0 == a.0 && a.1 == 0 && b.1 == 0)
}

/// The sequence of `seq[s..e]` with `edits` (sorted, compatible) applied.
fn spell(seq: &[u8], s: u64, e: u64, edits: &[Edit<'_>], out: &mut Vec<u8>) {
    out.clear();
    let mut p = s;
    for &(pos, rl, alt) in edits {
        out.extend_from_slice(&seq[p as usize..pos as usize]);
        out.extend_from_slice(alt);
        p = pos + rl as u64;
    }
    out.extend_from_slice(&seq[p as usize..e as usize]);
}

/// Every subset of `cands` (with `fixed` always in) that fits on one haplotype, by the
/// sequence it spells: the largest subset (first found) for each sequence.
fn subsets(
    seq: &[u8],
    s: u64,
    e: u64,
    fixed: &[Edit<'_>],
    cands: &[Edit<'_>],
) -> FxHashMap<Vec<u8>, u32> {
    let mut out: FxHashMap<Vec<u8>, u32> = FxHashMap::default();
    let mut edits: Vec<Edit<'_>> = Vec::with_capacity(fixed.len() + cands.len());
    let mut buf = Vec::new();
    'mask: for mask in 1u32..(1u32 << cands.len()) {
        edits.clear();
        edits.extend_from_slice(fixed);
        for (i, c) in cands.iter().enumerate() {
            if mask >> i & 1 == 1 {
                edits.push(*c);
            }
        }
        edits.sort_by_key(|x| (x.0, x.1));
        for w in edits.windows(2) {
            if !compatible(&w[0], &w[1]) {
                continue 'mask;
            }
        }
        spell(seq, s, e, &edits, &mut buf);
        let n = mask.count_ones();
        match out.get_mut(buf.as_slice()) {
            Some(best) => {
                if n > *best >> 16 {
                    *best = n << 16 | mask;
                }
            }
            None => {
                out.insert(buf.clone(), n << 16 | mask);
            }
        }
    }
    out
}

fn solve(
    truth: &ContigVars,
    query: &ContigVars,
    seq: &[u8],
    tidx: &[usize],
    qidx: &[usize],
    ts: &mut [State],
    qs: &mut [State],
) {
    let (ta, qa) = (&truth.atoms, &query.atoms);
    let s = tidx
        .iter()
        .map(|&i| ta[i].pos)
        .chain(qidx.iter().map(|&j| qa[j].pos))
        .min()
        .unwrap_or(0);
    let e = tidx
        .iter()
        .map(|&i| ta[i].pos + ta[i].ref_len as u64)
        .chain(qidx.iter().map(|&j| qa[j].pos + qa[j].ref_len as u64))
        .max()
        .unwrap_or(s)
        .min(seq.len() as u64);
    // Matched truth atoms inside the span are on both sides.
    let lo = ta.partition_point(|a| a.pos < s);
    let fixed: Vec<Edit<'_>> = ta[lo..]
        .iter()
        .enumerate()
        .take_while(|(_, a)| a.pos < e)
        .filter(|(k, a)| ts[lo + k].tp() && a.pos + a.ref_len as u64 <= e)
        .map(|(_, a)| (a.pos, a.ref_len, truth.alt(a)))
        .collect();
    let tc: Vec<Edit<'_>> = tidx
        .iter()
        .map(|&i| (ta[i].pos, ta[i].ref_len, truth.alt(&ta[i])))
        .collect();
    let qc: Vec<Edit<'_>> = qidx
        .iter()
        .map(|&j| (qa[j].pos, qa[j].ref_len, query.alt(&qa[j])))
        .collect();
    let tmap = subsets(seq, s, e, &fixed, &tc);
    let qmap = subsets(seq, s, e, &fixed, &qc);
    // The pair with the most atoms; ties: the one whose truth subset comes first.
    let mut best: Option<(u32, u32, u32)> = None;
    for (sq, &t) in &tmap {
        if let Some(&q) = qmap.get(sq) {
            let n = (t >> 16) + (q >> 16);
            let better = match best {
                None => true,
                Some((bn, bt, bq)) => {
                    n > bn || n == bn && (t & 0xffff, q & 0xffff) < (bt & 0xffff, bq & 0xffff)
                }
            };
            if better {
                best = Some((n, t, q));
            }
        }
    }
    let Some((_, tm, qm)) = best else {
        return;
    };
    let (tm, qm) = (tm & 0xffff, qm & 0xffff);
    let chosen_t: Vec<usize> = (0..tidx.len())
        .filter(|i| tm >> i & 1 == 1)
        .map(|i| tidx[i])
        .collect();
    let chosen_q: Vec<usize> = (0..qidx.len())
        .filter(|i| qm >> i & 1 == 1)
        .map(|i| qidx[i])
        .collect();
    let first = chosen_t
        .first()
        .map(|&i| ta[i].zyg)
        .or_else(|| chosen_q.first().map(|&j| qa[j].zyg));
    let gt = first.is_some_and(|z| {
        chosen_t.iter().all(|&i| ta[i].zyg.same_gt(z))
            && chosen_q.iter().all(|&j| qa[j].zyg.same_gt(z))
    });
    let score = chosen_q
        .iter()
        .map(|&j| qa[j].score)
        .fold(f32::NAN, |m, x| if m.is_nan() || x < m { x } else { m });
    for &i in &chosen_t {
        ts[i] = State {
            how: How::Haplotype,
            gt,
            near: true,
            score,
        };
    }
    for &j in &chosen_q {
        qs[j] = State {
            how: How::Haplotype,
            gt,
            near: true,
            score: qa[j].score,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::variants::{atomize, Zyg};

    fn side(seq: &[u8], recs: &[(u64, &str, &str, Zyg)]) -> ContigVars {
        let mut c = ContigVars::default();
        for (n, &(pos, r, a, zyg)) in recs.iter().enumerate() {
            for (p, rl, alt) in atomize(seq, pos, r.as_bytes(), a.as_bytes()) {
                let off = c.arena.len() as u32;
                c.arena.extend_from_slice(&alt);
                c.atoms.push(Atom {
                    pos: p,
                    ref_len: rl,
                    alt_off: off,
                    alt_len: alt.len() as u32,
                    rec: n as u32,
                    zyg,
                    score: 10.0 + n as f32,
                    vaf: f32::NAN,
                });
            }
        }
        c.sort_atoms();
        c
    }

    const SEQ: &[u8] = b"ACGTACGTTTGCAGCAGCAGCATTGACCATGACGATCGATCGGGCTAGCTAGTCAGTCAGACT";

    fn counts(s: &[State]) -> (usize, usize) {
        (
            s.iter().filter(|x| x.tp()).count(),
            s.iter().filter(|x| x.gt).count(),
        )
    }

    #[test]
    fn equal_atoms_match_exactly() {
        let t = side(
            SEQ,
            &[(1, "C", "T", Zyg::Het), (30, "T", "TA", Zyg::HomAlt)],
        );
        let q = side(
            SEQ,
            &[
                (1, "C", "T", Zyg::HomAlt),
                (30, "T", "TA", Zyg::HomAlt),
                (50, "A", "G", Zyg::Het),
            ],
        );
        let (ts, qs, _) = match_contig(&t, &q, SEQ);
        assert_eq!(counts(&ts), (2, 1));
        assert_eq!(counts(&qs), (2, 1));
        assert!(!qs[2].tp());
    }

    #[test]
    fn a_complex_allele_matches_its_parts() {
        // Truth: an SNV at 40 and a 2-bp deletion at 44; query: one complex record spanning
        // both, written so that atomization gives other atoms (a deletion placed first).
        let t = side(SEQ, &[(40, "A", "G", Zyg::Het), (43, "GGC", "G", Zyg::Het)]);
        let truth_hap = {
            let mut s = SEQ[38..48].to_vec();
            s[2] = b'G';
            s.drain(6..8);
            s
        };
        // Query REF covers 38..48, ALT is the truth's haplotype: a single record.
        let q_ref = std::str::from_utf8(&SEQ[38..48]).unwrap();
        let q_alt = String::from_utf8(truth_hap).unwrap();
        let q = side(SEQ, &[(38, q_ref, &q_alt, Zyg::Het)]);
        let (ts, qs, st) = match_contig(&t, &q, SEQ);
        assert_eq!(counts(&ts).0, 2, "{ts:?} {qs:?} {st:?}");
        assert!(qs.iter().all(|s| s.tp()));
        assert!(ts.iter().all(|s| s.gt));
    }

    #[test]
    fn wrong_alleles_do_not_match() {
        let t = side(SEQ, &[(40, "A", "G", Zyg::Het)]);
        let q = side(SEQ, &[(40, "A", "C", Zyg::Het), (42, "C", "CA", Zyg::Het)]);
        let (ts, qs, _) = match_contig(&t, &q, SEQ);
        assert_eq!(counts(&ts).0, 0);
        assert_eq!(counts(&qs).0, 0);
        assert!(qs.iter().all(|s| s.near) && ts[0].near);
    }
}
