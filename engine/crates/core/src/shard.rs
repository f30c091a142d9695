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

/// Cuts contigs (in header order) into `n` non-empty contiguous ranges whose total lengths are
/// as even as a greedy cut allows: each cut falls where the running length first reaches the
/// next `k/n` of the total, moved so that every shard keeps at least one contig. Depends only
/// on the lengths, so every sample of a cohort (same reference) gets the same shards.
pub fn split(lengths: &[u64], n: usize) -> Result<Vec<Range<usize>>> {
    let m = lengths.len();
    if n == 0 {
        return Err(Error::Usage("the shard count must be at least 1".into()));
    }
    if n > m {
        return Err(Error::Usage(format!(
            "{n} shards asked for, but the reference has {m} contig(s): a shard holds whole \
             contigs, so use at most {m}"
        )));
    }
    let total: u128 = lengths.iter().map(|&l| l as u128).sum();
    let mut cuts = Vec::with_capacity(n + 1);
    cuts.push(0usize);
    let mut acc: u128 = 0;
    let mut i = 0usize;
    for k in 1..n {
        let goal = total * k as u128 / n as u128;
        // At least one contig since the last cut, and enough left for the remaining shards.
        let lo = cuts[k - 1] + 1;
        let hi = m - (n - k);
        while i < lo {
            acc += lengths[i] as u128;
            i += 1;
        }
        while i < hi && acc < goal {
            // Cut before contig i when that lands closer to the goal than after it.
            let next = acc + lengths[i] as u128;
            if next > goal && goal - acc < next - goal {
                break;
            }
            acc = next;
            i += 1;
        }
        cuts.push(i);
    }
    cuts.push(m);
    Ok(cuts.windows(2).map(|w| w[0]..w[1]).collect())
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
        let human_like: Vec<u64> = vec![
            248, 242, 198, 190, 181, 171, 159, 145, 138, 134, 135, 133, 114, 107, 102, 90, 83, 80,
            59, 64, 47, 51, 156, 57, 1, 1, 1, 1,
        ];
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
            assert!((x as i64 - (total / 4) as i64).unsigned_abs() <= 248, "{x}");
        }
    }

    #[test]
    fn too_many_shards_is_refused() {
        let e = split(&[10, 20], 3).unwrap_err().to_string();
        assert!(e.contains("2 contig"), "{e}");
    }
}
