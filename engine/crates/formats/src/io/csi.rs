//! Writing CSI indexes (with tabix metadata) for BGZF-compressed BED outputs, as
//! `tabix -C`/htslib would: binning index with per-bin linear offsets, plus the per-contig
//! pseudo-bin that holds its span and record counts.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::io::bgzf::{
    compress_all, compress_block_into, Block, BlockReader, RecordIndex, BLOCK_DATA_SIZE,
};

/// Compression level of index files.
const LEVEL: i32 = 6;
/// Serialised contigs kept uncompressed up to this size (then compressed as they come).
const STREAM_AFTER: usize = 4 << 20;

/// tabix "generic" preset with 0-based, half-open coordinates (BED).
pub const TBX_UCSC: i32 = 0x10000;
/// tabix VCF preset.
pub const TBX_VCF: i32 = 2;

/// tabix configuration: preset, sequence/begin/end columns (1-based), meta character, lines to
/// skip.
pub type TabixConf = [i32; 6];
/// BED (`tabix -p bed`).
pub const CONF_BED: TabixConf = [TBX_UCSC, 1, 2, 3, b'#' as i32, 0];
/// VCF (`tabix -p vcf`).
pub const CONF_VCF: TabixConf = [TBX_VCF, 1, 2, 0, b'#' as i32, 0];

#[derive(Default)]
struct Bin {
    chunks: Vec<(u64, u64)>,
}

#[derive(Default)]
struct RefIndex {
    bins: BTreeMap<u32, Bin>,
    /// First start offset of a record overlapping each 2^min_shift window.
    linear: Vec<Option<u64>>,
    off_beg: Option<u64>,
    off_end: u64,
    n_records: u64,
}

pub struct CsiBuilder {
    min_shift: u32,
    depth: u32,
    /// Written as tabix `.tbi` rather than CSI.
    tbi: bool,
    /// The contig being indexed (id `n_refs - 1`); those before it are serialised already, so
    /// memory does not grow with the number of contigs (files of 10^6 tiny contigs).
    cur: RefIndex,
    n_refs: u32,
    /// Serialised contigs not yet compressed, and the BGZF blocks made of those before.
    pending: Vec<u8>,
    blocks: Vec<u8>,
    /// [`STREAM_AFTER`], but for tests.
    stream_after: usize,
    /// Contig names, each NUL-terminated, as the tabix metadata holds them (a few bytes per
    /// contig, not a `String` each).
    names: Vec<u8>,
    n_named: u32,
    /// The chunk being extended: consecutive records of one bin merge without map lookups.
    open: Option<(u32, u32, u64, u64)>,
    conf: TabixConf,
}

/// Levels needed so the largest contig fits, as mosdepth chooses them (min_shift 14).
pub fn levels_for(max_len: u64) -> u32 {
    let mut levels = 0;
    let mut s: u64 = 1 << 14;
    while max_len > s {
        levels += 1;
        s <<= 3;
    }
    levels
}

fn reg2bin(beg: u64, end: u64, min_shift: u32, depth: u32) -> u32 {
    let end = end.max(beg + 1) - 1;
    let mut s = min_shift;
    let mut t: u64 = ((1u64 << (3 * depth)) - 1) / 7;
    let mut l = depth;
    while l > 0 {
        if beg >> s == end >> s {
            return (t + (beg >> s)) as u32;
        }
        l -= 1;
        s += 3;
        t -= 1u64 << (3 * l);
    }
    0
}

/// First bin of the bottom level that lies under `bin`.
fn bin_first_window(bin: u32, depth: u32) -> u64 {
    // Level of `bin`: bins of level l start at ((1<<3l)-1)/7.
    let mut l = 0;
    let mut first = 0u64;
    while l < depth {
        let next = ((1u64 << (3 * (l + 1))) - 1) / 7;
        if (bin as u64) < next {
            break;
        }
        first = next;
        l += 1;
    }
    let offset = bin as u64 - first;
    offset << (3 * (depth - l))
}

impl CsiBuilder {
    pub fn new(min_shift: u32, depth: u32) -> Self {
        CsiBuilder {
            min_shift,
            depth,
            tbi: false,
            cur: RefIndex::default(),
            n_refs: 0,
            pending: Vec::new(),
            blocks: Vec::new(),
            stream_after: STREAM_AFTER,
            names: Vec::new(),
            n_named: 0,
            open: None,
            conf: CONF_BED,
        }
    }

    /// A builder for a tabix `.tbi` (the BAI-like scheme: min_shift 14, depth 5, so contigs
    /// shorter than 2^29).
    pub fn new_tbi() -> Self {
        CsiBuilder {
            tbi: true,
            ..CsiBuilder::new(14, 5)
        }
    }

    /// Sets the tabix metadata written with the index (BED by default).
    pub fn with_tabix_conf(mut self, conf: TabixConf) -> Self {
        self.conf = conf;
        self
    }

    fn tabix_meta(&self) -> Vec<u8> {
        let mut aux = Vec::new();
        for v in self.conf {
            aux.extend_from_slice(&v.to_le_bytes());
        }
        // Contigs never named get empty names.
        let unnamed = self.n_refs.saturating_sub(self.n_named) as usize;
        aux.extend_from_slice(&((self.names.len() + unnamed) as i32).to_le_bytes());
        aux.extend_from_slice(&self.names);
        aux.extend(std::iter::repeat_n(0u8, unnamed));
        aux
    }

    fn close_open(&mut self) {
        if let Some((_, bin, s, e)) = self.open.take() {
            let b = self.cur.bins.entry(bin).or_default();
            match b.chunks.last_mut() {
                Some(last) if last.1 == s => last.1 = e,
                _ => b.chunks.push((s, e)),
            }
        }
    }

    /// Moves on to the next contig id: the current one is serialised and its blocks
    /// compressed once a block's worth has gathered.
    fn next_ref(&mut self) {
        self.close_open();
        if self.n_refs > 0 {
            let r = std::mem::take(&mut self.cur);
            self.serialise_ref(&r);
            // An index of a few MB is compressed whole at the end, as one stream with its
            // header (the layout of earlier versions); a larger one goes out as it grows.
            if self.pending.len() >= self.stream_after || !self.blocks.is_empty() {
                let full = self.pending.len() / BLOCK_DATA_SIZE * BLOCK_DATA_SIZE;
                for chunk in self.pending[..full].chunks(BLOCK_DATA_SIZE) {
                    compress_block_into(chunk, LEVEL, &mut self.blocks);
                }
                self.pending.drain(..full);
            }
        }
        self.n_refs += 1;
    }

    /// Appends one contig's bins (and, for `.tbi`, its linear index) to `pending`.
    fn serialise_ref(&mut self, r: &RefIndex) {
        let out = &mut self.pending;
        let n_bins = r.bins.len() + usize::from(r.off_beg.is_some());
        out.extend_from_slice(&(n_bins as i32).to_le_bytes());
        // Forward-filled linear index: empty windows point at an earlier record.
        let mut linear = Vec::with_capacity(r.linear.len());
        let mut last = 0u64;
        for v in &r.linear {
            if let Some(v) = v {
                last = *v;
            }
            linear.push(last);
        }
        for (bin, b) in &r.bins {
            out.extend_from_slice(&bin.to_le_bytes());
            if !self.tbi {
                let w = bin_first_window(*bin, self.depth) as usize;
                let loff = linear.get(w).copied().unwrap_or(0);
                out.extend_from_slice(&loff.to_le_bytes());
            }
            out.extend_from_slice(&(b.chunks.len() as i32).to_le_bytes());
            for (s, e) in &b.chunks {
                out.extend_from_slice(&s.to_le_bytes());
                out.extend_from_slice(&e.to_le_bytes());
            }
        }
        if let Some(beg) = r.off_beg {
            if self.tbi {
                out.extend_from_slice(&37450u32.to_le_bytes());
            } else {
                let pseudo = (((1u64 << (3 * (self.depth + 1))) - 1) / 7 + 1) as u32;
                out.extend_from_slice(&pseudo.to_le_bytes());
                out.extend_from_slice(&0u64.to_le_bytes());
            }
            out.extend_from_slice(&2i32.to_le_bytes());
            out.extend_from_slice(&beg.to_le_bytes());
            out.extend_from_slice(&r.off_end.to_le_bytes());
            out.extend_from_slice(&r.n_records.to_le_bytes());
            out.extend_from_slice(&0u64.to_le_bytes());
        }
        if self.tbi {
            out.extend_from_slice(&(linear.len() as i32).to_le_bytes());
            for v in linear {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
    }

    /// Names contig id `tid`; ids are dense in write order and named in that order, before or
    /// after their records (ids skipped get empty names; naming an id again is a no-op).
    pub fn ensure_name(&mut self, tid: u32, name: &str) {
        // Records of earlier ids may still be on their way (a writer indexes when it flushes),
        // so naming does not move on to `tid`: `finish` adds contigs named but never indexed.
        if tid < self.n_named {
            debug_assert!(false, "contig id {tid} named twice");
            return;
        }
        while self.n_named < tid {
            self.names.push(0);
            self.n_named += 1;
        }
        self.names.extend_from_slice(name.as_bytes());
        self.names.push(0);
        self.n_named += 1;
    }

    /// Serialises the index: BGZF-compressed CSI, or `.tbi` for [`CsiBuilder::new_tbi`].
    pub fn finish(mut self) -> Vec<u8> {
        self.close_open();
        while self.n_refs < self.n_named {
            self.next_ref();
        }
        if self.n_refs > 0 {
            let r = std::mem::take(&mut self.cur);
            self.serialise_ref(&r);
        }
        let mut head = Vec::new();
        if self.tbi {
            head.extend_from_slice(b"TBI\x01");
            head.extend_from_slice(&(self.n_refs as i32).to_le_bytes());
            // The tabix header is the CSI aux block without its length prefix.
            head.extend_from_slice(&self.tabix_meta());
        } else {
            head.extend_from_slice(b"CSI\x01");
            head.extend_from_slice(&(self.min_shift as i32).to_le_bytes());
            head.extend_from_slice(&(self.depth as i32).to_le_bytes());
            let aux = self.tabix_meta();
            head.extend_from_slice(&(aux.len() as i32).to_le_bytes());
            head.extend_from_slice(&aux);
            head.extend_from_slice(&(self.n_refs as i32).to_le_bytes());
        }
        if self.blocks.is_empty() {
            head.extend_from_slice(&self.pending);
            head.extend_from_slice(&0u64.to_le_bytes());
            return compress_all(&head, LEVEL);
        }
        // The header's blocks, the contigs' blocks, then the rest and the end-of-file block.
        let mut out = Vec::with_capacity(head.len() / 2 + self.blocks.len() + 1024);
        for chunk in head.chunks(BLOCK_DATA_SIZE) {
            compress_block_into(chunk, LEVEL, &mut out);
        }
        out.extend_from_slice(&self.blocks);
        self.pending.extend_from_slice(&0u64.to_le_bytes());
        out.extend_from_slice(&compress_all(&self.pending, LEVEL));
        out
    }
}

impl CsiBuilder {
    /// Adds one record spanning `[beg, end)` stored between two virtual offsets.
    pub fn push(&mut self, tid: u32, beg: u64, end: u64, vstart: u64, vend: u64) {
        while self.n_refs <= tid {
            self.next_ref();
        }
        // Ids come in write order; an earlier contig's index is already written.
        debug_assert_eq!(tid + 1, self.n_refs, "index ids out of order");
        if tid + 1 != self.n_refs {
            return;
        }
        let min_shift = self.min_shift;
        let bin = reg2bin(beg, end, min_shift, self.depth);
        match self.open.as_mut() {
            Some((t, b, _, e)) if *t == tid && *b == bin && *e == vstart => *e = vend,
            _ => {
                self.close_open();
                self.open = Some((tid, bin, vstart, vend));
            }
        }
        let r = &mut self.cur;
        // Records come sorted by start, so only windows past the current end need filling.
        let w1 = ((end.max(beg + 1) - 1) >> min_shift) as usize;
        if r.linear.len() <= w1 {
            let w0 = (beg >> min_shift) as usize;
            r.linear.resize(w1 + 1, None);
            for slot in &mut r.linear[w0..=w1] {
                if slot.is_none() {
                    *slot = Some(vstart);
                }
            }
        }
        if r.off_beg.is_none() {
            r.off_beg = Some(vstart);
        }
        r.off_end = vend;
        r.n_records += 1;
    }
}

impl RecordIndex for CsiBuilder {
    fn push(&mut self, tid: u32, beg: u64, end: u64, vstart: u64, vend: u64) {
        CsiBuilder::push(self, tid, beg, end, vstart, vend);
    }
}

// ---------------------------------------------------------------------------------------------
// Re-indexing a finished file

/// What re-indexing needs to know about the lines of a bgzipped text file (BED, VCF).
pub trait IndexedLines {
    /// A record line's contig, 0-based start and end; `None` for a line that is not a record
    /// (a header or blank line), which the index skips.
    fn record<'l>(&mut self, line: &'l [u8]) -> Result<Option<(&'l [u8], u64, u64)>>;
    /// The empty index, made when the first record comes (so the header lines before it can
    /// decide its shape) or at the end when none came.
    fn new_index(&mut self) -> CsiBuilder;
}

/// Builds the index of a bgzipped line file from its blocks, exactly as [`BgzfWriter`] builds
/// it while writing: a contig's first record starts where its line starts (where the previous
/// line ended, or a new block where the writer ended one, see [`BgzfWriter::end_block`]);
/// every other record spans from the previous record's end to its own; a record that ends a full block ends at the start of the next one.
/// Contigs get index ids in order of appearance.
///
/// [`BgzfWriter`]: crate::io::bgzf::BgzfWriter
/// [`BgzfWriter::end_block`]: crate::io::bgzf::BgzfWriter::end_block
pub struct Reindexer<L> {
    lines: L,
    csi: Option<CsiBuilder>,
    /// Contigs seen (each named in the index as it comes), and the last one's name.
    n_contigs: u32,
    last_name: Vec<u8>,
    /// The line in progress (it may span blocks), and its virtual start offset.
    line: Vec<u8>,
    line_start: u64,
    last_vend: u64,
    path: PathBuf,
    inflater: libdeflater::Decompressor,
    data: Vec<u8>,
}

impl<L: IndexedLines> Reindexer<L> {
    /// A re-indexer for the file `path` (named in errors).
    pub fn new(lines: L, path: impl Into<PathBuf>) -> Self {
        Reindexer {
            lines,
            csi: None,
            n_contigs: 0,
            last_name: Vec::new(),
            line: Vec::new(),
            line_start: 0,
            last_vend: 0,
            path: path.into(),
            inflater: libdeflater::Decompressor::new(),
            data: Vec::new(),
        }
    }

    /// Feeds the file's next block; its `coffset` is its offset in the file being indexed.
    pub fn block(&mut self, b: &Block) -> Result<()> {
        let mut data = std::mem::take(&mut self.data);
        b.inflate_into(&mut self.inflater, &mut data, &self.path)?;
        let r = self.lines_of(b, &data);
        self.data = data;
        r
    }

    fn lines_of(&mut self, b: &Block, data: &[u8]) -> Result<()> {
        let coffset = b.coffset;
        let mut start = 0;
        if self.line.is_empty() {
            self.line_start = coffset << 16;
        }
        for nl in memchr::memchr_iter(b'\n', data) {
            self.line.extend_from_slice(&data[start..nl]);
            start = nl + 1;
            let vend = if start == data.len() && data.len() == BLOCK_DATA_SIZE {
                b.end() << 16
            } else {
                (coffset << 16) | start as u64
            };
            let line = std::mem::take(&mut self.line);
            let r = self.record(&line, vend);
            self.line = line;
            r?;
            self.line.clear();
            // The next line starts where this one ends, as the writer counts it (the start of
            // the next block when this one ends a full block).
            self.line_start = vend;
        }
        self.line.extend_from_slice(&data[start..]);
        Ok(())
    }

    fn record(&mut self, line: &[u8], vend: u64) -> Result<()> {
        let Some((chrom, beg, end)) = self.lines.record(line)? else {
            return Ok(());
        };
        let csi = match self.csi.as_mut() {
            Some(c) => c,
            None => self.csi.insert(self.lines.new_index()),
        };
        if self.n_contigs == 0 || self.last_name != chrom {
            self.last_name.clear();
            self.last_name.extend_from_slice(chrom);
            csi.ensure_name(self.n_contigs, &String::from_utf8_lossy(chrom));
            self.n_contigs += 1;
            self.last_vend = self.line_start;
        }
        let tid = self.n_contigs - 1;
        csi.push(tid, beg, end, self.last_vend, vend);
        self.last_vend = vend;
        Ok(())
    }

    /// The index (with its contig names) and the line reader, once every block was fed.
    pub fn finish(mut self) -> (L, CsiBuilder) {
        let csi = match self.csi.take() {
            Some(c) => c,
            None => self.lines.new_index(),
        };
        (self.lines, csi)
    }
}

/// Walks the whole bgzipped line file `path` and builds its index (see [`Reindexer`]).
pub fn reindex<L: IndexedLines>(path: &Path, lines: L) -> Result<(L, CsiBuilder)> {
    let f = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut blocks = BlockReader::new(BufReader::with_capacity(1 << 20, f), path, 0);
    let mut index = Reindexer::new(lines, path);
    while let Some(b) = blocks.next_block()? {
        index.block(&b)?;
    }
    Ok(index.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_match_the_sam_spec_for_depth_5() {
        // BAI-equivalent scheme (min_shift 14, depth 5): bin of [0,1) is 4681, whole-genome bin 0.
        assert_eq!(reg2bin(0, 1, 14, 5), 4681);
        assert_eq!(reg2bin(0, 1 << 29, 14, 5), 0);
        assert_eq!(reg2bin(1 << 14, (1 << 14) + 5, 14, 5), 4682);
        assert_eq!(bin_first_window(4682, 5), 1);
        assert_eq!(bin_first_window(0, 5), 0);
        assert_eq!(bin_first_window(1, 5), 0);
        assert_eq!(bin_first_window(2, 5), 4096);
    }

    /// An index too large to hold is compressed as it grows: other blocks, the same bytes.
    #[test]
    fn a_streamed_index_holds_the_same_bytes() {
        for tbi in [false, true] {
            let build = |stream_after: usize| {
                let mut b = if tbi {
                    CsiBuilder::new_tbi()
                } else {
                    CsiBuilder::new(14, 6)
                };
                b.stream_after = stream_after;
                let mut v = 0u64;
                for tid in 0..3000u32 {
                    b.ensure_name(tid, &format!("contig{tid}"));
                    for k in 0..(tid % 7 + 1) as u64 {
                        let beg = k * 40_000 + u64::from(tid % 13);
                        b.push(tid, beg, beg + 150, v << 16, (v + 1) << 16);
                        v += 1;
                    }
                }
                b.finish()
            };
            let whole = build(usize::MAX);
            let streamed = build(10_000);
            assert_ne!(whole, streamed, "tbi {tbi}: the small limit must stream");
            let p = Path::new("t.csi");
            assert_eq!(
                crate::io::bgzf::inflate(&whole, p).unwrap(),
                crate::io::bgzf::inflate(&streamed, p).unwrap(),
                "tbi {tbi}"
            );
        }
    }

    #[test]
    fn levels_follow_mosdepth() {
        assert_eq!(levels_for(10_000), 0);
        assert_eq!(levels_for(1 << 14), 0);
        assert_eq!(levels_for((1 << 14) + 1), 1);
        assert_eq!(levels_for(248_956_422), 5);
    }
}
