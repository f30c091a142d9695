//! SV signatures from single reads: large CIGAR deletions and insertions (pieces of one event
//! joined), breakpoints between the pieces of split alignments (primary + supplementary, read
//! from the `SA` tag), and long soft clips that hint at insertions longer than the read's
//! aligned part.
//!
//! Every signature is attributed to the contig of the record that produced it, so a contig's
//! calls depend only on the reads aligned to it (shards over contigs then agree with one run).

use rustc_hash::FxHasher;
use std::hash::Hasher;

use crate::io::bam::{FLAG_SECONDARY, FLAG_SUPPLEMENTARY, FLAG_UNMAPPED};
use crate::io::{Alignment, CigarOp};

const FLAG_REVERSE: u16 = 0x10;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SvKind {
    Del,
    Ins,
    Dup,
    Inv,
    Bnd,
}

impl SvKind {
    pub fn name(self) -> &'static str {
        match self {
            SvKind::Del => "DEL",
            SvKind::Ins => "INS",
            SvKind::Dup => "DUP",
            SvKind::Inv => "INV",
            SvKind::Bnd => "BND",
        }
    }
}

/// Where evidence came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Source {
    Cigar,
    Split,
    Clip,
}

/// One read's evidence for one event.
#[derive(Clone, Debug)]
pub struct Sig {
    pub kind: SvKind,
    /// 0-based left breakpoint: first deleted base (DEL), base before which the insertion
    /// lies (INS), start of the duplicated or inverted region (DUP, INV), the local breakend
    /// (BND).
    pub pos: i64,
    /// Event length (0 for BND).
    pub len: i64,
    pub read: u64,
    pub sample: u16,
    pub source: Source,
    /// Inserted bases (INS), in reference orientation; empty when unknown.
    pub seq: Vec<u8>,
    /// BND only: mate contig (index in the header), mate breakend (0-based), whether the
    /// local piece extends to the right of `pos`, and whether the mate piece extends to the
    /// right of `mate_pos`.
    pub mate_tid: u32,
    pub mate_pos: i64,
    pub local_right: bool,
    pub mate_right: bool,
}

impl Sig {
    fn new(kind: SvKind, pos: i64, len: i64, read: u64, sample: u16, source: Source) -> Self {
        Sig {
            kind,
            pos,
            len,
            read,
            sample,
            source,
            seq: Vec::new(),
            mate_tid: 0,
            mate_pos: 0,
            local_right: false,
            mate_right: false,
        }
    }
}

/// A read's aligned interval, for counting reads that support the reference.
#[derive(Clone, Copy, Debug)]
pub struct Span {
    pub start: i64,
    pub end: i64,
    pub read: u64,
    pub sample: u16,
}

/// Evidence gathered for one contig (from every input file).
#[derive(Default)]
pub struct ContigEvidence {
    pub sigs: Vec<Sig>,
    pub spans: Vec<Span>,
    /// Aligned reference bases per sample (for the contig's mean depth).
    pub bases: Vec<u64>,
}

/// Parameters of signature extraction.
#[derive(Clone, Debug)]
pub struct SigParams {
    pub min_mapq: u8,
    /// Smallest SV reported.
    pub min_svlen: i64,
    /// Smallest CIGAR operation considered part of an SV.
    pub min_piece: u32,
    /// Soft clips at least this long become clip signatures.
    pub min_clip: u32,
}

pub fn read_hash(name: &[u8]) -> u64 {
    let mut h = FxHasher::default();
    h.write(name);
    // Fx is weak on its own for short keys; one multiply-xorshift round spreads it.
    let x = h.finish();
    (x ^ (x >> 31)).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// One piece of a split alignment, in read coordinates of the original read.
#[derive(Clone, Debug, PartialEq)]
struct Piece {
    tid: Option<u32>,
    rstart: i64,
    rend: i64,
    reverse: bool,
    qs: i64,
    qe: i64,
    mapq: u8,
}

/// Left clip, aligned query length, right clip, reference length of a CIGAR.
fn cigar_shape(ops: &[CigarOp]) -> (i64, i64, i64, i64) {
    let mut left = 0i64;
    let mut right = 0i64;
    let mut qalen = 0i64;
    let mut rlen = 0i64;
    let mut seen_aligned = false;
    for c in ops {
        match c.op {
            b'S' | b'H' => {
                if seen_aligned {
                    right += c.len as i64;
                } else {
                    left += c.len as i64;
                }
            }
            _ => {
                seen_aligned = true;
                if c.consumes_query() {
                    qalen += c.len as i64;
                }
                if c.consumes_ref() {
                    rlen += c.len as i64;
                }
            }
        }
    }
    (left, qalen, right, rlen)
}

fn parse_cigar(s: &[u8]) -> Option<Vec<CigarOp>> {
    let mut out = Vec::new();
    let mut n: u64 = 0;
    let mut have = false;
    for &b in s {
        if b.is_ascii_digit() {
            n = n.checked_mul(10)?.checked_add((b - b'0') as u64)?;
            have = true;
        } else {
            if !have || !b"MIDNSHP=X".contains(&b) || n > u32::MAX as u64 >> 4 {
                return None;
            }
            out.push(CigarOp {
                op: b,
                len: n as u32,
            });
            n = 0;
            have = false;
        }
    }
    if have || out.is_empty() {
        return None;
    }
    Some(out)
}

fn piece_from(tid: Option<u32>, pos: i64, reverse: bool, ops: &[CigarOp], mapq: u8) -> Piece {
    let (left, qalen, right, rlen) = cigar_shape(ops);
    let (qs, qe) = if reverse {
        (right, right + qalen)
    } else {
        (left, left + qalen)
    };
    Piece {
        tid,
        rstart: pos,
        rend: pos + rlen,
        reverse,
        qs,
        qe,
        mapq,
    }
}

/// Parses an `SA` tag: `rname,pos,strand,CIGAR,mapQ,NM;` repeated. `None` when malformed.
fn parse_sa(sa: &[u8], tid_of: &dyn Fn(&[u8]) -> Option<u32>) -> Option<Vec<Piece>> {
    let mut out = Vec::new();
    for entry in sa.split(|&b| b == b';') {
        if entry.is_empty() {
            continue;
        }
        let f: Vec<&[u8]> = entry.split(|&b| b == b',').collect();
        if f.len() != 6 {
            return None;
        }
        let pos: i64 = std::str::from_utf8(f[1]).ok()?.parse().ok()?;
        if pos < 1 {
            return None;
        }
        let reverse = match f[2] {
            b"+" => false,
            b"-" => true,
            _ => return None,
        };
        let ops = parse_cigar(f[3])?;
        let mapq: u8 = std::str::from_utf8(f[4]).ok()?.parse().ok()?;
        std::str::from_utf8(f[5]).ok()?.parse::<i64>().ok()?;
        // An unknown contig name is kept as a piece we cannot place (no BND then).
        out.push(piece_from(tid_of(f[0]), pos - 1, reverse, &ops, mapq));
    }
    Some(out)
}

/// Extracts signatures from one record into `ev` (the evidence of the record's contig).
/// Returns false when the record's `SA` tag was malformed (the caller warns).
pub fn extract<A: Alignment>(
    rec: &A,
    sample: u16,
    p: &SigParams,
    tid_of: &dyn Fn(&[u8]) -> Option<u32>,
    ev: &mut ContigEvidence,
    scratch: &mut Scratch,
) -> Result<(), SaProblem> {
    let flag = rec.flag();
    if flag & (FLAG_UNMAPPED | FLAG_SECONDARY) != 0 || rec.mapq() < p.min_mapq {
        return Ok(());
    }
    let read = read_hash(rec.read_name());
    let pos = rec.pos();
    scratch.ops.clear();
    rec.for_each_cigar(|c| scratch.ops.push(c));
    let ops = &scratch.ops;
    let reverse = flag & FLAG_REVERSE != 0;
    let (left, qalen, right, rlen) = cigar_shape(ops);
    let end = pos + rlen;
    ev.spans.push(Span {
        start: pos,
        end,
        read,
        sample,
    });
    if ev.bases.len() <= sample as usize {
        ev.bases.resize(sample as usize + 1, 0);
    }
    ev.bases[sample as usize] += rlen as u64;

    // Stored sequence covers the query except hard clips; offsets below are into it.
    let hard_left = match ops.first() {
        Some(c) if c.op == b'H' => c.len as i64,
        _ => 0,
    };
    scratch.seq.clear();
    let mut seq_loaded = false;

    // --- CIGAR indels, nearby pieces of one event joined.
    let mut r = pos;
    let mut q = 0i64; // offset into the stored sequence
    scratch.pieces.clear();
    for c in ops.iter() {
        let l = c.len as i64;
        match c.op {
            b'M' | b'=' | b'X' => {
                r += l;
                q += l;
            }
            b'I' => {
                if c.len >= p.min_piece {
                    scratch.pieces.push((SvKind::Ins, r, l, q));
                }
                q += l;
            }
            b'D' => {
                if c.len >= p.min_piece {
                    scratch.pieces.push((SvKind::Del, r, l, q));
                }
                r += l;
            }
            b'N' => r += l,
            b'S' => q += l,
            _ => {}
        }
    }
    for kind in [SvKind::Del, SvKind::Ins] {
        let mut i = 0;
        let pieces = &scratch.pieces;
        while i < pieces.len() {
            if pieces[i].0 != kind {
                i += 1;
                continue;
            }
            let (_, start, l0, q0) = pieces[i];
            let mut total = l0;
            let mut ref_end = if kind == SvKind::Del {
                start + l0
            } else {
                start
            };
            let mut parts = vec![(q0, l0)];
            let mut j = i + 1;
            while j < pieces.len() {
                let (k, s, l, qq) = pieces[j];
                if k != kind {
                    j += 1;
                    continue;
                }
                // Pieces of one event on a noisy read lie close together; the allowed gap
                // grows with the event so that long, fragmented events stay whole.
                let gap = s - ref_end;
                if gap > (total.max(l) / 2).clamp(50, 500) {
                    break;
                }
                total += l;
                ref_end = if kind == SvKind::Del { s + l } else { s };
                parts.push((qq, l));
                j += 1;
            }
            if total >= p.min_svlen * 6 / 10 {
                let mut s = Sig::new(kind, start, total, read, sample, Source::Cigar);
                if kind == SvKind::Ins {
                    if !seq_loaded {
                        rec.seq_into(&mut scratch.seq);
                        seq_loaded = true;
                    }
                    if !scratch.seq.is_empty() {
                        for (qq, l) in parts {
                            let (a, b) = (qq as usize, (qq + l) as usize);
                            if b <= scratch.seq.len() {
                                s.seq.extend_from_slice(&scratch.seq[a..b]);
                            }
                        }
                    }
                }
                ev.sigs.push(s);
            }
            // The pieces of this kind before `j` were joined into this event.
            i = j;
        }
    }

    // --- Split alignments.
    let self_piece = piece_from(None, pos, reverse, ops, rec.mapq());
    let read_len = left + qalen + right;
    let mut split_done = false;
    if let Some(sa) = rec.aux_str(*b"SA") {
        let Some(mut others) = parse_sa(sa, tid_of) else {
            return Err(SaProblem);
        };
        split_done = true;
        let this_tid = rec.ref_id() as u32;
        let mut me = self_piece.clone();
        me.tid = Some(this_tid);
        others.push(me.clone());
        others.sort_by_key(|a| (a.qs, a.qe));
        let Some(mi) = others.iter().position(|x| *x == me) else {
            return Ok(());
        };
        for (ai, bi) in [(mi.wrapping_sub(1), mi), (mi, mi + 1)] {
            let (Some(a), Some(b)) = (others.get(ai), others.get(bi)) else {
                continue;
            };
            if a.mapq < p.min_mapq || b.mapq < p.min_mapq {
                continue;
            }
            let self_first = ai == mi;
            let (Some(ta), Some(tb)) = (a.tid, b.tid) else {
                continue;
            };
            if ta == tb {
                // Reported once, by the read's earlier piece.
                if self_first {
                    split_pair(a, b, read, sample, p, ev, |qa, qb| {
                        insert_seq(
                            rec,
                            &mut scratch.seq,
                            &mut seq_loaded,
                            reverse,
                            hard_left,
                            read_len,
                            qa,
                            qb,
                        )
                    });
                }
            } else {
                // Each side of a junction between contigs is reported by its own contig.
                let (local, remote) = if self_first { (a, b) } else { (b, a) };
                // The local piece ends at the junction when it comes first in the read (and
                // is forward), so it extends to the left of its breakend.
                let local_right = self_first == local.reverse;
                let lpos = if local_right {
                    local.rstart
                } else {
                    local.rend - 1
                };
                let remote_right = self_first != remote.reverse;
                let rpos = if remote_right {
                    remote.rstart
                } else {
                    remote.rend - 1
                };
                let mut s = Sig::new(SvKind::Bnd, lpos, 0, read, sample, Source::Split);
                s.mate_tid = if self_first { tb } else { ta };
                s.mate_pos = rpos;
                s.local_right = local_right;
                s.mate_right = remote_right;
                ev.sigs.push(s);
            }
        }
    }

    // --- Long soft clips without a split alignment: an insertion longer than the read's
    // aligned part (or sequence the aligner could not place).
    if !split_done && flag & FLAG_SUPPLEMENTARY == 0 {
        let first = ops.first().copied();
        let last = ops.last().copied();
        if let Some(c) = last.filter(|c| c.op == b'S' && c.len >= p.min_clip) {
            let mut s = Sig::new(SvKind::Ins, end, c.len as i64, read, sample, Source::Clip);
            if !seq_loaded {
                rec.seq_into(&mut scratch.seq);
                seq_loaded = true;
            }
            let n = scratch.seq.len();
            if n >= c.len as usize {
                s.seq.extend_from_slice(&scratch.seq[n - c.len as usize..]);
            }
            // Left end of the clip is the breakpoint: the clip continues to the right.
            s.local_right = false;
            ev.sigs.push(s);
        }
        if let Some(c) = first.filter(|c| c.op == b'S' && c.len >= p.min_clip) {
            let mut s = Sig::new(SvKind::Ins, pos, c.len as i64, read, sample, Source::Clip);
            if !seq_loaded {
                rec.seq_into(&mut scratch.seq);
            }
            if scratch.seq.len() >= c.len as usize {
                s.seq.extend_from_slice(&scratch.seq[..c.len as usize]);
            }
            s.local_right = true;
            ev.sigs.push(s);
        }
    }
    Ok(())
}

/// A record's `SA` tag could not be parsed.
#[derive(Debug)]
pub struct SaProblem;

/// Reusable buffers for [`extract`].
#[derive(Default)]
pub struct Scratch {
    ops: Vec<CigarOp>,
    seq: Vec<u8>,
    pieces: Vec<(SvKind, i64, i64, i64)>,
}

/// The read's bases between original-read offsets `[qa, qb)` in reference-forward orientation,
/// when this record stores them.
#[allow(clippy::too_many_arguments)]
fn insert_seq<A: Alignment>(
    rec: &A,
    seq: &mut Vec<u8>,
    loaded: &mut bool,
    reverse: bool,
    hard_left: i64,
    read_len: i64,
    qa: i64,
    qb: i64,
) -> Vec<u8> {
    if qb <= qa {
        return Vec::new();
    }
    if !*loaded {
        rec.seq_into(seq);
        *loaded = true;
    }
    // Offsets in the stored (reference-oriented) sequence.
    let (sa, sb) = if reverse {
        (read_len - qb, read_len - qa)
    } else {
        (qa, qb)
    };
    let (sa, sb) = (sa - hard_left, sb - hard_left);
    if sa < 0 || sb as usize > seq.len() {
        return Vec::new();
    }
    // Stored bases are already in reference orientation (reverse-complemented by the
    // aligner for reverse reads), which is how the insertion is reported.
    seq[sa as usize..sb as usize].to_vec()
}

/// Classifies two consecutive pieces of one read on one contig.
fn split_pair(
    a: &Piece,
    b: &Piece,
    read: u64,
    sample: u16,
    p: &SigParams,
    ev: &mut ContigEvidence,
    mut ins_seq: impl FnMut(i64, i64) -> Vec<u8>,
) {
    if a.reverse == b.reverse {
        // On the reverse strand the read runs right to left: swap to read it forward.
        let (x, y) = if a.reverse { (b, a) } else { (a, b) };
        let d = y.rstart - x.rend; // reference gap
        let g = b.qs - a.qe; // query gap (read order)
        if d - g >= p.min_svlen && d > -p.min_svlen {
            ev.sigs.push(Sig::new(
                SvKind::Del,
                x.rend,
                d - g.max(0),
                read,
                sample,
                Source::Split,
            ));
        } else if g - d >= p.min_svlen && d > -p.min_svlen {
            let mut s = Sig::new(
                SvKind::Ins,
                x.rend,
                g - d.max(0),
                read,
                sample,
                Source::Split,
            );
            if d.abs() < 20 {
                s.seq = ins_seq(a.qe, b.qs);
            }
            ev.sigs.push(s);
        } else if d <= -p.min_svlen {
            // The second piece starts before the first ends: a tandem duplication of
            // [y.rstart, x.rend).
            let len = x.rend - y.rstart + g.max(0);
            if y.rend > x.rstart {
                ev.sigs.push(Sig::new(
                    SvKind::Dup,
                    y.rstart,
                    len,
                    read,
                    sample,
                    Source::Split,
                ));
            }
        }
    } else {
        let (b1, b2) = if a.reverse {
            (a.rstart, b.rstart)
        } else {
            (a.rend, b.rend)
        };
        let (s, e) = (b1.min(b2), b1.max(b2));
        if e - s >= p.min_svlen {
            ev.sigs
                .push(Sig::new(SvKind::Inv, s, e - s, read, sample, Source::Split));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sa_parsing_rejects_garbage() {
        let tid = |n: &[u8]| if n == b"chr1" { Some(0) } else { None };
        let v = parse_sa(b"chr1,101,-,50S100M,60,3;", &tid).unwrap();
        assert_eq!(v.len(), 1);
        assert_eq!(
            (v[0].rstart, v[0].rend, v[0].qs, v[0].qe),
            (100, 200, 0, 100)
        );
        assert!(parse_sa(b"chr1,abc,+,10M,60,0;", &tid).is_none());
        assert!(parse_sa(b"chr1,5,+,10Q,60,0;", &tid).is_none());
        assert!(parse_sa(b"chr1,5,+", &tid).is_none());
    }
}
