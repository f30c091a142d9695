//! Read × haplotype alignment costs, the heavy step of `kasane call`.
//!
//! The model is a pair-HMM evaluated Viterbi-style in integer phred units: the cost of the
//! best alignment of the whole read against any stretch of the haplotype (free start and end
//! in the haplotype, a global alignment of the read), where a mismatch costs the base's
//! quality, opening a gap costs the lower of the haplotype position's gap-open penalty (lower
//! inside homopolymers and tandem repeats) and the read base's (from its quality: a read that
//! admits 1 % errors admits indels that often), and each further gapped base costs `gap_ext`. Matches cost
//! nothing. `P(read | haplotype) ≈ 10^(-cost / 10)`.
//!
//! Why integer Viterbi (max-product) rather than the forward sum: it needs only additions and
//! minima on small non-negative integers, so the CPU, CUDA and WGSL versions compute exactly
//! the same numbers in any order, with no floating point on the device. The forward sum
//! differs from the best path by at most a few phred where alignments are ambiguous (repeats),
//! which the genotyper absorbs (it compares haplotypes, all scored the same way).
//!
//! Layout, shared by every backend (WGSL has no bytes, so everything is `u32`):
//! - `seqs`: one word per base, reads and haplotypes concatenated. Read base:
//!   `code | mismatch << 8 | gap_open << 16` (code 0..3 = ACGT, 4 = N, which matches anything;
//!   mismatch and gap_open below 256). Haplotype base: `code | gap_open << 8`.
//! - `items`: `(offset, len)` into `seqs` per read or haplotype.
//! - `pairs`: `(read item, haplotype item)` per pair; the answer is one `u32` cost per pair.
//!
//! The DP keeps one row (over the haplotype) of the match, insertion and deletion states;
//! devices give each pair a scratch stretch of `3 * (hap_len + 1)` words.

use crate::backend::BackendError;
use crate::error::Result;

/// The pair-HMM half of a [`super::Backend`].
pub trait PairHmmOps: Send + Sync {
    /// Read × haplotype alignment costs, one per pair of the batch, exactly as
    /// [`reference_costs`] computes them.
    fn pair_costs(&self, batch: &PairBatch) -> Result<Vec<u32>>;
}

/// Saturation value of the DP: no real cost comes near it, and adding a penalty to it stays
/// far below `u32::MAX`.
pub const INF: u32 = 1 << 28;

/// A batch of read × haplotype pairs to score.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PairBatch {
    pub seqs: Vec<u32>,
    pub items: Vec<u32>,
    pub pairs: Vec<u32>,
    /// Cost of extending a gap by one base.
    pub gap_ext: u32,
}

impl PairBatch {
    /// Appends a sequence (read or haplotype words) and returns its item index.
    pub fn push_item(&mut self, words: &[u32]) -> u32 {
        let idx = (self.items.len() / 2) as u32;
        self.items.push(self.seqs.len() as u32);
        self.items.push(words.len() as u32);
        self.seqs.extend_from_slice(words);
        idx
    }
    pub fn push_pair(&mut self, read: u32, hap: u32) {
        self.pairs.push(read);
        self.pairs.push(hap);
    }
    pub fn n_pairs(&self) -> usize {
        self.pairs.len() / 2
    }
    pub fn item(&self, i: u32) -> &[u32] {
        let o = self.items[2 * i as usize] as usize;
        let l = self.items[2 * i as usize + 1] as usize;
        &self.seqs[o..o + l]
    }
    /// Scratch words pair `p` needs on a device.
    pub fn scratch_words(&self, p: usize) -> usize {
        let h = self.pairs[2 * p + 1] as usize;
        3 * (self.items[2 * h + 1] as usize + 1)
    }
    /// Checks the indexes, so that devices can trust them.
    pub fn validate(&self) -> Result<(), BackendError> {
        let n_items = self.items.len() / 2;
        for i in 0..n_items {
            let (o, l) = (self.items[2 * i] as usize, self.items[2 * i + 1] as usize);
            if o + l > self.seqs.len() {
                return Err(BackendError::ItemPastSequences(i));
            }
        }
        if self.pairs.iter().any(|&i| i as usize >= n_items) {
            return Err(BackendError::PairMissingItem);
        }
        Ok(())
    }
}

/// The reference cost of one pair; `row` is scratch, reused between calls.
pub fn pair_cost(read: &[u32], hap: &[u32], gap_ext: u32, row: &mut Vec<u32>) -> u32 {
    if read.is_empty() {
        return 0;
    }
    let h = hap.len();
    row.clear();
    row.resize(3 * (h + 1), INF);
    let (m, rest) = row.split_at_mut(h + 1);
    let (ins, del) = rest.split_at_mut(h + 1);
    // Row 0: the read may start anywhere on the haplotype.
    m.fill(0);
    let hgo0 = hap.first().map_or(0, |&b| b >> 8);
    for &rb in read {
        let rcode = rb & 0xff;
        let rcost = (rb >> 8) & 0xff;
        let rgo = rb >> 16;
        let go0 = hgo0.min(rgo);
        // Row i-1's values at column j-1, before this row overwrites them.
        let (mut dm, mut di, mut dd) = (m[0], ins[0], del[0]);
        // Column 0: only an insertion (read base before the haplotype's first base).
        m[0] = INF;
        ins[0] = (dm + go0).min(di + gap_ext).min(INF);
        del[0] = INF;
        // This row's values at column j-1.
        let (mut lm, mut ld) = (INF, INF);
        for (((mj, ij), dj), &hb) in m[1..]
            .iter_mut()
            .zip(ins[1..].iter_mut())
            .zip(del[1..].iter_mut())
            .zip(hap)
        {
            let hcode = hb & 0xff;
            let go = (hb >> 8).min(rgo);
            let emit = if rcode == hcode || rcode == 4 || hcode == 4 {
                0
            } else {
                rcost
            };
            let (um, ui, ud) = (*mj, *ij, *dj);
            let nm = (dm.min(di).min(dd) + emit).min(INF);
            let ni = (um + go).min(ui + gap_ext).min(INF);
            let nd = (lm + go).min(ld + gap_ext).min(INF);
            *mj = nm;
            *ij = ni;
            *dj = nd;
            lm = nm;
            ld = nd;
            dm = um;
            di = ui;
            dd = ud;
        }
    }
    m.iter()
        .zip(ins.iter())
        .fold(INF, |b, (&x, &y)| b.min(x).min(y))
}

/// Reads scored side by side against one haplotype by [`pair_costs_lanes`].
pub const LANES: usize = 8;

/// The costs of up to [`LANES`] reads against one haplotype, each exactly as [`pair_cost`]
/// computes it: the same recurrence, lane by lane, so that the compiler can run the lanes
/// in one vector register (AVX2 where the CPU has it). Shorter reads finish early and their
/// lanes go on with placeholder bases, which change nothing already read off. `scratch` is
/// reused between calls.
pub fn pair_costs_lanes(
    reads: &[&[u32]],
    hap: &[u32],
    gap_ext: u32,
    scratch: &mut Vec<[u32; LANES]>,
) -> [u32; LANES] {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2, the only requirement of the function.
            return unsafe { lanes_avx2(reads, hap, gap_ext, scratch) };
        }
    }
    lanes_impl(reads, hap, gap_ext, scratch)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn lanes_avx2(
    reads: &[&[u32]],
    hap: &[u32],
    gap_ext: u32,
    scratch: &mut Vec<[u32; LANES]>,
) -> [u32; LANES] {
    lanes_impl(reads, hap, gap_ext, scratch)
}

#[inline(always)]
fn lanes_impl(
    reads: &[&[u32]],
    hap: &[u32],
    gap_ext: u32,
    scratch: &mut Vec<[u32; LANES]>,
) -> [u32; LANES] {
    assert!(reads.len() <= LANES, "at most {LANES} reads a call");
    let mut out = [0u32; LANES];
    let len = |l: usize| reads.get(l).map_or(0, |r| r.len());
    let rows = (0..LANES).map(len).max().unwrap_or(0);
    if rows == 0 {
        return out;
    }
    let h = hap.len();
    scratch.clear();
    scratch.resize(3 * (h + 1), [INF; LANES]);
    let (m, rest) = scratch.split_at_mut(h + 1);
    let (ins, del) = rest.split_at_mut(h + 1);
    for c in m.iter_mut() {
        *c = [0; LANES];
    }
    let hgo0 = hap.first().map_or(0, |&b| b >> 8);
    // A finished lane reads N (matches anything) at no cost: bounded values, nothing read.
    const PAD: u32 = 4;
    for i in 0..rows {
        let mut rcode = [PAD; LANES];
        let mut rcost = [0u32; LANES];
        let mut rgo = [0u32; LANES];
        for l in 0..reads.len() {
            if let Some(&rb) = reads[l].get(i) {
                rcode[l] = rb & 0xff;
                rcost[l] = (rb >> 8) & 0xff;
                rgo[l] = rb >> 16;
            }
        }
        let mut dm = m[0];
        let mut di = ins[0];
        let mut dd = del[0];
        let mut i0 = [0u32; LANES];
        for l in 0..LANES {
            let go0 = hgo0.min(rgo[l]);
            i0[l] = (dm[l] + go0).min(di[l] + gap_ext).min(INF);
        }
        m[0] = [INF; LANES];
        ins[0] = i0;
        del[0] = [INF; LANES];
        let mut lm = [INF; LANES];
        let mut ld = [INF; LANES];
        for j in 1..=h {
            let hb = hap[j - 1];
            let hcode = hb & 0xff;
            let hgo = hb >> 8;
            let (um, ui, ud) = (m[j], ins[j], del[j]);
            let mut nm = [0u32; LANES];
            let mut ni = [0u32; LANES];
            let mut nd = [0u32; LANES];
            for l in 0..LANES {
                let go = hgo.min(rgo[l]);
                let same = rcode[l] == hcode || rcode[l] == 4 || hcode == 4;
                let emit = if same { 0 } else { rcost[l] };
                nm[l] = (dm[l].min(di[l]).min(dd[l]) + emit).min(INF);
                ni[l] = (um[l] + go).min(ui[l] + gap_ext).min(INF);
                nd[l] = (lm[l] + go).min(ld[l] + gap_ext).min(INF);
            }
            m[j] = nm;
            ins[j] = ni;
            del[j] = nd;
            lm = nm;
            ld = nd;
            dm = um;
            di = ui;
            dd = ud;
        }
        // Lanes whose read ends at this row: their cost, as pair_cost reads it off.
        for (l, o) in out.iter_mut().enumerate().take(reads.len()) {
            if len(l) == i + 1 {
                *o = m
                    .iter()
                    .zip(ins.iter())
                    .fold(INF, |b, (x, y)| b.min(x[l]).min(y[l]));
            }
        }
    }
    out
}

/// The CPU reference over a whole batch, sequential.
pub fn reference_costs(b: &PairBatch) -> Vec<u32> {
    let mut row = Vec::new();
    (0..b.n_pairs())
        .map(|p| {
            pair_cost(
                b.item(b.pairs[2 * p]),
                b.item(b.pairs[2 * p + 1]),
                b.gap_ext,
                &mut row,
            )
        })
        .collect()
}

/// Splits `[0, n_pairs)` into consecutive launches whose scratch fits in `max_words`; each
/// entry is `(first pair, end pair, scratch offsets of its pairs)`.
pub fn launches(b: &PairBatch, max_words: usize) -> Vec<(usize, usize, Vec<u32>)> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut offs = Vec::new();
    let mut used = 0usize;
    for p in 0..b.n_pairs() {
        let w = b.scratch_words(p);
        if !offs.is_empty() && used + w > max_words {
            out.push((start, p, std::mem::take(&mut offs)));
            start = p;
            used = 0;
        }
        offs.push(used as u32);
        used += w;
    }
    if !offs.is_empty() {
        out.push((start, b.n_pairs(), offs));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &[u8], cost: u32) -> Vec<u32> {
        s.iter()
            .map(|&c| {
                let code = match c {
                    b'A' => 0,
                    b'C' => 1,
                    b'G' => 2,
                    b'T' => 3,
                    _ => 4,
                };
                code | cost << 8
            })
            .collect()
    }

    #[test]
    fn lanes_equal_pairs() {
        // Reads of many lengths (empty, shorter and longer than the haplotype), qualities
        // and gap costs against haplotypes with and without repeats and Ns, in groups of
        // one to LANES.
        let mut rng = crate::rng::Rng(17);
        let mut scratch = Vec::new();
        let mut row = Vec::new();
        for t in 0..300 {
            let hl = 1 + rng.below(60) as usize;
            let hap: Vec<u32> = (0..hl)
                .map(|_| rng.below(5) as u32 | (3 + rng.below(43) as u32) << 8)
                .collect();
            let n = 1 + t % LANES;
            let reads: Vec<Vec<u32>> = (0..n)
                .map(|_| {
                    let rl = rng.below(80) as usize;
                    (0..rl)
                        .map(|_| {
                            rng.below(5) as u32
                                | (1 + rng.below(40) as u32) << 8
                                | (3 + rng.below(50) as u32) << 16
                        })
                        .collect()
                })
                .collect();
            let refs: Vec<&[u32]> = reads.iter().map(|r| r.as_slice()).collect();
            let got = pair_costs_lanes(&refs, &hap, 1 + t as u32 % 12, &mut scratch);
            for (l, r) in reads.iter().enumerate() {
                assert_eq!(
                    got[l],
                    pair_cost(r, &hap, 1 + t as u32 % 12, &mut row),
                    "{t} {l}"
                );
            }
        }
    }

    #[test]
    fn known_costs() {
        let mut row = Vec::new();
        let hap = words(b"ACGTACGTTTGCA", 40);
        // Exact substring: free.
        let words = |s: &[u8], cost: u32| -> Vec<u32> {
            words(s, cost).into_iter().map(|w| w | 60 << 16).collect()
        };
        assert_eq!(pair_cost(&words(b"GTACG", 30), &hap, 10, &mut row), 0);
        // One mismatch at quality 30.
        assert_eq!(pair_cost(&words(b"GTCCG", 30), &hap, 10, &mut row), 30);
        // A deleted base: open 40.
        assert_eq!(pair_cost(&words(b"ACGTCGTTTG", 30), &hap, 10, &mut row), 40);
        // Two inserted bases: open + extend.
        assert_eq!(
            pair_cost(&words(b"ACGTAAACGTT", 30), &hap, 10, &mut row),
            50
        );
        assert_eq!(pair_cost(&[], &hap, 10, &mut row), 0);
        // A read whose own gap open (25) is below the haplotype's (40).
        let low: Vec<u32> = words(b"ACGTCGTTTG", 30)
            .into_iter()
            .map(|w| w & 0xffff | 25 << 16)
            .collect();
        assert_eq!(pair_cost(&low, &hap, 10, &mut row), 25);
    }

    #[test]
    fn launches_cover_every_pair() {
        let b = crate::backend::testing::random_batch(5, 6, 10);
        let l = launches(&b, 2000);
        assert_eq!(l.first().map(|x| x.0), Some(0));
        assert_eq!(l.last().map(|x| x.1), Some(b.n_pairs()));
        for w in l.windows(2) {
            assert_eq!(w[0].1, w[1].0);
        }
    }
}
