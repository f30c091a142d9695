//! Read-backed phasing for genotyping: at a site, a sample's reads are linked through the
//! heterozygous sites around it that they also cover, and split into the two haplotypes.
//!
//! Without phasing, a heterozygous site where one haplotype happens to have two reads and
//! the other ten looks like two sequencing errors; with the reads split, those two are all
//! of their haplotype and agree with each other, which errors rarely do. Long reads cover
//! tens of heterozygous sites each, so this recovers most such sites; paired short reads
//! (mates share a name, so a [`Read::key`](crate::call::reads::Read::key)) sometimes do.
//!
//! The neighbours are the sites within [`PHASE_SPAN`] whose first, unphased call for the
//! sample is heterozygous with GQ at least [`MIN_NEIGHBOUR_GQ`]. Each read (molecule) has a
//! log10 likelihood ratio for a neighbour's first allele over its second. The neighbours'
//! relative phases are chosen greedily, most-connected first, then revised once; a read's
//! score is the sum of its signed ratios, and the chance that it lies on the first
//! haplotype is that score as odds, capped at [`MAX_LOG_ODDS`] (phasing can be wrong:
//! chimeric reads, a neighbour that is not really heterozygous). Reads linked to each other
//! form a component; reads in different components are not assumed to share a haplotype.
//! Everything is host arithmetic in a fixed order: calls stay independent of backend and
//! thread count.

use crate::call::genotype::ReadPhase;

/// Neighbours are looked for this far on either side of a site (bases); at most
/// [`crate::call::CHUNK`], so that a chunk's neighbours lie in the chunks next to it.
pub const PHASE_SPAN: i64 = 10_000;
/// A neighbour's unphased call must be heterozygous with at least this GQ.
pub const MIN_NEIGHBOUR_GQ: u32 = 20;
/// At most this many neighbours (the nearest) phase a site's reads.
pub const MAX_NEIGHBOURS: usize = 12;
/// A read's phase is at most this sure (log10 odds): 100 to 1.
pub const MAX_LOG_ODDS: f64 = 2.0;
/// A read's evidence at one neighbour is capped at this (log10), and ignored below
/// [`MIN_LOG_RATIO`].
const MAX_LOG_RATIO: f64 = 3.0;
const MIN_LOG_RATIO: f64 = 0.5;

/// A heterozygous neighbour's two allele depths are balanced enough to phase by: both
/// alleles seen, and the minor one a third of the reads or more, or the two-sided binomial
/// p-value of the split at least [`MIN_BALANCE_P`]. A lopsided split
/// is more often reads misplaced from a paralogous copy than a real heterozygote, and
/// phasing by it would make those reads look like a haplotype of their own.
pub fn balanced(a: u32, b: u32) -> bool {
    let (n, k) = (a + b, a.min(b));
    if k == 0 {
        return false;
    }
    // At high depth the test rejects small biases a real het has (capture, mapping): a
    // minor allele of a third or more is balanced whatever the p-value.
    if 3 * k >= n {
        return true;
    }
    // ln C(n, i) built up term by term; the lower tail summed in f64.
    let ln_half_n = n as f64 * std::f64::consts::LN_2;
    let mut ln_c = 0f64;
    let mut tail = 0f64;
    for i in 0..=k {
        if i > 0 {
            ln_c += ((n - i + 1) as f64).ln() - (i as f64).ln();
        }
        tail += (ln_c - ln_half_n).exp();
    }
    2.0 * tail >= MIN_BALANCE_P
}

/// See [`balanced`].
pub const MIN_BALANCE_P: f64 = 0.05;

/// Phases the reads of one sample at a site. `keys`: the site's reads' molecules;
/// `neighbours`: for each heterozygous neighbour (nearest first), `(key, log10 ratio)` of
/// the reads covering it. Returns one entry per read, or `None` when no read is linked.
pub fn phase_reads(keys: &[u64], neighbours: &[&[(u64, f64)]]) -> Option<Vec<ReadPhase>> {
    if neighbours.is_empty() {
        return None;
    }
    // Molecules: distinct keys, numbered in key order (any fixed order would do).
    let mut by_key: Vec<u64> = keys.to_vec();
    by_key.sort_unstable();
    by_key.dedup();
    let unit = |k: u64| by_key.binary_search(&k).ok();
    let read_unit: Vec<usize> = keys.iter().map(|&k| unit(k).unwrap_or(0)).collect();
    let m = by_key.len();
    // Each neighbour's informative evidence per molecule.
    let mut cols: Vec<Vec<(usize, f64)>> = Vec::new();
    for nb in neighbours {
        let mut col: Vec<(usize, f64)> = nb
            .iter()
            .filter_map(|&(k, l)| unit(k).map(|u| (u, l)))
            .collect();
        // Mates that both cover the neighbour: one molecule, evidence added.
        col.sort_unstable_by_key(|e| e.0);
        col.dedup_by(|b, a| {
            let same = a.0 == b.0;
            if same {
                a.1 += b.1;
            }
            same
        });
        col.retain(|e| e.1.abs() >= MIN_LOG_RATIO);
        for e in &mut col {
            e.1 = e.1.clamp(-MAX_LOG_RATIO, MAX_LOG_RATIO);
        }
        // One molecule alone says nothing about how molecules are split.
        if col.len() >= 2 {
            cols.push(col);
        }
    }
    if cols.is_empty() {
        return None;
    }
    // Greedy: the neighbour most connected to the molecules placed so far takes the phase
    // that agrees with them best; one with no connection starts afresh.
    let capped = |z: f64| z.clamp(-MAX_LOG_ODDS, MAX_LOG_ODDS);
    let n = cols.len();
    let mut sign = vec![0f64; n];
    let mut z = vec![0f64; m];
    for _ in 0..n {
        let mut pick = None;
        let mut best = 0.0;
        for (j, col) in cols.iter().enumerate() {
            if sign[j] != 0.0 {
                continue;
            }
            let conn: f64 = col.iter().map(|&(u, l)| capped(z[u]).abs() * l.abs()).sum();
            if pick.is_none() || conn > best {
                pick = Some(j);
                best = conn;
            }
        }
        let Some(j) = pick else { break };
        let support: f64 = cols[j].iter().map(|&(u, l)| capped(z[u]) * l).sum();
        sign[j] = if support < 0.0 { -1.0 } else { 1.0 };
        for &(u, l) in &cols[j] {
            z[u] += sign[j] * l;
        }
    }
    // One revision: each neighbour's phase against all the others'.
    for (j, col) in cols.iter().enumerate() {
        let support: f64 = col
            .iter()
            .map(|&(u, l)| capped(z[u] - sign[j] * l) * l)
            .sum();
        let s = if support < 0.0 { -1.0 } else { 1.0 };
        if s != sign[j] {
            for &(u, l) in col {
                z[u] += (s - sign[j]) * l;
            }
            sign[j] = s;
        }
    }
    // Components: molecules sharing a neighbour.
    let mut parent: Vec<usize> = (0..m).collect();
    fn find(p: &mut [usize], mut x: usize) -> usize {
        while p[x] != x {
            p[x] = p[p[x]];
            x = p[x];
        }
        x
    }
    let mut linked = vec![false; m];
    for col in &cols {
        let a = find(&mut parent, col[0].0);
        for &(u, _) in col {
            linked[u] = true;
            let b = find(&mut parent, u);
            parent[b] = a;
        }
    }
    let mut comp_id: Vec<(usize, u32)> = Vec::new();
    let unit_phase: Vec<ReadPhase> = (0..m)
        .map(|u| {
            if !linked[u] {
                return None;
            }
            let root = find(&mut parent, u);
            let c = match comp_id.iter().find(|e| e.0 == root) {
                Some(e) => e.1,
                None => {
                    comp_id.push((root, comp_id.len() as u32));
                    comp_id.len() as u32 - 1
                }
            };
            let w = 1.0 / (1.0 + 10f64.powf(-capped(z[u])));
            Some((c, w))
        })
        .collect();
    Some(read_unit.iter().map(|&u| unit_phase[u]).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_split_by_their_neighbours() {
        // Reads 1..=4 on one haplotype, 5..=6 on the other, seen at two neighbours; read 7
        // covers no neighbour; read 8 and 9 (one molecule, mates) sit with 5 and 6.
        let keys = [1, 2, 3, 4, 5, 6, 7, 8, 8];
        let n1 = vec![
            (1, 2.0),
            (2, 2.0),
            (3, 1.5),
            (5, -2.0),
            (6, -2.0),
            (8, -1.0),
        ];
        // The second neighbour's alleles are the other way round.
        let n2 = vec![(2, -2.0), (4, -2.0), (5, 2.0), (8, 1.0), (99, 3.0)];
        let p = phase_reads(&keys, &[&n1, &n2]).unwrap();
        let w: Vec<f64> = p.iter().map(|x| x.map_or(0.5, |(_, w)| w)).collect();
        for (r, x) in w.iter().enumerate().take(4) {
            assert!(*x > 0.9, "read {r}: {x}");
        }
        for r in [4, 5, 7, 8] {
            assert!(w[r] < 0.1, "read {r}: {}", w[r]);
        }
        assert_eq!(p[6], None);
        let comps: Vec<u32> = p.iter().flatten().map(|x| x.0).collect();
        assert!(comps.iter().all(|&c| c == comps[0]));
        // Two neighbours that share no read make two components.
        let (c1, c2) = (vec![(1, 1.0), (2, -1.0)], vec![(3, 1.0), (4, -1.0)]);
        let p = phase_reads(&[1, 2, 3, 4], &[&c1, &c2]).unwrap();
        assert_ne!(p[0].unwrap().0, p[2].unwrap().0);
        // A neighbour seen by one read links nothing.
        assert!(balanced(5, 7) && balanced(3, 9) && balanced(1, 5));
        assert!(!balanced(6, 19) && !balanced(2, 12) && !balanced(0, 0) && !balanced(4, 0));
        assert!(balanced(4500, 5500) && !balanced(2000, 8000));
        assert_eq!(phase_reads(&[1, 2], &[&[(1, 2.0)]]), None);
    }
}
