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

/// Per contig of the index, the virtual offset of its first record (`None`: no records). One
/// pass over the index, so that reading many contigs does not parse it once each.
pub fn first_offsets(bam: &Path) -> Result<Vec<Option<u64>>> {
    let idx = find_index(bam, &["bai", "csi"])?;
    let raw = std::fs::read(&idx).map_err(|e| Error::io(&idx, e))?;
    let bad = |m: &str| Error::format(&idx, format!("corrupt index: {m}"));
    let data;
    let (mut r, layout) = if raw.starts_with(b"BAI\x01") {
        // BAI: fixed 16 kb/5-level binning, pseudo-bin 37450, a linear index after each contig.
        (
            Cursor { b: &raw, at: 4 },
            Layout {
                loffset: false,
                linear: true,
                pseudo: 37450,
            },
        )
    } else {
        data = inflate_all(&raw).ok_or_else(|| bad("not BGZF-compressed"))?;
        if !data.starts_with(b"CSI\x01") {
            return Err(bad("bad magic"));
        }
        let mut r = Cursor { b: &data, at: 4 };
        let _min_shift = r.i32().ok_or_else(|| bad("short file"))?;
        let depth = r.i32().ok_or_else(|| bad("short file"))?.clamp(0, 20) as u64;
        let l_aux = r
            .count(1)
            .ok_or_else(|| bad("short file or bad auxiliary length"))?;
        r.skip(l_aux).ok_or_else(|| bad("short file"))?;
        let pseudo = (((1u64 << (3 * (depth + 1))) - 1) / 7 + 1) as u32;
        (
            r,
            Layout {
                loffset: true,
                linear: false,
                pseudo,
            },
        )
    };
    scan_first_offsets(&mut r, layout).ok_or_else(|| bad("short file, or a count in it is wrong"))
}

/// How BAI and CSI lay out a contig's bins.
struct Layout {
    /// CSI stores a linear offset with each bin.
    loffset: bool,
    /// BAI follows each contig with a linear index.
    linear: bool,
    /// The bin holding a contig's metadata rather than records.
    pseudo: u32,
}

/// Per contig, the smallest chunk start among its real bins; `None` (the whole) only if the
/// index is cut short. Counts are checked against the bytes left (each item's smallest size),
/// so a corrupt count fails at once instead of looping over data that is not there; the one
/// allocation by count is bounded by the bytes left.
fn scan_first_offsets(r: &mut Cursor, l: Layout) -> Option<Vec<Option<u64>>> {
    let bin_size = if l.loffset { 16 } else { 8 };
    // A contig takes at least its bin count (and, in a BAI, its interval count).
    let n_ref = r.count(if l.linear { 8 } else { 4 })?;
    let mut out = Vec::with_capacity(n_ref);
    for _ in 0..n_ref {
        let mut best: Option<u64> = None;
        for _ in 0..r.count(bin_size)? {
            let bin = r.u32()?;
            if l.loffset {
                r.u64()?;
            }
            for _ in 0..r.count(16)? {
                let beg = r.u64()?;
                r.u64()?;
                if bin != l.pseudo {
                    best = Some(best.map_or(beg, |b| b.min(beg)));
                }
            }
        }
        if l.linear {
            let n_intv = r.count(8)?;
            r.skip(8 * n_intv)?;
        }
        out.push(best);
    }
    Some(out)
}

struct Cursor<'a> {
    b: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let s = self.b.get(self.at..self.at.checked_add(N)?)?;
        self.at += N;
        s.try_into().ok()
    }
    /// A non-negative count of items of at least `size` bytes each that fit in what is left.
    fn count(&mut self, size: usize) -> Option<usize> {
        let n = usize::try_from(self.i32()?).ok()?;
        (n.checked_mul(size)? <= self.b.len().saturating_sub(self.at)).then_some(n)
    }
    fn skip(&mut self, n: usize) -> Option<()> {
        let at = self.at.checked_add(n)?;
        (at <= self.b.len()).then(|| self.at = at)
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

/// Inflates a small whole BGZF file in memory (index files); `None` if it is not whole BGZF.
pub fn inflate_all(raw: &[u8]) -> Option<Vec<u8>> {
    crate::io::bgzf::inflate(raw, Path::new("")).ok()
}
