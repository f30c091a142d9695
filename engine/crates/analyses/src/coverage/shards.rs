//! Sharded coverage: a shard run covers a range of whole contigs and leaves its BED files
//! (header in blocks of its own, each contig starting a block) and a record of the per-contig
//! statistics, `{prefix}.kasane-shard.json`. [`gather`] joins the shards' BGZF blocks in order,
//! rebuilds the CSI from the joined file, and writes the summary and distribution files from
//! the per-contig statistics with the same code an unsharded run uses, so every file is the
//! unsharded run's byte for byte.

use std::fs::File;
use std::io::{BufReader, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::stats::{DepthStat, Histogram};
use crate::error::{Error, Result};
use crate::io::atomic::{OutputSet, PendingFile};
use crate::io::bgzf::{BlockReader, EOF_BLOCK};
use crate::io::csi::{CsiBuilder, IndexedLines, Reindexer};

/// What the summary and distribution files need from one contig that had reads.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ContigSummary {
    pub name: String,
    pub stat: DepthStat,
    /// Over the contig's regions, accumulated from [`DepthStat::CLEARED`].
    pub region_stat: DepthStat,
    pub hist: Histogram,
    pub region_hist: Histogram,
}

/// The summary and distribution files of mosdepth, written as contigs finish: a contig's
/// lines go out at once and only the running totals stay, so memory does not grow with the
/// number of contigs. Per-contig lines come in order, then the totals.
pub struct Summaries<W: Write> {
    by: bool,
    prec: usize,
    summary: W,
    global_dist: W,
    region_dist: Option<W>,
    g_hist: Histogram,
    r_hist: Histogram,
    g_stat: DepthStat,
    r_stat: DepthStat,
    first: bool,
    text: String,
}

impl<W: Write> Summaries<W> {
    /// `region_dist` is written only with `by` (region statistics).
    pub fn new(
        by: bool,
        prec: usize,
        mut summary: W,
        global_dist: W,
        region_dist: Option<W>,
    ) -> std::io::Result<Self> {
        summary.write_all(b"chrom\tlength\tbases\tmean\tmin\tmax\n")?;
        Ok(Summaries {
            by,
            prec,
            summary,
            global_dist,
            region_dist: region_dist.filter(|_| by),
            g_hist: Histogram::default(),
            r_hist: Histogram::default(),
            g_stat: DepthStat::ZERO,
            r_stat: DepthStat::ZERO,
            first: true,
            text: String::new(),
        })
    }

    /// Adds one contig with reads.
    pub fn add(&mut self, c: &ContigSummary) -> std::io::Result<()> {
        let prec = self.prec;
        self.g_stat = self.g_stat.merge(&c.stat);
        self.summary
            .write_all(c.stat.summary_line(&c.name, prec).as_bytes())?;
        // mosdepth's running region total starts zeroed, not cleared: the first contig with
        // reads reports a region minimum of 0.
        let rs = if self.first {
            DepthStat::ZERO.merge(&c.region_stat)
        } else {
            c.region_stat
        };
        self.first = false;
        if self.by {
            self.summary.write_all(
                rs.summary_line(&format!("{}_region", c.name), prec)
                    .as_bytes(),
            )?;
        }
        self.r_stat = self.r_stat.merge(&rs);
        self.text.clear();
        c.hist.write_distribution(&c.name, prec, &mut self.text);
        self.global_dist.write_all(self.text.as_bytes())?;
        self.g_hist.merge(&c.hist);
        if let Some(w) = self.region_dist.as_mut() {
            self.text.clear();
            c.region_hist
                .write_distribution(&c.name, prec, &mut self.text);
            w.write_all(self.text.as_bytes())?;
            self.r_hist.merge(&c.region_hist);
        }
        Ok(())
    }

    /// Writes the totals and hands the writers back (summary, global, region).
    pub fn finish(mut self) -> std::io::Result<(W, W, Option<W>)> {
        let prec = self.prec;
        self.summary
            .write_all(self.g_stat.summary_line("total", prec).as_bytes())?;
        if self.by {
            self.summary
                .write_all(self.r_stat.summary_line("total_region", prec).as_bytes())?;
        }
        self.text.clear();
        self.g_hist
            .write_distribution("total", prec, &mut self.text);
        self.global_dist.write_all(self.text.as_bytes())?;
        if let Some(w) = self.region_dist.as_mut() {
            self.text.clear();
            self.r_hist
                .write_distribution("total", prec, &mut self.text);
            w.write_all(self.text.as_bytes())?;
        }
        Ok((self.summary, self.global_dist, self.region_dist))
    }
}

/// The three text files of a run or a gather, under temporary names until committed.
pub struct SummaryFiles {
    files: Vec<PendingFile>,
    paths: Vec<String>,
    writer: Summaries<BufWriter<File>>,
}

impl SummaryFiles {
    /// Creates `{prefix}.mosdepth.global.dist.txt`, `.summary.txt` and, with `by`,
    /// `.region.dist.txt`.
    pub fn create(prefix: &str, by: bool, prec: usize) -> Result<Self> {
        let mut files = Vec::new();
        let mut paths = Vec::new();
        let mut writers = Vec::new();
        let mut suffixes = vec!["mosdepth.global.dist.txt", "mosdepth.summary.txt"];
        if by {
            suffixes.push("mosdepth.region.dist.txt");
        }
        for suffix in suffixes {
            let path = format!("{prefix}.{suffix}");
            let (f, w) = PendingFile::create(path.clone())?;
            files.push(f);
            paths.push(path);
            writers.push(w);
        }
        let region = if by { writers.pop() } else { None };
        let summary = writers.pop();
        let global = writers.pop();
        let (Some(summary), Some(global)) = (summary, global) else {
            return Err(Error::Usage("internal error: summary files".into()));
        };
        let writer = Summaries::new(by, prec, summary, global, region)
            .map_err(|e| Error::io(&paths[1], e))?;
        Ok(SummaryFiles {
            files,
            paths,
            writer,
        })
    }

    pub fn add(&mut self, c: &ContigSummary) -> Result<()> {
        self.writer.add(c).map_err(|e| Error::io(&self.paths[0], e))
    }

    /// Writes the totals and adds the files to `set`; returns their paths.
    pub fn finish(self, set: &mut OutputSet) -> Result<Vec<String>> {
        let err = |e| Error::io(&self.paths[0], e);
        let (mut s, mut g, r) = self.writer.finish().map_err(err)?;
        s.flush().map_err(err)?;
        g.flush().map_err(err)?;
        if let Some(mut r) = r {
            r.flush().map_err(err)?;
        }
        for f in self.files {
            set.add(f);
        }
        Ok(self.paths)
    }
}

/// One BED output of a shard: its suffix (`per-base.bed.gz`, ...) and the compressed size of
/// its header blocks.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BedPart {
    pub suffix: String,
    pub header_bytes: u64,
}

/// `{prefix}.kasane-shard.json`: everything [`gather`] needs besides the BED files.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ShardRecord {
    pub kasane_version: String,
    pub shard: String,
    pub precision: usize,
    pub by: bool,
    pub csi_levels: u32,
    pub beds: Vec<BedPart>,
    pub contigs: Vec<ContigSummary>,
}

pub fn record_path(prefix: &str) -> String {
    format!("{prefix}.kasane-shard.json")
}

fn read_record(prefix: &str) -> Result<ShardRecord> {
    let path = record_path(prefix);
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    serde_json::from_str(&text)
        .map_err(|e| Error::format(&path, format!("not a shard record: {e}")))
}

/// Joins the shards `parts` (their prefixes, in shard order) into the files of `prefix`;
/// returns the files written.
pub fn gather(parts: &[String], prefix: &str) -> Result<Vec<String>> {
    let records: Vec<ShardRecord> = parts
        .iter()
        .map(|p| read_record(p))
        .collect::<Result<_>>()?;
    let Some(first) = records.first() else {
        return Err(Error::Usage("gather: no shards given".into()));
    };
    for (r, p) in records.iter().zip(parts).skip(1) {
        let same = r.precision == first.precision
            && r.by == first.by
            && r.csi_levels == first.csi_levels
            && r.kasane_version == first.kasane_version
            && r.beds
                .iter()
                .map(|b| &b.suffix)
                .eq(first.beds.iter().map(|b| &b.suffix));
        if !same {
            return Err(Error::format(
                record_path(p),
                format!(
                    "made with other options or another kasane than {}",
                    record_path(&parts[0])
                ),
            ));
        }
    }
    let mut set = OutputSet::default();
    let mut outputs = Vec::new();
    let mut texts = SummaryFiles::create(prefix, first.by, first.precision)?;
    for c in records.iter().flat_map(|r| &r.contigs) {
        texts.add(c)?;
    }
    outputs.extend(texts.finish(&mut set)?);
    for (k, bed) in first.beds.iter().enumerate() {
        let out_path = format!("{prefix}.{}", bed.suffix);
        let (file, mut w) = PendingFile::create(out_path.clone())?;
        let mut index = Reindexer::new(BedLines::new(first.csi_levels, &out_path), &out_path);
        let mut coffset = 0u64;
        for (i, (r, p)) in records.iter().zip(parts).enumerate() {
            let src = PathBuf::from(format!("{p}.{}", bed.suffix));
            let len = std::fs::metadata(&src)
                .map_err(|e| Error::io(&src, e))?
                .len();
            let h = r.beds[k].header_bytes;
            if len < h + EOF_BLOCK.len() as u64 {
                return Err(Error::bgzf(&src, "shorter than its shard record says"));
            }
            // The header from the first shard; every shard's contig blocks; one EOF block.
            let from = if i == 0 { 0 } else { h };
            let to = len - EOF_BLOCK.len() as u64;
            copy_blocks(&src, from, to, &mut w, &mut coffset, &mut index)?;
        }
        w.write_all(&EOF_BLOCK)
            .and_then(|_| w.flush())
            .map_err(|e| Error::io(&out_path, e))?;
        drop(w);
        set.add(file);
        let csi_path = format!("{out_path}.csi");
        let (csi, mut cw) = PendingFile::create(csi_path.clone())?;
        cw.write_all(&index.finish().1.finish())
            .and_then(|_| cw.flush())
            .map_err(|e| Error::io(&csi_path, e))?;
        set.add(csi);
        outputs.push(out_path);
    }
    set.commit()?;
    Ok(outputs)
}

/// Copies the whole BGZF blocks of `src` in `[from, to)` to `w`, feeding each to `index` at
/// its offset in the joined file (`coffset`, advanced past it).
fn copy_blocks(
    src: &Path,
    from: u64,
    to: u64,
    w: &mut impl Write,
    coffset: &mut u64,
    index: &mut Reindexer<BedLines>,
) -> Result<()> {
    let mut f = File::open(src).map_err(|e| Error::io(src, e))?;
    f.seek(SeekFrom::Start(from))
        .map_err(|e| Error::io(src, e))?;
    let mut blocks = BlockReader::new(BufReader::with_capacity(1 << 20, f), src, from);
    while blocks.offset() < to {
        let Some(b) = blocks.next_block()? else {
            break;
        };
        w.write_all(b.raw).map_err(|e| Error::io(src, e))?;
        let len = b.raw.len() as u64;
        index.block(&b.moved_to(*coffset))?;
        *coffset += len;
    }
    if blocks.offset() != to {
        return Err(Error::bgzf(
            src,
            "BGZF blocks do not end where the shard record says",
        ));
    }
    Ok(())
}

/// A BED file's lines for its CSI: chrom, start and end columns; `#` lines are the header.
pub struct BedLines {
    levels: u32,
    path: String,
}

impl BedLines {
    pub fn new(levels: u32, path: &str) -> Self {
        BedLines {
            levels,
            path: path.to_string(),
        }
    }
}

impl IndexedLines for BedLines {
    fn record<'l>(&mut self, line: &'l [u8]) -> Result<Option<(&'l [u8], u64, u64)>> {
        if line.first() == Some(&b'#') {
            return Ok(None);
        }
        let bad = || Error::format(&self.path, "a BED line without chrom, start and end");
        let mut f = line.split(|&b| b == b'\t');
        let chrom = f.next().ok_or_else(bad)?;
        let num = |x: Option<&[u8]>| -> Option<u64> { std::str::from_utf8(x?).ok()?.parse().ok() };
        let beg = num(f.next()).ok_or_else(bad)?;
        let end = num(f.next()).ok_or_else(bad)?;
        Ok(Some((chrom, beg, end)))
    }

    fn new_index(&mut self) -> CsiBuilder {
        CsiBuilder::new(14, self.levels)
    }
}
