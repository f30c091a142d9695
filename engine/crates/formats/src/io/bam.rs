//! BAM: header and a lazily decoded record view (only the fields a stage touches are read).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::io::bgzf::{BgzfStream, ByteCursor};
use crate::io::{Alignment, AuxValue, CigarOp, Header, Reference, SEQ_NT16};

pub const FLAG_PAIRED: u16 = 0x1;
pub const FLAG_PROPER_PAIR: u16 = 0x2;
pub const FLAG_UNMAPPED: u16 = 0x4;
pub const FLAG_READ2: u16 = 0x80;
pub const FLAG_SECONDARY: u16 = 0x100;
pub const FLAG_QCFAIL: u16 = 0x200;
pub const FLAG_DUP: u16 = 0x400;
pub const FLAG_SUPPLEMENTARY: u16 = 0x800;

/// The two bases of each packed byte, high nibble first.
static SEQ_PAIRS: [[u8; 2]; 256] = {
    let mut t = [[0u8; 2]; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = [SEQ_NT16[i >> 4], SEQ_NT16[i & 0xf]];
        i += 1;
    }
    t
};

// Record and header lengths are 32-bit values added up in `usize`: with 64 bits no sum of a
// few of them can wrap, so bounds checks stay plain comparisons.
const _: () = assert!(usize::BITS >= 64, "kasane needs a 64-bit target");

/// A BAM record borrowed from the decompressed stream (the bytes after `block_size`).
#[derive(Clone, Copy)]
pub struct BamRecord<'a> {
    data: &'a [u8],
    cigar_start: usize,
    n_cigar: usize,
    aux_start: usize,
}

#[inline]
fn le_i32(b: &[u8], at: usize) -> i32 {
    i32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
#[inline]
fn le_u16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
#[inline]
fn le_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Why a record was refused; turned into a message only when it happens, so the decoder's
/// hot path carries no strings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Defect {
    /// The fixed fields, name, CIGAR and sequence do not fit the record's length.
    Inconsistent,
    /// A position below -1 (`pos` or, with `mate`, the mate's).
    BadPos { mate: bool, pos: i32 },
    /// A CIGAR operation code outside `MIDNSHP=X` (0 to 8).
    BadOp(u8),
    /// The query bases the CIGAR consumes differ from the stored sequence's length.
    QueryLength { cigar: u64, seq: usize },
    /// The alignment ends past the last position a BAM file can express (2^31 - 1).
    EndOverflow { end: i64 },
}

impl Defect {
    fn describe(self) -> String {
        match self {
            Defect::Inconsistent => "record fields are inconsistent with its length".into(),
            Defect::BadPos { mate, pos } => format!(
                "{} position {pos} is invalid (must be -1 or more)",
                if mate { "mate" } else { "its" }
            ),
            Defect::BadOp(c) => format!("CIGAR operation code {c} is not defined (0-8 are)"),
            Defect::QueryLength { cigar, seq } => {
                format!("CIGAR covers {cigar} bases but the sequence has {seq}")
            }
            Defect::EndOverflow { end } => {
                format!("alignment ends at {end}, past the largest BAM position (2^31 - 1)")
            }
        }
    }
}

/// Per BAM operation code: bit 0 consumes the query, bit 1 the reference (htslib's
/// `BAM_CIGAR_TYPE`); codes 9 to 15 are undefined and refused.
const OP_TYPE: [u8; 16] = [3, 1, 2, 2, 1, 0, 0, 3, 3, 0, 0, 0, 0, 0, 0, 0];

impl<'a> BamRecord<'a> {
    /// Checks the fixed fields against the record length; a record that fails is corrupt.
    pub fn parse(data: &'a [u8]) -> Option<Self> {
        Self::decode(data).ok()
    }

    /// Decodes and checks a record as htslib's `bam_read1` does (lengths, CIGAR against the
    /// sequence), and also its positions, operation codes and end; the contig numbers are
    /// checked by [`BamReader`], which knows the header.
    #[inline]
    pub fn decode(data: &'a [u8]) -> Result<Self, Defect> {
        if data.len() < 32 {
            return Err(Defect::Inconsistent);
        }
        let l_read_name = data[8] as usize;
        let n_cigar = le_u16(data, 12) as usize;
        let l_seq = le_i32(data, 16);
        if l_read_name == 0 || l_seq < 0 {
            return Err(Defect::Inconsistent);
        }
        let l_seq = l_seq as usize;
        let cigar_start = 32 + l_read_name;
        // usize is 64 bits here (see lib.rs), so these sums of 32-bit lengths cannot wrap.
        let aux_start = cigar_start + 4 * n_cigar + l_seq.div_ceil(2) + l_seq;
        if aux_start > data.len() || data[cigar_start - 1] != 0 {
            return Err(Defect::Inconsistent);
        }
        let (pos, mpos) = (le_i32(data, 4), le_i32(data, 24));
        if pos < -1 || mpos < -1 {
            return Err(Defect::BadPos {
                mate: pos >= -1,
                pos: if pos < -1 { pos } else { mpos },
            });
        }
        let mut rec = BamRecord {
            data,
            cigar_start,
            n_cigar,
            aux_start,
        };
        // Resolve a CIGAR stored in the CG tag once, so every later walk reads it directly.
        if let Some((start, n)) = rec.long_cigar() {
            rec.cigar_start = start;
            rec.n_cigar = n;
        }
        rec.check_cigar(pos, l_seq)?;
        Ok(rec)
    }

    /// One pass over the CIGAR: defined codes only, query length equal to the sequence's
    /// (htslib's rule: mapped reads with a sequence), and an end a BAM position can hold.
    #[inline]
    fn check_cigar(&self, pos: i32, l_seq: usize) -> Result<(), Defect> {
        let cig = &self.data[self.cigar_start..self.cigar_start + 4 * self.n_cigar];
        let (mut qlen, mut rlen, mut worst) = (0u64, 0u64, 0u32);
        for op in cig.chunks_exact(4) {
            let v = u32::from_le_bytes([op[0], op[1], op[2], op[3]]);
            let code = v & 0xf;
            let ty = OP_TYPE[code as usize] as u64;
            let len = (v >> 4) as u64;
            qlen += len * (ty & 1);
            rlen += len * (ty >> 1);
            worst = worst.max(code);
        }
        if worst > 8 {
            let bad = cig
                .chunks_exact(4)
                .map(|op| op[0] & 0xf)
                .find(|&c| c > 8)
                .unwrap_or(worst as u8);
            return Err(Defect::BadOp(bad));
        }
        let mapped = le_u16(self.data, 14) & FLAG_UNMAPPED == 0;
        if mapped && l_seq > 0 && self.n_cigar > 0 && qlen != l_seq as u64 {
            return Err(Defect::QueryLength {
                cigar: qlen,
                seq: l_seq,
            });
        }
        let end = pos as i64 + rlen as i64;
        if end > i32::MAX as i64 {
            return Err(Defect::EndOverflow { end });
        }
        Ok(())
    }

    /// Offset of the packed sequence: after the read name and the in-record CIGAR (which may
    /// be a CG-tag placeholder, so `cigar_start` cannot be used).
    #[inline]
    fn seq_start(&self) -> usize {
        32 + self.data[8] as usize + 4 * le_u16(self.data, 12) as usize
    }

    #[inline]
    pub fn l_seq(&self) -> usize {
        le_i32(self.data, 16) as usize
    }

    fn raw_cigar(&self) -> impl Iterator<Item = CigarOp> + 'a {
        let d = self.data;
        let s = self.cigar_start;
        (0..self.n_cigar).map(move |i| CigarOp::from_bam(le_u32(d, s + 4 * i)))
    }

    /// A CIGAR too long for the record (over 65535 ops) is stored in the `CG:B,I` tag with a
    /// placeholder `<l_seq>S<ref_len>N` in the record; this returns the real one's location.
    fn long_cigar(&self) -> Option<(usize, usize)> {
        if self.n_cigar != 2 {
            return None;
        }
        let mut ops = self.raw_cigar();
        let (a, b) = (ops.next()?, ops.next()?);
        if a.op != b'S' || a.len as usize != self.l_seq() || b.op != b'N' {
            return None;
        }
        let mut aux = AuxIter {
            data: &self.data[self.aux_start..],
        };
        while let Some((tag, ty, val)) = aux.next_field() {
            if &tag == b"CG" && ty == b'B' && val.len() >= 5 && val[0] == b'I' {
                let n = le_u32(val, 1) as usize;
                let start = self.data.len() - aux.data.len() - val.len() + 5;
                if start + 4 * n <= self.data.len() {
                    return Some((start, n));
                }
            }
        }
        None
    }

    fn aux_string(&self, want: &[u8; 2]) -> Option<&'a [u8]> {
        let mut aux = AuxIter {
            data: &self.data[self.aux_start..],
        };
        while let Some((tag, ty, val)) = aux.next_field() {
            if &tag == want && ty == b'Z' {
                return Some(&val[..val.len().saturating_sub(1)]);
            }
        }
        None
    }
}

impl Alignment for BamRecord<'_> {
    #[inline]
    fn ref_id(&self) -> i32 {
        le_i32(self.data, 0)
    }
    #[inline]
    fn pos(&self) -> i64 {
        le_i32(self.data, 4) as i64
    }
    #[inline]
    fn mapq(&self) -> u8 {
        self.data[9]
    }
    #[inline]
    fn flag(&self) -> u16 {
        le_u16(self.data, 14)
    }
    #[inline]
    fn next_ref_id(&self) -> i32 {
        le_i32(self.data, 20)
    }
    #[inline]
    fn next_pos(&self) -> i64 {
        le_i32(self.data, 24) as i64
    }
    #[inline]
    fn template_length(&self) -> i64 {
        le_i32(self.data, 28) as i64
    }
    #[inline]
    fn read_name(&self) -> &[u8] {
        &self.data[32..32 + self.data[8] as usize - 1]
    }
    #[inline]
    fn n_cigar(&self) -> usize {
        self.n_cigar
    }
    #[inline]
    fn for_each_cigar(&self, mut f: impl FnMut(CigarOp)) {
        for op in self.raw_cigar() {
            f(op);
        }
    }
    fn read_group(&self) -> Option<&[u8]> {
        self.aux_string(b"RG")
    }
    #[inline]
    fn seq_len(&self) -> usize {
        self.l_seq()
    }
    fn seq_into(&self, out: &mut Vec<u8>) {
        let n = self.l_seq();
        // The sequence follows the CIGAR stored in the record itself (not a CG-tag CIGAR).
        let start = self.seq_start();
        let packed = &self.data[start..start + n.div_ceil(2)];
        // Two bases a byte through a table of pairs into room made at once (a push per base,
        // with its capacity check, was 6 % of qc).
        let old = out.len();
        out.resize(old + n, 0);
        let dst = &mut out[old..];
        let mut pairs = dst.chunks_exact_mut(2);
        for (d, &b) in (&mut pairs).zip(packed) {
            d.copy_from_slice(&SEQ_PAIRS[b as usize]);
        }
        if let [last] = pairs.into_remainder() {
            *last = SEQ_NT16[(packed[n / 2] >> 4) as usize];
        }
    }
    fn bam_bytes(&self) -> Option<&[u8]> {
        Some(self.data)
    }
    fn packed_seq(&self) -> Option<&[u8]> {
        let n = self.l_seq();
        let start = self.seq_start();
        Some(&self.data[start..start + n.div_ceil(2)])
    }
    fn qual_into(&self, out: &mut Vec<u8>) {
        let n = self.l_seq();
        let start = self.seq_start() + n.div_ceil(2);
        out.extend_from_slice(&self.data[start..start + n]);
    }
    fn aux(&self, tag: [u8; 2]) -> Option<AuxValue<'_>> {
        let mut aux = AuxIter {
            data: &self.data[self.aux_start..],
        };
        while let Some((t, ty, val)) = aux.next_field() {
            if t == tag {
                return Some(match ty {
                    b'A' => AuxValue::Char(val[0]),
                    b'c' => AuxValue::Int(val[0] as i8 as i64),
                    b'C' => AuxValue::Int(val[0] as i64),
                    b's' => AuxValue::Int(i16::from_le_bytes([val[0], val[1]]) as i64),
                    b'S' => AuxValue::Int(le_u16(val, 0) as i64),
                    b'i' => AuxValue::Int(le_i32(val, 0) as i64),
                    b'I' => AuxValue::Int(le_u32(val, 0) as i64),
                    b'f' => AuxValue::Float(f32::from_le_bytes([val[0], val[1], val[2], val[3]])),
                    b'Z' | b'H' => AuxValue::Str(&val[..val.len().saturating_sub(1)]),
                    _ => AuxValue::Array,
                });
            }
        }
        None
    }
}

struct AuxIter<'a> {
    data: &'a [u8],
}

impl<'a> AuxIter<'a> {
    /// (tag, type, value bytes); stops quietly at malformed data.
    fn next_field(&mut self) -> Option<([u8; 2], u8, &'a [u8])> {
        let d = self.data;
        if d.len() < 3 {
            return None;
        }
        let tag = [d[0], d[1]];
        let ty = d[2];
        let body = &d[3..];
        let len = match ty {
            b'A' | b'c' | b'C' => 1,
            b's' | b'S' => 2,
            b'i' | b'I' | b'f' => 4,
            b'Z' | b'H' => memchr::memchr(0, body)? + 1,
            b'B' => {
                if body.len() < 5 {
                    return None;
                }
                let sz = match body[0] {
                    b'c' | b'C' => 1,
                    b's' | b'S' => 2,
                    b'i' | b'I' | b'f' => 4,
                    _ => return None,
                };
                5 + sz * le_u32(body, 1) as usize
            }
            _ => return None,
        };
        if len > body.len() {
            return None;
        }
        self.data = &body[len..];
        Some((tag, ty, &body[..len]))
    }
}

/// Reads the BAM header from the start of the decompressed stream.
pub fn read_header(cur: &mut ByteCursor) -> Result<Header> {
    let path = cur.path().to_path_buf();
    let bad = |m: &str| Error::format(&path, m.to_string());
    let magic = cur.read_vec(4)?;
    if magic != b"BAM\x01" {
        return Err(bad("not a BAM file (bad magic)"));
    }
    let l_text = i32::from_le_bytes(cur.read_vec(4)?.try_into().unwrap_or_default());
    if l_text < 0 {
        return Err(bad("corrupt header (negative text length)"));
    }
    // Lengths and counts are not trusted for allocation: the text is gathered only as the
    // stream delivers it, and the references are read one by one (each takes at least nine
    // bytes), so a wrong length ends in an error at the end of the data, not an abort.
    let text = cur.read_vec(l_text as usize)?;
    let n_ref = i32::from_le_bytes(cur.read_vec(4)?.try_into().unwrap_or_default());
    if n_ref < 0 {
        return Err(bad("corrupt header (negative reference count)"));
    }
    let mut refs = Vec::with_capacity((n_ref as usize).min(1 << 12));
    for _ in 0..n_ref {
        let l_name = i32::from_le_bytes(cur.read_vec(4)?.try_into().unwrap_or_default());
        if !(1..=(1 << 20)).contains(&l_name) {
            return Err(bad("corrupt header (bad reference name length)"));
        }
        let mut name = cur.read_vec(l_name as usize)?;
        if name.pop() != Some(0) {
            return Err(bad("corrupt header (reference name not NUL-terminated)"));
        }
        // SAM names are printable; a NUL or line break inside one means a wrong length.
        if name.iter().any(|&b| b < 0x20 || b == 0x7f) {
            return Err(bad(
                "corrupt header (control characters in a reference name)",
            ));
        }
        let len = i32::from_le_bytes(cur.read_vec(4)?.try_into().unwrap_or_default());
        if len < 0 {
            return Err(bad("corrupt header (negative reference length)"));
        }
        refs.push(Reference {
            name: utf8(name),
            len: len as u64,
        });
    }
    Ok(Header::new(utf8(text), refs))
}

/// Header text as a string: valid UTF-8 (nearly always) is kept without a copy.
fn utf8(v: Vec<u8>) -> String {
    String::from_utf8(v).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// A file cut at a block boundary is only recognisable by its missing end-of-file block; this
/// is checked up front because reading may stop before the end (unplaced reads, `-c`).
pub fn check_eof_marker(path: &Path) -> Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let len = f.seek(SeekFrom::End(0)).map_err(|e| Error::io(path, e))?;
    let mut tail = [0u8; 28];
    if len >= 28 {
        f.seek(SeekFrom::End(-28)).map_err(|e| Error::io(path, e))?;
        f.read_exact(&mut tail).map_err(|e| Error::io(path, e))?;
    }
    if tail != crate::io::bgzf::EOF_BLOCK {
        return Err(Error::bgzf(
            path,
            "file is truncated: the BGZF end-of-file marker is missing",
        ));
    }
    Ok(())
}

/// Streams BAM records in file order.
pub struct BamReader {
    cur: ByteCursor,
    path: PathBuf,
    pub header: std::sync::Arc<Header>,
    /// Records read so far (for error messages).
    n_records: u64,
    consume_next: usize,
}

impl BamReader {
    pub fn open(path: &Path, pool: Arc<rayon::ThreadPool>) -> Result<Self> {
        check_eof_marker(path)?;
        let stream = BgzfStream::open(path, 0, pool)?;
        let mut cur = ByteCursor::new(stream, path.to_path_buf());
        let header = read_header(&mut cur)?;
        Ok(BamReader {
            cur,
            path: path.to_path_buf(),
            header: std::sync::Arc::new(header),
            n_records: 0,
            consume_next: 0,
        })
    }

    /// Goes on reading at virtual offset `voffset` (from an index); the header is kept.
    pub fn seek(&mut self, voffset: u64, pool: Arc<rayon::ThreadPool>) -> Result<()> {
        // A record decoded but not yet consumed (the one that ended the last contig) still
        // lies at the cursor, so a seek to it is a seek ahead.
        self.consume_next = 0;
        if self
            .cur
            .seek_ahead(voffset >> 16, (voffset & 0xffff) as usize)?
        {
            return Ok(());
        }
        let stream = BgzfStream::open(&self.path, voffset >> 16, pool)?;
        let mut cur = ByteCursor::new(stream, self.path.clone());
        cur.skip((voffset & 0xffff) as usize)?;
        self.cur = cur;
        self.consume_next = 0;
        Ok(())
    }

    /// The next record, or `None` at the end of the file.
    #[inline]
    pub fn next_record(&mut self) -> Result<Option<BamRecord<'_>>> {
        self.cur.consume(std::mem::take(&mut self.consume_next));
        // The cursor's own "ends part way" error lacks the record number: say it here.
        const CUT: &str = "file ends in the middle of a record (truncated)";
        match self.cur.ensure(4) {
            Ok(true) => {}
            Ok(false) => return Ok(None),
            Err(Error::Format { .. }) => return Err(self.corrupt(CUT)),
            Err(e) => return Err(e),
        }
        let bs = i32::from_le_bytes(self.cur.peek(4).try_into().unwrap_or_default());
        if !(32..=(1 << 28)).contains(&bs) {
            return Err(self.corrupt("impossible record length"));
        }
        let n = 4 + bs as usize;
        match self.cur.ensure(n) {
            Ok(true) => {}
            Ok(false) | Err(Error::Format { .. }) => return Err(self.corrupt(CUT)),
            Err(e) => return Err(e),
        }
        self.n_records += 1;
        // Consumed lazily at the next call so the record can borrow the cursor's bytes.
        self.consume_next = n;
        let data = &self.cur.peek(n)[4..];
        let rec = match BamRecord::decode(data) {
            Ok(r) => r,
            Err(d) => {
                // The name is only trusted once the length checks passed.
                let name = (d != Defect::Inconsistent).then(|| display_name(data));
                return Err(bad_record(&self.path, self.n_records, name, &d.describe()));
            }
        };
        // htslib refuses these too ("Numerical result out of range"): -1 means none.
        let n_ref = self.header.refs.len();
        for (what, id) in [("it", rec.ref_id()), ("its mate", rec.next_ref_id())] {
            if id < -1 || id as i64 >= n_ref as i64 {
                return Err(bad_record(
                    &self.path,
                    self.n_records,
                    Some(display_name(data)),
                    &format!(
                        "{what} refers to contig #{id}, but the header lists {n_ref} \
                         (numbered from 0; -1 for none)"
                    ),
                ));
            }
        }
        Ok(Some(rec))
    }

    fn corrupt(&self, what: &str) -> Error {
        bad_record(&self.path, self.n_records + 1, None, what)
    }
}

/// The read name for a message: printable, and short enough for one line.
fn display_name(data: &[u8]) -> String {
    let name = &data[32..32 + data[8] as usize - 1];
    let s: String = name
        .iter()
        .take(64)
        .map(|&b| if b.is_ascii_graphic() { b as char } else { '?' })
        .collect();
    if name.len() > 64 {
        s + "..."
    } else {
        s
    }
}

fn bad_record(path: &Path, n: u64, name: Option<String>, what: &str) -> Error {
    let name = name.map_or(String::new(), |s| format!(" ({s})"));
    Error::format(path, format!("corrupt BAM record #{n}{name}: {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An unmapped record holding `codes` (4-bit) as its sequence, qualities all 30.
    fn record(codes: &[u8]) -> Vec<u8> {
        let mut d = vec![0u8; 32];
        d[0..4].copy_from_slice(&(-1i32).to_le_bytes());
        d[4..8].copy_from_slice(&(-1i32).to_le_bytes());
        d[8] = 2; // "r\0"
        d[14..16].copy_from_slice(&FLAG_UNMAPPED.to_le_bytes());
        d[16..20].copy_from_slice(&(codes.len() as i32).to_le_bytes());
        d[20..24].copy_from_slice(&(-1i32).to_le_bytes());
        d[24..28].copy_from_slice(&(-1i32).to_le_bytes());
        d.extend_from_slice(b"r\0");
        for pair in codes.chunks(2) {
            d.push(pair[0] << 4 | pair.get(1).copied().unwrap_or(0));
        }
        d.extend(std::iter::repeat_n(30u8, codes.len()));
        d
    }

    #[test]
    fn sequence_decodes_every_code_at_odd_and_even_lengths() {
        for len in [0usize, 1, 2, 15, 16, 17, 151] {
            let codes: Vec<u8> = (0..len).map(|i| ((i * 7 + len) % 16) as u8).collect();
            let data = record(&codes);
            let rec = BamRecord::decode(&data).expect("a valid record");
            let mut out = b"kept".to_vec();
            rec.seq_into(&mut out);
            let want: Vec<u8> = b"kept"
                .iter()
                .copied()
                .chain(codes.iter().map(|&c| SEQ_NT16[c as usize]))
                .collect();
            assert_eq!(out, want, "length {len}");
        }
    }
}
