//! Clustering signatures across reads into candidate events: first by position (with a
//! tolerance that grows with the event and spans a whole tandem repeat when one is known),
//! then by length, so two alleles at one site (two insertion lengths) stay apart.

use rustc_hash::FxHashSet;

use crate::sv::signatures::{Sig, Source, SvKind};

/// Tandem-repeat intervals of one contig, sorted and merged.
#[derive(Clone, Debug, Default)]
pub struct Repeats {
    iv: Vec<(i64, i64)>,
}

impl Repeats {
    pub fn new(mut iv: Vec<(i64, i64)>) -> Self {
        iv.sort_unstable();
        let mut out: Vec<(i64, i64)> = Vec::with_capacity(iv.len());
        for (s, e) in iv {
            match out.last_mut() {
                Some(l) if s <= l.1 => l.1 = l.1.max(e),
                _ => out.push((s, e)),
            }
        }
        Repeats { iv: out }
    }

    /// The repeat containing `pos` (with a small margin), if any.
    pub fn containing(&self, pos: i64) -> Option<(i64, i64)> {
        const MARGIN: i64 = 10;
        let i = self.iv.partition_point(|&(s, _)| s - MARGIN <= pos);
        let (s, e) = *self.iv.get(i.checked_sub(1)?)?;
        (pos <= e + MARGIN).then_some((s, e))
    }
}

/// A cluster of signatures: one candidate allele.
#[derive(Clone, Debug)]
pub struct Cluster {
    pub kind: SvKind,
    pub pos: i64,
    pub len: i64,
    pub seq: Vec<u8>,
    /// Distinct supporting reads (read hash, sample).
    pub reads: Vec<(u64, u16)>,
    pub stdev_pos: f64,
    pub stdev_len: f64,
    /// Only soft-clip evidence: length is a lower bound, position approximate.
    pub clip_only: bool,
    /// Site group this allele belongs to (alleles of one group are genotyped together).
    pub group: u32,
    /// Number of alleles in the group.
    pub alleles_at_site: u32,
    /// BND: mate contig, mate breakend and the pieces' directions.
    pub mate_tid: u32,
    pub mate_pos: i64,
    pub local_right: bool,
    pub mate_right: bool,
}

fn median_lower(v: &mut [i64]) -> i64 {
    v.sort_unstable();
    v[(v.len() - 1) / 2]
}

fn stdev(v: &[i64]) -> f64 {
    if v.len() < 2 {
        return 0.0;
    }
    let m = v.iter().sum::<i64>() as f64 / v.len() as f64;
    (v.iter().map(|&x| (x as f64 - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64).sqrt()
}

/// Position tolerance for chaining signatures of an event of length `len`: breakpoints of
/// long events from noisy reads scatter more, short ones less.
fn pos_tolerance(kind: SvKind, len: i64) -> i64 {
    match kind {
        SvKind::Bnd => 500,
        _ => (len * 3 / 10).clamp(100, 600),
    }
}

/// Two lengths belong to one allele when within this ratio (plus a few bases of slack).
fn same_length(a: i64, b: i64) -> bool {
    let (lo, hi) = (a.min(b), a.max(b));
    hi as f64 <= lo as f64 * 1.25 + 15.0
}

/// Clusters the signatures of one kind on one contig. `group_base` numbers site groups.
pub fn cluster_kind(
    mut sigs: Vec<Sig>,
    repeats: &Repeats,
    min_reads: usize,
    group_base: &mut u32,
) -> Vec<Cluster> {
    if sigs.is_empty() {
        return Vec::new();
    }
    let kind = sigs[0].kind;
    // Inside a tandem repeat the aligner may place the event anywhere in it: cluster on the
    // repeat's start instead of the read's position.
    let key = |s: &Sig| repeats.containing(s.pos).map_or(s.pos, |(a, _)| a);
    let mut keyed: Vec<(i64, Sig)> = sigs.drain(..).map(|s| (key(&s), s)).collect();
    keyed.sort_by(|a, b| {
        (a.0, a.1.pos, a.1.len, a.1.read, a.1.mate_tid, a.1.mate_pos).cmp(&(
            b.0,
            b.1.pos,
            b.1.len,
            b.1.read,
            b.1.mate_tid,
            b.1.mate_pos,
        ))
    });
    let mut out = Vec::new();
    let mut start = 0;
    while start < keyed.len() {
        let mut end = start + 1;
        let mut last = keyed[start].0;
        while end < keyed.len() {
            let (k, s) = &keyed[end];
            if k - last > pos_tolerance(kind, s.len.max(keyed[end - 1].1.len)) {
                break;
            }
            last = *k;
            end += 1;
        }
        let group: Vec<&Sig> = keyed[start..end].iter().map(|(_, s)| s).collect();
        split_group(&group, kind, min_reads, group_base, &mut out);
        start = end;
    }
    out
}

/// Splits one position group by length (or, for BND, by mate position) into alleles.
fn split_group(
    group: &[&Sig],
    kind: SvKind,
    min_reads: usize,
    group_base: &mut u32,
    out: &mut Vec<Cluster>,
) {
    let mut g: Vec<&Sig> = group.to_vec();
    // Clips only bound an insertion's length from below: they are not split by length.
    let all_clips = g.iter().all(|s| s.source == Source::Clip);
    let metric = |s: &Sig| match kind {
        SvKind::Bnd => s.mate_pos,
        _ if all_clips => 0,
        _ => s.len,
    };
    g.sort_by_key(|s| (metric(s), s.pos, s.read));
    let mut subs: Vec<Vec<&Sig>> = Vec::new();
    for s in g {
        let join = match subs.last().and_then(|v| v.last()) {
            Some(p) if kind == SvKind::Bnd => metric(s) - metric(p) <= 500,
            Some(p) => same_length(metric(p), metric(s)),
            None => false,
        };
        if join {
            if let Some(v) = subs.last_mut() {
                v.push(s);
            }
        } else {
            subs.push(vec![s]);
        }
    }
    let gid = *group_base;
    *group_base += 1;
    let first = out.len();
    for sub in subs {
        if let Some(c) = make_cluster(&sub, kind, gid) {
            if c.reads.len() >= min_reads {
                out.push(c);
            }
        }
    }
    let n = (out.len() - first) as u32;
    for c in &mut out[first..] {
        c.alleles_at_site = n;
    }
}

fn make_cluster(sub: &[&Sig], kind: SvKind, group: u32) -> Option<Cluster> {
    // One signature per read: the one closest to the sub-cluster's median length.
    let mut lens: Vec<i64> = sub.iter().map(|s| s.len).collect();
    let med_len = median_lower(&mut lens);
    let mut best: Vec<&Sig> = Vec::new();
    let mut seen = FxHashSet::default();
    let mut by_fit: Vec<&Sig> = sub.to_vec();
    by_fit.sort_by_key(|s| ((s.len - med_len).abs(), s.pos, s.read, s.source));
    for s in by_fit {
        if seen.insert((s.read, s.sample)) {
            best.push(s);
        }
    }
    let mut pos: Vec<i64> = best.iter().map(|s| s.pos).collect();
    let mut len: Vec<i64> = best.iter().map(|s| s.len).collect();
    let stdev_pos = stdev(&pos);
    let stdev_len = stdev(&len);
    // Where reads disagree on the position (repeats, duplicated insertions) the aligner
    // tends to place the event at or right of its left-normalised position: the lower
    // quartile stays closer to it than the median.
    // Where they scatter widely (a duplicated insertion laid anywhere along its copy) the
    // leftmost read is the best estimate.
    pos.sort_unstable();
    let mpos = if stdev_pos > 50.0 {
        pos[0]
    } else {
        pos[(pos.len() - 1) / 4]
    };
    let mlen = median_lower(&mut len);
    let clip_only = best.iter().all(|s| s.source == Source::Clip);
    // Tandem duplications show as insertions in some reads and as overlapping split pieces
    // in others; they are clustered together and reported as an insertion when a read
    // carries the sequence, else as a duplication.
    let kind = if kind == SvKind::Ins || kind == SvKind::Dup {
        let has_seq = best
            .iter()
            .any(|s| s.kind == SvKind::Ins && !s.seq.is_empty() && s.source != Source::Clip);
        let n_dup = best.iter().filter(|s| s.kind == SvKind::Dup).count();
        if has_seq || n_dup == 0 {
            SvKind::Ins
        } else {
            SvKind::Dup
        }
    } else {
        kind
    };
    let (mut seq, mut out_len) = (Vec::new(), mlen);
    if kind == SvKind::Ins {
        if clip_only {
            // A clip shows part of the insertion: the longest one bounds its length.
            let rep = best
                .iter()
                .max_by_key(|s| (s.seq.len(), s.len, std::cmp::Reverse(s.read)))?;
            seq = rep.seq.clone();
            out_len = best.iter().map(|s| s.len).max().unwrap_or(mlen);
        } else {
            let rep = best
                .iter()
                .filter(|s| s.kind == SvKind::Ins && !s.seq.is_empty() && s.source != Source::Clip)
                .min_by_key(|s| ((s.len - mlen).abs(), (s.pos - mpos).abs(), s.read));
            if let Some(rep) = rep {
                seq = rep.seq.clone();
                out_len = seq.len() as i64;
            }
        }
    }
    let mut mate: Vec<i64> = best.iter().map(|s| s.mate_pos).collect();
    let mate_pos = median_lower(&mut mate);
    let mut reads: Vec<(u64, u16)> = best.iter().map(|s| (s.read, s.sample)).collect();
    reads.sort_unstable();
    Some(Cluster {
        kind,
        pos: mpos,
        len: out_len,
        seq,
        reads,
        stdev_pos,
        stdev_len,
        clip_only,
        group,
        alleles_at_site: 1,
        mate_tid: best[0].mate_tid,
        mate_pos,
        local_right: best[0].local_right,
        mate_right: best[0].mate_right,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sig(pos: i64, len: i64, read: u64) -> Sig {
        Sig {
            kind: SvKind::Ins,
            pos,
            len,
            read,
            sample: 0,
            source: Source::Cigar,
            seq: vec![b'A'; len as usize],
            mate_tid: 0,
            mate_pos: 0,
            local_right: false,
            mate_right: false,
        }
    }

    #[test]
    fn two_lengths_at_one_site_are_two_alleles() {
        let mut v = Vec::new();
        for r in 0..5 {
            v.push(sig(1000 + r as i64, 300 + r as i64, r));
            v.push(sig(1002 + r as i64, 800 - r as i64, 100 + r));
        }
        let mut g = 0;
        let c = cluster_kind(v, &Repeats::default(), 2, &mut g);
        assert_eq!(c.len(), 2);
        assert!(c
            .iter()
            .all(|c| c.alleles_at_site == 2 && c.reads.len() == 5));
        assert_eq!(c[0].len, 302);
        assert_eq!(c[1].len, 798);
    }

    #[test]
    fn repeats_pull_scattered_positions_together() {
        let v: Vec<Sig> = (0..4).map(|r| sig(5000 + 400 * r as i64, 60, r)).collect();
        let mut g = 0;
        assert_eq!(
            cluster_kind(v.clone(), &Repeats::default(), 2, &mut g).len(),
            0
        );
        let rep = Repeats::new(vec![(4990, 6500)]);
        let c = cluster_kind(v, &rep, 2, &mut g);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].reads.len(), 4);
    }
}
