//! `kasane sv`: structural variants (≥ 50 bp) from long-read alignments.
//!
//! Stages, one module each: [`signatures`] (evidence from single reads), [`cluster`] (evidence
//! across reads → alleles), [`genotype`] (supporting vs reference reads), [`output`] (VCF).
//! Reading is one pass per input file (or one indexed pass per requested contig); calling is
//! parallel over contigs, results merged in genome order, so the output does not depend on the
//! thread count. Each contig's records are decided from the reads aligned to that contig alone
//! (a BND is reported by each side from its own reads), so runs over disjoint contig sets
//! concatenate into the full run.

pub mod cluster;
pub mod genotype;
pub mod output;
pub mod signatures;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rayon::prelude::*;
use rustc_hash::{FxHashMap, FxHashSet};

use crate::backend::{self, BackendKind};
use crate::error::{Error, Result};
use crate::input::{self, Input, Plan, Reach, Selection, Sink};
use crate::io::atomic::OutputSet;
use crate::io::fasta::FastaReader;
use crate::io::{Alignment, Fields, Header};
use crate::progress::Progress;

use cluster::{Cluster, Repeats};
use signatures::{ContigEvidence, Scratch, SigParams, SvKind};

/// Options of `kasane sv`.
#[derive(Clone, Debug)]
pub struct SvOptions {
    pub inputs: Vec<PathBuf>,
    pub fasta: PathBuf,
    /// Output `.vcf.gz` (indexed alongside).
    pub output: PathBuf,
    pub threads: usize,
    pub backend: BackendKind,
    pub tandem_repeats: Option<PathBuf>,
    /// Restrict calling to these contigs (the header still lists all). Needs indexed inputs.
    pub contigs: Option<Vec<String>>,
    /// One of N shards of whole contigs (from the first input's header); joined by
    /// `kasane gather`.
    pub shard: Option<crate::shard::Shard>,
    pub min_svlen: i64,
    pub min_mapq: u8,
    /// Fixed minimum number of supporting reads; `None`: adapt to each contig's coverage.
    pub min_support: Option<u32>,
    /// Report low-fraction (mosaic) events: lower allele-fraction and support floors.
    pub mosaic: bool,
    /// The command line, recorded in the VCF header and the provenance file.
    pub command_line: Vec<String>,
}

impl SvOptions {
    pub fn new(inputs: Vec<PathBuf>, fasta: PathBuf, output: PathBuf) -> Self {
        SvOptions {
            inputs,
            fasta,
            output,
            threads: 1,
            backend: BackendKind::Auto,
            tandem_repeats: None,
            contigs: None,
            shard: None,
            min_svlen: 50,
            min_mapq: 20,
            min_support: None,
            mosaic: false,
            command_line: Vec::new(),
        }
    }
}

/// What a run did.
#[derive(Debug)]
pub struct SvReport {
    pub backend: String,
    pub records: u64,
    pub calls_by_type: Vec<(String, u64)>,
    pub outputs: Vec<String>,
    pub warnings: Vec<String>,
}

/// Parameters the calling stages share.
#[derive(Clone, Debug)]
pub struct CallParams {
    pub min_svlen: i64,
    pub min_support: Option<u32>,
    pub min_af: f64,
    pub mosaic: bool,
    /// Per-read error rate in the genotype model.
    pub err: f64,
}

pub fn run(opts: &SvOptions, progress: &Progress) -> Result<SvReport> {
    if opts.inputs.is_empty() {
        return Err(Error::Usage("give at least one BAM or CRAM file".into()));
    }
    let out_name = opts.output.to_string_lossy().to_string();
    let Some(prefix) = out_name.strip_suffix(".vcf.gz") else {
        return Err(Error::Usage(format!(
            "{}: the output must be a bgzipped VCF named *.vcf.gz",
            opts.output.display()
        )));
    };
    if opts.min_svlen < 1 {
        return Err(Error::Usage("--min-svlen must be at least 1".into()));
    }
    let threads = crate::threads::cap(opts.threads).max(1);
    // Decompression runs on its own pool: workers that read files block on it.
    let io_pool = crate::input::pool(threads, "io")?;
    let work_pool = crate::input::pool(threads, "sv")?;
    let input_bytes: u64 = opts
        .inputs
        .iter()
        .map(|p| std::fs::metadata(p).map_or(0, |m| m.len()))
        .sum();
    // SV calling has no device kernel; the backend is resolved as coverage does so that a
    // named backend that cannot start fails the same way, and is recorded in provenance.
    let backend = backend::open(opts.backend, threads, Some(input_bytes))?;
    let backend_name = backend.name().to_string();
    drop(backend);

    let fasta = FastaReader::open(&opts.fasta)?;
    // Headers first: every problem with the inputs is found before any output exists.
    let mut inputs = input::open_all(&opts.inputs, Some((&opts.fasta, &fasta)), &io_pool)?;
    input::require_same_contigs(&inputs)?;
    let samples: Vec<String> = inputs.iter().map(|i| i.sample.clone()).collect();
    let header = inputs[0].header.clone();
    let n_contigs = header.refs.len();
    let plan = Plan::new(
        &Selection {
            contigs: opts.contigs.clone(),
            shard: opts.shard,
            ..Default::default()
        },
        &header.refs,
        &opts.inputs[0],
    )?;
    let targets = plan.contigs();
    if !plan.is_whole_genome() {
        // Only the chosen contigs are read, through the index.
        for i in &inputs {
            i.require_index("--contigs or --shard")?;
        }
    }
    let repeats = match &opts.tandem_repeats {
        Some(p) => read_repeats(p, &header)?,
        None => vec![Repeats::default(); n_contigs],
    };

    let sp = SigParams {
        min_mapq: opts.min_mapq,
        min_svlen: opts.min_svlen,
        min_piece: (opts.min_svlen / 5).clamp(1, 10) as u32,
        min_clip: (opts.min_svlen * 4).max(200) as u32,
    };
    let warnings = Mutex::new(Vec::<String>::new());
    let want = plan.wanted();
    let reach = if plan.is_whole_genome() {
        Reach::All
    } else {
        Reach::Contigs(&targets)
    };

    // --- Evidence, one input file per task.
    let per_file: Vec<Result<(Vec<ContigEvidence>, u64)>> = work_pool.install(|| {
        inputs
            .par_iter_mut()
            .enumerate()
            .map(|(i, input)| {
                gather(
                    input, reach, i as u16, &sp, &header, &want, n_contigs, &warnings, progress,
                )
            })
            .collect()
    });
    let mut evidence: Vec<ContigEvidence> = Vec::new();
    let mut records = 0u64;
    for r in per_file {
        let (ev, n) = r?;
        if evidence.is_empty() {
            // The first input's evidence is the start (one vector per contig, not two).
            evidence = ev;
            records += n;
            continue;
        }
        records += n;
        for (tid, e) in ev.into_iter().enumerate() {
            let dst = &mut evidence[tid];
            dst.sigs.extend(e.sigs);
            dst.spans.extend(e.spans);
            if dst.bases.len() < e.bases.len() {
                dst.bases.resize(e.bases.len(), 0);
            }
            for (k, b) in e.bases.into_iter().enumerate() {
                dst.bases[k] += b;
            }
        }
    }

    // --- Calling, one contig per task, merged in genome order.
    let cp = CallParams {
        min_svlen: opts.min_svlen,
        min_support: opts.min_support,
        min_af: if opts.mosaic { 0.03 } else { 0.15 },
        mosaic: opts.mosaic,
        err: 0.05,
    };
    let n_samples = samples.len();
    let per_contig: Vec<Result<Vec<output::Record>>> = work_pool.install(|| {
        evidence
            .into_par_iter()
            .enumerate()
            .filter(|(t, _)| want[*t])
            .map(|(tid, ev)| {
                call_contig(
                    tid,
                    ev,
                    &header,
                    &fasta,
                    &repeats[tid],
                    &cp,
                    n_samples,
                    &warnings,
                )
            })
            .collect()
    });

    let mut set = OutputSet::default();
    // The header records only what shapes the calls: no paths, thread counts or contig
    // subsets, so that runs on other machines, thread counts or shards write the same bytes.
    let mut cmd = format!(
        "sv --min-svlen {} --min-mapq {}",
        opts.min_svlen, opts.min_mapq
    );
    if let Some(m) = opts.min_support {
        cmd.push_str(&format!(" --min-support {m}"));
    }
    if opts.mosaic {
        cmd.push_str(" --mosaic");
    }
    if opts.tandem_repeats.is_some() {
        cmd.push_str(" --tandem-repeats");
    }
    let vheader = output::header(&header, &samples, &cmd, &cp);
    let mut w = crate::io::vcf::VcfWriter::create(&opts.output, &vheader, io_pool.clone())?;
    let mut counts: FxHashMap<&'static str, u64> = FxHashMap::default();
    for recs in per_contig {
        for r in recs? {
            *counts.entry(r.kind.name()).or_default() += 1;
            w.write_line(r.line.as_bytes())?;
        }
    }
    let n_out = w.n_records();
    w.finish_into(&mut set)?;
    let warnings = warnings.into_inner().unwrap_or_default();
    let mut outputs = vec![out_name.clone()];
    let csi = header
        .refs
        .iter()
        .any(|r| r.len >= crate::io::vcf::TBI_MAX_LEN);
    outputs.push(
        crate::io::vcf::index_path(&opts.output, csi)
            .display()
            .to_string(),
    );
    let mut calls_by_type: Vec<(String, u64)> = counts
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    calls_by_type.sort();
    let prov = serde_json::json!({
        "kasane_version": crate::VERSION,
        "command": "sv",
        "command_line": opts.command_line,
        "backend": backend_name,
        "threads": threads,
        "inputs": opts.inputs.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
        "samples": samples,
        "reference": opts.fasta.display().to_string(),
        "records_read": records,
        "records_written": n_out,
        "calls_by_type": calls_by_type.iter().map(|(k, v)| (k.clone(), *v)).collect::<FxHashMap<_, _>>(),
        "outputs": outputs,
    });
    let mut text = serde_json::to_string_pretty(&prov).unwrap_or_default();
    text.push('\n');
    let prov_path = format!("{prefix}.kasane.json");
    crate::coverage::output::write_text(prov_path.clone(), &text, &mut set)?;
    outputs.push(prov_path);
    set.commit()?;
    progress.done();
    Ok(SvReport {
        backend: backend_name,
        records,
        calls_by_type,
        outputs,
        warnings,
    })
}

fn read_repeats(path: &Path, header: &Header) -> Result<Vec<Repeats>> {
    let bed = crate::io::bed::BedRegions::read(path)?;
    let mut out = vec![Repeats::default(); header.refs.len()];
    for (chrom, regs) in &bed.by_chrom {
        if let Some(t) = header.tid(chrom) {
            out[t] = Repeats::new(
                regs.iter()
                    .map(|r| (r.start as i64, r.end as i64))
                    .collect(),
            );
        }
    }
    Ok(out)
}

struct Gatherer<'a> {
    sample: u16,
    sp: &'a SigParams,
    header: &'a Header,
    want: &'a [bool],
    ev: Vec<ContigEvidence>,
    scratch: Scratch,
    bad_sa: u64,
    first_bad_sa: Option<String>,
}

impl Sink for Gatherer<'_> {
    fn record<A: Alignment>(&mut self, t: usize, rec: &A) -> Result<bool> {
        if !self.want[t] {
            return Ok(true);
        }
        let header = self.header;
        let tid_of = |n: &[u8]| Some(header.tid(std::str::from_utf8(n).ok()?)? as u32);
        if signatures::extract(
            rec,
            self.sample,
            self.sp,
            &tid_of,
            &mut self.ev[t],
            &mut self.scratch,
        )
        .is_err()
        {
            self.bad_sa += 1;
            if self.first_bad_sa.is_none() {
                self.first_bad_sa = Some(String::from_utf8_lossy(rec.read_name()).into_owned());
            }
        }
        Ok(true)
    }
}

/// One input's evidence on the wanted contigs, and the records read for it.
#[allow(clippy::too_many_arguments)]
fn gather(
    input: &mut Input,
    reach: Reach<'_>,
    sample: u16,
    sp: &SigParams,
    header: &Header,
    want: &[bool],
    n_contigs: usize,
    warnings: &Mutex<Vec<String>>,
    progress: &Progress,
) -> Result<(Vec<ContigEvidence>, u64)> {
    let mut g = Gatherer {
        sample,
        sp,
        header,
        want,
        ev: (0..n_contigs).map(|_| Default::default()).collect(),
        scratch: Scratch::default(),
        bad_sa: 0,
        first_bad_sa: None,
    };
    input.read(reach, Fields::SeqTags, &mut g, Some(progress))?;
    if g.bad_sa > 0 {
        let msg = format!(
            "{}: {} record(s) with a malformed SA tag (first: read {}); their split alignments were ignored",
            input.path.display(),
            g.bad_sa,
            g.first_bad_sa.unwrap_or_default()
        );
        if let Ok(mut w) = warnings.lock() {
            w.push(msg);
        }
    }
    Ok((g.ev, input.records_delivered()))
}

/// Minimum support for a sample with mean depth `cov`: a tenth of the depth, at least 2
/// (mosaic mode: at least 2 regardless of depth).
pub fn adaptive_support(cov: f64, p: &CallParams) -> u32 {
    if let Some(m) = p.min_support {
        return m.max(1);
    }
    if p.mosaic {
        return 2;
    }
    ((cov * 0.1).round() as u32 + 1).max(2)
}

#[allow(clippy::too_many_arguments)]
fn call_contig(
    tid: usize,
    ev: ContigEvidence,
    header: &Header,
    fasta: &FastaReader,
    repeats: &Repeats,
    cp: &CallParams,
    n_samples: usize,
    warnings: &Mutex<Vec<String>>,
) -> Result<Vec<output::Record>> {
    let contig = &header.refs[tid];
    let cov: Vec<f64> = (0..n_samples)
        .map(|s| ev.bases.get(s).copied().unwrap_or(0) as f64 / contig.len.max(1) as f64)
        .collect();
    let min_reads = 2usize;
    let mut by_kind: FxHashMap<(SvKind, bool), Vec<signatures::Sig>> = FxHashMap::default();
    for s in ev.sigs {
        let clip = s.source == signatures::Source::Clip;
        // Duplications cluster with insertions (see `cluster::make_cluster`).
        let k = if s.kind == SvKind::Dup {
            SvKind::Ins
        } else {
            s.kind
        };
        by_kind.entry((k, clip)).or_default().push(s);
    }
    let mut kinds: Vec<(SvKind, bool)> = by_kind.keys().copied().collect();
    kinds.sort();
    let mut clusters: Vec<Cluster> = Vec::new();
    let mut group = 0u32;
    for k in kinds {
        let sigs = by_kind.remove(&k).unwrap_or_default();
        if k.0 == SvKind::Bnd {
            // Junctions differ by mate contig and directions before position.
            let mut sub: FxHashMap<(u32, bool, bool), Vec<signatures::Sig>> = FxHashMap::default();
            for s in sigs {
                sub.entry((s.mate_tid, s.local_right, s.mate_right))
                    .or_default()
                    .push(s);
            }
            let mut keys: Vec<_> = sub.keys().copied().collect();
            keys.sort();
            for key in keys {
                let v = sub.remove(&key).unwrap_or_default();
                clusters.extend(cluster::cluster_kind(v, repeats, min_reads, &mut group));
            }
        } else if k.1 {
            // Clip evidence only where no sequence-resolved insertion explains it.
            let found = cluster::cluster_kind(sigs, repeats, min_reads, &mut group);
            for c in found {
                let explained = clusters.iter().any(|o| {
                    matches!(o.kind, SvKind::Ins | SvKind::Dup | SvKind::Del)
                        && (o.pos - c.pos).abs() < 1000
                });
                if !explained {
                    clusters.push(c);
                }
            }
        } else {
            clusters.extend(cluster::cluster_kind(sigs, repeats, min_reads, &mut group));
        }
    }
    let spans = genotype::SpanIndex::new(ev.spans);
    // Supporters of every allele of a site group: reads of another allele are not reference.
    let mut group_reads: FxHashMap<u32, FxHashSet<(u64, u16)>> = FxHashMap::default();
    for c in &clusters {
        group_reads
            .entry(c.group)
            .or_default()
            .extend(c.reads.iter().copied());
    }
    let mut out = Vec::new();
    let mut no_seq = 0u64;
    let mut cover = FxHashSet::default();
    for c in &clusters {
        if c.kind != SvKind::Bnd && c.len < cp.min_svlen {
            continue;
        }
        let bps: Vec<i64> = match c.kind {
            SvKind::Ins | SvKind::Bnd => vec![c.pos],
            _ => vec![c.pos, c.pos + c.len],
        };
        let others = group_reads.get(&c.group);
        let mut dv = vec![0u32; n_samples];
        for &(_, s) in &c.reads {
            dv[s as usize] += 1;
        }
        let mut dr_sum = vec![0u32; n_samples];
        let mut do_sum = vec![0u32; n_samples];
        // A read that ends within an insertion's length of it may carry a copy of nearby
        // sequence that the aligner laid on the reference: only reads reaching further are
        // informative for the reference allele.
        let margin = if c.kind == SvKind::Ins {
            c.len.clamp(50, 1000)
        } else {
            50
        };
        for &bp in &bps {
            cover.clear();
            spans.covering(bp, margin, &mut cover);
            for &(r, s) in cover.iter() {
                if c.reads.binary_search(&(r, s)).is_ok() {
                    continue;
                }
                if others.is_some_and(|o| o.contains(&(r, s))) {
                    do_sum[s as usize] += 1;
                } else {
                    dr_sum[s as usize] += 1;
                }
            }
        }
        let nb = bps.len() as u32;
        let gts: Vec<genotype::Genotype> = (0..n_samples)
            .map(|s| {
                // Reads of another allele at the site count against this one.
                let dr = (dr_sum[s] + do_sum[s] + nb / 2) / nb;
                let mut g = genotype::call(dr, dv[s], cp.err);
                // In mosaic mode a sample with enough support carries the allele even at a
                // low fraction; otherwise the likelihoods decide (a PASS record may then be
                // 0/0 in a sample: the evidence exists, the genotype model doubts it).
                if cp.mosaic && g.gt == "0/0" && dv[s] >= adaptive_support(cov[s], cp) {
                    g.gt = "0/1";
                }
                g
            })
            .collect();
        let rec =
            output::format_record(&contig.name, c, &gts, &cov, cp, header, fasta, &mut no_seq)?;
        if let Some(r) = rec {
            out.push(r);
        }
    }
    if no_seq > 0 {
        if let Ok(mut w) = warnings.lock() {
            w.push(format!(
                "{}: {no_seq} insertion(s) reported without their sequence: the reads carry no bases (SEQ *)",
                contig.name
            ));
        }
    }
    out.sort_by(|a, b| a.sort_key.cmp(&b.sort_key));
    Ok(out)
}
