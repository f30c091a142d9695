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
/// Reads scored side by side by [`pair_costs_wide`], in 16-bit cells.
pub const WIDE_LANES: usize = 16;
/// What [`pair_costs_wide`] returns for a lane whose cost does not fit 16 bits.
pub const WIDE_SATURATED: u32 = u16::MAX as u32;

/// A DP cell: `add` is the recurrence's "add a penalty, saturate" (`u32` at [`INF`], as
/// [`pair_cost`] does; `u16` at `u16::MAX`). Every step of the recurrence is a minimum of
/// such sums, and saturating commutes with both (`sat(min(a, b)) = min(sat a, sat b)`,
/// `sat(sat(a) + c) = sat(a + c)` for `c >= 0`), so a 16-bit cell holds exactly the 32-bit
/// cell's value wherever that is below `u16::MAX`, and `u16::MAX` elsewhere.
trait Cell: Copy + Ord {
    const INF: Self;
    const ZERO: Self;
    /// A penalty or base code (all below 2^16) as a cell.
    fn of(x: u32) -> Self;
    fn add(self, x: Self) -> Self;
    fn get(self) -> u32;
}

impl Cell for u32 {
    const INF: Self = INF;
    const ZERO: Self = 0;
    #[inline(always)]
    fn of(x: u32) -> Self {
        x
    }
    #[inline(always)]
    fn add(self, x: Self) -> Self {
        (self + x).min(INF)
    }
    #[inline(always)]
    fn get(self) -> u32 {
        self
    }
}

impl Cell for u16 {
    const INF: Self = u16::MAX;
    const ZERO: Self = 0;
    #[inline(always)]
    fn of(x: u32) -> Self {
        x.min(u16::MAX as u32) as u16
    }
    #[inline(always)]
    fn add(self, x: Self) -> Self {
        self.saturating_add(x)
    }
    #[inline(always)]
    fn get(self) -> u32 {
        self as u32
    }
}

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
    dispatch(reads, hap, gap_ext, scratch)
}

/// As [`pair_costs_lanes`] for up to [`WIDE_LANES`] reads in 16-bit cells (twice the lanes
/// per vector instruction): each cost exactly [`pair_cost`]'s where that is below
/// [`WIDE_SATURATED`], which it is otherwise (the caller scores those lanes again).
pub fn pair_costs_wide(
    reads: &[&[u32]],
    hap: &[u32],
    gap_ext: u32,
    scratch: &mut Vec<[u16; WIDE_LANES]>,
) -> [u32; WIDE_LANES] {
    dispatch(reads, hap, gap_ext, scratch)
}

/// [`lanes_impl`] compiled for AVX2 where the CPU has it.
fn dispatch<T: Cell, const N: usize>(
    reads: &[&[u32]],
    hap: &[u32],
    gap_ext: u32,
    scratch: &mut Vec<[T; N]>,
) -> [u32; N] {
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
unsafe fn lanes_avx2<T: Cell, const N: usize>(
    reads: &[&[u32]],
    hap: &[u32],
    gap_ext: u32,
    scratch: &mut Vec<[T; N]>,
) -> [u32; N] {
    lanes_impl(reads, hap, gap_ext, scratch)
}

#[inline(always)]
fn lanes_impl<T: Cell, const N: usize>(
    reads: &[&[u32]],
    hap: &[u32],
    gap_ext: u32,
    scratch: &mut Vec<[T; N]>,
) -> [u32; N] {
    assert!(reads.len() <= N, "at most {N} reads a call");
    let mut out = [0u32; N];
    let len = |l: usize| reads.get(l).map_or(0, |r| r.len());
    let rows = (0..N).map(len).max().unwrap_or(0);
    if rows == 0 {
        return out;
    }
    let h = hap.len();
    scratch.clear();
    scratch.resize(3 * (h + 1), [T::INF; N]);
    let (m, rest) = scratch.split_at_mut(h + 1);
    let (ins, del) = rest.split_at_mut(h + 1);
    for c in m.iter_mut() {
        *c = [T::ZERO; N];
    }
    // The emission table below covers base codes 0..=4 only; other codes (never made by
    // kasane, but allowed by the layout) take the one-pair path.
    if hap.iter().any(|&b| b & 0xff > 4) || reads.iter().any(|r| r.iter().any(|&b| b & 0xff > 4)) {
        let mut row = Vec::new();
        for (o, r) in out.iter_mut().zip(reads) {
            *o = pair_cost(r, hap, gap_ext, &mut row);
        }
        return out;
    }
    let hgo0 = hap.first().map_or(0, |&b| b >> 8);
    let ext = T::of(gap_ext);
    let (n_code, zero) = (T::of(4), T::ZERO);
    // A finished lane reads N (matches anything) at no cost: bounded values, nothing read.
    for i in 0..rows {
        let mut rcode = [n_code; N];
        let mut rcost = [zero; N];
        let mut rgo = [zero; N];
        for l in 0..reads.len() {
            if let Some(&rb) = reads[l].get(i) {
                rcode[l] = T::of(rb & 0xff);
                rcost[l] = T::of((rb >> 8) & 0xff);
                rgo[l] = T::of(rb >> 16);
            }
        }
        // emit[c][l]: what lane l's base costs against a haplotype base of code c (N, code 4,
        // matches anything), so that the inner loop looks it up instead of comparing.
        let mut emit = [[zero; N]; 8];
        for (c, e) in emit.iter_mut().enumerate().take(4) {
            let c = T::of(c as u32);
            for l in 0..N {
                let same = rcode[l] == c || rcode[l] == n_code;
                e[l] = if same { zero } else { rcost[l] };
            }
        }
        let hgo0 = T::of(hgo0);
        let mut dm = m[0];
        let mut di = ins[0];
        let mut dd = del[0];
        let mut i0 = [zero; N];
        for l in 0..N {
            i0[l] = dm[l].add(hgo0.min(rgo[l])).min(di[l].add(ext));
        }
        m[0] = [T::INF; N];
        ins[0] = i0;
        del[0] = [T::INF; N];
        let mut lm = [T::INF; N];
        let mut ld = [T::INF; N];
        for (((mj, ij), dj), &hb) in m[1..]
            .iter_mut()
            .zip(ins[1..].iter_mut())
            .zip(del[1..].iter_mut())
            .zip(hap)
        {
            let e = &emit[(hb & 7) as usize];
            let hgo = T::of(hb >> 8);
            let (um, ui, ud) = (*mj, *ij, *dj);
            let mut nm = [zero; N];
            let mut ni = [zero; N];
            let mut nd = [zero; N];
            for l in 0..N {
                let go = hgo.min(rgo[l]);
                nm[l] = dm[l].min(di[l]).min(dd[l]).add(e[l]);
                ni[l] = um[l].add(go).min(ui[l].add(ext));
                nd[l] = lm[l].add(go).min(ld[l].add(ext));
            }
            *mj = nm;
            *ij = ni;
            *dj = nd;
            lm = nm;
            ld = nd;
            dm = um;
            di = ui;
            dd = ud;
        }
        // Lanes whose read ends at this row: their cost, as pair_cost reads it off.
        if (0..reads.len()).any(|l| len(l) == i + 1) {
            let mut best = [T::INF; N];
            for (x, y) in m.iter().zip(ins.iter()) {
                for l in 0..N {
                    best[l] = best[l].min(x[l]).min(y[l]);
                }
            }
            for (l, o) in out.iter_mut().enumerate().take(reads.len()) {
                if len(l) == i + 1 {
                    *o = best[l].get();
                }
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

    /// A random haplotype (with Ns, gap costs of repeats and not) and `n` reads of many
    /// lengths (empty, shorter and longer than the haplotype), qualities and gap costs; a read
    /// is `long` bases where `long(k)` says so.
    fn random_group(
        rng: &mut crate::rng::Rng,
        n: usize,
        long: impl Fn(usize) -> Option<usize>,
    ) -> (Vec<u32>, Vec<Vec<u32>>) {
        let hl = 1 + rng.below(60) as usize;
        let hap: Vec<u32> = (0..hl)
            .map(|_| rng.below(5) as u32 | (3 + rng.below(43) as u32) << 8)
            .collect();
        let reads = (0..n)
            .map(|k| {
                let rl = long(k).unwrap_or_else(|| rng.below(80) as usize);
                (0..rl)
                    .map(|_| {
                        rng.below(5) as u32
                            | (1 + rng.below(40) as u32) << 8
                            | (3 + rng.below(50) as u32) << 16
                    })
                    .collect()
            })
            .collect();
        (hap, reads)
    }

    #[test]
    fn lanes_equal_pairs() {
        // Groups of one to LANES.
        let mut rng = crate::rng::Rng(17);
        let mut scratch = Vec::new();
        let mut row = Vec::new();
        for t in 0..300 {
            let (hap, reads) = random_group(&mut rng, 1 + t % LANES, |_| None);
            let refs: Vec<&[u32]> = reads.iter().map(|r| r.as_slice()).collect();
            let ext = 1 + t as u32 % 12;
            let got = pair_costs_lanes(&refs, &hap, ext, &mut scratch);
            for (l, r) in reads.iter().enumerate() {
                assert_eq!(got[l], pair_cost(r, &hap, ext, &mut row), "{t} {l}");
            }
        }
    }

    #[test]
    fn wide_lanes_equal_pairs_or_saturate() {
        // Groups of one to WIDE_LANES, now and then with a read long and costly enough to
        // pass 16 bits.
        let mut rng = crate::rng::Rng(29);
        let mut scratch = Vec::new();
        let mut row = Vec::new();
        for t in 0..300 {
            let long = |k: usize| (t + k).is_multiple_of(97).then_some(2500);
            let (hap, reads) = random_group(&mut rng, 1 + t % WIDE_LANES, long);
            let refs: Vec<&[u32]> = reads.iter().map(|r| r.as_slice()).collect();
            let ext = 1 + t as u32 % 12;
            let got = pair_costs_wide(&refs, &hap, ext, &mut scratch);
            for (l, r) in reads.iter().enumerate() {
                let want = pair_cost(r, &hap, ext, &mut row);
                assert_eq!(got[l], want.min(WIDE_SATURATED), "{t} {l}");
            }
        }
        // 2000 bases against 40 mismatching ones: at least 1960 inserted at 50 each.
        let hap = words(&[b'A'; 40], 45);
        let read: Vec<u32> = words(&[b'C'; 2000], 40)
            .into_iter()
            .map(|w| w | 60 << 16)
            .collect();
        assert!(pair_cost(&read, &hap, 50, &mut row) > WIDE_SATURATED);
        let got = pair_costs_wide(&[&read], &hap, 50, &mut scratch);
        assert_eq!(got[0], WIDE_SATURATED);
    }

    #[test]
    fn lanes_take_codes_past_n() {
        // Codes above 4 are outside the lanes' emission table: they must still equal pairs.
        let mut rng = crate::rng::Rng(31);
        let (mut scratch, mut wide, mut row) = (Vec::new(), Vec::new(), Vec::new());
        for t in 0..40 {
            let (mut hap, reads) = random_group(&mut rng, 1 + t % WIDE_LANES, |_| None);
            if let Some(b) = hap.get_mut(t % 7) {
                *b = (*b & !0xff) | (5 + t as u32 % 200);
            }
            let refs: Vec<&[u32]> = reads.iter().map(|r| r.as_slice()).collect();
            let got = pair_costs_wide(&refs, &hap, 7, &mut wide);
            let narrow =
                (refs.len() <= LANES).then(|| pair_costs_lanes(&refs, &hap, 7, &mut scratch));
            for (l, r) in reads.iter().enumerate() {
                let want = pair_cost(r, &hap, 7, &mut row);
                assert_eq!(got[l], want, "{t} {l}");
                if let Some(n) = narrow {
                    assert_eq!(n[l], want, "{t} {l}");
                }
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
