//! mosdepth's output files, written under temporary names and committed together.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::sync::Arc;

use crate::coverage::stats::{fmt_fixed, Histogram};
use crate::error::{Error, Result};
use crate::io::atomic::{OutputSet, PendingFile};
use crate::io::bed::Region;
use crate::io::bgzf::BgzfWriter;
use crate::io::csi::CsiBuilder;
use crate::shard::Groups;

/// Per-base lines of one piece, already compressed into whole BGZF blocks (made by
/// `coverage::stream`, written by [`IndexedBed::write_piece`]).
pub struct CompressedPiece {
    pub data: Vec<u8>,
    /// Compressed size of each block; every block but the last holds `BLOCK_DATA_SIZE` bytes.
    pub block_sizes: Vec<usize>,
    pub ulen: usize,
    /// Each line's (start, end, offset of its end in the uncompressed text).
    pub marks: Vec<(u64, u64, usize)>,
}

/// A BGZF-compressed BED with its CSI index; contigs get index ids in order of appearance.
pub struct IndexedBed {
    file: PendingFile,
    writer: BgzfWriter<BufWriter<File>, CsiBuilder>,
    /// Contigs so far, in order of first appearance; the index refers to them by position
    /// and is given each name as it comes.
    n_contigs: u32,
    /// The header index of the last contig written, and the contig groups of the header.
    last: Option<usize>,
    groups: Arc<Groups>,
    header_bytes: u64,
}

impl IndexedBed {
    pub fn create(
        path: String,
        levels: u32,
        pool: Arc<rayon::ThreadPool>,
        groups: Arc<Groups>,
    ) -> Result<Self> {
        crate::io::atomic::check_destination(format!("{path}.csi"))?; // before the work, too
        let (file, w) = PendingFile::create(path)?;
        Ok(IndexedBed {
            file,
            writer: BgzfWriter::new(w, 1, pool, Some(CsiBuilder::new(14, levels))),
            n_contigs: 0,
            last: None,
            groups,
            header_bytes: 0,
        })
    }

    fn io_err(&self, e: std::io::Error) -> Error {
        Error::io(self.file.final_path(), e)
    }

    /// Each group of contigs (see [`Groups`]) starts a new BGZF block, so a file's blocks for
    /// one group do not depend on what came before: shard outputs (whole groups) concatenate
    /// into the unsharded file byte for byte, and tiny contigs share blocks.
    fn select(&mut self, tid: usize, chrom: &str) -> Result<u32> {
        if self.last != Some(tid) {
            if let Some(last) = self.last {
                if self.groups.of(last) != self.groups.of(tid) {
                    self.writer.end_block().map_err(|e| self.io_err(e))?;
                }
            }
            self.last = Some(tid);
            let id = self.n_contigs;
            if let Some(index) = self.writer.index_mut() {
                index.ensure_name(id, chrom);
            }
            self.n_contigs += 1;
        }
        Ok(self.n_contigs - 1)
    }

    /// Compressed bytes of the header (its own blocks); 0 without a header.
    pub fn header_bytes(&self) -> u64 {
        self.header_bytes
    }

    pub fn path_string(&self) -> String {
        self.file.final_path().display().to_string()
    }

    /// Writes the header lines in blocks of their own (see [`Self::select`]).
    pub fn header(&mut self, text: &str) -> Result<()> {
        self.writer
            .write_plain(text.as_bytes())
            .and_then(|_| self.writer.end_block())
            .map_err(|e| self.io_err(e))?;
        self.header_bytes = self.writer.coffset();
        Ok(())
    }

    /// One line on contig `tid` (header index) named `chrom`.
    pub fn line(&mut self, tid: usize, chrom: &str, beg: u64, end: u64, text: &str) -> Result<()> {
        let tid = self.select(tid, chrom)?;
        self.writer
            .write_record(text.as_bytes(), tid, beg, end)
            .map_err(|e| self.io_err(e))
    }

    /// Lines on contig `tid`: `marks` holds each line's (start, end, end offset in `text`).
    pub fn write_lines(
        &mut self,
        tid: usize,
        chrom: &str,
        text: &[u8],
        marks: &[(u64, u64, usize)],
    ) -> Result<()> {
        let tid = self.select(tid, chrom)?;
        self.writer
            .write_records(text, tid, marks)
            .map_err(|e| self.io_err(e))
    }

    /// Lines on contig `tid` already compressed into whole blocks (they end the block open).
    pub fn write_piece(&mut self, tid: usize, chrom: &str, p: &CompressedPiece) -> Result<()> {
        let tid = self.select(tid, chrom)?;
        self.writer
            .write_precompressed(tid, &p.data, &p.block_sizes, p.ulen, &p.marks)
            .map_err(|e| self.io_err(e))
    }

    /// Finishes the file and its `.csi`, adding both to `set` for the final rename.
    pub fn finish(self, set: &mut OutputSet) -> Result<()> {
        let path = self.file.final_path().to_path_buf();
        let (w, index) = self.writer.finish().map_err(|e| Error::io(&path, e))?;
        w.into_inner()
            .map_err(|e| Error::io(&path, e.into_error()))?
            .sync_all()
            .map_err(|e| Error::io(&path, e))?;
        set.add(self.file);
        if let Some(index) = index {
            let (csi, mut w) = PendingFile::create(format!("{}.csi", path.display()))?;
            w.write_all(&index.finish())
                .and_then(|_| w.flush())
                .map_err(|e| Error::io(csi.final_path(), e))?;
            set.add(csi);
        }
        Ok(())
    }
}

/// Writes a plain text file under a temporary name.
pub fn write_text(path: String, text: &str, set: &mut OutputSet) -> Result<()> {
    let (f, mut w) = PendingFile::create(path)?;
    w.write_all(text.as_bytes())
        .and_then(|_| w.flush())
        .map_err(|e| Error::io(f.final_path(), e))?;
    set.add(f);
    Ok(())
}

/// A region's BED line: chrom, start, end, [name,] value.
pub fn region_line(r: &Region, value: f64, precision: usize) -> String {
    let mut s = String::with_capacity(48);
    s.push_str(&r.chrom);
    s.push('\t');
    s.push_str(itoa::Buffer::new().format(r.start));
    s.push('\t');
    s.push_str(itoa::Buffer::new().format(r.end));
    s.push('\t');
    if let Some(n) = &r.name {
        s.push_str(n);
        s.push('\t');
    }
    fmt_fixed(&mut s, value, precision);
    s.push('\n');
    s
}

/// A thresholds line: chrom, start, end, name (or `unknown`), then the counts.
pub fn threshold_line(r: &Region, counts: &[u64]) -> String {
    let mut s = format!(
        "{}\t{}\t{}\t{}",
        r.chrom,
        r.start,
        r.end,
        r.name.as_deref().unwrap_or("unknown")
    );
    for c in counts {
        s.push('\t');
        s.push_str(itoa::Buffer::new().format(*c));
    }
    s.push('\n');
    s
}

/// Adds the windows' rounded means to a distribution, as mosdepth's window mode does
/// (round half away from zero, capped at 999).
pub fn add_window_value(h: &mut Histogram, value: f64) {
    let r = if value >= 0.0 {
        (value + 0.5) as i64
    } else {
        (value - 0.5) as i64
    };
    h.add_one(r.clamp(0, 999) as usize);
}

impl Histogram {
    pub fn with_len(n: usize) -> Histogram {
        Histogram(vec![0; n])
    }
}
