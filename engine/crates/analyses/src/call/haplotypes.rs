//! Local haplotypes: candidates close together form a cluster; its window of reference (wide
//! enough to hold every equivalent placement of its indels, plus flanks) is rewritten with
//! combinations of the candidate alleles. The combinations are the reference, each allele
//! alone, and the combinations that reads spanning the window actually show.

use rustc_hash::FxHashMap;

use crate::call::candidates::{read_events, repeat_extent, Allele, RefWindow};
use crate::call::reads::Read;

/// Candidates closer than this (after their repeat extents) share a window.
pub const JOIN: i64 = 10;
/// Reference bases on each side of a cluster's window.
pub const FLANK: i64 = 10;
/// Most haplotypes per window.
pub const MAX_HAPS: usize = 24;
/// Alleles carried by at least this share of the reads spanning a window (in percent) are
/// strong: their combinations are looked for in the reads with the weaker alleles left out.
pub const STRONG_PERCENT: usize = 25;
/// Most combinations of strong alleles per window.
pub const MAX_STRONG_SETS: usize = 8;

pub struct Cluster {
    /// Sorted candidates.
    pub alleles: Vec<Allele>,
    /// Which of them are seeds ([`crate::call::candidates::Candidates`]).
    pub seeds: Vec<bool>,
    /// Window `[start, end)` on the contig.
    pub start: i64,
    pub end: i64,
}

/// Groups sorted candidates into clusters.
pub fn clusters(cands: &[Allele], seeds: &[bool], r: &RefWindow) -> Vec<Cluster> {
    let mut out: Vec<Cluster> = Vec::new();
    let mut cur_end = i64::MIN;
    for (a, &seed) in cands.iter().zip(seeds) {
        let (s, e) = repeat_extent(r, a);
        match out.last_mut() {
            Some(c) if s.min(a.pos) <= cur_end + JOIN => {
                c.alleles.push(a.clone());
                c.seeds.push(seed);
                cur_end = cur_end.max(e);
                c.start = c.start.min((s - FLANK).max(r.start));
                c.end = c.end.max((e + FLANK).min(r.end()));
            }
            _ => {
                out.push(Cluster {
                    alleles: vec![a.clone()],
                    seeds: vec![seed],
                    start: (s - FLANK).max(r.start),
                    end: (e + FLANK).min(r.end()),
                });
                cur_end = e;
            }
        }
    }
    out
}

/// A chunk's reads (in their canonical order: sample by sample, each in file order) with an
/// index by position, so a window finds its reads without scanning them all.
pub struct ReadIndex<'a> {
    pub reads: Vec<&'a Read>,
    /// Read indexes sorted by position (ties in canonical order).
    by_pos: Vec<usize>,
    /// The longest reference span of any read.
    max_span: i64,
}

impl<'a> ReadIndex<'a> {
    pub fn new(reads: Vec<&'a Read>) -> Self {
        let mut by_pos: Vec<usize> = (0..reads.len()).collect();
        by_pos.sort_by_key(|&i| (reads[i].pos, i));
        let max_span = reads.iter().map(|r| r.end - r.pos).max().unwrap_or(0);
        ReadIndex {
            reads,
            by_pos,
            max_span,
        }
    }

    /// Indexes of the reads overlapping `[lo, hi)`, in canonical order.
    pub fn overlapping(&self, lo: i64, hi: i64) -> Vec<usize> {
        let from = self
            .by_pos
            .partition_point(|&i| self.reads[i].pos < lo - self.max_span);
        let mut v: Vec<usize> = self.by_pos[from..]
            .iter()
            .take_while(|&&i| self.reads[i].pos < hi)
            .copied()
            .filter(|&i| self.reads[i].end > lo)
            .collect();
        v.sort_unstable();
        v
    }
}

/// One haplotype: which of the cluster's alleles it carries, and its bases.
pub struct Haplotype {
    pub alleles: Vec<usize>,
    pub seq: Vec<u8>,
}

/// A read's part inside a cluster's window.
pub struct Segment<'a> {
    /// Index of the read in the chunk's read list.
    pub read: usize,
    pub seq: &'a [u8],
    pub qual: &'a [u8],
    pub errors: crate::call::reads::ReadErrors,
}

/// The read's bases aligned to reference positions in `[lo, hi)` (insertions between two
/// such positions included), with their qualities: one stretch of the read, since every
/// query base between two of them is one too.
pub fn segment(read: &Read, lo: i64, hi: i64) -> (&[u8], &[u8]) {
    let (first, mut rpos, mut qi) = read.walk_from(lo);
    let (mut from, mut to) = (None, 0);
    for c in &read.cigar[first..] {
        // Past `hi`, no operation adds a base.
        if rpos > hi {
            break;
        }
        let len = c.len as usize;
        match c.op {
            b'M' | b'=' | b'X' => {
                let a = (lo - rpos).clamp(0, len as i64) as usize;
                let b = (hi - rpos).clamp(0, len as i64) as usize;
                if a < b {
                    from.get_or_insert(qi + a);
                    to = qi + b;
                }
                rpos += len as i64;
                qi += len;
            }
            b'I' => {
                if rpos > lo && rpos < hi {
                    from.get_or_insert(qi);
                    to = qi + len;
                }
                qi += len;
            }
            b'D' | b'N' => rpos += len as i64,
            b'S' => qi += len,
            _ => {}
        }
    }
    let range = from.map_or(0..0, |f| f..to);
    match (read.seq.get(range.clone()), read.qual.get(range)) {
        (Some(s), Some(q)) => (s, q),
        _ => (&[], &[]),
    }
}

/// Applies `alleles` (indexes into `cl.alleles`, sorted) to the window; `None` when two
/// overlap.
fn build(cl: &Cluster, r: &RefWindow, alleles: &[usize]) -> Option<Vec<u8>> {
    let mut seq = Vec::with_capacity((cl.end - cl.start) as usize + 16);
    let mut at = cl.start;
    for &i in alleles {
        let a = &cl.alleles[i];
        if a.pos < at || a.pos < cl.start || a.end() > cl.end {
            return None;
        }
        seq.extend_from_slice(r.slice(at, a.pos));
        seq.extend_from_slice(&a.alt);
        at = a.end();
    }
    seq.extend_from_slice(r.slice(at, cl.end));
    Some(seq)
}

/// Combinations of a window's strong alleles (carried by [`STRONG_PERCENT`] of the spanning
/// reads) that at least two reads show once their other alleles are left out, most supported
/// first. Noisy reads each carry their own errors besides the real alleles, so two of them
/// rarely show the same whole set, and a window of ONT reads with a hom SNV and a het one
/// ten bases apart got no haplotype carrying both: the het's reads were best explained by
/// the hom's haplotype, and the het was missed.
fn strong_sets(n_alleles: usize, spanning: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let mut support = vec![0usize; n_alleles];
    for c in spanning {
        for &i in c {
            support[i] += 1;
        }
    }
    let need = (spanning.len() * STRONG_PERCENT).div_ceil(100).max(2);
    let strong: Vec<bool> = support.iter().map(|&n| n >= need).collect();
    if strong.iter().filter(|&&s| s).count() < 2 {
        return Vec::new();
    }
    let mut counts: FxHashMap<Vec<usize>, u32> = FxHashMap::default();
    for c in spanning {
        let p: Vec<usize> = c.iter().copied().filter(|&i| strong[i]).collect();
        if p.len() > 1 {
            *counts.entry(p).or_insert(0) += 1;
        }
    }
    let mut v: Vec<(Vec<usize>, u32)> = counts.into_iter().filter(|p| p.1 >= 2).collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v.into_iter().take(MAX_STRONG_SETS).map(|p| p.0).collect()
}

/// The haplotypes of a cluster and the segments of the reads overlapping its window.
pub fn haplotypes<'a>(
    cl: &Cluster,
    r: &RefWindow,
    reads: &ReadIndex<'a>,
) -> (Vec<Haplotype>, Vec<Segment<'a>>) {
    let index: FxHashMap<&Allele, usize> =
        cl.alleles.iter().enumerate().map(|(i, a)| (a, i)).collect();
    let first = cl.alleles.first().map_or(cl.start, |a| a.pos);
    let last = cl.alleles.iter().map(|a| a.end()).max().unwrap_or(cl.end);
    let mut patterns: FxHashMap<Vec<usize>, u32> = FxHashMap::default();
    // What each spanning read carries, for the strong combinations below.
    let mut spanning: Vec<Vec<usize>> = Vec::new();
    let mut segs = Vec::new();
    for ri in reads.overlapping(cl.start, cl.end) {
        let read = reads.reads[ri];
        let (seq, qual) = segment(read, cl.start, cl.end);
        if seq.is_empty() {
            continue;
        }
        if read.pos <= first && read.end >= last {
            let mut carried = Vec::new();
            read_events(
                read,
                r,
                cl.start,
                cl.end,
                |a, _| {
                    if let Some(&i) = index.get(&a) {
                        carried.push(i);
                    }
                },
                |_| {},
            );
            carried.sort_unstable();
            carried.dedup();
            if carried.len() > 1 {
                *patterns.entry(carried.clone()).or_insert(0) += 1;
            }
            spanning.push(carried);
        }
        segs.push(Segment {
            errors: read.errors,
            read: ri,
            seq,
            qual,
        });
    }
    let mut sets: Vec<Vec<usize>> = vec![Vec::new()];
    sets.extend((0..cl.alleles.len()).map(|i| vec![i]));
    sets.extend(strong_sets(cl.alleles.len(), &spanning));
    let mut pats: Vec<(Vec<usize>, u32)> = patterns.into_iter().filter(|p| p.1 >= 2).collect();
    // Most supported first; ties in a fixed order.
    pats.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    for (p, _) in pats {
        if sets.len() >= MAX_HAPS {
            break;
        }
        if !sets.contains(&p) {
            sets.push(p);
        }
    }
    let haps = sets
        .into_iter()
        .filter_map(|s| build(cl, r, &s).map(|seq| Haplotype { alleles: s, seq }))
        .collect();
    (haps, segs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strong_alleles_combine_without_the_noise() {
        // Ten reads span the window: alleles 0 and 3 are real (0 on every read, 3 on
        // half), 1, 2 and 4 errors of one or two reads each, so no two reads show the same
        // whole set, but five show {0, 3} once the errors are left out.
        let spanning: Vec<Vec<usize>> = vec![
            vec![0, 1, 3],
            vec![0, 2, 3],
            vec![0, 3, 4],
            vec![0, 3],
            vec![0, 1, 3],
            vec![0, 2],
            vec![0, 4],
            vec![0],
            vec![0],
            vec![0],
        ];
        assert_eq!(strong_sets(5, &spanning), vec![vec![0, 3]]);
        // One strong allele: nothing to combine.
        assert!(strong_sets(5, &spanning[5..]).is_empty());
        // A combination seen on one read only is not made.
        let once = vec![vec![0, 3], vec![0], vec![3], vec![0], vec![3]];
        assert!(strong_sets(4, &once).is_empty());
    }
}
