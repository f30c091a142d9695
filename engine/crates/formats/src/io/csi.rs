//! Writing CSI indexes (with tabix metadata) for BGZF-compressed BED outputs, as
//! `tabix -C`/htslib would: binning index with per-bin linear offsets, plus the per-contig
//! pseudo-bin that holds its span and record counts.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::io::bgzf::{compress_all, Block, BlockReader, RecordIndex, BLOCK_DATA_SIZE};

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
    refs: Vec<RefIndex>,
    names: Vec<String>,
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
            refs: Vec::new(),
            names: Vec::new(),
            open: None,
            conf: CONF_BED,
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
        let mut names = Vec::new();
        for n in &self.names {
            names.extend_from_slice(n.as_bytes());
            names.push(0);
        }
        aux.extend_from_slice(&(names.len() as i32).to_le_bytes());
        aux.extend_from_slice(&names);
        aux
    }

    /// Serialises the index as tabix `.tbi` (BGZF-compressed). Only valid for the BAI-like
    /// scheme (min_shift 14, depth 5), i.e. contigs shorter than 2^29.
    pub fn finish_tbi(mut self) -> Vec<u8> {
        self.close_open();
        let mut out = Vec::new();
        out.extend_from_slice(b"TBI\x01");
        out.extend_from_slice(&(self.refs.len() as i32).to_le_bytes());
        // The tabix header is the CSI aux block without its length prefix.
        out.extend_from_slice(&self.tabix_meta());
        for r in &self.refs {
            let n_bins = r.bins.len() + usize::from(r.off_beg.is_some());
            out.extend_from_slice(&(n_bins as i32).to_le_bytes());
            for (bin, b) in &r.bins {
                out.extend_from_slice(&bin.to_le_bytes());
                out.extend_from_slice(&(b.chunks.len() as i32).to_le_bytes());
                for (s, e) in &b.chunks {
                    out.extend_from_slice(&s.to_le_bytes());
                    out.extend_from_slice(&e.to_le_bytes());
                }
            }
            if let Some(beg) = r.off_beg {
                out.extend_from_slice(&37450u32.to_le_bytes());
                out.extend_from_slice(&2i32.to_le_bytes());
                out.extend_from_slice(&beg.to_le_bytes());
                out.extend_from_slice(&r.off_end.to_le_bytes());
                out.extend_from_slice(&r.n_records.to_le_bytes());
                out.extend_from_slice(&0u64.to_le_bytes());
            }
            out.extend_from_slice(&(r.linear.len() as i32).to_le_bytes());
            let mut last = 0u64;
            for v in &r.linear {
                if let Some(v) = v {
                    last = *v;
                }
                out.extend_from_slice(&last.to_le_bytes());
            }
        }
        out.extend_from_slice(&0u64.to_le_bytes());
        compress_all(&out, 6)
    }

    fn close_open(&mut self) {
        if let Some((tid, bin, s, e)) = self.open.take() {
            let b = self.refs[tid as usize].bins.entry(bin).or_default();
            match b.chunks.last_mut() {
                Some(last) if last.1 == s => last.1 = e,
                _ => b.chunks.push((s, e)),
            }
        }
    }

    /// Registers the contig name that the next `tid` refers to; tids are dense in write order.
    pub fn ensure_name(&mut self, tid: u32, name: &str) {
        while self.names.len() <= tid as usize {
            self.names.push(String::new());
            self.refs.push(RefIndex::default());
        }
        self.names[tid as usize] = name.to_string();
    }

    /// Serialises the index (BGZF-compressed CSI).
    pub fn finish(mut self) -> Vec<u8> {
        self.close_open();
        let mut out = Vec::new();
        out.extend_from_slice(b"CSI\x01");
        out.extend_from_slice(&(self.min_shift as i32).to_le_bytes());
        out.extend_from_slice(&(self.depth as i32).to_le_bytes());
        let aux = self.tabix_meta();
        out.extend_from_slice(&(aux.len() as i32).to_le_bytes());
        out.extend_from_slice(&aux);
        out.extend_from_slice(&(self.refs.len() as i32).to_le_bytes());
        let pseudo = (((1u64 << (3 * (self.depth + 1))) - 1) / 7 + 1) as u32;
        for r in &self.refs {
            // Forward-fill the linear index so empty windows point at an earlier record.
            let mut linear = Vec::with_capacity(r.linear.len());
            let mut last = 0u64;
            for v in &r.linear {
                if let Some(v) = v {
                    last = *v;
                }
                linear.push(last);
            }
            let n_bins = r.bins.len() + usize::from(r.off_beg.is_some());
            out.extend_from_slice(&(n_bins as i32).to_le_bytes());
            for (bin, b) in &r.bins {
                let w = bin_first_window(*bin, self.depth) as usize;
                let loff = linear.get(w).copied().unwrap_or(0);
                out.extend_from_slice(&bin.to_le_bytes());
                out.extend_from_slice(&loff.to_le_bytes());
                out.extend_from_slice(&(b.chunks.len() as i32).to_le_bytes());
                for (s, e) in &b.chunks {
                    out.extend_from_slice(&s.to_le_bytes());
                    out.extend_from_slice(&e.to_le_bytes());
                }
            }
            if let Some(beg) = r.off_beg {
                out.extend_from_slice(&pseudo.to_le_bytes());
                out.extend_from_slice(&0u64.to_le_bytes());
                out.extend_from_slice(&2i32.to_le_bytes());
                out.extend_from_slice(&beg.to_le_bytes());
                out.extend_from_slice(&r.off_end.to_le_bytes());
                out.extend_from_slice(&r.n_records.to_le_bytes());
                out.extend_from_slice(&0u64.to_le_bytes());
            }
        }
        out.extend_from_slice(&0u64.to_le_bytes());
        compress_all(&out, 6)
    }
}

impl CsiBuilder {
    /// Adds one record spanning `[beg, end)` stored between two virtual offsets.
    pub fn push(&mut self, tid: u32, beg: u64, end: u64, vstart: u64, vend: u64) {
        while self.refs.len() <= tid as usize {
            self.refs.push(RefIndex::default());
            self.names.push(String::new());
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
        let r = &mut self.refs[tid as usize];
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
/// it while writing: a contig's first record starts where its line starts (the writers end a
/// block there, see [`BgzfWriter::end_block`]); every other record spans from the previous
/// record's end to its own; a record that ends a full block ends at the start of the next one.
/// Contigs get index ids in order of appearance.
///
/// [`BgzfWriter`]: crate::io::bgzf::BgzfWriter
/// [`BgzfWriter::end_block`]: crate::io::bgzf::BgzfWriter::end_block
pub struct Reindexer<L> {
    lines: L,
    csi: Option<CsiBuilder>,
    names: Vec<Vec<u8>>,
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
            names: Vec::new(),
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
            self.line_start = (coffset << 16) | start as u64;
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
        if self.names.last().map(Vec::as_slice) != Some(chrom) {
            self.names.push(chrom.to_vec());
            self.last_vend = self.line_start;
        }
        let tid = (self.names.len() - 1) as u32;
        csi.push(tid, beg, end, self.last_vend, vend);
        self.last_vend = vend;
        Ok(())
    }

    /// The index (with its contig names) and the line reader, once every block was fed.
    pub fn finish(mut self) -> (L, CsiBuilder) {
        let mut csi = match self.csi.take() {
            Some(c) => c,
            None => self.lines.new_index(),
        };
        for (i, c) in self.names.iter().enumerate() {
            csi.ensure_name(i as u32, &String::from_utf8_lossy(c));
        }
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

    #[test]
    fn levels_follow_mosdepth() {
        assert_eq!(levels_for(10_000), 0);
        assert_eq!(levels_for(1 << 14), 0);
        assert_eq!(levels_for((1 << 14) + 1), 1);
        assert_eq!(levels_for(248_956_422), 5);
    }
}
