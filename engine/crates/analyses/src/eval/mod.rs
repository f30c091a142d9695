//! `kasane eval`: call sets against a truth set, small variants and structural variants, in
//! strata.
//!
//! Each side is read once ([`variants`]): small variants become normalized atoms, SVs stay
//! whole. Per contig, in parallel: small variants are matched by [`small`] (equal atoms, then
//! haplotype sequences), SVs by [`sv`] (truvari bench's rules and defaults); the results are
//! counted in every stratum and subset ([`tally`]) and kept per record for the annotated VCFs.
//! The files ([`output`], [`report`]) are written under temporary names and renamed together.
//! With `--shard i/N` only some contigs are evaluated, and [`shards`] records what the
//! summaries need so that a gather writes them.

pub mod genotype;
pub mod output;
pub mod report;
pub mod shards;
pub mod small;
pub mod sv;
pub mod tally;
pub mod variants;

use std::path::PathBuf;
use std::sync::Arc;

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::progress::Progress;

use tally::{Item, Stratum, Tally};
use variants::{Genome, ReadOptions, ScoreField, Side};

/// Options of `kasane eval`.
#[derive(Clone, Debug)]
pub struct EvalOptions {
    /// The reference; without it, small variants are matched as written (not normalized) and
    /// symbolic SVs are not resolved, and the contigs are the truth header's.
    pub fasta: Option<PathBuf>,
    pub truth: PathBuf,
    /// Confident regions of the truth set: variants outside are not counted, on either side.
    pub truth_regions: Option<PathBuf>,
    pub calls: Vec<PathBuf>,
    /// `NAME=BED` strata.
    pub stratify: Vec<String>,
    /// A GIAB stratification list (`NAME<TAB>BED` lines).
    pub stratify_tsv: Option<PathBuf>,
    /// The calls' sample column (default: the first).
    pub sample: Option<String>,
    /// The truth's sample column (default: the first).
    pub truth_sample: Option<String>,
    /// Output folder.
    pub output: PathBuf,
    pub threads: usize,
    /// Recorded in provenance (matching runs on the CPU).
    pub backend: crate::backend::BackendKind,
    /// What ranks calls for the precision-recall curve.
    pub score: ScoreField,
    pub sv: sv::SvParams,
    /// One of N shards of whole contigs: writes the annotated VCFs of those contigs and
    /// `eval-shard.json` instead of the summaries; [`shards::gather`] joins the shards.
    pub shard: Option<crate::shard::Shard>,
    pub command_line: Vec<String>,
}

impl EvalOptions {
    pub fn new(
        fasta: Option<PathBuf>,
        truth: PathBuf,
        calls: Vec<PathBuf>,
        output: PathBuf,
    ) -> Self {
        EvalOptions {
            fasta,
            truth,
            truth_regions: None,
            calls,
            stratify: Vec::new(),
            stratify_tsv: None,
            sample: None,
            truth_sample: None,
            output,
            threads: 1,
            backend: crate::backend::BackendKind::Auto,
            score: ScoreField::Qual,
            sv: sv::SvParams::default(),
            shard: None,
            command_line: Vec::new(),
        }
    }
}

/// Per record of one side: what it was counted as (for the annotated VCFs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Verdict {
    /// Not evaluated (filtered, reference genotype, outside the confident regions).
    #[default]
    None,
    Tp,
    /// False positive (a call) or false negative (a truth record).
    Miss,
}

/// Per record: verdict, genotype match, and for SVs the match's details.
#[derive(Clone, Debug, Default)]
pub struct RecResult {
    pub verdict: Verdict,
    pub gt: bool,
    /// Small variants: some atoms matched by haplotype, not as written.
    pub haplotype: bool,
    /// SVs: truvari's INFO annotations.
    pub sv: Option<Box<sv::MatchInfo>>,
}

/// The result of one call set.
#[derive(Debug)]
pub struct CallsetResult {
    pub name: String,
    pub path: PathBuf,
    pub sample: Option<String>,
    pub tally: Tally,
    pub sv_summary: sv::Summary,
    /// Per variant type: (score, tp) of calls and (score of the match) of truth variants.
    pub curve_query: Vec<Vec<(f32, bool)>>,
    pub curve_truth: Vec<Vec<f32>>,
    pub truth_records: Vec<RecResult>,
    pub query_records: Vec<RecResult>,
    pub small_stats: small::SmallStats,
}

/// What a run found and wrote.
#[derive(Debug)]
pub struct EvalReport {
    pub callsets: Vec<CallsetResult>,
    pub strata: Vec<String>,
    pub outputs: Vec<String>,
    pub warnings: Vec<String>,
}

/// The name of a call set from its file: the file name without `.vcf.gz`/`.vcf`/`.bcf`;
/// repeated names get `-2`, `-3`...
pub fn callset_names(paths: &[PathBuf]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for p in paths {
        let f = p
            .file_name()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_else(|| "calls".into());
        let mut base = f.clone();
        for ext in [".vcf.gz", ".vcf.bgz", ".vcf", ".gz"] {
            if let Some(b) = f.strip_suffix(ext) {
                base = b.to_string();
                break;
            }
        }
        let base: String = base
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "._-".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let mut name = base.clone();
        let mut k = 2;
        while out.contains(&name) {
            name = format!("{base}-{k}");
            k += 1;
        }
        out.push(name);
    }
    out
}

/// Strata from `--stratify NAME=BED` and `--stratify-tsv`; the first is "*" (everything).
fn read_strata(opts: &EvalOptions, genome: &Genome) -> Result<Vec<Stratum>> {
    let mut list = vec![Stratum {
        name: "*".into(),
        path: None,
        by_contig: Vec::new(),
    }];
    let mut specs: Vec<(String, PathBuf)> = Vec::new();
    for s in &opts.stratify {
        let (n, p) = s
            .split_once('=')
            .ok_or_else(|| Error::Usage(format!("--stratify '{s}': expected NAME=BED")))?;
        if n.is_empty() || p.is_empty() {
            return Err(Error::Usage(format!("--stratify '{s}': expected NAME=BED")));
        }
        specs.push((n.to_string(), PathBuf::from(p)));
    }
    if let Some(tsv) = &opts.stratify_tsv {
        specs.extend(tally::read_strat_tsv(tsv)?);
    }
    for (n, p) in specs {
        if list.iter().any(|s| s.name == n) {
            return Err(Error::Usage(format!("stratum '{n}' is named twice")));
        }
        list.push(Stratum::read(&n, &p, &genome.contigs)?);
    }
    Ok(list)
}

pub fn run(opts: &EvalOptions, progress: &Progress) -> Result<EvalReport> {
    crate::io::atomic::in_output_dir(&opts.output, || run_inner(opts, progress))
}

fn run_inner(opts: &EvalOptions, progress: &Progress) -> Result<EvalReport> {
    if opts.calls.is_empty() {
        return Err(Error::Usage(
            "--calls is required (one or more VCFs)".into(),
        ));
    }
    opts.sv.check()?;
    let threads = opts.threads.max(1);
    let pool = Arc::new(
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .panic_handler(crate::threads::worker_panicked)
            .build()
            .map_err(|e| Error::Usage(format!("cannot start {threads} threads: {e}")))?,
    );
    let genome = Genome::open(opts.fasta.as_deref(), &opts.truth, pool.clone())?;
    let strata = read_strata(opts, &genome)?;
    let conf = opts
        .truth_regions
        .as_ref()
        .map(|p| Stratum::read("truth-regions", p, &genome.contigs))
        .transpose()?;
    crate::io::atomic::prepare_output_dir(&opts.output)?;
    let only = match opts.shard {
        Some(s) => Some(Arc::new(shards::contigs(
            s,
            &opts.calls[0],
            &genome,
            pool.clone(),
        )?)),
        None => None,
    };
    let read_opts = |sample: &Option<String>, truth: bool| ReadOptions {
        only: only.clone(),
        check_overlaps: truth,
        sample: sample.clone(),
        score: opts.score.clone(),
        sv_min: opts.sv.sizefilt().min(opts.sv.sizemin) as u32,
        small_max: opts.sv.sizemin.max(1) as u32,
    };
    progress.log(&format!(
        "reading the truth {} and {} call set(s)",
        opts.truth.display(),
        opts.calls.len()
    ));
    // Every file at once, each parsed on its own thread (not a pool worker: the pool inflates
    // their BGZF blocks, and a worker waiting for its own pool would wait for ever).
    let paths: Vec<(&PathBuf, &Option<String>, bool)> =
        std::iter::once((&opts.truth, &opts.truth_sample, true))
            .chain(opts.calls.iter().map(|c| (c, &opts.sample, false)))
            .collect();
    let sides: Vec<Result<Side>> = std::thread::scope(|scope| {
        let handles: Vec<_> = paths
            .iter()
            .map(|(p, s, truth)| {
                let (genome, pool, ro) = (&genome, pool.clone(), read_opts(s, *truth));
                scope.spawn(move || variants::read_side(p, genome, &ro, pool))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(Error::Usage("a reader thread panicked".into())))
            })
            .collect()
    });
    let mut sides = sides.into_iter().collect::<Result<Vec<Side>>>()?;
    let truth = sides.remove(0);
    let mut side_warnings: Vec<String> = truth.warnings.clone();
    for s in &sides {
        side_warnings.extend(s.warnings.iter().cloned());
    }
    let names = callset_names(&opts.calls);
    let mut results = Vec::new();
    for (calls, name) in sides.into_iter().zip(names) {
        progress.log(&format!("matching {name}"));
        let r = pool.install(|| {
            evaluate(
                &truth,
                &calls,
                &name,
                &genome,
                &strata,
                conf.as_ref(),
                &opts.sv,
            )
        })?;
        results.push(r);
    }
    let mut warnings = side_warnings.clone();
    warnings.extend(cluster_warnings(&results));
    let report = EvalReport {
        strata: strata.iter().map(|s| s.name.clone()).collect(),
        callsets: results,
        outputs: Vec::new(),
        warnings,
    };
    match opts.shard {
        Some(_) => shards::write(opts, &truth, report, side_warnings, &genome, pool, progress),
        None => output::write(opts, &truth, report, &genome, pool, progress),
    }
}

/// Call sets with haplotype clusters too large to solve.
fn cluster_warnings(results: &[CallsetResult]) -> Vec<String> {
    results
        .iter()
        .filter(|r| r.small_stats.clusters_too_large > 0)
        .map(|r| {
            format!(
                "{}: {} cluster(s) of more than {} nearby unmatched variants per side were not \
                 solved by haplotype (counted as written)",
                r.name,
                r.small_stats.clusters_too_large,
                small::MAX_CLUSTER_SIDE
            )
        })
        .collect()
}

/// One contig's part of a call set's result.
struct ContigPart {
    tally: Tally,
    curve_query: Vec<Vec<(f32, bool)>>,
    curve_truth: Vec<Vec<f32>>,
    truth_recs: Vec<(u32, RecResult)>,
    query_recs: Vec<(u32, RecResult)>,
    small_stats: small::SmallStats,
    sv_summary: sv::Summary,
}

/// Folds one variant's result into a record's: a record is a TP when every counted part is.
fn fold(map: &mut Vec<(u32, RecResult)>, rec: u32, tp: bool, gt: bool, hap: bool) {
    if let Some(last) = map.last_mut().filter(|l| l.0 == rec) {
        let r = &mut last.1;
        if !tp {
            r.verdict = Verdict::Miss;
        }
        r.gt &= gt;
        r.haplotype |= hap;
        return;
    }
    map.push((
        rec,
        RecResult {
            verdict: if tp { Verdict::Tp } else { Verdict::Miss },
            gt,
            haplotype: hap,
            sv: None,
        },
    ));
}

#[allow(clippy::too_many_arguments)]
fn evaluate(
    truth: &Side,
    calls: &Side,
    name: &str,
    genome: &Genome,
    strata: &[Stratum],
    conf: Option<&Stratum>,
    params: &sv::SvParams,
) -> Result<CallsetResult> {
    let n = genome.contigs.len();
    let parts: Vec<Result<ContigPart>> = (0..n)
        .into_par_iter()
        .map(|tid| {
            let (t, q) = (&truth.contigs[tid], &calls.contigs[tid]);
            let mut part = ContigPart {
                tally: Tally::new(strata.len()),
                curve_query: vec![Vec::new(); tally::VTYPES.len()],
                curve_truth: vec![Vec::new(); tally::VTYPES.len()],
                truth_recs: Vec::new(),
                query_recs: Vec::new(),
                small_stats: Default::default(),
                sv_summary: Default::default(),
            };
            if t.atoms.is_empty() && q.atoms.is_empty() && t.svs.is_empty() && q.svs.is_empty() {
                return Ok(part);
            }
            // Small variants.
            if !t.atoms.is_empty() || !q.atoms.is_empty() {
                let seq = genome.seq(tid)?;
                let (ts, qs, st) = small::match_contig(t, q, &seq);
                part.small_stats = st;
                for (is_truth, side, states) in [(true, t, &ts), (false, q, &qs)] {
                    let spans: Vec<(u64, u64)> =
                        side.atoms.iter().map(|a| (a.pos, a.end())).collect();
                    let inside: Vec<bool> = match conf {
                        Some(c) => c.contains_sorted(tid, spans.iter().copied()),
                        None => vec![true; side.atoms.len()],
                    };
                    let items: Vec<Option<Item>> = side
                        .atoms
                        .iter()
                        .zip(states.iter())
                        .zip(&inside)
                        .map(|((a, s), &ok)| {
                            // Calls outside the confident regions are QUERY.UNK; truth there
                            // is not counted.
                            (ok || !is_truth).then(|| {
                                let vt = if a.is_snv() || a.indel_len() == 0 {
                                    tally::SNV
                                } else {
                                    tally::INDEL
                                };
                                let mut it = Item::new(vt, is_truth)
                                    .with(tally::zyg_subset(a.zyg))
                                    .with(tally::indel_subset(a.indel_len()));
                                if is_truth {
                                    it = it.with(tally::vaf_subset(a.vaf));
                                }
                                it.tp = s.tp();
                                it.gt = s.gt;
                                it.near = s.near;
                                it.unk = !ok;
                                if vt == tally::SNV && a.is_snv() && !seq.is_empty() {
                                    it.ti = tally::transition(seq[a.pos as usize], side.alt(a)[0]);
                                }
                                it.hom = match a.zyg {
                                    variants::Zyg::HomAlt => Some(true),
                                    variants::Zyg::Unknown => None,
                                    _ => Some(false),
                                };
                                it
                            })
                        })
                        .collect();
                    count(&mut part.tally, strata, tid, &spans, &items);
                    // Records, curve.
                    let mut recs: Vec<(u32, RecResult)> = Vec::new();
                    let mut order: Vec<usize> =
                        (0..side.atoms.len()).filter(|&i| inside[i]).collect();
                    order.sort_by_key(|&i| side.atoms[i].rec);
                    for i in order {
                        let (a, s) = (&side.atoms[i], &states[i]);
                        fold(
                            &mut recs,
                            a.rec,
                            s.tp(),
                            s.gt,
                            s.how == small::How::Haplotype,
                        );
                        let vt = items[i].map_or(0, |it| it.vtype as usize);
                        if is_truth {
                            part.curve_truth[vt].push(if s.tp() { s.score } else { f32::NAN });
                        } else {
                            part.curve_query[vt].push((a.score, s.tp()));
                        }
                    }
                    if is_truth {
                        part.truth_recs = recs;
                    } else {
                        part.query_recs = recs;
                    }
                }
            }
            // Structural variants.
            if !t.svs.is_empty() || !q.svs.is_empty() {
                let (name, len) = &genome.contigs[tid];
                let skip_gt = truth.sample.is_none() || calls.sample.is_none();
                let fetch = |s: u64, e: u64| genome.fetch(tid, s, e);
                let ctg = sv::Contig {
                    tid,
                    name,
                    len: *len,
                    seq: genome.has_sequence().then_some(&fetch as &sv::Fetch<'_>),
                    conf,
                    skip_gt,
                };
                let m = sv::match_contig(&t.svs, &q.svs, params, &ctg);
                part.sv_summary = m.summary.clone();
                for (is_truth, svs, states) in [(true, &t.svs, &m.base), (false, &q.svs, &m.comp)] {
                    let spans: Vec<(u64, u64)> = svs.iter().map(|s| s.span()).collect();
                    let items: Vec<Option<Item>> = svs
                        .iter()
                        .zip(states.iter())
                        .map(|(s, st)| {
                            st.counted.then(|| {
                                let mut it = Item::new(tally::SV, is_truth)
                                    .with(s.zyg.and_then(tally::zyg_subset))
                                    .with(tally::size_subset(s.size))
                                    .with(Some(tally::svtype_subset(s.svtype.name())));
                                if is_truth {
                                    it = it.with(tally::vaf_subset(s.vaf));
                                }
                                it.tp = st.tp;
                                it.gt = st.gt;
                                it
                            })
                        })
                        .collect();
                    // SV records are in file order, sorted by start as the reader checked.
                    count(&mut part.tally, strata, tid, &spans, &items);
                    let recs = if is_truth {
                        &mut part.truth_recs
                    } else {
                        &mut part.query_recs
                    };
                    for (s, st) in svs.iter().zip(states.iter()) {
                        if !st.counted && st.info.is_none() {
                            continue;
                        }
                        recs.push((
                            s.rec,
                            RecResult {
                                verdict: if !st.counted {
                                    Verdict::None
                                } else if st.tp {
                                    Verdict::Tp
                                } else {
                                    Verdict::Miss
                                },
                                gt: st.gt,
                                haplotype: false,
                                sv: st.info.clone().map(Box::new),
                            },
                        ));
                        if st.counted {
                            if is_truth {
                                part.curve_truth[tally::SV].push(if st.tp {
                                    st.match_score
                                } else {
                                    f32::NAN
                                });
                            } else {
                                part.curve_query[tally::SV].push((s.score, st.tp));
                            }
                        }
                    }
                }
            }
            Ok(part)
        })
        .collect();
    let mut out = CallsetResult {
        name: name.to_string(),
        path: calls.path.clone(),
        sample: calls.sample.clone(),
        tally: Tally::new(strata.len()),
        sv_summary: sv::Summary::default(),
        curve_query: vec![Vec::new(); tally::VTYPES.len()],
        curve_truth: vec![Vec::new(); tally::VTYPES.len()],
        truth_records: vec![RecResult::default(); truth.n_records],
        query_records: vec![RecResult::default(); calls.n_records],
        small_stats: Default::default(),
    };
    for p in parts {
        let p = p?;
        out.tally.merge(&p.tally);
        out.sv_summary.add(&p.sv_summary);
        out.small_stats.clusters_solved += p.small_stats.clusters_solved;
        out.small_stats.clusters_too_large += p.small_stats.clusters_too_large;
        for (a, b) in out.curve_query.iter_mut().zip(p.curve_query) {
            a.extend(b);
        }
        for (a, b) in out.curve_truth.iter_mut().zip(p.curve_truth) {
            a.extend(b);
        }
        for (rec, r) in p.truth_recs {
            out.truth_records[rec as usize] = r;
        }
        for (rec, r) in p.query_recs {
            out.query_records[rec as usize] = r;
        }
    }
    out.sv_summary.finish();
    Ok(out)
}

/// Adds items (spans sorted by start) to every stratum holding them.
fn count(
    t: &mut Tally,
    strata: &[Stratum],
    tid: usize,
    spans: &[(u64, u64)],
    items: &[Option<Item>],
) {
    for (k, s) in strata.iter().enumerate() {
        if k == 0 {
            for it in items.iter().flatten() {
                t.add_item(0, it);
            }
            continue;
        }
        let inside = s.contains_sorted(tid, spans.iter().copied());
        for (it, ok) in items.iter().zip(inside) {
            if let (Some(it), true) = (it, ok) {
                t.add_item(k, it);
            }
        }
    }
}

/// One line per call set: precision, recall and F1 of each variant type with variants.
pub fn headline(r: &EvalReport) -> Vec<String> {
    let f = |x: Option<f64>| x.map_or("-".to_string(), |v| format!("{v:.4}"));
    r.callsets
        .iter()
        .map(|c| {
            let mut parts = Vec::new();
            for (t, name) in [(tally::SNV, "SNV"), (tally::INDEL, "INDEL")] {
                let k = c.tally.get(0, t, 0);
                if !k.is_empty() {
                    let (p, rc, f1) = k.metrics(false);
                    parts.push(format!(
                        "{name} precision {} recall {} F1 {}",
                        f(p),
                        f(rc),
                        f(f1)
                    ));
                }
            }
            let s = &c.sv_summary;
            if s.base_cnt + s.comp_cnt > 0 {
                parts.push(format!(
                    "SV precision {} recall {} F1 {}",
                    f(s.precision),
                    f(s.recall),
                    f(s.f1)
                ));
            }
            format!("{}: {}", c.name, parts.join("; "))
        })
        .collect()
}
