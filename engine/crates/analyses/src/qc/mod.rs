//! `kasane qc`: quality control of aligned genomes in one pass per input.
//!
//! Each input is read once, start to end, unmapped reads included; every record goes to the
//! collectors at once: [`reads`] (samtools stats' numbers), [`insert`] (Picard's insert sizes),
//! [`gc`] (Picard's GC bias, with a reference), [`wgs`] (Picard's WGS coverage, which also
//! counts the bases at the fingerprint sites of [`identity`]). Samples are read in parallel.
//! Then, across the run's samples: genotypes, relatedness, sex, contamination, the pass/fail
//! rules of [`thresholds`], and the files ([`output`], [`report`]), committed together.

pub mod gc;
pub mod groups;
pub mod identity;
pub mod insert;
pub mod output;
pub mod picard;
pub mod reads;
pub mod report;
pub mod thresholds;
pub mod wgs;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;

use crate::backend::{self, BackendKind};
use crate::error::{Error, Result};
use crate::input::{self, Input, Reach, Sink};
use crate::io::atomic::OutputSet;
use crate::io::fasta::FastaReader;
use crate::io::{Alignment, Fields, Header};
use crate::progress::Progress;

use identity::{Counts, Panel};
use thresholds::Thresholds;

/// Exit status of `kasane qc` when it ran but a sample failed its checks.
pub const EXIT_FAILED_QC: u8 = 3;

/// Options of `kasane qc`.
#[derive(Clone, Debug)]
pub struct QcOptions {
    pub inputs: Vec<PathBuf>,
    pub fasta: Option<PathBuf>,
    /// Output folder.
    pub output: PathBuf,
    pub threads: usize,
    pub backend: BackendKind,
    /// `--by`: a window size for the depth tracks, or a BED of regions.
    pub by: Option<crate::coverage::By>,
    pub sites: Option<PathBuf>,
    pub thresholds: Option<PathBuf>,
    /// A PED file: declared sex and expected relationships.
    pub ped: Option<PathBuf>,
    /// Fingerprints of earlier runs (`SAMPLE.fingerprint.tsv`).
    pub fingerprints: Vec<PathBuf>,
    pub wgs: wgs::WgsParams,
    /// Count unpaired reads in the WGS metrics: `None` decides per sample (single-end reads
    /// count, as they would otherwise give no coverage at all).
    pub count_unpaired: Option<bool>,
    /// Contamination above this fraction fails the sample.
    pub max_contamination: f64,
    /// One of N shards of whole contigs: writes `SAMPLE.qc-shard.json` (the counts) instead of
    /// the outputs; [`gather`] joins the shards.
    pub shard: Option<crate::shard::Shard>,
    /// The sample's name in file names and reports (one input only; default: `@RG SM`).
    pub sample_name: Option<String>,
    /// `--coverage`: `kasane coverage`'s run on the same (single) input, done in the same
    /// reading.
    pub coverage: Option<crate::coverage::CoverageOptions>,
    pub command_line: Vec<String>,
}

impl QcOptions {
    pub fn new(inputs: Vec<PathBuf>, output: PathBuf) -> Self {
        QcOptions {
            inputs,
            fasta: None,
            output,
            threads: 1,
            backend: BackendKind::Auto,
            by: None,
            sites: None,
            thresholds: None,
            ped: None,
            fingerprints: Vec::new(),
            wgs: wgs::WgsParams::default(),
            count_unpaired: None,
            max_contamination: 0.03,
            shard: None,
            sample_name: None,
            coverage: None,
            command_line: Vec::new(),
        }
    }
}

/// One metric with its definition, as `SAMPLE.qc.json` lists it and thresholds name it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Metric {
    pub name: String,
    pub value: Option<f64>,
    /// Which part of the report it belongs to.
    pub group: &'static str,
    pub definition: String,
}

impl Metric {
    pub fn new(group: &'static str, name: &str, value: Option<f64>, def: &str) -> Metric {
        Metric {
            name: name.to_string(),
            value: value.filter(|v| v.is_finite()),
            group,
            definition: def.to_string(),
        }
    }
}

/// What a run found, per sample.
#[derive(Debug)]
pub struct QcReport {
    /// (sample, passed, reasons).
    pub samples: Vec<(String, bool, Vec<String>)>,
    pub outputs: Vec<String>,
    pub warnings: Vec<String>,
}

impl QcReport {
    pub fn all_passed(&self) -> bool {
        self.samples.iter().all(|s| s.1)
    }
}

/// Everything collected from one input (or from one shard of its contigs).
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Collected {
    pub sample: String,
    pub path: PathBuf,
    pub reads: reads::ReadStats,
    pub insert: insert::InsertSizes,
    /// Per read group.
    pub groups: groups::ReadGroups,
    pub gc: Option<gc::GcBias>,
    pub wgs: wgs::Wgs,
    pub counts: Counts,
    pub count_unpaired: bool,
    pub records: u64,
}

impl Collected {
    /// Adds the counts of the next shard of the same input.
    pub fn merge(&mut self, o: &Collected) {
        self.reads.merge(&o.reads);
        self.insert.merge(&o.insert);
        self.groups.merge(&o.groups);
        if let (Some(a), Some(b)) = (self.gc.as_mut(), o.gc.as_ref()) {
            a.merge(b);
        }
        self.wgs.merge(&o.wgs);
        for (a, b) in self.counts.iter_mut().zip(&o.counts) {
            for k in 0..4 {
                a[k] += b[k];
            }
        }
        self.count_unpaired |= o.count_unpaired;
        self.records += o.records;
    }
}

/// The file of one input's counts from one shard.
pub fn shard_record_path(dir: &Path, sample: &str) -> PathBuf {
    dir.join(format!("{}.qc-shard.json", output::file_stem(sample)))
}

/// Regions of `--by BED`, per contig, sorted by start.
pub type ByRegions = Vec<Vec<(u64, u64)>>;

struct Collector<'a> {
    header: &'a Header,
    fasta: Option<&'a FastaReader>,
    panel: &'a Panel,
    c: Collected,
    cur: Option<usize>,
    /// The contigs this reading covers (all, or a shard's).
    range: std::ops::Range<usize>,
    /// Whether the unplaced reads at the end of the file belong to this reading.
    unplaced: bool,
    visited: Vec<bool>,
    refseq: Option<Arc<Vec<u8>>>,
    seq: Vec<u8>,
    qual: Vec<u8>,
    progress: Option<&'a Progress>,
    part: Part,
}

/// Which collectors a [`Collector`] feeds: all, or one of the two halves that two threads
/// share when one reading feeds qc and coverage (their counts are added afterwards).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Part {
    All,
    /// samtools stats, insert sizes, read groups, GC bias: per record, in any order.
    PerRead,
    /// The WGS metrics and the fingerprint's base counts: per locus, in coordinate order.
    PerLocus,
}

impl Collector<'_> {
    fn switch_to(&mut self, tid: usize) -> Result<()> {
        self.finish_contig();
        let len = self.header.refs[tid].len;
        let name = &self.header.refs[tid].name;
        if let Some(p) = self.progress {
            p.contig(name);
        }
        self.refseq = match self.fasta {
            Some(f) => Some(Arc::new(f.fetch(name, 0, len)?)),
            None => None,
        };
        if self.part != Part::PerRead {
            self.c.wgs.start_contig(tid, len, self.refseq.clone());
        }
        if let Some(g) = self.c.gc.as_mut().filter(|_| self.part != Part::PerLocus) {
            g.contig(self.refseq.as_deref().map(Vec::as_slice).unwrap_or(&[]));
        }
        self.visited[tid] = true;
        self.cur = Some(tid);
        Ok(())
    }

    /// The WGS loci of a record of contig `tid`, and the fingerprint's bases among them.
    fn count_loci<A: Alignment>(panel: &Panel, c: &mut Collected, tid: usize, rec: &A) {
        let sites = &panel.by_tid[tid];
        let off = panel.offset[tid];
        c.wgs
            .record(rec, sites, &mut c.counts[off..off + sites.len()]);
    }

    fn finish_contig(&mut self) {
        if self.cur.take().is_some() && self.part != Part::PerRead {
            self.c.wgs.end_contig();
        }
    }

    /// Contigs without reads still count: their loci have depth 0, their windows GC.
    fn finish(mut self) -> Result<Collected> {
        self.finish_contig();
        for tid in self.range.clone() {
            if !self.visited[tid] {
                self.switch_to(tid)?;
                self.finish_contig();
            }
        }
        Ok(self.c)
    }
}

impl Sink for Collector<'_> {
    fn record<A: Alignment>(&mut self, tid: usize, rec: &A) -> Result<bool> {
        if tid < self.range.start {
            // An earlier shard's (a CRAM read from its start).
            return Ok(true);
        }
        if tid >= self.range.end {
            return Ok(false);
        }
        if self.cur != Some(tid) {
            self.switch_to(tid)?;
        }
        if self.part == Part::PerLocus {
            Self::count_loci(self.panel, &mut self.c, tid, rec);
            return Ok(true);
        }
        self.c.records += 1;
        self.seq.clear();
        rec.seq_into(&mut self.seq);
        self.qual.clear();
        rec.qual_into(&mut self.qual);
        let d = Decoded {
            rec,
            seq: &self.seq,
            qual: &self.qual,
        };
        self.c.reads.record(&d);
        self.c.insert.record(&d);
        self.c.groups.record(&d, &self.qual);
        if let Some(g) = self.c.gc.as_mut() {
            g.record(&d, self.refseq.as_deref().map(Vec::as_slice));
        }
        if self.part == Part::All {
            Self::count_loci(self.panel, &mut self.c, tid, &d);
        }
        Ok(true)
    }

    fn unplaced<A: Alignment>(&mut self, rec: &A) -> Result<bool> {
        if !self.unplaced {
            return Ok(false);
        }
        if self.part == Part::PerLocus {
            return Ok(true);
        }
        self.c.records += 1;
        self.finish_contig();
        self.c.reads.record(rec);
        self.qual.clear();
        rec.qual_into(&mut self.qual);
        self.c.groups.record(rec, &self.qual);
        if let Some(g) = self.c.gc.as_mut() {
            g.record(rec, None);
        }
        Ok(true)
    }
}

/// A record with its bases and qualities decoded once, for the collectors that all ask for
/// them (decoding 4-bit bases was a tenth of the time when each decoded its own).
struct Decoded<'a, A> {
    rec: &'a A,
    seq: &'a [u8],
    qual: &'a [u8],
}

impl<A: Alignment> Alignment for Decoded<'_, A> {
    fn ref_id(&self) -> i32 {
        self.rec.ref_id()
    }
    fn pos(&self) -> i64 {
        self.rec.pos()
    }
    fn mapq(&self) -> u8 {
        self.rec.mapq()
    }
    fn flag(&self) -> u16 {
        self.rec.flag()
    }
    fn next_ref_id(&self) -> i32 {
        self.rec.next_ref_id()
    }
    fn next_pos(&self) -> i64 {
        self.rec.next_pos()
    }
    fn template_length(&self) -> i64 {
        self.rec.template_length()
    }
    fn read_name(&self) -> &[u8] {
        self.rec.read_name()
    }
    fn n_cigar(&self) -> usize {
        self.rec.n_cigar()
    }
    fn for_each_cigar(&self, f: impl FnMut(crate::io::CigarOp)) {
        self.rec.for_each_cigar(f)
    }
    fn read_group(&self) -> Option<&[u8]> {
        self.rec.read_group()
    }
    fn seq_len(&self) -> usize {
        self.seq.len()
    }
    fn seq_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.seq);
    }
    fn qual_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.qual);
    }
    fn aux(&self, tag: [u8; 2]) -> Option<crate::io::AuxValue<'_>> {
        self.rec.aux(tag)
    }
    fn packed_seq(&self) -> Option<&[u8]> {
        self.rec.packed_seq()
    }
    fn end_pos(&self) -> i64 {
        self.rec.end_pos()
    }
}

/// The window of the depth tracks: `--by SIZE`, else about 2000 windows over the genome
/// (at least 1 kb), so that the report stays small for any genome.
fn track_window(by: Option<&crate::coverage::By>, genome: u64) -> Option<u64> {
    match by {
        Some(crate::coverage::By::Windows(w)) => Some(*w),
        Some(crate::coverage::By::Bed(_)) => None,
        None => Some((genome / 2000).max(1000)),
    }
}

fn read_by_regions(path: &Path, header: &Header) -> Result<ByRegions> {
    let bed = crate::io::bed::BedRegions::read(path)?;
    let mut out: ByRegions = vec![Vec::new(); header.refs.len()];
    let mut placed = 0usize;
    for (chrom, regs) in &bed.by_chrom {
        if let Some(t) = header.tid(chrom) {
            placed += regs.len();
            out[t] = regs.iter().map(|r| (r.start, r.end)).collect();
            out[t].sort();
        }
    }
    if placed == 0 {
        return Err(Error::format(
            path,
            "none of its contigs is in the alignments' header: a BED for another reference?",
        ));
    }
    Ok(out)
}

/// What every qc run (or gather) sets up before reading: inputs, reference, panel, rules.
struct Prepared {
    inputs: Vec<Input>,
    header: Arc<Header>,
    fasta: Option<FastaReader>,
    panel: Panel,
    rules: Thresholds,
    ped: Option<report::Pedigree>,
    window: Option<u64>,
    genome: u64,
    by_regions: Option<ByRegions>,
    earlier: Vec<(PathBuf, String, Counts)>,
    /// Per input: whether unpaired reads count in the coverage metrics.
    unpaired: Vec<bool>,
    backend: String,
    threads: usize,
    work_pool: Arc<rayon::ThreadPool>,
    io_pool: Arc<rayon::ThreadPool>,
}

fn prepare(opts: &QcOptions) -> Result<Prepared> {
    if opts.inputs.is_empty() {
        return Err(Error::Usage("give at least one BAM or CRAM file".into()));
    }
    if opts.sample_name.is_some() && opts.inputs.len() > 1 {
        return Err(Error::Usage(
            "--sample-name names the sample of a single input".into(),
        ));
    }
    let threads = crate::threads::cap(opts.threads).max(1);
    let io_pool = crate::input::pool(threads, "io")?;
    let work_pool = crate::input::pool(threads, "qc")?;
    let input_bytes: u64 = opts
        .inputs
        .iter()
        .map(|p| std::fs::metadata(p).map_or(0, |m| m.len()))
        .sum();
    // QC's counting runs on the CPU; the backend is resolved so that a named one that cannot
    // start fails as everywhere else, and is recorded in provenance.
    let backend = backend::open(opts.backend, threads, Some(input_bytes))?;
    let backend_name = backend.name().to_string();
    drop(backend);

    // Everything that can be wrong with the inputs is found before reading them.
    let fasta = opts.fasta.as_deref().map(FastaReader::open).transpose()?;
    let reference = opts.fasta.as_deref().zip(fasta.as_ref());
    let mut inputs = input::open_all(&opts.inputs, reference, &io_pool)?;
    if let (Some(n), Some(i)) = (&opts.sample_name, inputs.first_mut()) {
        i.sample = n.clone();
    }
    input::require_same_contigs(&inputs)?;
    let header = inputs[0].header.clone();
    let panel = match &opts.sites {
        Some(p) => Panel::from_vcf(p, &header, fasta.as_ref())?,
        None => Panel::grid(&header, fasta.as_ref())?,
    };
    let known = metric_names();
    let known_refs: Vec<&str> = known.iter().map(String::as_str).collect();
    let rules = match &opts.thresholds {
        Some(p) => Thresholds::read(p, &known_refs)?,
        None => Thresholds::default(),
    };
    let ped = opts
        .ped
        .as_deref()
        .map(report::Pedigree::read)
        .transpose()?;
    let genome: u64 = header.refs.iter().map(|r| r.len).sum();
    let window = track_window(opts.by.as_ref(), genome);
    let by_regions = match &opts.by {
        Some(crate::coverage::By::Bed(p)) => Some(read_by_regions(p, &header)?),
        _ => None,
    };
    let earlier: Vec<(PathBuf, String, Counts)> = opts
        .fingerprints
        .iter()
        .map(|p| identity::read_fingerprint(p, &panel, &header).map(|(s, c)| (p.clone(), s, c)))
        .collect::<Result<_>>()?;
    let unpaired = match opts.count_unpaired {
        Some(b) => vec![b; inputs.len()],
        None => opts
            .inputs
            .iter()
            .map(|p| single_end(p, opts.fasta.as_deref(), &io_pool))
            .collect::<Result<_>>()?,
    };
    crate::io::atomic::prepare_output_dir(&opts.output)?;
    Ok(Prepared {
        inputs,
        header,
        fasta,
        panel,
        rules,
        ped,
        window,
        genome,
        by_regions,
        earlier,
        unpaired,
        backend: backend_name,
        threads,
        work_pool,
        io_pool,
    })
}

pub fn run(opts: &QcOptions, progress: &Progress) -> Result<QcReport> {
    crate::io::atomic::in_output_dir(&opts.output, || run_inner(opts, progress))
}

fn run_inner(opts: &QcOptions, progress: &Progress) -> Result<QcReport> {
    let pr = prepare(opts)?;
    let n_contigs = pr.header.refs.len();
    let lengths: Vec<u64> = pr.header.refs.iter().map(|r| r.len).collect();
    let range = match opts.shard {
        Some(s) => s.contigs(&lengths)?,
        None => 0..n_contigs,
    };
    let (header, fasta, panel) = (&pr.header, pr.fasta.as_ref(), &pr.panel);
    let window = pr.window.unwrap_or(pr.genome.max(1));
    let regions = pr.by_regions.as_ref();
    let reading = |range: std::ops::Range<usize>, count_unpaired: bool| Reading {
        header,
        fasta,
        panel,
        opts,
        window,
        regions,
        range,
        count_unpaired,
    };
    let unpaired = &pr.unpaired;
    if let Some(cov) = &opts.coverage {
        let [input] = pr.inputs.as_slice() else {
            return Err(Error::Usage(
                "--coverage writes the coverage files of a single input".into(),
            ));
        };
        let c = collect_with_coverage(cov, input, reading(range, unpaired[0]), progress)?;
        return finish_collected(opts, &pr, vec![c], progress);
    }
    // Each input's contigs in parts read in parallel, each through its own handle on the file
    // (seeking needs the index); the parts' counts, added in order, are one pass's. Without an
    // index, or with one thread, an input is one part.
    let want = if pr.threads > 1 { pr.threads * 2 } else { 1 };
    let mut parts: Vec<(usize, std::ops::Range<usize>)> = Vec::new();
    for (i, input) in pr.inputs.iter().enumerate() {
        let groups = crate::shard::Groups::new(&lengths[range.clone()]).len();
        let n = want.min(groups).max(1);
        if n > 1 && input.has_index() {
            for r in crate::shard::split(&lengths[range.clone()], n)? {
                parts.push((i, range.start + r.start..range.start + r.end));
            }
        } else {
            parts.push((i, range.clone()));
        }
    }
    let meta: Vec<(PathBuf, String)> = pr
        .inputs
        .iter()
        .map(|i| (i.path.clone(), i.sample.clone()))
        .collect();
    let io_pool = &pr.io_pool;
    let pieces: Vec<(usize, Collected)> = pr.work_pool.install(|| {
        parts
            .par_iter()
            .map(|(i, r)| {
                let (path, sample) = &meta[*i];
                let mut input = Input::open(path, opts.fasta.as_deref(), io_pool.clone())?;
                input.sample = sample.clone();
                collect(&mut input, reading(r.clone(), unpaired[*i]), progress).map(|c| (*i, c))
            })
            .collect::<Result<Vec<_>>>()
    })?;
    let mut collected: Vec<Collected> = Vec::with_capacity(meta.len());
    for (i, c) in pieces {
        if i < collected.len() {
            collected[i].merge(&c);
        } else {
            collected.push(c);
        }
    }
    finish_collected(opts, &pr, collected, progress)
}

/// Writes the files of what the readings collected (or the shard records of a shard run).
fn finish_collected(
    opts: &QcOptions,
    pr: &Prepared,
    collected: Vec<Collected>,
    progress: &Progress,
) -> Result<QcReport> {
    progress.done();
    let mut set = OutputSet::default();
    if opts.shard.is_some() {
        let mut outputs = Vec::new();
        for c in &collected {
            let p = shard_record_path(&opts.output, &c.sample);
            let text = serde_json::to_string(c).map_err(|e| Error::Usage(e.to_string()))?;
            crate::coverage::output::write_text(p.display().to_string(), &text, &mut set)?;
            outputs.push(p.display().to_string());
        }
        set.commit()?;
        return Ok(QcReport {
            samples: Vec::new(),
            outputs,
            warnings: Vec::new(),
        });
    }
    let report = finish(opts, pr, &collected, &mut set)?;
    set.commit()?;
    Ok(report)
}

/// Joins the shard records that `kasane qc --shard i/N` wrote into each of `parts` (in shard
/// order) and writes the files one unsharded run writes.
pub fn gather(opts: &QcOptions, parts: &[PathBuf]) -> Result<QcReport> {
    let pr = prepare(opts)?;
    let mut all = Vec::new();
    for input in &pr.inputs {
        let mut merged: Option<Collected> = None;
        for dir in parts {
            let p = shard_record_path(dir, &input.sample);
            let text = std::fs::read_to_string(&p).map_err(|e| Error::io(&p, e))?;
            let c: Collected = serde_json::from_str(&text)
                .map_err(|e| Error::format(&p, format!("not a qc shard record: {e}")))?;
            match merged.as_mut() {
                None => merged = Some(c),
                Some(m) => m.merge(&c),
            }
        }
        if let Some(mut m) = merged {
            m.sample = input.sample.clone();
            m.path = input.path.clone();
            all.push(m);
        }
    }
    let mut set = OutputSet::default();
    let report = finish(opts, &pr, &all, &mut set)?;
    set.commit()?;
    Ok(report)
}

fn finish(
    opts: &QcOptions,
    pr: &Prepared,
    collected: &[Collected],
    set: &mut OutputSet,
) -> Result<QcReport> {
    let run = output::Run {
        opts,
        header: &pr.header,
        panel: &pr.panel,
        rules: &pr.rules,
        ped: pr.ped.as_ref(),
        earlier: &pr.earlier,
        by_regions: pr.by_regions.as_ref(),
        backend: &pr.backend,
        threads: pr.threads,
    };
    let (report, _) = run.write(collected, set)?;
    Ok(report)
}

/// Whether a file holds single-end reads: fewer than half of its first 10,000 primary mapped
/// records are paired. Read from the file's start, so every shard decides alike.
fn single_end(
    path: &Path,
    reference: Option<&Path>,
    pool: &Arc<rayon::ThreadPool>,
) -> Result<bool> {
    struct Peek {
        seen: u32,
        paired: u32,
    }
    impl Sink for Peek {
        fn record<A: Alignment>(&mut self, _tid: usize, rec: &A) -> Result<bool> {
            if rec.flag() & 0x904 == 0 {
                self.seen += 1;
                self.paired += (rec.flag() & 0x1 != 0) as u32;
            }
            Ok(self.seen < 10_000)
        }
    }
    let mut input = Input::open(path, reference, pool.clone())?;
    let mut peek = Peek { seen: 0, paired: 0 };
    input.read(Reach::All, Fields::Positions, &mut peek, None)?;
    Ok(peek.paired * 2 < peek.seen)
}

/// What one reading shares with the others.
#[derive(Clone)]
struct Reading<'a> {
    header: &'a Header,
    fasta: Option<&'a FastaReader>,
    panel: &'a Panel,
    opts: &'a QcOptions,
    window: u64,
    regions: Option<&'a ByRegions>,
    range: std::ops::Range<usize>,
    count_unpaired: bool,
}

fn collect(input: &mut Input, r: Reading<'_>, progress: &Progress) -> Result<Collected> {
    let n_contigs = r.header.refs.len();
    let whole = r.range.start == 0 && r.range.end == n_contigs;
    let tids: Vec<usize> = r.range.clone().collect();
    let mut c = collector(input, r, progress);
    let reach = if whole {
        Reach::All
    } else {
        Reach::From(&tids)
    };
    input.read(reach, Fields::Full, &mut c, Some(progress))?;
    c.finish()
}

/// The collector of one reading of `input`.
fn collector<'a>(input: &Input, r: Reading<'a>, progress: &'a Progress) -> Collector<'a> {
    let opts = r.opts;
    let n_contigs = r.header.refs.len();
    let mut wgs_params = opts.wgs.clone();
    wgs_params.count_unpaired = r.count_unpaired;
    let mut wgs = wgs::Wgs::new(wgs_params, n_contigs, r.window);
    if let Some(regs) = r.regions {
        wgs.regions = Some(regs.clone());
    }
    Collector {
        header: r.header,
        fasta: r.fasta,
        panel: r.panel,
        c: Collected {
            sample: input.sample.clone(),
            path: input.path.clone(),
            reads: reads::ReadStats::new(),
            insert: insert::InsertSizes::new(),
            groups: groups::ReadGroups::default(),
            gc: r.fasta.map(|_| gc::GcBias::new(gc::WINDOW)),
            wgs,
            counts: vec![[0; 4]; r.panel.len()],
            count_unpaired: r.count_unpaired,
            records: 0,
        },
        cur: None,
        range: r.range.clone(),
        unplaced: r.range.end == n_contigs,
        visited: vec![false; n_contigs],
        refseq: None,
        seq: Vec::new(),
        qual: Vec::new(),
        progress: Some(progress),
        part: Part::All,
    }
}

/// `--coverage`: the one input read once, sequentially, for the coverage files and the qc
/// counts together (its blocks inflate in parallel; qc's own reading would read parts of the
/// file side by side instead).
fn collect_with_coverage(
    cov: &crate::coverage::CoverageOptions,
    input: &Input,
    r: Reading<'_>,
    progress: &Progress,
) -> Result<Collected> {
    if cov.chrom.is_some() {
        return Err(Error::Usage(
            "--coverage: qc reads the whole genome, so its coverage run cannot take --chrom".into(),
        ));
    }
    if cov.input != input.path {
        return Err(Error::Usage(format!(
            "--coverage reads qc's input {}, not {}",
            input.path.display(),
            cov.input.display()
        )));
    }
    if input.is_cram() {
        let mut c = collector(input, r, progress);
        crate::coverage::run_beside(cov, progress, &mut c, Fields::Full)?;
        return c.finish();
    }
    // A BAM's records travel as bytes in batches to two threads, one for each half of the
    // counting, while this one reads and feeds the coverage: the counting would otherwise
    // wait on the reading (and the reading on it) in one sequential pass.
    let range = r.range.clone();
    let mut per_read = collector(input, r.clone(), progress);
    per_read.part = Part::PerRead;
    let mut per_locus = collector(input, r, progress);
    per_locus.part = Part::PerLocus;
    per_locus.progress = None;
    std::thread::scope(|s| {
        let (tx_a, rx_a) = std::sync::mpsc::sync_channel::<Arc<Batch>>(4);
        let (tx_b, rx_b) = std::sync::mpsc::sync_channel::<Arc<Batch>>(4);
        let a = std::thread::Builder::new()
            .name("kasane-qc-reads".into())
            .spawn_scoped(s, move || feed(per_read, rx_a))
            .map_err(|e| Error::Usage(format!("cannot start a thread: {e}")))?;
        let b = std::thread::Builder::new()
            .name("kasane-qc-loci".into())
            .spawn_scoped(s, move || feed(per_locus, rx_b))
            .map_err(|e| Error::Usage(format!("cannot start a thread: {e}")))?;
        let mut fwd = Forward {
            batch: Batch::default(),
            to: [tx_a, tx_b],
            unplaced_too: range.end == input.header.refs.len(),
            range,
        };
        let read = crate::coverage::run_beside(cov, progress, &mut fwd, Fields::Full)
            .and_then(|_| fwd.send());
        drop(fwd);
        let joined = |h: std::thread::ScopedJoinHandle<'_, Result<Collected>>| {
            h.join()
                .unwrap_or_else(|_| Err(Error::Usage("a qc counting thread panicked".into())))
        };
        // A counting thread's own error says more than the reading's "a thread stopped".
        let (ca, cb) = (joined(a), joined(b));
        let (mut c, cb) = (ca?, cb?);
        read?;
        c.merge(&cb);
        Ok(c)
    })
}

/// Records as BAM bytes, with their contigs (`u32::MAX`: unplaced).
#[derive(Default)]
struct Batch {
    bytes: Vec<u8>,
    recs: Vec<(u32, usize, usize)>,
}

const BATCH_BYTES: usize = 4 << 20;

/// The reading's side of [`collect_with_coverage`]: what qc would take, in batches to both
/// counting threads.
struct Forward {
    batch: Batch,
    to: [std::sync::mpsc::SyncSender<Arc<Batch>>; 2],
    range: std::ops::Range<usize>,
    unplaced_too: bool,
}

impl Forward {
    fn push(&mut self, tid: u32, rec: &impl Alignment) -> Result<()> {
        let Some(bytes) = rec.bam_bytes() else {
            return Err(Error::Usage(
                "qc --coverage: a record of a BAM is not BAM".into(),
            ));
        };
        let at = self.batch.bytes.len();
        self.batch.bytes.extend_from_slice(bytes);
        self.batch.recs.push((tid, at, self.batch.bytes.len()));
        if self.batch.bytes.len() >= BATCH_BYTES {
            self.send()?;
        }
        Ok(())
    }

    fn send(&mut self) -> Result<()> {
        if self.batch.recs.is_empty() {
            return Ok(());
        }
        let b = Arc::new(std::mem::take(&mut self.batch));
        for t in &self.to {
            // A counting thread that stopped has an error to tell, after the reading.
            if t.send(b.clone()).is_err() {
                return Err(Error::Usage("qc: a counting thread stopped".into()));
            }
        }
        Ok(())
    }
}

impl Sink for Forward {
    fn record<A: Alignment>(&mut self, tid: usize, rec: &A) -> Result<bool> {
        if tid < self.range.start {
            return Ok(true);
        }
        if tid >= self.range.end {
            return Ok(false);
        }
        self.push(tid as u32, rec)?;
        Ok(true)
    }

    fn unplaced<A: Alignment>(&mut self, rec: &A) -> Result<bool> {
        if !self.unplaced_too {
            return Ok(false);
        }
        self.push(u32::MAX, rec)?;
        Ok(true)
    }
}

/// A counting thread of [`collect_with_coverage`]: decodes each record again from its bytes.
fn feed(mut c: Collector<'_>, rx: std::sync::mpsc::Receiver<Arc<Batch>>) -> Result<Collected> {
    for b in rx {
        for &(tid, from, to) in &b.recs {
            let rec = crate::io::bam::BamRecord::decode(&b.bytes[from..to]).map_err(|d| {
                Error::Usage(format!("qc: a record read once no longer decodes: {d:?}"))
            })?;
            if tid == u32::MAX {
                c.unplaced(&rec)?;
            } else {
                c.record(tid as usize, &rec)?;
            }
        }
    }
    c.finish()
}

/// Every metric name a thresholds file may use (the names of `SAMPLE.qc.json`'s metrics).
pub fn metric_names() -> Vec<String> {
    output::metric_definitions()
        .into_iter()
        .map(|(n, _, _)| n.to_string())
        .collect()
}

/// Metric name → value, for the thresholds.
pub fn metric_map(metrics: &[Metric]) -> BTreeMap<String, Option<f64>> {
    metrics.iter().map(|m| (m.name.clone(), m.value)).collect()
}
