//! Read × haplotype likelihoods: every read segment of a window against every haplotype of
//! that window, scored by the backend's integer pair-HMM ([`crate::backend::pairhmm`]). This
//! module turns bases into the kernel's words: read bases carry their mismatch cost (the base
//! quality, capped), haplotype bases their gap-open cost, lowered inside homopolymers and
//! short tandem repeats where polymerase slippage makes indel errors common.

use crate::backend::pairhmm::PairBatch;
use crate::call::haplotypes::{Haplotype, Segment};
use crate::call::reads::ReadErrors;

/// Gap open outside repeats, and its floor inside long ones (phred).
pub const GAP_OPEN: u32 = 45;
pub const GAP_OPEN_MIN: u32 = 20;
/// Phred lost per repeated base of a tract.
pub const GAP_OPEN_STEP: u32 = 2;
pub const GAP_EXT: u32 = 10;
/// Base qualities above this are treated as this (quality scores are over-confident).
pub const MAX_BASE_QUAL: u8 = 40;

#[inline]
pub fn code(b: u8) -> u32 {
    match b {
        b'A' => 0,
        b'C' => 1,
        b'G' => 2,
        b'T' => 3,
        _ => 4,
    }
}

/// Per-position gap-open cost of `seq`: positions inside a tandem repeat of period 1 to 4
/// get `GAP_OPEN - STEP * (tract length - period)`, floored.
pub fn gap_opens(seq: &[u8]) -> Vec<u32> {
    let n = seq.len();
    let mut extra = vec![0usize; n];
    for k in 1..=4usize {
        if n <= k {
            break;
        }
        // Maximal runs where seq[i] == seq[i - k]; the tract is [run start - k, run end).
        let mut i = k;
        while i < n {
            if seq[i] != seq[i - k] {
                i += 1;
                continue;
            }
            let s = i;
            while i < n && seq[i] == seq[i - k] {
                i += 1;
            }
            let len = i - s; // bases beyond the first unit
            if len >= k {
                for e in &mut extra[s - k..i] {
                    *e = (*e).max(len);
                }
            }
        }
    }
    extra
        .into_iter()
        .map(|e| {
            GAP_OPEN
                .saturating_sub(GAP_OPEN_STEP * e as u32)
                .max(GAP_OPEN_MIN)
        })
        .collect()
}

pub fn hap_words(seq: &[u8]) -> Vec<u32> {
    seq.iter()
        .zip(gap_opens(seq))
        .map(|(&b, go)| code(b) | go << 8)
        .collect()
}

/// A read base's own gap-open cost: its quality plus this. A base quality says how often
/// the base is wrong, indels included (long-read qualities are dominated by them), so a read
/// of low quality opens gaps more cheaply than the context alone would.
pub const READ_GAP_OPEN_MARGIN: u32 = 10;

/// Kernel words of a read segment: mismatches cost the base quality (at least the read's
/// measured substitution rate, for long reads), gaps open at the quality plus
/// [`READ_GAP_OPEN_MARGIN`] or, for long reads, at the measured indel rate.
pub fn read_words(seq: &[u8], qual: &[u8], e: &ReadErrors) -> Vec<u32> {
    // Measured reads: their indel rate, lowered inside the read's own repeats (see
    // READ_REPEAT_SHARE); unmeasured (short) reads keep their qualities.
    let ctx = if e.gap_open > 0 {
        gap_opens(seq)
    } else {
        Vec::new()
    };
    seq.iter()
        .zip(qual)
        .enumerate()
        .map(|(i, (&b, &q))| {
            let q = q.clamp(1, MAX_BASE_QUAL) as u32;
            let mm = q.max(e.mismatch as u32).min(MAX_BASE_QUAL as u32);
            let go = if e.gap_open > 0 {
                let rate = e.gap_open as u32;
                let lower = ctx.get(i).map_or(0, |&g| {
                    (GAP_OPEN - g) * READ_REPEAT_SHARE.0 / READ_REPEAT_SHARE.1
                });
                rate.saturating_sub(lower).max(READ_GAP_OPEN_MIN.min(rate))
            } else {
                q + READ_GAP_OPEN_MARGIN
            };
            code(b) | mm << 8 | go << 16
        })
        .collect()
}

/// A measured read's gap-open cost (its indel rate) is lowered inside a repeat of the read
/// by this share of what the repeat takes off the haplotype's ([`gap_opens`]): a read's
/// indel errors are not spread evenly but gather in homopolymers and short repeats (ONT
/// above all), so there its indels are errors more often than its mean rate says, and a
/// homopolymer length off by one in a few reads is not a variant. Measured on Badread ONT
/// reads (`nanopore2023`): indel precision 0.79 to 0.86 at 0.7 (indel F1 0.874 to 0.905),
/// pbsim ONT-like 0.897 to 0.910, HiFi 0.9976 to 0.9986; a share of 1 lost ONT SNV recall.
pub const READ_REPEAT_SHARE: (u32, u32) = (7, 10);
/// The least gap-open cost of a measured read's base (phred).
pub const READ_GAP_OPEN_MIN: u32 = 3;

/// Where a read × haplotype cost comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    /// Known without the pair-HMM: a read segment found verbatim in the haplotype costs 0,
    /// the least any alignment can cost, so the kernel would return exactly that.
    Known(u32),
    /// Pair `i` of the batch.
    Pair(usize),
}

/// Whether `seg` occurs in `hap`. Segment and haplotype span the same window, so there are
/// few offsets to try, and comparing at each is cheaper than building a searcher (memmem's
/// was 2 % of pbsim ONT calling). Offsets are told apart by their first eight bytes read as
/// one word: noisy reads' segments occur nowhere, and comparing them byte by byte at every
/// offset of every haplotype was 9 %.
fn is_verbatim(seg: &[u8], hap: &[u8]) -> bool {
    if seg.is_empty() {
        return true;
    }
    if seg.len() > hap.len() {
        return false;
    }
    match seg.first_chunk::<8>() {
        None => hap.windows(seg.len()).any(|w| w == seg),
        Some(head) => {
            let head = u64::from_le_bytes(*head);
            hap.windows(seg.len()).any(|w| {
                w.first_chunk::<8>()
                    .is_some_and(|x| u64::from_le_bytes(*x) == head)
                    && w[8..] == seg[8..]
            })
        }
    }
}

/// Adds a window's pairs to `batch`; returns one slot per (segment, haplotype), segment-major
/// (segment `s`, haplotype `h` at `s * haps.len() + h`).
pub fn add_window(batch: &mut PairBatch, haps: &[Haplotype], segs: &[Segment]) -> Vec<Slot> {
    let mut slots = Vec::with_capacity(segs.len() * haps.len());
    let mut hap_items: Vec<Option<u32>> = vec![None; haps.len()];
    for s in segs {
        let mut read_item = None;
        for (h, hap) in haps.iter().enumerate() {
            if is_verbatim(s.seq, &hap.seq) {
                slots.push(Slot::Known(0));
                continue;
            }
            let ri = *read_item
                .get_or_insert_with(|| batch.push_item(&read_words(s.seq, s.qual, &s.errors)));
            let hi = *hap_items[h].get_or_insert_with(|| batch.push_item(&hap_words(&hap.seq)));
            slots.push(Slot::Pair(batch.n_pairs()));
            batch.push_pair(ri, hi);
        }
    }
    slots
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbatim_equals_a_plain_search() {
        let mut rng = crate::rng::Rng(7);
        for t in 0..2000 {
            let hap: Vec<u8> = (0..rng.below(40))
                .map(|_| b"AC"[rng.below(2) as usize])
                .collect();
            let seg: Vec<u8> = if t % 2 == 0 && !hap.is_empty() {
                let a = rng.below(hap.len() as u64) as usize;
                let b = a + rng.below((hap.len() - a) as u64 + 1) as usize;
                let mut s = hap[a..b].to_vec();
                if t % 4 == 0 && !s.is_empty() {
                    let k = rng.below(s.len() as u64) as usize;
                    s[k] = b'G';
                }
                s
            } else {
                (0..rng.below(20))
                    .map(|_| b"AC"[rng.below(2) as usize])
                    .collect()
            };
            let plain = seg.is_empty()
                || (seg.len() <= hap.len() && hap.windows(seg.len()).any(|w| w == seg));
            assert_eq!(is_verbatim(&seg, &hap), plain, "{t}");
        }
    }

    /// A measured read opens gaps more cheaply inside its own homopolymer, by 0.7 of what the
    /// homopolymer takes off a haplotype's; an unmeasured read keeps quality + margin.
    #[test]
    fn measured_reads_open_gaps_cheaper_in_repeats() {
        let seq = b"GACTTTTTTGAC";
        let qual = vec![20u8; seq.len()];
        let go = |w: &[u32]| -> Vec<u32> { w.iter().map(|x| x >> 16).collect() };
        let e = ReadErrors {
            mismatch: 17,
            gap_open: 14,
        };
        let g = go(&read_words(seq, &qual, &e));
        assert_eq!(g[0], 14);
        // Six Ts: the haplotype's cost falls by 5 * GAP_OPEN_STEP = 10, the read's by 7.
        assert_eq!(g[5], 14 - 7);
        let plain = go(&read_words(seq, &qual, &ReadErrors::default()));
        assert!(plain.iter().all(|&x| x == 20 + READ_GAP_OPEN_MARGIN));
        // Never below the floor.
        let noisy = ReadErrors {
            mismatch: 10,
            gap_open: 5,
        };
        assert_eq!(go(&read_words(seq, &qual, &noisy))[5], READ_GAP_OPEN_MIN);
    }

    #[test]
    fn repeats_lower_gap_open() {
        let g = gap_opens(b"GATTTTTTCACACACAG");
        assert_eq!(g[0], GAP_OPEN);
        // Homopolymer of 6 Ts: 5 repeated bases.
        assert_eq!(g[3], GAP_OPEN - 5 * GAP_OPEN_STEP);
        // CA repeat of 4 units (8 bases + trailing): 6 or more repeated bases.
        assert!(g[10] <= GAP_OPEN - 6 * GAP_OPEN_STEP);
        assert_eq!(g[16], GAP_OPEN);
    }
}
