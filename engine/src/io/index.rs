//! Reading BAI and CSI indexes, just enough to seek to a contig's first record.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Index files that samtools would look for next to `path`.
pub fn candidates(path: &Path, exts: &[&str]) -> Vec<PathBuf> {
    let mut v = Vec::new();
    let s = path.as_os_str().to_string_lossy().into_owned();
    for ext in exts {
        v.push(PathBuf::from(format!("{s}.{ext}")));
        if let Some(stem) = s.strip_suffix(".bam").or_else(|| s.strip_suffix(".cram")) {
            v.push(PathBuf::from(format!("{stem}.{ext}")));
        }
    }
    v
}

fn find_index(path: &Path, exts: &[&str]) -> Result<PathBuf> {
    candidates(path, exts)
        .into_iter()
        .find(|p| p.is_file())
        .ok_or_else(|| {
            Error::format(
                path,
                format!(
                    "index not found (looked for .{}); create one with `samtools index`",
                    exts.join(", .")
                ),
            )
        })
}

pub fn require_cram_index(path: &Path) -> Result<PathBuf> {
    find_index(path, &["crai"])
}

/// Virtual offset of the first record placed on `tid`, or `None` if the index lists none.
pub fn first_offset(bam: &Path, tid: usize) -> Result<Option<u64>> {
    let idx = find_index(bam, &["bai", "csi"])?;
    let raw = std::fs::read(&idx).map_err(|e| Error::io(&idx, e))?;
    let bad = |m: &str| Error::format(&idx, format!("corrupt index: {m}"));
    let mut r = Cursor { b: &raw, at: 0 };
    if raw.starts_with(b"BAI\x01") {
        r.at = 4;
        let n_ref = r.i32().ok_or_else(|| bad("short file"))?;
        let mut best = None;
        for t in 0..n_ref.max(0) as usize {
            let n_bin = r.i32().ok_or_else(|| bad("short file"))?;
            for _ in 0..n_bin.max(0) {
                let bin = r.u32().ok_or_else(|| bad("short file"))?;
                let n_chunk = r.i32().ok_or_else(|| bad("short file"))?;
                for _ in 0..n_chunk.max(0) {
                    let beg = r.u64().ok_or_else(|| bad("short file"))?;
                    r.u64().ok_or_else(|| bad("short file"))?;
                    if t == tid && bin != 37450 {
                        best = Some(best.map_or(beg, |b: u64| b.min(beg)));
                    }
                }
            }
            let n_intv = r.i32().ok_or_else(|| bad("short file"))?;
            r.at += 8 * n_intv.max(0) as usize;
            if t == tid {
                return Ok(best);
            }
        }
        Ok(None)
    } else {
        let data = inflate_all(&raw).ok_or_else(|| bad("not BGZF-compressed"))?;
        let mut r = Cursor { b: &data, at: 0 };
        if !data.starts_with(b"CSI\x01") {
            return Err(bad("bad magic"));
        }
        r.at = 4;
        let _min_shift = r.i32().ok_or_else(|| bad("short file"))?;
        let depth = r.i32().ok_or_else(|| bad("short file"))?;
        let l_aux = r.i32().ok_or_else(|| bad("short file"))?;
        r.at += l_aux.max(0) as usize;
        let pseudo = ((1u64 << (3 * (depth as u64 + 1))) - 1) / 7 + 1;
        let n_ref = r.i32().ok_or_else(|| bad("short file"))?;
        let mut best = None;
        for t in 0..n_ref.max(0) as usize {
            let n_bin = r.i32().ok_or_else(|| bad("short file"))?;
            for _ in 0..n_bin.max(0) {
                let bin = r.u32().ok_or_else(|| bad("short file"))?;
                r.u64().ok_or_else(|| bad("short file"))?;
                let n_chunk = r.i32().ok_or_else(|| bad("short file"))?;
                for _ in 0..n_chunk.max(0) {
                    let beg = r.u64().ok_or_else(|| bad("short file"))?;
                    r.u64().ok_or_else(|| bad("short file"))?;
                    if t == tid && bin as u64 != pseudo {
                        best = Some(best.map_or(beg, |b: u64| b.min(beg)));
                    }
                }
            }
            if t == tid {
                return Ok(best);
            }
        }
        Ok(None)
    }
}

struct Cursor<'a> {
    b: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let s = self.b.get(self.at..self.at + N)?;
        self.at += N;
        s.try_into().ok()
    }
    fn i32(&mut self) -> Option<i32> {
        self.take::<4>().map(i32::from_le_bytes)
    }
    fn u32(&mut self) -> Option<u32> {
        self.take::<4>().map(u32::from_le_bytes)
    }
    fn u64(&mut self) -> Option<u64> {
        self.take::<8>().map(u64::from_le_bytes)
    }
}

/// Inflates a small whole BGZF file in memory (index files).
pub fn inflate_all(raw: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut at = 0;
    let mut d = libdeflater::Decompressor::new();
    while at < raw.len() {
        let h = raw.get(at..at + 18)?;
        if h[0] != 0x1f || h[1] != 0x8b {
            return None;
        }
        let bsize = u16::from_le_bytes([h[16], h[17]]) as usize + 1;
        let block = raw.get(at..at + bsize)?;
        let isize = u32::from_le_bytes(block[bsize - 4..].try_into().ok()?) as usize;
        let start = out.len();
        out.resize(start + isize, 0);
        let n = d
            .deflate_decompress(&block[18..bsize - 8], &mut out[start..])
            .ok()?;
        if n != isize {
            return None;
        }
        at += bsize;
    }
    Some(out)
}
