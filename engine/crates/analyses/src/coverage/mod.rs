//! Coverage: read alignments → depth on a backend → mosdepth's statistics and files.
//!
//! Reading is sequential over a sorted file (blocks inflate in parallel); each contig's depth is
//! accumulated by the backend. The depth of bases before the current read is final, so it is
//! taken from the backend as reading goes on and every output (per-base lines, histograms,
//! regions, thresholds, quantized runs) is produced from it then, in parallel pieces; the backend
//! frees what was taken. Only a region spanning a long stretch keeps that stretch in memory.

pub mod depth;
pub mod output;
pub mod regions;
pub mod shards;
pub mod stats;
pub mod stream;

use std::path::PathBuf;
use std::sync::Arc;

use crate::backend::depth::INLINE_BASES;
use crate::backend::{self, Backend, BackendKind, ContigDepth, ReduceSpec, Reduced};
use crate::error::{Error, Result};
use crate::input::{Input, Plan, Reach, Selection, Sink};
use crate::io::atomic::OutputSet;
use crate::io::bed::{BedRegions, Region};
use crate::io::csi::levels_for;
use crate::io::{Alignment, Fields, Header};
use crate::progress::Progress;
use crate::shard::{Groups, Shard};
use depth::{EventBuilder, ReadFilter};
use output::IndexedBed;
use regions::{QuantizeStream, RegionResult, RegionStream};
use shards::ContigSummary;
use stats::{DepthStat, Histogram};
use stream::ContigStream;

/// Where region statistics come from (`-b`).
#[derive(Clone, Debug)]
pub enum By {
    Windows(u64),
    Bed(PathBuf),
}

impl By {
    /// `--by`'s value: digits are a window size (positive), anything else a BED file.
    pub fn parse(s: &str) -> Result<By> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(By::Bed(PathBuf::from(s)));
        }
        let w: u64 = s
            .parse()
            .map_err(|e| Error::Usage(format!("window size is too large: {e}")))?;
        if w == 0 {
            return Err(Error::Usage("window size for --by must be positive".into()));
        }
        Ok(By::Windows(w))
    }
}

#[derive(Clone, Debug)]
pub struct CoverageOptions {
    pub prefix: String,
    pub input: PathBuf,
    pub threads: usize,
    pub chrom: Option<String>,
    pub by: Option<By>,
    pub no_per_base: bool,
    pub fasta: Option<PathBuf>,
    pub filter: ReadFilter,
    /// Sorted quantize bin edges (`-q`).
    pub quantize: Option<Vec<i64>>,
    /// Labels of the quantize bins (from `MOSDEPTH_Q<i>` or `lo:hi`).
    pub quantize_labels: Vec<String>,
    /// Sorted threshold depths (`-T`).
    pub thresholds: Vec<u64>,
    pub use_median: bool,
    /// Decimals in means and proportions (`MOSDEPTH_PRECISION`).
    pub precision: usize,
    pub backend: BackendKind,
    /// The command line, recorded in `{prefix}.kasane.json`.
    pub command_line: Vec<String>,
    /// One shard of the genome: only its contigs, and a shard record instead of the summary
    /// and distribution files (see [`shards::gather`]).
    pub shard: Option<Shard>,
}

/// What a run did, for logs and provenance.
#[derive(Debug)]
pub struct CoverageReport {
    pub backend: String,
    pub device: String,
    pub records: u64,
    pub outputs: Vec<String>,
    pub warnings: Vec<String>,
}

pub fn run(opts: &CoverageOptions, progress: &Progress) -> Result<CoverageReport> {
    /// Nothing beside the coverage.
    struct Alone;
    impl Sink for Alone {
        fn record<A: Alignment>(&mut self, _tid: usize, _rec: &A) -> Result<bool> {
            Ok(false)
        }
    }
    run_beside(opts, progress, &mut Alone, Fields::Positions)
}

/// A coverage run whose reading of the input also feeds `beside` (decoding `fields` of each
/// record): `kasane qc --coverage` reads the input once for both.
pub fn run_beside<S: Sink>(
    opts: &CoverageOptions,
    progress: &Progress,
    beside: &mut S,
    fields: Fields,
) -> Result<CoverageReport> {
    if opts.filter.fast_mode && opts.filter.fragment_mode {
        return Err(Error::Usage(
            "only one of --fast-mode and --fragment-mode can be given".into(),
        ));
    }
    if !opts.thresholds.is_empty() && opts.by.is_none() {
        return Err(Error::Usage(
            "--thresholds can only be used when --by is given".into(),
        ));
    }
    let threads = crate::threads::cap(opts.threads).max(1);
    let pool = crate::input::pool(threads, "cov")?;
    // An input that cannot be read counts as small: the reader then says what is wrong.
    let input_bytes = Some(std::fs::metadata(&opts.input).map_or(0, |m| m.len()));
    let backend = backend::open(opts.backend, threads, input_bytes)?;
    progress.log(&format!(
        "backend {} ({})",
        backend.name(),
        backend.device()
    ));
    let chrom_name = match &opts.chrom {
        Some(c) => Some(crate::io::bed::parse_region(c)?.chrom),
        None => None,
    };
    // The BED is read before any output is created, so a bad line leaves nothing behind.
    let bed = match &opts.by {
        Some(By::Bed(p)) => Some(BedRegions::read(p)?),
        _ => None,
    };
    let mut input = Input::open(&opts.input, opts.fasta.as_deref(), pool.clone())?;
    let header = input.header.clone();
    let plan = Plan::new(
        &Selection {
            contigs: chrom_name.map(|c| vec![c]),
            contigs_flag: "--chrom",
            shard: opts.shard,
            ..Default::default()
        },
        &header.refs,
        &opts.input,
    )?;
    let tids = plan.contigs();
    // One contig (`--chrom`) is read through the index; a shard starts at its first record
    // when there is a BAM index, and the driver stops after its contigs.
    let (targets, reach) = if plan.is_whole_genome() {
        (None, Reach::All)
    } else if opts.shard.is_some() {
        (Some(tids.clone()), Reach::From(&tids))
    } else {
        input.require_index("--chrom")?;
        (Some(tids.clone()), Reach::Contigs(&tids))
    };
    // The reader runs on this thread, never inside the pool: the pool inflates its blocks.
    let mut driver = Driver::new(opts, &header, targets, bed, backend, pool.clone(), progress)?;
    input.read(
        reach,
        fields,
        &mut crate::input::Tee(&mut driver, beside),
        Some(progress),
    )?;
    driver.records = input.records_decoded();
    driver.finish_remaining()?;
    let report = driver.finish()?;
    progress.done();
    Ok(report)
}

/// A contig that had reads: its histogram and statistics, from the stream.
struct ContigData {
    hist: Histogram,
    stat: DepthStat,
}

/// Region iteration for one contig.
enum RegionSource {
    None,
    Windows(u64),
    Bed(BedRegions),
}

struct Driver<'a> {
    opts: &'a CoverageOptions,
    header: &'a Header,
    backend: Box<dyn Backend>,
    pool: Arc<rayon::ThreadPool>,
    progress: &'a Progress,
    /// Contigs to report, in header order.
    targets: Vec<usize>,
    next_target: usize,
    /// Contig whose records are being read.
    current: Option<usize>,
    current_active: bool,
    found: bool,
    depth: Option<Box<dyn ContigDepth>>,
    stream: Option<ContigStream>,
    region_stream: Option<RegionStream>,
    quant_stream: Option<QuantizeStream>,
    /// The current contig's region distribution (filled as regions finish).
    chrom_region_dist: Histogram,
    /// Whether depths can be finalised while reading (not in fragment mode, where a read's
    /// fragment may start before the read).
    streaming: bool,
    builder: EventBuilder,
    regions: RegionSource,
    records: u64,
    // outputs
    per_base: Option<IndexedBed>,
    region_bed: Option<IndexedBed>,
    quantized: Option<IndexedBed>,
    thresholds: Option<IndexedBed>,
    /// The summary and distribution files, written as contigs finish (unsharded runs).
    texts: Option<shards::SummaryFiles>,
    /// Contigs with reads, in order, for the shard record (sharded runs).
    done: Vec<ContigSummary>,
    chrom_region_stat: DepthStat,
    warnings: Vec<String>,
}

const BATCH_EVENTS: usize = 1 << 16;

/// Runs `f` on the pool, or here when it covers at most [`INLINE_BASES`] bases (nothing
/// parallel then, and a pool round trip per tiny contig would dominate).
fn on_pool<R: Send>(pool: &rayon::ThreadPool, bases: usize, f: impl FnOnce() -> R + Send) -> R {
    if bases <= INLINE_BASES {
        f()
    } else {
        pool.install(f)
    }
}
/// Bases reduced per backend call: large enough to keep a GPU busy, small enough that the
/// pieces in flight stay a few megabytes.
const STEP: usize = 4 * stream::PIECE;

impl<'a> Driver<'a> {
    fn new(
        opts: &'a CoverageOptions,
        header: &'a Header,
        targets: Option<Vec<usize>>,
        bed: Option<BedRegions>,
        backend: Box<dyn Backend>,
        pool: Arc<rayon::ThreadPool>,
        progress: &'a Progress,
    ) -> Result<Self> {
        let levels = levels_for(header.refs.iter().map(|r| r.len).max().unwrap_or(0));
        let p = &opts.prefix;
        let lengths: Vec<u64> = header.refs.iter().map(|r| r.len).collect();
        let groups = Arc::new(Groups::new(&lengths));
        let open = |suffix: &str| {
            IndexedBed::create(
                format!("{p}.{suffix}"),
                levels,
                pool.clone(),
                groups.clone(),
            )
        };
        let per_base = if opts.no_per_base {
            None
        } else {
            Some(open("per-base.bed.gz")?)
        };
        let quantized = if opts.quantize.is_some() {
            Some(open("quantized.bed.gz")?)
        } else {
            None
        };
        let mut thresholds = if opts.thresholds.is_empty() {
            None
        } else {
            Some(open("thresholds.bed.gz")?)
        };
        if let Some(t) = thresholds.as_mut() {
            let mut h = String::from("#chrom\tstart\tend\tregion");
            for v in &opts.thresholds {
                h.push_str(&format!("\t{v}X"));
            }
            h.push('\n');
            t.header(&h)?;
        }
        let region_bed = if opts.by.is_some() {
            Some(open("regions.bed.gz")?)
        } else {
            None
        };
        let regions = match (&opts.by, bed) {
            (Some(By::Windows(w)), _) => RegionSource::Windows(*w),
            (Some(By::Bed(_)), Some(b)) => RegionSource::Bed(b),
            _ => RegionSource::None,
        };
        let targets = targets.unwrap_or_else(|| (0..header.refs.len()).collect());
        let texts = match opts.shard {
            None => Some(shards::SummaryFiles::create(
                p,
                opts.by.is_some(),
                opts.precision,
            )?),
            Some(_) => None,
        };
        Ok(Driver {
            opts,
            header,
            backend,
            pool,
            progress,
            targets,
            next_target: 0,
            current: None,
            current_active: false,
            found: false,
            depth: None,
            stream: None,
            region_stream: None,
            quant_stream: None,
            chrom_region_dist: Histogram::default(),
            streaming: !opts.filter.fragment_mode,
            builder: EventBuilder::new(opts.filter.clone()),
            regions,
            records: 0,
            per_base,
            region_bed,
            quantized,
            thresholds,
            texts,
            done: Vec::new(),
            chrom_region_stat: DepthStat::CLEARED,
            warnings: Vec::new(),
        })
    }

    /// mosdepth's window mode bins region means into 1000 slots.
    fn new_region_dist(&self) -> Histogram {
        match self.regions {
            RegionSource::Windows(_) => Histogram::with_len(1000),
            _ => Histogram::default(),
        }
    }

    /// mosdepth skips a contig entirely when only BED regions are wanted and it has none.
    fn skipped(&self, tid: usize) -> bool {
        let name = &self.header.refs[tid].name;
        self.opts.no_per_base
            && self.opts.thresholds.is_empty()
            && self.opts.quantize.is_none()
            && matches!(&self.regions, RegionSource::Bed(b) if !b.by_chrom.contains_key(name))
    }

    /// Moves to contig `tid`: finishes the open one and every target before `tid`.
    fn advance_to(&mut self, tid: usize) -> Result<()> {
        self.finish_current()?;
        while self.next_target < self.targets.len() && self.targets[self.next_target] < tid {
            let t = self.targets[self.next_target];
            self.next_target += 1;
            if !self.skipped(t) {
                self.emit_contig(t, None, None)?;
            }
        }
        self.current = Some(tid);
        self.found = false;
        self.current_active = false;
        if self.next_target < self.targets.len() && self.targets[self.next_target] == tid {
            self.next_target += 1;
            if !self.skipped(tid) {
                self.current_active = true;
                self.builder.begin(self.header.refs[tid].len);
                let r = &self.header.refs[tid];
                self.depth = Some(self.backend.begin_contig(r.len as usize)?);
                if let Some(q) = &self.opts.quantize {
                    self.quant_stream = Some(QuantizeStream::new(q, r.len as usize));
                }
                self.chrom_region_dist = self.new_region_dist();
                if self.opts.by.is_some() {
                    let regions = self.contig_regions(tid);
                    // BED regions add their bases to the region distribution; windows add their means.
                    let bed = matches!(self.regions, RegionSource::Bed(_));
                    self.region_stream = Some(RegionStream::new(
                        regions,
                        self.opts.use_median,
                        &self.opts.thresholds,
                        bed,
                    ));
                }
                let r = &self.header.refs[tid];
                self.stream = Some(ContigStream::new(
                    tid,
                    &r.name,
                    r.len as usize,
                    self.per_base.is_some(),
                    self.pool.current_num_threads(),
                ));
                self.progress.contig(&self.header.refs[tid].name);
            }
        }
        Ok(())
    }

    fn flush_events(&mut self) -> Result<()> {
        if let Some(d) = self.depth.as_mut() {
            d.add_events(&self.builder.batch)?;
        }
        self.builder.batch.clear();
        Ok(())
    }

    fn finish_current(&mut self) -> Result<()> {
        let Some(tid) = self.current.take() else {
            return Ok(());
        };
        if !self.current_active {
            return Ok(());
        }
        self.flush_events()?;
        self.builder.end_contig();
        let len = self.header.refs[tid].len as usize;
        if !self.found {
            self.depth = None;
            self.stream = None;
            self.quant_stream = None;
            let regions = self.region_stream.take().map(RegionStream::into_regions);
            return self.emit_contig(tid, None, regions);
        }
        self.advance_final(tid, len)?;
        self.reduce_last_base(tid, len)?;
        if let Some(mut rs) = self.region_stream.take() {
            let done = rs.finish();
            self.write_regions(tid, done)?;
        }
        if let Some(mut q) = self.quant_stream.take() {
            let mut runs = Vec::new();
            q.finish(|s, e, b| runs.push((s, e, b)));
            self.write_quantized(tid, &runs)?;
        }
        self.depth = None;
        let stream = self.stream.take();
        let (hist, stat) = match stream {
            Some(s) => s.finish(self.per_base.as_mut())?,
            None => (Histogram::default(), DepthStat::CLEARED),
        };
        self.emit_contig(tid, Some(ContigData { hist, stat }), None)
    }

    /// Reduces final depths up to `pos` on the backend and feeds the reductions to the
    /// outputs, in steps so that a jump over a long empty stretch is never handled whole.
    fn advance_final(&mut self, tid: usize, pos: usize) -> Result<()> {
        loop {
            let Some(at) = self.stream.as_ref().map(ContigStream::done) else {
                return Ok(());
            };
            if at >= pos {
                return Ok(());
            }
            let to = pos.min(at + STEP);
            let intervals = match self.region_stream.as_mut() {
                Some(rs) => rs.intervals(to),
                None => Vec::new(),
            };
            let thresholds = self
                .region_stream
                .as_ref()
                .map(|rs| rs.thresholds().to_vec())
                .unwrap_or_default();
            let spec = ReduceSpec {
                runs: self.per_base.is_some()
                    || self
                        .region_stream
                        .as_ref()
                        .is_some_and(|rs| rs.wants_depth()),
                hist: true,
                intervals: &intervals,
                thresholds: &thresholds,
                quantize: self.opts.quantize.as_deref(),
            };
            let Some(d) = self.depth.as_mut() else {
                return Ok(());
            };
            let r = on_pool(&self.pool, to - at, || d.reduce(to, &spec))?;
            self.consume(tid, &r)?;
        }
    }

    /// Feeds one reduction to every output that wants it.
    fn consume(&mut self, tid: usize, r: &Reduced) -> Result<()> {
        if let Some(rs) = self.region_stream.as_mut() {
            let done = on_pool(&self.pool, r.to - r.from, || rs.push(r));
            if !done.is_empty() {
                self.write_regions(tid, done)?;
            }
        }
        if let Some(q) = self.quant_stream.as_mut() {
            let mut runs = Vec::new();
            q.push(&r.qruns, |s, e, b| runs.push((s, e, b)));
            self.write_quantized(tid, &runs)?;
        }
        if let Some(s) = self.stream.as_mut() {
            s.push(&self.pool, r, self.per_base.as_mut())?;
        }
        Ok(())
    }

    /// mosdepth's depth array has one more base, at the contig's end (always 0 here), which
    /// regions reaching past the end include.
    fn reduce_last_base(&mut self, tid: usize, len: usize) -> Result<()> {
        let (Some(rs), Some(d)) = (self.region_stream.as_mut(), self.depth.as_mut()) else {
            return Ok(());
        };
        let intervals = rs.intervals(len + 1);
        let spec = ReduceSpec {
            runs: true,
            intervals: &intervals,
            thresholds: rs.thresholds(),
            ..ReduceSpec::default()
        };
        let pool = &self.pool;
        // Only the extra base is left after advance_final.
        let r = on_pool(pool, 1, || d.reduce(len + 1, &spec))?;
        let done = on_pool(pool, r.to - r.from, || rs.push(&r));
        if !done.is_empty() {
            self.write_regions(tid, done)?;
        }
        Ok(())
    }

    fn write_quantized(&mut self, tid: usize, runs: &[(usize, usize, usize)]) -> Result<()> {
        let (Some(qb), labels) = (self.quantized.as_mut(), &self.opts.quantize_labels) else {
            return Ok(());
        };
        let name = &self.header.refs[tid].name;
        for &(s, e, b) in runs {
            qb.line(
                tid,
                name,
                s as u64,
                e as u64,
                &format!("{name}\t{s}\t{e}\t{}\n", labels[b]),
            )?;
        }
        Ok(())
    }

    /// Writes finished regions (of a contig with reads) and adds them to the statistics.
    fn write_regions(&mut self, tid: usize, done: Vec<(Region, RegionResult)>) -> Result<()> {
        let prec = self.opts.precision;
        let name = &self.header.refs[tid].name;
        let window_mode = matches!(self.regions, RegionSource::Windows(_));
        for (reg, res) in &done {
            if let Some(b) = self.region_bed.as_mut() {
                b.line(
                    tid,
                    name,
                    reg.start,
                    reg.end,
                    &output::region_line(reg, res.value, prec),
                )?;
            }
            self.chrom_region_stat = self.chrom_region_stat.merge(&res.stat);
            if window_mode {
                output::add_window_value(&mut self.chrom_region_dist, res.value);
            } else if let Some(h) = &res.hist {
                self.chrom_region_dist.merge(h);
            }
            if let Some(t) = self.thresholds.as_mut() {
                t.line(
                    tid,
                    name,
                    reg.start,
                    reg.end,
                    &output::threshold_line(reg, &res.thresholds),
                )?;
            }
        }
        Ok(())
    }

    /// Every target not yet reached gets its (empty) outputs.
    fn finish_remaining(&mut self) -> Result<()> {
        self.finish_current()?;
        while self.next_target < self.targets.len() {
            let t = self.targets[self.next_target];
            self.next_target += 1;
            if !self.skipped(t) {
                self.emit_contig(t, None, None)?;
            }
        }
        Ok(())
    }

    fn contig_regions(&mut self, tid: usize) -> Vec<Region> {
        let r = &self.header.refs[tid];
        match &mut self.regions {
            RegionSource::None => Vec::new(),
            RegionSource::Windows(w) => {
                let w = *w;
                let mut v = Vec::with_capacity((r.len / w.max(1)) as usize + 1);
                let mut start = 0u64;
                while start + w < r.len {
                    v.push(Region {
                        chrom: r.name.clone(),
                        start,
                        end: start + w,
                        name: None,
                    });
                    start += w;
                }
                if start != r.len {
                    v.push(Region {
                        chrom: r.name.clone(),
                        start,
                        end: r.len,
                        name: None,
                    });
                }
                v
            }
            RegionSource::Bed(b) => b.by_chrom.remove(&r.name).unwrap_or_default(),
        }
    }

    /// Writes what remains for one contig once its reads are done: summary rows and
    /// distributions. `data` is `None` when the file has no record on it (mosdepth's "no data"
    /// case), which also gets zero-valued region, thresholds, per-base and quantize lines;
    /// `regions` are its regions if they were already taken from the BED.
    fn emit_contig(
        &mut self,
        tid: usize,
        data: Option<ContigData>,
        regions: Option<Vec<Region>>,
    ) -> Result<()> {
        let opts = self.opts;
        let prec = opts.precision;
        let name = self.header.refs[tid].name.clone();
        let len = self.header.refs[tid].len;
        let Some(ContigData { hist, stat }) = data else {
            if opts.by.is_some() {
                let regions = match regions {
                    Some(r) => r,
                    None => self.contig_regions(tid),
                };
                let zeros = vec![0u64; opts.thresholds.len()];
                for reg in &regions {
                    if let Some(b) = self.region_bed.as_mut() {
                        b.line(
                            tid,
                            &name,
                            reg.start,
                            reg.end,
                            &output::region_line(reg, 0.0, prec),
                        )?;
                    }
                    if let Some(t) = self.thresholds.as_mut() {
                        t.line(
                            tid,
                            &name,
                            reg.start,
                            reg.end,
                            &output::threshold_line(reg, &zeros),
                        )?;
                    }
                }
            }
            if let Some(pb) = self.per_base.as_mut() {
                pb.line(tid, &name, 0, len, &format!("{name}\t0\t{len}\t0\n"))?;
            }
            if let (Some(q), Some(qb)) = (opts.quantize.as_ref(), self.quantized.as_mut()) {
                if q[0] == 0 && !opts.quantize_labels.is_empty() {
                    let label = &opts.quantize_labels[0];
                    qb.line(tid, &name, 0, len, &format!("{name}\t0\t{len}\t{label}\n"))?;
                }
            }
            return Ok(());
        };
        let region_stat = std::mem::replace(&mut self.chrom_region_stat, DepthStat::CLEARED);
        let mut region_hist = std::mem::take(&mut self.chrom_region_dist);
        let c = ContigSummary {
            name,
            stat,
            region_stat,
            hist,
            region_hist: Histogram::default(),
        };
        match self.texts.as_mut() {
            Some(t) => {
                let c = ContigSummary { region_hist, ..c };
                t.add(&c)?;
            }
            None => {
                // Kept until the end: without the empty tail of window mode's 1000 bins.
                region_hist.trim();
                self.done.push(ContigSummary { region_hist, ..c });
            }
        }
        Ok(())
    }

    fn finish(mut self) -> Result<CoverageReport> {
        let opts = self.opts;
        let prec = opts.precision;
        let p = &opts.prefix;
        if let RegionSource::Bed(b) = &self.regions {
            // A shard leaves other shards' contigs in the BED: only warn about contigs that
            // are in no shard.
            if opts.chrom.is_none() {
                for c in &b.chrom_order {
                    if let Some(v) = b.by_chrom.get(c) {
                        if opts.shard.is_some() && self.header.tid(c).is_some() {
                            continue;
                        }
                        self.warnings.push(format!(
                            "chromosome {c} from the BED file with {} regions is not in {}",
                            v.len(),
                            opts.input.display()
                        ));
                    }
                }
            }
        }
        let mut set = OutputSet::default();
        let mut outputs = Vec::new();
        let beds = [
            self.per_base.take(),
            self.region_bed.take(),
            self.quantized.take(),
            self.thresholds.take(),
        ];
        let mut parts = Vec::new();
        for b in beds.into_iter().flatten() {
            let path = b.path_string();
            parts.push(shards::BedPart {
                suffix: path
                    .strip_prefix(&format!("{p}."))
                    .unwrap_or(&path)
                    .to_string(),
                header_bytes: b.header_bytes(),
            });
            outputs.push(path);
            b.finish(&mut set)?;
        }
        match opts.shard {
            None => {
                if let Some(t) = self.texts.take() {
                    outputs.extend(t.finish(&mut set)?);
                }
            }
            Some(shard) => {
                let levels = levels_for(self.header.refs.iter().map(|r| r.len).max().unwrap_or(0));
                let record = shards::ShardRecord {
                    kasane_version: crate::VERSION.to_string(),
                    shard: shard.to_string(),
                    precision: prec,
                    by: opts.by.is_some(),
                    csi_levels: levels,
                    beds: parts,
                    contigs: std::mem::take(&mut self.done),
                };
                let text = serde_json::to_string(&record)
                    .map_err(|e| Error::Usage(format!("shard record: {e}")))?;
                let path = shards::record_path(p);
                output::write_text(path.clone(), &text, &mut set)?;
                outputs.push(path);
            }
        }
        let provenance = self.provenance(&outputs);
        output::write_text(format!("{p}.kasane.json"), &provenance, &mut set)?;
        set.commit()?;
        Ok(CoverageReport {
            backend: self.backend.name().to_string(),
            device: self.backend.device(),
            records: self.records,
            outputs,
            warnings: self.warnings,
        })
    }
}

impl Driver<'_> {
    /// `{prefix}.kasane.json`: what made these files (mosdepth's own files have no room for it).
    fn provenance(&self, outputs: &[String]) -> String {
        let input_size = std::fs::metadata(&self.opts.input).map(|m| m.len()).ok();
        let v = serde_json::json!({
            "kasane_version": crate::VERSION,
            "command": "coverage",
            "command_line": self.opts.command_line,
            "mosdepth_compatible": "0.3.3",
            "backend": self.backend.name(),
            "device": self.backend.device(),
            "threads": self.pool.current_num_threads(),
            "input": { "path": self.opts.input.display().to_string(), "size": input_size },
            "records_read": self.records,
            "outputs": outputs,
        });
        let mut s = serde_json::to_string_pretty(&v).unwrap_or_default();
        s.push('\n');
        s
    }
}

impl Sink for Driver<'_> {
    #[inline]
    fn record<A: Alignment>(&mut self, tid: usize, rec: &A) -> Result<bool> {
        if self.current != Some(tid) {
            if self.next_target >= self.targets.len() && self.current.is_some() {
                return Ok(false);
            }
            if self.targets.len() == 1 && tid > self.targets[0] {
                return Ok(false);
            }
            self.advance_to(tid)?;
        }
        if !self.current_active {
            return Ok(true);
        }
        let pos = rec.pos();
        if pos < 0 {
            return Ok(true);
        }
        self.found = true;
        let pos = pos as usize;
        if self.streaming {
            if let Some(s) = self.stream.as_ref() {
                if pos >= s.done() + stream::PIECE {
                    self.flush_events()?;
                    self.advance_final(tid, pos.min(self.header.refs[tid].len as usize))?;
                }
            }
        }
        self.builder.add(rec);
        if self.builder.batch.len() >= BATCH_EVENTS {
            self.flush_events()?;
        }
        Ok(true)
    }
}
