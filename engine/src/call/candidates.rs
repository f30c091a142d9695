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
    let mut rpos = read.pos;
    let mut q = 0usize;
    for c in &read.cigar {
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
    /// Fraction of the sample's depth there, in percent.
    pub min_percent: u32,
}

impl Default for CandidateParams {
    fn default() -> Self {
        CandidateParams {
            min_base_qual: 10,
            min_count: 2,
            min_percent: 10,
        }
    }
}

/// The candidate alleles in `[lo, hi)`, sorted, from the reads of `n_samples` samples.
pub fn find_candidates(
    reads: &[&Read],
    n_samples: usize,
    r: &RefWindow,
    lo: i64,
    hi: i64,
    p: &CandidateParams,
) -> Vec<Allele> {
    if hi <= lo {
        return Vec::new();
    }
    let n = (hi - lo) as usize;
    let mut depth = vec![0u32; n * n_samples];
    // Mismatches are counted in a dense array (position x base) and indels in a map: most
    // events are sequencing errors, and this keeps them off the allocator.
    let mut snv = vec![0u32; n * n_samples * 4];
    let mut indels: FxHashMap<(Allele, usize), u32> = FxHashMap::default();
    for read in reads {
        let s = read.sample as usize;
        let d = &mut depth[s * n..(s + 1) * n];
        let sv = &mut snv[s * n * 4..(s + 1) * n * 4];
        let mut rpos = read.pos;
        let mut q = 0usize;
        for c in &read.cigar {
            let len = c.len as usize;
            match c.op {
                b'M' | b'=' | b'X' => {
                    let a = (lo - rpos).clamp(0, len as i64) as usize;
                    let b = (hi - rpos).clamp(0, len as i64) as usize;
                    if a < b && q + b <= read.seq.len() {
                        let rs = r.slice(rpos + a as i64, rpos + b as i64);
                        let off0 = (rpos + a as i64 - lo) as usize;
                        for (k, &rb) in rs.iter().enumerate() {
                            let off = off0 + k;
                            d[off] += 1;
                            let base = read.seq[q + a + k];
                            if base != rb && rb != b'N' && read.qual[q + a + k] >= p.min_base_qual {
                                let code = match base {
                                    b'A' => 0,
                                    b'C' => 1,
                                    b'G' => 2,
                                    b'T' => 3,
                                    _ => continue,
                                };
                                sv[off * 4 + code] += 1;
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
                        let mut alt = vec![r.base(anchor)];
                        alt.extend_from_slice(&read.seq[q..q + len]);
                        if !alt.contains(&b'N') {
                            let a = normalize(
                                r,
                                Allele {
                                    pos: anchor,
                                    ref_len: 1,
                                    alt,
                                },
                            );
                            *indels.entry((a, s)).or_insert(0) += 1;
                        }
                    }
                    q += len;
                }
                b'D' => {
                    let anchor = rpos - 1;
                    if anchor >= lo && anchor < hi && anchor >= r.start {
                        let a = normalize(
                            r,
                            Allele {
                                pos: anchor,
                                ref_len: len as u32 + 1,
                                alt: vec![r.base(anchor)],
                            },
                        );
                        *indels.entry((a, s)).or_insert(0) += 1;
                    }
                    let a = (lo - rpos).clamp(0, len as i64);
                    let b = (hi - rpos).clamp(0, len as i64);
                    for k in a..b {
                        d[(rpos + k - lo) as usize] += 1;
                    }
                    rpos += len as i64;
                }
                b'N' => rpos += len as i64,
                b'S' => q += len,
                _ => {}
            }
        }
    }
    let pass = |c: u32, dp: u32| c >= p.min_count && c * 100 >= p.min_percent * dp.max(c);
    let mut out: Vec<Allele> = indels
        .into_iter()
        .filter(|((a, s), c)| {
            if a.pos < lo || a.pos >= hi || r.slice(a.pos, a.end()).contains(&b'N') {
                return false;
            }
            pass(*c, depth[s * n + (a.pos - lo) as usize])
        })
        .map(|((a, _), _)| a)
        .collect();
    for s in 0..n_samples {
        for off in 0..n {
            for code in 0..4 {
                let c = snv[(s * n + off) * 4 + code];
                if c > 0 && pass(c, depth[s * n + off]) {
                    out.push(Allele {
                        pos: lo + off as i64,
                        ref_len: 1,
                        alt: vec![b"ACGT"[code]],
                    });
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
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
}
