//! Sharded coverage: a shard run covers a range of whole contigs and leaves its BED files
//! (header in blocks of its own, each contig starting a block) and a record of the per-contig
//! statistics, `{prefix}.kasane-shard.json`. [`gather`] joins the shards' BGZF blocks in order,
//! rebuilds the CSI from the joined file, and writes the summary and distribution files from
//! the per-contig statistics with the same code an unsharded run uses, so every file is the
//! unsharded run's byte for byte.

use std::fs::File;
use std::io::{BufReader, Seek, SeekFrom, Write};
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

/// The summary and distribution files' text.
pub struct Texts {
    pub global_dist: String,
    pub summary: String,
    pub region_dist: Option<String>,
}

/// mosdepth's summary and distribution files from the contigs with reads, in order.
pub fn texts(done: &[ContigSummary], by: bool, prec: usize) -> Texts {
    let mut summary = String::from("chrom\tlength\tbases\tmean\tmin\tmax\n");
    let mut global_dist = String::new();
    let mut region_dist = String::new();
    let mut g_hist = Histogram::default();
    let mut r_hist = Histogram::default();
    let mut g_stat = DepthStat::ZERO;
    let mut r_stat = DepthStat::ZERO;
    for (i, c) in done.iter().enumerate() {
        g_stat = g_stat.merge(&c.stat);
        summary.push_str(&c.stat.summary_line(&c.name, prec));
        // mosdepth's running region total starts zeroed, not cleared: the first contig with
        // reads reports a region minimum of 0.
        let rs = if i == 0 {
            DepthStat::ZERO.merge(&c.region_stat)
        } else {
            c.region_stat
        };
        if by {
            summary.push_str(&rs.summary_line(&format!("{}_region", c.name), prec));
        }
        r_stat = r_stat.merge(&rs);
        c.hist.write_distribution(&c.name, prec, &mut global_dist);
        g_hist.merge(&c.hist);
        if by {
            c.region_hist
                .write_distribution(&c.name, prec, &mut region_dist);
            r_hist.merge(&c.region_hist);
        }
    }
    summary.push_str(&g_stat.summary_line("total", prec));
    if by {
        summary.push_str(&r_stat.summary_line("total_region", prec));
    }
    g_hist.write_distribution("total", prec, &mut global_dist);
    if by {
        r_hist.write_distribution("total", prec, &mut region_dist);
    }
    Texts {
        global_dist,
        summary,
        region_dist: by.then_some(region_dist),
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
    let done: Vec<ContigSummary> = records.iter().flat_map(|r| r.contigs.clone()).collect();
    let t = texts(&done, first.by, first.precision);
    let mut files = vec![
        (format!("{prefix}.mosdepth.global.dist.txt"), t.global_dist),
        (format!("{prefix}.mosdepth.summary.txt"), t.summary),
    ];
    if let Some(rd) = t.region_dist {
        files.push((format!("{prefix}.mosdepth.region.dist.txt"), rd));
    }
    for (path, text) in files {
        super::output::write_text(path.clone(), &text, &mut set)?;
        outputs.push(path);
    }
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
