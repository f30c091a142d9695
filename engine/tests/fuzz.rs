//! Hostile input: a seeded, deterministic mutation loop per parser. Each iteration writes a
//! mutated copy of a test file into a fresh folder, runs the real `kasane` binary on it, and
//! requires a clean exit (0) or a clean failure (1 with one `kasane: error:` line and nothing
//! left under the output folder): never a signal, an abort, a panic, a hang or a stray file.
//!
//! `KASANE_FUZZ_ITERS` (default 150) sets the iterations per target, `KASANE_FUZZ_SEED`
//! (default 14) the seed. A failing input is saved under `target/fuzz-failures/` with a
//! `cmd.sh` that replays it.

mod common;

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::os::unix::process::{CommandExt as _, ExitStatusExt as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{repo, write_bam, Rec, Rng};

/// A run longer than this is a hang (every input here takes well under a second).
const TIMEOUT: Duration = Duration::from_secs(20);
/// Address-space limit of each run: a length field read from the input must not turn into an
/// allocation of gigabytes (an allocation failure aborts) or exhaust the shared CI machine.
const MEMORY_LIMIT: u64 = 2 << 30;
/// Distinct failures kept with their inputs per target (more would only repeat them).
const SAVED_PER_KIND: usize = 2;

fn iterations() -> u64 {
    std::env::var("KASANE_FUZZ_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(150)
}

fn seed() -> u64 {
    std::env::var("KASANE_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(14)
}

/// The generator of one (target, iteration): each iteration can be replayed alone, and adding
/// iterations never changes the earlier ones.
fn rng_for(target: &str, iter: u64) -> Rng {
    let mut h = seed() ^ 0x9e37_79b9_7f4a_7c15;
    for b in target.bytes().chain(iter.to_le_bytes()) {
        h = (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3);
    }
    let mut r = Rng(h | 1);
    // xorshift's first outputs from nearby states are alike: stir before use.
    for _ in 0..8 {
        r.next();
    }
    r
}

fn testdata(name: &str) -> PathBuf {
    repo().join("testdata").join(name)
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

// ---------------------------------------------------------------------------------------------
// Mutations

/// Boundary values of a 32-bit little-endian field.
const BOUNDARY32: [u32; 12] = [
    0,
    1,
    2,
    0xffff_ffff, // -1
    0xffff_fffe, // -2
    0x7fff_ffff,
    0x8000_0000,
    0x7fff_fffe,
    0xffff,
    0x1_0000,
    0x1000_0000,
    0x00ff_ffff,
];

fn boundary32(r: &mut Rng) -> u32 {
    if r.below(4) == 0 {
        // Small, plausible-looking values that still disagree with the data around them.
        r.below(300) as u32
    } else {
        BOUNDARY32[r.below(BOUNDARY32.len() as u64) as usize]
    }
}

fn put32(d: &mut [u8], at: usize, v: u32) {
    if at + 4 <= d.len() {
        d[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }
}

/// One generic mutation anywhere in `d[lo..hi)`; returns a description.
fn mutate_bytes(d: &mut Vec<u8>, lo: usize, hi: usize, r: &mut Rng) -> String {
    let hi = hi.min(d.len());
    if lo >= hi {
        return "none".into();
    }
    let at = lo + r.below((hi - lo) as u64) as usize;
    match r.below(8) {
        0 => {
            let bit = r.below(8);
            d[at] ^= 1 << bit;
            format!("flip bit {bit} at {at}")
        }
        1 => {
            let v = [0u8, 0xff, 0x7f, 0x80][r.below(4) as usize];
            d[at] = v;
            format!("byte {at} = {v:#x}")
        }
        2 | 3 => {
            let v = boundary32(r);
            put32(d, at, v);
            format!("u32 at {at} = {v:#x}")
        }
        4 => {
            let n = 1 + r.below(64.min((hi - at) as u64)) as usize;
            d.drain(at..at + n);
            format!("delete {n} bytes at {at}")
        }
        5 => {
            let n = 1 + r.below(64.min((hi - at) as u64)) as usize;
            let chunk = d[at..at + n].to_vec();
            d.splice(at..at, chunk);
            format!("duplicate {n} bytes at {at}")
        }
        6 => {
            d.truncate(at);
            format!("truncate at {at}")
        }
        _ => {
            let v = r.next() as u8;
            d[at] = v;
            format!("byte {at} = {v:#x}")
        }
    }
}

/// Text mutations for line-based formats (BED, .fai, TOML): numbers replaced by boundary
/// values, lines dropped or repeated, separators changed, odd bytes inserted; else a byte one.
fn mutate_text(d: &mut Vec<u8>, r: &mut Rng) -> String {
    const NUMBERS: [&str; 16] = [
        "0",
        "-1",
        "-2",
        "1",
        "2147483647",
        "2147483648",
        "4294967295",
        "4294967296",
        "9223372036854775807",
        "18446744073709551616",
        "99999999999999999999999",
        "1e3",
        "0x10",
        "",
        "nan",
        "-0",
    ];
    let text = d.clone();
    // Digit runs (the numbers of the file) and line starts.
    let mut numbers = Vec::new();
    let mut i = 0;
    while i < text.len() {
        if text[i].is_ascii_digit() {
            let s = i;
            while i < text.len() && text[i].is_ascii_digit() {
                i += 1;
            }
            numbers.push((s, i));
        } else {
            i += 1;
        }
    }
    let lines: Vec<usize> = std::iter::once(0)
        .chain(memchr::memchr_iter(b'\n', &text).map(|p| p + 1))
        .filter(|&p| p < text.len())
        .collect();
    match r.below(10) {
        0..=3 if !numbers.is_empty() => {
            let (s, e) = numbers[r.below(numbers.len() as u64) as usize];
            let v = NUMBERS[r.below(NUMBERS.len() as u64) as usize];
            d.splice(s..e, v.bytes());
            format!("number at {s} = {v:?}")
        }
        4 if !lines.is_empty() => {
            let k = r.below(lines.len() as u64) as usize;
            let s = lines[k];
            let e = lines.get(k + 1).copied().unwrap_or(text.len());
            d.drain(s..e);
            format!("delete line {}", k + 1)
        }
        5 if !lines.is_empty() => {
            let k = r.below(lines.len() as u64) as usize;
            let s = lines[k];
            let e = lines.get(k + 1).copied().unwrap_or(text.len());
            let line = text[s..e].to_vec();
            d.splice(s..s, line);
            format!("repeat line {}", k + 1)
        }
        6 => {
            let seps: Vec<usize> = (0..text.len())
                .filter(|&p| matches!(text[p], b'\t' | b'\n' | b' ' | b'=' | b'"'))
                .collect();
            if seps.is_empty() {
                return mutate_bytes(d, 0, text.len(), r);
            }
            let p = seps[r.below(seps.len() as u64) as usize];
            let v: &[u8] =
                [&b"\t"[..], b"\n", b" ", b"\r\n", b"\t\t", b"", b"\""][r.below(7) as usize];
            d.splice(p..p + 1, v.iter().copied());
            format!("separator at {p} = {v:?}")
        }
        7 => {
            let p = r.below(text.len() as u64 + 1) as usize;
            let v: &[u8] = [
                &b"\xff\xfe"[..],
                b"\0",
                "é".as_bytes(),
                b"\xc3",
                b"[",
                b"]]",
                b"#",
                b"'''",
                b"-",
            ][r.below(9) as usize];
            d.splice(p..p, v.iter().copied());
            format!("insert {v:?} at {p}")
        }
        _ => mutate_bytes(d, 0, text.len(), r),
    }
}

// ---------------------------------------------------------------------------------------------
// BAM and BGZF structure

fn gunzip_bytes(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(b)
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// BGZF with noodles (not the reader under test), so the blocks and their CRCs are valid and
/// only the BAM bytes inside are wrong.
fn bgzf(raw: &[u8]) -> Vec<u8> {
    let mut w = noodles::bgzf::io::Writer::new(Vec::new());
    w.write_all(raw).unwrap();
    w.finish().unwrap()
}

/// Offsets of the header's length fields and of each record's fields in decompressed BAM.
struct BamLayout {
    text_end: usize,
    /// Offsets of 32-bit header fields: l_text, n_ref, each l_name and l_ref.
    header_fields: Vec<usize>,
    /// Offset of the first record.
    records_start: usize,
    /// Start offset of each record (its block_size field).
    records: Vec<usize>,
}

fn i32_at(d: &[u8], at: usize) -> i32 {
    i32::from_le_bytes(d[at..at + 4].try_into().unwrap())
}

fn get32(d: &[u8], at: usize) -> Option<i32> {
    Some(i32::from_le_bytes(d.get(at..at + 4)?.try_into().ok()?))
}

/// The layout of (possibly already mutated) decompressed BAM, as far as it is consistent;
/// None when the header itself no longer parses.
fn bam_layout(d: &[u8]) -> Option<BamLayout> {
    let len = |v: i32| usize::try_from(v).ok();
    let l_text = len(get32(d, 4)?)?;
    let mut fields = vec![4];
    let text_end = 8usize.checked_add(l_text)?;
    let n_ref = len(get32(d, text_end)?)?;
    fields.push(text_end);
    let mut p = text_end + 4;
    for _ in 0..n_ref {
        fields.push(p);
        p = p.checked_add(4 + len(get32(d, p)?)?)?;
        get32(d, p)?;
        fields.push(p);
        p += 4;
    }
    let records_start = p;
    let mut records = Vec::new();
    while let Some(bs) = get32(d, p).and_then(len) {
        // A record too short for its fixed fields, or running past the end, ends the list.
        if bs < 32 || p + 4 + bs > d.len() {
            break;
        }
        records.push(p);
        p += 4 + bs;
    }
    Some(BamLayout {
        text_end,
        header_fields: fields,
        records_start,
        records,
    })
}

/// Mutates the BAM header (magic, text, reference list) of decompressed BAM.
fn mutate_bam_header(d: &mut Vec<u8>, r: &mut Rng) -> String {
    let Some(l) = bam_layout(d) else {
        return mutate_bytes(d, 0, d.len(), r);
    };
    match r.below(5) {
        0 | 1 => {
            let at = l.header_fields[r.below(l.header_fields.len() as u64) as usize];
            let v = boundary32(r);
            put32(d, at, v);
            format!("header u32 at {at} = {v:#x}")
        }
        2 => {
            // The SAM text: @SQ lines, tabs, lengths.
            let mut text = d[8..l.text_end].to_vec();
            let what = mutate_text(&mut text, r);
            let mut out = d[..4].to_vec();
            out.extend_from_slice(&(text.len() as i32).to_le_bytes());
            out.extend_from_slice(&text);
            out.extend_from_slice(&d[l.text_end..]);
            *d = out;
            format!("header text: {what}")
        }
        3 => {
            let what = mutate_bytes(d, 0, l.records_start, r);
            format!("header bytes: {what}")
        }
        _ => {
            let at = r.below(l.records_start as u64) as usize;
            d.truncate(at);
            format!("truncate in header at {at}")
        }
    }
}

/// Mutates one alignment record (or the record stream) of decompressed BAM.
fn mutate_bam_record(d: &mut Vec<u8>, r: &mut Rng) -> String {
    let Some(l) = bam_layout(d).filter(|l| !l.records.is_empty()) else {
        return mutate_bytes(d, 0, d.len(), r);
    };
    // Early records more often: a failure then comes from the record, not a later one.
    let k = if r.below(2) == 0 {
        r.below(l.records.len().min(20) as u64) as usize
    } else {
        r.below(l.records.len() as u64) as usize
    };
    let s = l.records[k];
    let n_cigar = u16::from_le_bytes([d[s + 16], d[s + 17]]) as usize;
    let l_name = d[s + 12] as usize;
    let end = s + 4 + i32_at(d, s) as usize;
    let cigar_at = s + 36 + l_name;
    match r.below(9) {
        0 | 1 => {
            // block_size, refID, pos, l_seq, next_refID, next_pos, tlen.
            let off = [0, 4, 8, 20, 24, 28, 32][r.below(7) as usize];
            let v = boundary32(r);
            put32(d, s + off, v);
            format!("record {k} u32 +{off} = {v:#x}")
        }
        2 => {
            // bin, n_cigar_op, flag.
            let off = [14, 16, 18][r.below(3) as usize];
            let v = [0u16, 1, 0xffff, 0x8000, 0x7fff, 2, 100][r.below(7) as usize];
            d[s + off..s + off + 2].copy_from_slice(&v.to_le_bytes());
            format!("record {k} u16 +{off} = {v:#x}")
        }
        3 => {
            let v = [0u8, 1, 2, 0xff, 0x7f][r.below(5) as usize];
            d[s + 12] = v;
            format!("record {k} l_read_name = {v}")
        }
        4 if n_cigar > 0 => {
            let i = r.below(n_cigar as u64) as usize;
            let at = cigar_at + 4 * i;
            let old = get32(d, at).unwrap_or(0) as u32;
            let v = match r.below(4) {
                // An operation code past `=`/`X` (9..15 are undefined).
                0 => (old & !0xf) | (9 + r.below(7) as u32),
                // A huge length.
                1 => (0x0fff_ffff << 4) | (old & 0xf),
                // Zero length.
                2 => old & 0xf,
                _ => boundary32(r),
            };
            put32(d, at, v);
            format!("record {k} cigar[{i}] = {v:#x}")
        }
        5 => {
            let what = mutate_bytes(d, s, end, r);
            format!("record {k}: {what}")
        }
        6 => {
            // The tags at the end of the record.
            let l_seq = i32_at(d, s + 20).clamp(0, 1 << 20) as usize;
            let tags = cigar_at + 4 * n_cigar + l_seq.div_ceil(2) + l_seq;
            let what = mutate_bytes(d, tags.min(end), end, r);
            format!("record {k} tags: {what}")
        }
        7 => {
            let at = s + r.below((end - s) as u64) as usize;
            d.truncate(at);
            format!("truncate inside record {k} at {at}")
        }
        _ => {
            // A whole record dropped or repeated: order and mate fields disagree.
            let rec = d[s..end].to_vec();
            if r.below(2) == 0 {
                d.drain(s..end);
                format!("delete record {k}")
            } else {
                d.splice(s..s, rec);
                format!("repeat record {k}")
            }
        }
    }
}

/// Start offsets of the BGZF blocks of `d` (as far as they parse).
fn bgzf_blocks(d: &[u8]) -> Vec<usize> {
    let mut out = Vec::new();
    let mut p = 0;
    while p + 18 <= d.len() && d[p] == 0x1f && d[p + 1] == 0x8b {
        let end = p + u16::from_le_bytes([d[p + 16], d[p + 17]]) as usize + 1;
        if end > d.len() || end < p + 26 {
            break;
        }
        out.push(p);
        p = end;
    }
    out
}

fn mutate_bgzf(d: &mut Vec<u8>, r: &mut Rng) -> String {
    let blocks = bgzf_blocks(d);
    let k = if r.below(2) == 0 {
        r.below(blocks.len().min(4) as u64) as usize
    } else {
        r.below(blocks.len() as u64) as usize
    };
    let s = blocks[k];
    let end = s + u16::from_le_bytes([d[s + 16], d[s + 17]]) as usize + 1;
    match r.below(8) {
        0 | 1 => {
            // BSIZE: the block's length less one.
            let v = [0u16, 1, 17, 18, 25, 0xffff, 0x7fff, 0x8000][r.below(8) as usize];
            d[s + 16..s + 18].copy_from_slice(&v.to_le_bytes());
            format!("block {k} BSIZE = {v}")
        }
        2 => {
            // Magic, method, flags, XLEN, subfield id and length.
            let off = [0, 1, 2, 3, 10, 11, 12, 13, 14, 15][r.below(10) as usize];
            let v = [0u8, 0xff, 0x7f, 1][r.below(4) as usize];
            d[s + off] = v;
            format!("block {k} header byte +{off} = {v:#x}")
        }
        3 => {
            // CRC32 or ISIZE.
            let at = end - [8, 4][r.below(2) as usize];
            let v = boundary32(r);
            put32(d, at, v);
            format!("block {k} footer u32 at {at} = {v:#x}")
        }
        4 => {
            let what = mutate_bytes(d, s, end, r);
            format!("block {k}: {what}")
        }
        5 => {
            let at = s + r.below((end - s) as u64) as usize;
            d.truncate(at);
            format!("truncate in block {k} at {at}")
        }
        6 => {
            // Cut at a block boundary: whole blocks, no end-of-file marker.
            d.truncate(s);
            format!("truncate before block {k}")
        }
        _ => {
            let block = d[s..end].to_vec();
            if r.below(2) == 0 {
                d.drain(s..end);
                format!("delete block {k}")
            } else {
                d.splice(s..s, block);
                format!("repeat block {k}")
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// CRAM structure

/// An ITF8 integer at `p`: (value, bytes).
fn itf8(d: &[u8], p: usize) -> Option<(i64, usize)> {
    let b0 = *d.get(p)? as i64;
    let n = (b0 as u8).leading_ones().min(4) as usize;
    if n == 0 {
        return Some((b0, 1));
    }
    let mut v = b0 & (0xff >> (n + 1));
    for i in 1..=n {
        let b = *d.get(p + i)? as i64;
        // The fifth byte of a 5-byte ITF8 holds only 4 bits.
        v = if n == 4 && i == 4 {
            (v << 4) | (b & 0x0f)
        } else {
            (v << 8) | b
        };
    }
    Some((v, n + 1))
}

/// LTF8 length in bytes at `p`.
fn ltf8_len(d: &[u8], p: usize) -> Option<usize> {
    Some(((*d.get(p)?).leading_ones() as usize).min(8) + 1)
}

/// A container of a CRAM 3 file: where its header and its blocks are.
struct Container {
    start: usize,
    /// The header's end (after its CRC32).
    header_end: usize,
    end: usize,
    /// (block start, offset of the compressed-size ITF8, data start, data end) of each block.
    blocks: Vec<(usize, usize, usize, usize)>,
}

fn cram_containers(d: &[u8]) -> Vec<Container> {
    let mut out = Vec::new();
    let mut p = 26;
    while p + 4 <= d.len() {
        let len = i32_at(d, p);
        if len < 0 {
            break;
        }
        let mut q = p + 4;
        let Some(header_end) = (|| {
            for _ in 0..4 {
                q += itf8(d, q)?.1;
            }
            q += ltf8_len(d, q)?;
            q += ltf8_len(d, q)?;
            let (_, n) = itf8(d, q)?; // number of blocks
            q += n;
            let (landmarks, n) = itf8(d, q)?;
            q += n;
            for _ in 0..landmarks {
                q += itf8(d, q)?.1;
            }
            Some(q + 4)
        })() else {
            break;
        };
        let end = header_end + len as usize;
        if end > d.len() {
            break;
        }
        let mut blocks = Vec::new();
        let mut b = header_end;
        while b + 2 < end {
            let Some((size_at, data, size)) = (|| {
                let mut q = b + 2;
                q += itf8(d, q)?.1; // content id
                let size_at = q;
                let (size, n) = itf8(d, q)?;
                q += n;
                q += itf8(d, q)?.1; // raw size
                Some((size_at, q, size))
            })() else {
                break;
            };
            let data_end = data + size.max(0) as usize;
            if data_end + 4 > end {
                break;
            }
            blocks.push((b, size_at, data, data_end));
            b = data_end + 4;
        }
        out.push(Container {
            start: p,
            header_end,
            end,
            blocks,
        });
        p = end;
    }
    out
}

fn crc32(b: &[u8]) -> u32 {
    let mut c = flate2::Crc::new();
    c.update(b);
    c.sum()
}

fn mutate_cram(d: &mut Vec<u8>, r: &mut Rng) -> String {
    let cs = cram_containers(d);
    assert!(cs.len() > 2, "sample.cram: {} containers parsed", cs.len());
    let k = r.below(cs.len() as u64) as usize;
    let c = &cs[k];
    match r.below(7) {
        0 => {
            let v = boundary32(r);
            put32(d, c.start, v);
            format!("container {k} length = {v:#x}")
        }
        1 => {
            // The container header's ITF8 fields (reference, start, span, records, ...),
            // with its CRC32 recomputed half the time so that the fields themselves are read.
            let at = c.start + 4 + r.below((c.header_end - 4 - c.start - 4) as u64) as usize;
            let v = [0u8, 0xff, 0x7f, 0x80, 0xe0, 0xf0][r.below(6) as usize];
            d[at] = v;
            let fixed = r.below(2) == 0;
            if fixed {
                let crc = crc32(&d[c.start..c.header_end - 4]);
                put32(d, c.header_end - 4, crc);
            }
            format!("container {k} header byte {at} = {v:#x} (crc fixed: {fixed})")
        }
        2 | 3 if !c.blocks.is_empty() => {
            let bi = r.below(c.blocks.len() as u64) as usize;
            let (bs, size_at, data, data_end) = c.blocks[bi];
            let what = match r.below(3) {
                0 => {
                    // Method, content type, or the size ITF8.
                    let at = [bs, bs + 1, size_at][r.below(3) as usize];
                    let v = [0u8, 0xff, 0x7f, 0x80, 5, 9][r.below(6) as usize];
                    d[at] = v;
                    format!("header byte {at} = {v:#x}")
                }
                _ if data < data_end => {
                    let at = data + r.below((data_end - data) as u64) as usize;
                    let v = [0u8, 0xff, 0x7f, r.next() as u8][r.below(4) as usize];
                    d[at] = v;
                    format!("data byte {at} = {v:#x}")
                }
                _ => "none".into(),
            };
            let fixed = r.below(2) == 0;
            if fixed {
                let crc = crc32(&d[bs..data_end]);
                put32(d, data_end, crc);
            }
            format!("container {k} block {bi}: {what} (crc fixed: {fixed})")
        }
        4 => {
            let at = c.start + r.below((c.end - c.start) as u64) as usize;
            d.truncate(at);
            format!("truncate in container {k} at {at}")
        }
        5 => {
            let cont = d[c.start..c.end].to_vec();
            if r.below(2) == 0 {
                d.drain(c.start..c.end);
                format!("delete container {k}")
            } else {
                d.splice(c.start..c.start, cont);
                format!("repeat container {k}")
            }
        }
        _ => {
            let what = mutate_bytes(d, c.start, c.end, r);
            format!("container {k}: {what}")
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Running and judging

/// One run of the binary: arguments relative to the iteration's folder.
struct Case {
    /// Files to write into `in/` (name, bytes).
    inputs: Vec<(String, Vec<u8>)>,
    args: Vec<String>,
    /// Whether the failure output may list problems as `FILE:line:col: ...` lines before the
    /// closing `kasane: error:` line (validate and plan do).
    problem_lines: Option<String>,
}

/// The exit code of one clean run (0, or 1 with a clean error), else what went wrong.
fn judge(case: &Case, dir: &Path) -> Result<i32, String> {
    let out_dir = dir.join("out");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kasane"));
    cmd.current_dir(dir)
        .args(&case.args)
        .env_remove("REF_PATH")
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(dir.join("stdout")).unwrap())
        .stderr(std::fs::File::create(dir.join("stderr")).unwrap());
    // SAFETY: setrlimit is async-signal-safe and touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: MEMORY_LIMIT,
                rlim_max: MEMORY_LIMIT,
            };
            libc::setrlimit(libc::RLIMIT_AS, &lim);
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if start.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let err = String::from_utf8_lossy(&read(&dir.join("stderr"))).into_owned();
    let first = |s: &str| {
        s.lines()
            .next()
            .unwrap_or("")
            .chars()
            .take(300)
            .collect::<String>()
    };
    let Some(status) = status else {
        return Err(format!("hang: no exit after {TIMEOUT:?}"));
    };
    if let Some(sig) = status.signal() {
        return Err(format!("signal {sig}: {}", first(&err)));
    }
    let code = status.code().unwrap_or(-1);
    if err.contains("panicked") || err.contains("RUST_BACKTRACE") {
        let line = err
            .lines()
            .find(|l| l.contains("panicked"))
            .unwrap_or("")
            .to_string();
        let at = err.lines().skip_while(|l| !l.contains("panicked")).nth(1);
        return Err(format!("panic (exit {code}): {line} {}", at.unwrap_or("")));
    }
    if code != 0 && code != 1 {
        return Err(format!("exit {code}: {}", first(&err)));
    }
    let stray: Vec<String> = walk(dir)
        .into_iter()
        .filter(|p| p.to_string_lossy().contains(".kasane-tmp"))
        .map(|p| p.strip_prefix(dir).unwrap().display().to_string())
        .collect();
    if !stray.is_empty() {
        return Err(format!("temporary files left (exit {code}): {stray:?}"));
    }
    if code == 1 {
        let lines: Vec<&str> = err.trim_end().lines().collect();
        let last = lines.last().copied().unwrap_or("");
        if !last.starts_with("kasane: error: ") {
            return Err(format!(
                "failure without a `kasane: error:` line: {}",
                first(&err)
            ));
        }
        let extra = &lines[..lines.len() - 1];
        let allowed = |l: &&str| {
            case.problem_lines
                .as_ref()
                .is_some_and(|f| l.starts_with(&format!("{f}:")))
        };
        if let Some(l) = extra.iter().find(|l| !allowed(l)) {
            return Err(format!(
                "{} lines on stderr on failure: {} / {last}",
                lines.len(),
                l.chars().take(200).collect::<String>()
            ));
        }
        let left = walk(&out_dir);
        if !left.is_empty() {
            let left: Vec<String> = left
                .iter()
                .map(|p| p.strip_prefix(&out_dir).unwrap().display().to_string())
                .collect();
            return Err(format!("output left after a failure: {left:?} ({last})"));
        }
    }
    Ok(code)
}

/// Every file (not folder) under `d`.
fn walk(d: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![d.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The failure's kind without numbers: failures differing only in offsets count once.
fn kind(cmd: &str, why: &str) -> String {
    let mut k = why
        .split(' ')
        .map(|w| {
            // A panic's source location names the defect: keep it.
            if w.contains(".rs:") {
                w.to_string()
            } else {
                // Runs of digits become one `#`: sizes and offsets vary with the mutation.
                let mut out = String::new();
                for c in w.chars() {
                    if !c.is_ascii_digit() {
                        out.push(c);
                    } else if !out.ends_with('#') {
                        out.push('#');
                    }
                }
                out
            }
        })
        .collect::<Vec<String>>()
        .join(" ");
    if let Some((i, _)) = k.char_indices().nth(140) {
        k.truncate(i);
    }
    format!("{cmd}: {k}")
}

fn failures_dir() -> PathBuf {
    // target/release/kasane -> target/
    Path::new(env!("CARGO_BIN_EXE_kasane"))
        .ancestors()
        .nth(2)
        .unwrap()
        .join("fuzz-failures")
}

/// Runs `iterations()` cases of `target` made by `make`, and fails listing every distinct
/// failure with the seed and iteration that shows it and where its input was saved.
fn fuzz(target: &str, make: impl Fn(&mut Rng, u64) -> (String, Case)) {
    let iters = iterations();
    let seed = seed();
    let mut found: BTreeMap<String, Vec<String>> = BTreeMap::new();
    // Runs that succeeded, failed cleanly, failed wrongly.
    let mut clean = [0u64; 3];
    for iter in 0..iters {
        let mut r = rng_for(target, iter);
        let (what, case) = make(&mut r, iter);
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        std::fs::create_dir(dir.join("in")).unwrap();
        std::fs::create_dir(dir.join("out")).unwrap();
        for (name, bytes) in &case.inputs {
            std::fs::write(dir.join("in").join(name), bytes).unwrap();
        }
        match judge(&case, dir) {
            Ok(code) => clean[code as usize] += 1,
            Err(why) => {
                clean[2] += 1;
                let cmd = case.args[0].clone();
                let seen = found.entry(kind(&cmd, &why)).or_default();
                let mut line = format!("seed {seed} iter {iter}: {what}: {why}");
                if seen.len() < SAVED_PER_KIND {
                    let keep = failures_dir().join(format!("{target}-{seed}-{iter}"));
                    let _ = std::fs::remove_dir_all(&keep);
                    std::fs::create_dir_all(keep.join("in")).unwrap();
                    std::fs::create_dir_all(keep.join("out")).unwrap();
                    for (name, bytes) in &case.inputs {
                        std::fs::write(keep.join("in").join(name), bytes).unwrap();
                    }
                    let quoted: Vec<String> = case.args.iter().map(|a| format!("'{a}'")).collect();
                    std::fs::write(
                        keep.join("cmd.sh"),
                        format!(
                            "# {what}\n# {why}\ncd \"$(dirname \"$0\")\" && rm -rf out && mkdir out && \"${{KASANE:-kasane}}\" {}\n",
                            quoted.join(" ")
                        ),
                    )
                    .unwrap();
                    line.push_str(&format!(" [saved: {}]", keep.display()));
                }
                seen.push(line);
            }
        }
    }
    eprintln!(
        "fuzz {target}: seed {seed}, {iters} iterations: {} succeeded, {} clean errors, {} failed",
        clean[0], clean[1], clean[2]
    );
    if !found.is_empty() {
        let mut msg = format!(
            "fuzz {target}: {} distinct failure(s) in {} of {iters} runs (KASANE_FUZZ_SEED={seed}; replay with target/fuzz-failures/*/cmd.sh, KASANE=target/release/kasane):\n",
            found.len(),
            clean[2]
        );
        for (k, v) in &found {
            msg.push_str(&format!("- {k}\n    {} run(s), first: {}\n", v.len(), v[0]));
        }
        panic!("{msg}");
    }
}

/// The commands that read an alignment file `in/NAME`, one picked per iteration, so that
/// coverage's, call's and sv's readers all see every kind of mutation.
fn alignment_cmd(iter: u64, name: &str, fasta: &str) -> Vec<String> {
    let input = format!("in/{name}");
    let threads = if iter % 4 == 3 { "2" } else { "1" };
    let v: Vec<&str> = match iter % 3 {
        0 => vec!["coverage", "-t", threads, "-f", fasta, "out/o", &input],
        1 => vec![
            "call",
            "--backend",
            "cpu",
            "-t",
            threads,
            "-f",
            fasta,
            "-o",
            "out/c.vcf.gz",
            &input,
        ],
        _ => vec![
            "sv",
            "--backend",
            "cpu",
            "-t",
            threads,
            "-f",
            fasta,
            "-o",
            "out/s.vcf.gz",
            &input,
        ],
    };
    v.into_iter().map(String::from).collect()
}

/// A small BAM of reads copied from ref.fa (200 reads of 100 bp on chr1 and chr2), made in
/// `dir`; its bytes go into each case's folder, so that a saved failure replays alone.
/// The FASTA targets call on it: a mutated reference then costs call little, where under
/// sample.bam's 6100 reads a shifted reference makes every position a candidate (minutes).
fn small_bam(dir: &Path) -> Vec<u8> {
    let text = String::from_utf8(read(&testdata("ref.fa"))).unwrap();
    let mut contigs: Vec<(String, Vec<u8>)> = Vec::new();
    for line in text.lines() {
        match line.strip_prefix('>') {
            Some(name) => contigs.push((name.to_string(), Vec::new())),
            None => contigs.last_mut().unwrap().1.extend(line.bytes()),
        }
    }
    let mut r = Rng(0x5eed);
    let recs = (0..200i32)
        .map(|i| {
            let tid = i % 2;
            let seq = &contigs[tid as usize].1;
            let pos = r.below(seq.len() as u64 - 100) as usize;
            let mut rec = Rec::matched(
                format!("r{i}"),
                pos as i64,
                seq[pos..pos + 100].to_vec(),
                30,
            );
            rec.tid = tid;
            rec
        })
        .collect();
    let lens: Vec<(&str, usize)> = contigs.iter().map(|(n, s)| (n.as_str(), s.len())).collect();
    let path = dir.join("small.bam");
    write_bam(&path, &lens, "small", recs);
    read(&path)
}

fn ref_fa() -> String {
    testdata("ref.fa").display().to_string()
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// Applies 1 to 3 mutations from `one`; returns their descriptions.
fn several(d: &mut Vec<u8>, r: &mut Rng, one: impl Fn(&mut Vec<u8>, &mut Rng) -> String) -> String {
    let n = 1 + r.below(3) as usize;
    let mut what = Vec::new();
    for _ in 0..n {
        if d.is_empty() {
            break;
        }
        what.push(one(d, r));
    }
    what.join("; ")
}

// ---------------------------------------------------------------------------------------------
// Targets

#[test]
fn fuzz_bam_header() {
    let raw = gunzip_bytes(&read(&testdata("sample.bam")));
    fuzz("bam_header", |r, iter| {
        let mut d = raw.clone();
        // One header mutation at a time: two rarely get further than one.
        let what = mutate_bam_header(&mut d, r);
        let case = Case {
            inputs: vec![("x.bam".into(), bgzf(&d))],
            args: alignment_cmd(iter, "x.bam", &ref_fa()),
            problem_lines: None,
        };
        (what, case)
    });
}

#[test]
fn fuzz_bam_records() {
    let raw = gunzip_bytes(&read(&testdata("sample.bam")));
    let long = gunzip_bytes(&read(&testdata("long.bam")));
    fuzz("bam_records", |r, iter| {
        // long.bam has long CIGARs and supplementary records; sample.bam tags and read groups.
        let mut d = if iter % 2 == 0 {
            raw.clone()
        } else {
            long.clone()
        };
        let what = several(&mut d, r, mutate_bam_record);
        let case = Case {
            inputs: vec![("x.bam".into(), bgzf(&d))],
            args: alignment_cmd(iter / 2, "x.bam", &ref_fa()),
            problem_lines: None,
        };
        (what, case)
    });
}

#[test]
fn fuzz_bgzf() {
    let bam = read(&testdata("sample.bam"));
    fuzz("bgzf", |r, iter| {
        let mut d = bam.clone();
        let what = several(&mut d, r, |d, r| {
            if bgzf_blocks(d).is_empty() {
                mutate_bytes(d, 0, d.len(), r)
            } else {
                mutate_bgzf(d, r)
            }
        });
        let case = Case {
            inputs: vec![("x.bam".into(), d)],
            args: alignment_cmd(iter, "x.bam", &ref_fa()),
            problem_lines: None,
        };
        (what, case)
    });
}

#[test]
fn fuzz_cram() {
    let cram = read(&testdata("sample.cram"));
    fuzz("cram", |r, iter| {
        let mut d = cram.clone();
        let what = if r.below(8) == 0 {
            // The file definition: magic, version, file id.
            mutate_bytes(&mut d, 0, 26, r)
        } else {
            mutate_cram(&mut d, r)
        };
        let case = Case {
            inputs: vec![("x.cram".into(), d)],
            args: alignment_cmd(iter, "x.cram", &ref_fa()),
            problem_lines: None,
        };
        (what, case)
    });
}

#[test]
fn fuzz_bed() {
    let bed = read(&testdata("regions.bed"));
    let bam = testdata("sample.bam").display().to_string();
    fuzz("bed", |r, iter| {
        let mut d = bed.clone();
        let what = several(&mut d, r, mutate_text);
        let args = if iter % 2 == 0 {
            strings(&["coverage", "-n", "-b", "in/x.bed", "out/o", &bam])
        } else {
            // call -R reads the BED too (whether through the same parser or not).
            strings(&[
                "call",
                "--backend",
                "cpu",
                "-f",
                &ref_fa(),
                "-R",
                "in/x.bed",
                "-o",
                "out/c.vcf.gz",
                &bam,
            ])
        };
        let case = Case {
            inputs: vec![("x.bed".into(), d)],
            args,
            problem_lines: None,
        };
        (what, case)
    });
}

#[test]
fn fuzz_fasta() {
    let fa = read(&testdata("ref.fa"));
    let fai = read(&testdata("ref.fa.fai"));
    let keep = tempfile::tempdir().unwrap();
    let small = small_bam(keep.path());
    let bam = "in/small.bam";
    let long = testdata("long.bam").display().to_string();
    fuzz("fasta", |r, iter| {
        let mut d = fa.clone();
        let what = several(&mut d, r, |d, r| {
            if r.below(2) == 0 {
                mutate_text(d, r)
            } else {
                mutate_bytes(d, 0, d.len(), r)
            }
        });
        let mut inputs = vec![("x.fa".into(), d), ("small.bam".into(), small.clone())];
        // With the original index half the time (offsets now wrong), else indexed in memory.
        if iter % 4 < 2 {
            inputs.push(("x.fa.fai".into(), fai.clone()));
        }
        let args = call_or_sv(iter, bam, &long);
        let case = Case {
            inputs,
            args,
            problem_lines: None,
        };
        (what, case)
    });
}

/// The reference targets alternate call (on `bam`) and sv (on `long`), both reading `in/x.fa`.
fn call_or_sv(iter: u64, bam: &str, long: &str) -> Vec<String> {
    if iter.is_multiple_of(2) {
        strings(&[
            "call",
            "--backend",
            "cpu",
            "-f",
            "in/x.fa",
            "-o",
            "out/c.vcf.gz",
            bam,
        ])
    } else {
        strings(&[
            "sv",
            "--backend",
            "cpu",
            "-f",
            "in/x.fa",
            "-o",
            "out/s.vcf.gz",
            long,
        ])
    }
}

#[test]
fn fuzz_fai() {
    let fa = read(&testdata("ref.fa"));
    let fai = read(&testdata("ref.fa.fai"));
    let keep = tempfile::tempdir().unwrap();
    let small = small_bam(keep.path());
    let bam = "in/small.bam";
    let long = testdata("long.bam").display().to_string();
    fuzz("fai", |r, iter| {
        let mut d = fai.clone();
        let what = several(&mut d, r, mutate_text);
        let args = call_or_sv(iter, bam, &long);
        let case = Case {
            inputs: vec![
                ("x.fa".into(), fa.clone()),
                ("x.fa.fai".into(), d),
                ("small.bam".into(), small.clone()),
            ],
            args,
            problem_lines: None,
        };
        (what, case)
    });
}

#[test]
fn fuzz_pipeline_toml() {
    // The bundled pipelines with their inputs made absolute and their output under out/.
    let td = testdata("").display().to_string();
    let td = td.trim_end_matches('/');
    let mut files = Vec::new();
    for name in [
        "short-read-qc.toml",
        "long-read-qc.toml",
        "long-read-sv.toml",
        "cohort.toml",
    ] {
        let text = String::from_utf8(read(&repo().join("pipelines").join(name))).unwrap();
        let mut out = String::new();
        for line in text.lines() {
            if line.starts_with("output = ") {
                out.push_str("output = \"../out/p\"\n");
            } else {
                out.push_str(&line.replace("../testdata", td));
                out.push('\n');
            }
        }
        files.push(out.into_bytes());
    }
    let tsv = String::from_utf8(read(&repo().join("pipelines/cohort.tsv")))
        .unwrap()
        .replace("../testdata", td)
        .into_bytes();
    fuzz("pipeline_toml", |r, iter| {
        let k = (iter / 2) as usize % files.len();
        let mut d = files[k].clone();
        let mut tsv = tsv.clone();
        let what = if k == 3 && r.below(4) == 0 {
            format!("cohort.tsv: {}", several(&mut tsv, r, mutate_text))
        } else {
            several(&mut d, r, |d, r| {
                if r.below(4) == 0 {
                    mutate_bytes(d, 0, d.len(), r)
                } else {
                    mutate_text(d, r)
                }
            })
        };
        let args = if iter % 2 == 0 {
            strings(&["validate", "in/p.toml"])
        } else {
            strings(&["plan", "in/p.toml"])
        };
        let case = Case {
            inputs: vec![("p.toml".into(), d), ("cohort.tsv".into(), tsv)],
            args,
            problem_lines: Some("in/p.toml".into()),
        };
        (what, case)
    });
}

/// The fuzz inputs must reach the parsers: the unmutated inputs run clean, and the layouts
/// the mutations aim at parse.
#[test]
fn fuzz_layouts_parse_the_test_files() {
    let raw = gunzip_bytes(&read(&testdata("sample.bam")));
    let l = bam_layout(&raw).unwrap();
    assert_eq!(l.records.len(), 6100);
    assert_eq!(
        *l.records.last().unwrap() + 4 + i32_at(&raw, *l.records.last().unwrap()) as usize,
        raw.len()
    );
    let bam = read(&testdata("sample.bam"));
    let blocks = bgzf_blocks(&bam);
    assert!(blocks.len() > 5);
    let cram = read(&testdata("sample.cram"));
    let cs = cram_containers(&cram);
    assert_eq!(
        cs.last().unwrap().end,
        cram.len(),
        "every CRAM container parsed"
    );
    assert!(cs
        .iter()
        .all(|c| c.blocks.last().is_none_or(|b| b.3 + 4 == c.end)));
    for (args, input) in [
        (alignment_cmd(0, "x.bam", &ref_fa()), bgzf(&raw)),
        (alignment_cmd(1, "x.bam", &ref_fa()), bgzf(&raw)),
        (alignment_cmd(2, "x.cram", &ref_fa()), cram.clone()),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("in")).unwrap();
        std::fs::create_dir(tmp.path().join("out")).unwrap();
        let name = args.last().unwrap().trim_start_matches("in/").to_string();
        std::fs::write(tmp.path().join("in").join(&name), &input).unwrap();
        let case = Case {
            inputs: vec![],
            args: args.clone(),
            problem_lines: None,
        };
        assert_eq!(judge(&case, tmp.path()), Ok(0), "{args:?}");
        assert!(
            !walk(&tmp.path().join("out")).is_empty(),
            "{args:?} wrote nothing"
        );
    }
}
