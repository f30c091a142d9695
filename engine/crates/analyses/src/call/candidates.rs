//! Candidate alleles from the pileup: mismatches, insertions and deletions read off each
//! read's CIGAR, left-normalized, counted per sample, and kept where some sample shows enough
//! of them. Duplicates, secondary, QC-failed and unmapped reads and reads under the mapping
//! quality threshold never reach this stage (see `reads`).

use rustc_hash::FxHashMap;

use crate::call::reads::Read;

/// One allele in VCF form: `REF = reference[pos .. pos + ref_len]` (0-based `pos`), `ALT =
/// alt`. Indels carry the base before them (the anchor), as VCF does.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Allele {
    pub pos: i64,
    pub ref_len: u32,
    pub alt: Vec<u8>,
}

impl Allele {
    pub fn is_snv(&self) -> bool {
        self.ref_len == 1 && self.alt.len() == 1
    }
    /// Last reference base it replaces, plus one.
    pub fn end(&self) -> i64 {
        self.pos + self.ref_len as i64
    }
}

/// A stretch of reference bases, `seq[i]` at contig position `start + i`.
pub struct RefWindow {
    pub start: i64,
    pub seq: Vec<u8>,
}

impl RefWindow {
    #[inline]
    pub fn base(&self, pos: i64) -> u8 {
        if pos < self.start {
            return b'N';
        }
        self.seq
            .get((pos - self.start) as usize)
            .copied()
            .unwrap_or(b'N')
    }
    pub fn end(&self) -> i64 {
        self.start + self.seq.len() as i64
    }
    pub fn slice(&self, from: i64, to: i64) -> &[u8] {
        let a = (from - self.start).clamp(0, self.seq.len() as i64) as usize;
        let b = (to - self.start).clamp(a as i64, self.seq.len() as i64) as usize;
        &self.seq[a..b]
    }
}

/// Moves a deletion (of `len` bases after anchor `pos`) or an insertion (of `ins` after
/// `pos`) as far left as the reference allows, so that every read reports an indel in a
/// repeat the same way, and VCF gets left-normalized alleles.
pub fn normalize(r: &RefWindow, mut a: Allele) -> Allele {
    if a.is_snv() {
        return a;
    }
    if a.ref_len > 1 && a.alt.len() == 1 {
        let len = a.ref_len as i64 - 1;
        while a.pos > r.start && r.base(a.pos) == r.base(a.pos + len) && r.base(a.pos) != b'N' {
            a.pos -= 1;
        }
        a.alt = vec![r.base(a.pos)];
    } else if a.ref_len == 1 && a.alt.len() > 1 {
        let mut ins: Vec<u8> = a.alt[1..].to_vec();
        while a.pos > r.start && ins.last() == Some(&r.base(a.pos)) && r.base(a.pos) != b'N' {
            ins.pop();
            ins.insert(0, r.base(a.pos));
            a.pos -= 1;
        }
        a.alt.clear();
        a.alt.push(r.base(a.pos));
        a.alt.extend_from_slice(&ins);
    }
    a
}

/// Insertions up to this long are counted without a heap allocation.
const INLINE_INS: usize = 32;

/// An indel as [`find_candidates`] counts it, normalized as [`normalize`] does, kept off the
/// allocator: ONT reads have an indel every 40 bases, and building an [`Allele`] for each
/// (with its `alt` vector) was a few percent of calling them.
#[derive(Clone, PartialEq, Eq, Hash)]
enum IndelKey {
    /// `len` bases deleted after the anchor `pos`.
    Del {
        pos: i64,
        len: u32,
    },
    /// `seq[..len]` inserted after the anchor `pos`.
    Ins {
        pos: i64,
        len: u8,
        seq: [u8; INLINE_INS],
    },
    Long(Allele),
}

impl IndelKey {
    fn allele(self, r: &RefWindow) -> Allele {
        match self {
            IndelKey::Del { pos, len } => Allele {
                pos,
                ref_len: len + 1,
                alt: vec![r.base(pos)],
            },
            IndelKey::Ins { pos, len, seq } => {
                let mut alt = Vec::with_capacity(len as usize + 1);
                alt.push(r.base(pos));
                alt.extend_from_slice(&seq[..len as usize]);
                Allele {
                    pos,
                    ref_len: 1,
                    alt,
                }
            }
            IndelKey::Long(a) => a,
        }
    }
}

/// [`normalize`] of the deletion of `len` bases after `anchor`.
fn del_key(r: &RefWindow, anchor: i64, len: u32) -> IndelKey {
    let l = len as i64;
    let mut pos = anchor;
    while pos > r.start && r.base(pos) == r.base(pos + l) && r.base(pos) != b'N' {
        pos -= 1;
    }
    IndelKey::Del { pos, len }
}

/// [`normalize`] of the insertion of `ins` (not empty) after `anchor`: each step left
/// rotates the inserted bases right by one, so only the count of steps is kept.
fn ins_key(r: &RefWindow, anchor: i64, ins: &[u8]) -> IndelKey {
    let n = ins.len();
    if n > INLINE_INS {
        let mut alt = vec![r.base(anchor)];
        alt.extend_from_slice(ins);
        return IndelKey::Long(normalize(
            r,
            Allele {
                pos: anchor,
                ref_len: 1,
                alt,
            },
        ));
    }
    let (mut pos, mut k) = (anchor, 0usize);
    // The last inserted base after k rotations is ins[(n - 1 - k) mod n].
    while pos > r.start && ins[(n - 1 + n - k % n) % n] == r.base(pos) && r.base(pos) != b'N' {
        k += 1;
        pos -= 1;
    }
    let mut seq = [0u8; INLINE_INS];
    for (i, x) in seq.iter_mut().take(n).enumerate() {
        *x = ins[(i + n - k % n) % n];
    }
    IndelKey::Ins {
        pos,
        len: n as u8,
        seq,
    }
}

/// How far right an indel can slide with the same result (its repeat's extent): the end of
/// the stretch a haplotype window must cover to represent it in every equivalent place.
pub fn ambiguity_end(r: &RefWindow, a: &Allele) -> i64 {
    if a.is_snv() {
        return a.end();
    }
    let mut e = a.end();
    if a.ref_len > 1 {
        // Deletion of ref[pos+1 .. pos+1+len]: slides while ref[e] == ref[e - len].
        let len = a.ref_len as i64 - 1;
        while e < r.end() && r.base(e) == r.base(e - len) {
            e += 1;
        }
    } else {
        let ins = &a.alt[1..];
        let mut k = 0;
        while e < r.end() && r.base(e) == ins[k % ins.len()] {
            e += 1;
            k += 1;
        }
    }
    e
}

/// Most bases [`repeat_extent`] looks beyond an indel's exact repeat, per side.
pub const MAX_REPEAT_EXTENSION: i64 = 100;

/// The stretch `[start, end)` of reference a haplotype window must cover for reads to tell
/// an indel from its look-alikes: its exact repeat ([`ambiguity_end`]), widened over the
/// approximate tandem repeat around it (copies of the indel's period that differ by a few
/// bases, as in VNTRs). Inside such a repeat, "two copies fewer" and "two bases more" give
/// the same local sequence; only the imperfect copies further out tell them apart, so they
/// must be inside the window. Extension is by X-drop (+1 per base equal to the base one
/// period away, -3 otherwise, stop 9 below the best), at most [`MAX_REPEAT_EXTENSION`].
pub fn repeat_extent(r: &RefWindow, a: &Allele) -> (i64, i64) {
    let exact_end = ambiguity_end(r, a);
    let unit: &[u8] = if a.ref_len > 1 {
        r.slice(a.pos + 1, a.end())
    } else if a.alt.len() > 1 {
        &a.alt[1..]
    } else {
        return (a.pos, exact_end);
    };
    let n = unit.len();
    let period = (1..=n)
        .find(|&p| (p..n).all(|i| unit[i] == unit[i - p]))
        .unwrap_or(n) as i64;
    if period < 2 {
        return (a.pos, exact_end);
    }
    // Walks from `from` by `step` while the X-drop score holds; returns the best end.
    let walk = |from: i64, step: i64, limit: i64| -> i64 {
        let (mut score, mut best, mut best_at) = (0i64, 0i64, from);
        let mut i = from;
        while (step > 0 && i < limit) || (step < 0 && i >= limit) {
            let (b, o) = (r.base(i), r.base(i - step * period));
            score += if b == o && b != b'N' { 1 } else { -3 };
            if score > best {
                best = score;
                best_at = if step > 0 { i + 1 } else { i };
            }
            if best - score > 9 {
                break;
            }
            i += step;
        }
        best_at
    };
    let end = walk(
        exact_end,
        1,
        (exact_end + MAX_REPEAT_EXTENSION).min(r.end()),
    );
    // Leftwards, base i against base i + period; the anchor itself may already differ.
    let start = walk(a.pos, -1, (a.pos - MAX_REPEAT_EXTENSION).max(r.start));
    (start.min(a.pos), end.max(exact_end))
}

/// Walks a read's alignment over `[lo, hi)`: `event(allele, base quality)` for every
/// mismatch and indel (normalized), `covered(pos)` for every reference base the read
/// aligns a base to or deletes.
pub fn read_events(
    read: &Read,
    r: &RefWindow,
    lo: i64,
    hi: i64,
    mut event: impl FnMut(Allele, u8),
    mut covered: impl FnMut(i64),
) {
    let (first, mut rpos, mut q) = read.walk_from(lo);
    for c in &read.cigar[first..] {
        // Past `hi`, no operation covers or anchors a base inside.
        if rpos > hi {
            break;
        }
        let len = c.len as usize;
        match c.op {
            b'M' | b'=' | b'X' => {
                let a = (lo - rpos).clamp(0, len as i64) as usize;
                let b = (hi - rpos).clamp(0, len as i64) as usize;
                for k in a..b {
                    let p = rpos + k as i64;
                    covered(p);
                    let base = read.seq.get(q + k).copied().unwrap_or(b'N');
                    let rb = r.base(p);
                    if base != rb && base != b'N' && rb != b'N' {
                        let bq = read.qual.get(q + k).copied().unwrap_or(0);
                        event(
                            Allele {
                                pos: p,
                                ref_len: 1,
                                alt: vec![base],
                            },
                            bq,
                        );
                    }
                }
                rpos += len as i64;
                q += len;
            }
            b'I' => {
                let anchor = rpos - 1;
                if anchor >= lo && anchor < hi && anchor >= r.start && q + len <= read.seq.len() {
                    let mut alt = vec![r.base(anchor)];
                    alt.extend_from_slice(&read.seq[q..q + len]);
                    if !alt.contains(&b'N') {
                        let bq = read.qual[q..q + len].iter().copied().min().unwrap_or(0);
                        event(
                            normalize(
                                r,
                                Allele {
                                    pos: anchor,
                                    ref_len: 1,
                                    alt,
                                },
                            ),
                            bq,
                        );
                    }
                }
                q += len;
            }
            b'D' => {
                let anchor = rpos - 1;
                if anchor >= lo && anchor < hi && anchor >= r.start {
                    event(
                        normalize(
                            r,
                            Allele {
                                pos: anchor,
                                ref_len: len as u32 + 1,
                                alt: vec![r.base(anchor)],
                            },
                        ),
                        40,
                    );
                }
                for k in 0..len as i64 {
                    let p = rpos + k;
                    if p >= lo && p < hi {
                        covered(p);
                    }
                }
                rpos += len as i64;
            }
            b'N' => rpos += len as i64,
            b'S' => q += len,
            _ => {}
        }
    }
}

/// Thresholds for calling a position a candidate.
#[derive(Clone, Copy, Debug)]
pub struct CandidateParams {
    /// Mismatches with lower base quality are not counted.
    pub min_base_qual: u8,
    /// Reads showing the allele, in one sample.
    pub min_count: u32,
    /// Fraction of the sample's depth there, in percent; raised for noisy long reads (see
    /// [`noise_percent`]).
    pub min_percent: u32,
    /// Longest indel (inserted or deleted bases) that is a candidate: longer ones are
    /// structural variants, `kasane sv`'s business, and would make windows (and the
    /// pair-HMM's work, which grows with their square) as long as themselves.
    pub max_indel_len: u32,
}

impl Default for CandidateParams {
    fn default() -> Self {
        CandidateParams {
            min_base_qual: 10,
            min_count: 2,
            min_percent: 10,
            max_indel_len: 50,
        }
    }
}

/// Times the mean substitution rate of the reads at a position that an SNV's fraction must
/// reach to be a candidate there, and times their mean indel rate for an indel's: random
/// errors of noisy reads reach 10 % of a 20x pileup at one position by the tens of thousands
/// per megabase. With pbsim's ONT-like reads (2 % substitutions, 4.5 % indels anywhere) the
/// floor of 10 % gave a candidate every 8 bases, windows so crowded that the haplotypes
/// carrying the real variants were cut at [`crate::call::haplotypes::MAX_HAPS`], and 60x the
/// pair-HMM work of HiFi reads. Factors measured on pbsim and Badread ONT reads (see the
/// README): the indel one decides the speed; higher ones lose recall on reads whose errors
/// gather in homopolymers.
pub const SNV_NOISE_FACTOR: u64 = 3;
pub const INDEL_NOISE_FACTOR: u64 = 4;
/// The most the noise can raise a fraction to (in percent): a het allele is half the reads.
pub const MAX_NOISE_PERCENT: u32 = 25;

/// A read's measured substitution and indel rates in parts per million, `None` where they
/// were not measured (short reads; [`crate::call::reads::ReadErrors`]). Integers, so that the
/// sums over a position's reads do not depend on their order.
pub fn error_ppm(r: &Read) -> Option<(u64, u64)> {
    let e = r.errors;
    let ppm = |phred: u8| (1e6 * 10f64.powf(-(phred as f64) / 10.0)).round() as u64;
    (e.mismatch > 0 && e.gap_open > 0).then(|| (ppm(e.mismatch), ppm(e.gap_open)))
}

/// The least allele fraction (percent) at a position whose `measured` reads sum `sum_ppm` of
/// an error rate: `factor` times their mean, within `[floor, MAX_NOISE_PERCENT]`; `floor`
/// without measured reads. Depends only on the reads covering the position, so a region run
/// decides as a whole-genome run does.
pub fn noise_percent(sum_ppm: u64, measured: u64, factor: u64, floor: u32) -> u32 {
    if measured == 0 {
        return floor;
    }
    let den = 1_000_000 * measured;
    let pct = ((factor * 100 * sum_ppm + den / 2) / den).min(u32::MAX as u64) as u32;
    pct.clamp(floor, MAX_NOISE_PERCENT.max(floor))
}

/// The candidate alleles in `[lo, hi)`, sorted, from the reads of `n_samples` samples.
pub fn find_candidates(
    reads: &[&Read],
    n_samples: usize,
    r: &RefWindow,
    lo: i64,
    hi: i64,
    p: &CandidateParams,
) -> Candidates {
    if hi <= lo {
        return Candidates {
            alleles: Vec::new(),
            seeds: Vec::new(),
        };
    }
    let n = (hi - lo) as usize;
    // Per sample-position: reads covering it (bases and deletions), the measured ones among
    // them, and the sums of their substitution and indel rates (see [`noise_percent`]). A
    // read adds the same to every position it covers, so each aligned block adds at its
    // start and takes off past its end (difference arrays, summed below): per operation,
    // not per base.
    let mut d_depth = vec![0i32; (n + 1) * n_samples];
    let mut d_measured = vec![0i32; (n + 1) * n_samples];
    let mut d_sub = vec![0i64; (n + 1) * n_samples];
    let mut d_gap = vec![0i64; (n + 1) * n_samples];
    // Mismatches are counted in a dense array (position x base) and indels in a map: most
    // events are sequencing errors, and this keeps them off the allocator.
    let mut snv = vec![0u32; n * n_samples * 4];
    // For the seed test: the sums of the qualities of those observations, and of every
    // aligned base's quality at each position with their number (see [`obs_weight`]).
    let mut snv_q = vec![0u32; n * n_samples * 4];
    let mut pos_q = vec![0u32; n * n_samples];
    let mut pos_n = vec![0u32; n * n_samples];
    let mut indels: FxHashMap<(IndelKey, usize), (u32, u32)> = FxHashMap::default();
    for read in reads {
        let s = read.sample as usize;
        let base0 = s * (n + 1);
        let rates = error_ppm(read).map(|(a, b)| (a as i64, b as i64));
        // Positions [from, to) of the window covered by one block of the read.
        let mut cover = |from: usize, to: usize| {
            d_depth[base0 + from] += 1;
            d_depth[base0 + to] -= 1;
            if let Some((sub, gap)) = rates {
                d_measured[base0 + from] += 1;
                d_measured[base0 + to] -= 1;
                d_sub[base0 + from] += sub;
                d_sub[base0 + to] -= sub;
                d_gap[base0 + from] += gap;
                d_gap[base0 + to] -= gap;
            }
        };
        let sv = &mut snv[s * n * 4..(s + 1) * n * 4];
        let sq = &mut snv_q[s * n * 4..(s + 1) * n * 4];
        let (pq, pn) = (
            &mut pos_q[s * n..(s + 1) * n],
            &mut pos_n[s * n..(s + 1) * n],
        );
        // From the last CIGAR mark before the window, to the first operation past it.
        let (first, mut rpos, mut q) = read.walk_from(lo);
        for c in &read.cigar[first..] {
            if rpos > hi {
                break;
            }
            let len = c.len as usize;
            match c.op {
                b'M' | b'=' | b'X' => {
                    let a = (lo - rpos).clamp(0, len as i64) as usize;
                    let b = (hi - rpos).clamp(0, len as i64) as usize;
                    if a < b && q + b <= read.seq.len() {
                        let rs = r.slice(rpos + a as i64, rpos + b as i64);
                        let off0 = (rpos + a as i64 - lo) as usize;
                        cover(off0, off0 + (b - a));
                        let bases = &read.seq[q + a..q + b];
                        let quals = &read.qual[q + a..q + b];
                        for ((x, y), &bq) in pq[off0..off0 + (b - a)]
                            .iter_mut()
                            .zip(&mut pn[off0..off0 + (b - a)])
                            .zip(quals)
                        {
                            *x += bq as u32;
                            *y += 1;
                        }
                        for (k, ((&rb, &base), &bq)) in rs.iter().zip(bases).zip(quals).enumerate()
                        {
                            if base != rb && rb != b'N' && bq >= p.min_base_qual {
                                let code = match base {
                                    b'A' => 0,
                                    b'C' => 1,
                                    b'G' => 2,
                                    b'T' => 3,
                                    _ => continue,
                                };
                                sv[(off0 + k) * 4 + code] += 1;
                                sq[(off0 + k) * 4 + code] += bq as u32;
                            }
                        }
                    }
                    rpos += len as i64;
                    q += len;
                }
                b'I' => {
                    let anchor = rpos - 1;
                    if anchor >= lo && anchor < hi && anchor >= r.start && q + len <= read.seq.len()
                    {
                        let ins = &read.seq[q..q + len];
                        if r.base(anchor) != b'N' && !ins.contains(&b'N') {
                            // An insertion is called at its bases' mean quality.
                            let iq = read.qual[q..q + len]
                                .iter()
                                .map(|&x| x as usize)
                                .sum::<usize>()
                                / len.max(1);
                            let e = indels.entry((ins_key(r, anchor, ins), s)).or_insert((0, 0));
                            e.0 += 1;
                            e.1 += iq as u32;
                        }
                    }
                    q += len;
                }
                b'D' => {
                    let anchor = rpos - 1;
                    if anchor >= lo && anchor < hi && anchor >= r.start {
                        // A deletion at the lower quality of the read bases around it.
                        let around = q.checked_sub(1).and_then(|k| read.qual.get(k));
                        let dq = match (around, read.qual.get(q)) {
                            (Some(&a), Some(&b)) => a.min(b),
                            (Some(&a), None) | (None, Some(&a)) => a,
                            (None, None) => 0,
                        };
                        let e = indels
                            .entry((del_key(r, anchor, len as u32), s))
                            .or_insert((0, 0));
                        e.0 += 1;
                        e.1 += dq as u32;
                    }
                    let a = (lo - rpos).clamp(0, len as i64);
                    let b = (hi - rpos).clamp(0, len as i64);
                    if a < b {
                        cover((rpos + a - lo) as usize, (rpos + b - lo) as usize);
                    }
                    rpos += len as i64;
                }
                b'N' => rpos += len as i64,
                b'S' => q += len,
                _ => {}
            }
        }
    }
    let mut depth = vec![0u32; n * n_samples];
    let mut measured = vec![0u32; n * n_samples];
    let mut sub_ppm = vec![0u64; n * n_samples];
    let mut gap_ppm = vec![0u64; n * n_samples];
    for s in 0..n_samples {
        let (mut dd, mut dm, mut ds, mut dg) = (0i32, 0i32, 0i64, 0i64);
        for off in 0..n {
            let (i, j) = (s * n + off, s * (n + 1) + off);
            dd += d_depth[j];
            dm += d_measured[j];
            ds += d_sub[j];
            dg += d_gap[j];
            depth[i] = dd as u32;
            measured[i] = dm as u32;
            sub_ppm[i] = ds as u64;
            gap_ppm[i] = dg as u64;
        }
    }
    // At sample-position `i`: whether `c` reads make a candidate (at least `min_count` and
    // the least fraction there) and whether they make a seed (see [`Candidates`]).
    let tau = SEED_RATIO.ln();
    let pass = |c: u32, cq: u32, i: usize, snv: bool| -> Option<bool> {
        let (factor, sum, sf) = if snv {
            (SNV_NOISE_FACTOR, sub_ppm[i], SEED_SNV_FACTOR)
        } else {
            (INDEL_NOISE_FACTOR, gap_ppm[i], SEED_INDEL_FACTOR)
        };
        if c < p.min_count {
            return None;
        }
        let pc = noise_percent(sum, measured[i] as u64, factor, p.min_percent);
        let d = depth[i].max(c);
        if c * 100 < pc * d {
            return None;
        }
        // Mean error rate of this kind at the position (ppm); below the gate every
        // candidate is a seed.
        let rate = sum.checked_div(measured[i] as u64).unwrap_or(0);
        if rate < SEED_MIN_RATE_PPM {
            return Some(true);
        }
        let e = (sf * rate as f64 / 1e6).clamp(1e-6, 0.5);
        let w = obs_weight(cq / c.max(1), pos_q[i].checked_div(pos_n[i]).unwrap_or(0));
        Some(seed_ratio(c as f64 * w, d, e) >= tau)
    };
    let mut out: Vec<(Allele, bool)> = indels
        .into_iter()
        .filter_map(|((k, s), (c, cq))| {
            let a = k.allele(r);
            if a.pos < lo || a.pos >= hi || r.slice(a.pos, a.end()).contains(&b'N') {
                return None;
            }
            if a.ref_len.max(a.alt.len() as u32) - 1 > p.max_indel_len {
                return None;
            }
            pass(c, cq, s * n + (a.pos - lo) as usize, false).map(|seed| (a, seed))
        })
        .collect();
    for s in 0..n_samples {
        for off in 0..n {
            for code in 0..4 {
                let c = snv[(s * n + off) * 4 + code];
                let cq = snv_q[(s * n + off) * 4 + code];
                if c == 0 {
                    continue;
                }
                if let Some(seed) = pass(c, cq, s * n + off, true) {
                    let a = Allele {
                        pos: lo + off as i64,
                        ref_len: 1,
                        alt: vec![b"ACGT"[code]],
                    };
                    out.push((a, seed));
                }
            }
        }
    }
    // One entry per allele, a seed where any sample makes it one (seeds sort last).
    out.sort();
    let mut alleles: Vec<Allele> = Vec::with_capacity(out.len());
    let mut seeds: Vec<bool> = Vec::with_capacity(out.len());
    for (a, seed) in out {
        if alleles.last() == Some(&a) {
            if let Some(x) = seeds.last_mut() {
                *x |= seed;
            }
        } else {
            alleles.push(a);
            seeds.push(seed);
        }
    }
    Candidates { alleles, seeds }
}

/// A chunk's candidates, sorted, and which of them are seeds: only a window with a seed is
/// genotyped. Noisy long reads make candidates by the tens of thousands per megabase (two
/// ONT reads of twenty with the same error at one position make one), nearly all of them
/// alone in their window, where genotyping finds nothing at great cost (and now and then a
/// false indel); a real heterozygous allele is about half the reads. Candidates that are
/// not seeds still join the windows of seeds nearby, as the other explanations of those
/// reads (leaving their haplotypes out cost Badread ONT indel precision 0.90 to 0.81).
pub struct Candidates {
    pub alleles: Vec<Allele>,
    pub seeds: Vec<bool>,
}

/// Where the reads at a position err at this mean rate or more (substitutions for an SNV,
/// indel events for an indel; ppm), a candidate is a seed only when its count of reads (each
/// weighed by [`obs_weight`]) is
/// at least [`SEED_RATIO`] times as likely from a heterozygote as from errors at the mean
/// rate times [`SEED_SNV_FACTOR`] or [`SEED_INDEL_FACTOR`] ([`seed_ratio`]); below it, as
/// with short reads and HiFi, every candidate is a seed. On Badread ONT reads at 20x (2.5 %
/// indel events) SNV F1 stays 0.9960 and indel F1 goes 0.905 to 0.915 with 3x fewer
/// windows; the gate keeps pbsim's noisy "HiFi" (0.9 % indel events), whose three true
/// indels shown by 2 reads of 20 a test at its rate would drop. The factors are below one
/// for SNVs (errors at a position are of three bases) and two for indels (they gather in
/// homopolymers); a ratio under one because phasing finds hets that few reads show.
pub const SEED_MIN_RATE_PPM: u64 = 15_000;
pub const SEED_SNV_FACTOR: f64 = 0.3;
pub const SEED_INDEL_FACTOR: f64 = 2.0;
pub const SEED_RATIO: f64 = 0.1;

/// What each observation of an allele counts for in the seed test: all of it when the
/// observations' mean quality is no more than [`QUAL_DROP_FULL`] below the mean quality of
/// every base aligned at the position, none at [`QUAL_DROP_NONE`] below or lower, linearly
/// between. Nanopore basecallers mark their own errors with low qualities; the bases of a
/// real allele are called like their neighbours in the pileup. Reads whose qualities say
/// nothing (all alike, or missing: 20 for every base) weigh every observation fully.
pub fn obs_weight(allele_q: u32, position_q: u32) -> f64 {
    let drop = position_q as f64 - allele_q as f64;
    let (full, none) = (QUAL_DROP_FULL as f64, QUAL_DROP_NONE as f64);
    ((none - drop) / (none - full)).clamp(0.0, 1.0)
}
pub const QUAL_DROP_FULL: u32 = 4;
pub const QUAL_DROP_NONE: u32 = 20;

/// Log of how much likelier `c` reads of `d` showing an allele are from a heterozygote (half
/// the reads) than from errors at rate `e` (the binomial coefficients cancel).
pub fn seed_ratio(c: f64, d: u32, e: f64) -> f64 {
    let d = d as f64;
    d * 0.5f64.ln() - c * e.ln() - (d - c) * (1.0 - e).ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indels_move_left() {
        let r = RefWindow {
            start: 100,
            seq: b"GATTTTCACACAG".to_vec(),
        };
        // Deleting the last T of the run is deleting the first.
        let d = normalize(
            &r,
            Allele {
                pos: 104,
                ref_len: 2,
                alt: b"T".to_vec(),
            },
        );
        assert_eq!((d.pos, d.ref_len, d.alt.as_slice()), (101, 2, &b"A"[..]));
        assert_eq!(ambiguity_end(&r, &d), 106);
        // Inserting CA after the repeat is inserting it before.
        let i = normalize(
            &r,
            Allele {
                pos: 111,
                ref_len: 1,
                alt: b"ACA".to_vec(),
            },
        );
        assert_eq!((i.pos, i.alt.as_slice()), (105, &b"TCA"[..]));
    }

    /// `n` bases of `unit` repeated, each one in `one_in` replaced by a random base.
    fn noisy_repeat(rng: &mut crate::rng::Rng, unit: &[u8], n: usize, one_in: u64) -> Vec<u8> {
        (0..n)
            .map(|i| {
                if rng.below(one_in) == 0 {
                    b"ACGT"[rng.below(4) as usize]
                } else {
                    unit[i % unit.len()]
                }
            })
            .collect()
    }

    /// The counting keys normalize as `normalize` does, in repeats of every period.
    #[test]
    fn indel_keys_equal_normalize() {
        let mut rng = crate::rng::Rng(41);
        for t in 0..2000 {
            // Short repeats, so indels slide far and insertions rotate many times.
            let unit: Vec<u8> = (0..1 + rng.below(4))
                .map(|_| b"ACGTN"[rng.below(5) as usize])
                .collect();
            let seq = noisy_repeat(&mut rng, &unit, 120, 10);
            let r = RefWindow { start: 1000, seq };
            let anchor = 1000 + rng.below(110) as i64;
            let len = 1 + rng.below(if t % 7 == 0 { 45 } else { 6 }) as usize;
            let d = normalize(
                &r,
                Allele {
                    pos: anchor,
                    ref_len: len as u32 + 1,
                    alt: vec![r.base(anchor)],
                },
            );
            assert_eq!(del_key(&r, anchor, len as u32).allele(&r), d, "{t}");
            let ins = noisy_repeat(&mut rng, &unit, len, 4);
            let mut alt = vec![r.base(anchor)];
            alt.extend_from_slice(&ins);
            let i = normalize(
                &r,
                Allele {
                    pos: anchor,
                    ref_len: 1,
                    alt,
                },
            );
            assert_eq!(ins_key(&r, anchor, &ins).allele(&r), i, "{t}");
        }
    }

    #[test]
    fn windows_cover_imperfect_repeats() {
        // A 10-base unit repeated, two copies carrying a substitution. Deleting 18 bases
        // (not a whole number of units) leaves a junction that reads locally like a 2-base
        // insertion; only the imperfect copies further out tell the two apart, so the
        // window must reach them, though the deletion's exact repeat is much shorter.
        let unit = b"GCGTTTCCAT";
        let mut seq = b"TTGACTAGGACTTAGC".to_vec();
        let left = seq.len() as i64;
        for k in 0..8 {
            let mut u = unit.to_vec();
            if k == 1 {
                u[1] = b'G';
            }
            if k == 7 {
                u[5] = b'A';
            }
            seq.extend_from_slice(&u);
        }
        let right = seq.len() as i64;
        seq.extend_from_slice(b"TAGCAGAAAAGTCATCG");
        let r = RefWindow { start: 1000, seq };
        let at = 1000 + left + 4 * 10 + 3;
        let d = normalize(
            &r,
            Allele {
                pos: at,
                ref_len: 19,
                alt: vec![r.base(at)],
            },
        );
        let (s, e) = repeat_extent(&r, &d);
        // The differing bases, inside the window (the extent plus 10 flanking bases).
        let (first, last) = (1000 + left + 10 + 1, 1000 + left + 7 * 10 + 5);
        assert!(
            s - 10 <= first,
            "start {s} misses the imperfect copy at {first}"
        );
        assert!(e + 10 > last, "end {e} misses the imperfect copy at {last}");
        assert!(
            s >= 1000 && e <= 1000 + right + 10,
            "{s}..{e} runs past the repeat"
        );
        // The exact repeat alone would leave them out.
        assert!(d.pos - 10 > first && ambiguity_end(&r, &d) + 10 <= last);
        // An SNV's extent is itself.
        let snv = Allele {
            pos: 1003,
            ref_len: 1,
            alt: b"C".to_vec(),
        };
        assert_eq!(repeat_extent(&r, &snv), (1003, 1004));
    }

    fn read(pos: i64, cigar: &[(u8, u32)], seq: Vec<u8>) -> Read {
        let end = pos
            + cigar
                .iter()
                .filter(|c| matches!(c.0, b'M' | b'D'))
                .map(|c| c.1 as i64)
                .sum::<i64>();
        Read {
            sample: 0,
            key: pos as u64,
            pos,
            end,
            mapq: 60,
            cigar: cigar
                .iter()
                .map(|&(op, len)| crate::io::CigarOp { op, len })
                .collect(),
            qual: vec![30; seq.len()],
            seq,
            errors: Default::default(),
            marks: Vec::new(),
        }
    }

    #[test]
    fn long_indels_are_left_to_sv() {
        let seq: Vec<u8> = (0..400).map(|i| b"ACGTTGCA"[(i * 7 + i / 5) % 8]).collect();
        let r = RefWindow {
            start: 0,
            seq: seq.clone(),
        };
        // Five reads deleting 30 bases at 100, five deleting 60 at 200.
        let mut reads = Vec::new();
        for _ in 0..5 {
            let s: Vec<u8> = [&seq[50..100], &seq[130..180]].concat();
            reads.push(read(50, &[(b'M', 50), (b'D', 30), (b'M', 50)], s));
            let s: Vec<u8> = [&seq[150..200], &seq[260..310]].concat();
            reads.push(read(150, &[(b'M', 50), (b'D', 60), (b'M', 50)], s));
        }
        let refs: Vec<&Read> = reads.iter().collect();
        let c = find_candidates(&refs, 1, &r, 0, 400, &CandidateParams::default()).alleles;
        let dels: Vec<u32> = c
            .iter()
            .filter(|a| a.ref_len > 1)
            .map(|a| a.ref_len)
            .collect();
        assert_eq!(dels, vec![31], "{c:?}");
    }

    /// Twenty reads of 300 bases over a 400-base reference: an SNV at 100 in the first
    /// `snv_reads`, a het SNV at 200 (every other read), bases 300 and 301 deleted in reads 3
    /// to 5; `make` gives them the error rates asked for.
    #[allow(clippy::type_complexity)]
    fn twenty_reads(
        snv_reads: usize,
    ) -> (
        RefWindow,
        Box<dyn Fn(crate::call::reads::ReadErrors) -> Vec<Read>>,
    ) {
        let seq: Vec<u8> = (0..400).map(|i| b"ACGTTGCA"[(i * 7 + i / 5) % 8]).collect();
        let r = RefWindow {
            start: 0,
            seq: seq.clone(),
        };
        let alt = |b: u8| if b == b'A' { b'C' } else { b'A' };
        let make = move |errors: crate::call::reads::ReadErrors| -> Vec<Read> {
            (0..20)
                .map(|k| {
                    let mut s = seq[50..350].to_vec();
                    if k < snv_reads {
                        s[100 - 50] = alt(seq[100]);
                    }
                    if k % 2 == 0 {
                        s[200 - 50] = alt(seq[200]);
                    }
                    let mut rd = if (3..6).contains(&k) {
                        s.drain(300 - 50..302 - 50);
                        read(50, &[(b'M', 250), (b'D', 2), (b'M', 48)], s)
                    } else {
                        read(50, &[(b'M', 300)], s)
                    };
                    rd.errors = errors;
                    rd
                })
                .collect()
        };
        (r, Box::new(make))
    }

    /// Noisy long reads raise the least allele fraction of a candidate with their measured
    /// error rates: an SNV and a deletion each in 3 of 20 reads (15 %) are candidates among
    /// short reads, not among reads with 6.3 % substitutions and 5 % indels (the floors become
    /// 19 % and 20 %); a het SNV (half the reads) is one either way.
    #[test]
    fn noisy_reads_raise_the_allele_fraction() {
        let (r, make) = twenty_reads(3);
        let found = |reads: &[Read]| -> Vec<(i64, u32)> {
            let refs: Vec<&Read> = reads.iter().collect();
            find_candidates(&refs, 1, &r, 0, 400, &CandidateParams::default())
                .alleles
                .iter()
                .map(|a| (a.pos, a.ref_len))
                .collect()
        };
        let clean = found(&make(Default::default()));
        assert_eq!(clean.len(), 3, "{clean:?}");
        assert!(clean.contains(&(100, 1)) && clean.contains(&(200, 1)));
        assert!(clean.iter().any(|&(_, len)| len == 3), "{clean:?}");
        let noisy = crate::call::reads::ReadErrors {
            mismatch: 12,
            gap_open: 13,
        };
        let pct = |reads: &[Read]| {
            let (mut sub, mut gap) = (0, 0);
            for r in reads {
                let (s, g) = error_ppm(r).unwrap();
                sub += s;
                gap += g;
            }
            let n = reads.len() as u64;
            (
                noise_percent(sub, n, SNV_NOISE_FACTOR, 10),
                noise_percent(gap, n, INDEL_NOISE_FACTOR, 10),
            )
        };
        assert_eq!(pct(&make(noisy)), (19, 20));
        assert_eq!(found(&make(noisy)), vec![(200, 1)]);
        // HiFi-like rates stay at the floor; very noisy reads stop at the cap; without
        // measured reads, the floor.
        let hifi = crate::call::reads::ReadErrors {
            mismatch: 25,
            gap_open: 21,
        };
        assert_eq!(pct(&make(hifi)), (10, 10));
        let awful = crate::call::reads::ReadErrors {
            mismatch: 10,
            gap_open: 10,
        };
        assert_eq!(pct(&make(awful)), (MAX_NOISE_PERCENT, MAX_NOISE_PERCENT));
        assert_eq!(noise_percent(0, 0, INDEL_NOISE_FACTOR, 10), 10);
    }

    /// Among ONT-like reads (2 % substitutions, 2.5 % indel events) an SNV in 2 of 20 reads
    /// and a deletion in 3 of 20 are candidates but not seeds, a het SNV is a seed; among
    /// HiFi-like reads (under the gate) every candidate is a seed.
    #[test]
    fn seeds_stand_out_of_the_noise() {
        let (r, make) = twenty_reads(2);
        let seeds = |e: crate::call::reads::ReadErrors| -> Vec<(i64, u32, bool)> {
            let reads = make(e);
            let refs: Vec<&Read> = reads.iter().collect();
            let c = find_candidates(&refs, 1, &r, 0, 400, &CandidateParams::default());
            c.alleles
                .iter()
                .zip(&c.seeds)
                .map(|(a, &s)| (a.pos, a.ref_len, s))
                .collect()
        };
        let ont = crate::call::reads::ReadErrors {
            mismatch: 17,
            gap_open: 16,
        };
        let got = seeds(ont);
        assert_eq!(got.len(), 3, "{got:?}");
        assert!(got.contains(&(100, 1, false)), "{got:?}");
        assert!(got.contains(&(200, 1, true)), "{got:?}");
        assert!(got.iter().any(|&(_, len, s)| len == 3 && !s), "{got:?}");
        let hifi = crate::call::reads::ReadErrors {
            mismatch: 25,
            gap_open: 21,
        };
        assert!(seeds(hifi).iter().all(|x| x.2));
        assert!(seeds(Default::default()).iter().all(|x| x.2));
        // The ratio: 2 of 20 is noise at 0.6 %, 10 of 20 is not; the threshold is between.
        assert!(seed_ratio(2.0, 20, 0.006) < SEED_RATIO.ln());
        assert!(seed_ratio(10.0, 20, 0.006) > SEED_RATIO.ln());
    }

    /// Where the reads' qualities mean something, an allele whose bases are called far below
    /// the rest of the pileup counts for less: 5 of 20 reads is a seed among ONT-like reads
    /// when called like their neighbours, and not when called 14 below them.
    #[test]
    fn low_quality_alleles_weigh_less() {
        let (r, make) = twenty_reads(5);
        let ont = crate::call::reads::ReadErrors {
            mismatch: 17,
            gap_open: 16,
        };
        let seed_at_100 = |q: u8| -> Option<bool> {
            let mut reads = make(ont);
            for rd in reads.iter_mut().take(5) {
                rd.qual[100 - 50] = q;
            }
            let refs: Vec<&Read> = reads.iter().collect();
            let c = find_candidates(&refs, 1, &r, 0, 400, &CandidateParams::default());
            c.alleles
                .iter()
                .zip(&c.seeds)
                .find(|(a, _)| a.pos == 100)
                .map(|(_, &s)| s)
        };
        assert_eq!(seed_at_100(27), Some(true));
        assert_eq!(seed_at_100(11), Some(false));
        assert_eq!(obs_weight(30, 30), 1.0);
        assert_eq!(obs_weight(10, 30), 0.0);
        assert_eq!(obs_weight(18, 30), 0.5);
    }

    /// Walks that start at a CIGAR mark find what walks from the read's start find: the same
    /// segments and the same events, for windows all along a read of many operations.
    #[test]
    fn marked_walks_equal_whole_walks() {
        let mut rng = crate::rng::Rng(12345);
        let mut next = |m: u64| rng.below(m);
        let seq: Vec<u8> = (0..30_000).map(|_| b"ACGT"[next(4) as usize]).collect();
        let r = RefWindow { start: 0, seq };
        let mut cigar = vec![(b'S', 5u32)];
        let mut qlen = 5usize;
        for _ in 0..900 {
            let (op, len) = match next(6) {
                0 => (b'I', 1 + next(4) as u32),
                1 => (b'D', 1 + next(4) as u32),
                _ => (b'M', 1 + next(25) as u32),
            };
            if op != b'D' {
                qlen += len as usize;
            }
            cigar.push((op, len));
        }
        let bases: Vec<u8> = (0..qlen).map(|_| b"ACGTN"[next(5) as usize]).collect();
        let mut marked = read(100, &cigar, bases);
        marked.marks = crate::call::reads::cigar_marks(marked.pos, &marked.cigar);
        assert!(marked.marks.len() > 20);
        let mut whole = marked.clone();
        whole.marks.clear();
        let events = |rd: &Read, lo: i64, hi: i64| {
            let mut v = Vec::new();
            let mut c = Vec::new();
            read_events(rd, &r, lo, hi, |a, q| v.push((a, q)), |p| c.push(p));
            (v, c)
        };
        for lo in (0..marked.end + 50).step_by(97) {
            for w in [1, 10, 60, 400] {
                let hi = lo + w;
                assert_eq!(
                    crate::call::haplotypes::segment(&marked, lo, hi),
                    crate::call::haplotypes::segment(&whole, lo, hi),
                    "segment {lo}..{hi}"
                );
                assert_eq!(
                    events(&marked, lo, hi),
                    events(&whole, lo, hi),
                    "events {lo}..{hi}"
                );
            }
        }
    }

    /// The least fraction at a position comes from the reads covering it, not from every read
    /// of the window: very noisy reads elsewhere do not hide a 15 % SNV among cleaner ones, and
    /// a region holding only the cleaner reads finds the same candidates as a wider one.
    #[test]
    fn noise_is_local_to_the_position() {
        let seq: Vec<u8> = (0..400).map(|i| b"ACGTTGCA"[(i * 7 + i / 5) % 8]).collect();
        let r = RefWindow {
            start: 0,
            seq: seq.clone(),
        };
        let alt = |b: u8| if b == b'A' { b'C' } else { b'A' };
        let mut reads = Vec::new();
        for _ in 0..20 {
            let mut rd = read(0, &[(b'M', 140)], seq[0..140].to_vec());
            rd.errors = crate::call::reads::ReadErrors {
                mismatch: 10,
                gap_open: 10,
            };
            reads.push(rd);
        }
        for k in 0..20 {
            let mut s = seq[160..400].to_vec();
            if k < 3 {
                s[300 - 160] = alt(seq[300]);
            }
            let mut rd = read(160, &[(b'M', 240)], s);
            rd.errors = crate::call::reads::ReadErrors {
                mismatch: 17,
                gap_open: 13,
            };
            reads.push(rd);
        }
        let at = |lo: i64, only: &dyn Fn(&Read) -> bool| -> Vec<i64> {
            let refs: Vec<&Read> = reads.iter().filter(|r| only(r)).collect();
            find_candidates(&refs, 1, &r, lo, 400, &CandidateParams::default())
                .alleles
                .iter()
                .map(|a| a.pos)
                .collect()
        };
        assert_eq!(at(0, &|_| true), vec![300]);
        assert_eq!(at(150, &|r: &Read| r.end > 150), vec![300]);
    }
}
