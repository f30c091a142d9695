//! Region shards: the genome cut into `N` runs of whole contigs, balanced by length, so that
//! `kasane run --shard i/N` jobs take similar time and their outputs, concatenated in shard
//! order, are the outputs of one unsharded run. Whole contigs keep every per-contig statistic
//! exact and every output line whole.

use std::ops::Range;

use crate::error::{Error, Result};

/// One shard: `index` counts from 1, as on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    /// Parses `i/N` (1 ≤ i ≤ N).
    pub fn parse(s: &str) -> Result<Shard> {
        let bad = || {
            Error::Usage(format!(
                "--shard {s}: expected i/N with 1 <= i <= N (for example 2/8)"
            ))
        };
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let index: usize = i.trim().parse().map_err(|_| bad())?;
        let count: usize = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }

    /// The folder name of this shard's outputs: `i-of-N`.
    pub fn dir_name(&self) -> String {
        format!("{}-of-{}", self.index, self.count)
    }

    /// The contigs (header indexes) this shard covers.
    pub fn contigs(&self, lengths: &[u64]) -> Result<Range<usize>> {
        Ok(split(lengths, self.count)?[self.index - 1].clone())
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// What a contig costs on its own, in bases of sequence, whatever its length: opening it,
/// seeking to it and its summary lines. Measured (benches/many-contigs): 5 to 30 µs per contig
/// against about 1 ns per base of a contig without reads, so shards of many tiny contigs are
/// not overloaded.
pub const CONTIG_WORK: u64 = 10_000;

/// About how many groups a genome is cut into (see [`Groups`]).
pub const GROUPS: u64 = 4096;

/// Consecutive contigs grouped so that each group holds at least 1/[`GROUPS`] of the genome:
/// a contig at least that long is a group of its own; shorter ones join the group before until
/// it is that long. Writers end a BGZF block only between groups, so a file of 10^6 tiny
/// contigs does not grow by a block per contig, and shards cut only between groups, so the
/// outputs of shards still concatenate into the unsharded output byte for byte. Depends only
/// on the contig lengths (the header).
#[derive(Clone, Debug, Default)]
pub struct Groups {
    /// The first contig of each group.
    starts: Vec<u32>,
    n_contigs: usize,
}

impl Groups {
    pub fn new(lengths: &[u64]) -> Groups {
        let total: u64 = lengths.iter().sum();
        let least = total.div_ceil(GROUPS).max(1);
        let mut starts = Vec::new();
        let mut acc = 0u64;
        for (i, &len) in lengths.iter().enumerate() {
            if i == 0 || acc >= least || len >= least {
                starts.push(i as u32);
                acc = 0;
            }
            acc += len;
        }
        Groups {
            starts,
            n_contigs: lengths.len(),
        }
    }

    /// The group of contig `tid`.
    pub fn of(&self, tid: usize) -> usize {
        self.starts
            .partition_point(|&s| s as usize <= tid)
            .saturating_sub(1)
    }

    pub fn len(&self) -> usize {
        self.starts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }

    /// The contigs of group `g`.
    pub fn contigs(&self, g: usize) -> Range<usize> {
        let end = self
            .starts
            .get(g + 1)
            .map_or(self.n_contigs, |&s| s as usize);
        self.starts[g] as usize..end
    }
}

/// Cuts contigs (in header order) into `n` non-empty contiguous ranges of whole [`Groups`]
/// whose work (length plus [`CONTIG_WORK`] per contig) is as even as a greedy cut allows: each
/// cut falls where the running work first reaches the next `k/n` of the total, moved so that
/// every shard keeps at least one group. Linear in the contigs; depends only on the lengths,
/// so every sample of a cohort (same reference) gets the same shards.
pub fn split(lengths: &[u64], n: usize) -> Result<Vec<Range<usize>>> {
    let groups = Groups::new(lengths);
    let m = groups.len();
    if n == 0 {
        return Err(Error::Usage("the shard count must be at least 1".into()));
    }
    if n > m {
        let what = if m == lengths.len() {
            format!("{m} contig(s): a shard holds whole contigs")
        } else {
            format!(
                "{} contigs in {m} group(s): a shard holds whole contigs, and contigs shorter \
                 than 1/{GROUPS} of the genome are kept with their neighbours",
                lengths.len()
            )
        };
        return Err(Error::Usage(format!(
            "{n} shards asked for, but the reference has {what}, so use at most {m}"
        )));
    }
    let work: Vec<u128> = (0..m)
        .map(|g| {
            lengths[groups.contigs(g)]
                .iter()
                .map(|&l| (l + CONTIG_WORK) as u128)
                .sum()
        })
        .collect();
    let total: u128 = work.iter().sum();
    let mut cuts = Vec::with_capacity(n + 1);
    cuts.push(0usize);
    let mut acc: u128 = 0;
    let mut i = 0usize;
    for k in 1..n {
        let goal = total * k as u128 / n as u128;
        // At least one group since the last cut, and enough left for the remaining shards.
        let lo = cuts[k - 1] + 1;
        let hi = m - (n - k);
        while i < lo {
            acc += work[i];
            i += 1;
        }
        while i < hi && acc < goal {
            // Cut before group i when that lands closer to the goal than after it.
            let next = acc + work[i];
            if next > goal && goal - acc < next - goal {
                break;
            }
            acc = next;
            i += 1;
        }
        cuts.push(i);
    }
    cuts.push(m);
    let start = |c: usize| {
        if c == m {
            lengths.len()
        } else {
            groups.contigs(c).start
        }
    };
    Ok(cuts.windows(2).map(|w| start(w[0])..start(w[1])).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_checks_bounds() {
        assert_eq!(Shard::parse("2/8").unwrap(), Shard { index: 2, count: 8 });
        for bad in ["0/3", "4/3", "1/0", "x/2", "3", "1/2/3"] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn shards_cover_every_contig_once_and_balance() {
        // Megabases, with four small contigs (which still get groups of their own).
        let human_like: Vec<u64> = [
            248, 242, 198, 190, 181, 171, 159, 145, 138, 134, 135, 133, 114, 107, 102, 90, 83, 80,
            59, 64, 47, 51, 156, 57, 1, 1, 1, 1,
        ]
        .iter()
        .map(|m| m * 1_000_000)
        .collect();
        for n in 1..=human_like.len() {
            let s = split(&human_like, n).unwrap();
            assert_eq!(s.len(), n);
            assert_eq!(s[0].start, 0);
            assert_eq!(s[n - 1].end, human_like.len());
            for w in s.windows(2) {
                assert_eq!(w[0].end, w[1].start);
            }
            assert!(s.iter().all(|r| !r.is_empty()), "{n}: {s:?}");
        }
        let s = split(&human_like, 4).unwrap();
        let sums: Vec<u64> = s
            .iter()
            .map(|r| human_like[r.clone()].iter().sum())
            .collect();
        let total: u64 = human_like.iter().sum();
        // No shard more than the largest contig away from an even share.
        for x in sums {
            assert!(
                (x as i64 - (total / 4) as i64).unsigned_abs() <= 248_000_000,
                "{x}"
            );
        }
    }

    #[test]
    fn tiny_contigs_are_grouped_and_shards_cut_between_groups() {
        // Three large contigs, then 100,000 of 1 kb (like decoys, at scale).
        let mut lengths = vec![50_000_000u64, 40_000_000, 30_000_000];
        lengths.extend(std::iter::repeat_n(1000, 100_000));
        let g = Groups::new(&lengths);
        let least = lengths.iter().sum::<u64>().div_ceil(GROUPS);
        // Groups of the tiny contigs hold `least` bases rounded up to whole contigs.
        let n = g.len() as u64 - 3;
        assert!(n <= 100_000_000 / least + 1, "{n}");
        assert!(n + 1 >= 100_000_000 / (least + 1000), "{n}");
        for i in 0..g.len() {
            let r = g.contigs(i);
            assert!(!r.is_empty());
            let bases: u64 = lengths[r.clone()].iter().sum();
            // Every group but the last is long enough; large contigs stand alone.
            assert!(i + 1 == g.len() || bases >= least, "{i}: {bases}");
            if lengths[r.start] >= least {
                assert_eq!(r.len(), 1);
            }
            for t in r {
                assert_eq!(g.of(t), i);
            }
        }
        for n in [1, 2, 7, 64] {
            let s = split(&lengths, n).unwrap();
            assert_eq!(s.len(), n);
            assert_eq!(s[n - 1].end, lengths.len());
            for w in s.windows(2) {
                assert_eq!(w[0].end, w[1].start);
                // A cut never falls inside a group.
                assert_ne!(g.of(w[1].start - 1), g.of(w[1].start), "{n}");
            }
        }
        // The tiny contigs weigh their count, not only their length: with 4 shards the
        // 100,000 tiny contigs (100 Mb, and 10^9 of per-contig work) are not all in one.
        let s = split(&lengths, 4).unwrap();
        assert!(s.iter().filter(|r| r.start >= 3).count() >= 2, "{s:?}");
    }

    #[test]
    fn too_many_shards_is_refused() {
        let e = split(&[10, 20], 3).unwrap_err().to_string();
        assert!(e.contains("2 contig"), "{e}");
    }
}
