//! `kasane qc`: quality control of aligned genomes in one pass per input.
//!
//! Each input is read once, start to end, unmapped reads included; every record goes to the
//! collectors at once: [`reads`] (samtools stats' numbers), [`insert`] (Picard's insert sizes),
//! [`gc`] (Picard's GC bias, with a reference), [`wgs`] (Picard's WGS coverage, which also
//! counts the bases at the fingerprint sites of [`identity`]). Samples are read in parallel.
//! Then, across the run's samples: genotypes, relatedness, sex, contamination, the pass/fail
//! rules of [`thresholds`], and the files ([`output`], [`report`]), committed together.

pub mod gc;
pub mod identity;
pub mod insert;
pub mod output;
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
    pub by: Option<String>,
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

/// Everything collected from one input.
pub struct Collected {
    pub sample: String,
    pub path: PathBuf,
    pub reads: reads::ReadStats,
    pub insert: insert::InsertSizes,
    pub gc: Option<gc::GcBias>,
    pub wgs: wgs::Wgs,
    pub counts: Counts,
    pub count_unpaired: bool,
    pub records: u64,
}

/// Regions of `--by BED`, per contig, sorted by start.
pub type ByRegions = Vec<Vec<(u64, u64)>>;

struct Collector<'a> {
    header: &'a Header,
    fasta: Option<&'a FastaReader>,
    panel: &'a Panel,
    c: Collected,
    unpaired_decided: bool,
    unpaired_forced: Option<bool>,
    cur: Option<usize>,
    visited: Vec<bool>,
    refseq: Option<Arc<Vec<u8>>>,
    progress: Option<&'a Progress>,
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
        self.c.wgs.start_contig(tid, len, self.refseq.clone());
        if let Some(g) = self.c.gc.as_mut() {
            g.contig(self.refseq.as_deref().map(Vec::as_slice).unwrap_or(&[]));
        }
        self.visited[tid] = true;
        self.cur = Some(tid);
        Ok(())
    }

    fn finish_contig(&mut self) {
        if self.cur.take().is_some() {
            self.c.wgs.end_contig();
        }
    }

    /// Contigs without reads still count: their loci have depth 0, their windows GC.
    fn finish(mut self) -> Result<Collected> {
        self.finish_contig();
        for tid in 0..self.header.refs.len() {
            if !self.visited[tid] {
                self.switch_to(tid)?;
                self.finish_contig();
            }
        }
        self.c.count_unpaired = self.unpaired_forced.unwrap_or(self.c.count_unpaired);
        Ok(self.c)
    }
}

impl Sink for Collector<'_> {
    fn record<A: Alignment>(&mut self, tid: usize, rec: &A) -> Result<bool> {
        self.c.records += 1;
        if self.cur != Some(tid) {
            self.switch_to(tid)?;
        }
        if !self.unpaired_decided && rec.flag() & 0x904 == 0 {
            // The first primary mapped read says whether the sample is single-end.
            self.unpaired_decided = true;
            let single = rec.flag() & 0x1 == 0;
            self.c.wgs.params.count_unpaired = self.unpaired_forced.unwrap_or(single);
            self.c.count_unpaired = self.c.wgs.params.count_unpaired;
        }
        self.c.reads.record(rec);
        self.c.insert.record(rec);
        if let Some(g) = self.c.gc.as_mut() {
            g.record(rec, self.refseq.as_deref().map(Vec::as_slice));
        }
        let sites = &self.panel.by_tid[tid];
        let off = self.panel.offset[tid];
        self.c
            .wgs
            .record(rec, sites, &mut self.c.counts[off..off + sites.len()]);
        Ok(true)
    }

    fn unplaced<A: Alignment>(&mut self, rec: &A) -> Result<bool> {
        self.c.records += 1;
        self.finish_contig();
        self.c.reads.record(rec);
        if let Some(g) = self.c.gc.as_mut() {
            g.record(rec, None);
        }
        Ok(true)
    }
}

/// The window of the depth tracks: `--by SIZE`, else about 2000 windows over the genome
/// (at least 1 kb), so that the report stays small for any genome.
fn track_window(by: Option<&str>, genome: u64) -> Result<Option<u64>> {
    match by {
        Some(s) if s.bytes().all(|b| b.is_ascii_digit()) => {
            let w: u64 = s
                .parse()
                .map_err(|_| Error::Usage(format!("--by {s}: not a window size")))?;
            if w == 0 {
                return Err(Error::Usage(
                    "--by: the window size must be at least 1".into(),
                ));
            }
            Ok(Some(w))
        }
        Some(_) => Ok(None),
        None => Ok(Some((genome / 2000).max(1000))),
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

/// Checks that the output folder exists (creating it) and takes files, before any reading.
fn prepare_output_dir(dir: &Path) -> Result<()> {
    if dir.exists() && !dir.is_dir() {
        return Err(Error::Output {
            path: dir.to_path_buf(),
            msg: "exists and is not a folder".into(),
        });
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::create(dir, e))?;
    let probe = dir.join(".kasane-write-check");
    std::fs::write(&probe, b"").map_err(|e| Error::create(dir, e))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

pub fn run(opts: &QcOptions, progress: &Progress) -> Result<QcReport> {
    if opts.inputs.is_empty() {
        return Err(Error::Usage("give at least one BAM or CRAM file".into()));
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
    let window = track_window(opts.by.as_deref(), genome)?;
    let by_regions = match (&opts.by, window) {
        (Some(p), None) => Some(read_by_regions(Path::new(p), &header)?),
        _ => None,
    };
    let earlier: Vec<(PathBuf, String, Counts)> = opts
        .fingerprints
        .iter()
        .map(|p| identity::read_fingerprint(p, &panel, &header).map(|(s, c)| (p.clone(), s, c)))
        .collect::<Result<_>>()?;
    prepare_output_dir(&opts.output)?;

    // One pass per input, samples in parallel.
    let n_contigs = header.refs.len();
    let collected: Vec<Collected> = work_pool.install(|| {
        inputs
            .par_iter_mut()
            .map(|input| {
                collect(
                    input,
                    &header,
                    fasta.as_ref(),
                    &panel,
                    opts,
                    window.unwrap_or(genome.max(1)),
                    n_contigs,
                    progress,
                )
            })
            .collect::<Result<Vec<_>>>()
    })?;
    progress.done();

    let run = output::Run {
        opts,
        header: &header,
        panel: &panel,
        rules: &rules,
        ped: ped.as_ref(),
        earlier: &earlier,
        by_regions: by_regions.as_ref(),
        backend: &backend_name,
        threads,
    };
    let mut set = OutputSet::default();
    let (report, _) = run.write(&collected, &mut set)?;
    set.commit()?;
    Ok(report)
}

#[allow(clippy::too_many_arguments)]
fn collect(
    input: &mut Input,
    header: &Header,
    fasta: Option<&FastaReader>,
    panel: &Panel,
    opts: &QcOptions,
    window: u64,
    n_contigs: usize,
    progress: &Progress,
) -> Result<Collected> {
    let mut wgs_params = opts.wgs.clone();
    wgs_params.count_unpaired = opts.count_unpaired.unwrap_or(false);
    let mut c = Collector {
        header,
        fasta,
        panel,
        c: Collected {
            sample: input.sample.clone(),
            path: input.path.clone(),
            reads: reads::ReadStats::new(),
            insert: insert::InsertSizes::new(),
            gc: fasta.map(|_| gc::GcBias::new(gc::WINDOW)),
            wgs: wgs::Wgs::new(wgs_params, n_contigs, window),
            counts: vec![[0; 4]; panel.len()],
            count_unpaired: opts.count_unpaired.unwrap_or(false),
            records: 0,
        },
        unpaired_decided: false,
        unpaired_forced: opts.count_unpaired,
        cur: None,
        visited: vec![false; n_contigs],
        refseq: None,
        progress: Some(progress),
    };
    input.read(Reach::All, Fields::Full, &mut c, Some(progress))?;
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
