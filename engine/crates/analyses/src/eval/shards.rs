//! `kasane eval --shard i/N` and its gather: a shard evaluates whole contigs (those of shard
//! `i/N` of the first call set's header, which is how `kasane call --shard` and `kasane sv
//! --shard` cut them), writes its annotated VCFs and a record of its counts, curves and
//! warnings (`eval-shard.json`); [`gather`] adds the counts, joins the curves and concatenates
//! the VCFs into the files one unsharded run writes.
//!
//! Every count is per contig (truvari's chunks and the haplotype clusters never cross one), so
//! the sums are exact; a curve is kept as a histogram of scores, which gives the same points.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::output;
use super::tally::{self, Tally, VTYPES};
use super::variants::{Genome, Side};
use super::{CallsetResult, EvalOptions, EvalReport};
use crate::error::{Error, Result};
use crate::io::atomic::OutputSet;
use crate::io::vcf_reader::VcfReader;
use crate::progress::Progress;
use crate::shard::Shard;

/// The record a shard writes into its output folder.
pub fn record_path(dir: &Path) -> PathBuf {
    dir.join("eval-shard.json")
}

/// Which reference contigs (by index) shard `s` evaluates: shard `s` of the contigs that the
/// first call set's header lists (with lengths), as the step that made the calls cut them;
/// contigs that header lacks go to the last shard. Without lengths there, the reference's.
pub fn contigs(
    s: Shard,
    calls: &Path,
    genome: &Genome,
    pool: Arc<rayon::ThreadPool>,
) -> Result<Vec<bool>> {
    let n = genome.contigs.len();
    let mut keep = vec![false; n];
    let listed = VcfReader::open(calls, pool)?.meta().contigs.clone();
    if !listed.is_empty() && listed.iter().all(|c| c.1.is_some()) {
        let lengths: Vec<u64> = listed.iter().map(|c| c.1.unwrap_or(0)).collect();
        let range = s
            .contigs(&lengths)
            .map_err(|e| Error::format(calls, e.to_string()))?;
        let mut listed_here = vec![false; n];
        for (i, (name, _)) in listed.iter().enumerate() {
            if let Some(t) = genome.tid(name) {
                listed_here[t] = true;
                keep[t] = range.contains(&i);
            }
        }
        if s.index == s.count {
            for (k, l) in keep.iter_mut().zip(&listed_here) {
                *k |= !l;
            }
        }
    } else {
        let lengths: Vec<u64> = genome.contigs.iter().map(|c| c.1).collect();
        let range = s
            .contigs(&lengths)
            .map_err(|e| Error::format(&genome.source, e.to_string()))?;
        keep[range].fill(true);
    }
    Ok(keep)
}

#[derive(Serialize, Deserialize)]
struct Record {
    kasane_version: String,
    shard: String,
    truth_sample: Option<String>,
    strata: Vec<String>,
    /// Warnings of reading the two sides (the haplotype cluster warning is made from the sums).
    warnings: Vec<String>,
    callsets: Vec<CallsetPart>,
}

#[derive(Serialize, Deserialize)]
struct CallsetPart {
    name: String,
    sample: Option<String>,
    tally: Tally,
    sv: super::sv::Summary,
    clusters_solved: u64,
    clusters_too_large: u64,
    /// Per variant type: each call score (its f32 bits) with the TP and FP calls scored so.
    query_scores: Vec<Vec<(u32, u64, u64)>>,
    /// Per variant type: each truth match score (f32 bits; NaN: unmatched) with its count.
    truth_scores: Vec<Vec<(u32, u64)>>,
}

/// One NaN for all (their bits differ; the curve treats every NaN alike).
fn bits(x: f32) -> u32 {
    if x.is_nan() {
        f32::NAN.to_bits()
    } else {
        x.to_bits()
    }
}

fn query_hist(v: &[(f32, bool)]) -> Vec<(u32, u64, u64)> {
    let mut m: BTreeMap<u32, (u64, u64)> = BTreeMap::new();
    for &(s, tp) in v {
        let e = m.entry(bits(s)).or_default();
        if tp {
            e.0 += 1;
        } else {
            e.1 += 1;
        }
    }
    m.into_iter().map(|(b, (t, f))| (b, t, f)).collect()
}

fn truth_hist(v: &[f32]) -> Vec<(u32, u64)> {
    let mut m: BTreeMap<u32, u64> = BTreeMap::new();
    for &s in v {
        *m.entry(bits(s)).or_default() += 1;
    }
    m.into_iter().collect()
}

/// A shard's files (`opts.shard`): its annotated VCFs and its record, committed together.
pub fn write(
    opts: &EvalOptions,
    truth: &Side,
    mut report: EvalReport,
    side_warnings: Vec<String>,
    genome: &Genome,
    pool: Arc<rayon::ThreadPool>,
    progress: &Progress,
) -> Result<EvalReport> {
    let mut set = OutputSet::default();
    let mut outputs =
        output::write_annotated(opts, truth, &mut report, genome, pool, progress, &mut set)?;
    let record = Record {
        kasane_version: crate::VERSION.to_string(),
        shard: opts.shard.map(|s| s.to_string()).unwrap_or_default(),
        truth_sample: truth.sample.clone(),
        strata: report.strata.clone(),
        warnings: side_warnings,
        callsets: report
            .callsets
            .iter()
            .map(|r| CallsetPart {
                name: r.name.clone(),
                sample: r.sample.clone(),
                tally: r.tally.clone(),
                sv: r.sv_summary.clone(),
                clusters_solved: r.small_stats.clusters_solved,
                clusters_too_large: r.small_stats.clusters_too_large,
                query_scores: r.curve_query.iter().map(|v| query_hist(v)).collect(),
                truth_scores: r.curve_truth.iter().map(|v| truth_hist(v)).collect(),
            })
            .collect(),
    };
    let p = record_path(&opts.output);
    let text = serde_json::to_string(&record).map_err(|e| Error::Usage(e.to_string()))?;
    crate::coverage::output::write_text(p.display().to_string(), &text, &mut set)?;
    outputs.push(p.display().to_string());
    set.commit()?;
    report.outputs = outputs;
    Ok(report)
}

/// Joins the shards that `kasane eval --shard i/N` wrote into `parts` (in shard order) into
/// `opts.output`: the files one unsharded run with `opts` writes.
pub fn gather(opts: &EvalOptions, parts: &[PathBuf], progress: &Progress) -> Result<EvalReport> {
    crate::io::atomic::in_output_dir(&opts.output, || gather_inner(opts, parts, progress))
}

fn gather_inner(opts: &EvalOptions, parts: &[PathBuf], progress: &Progress) -> Result<EvalReport> {
    let names = super::callset_names(&opts.calls);
    let mut records: Vec<Record> = Vec::with_capacity(parts.len());
    for dir in parts {
        let p = record_path(dir);
        let text = std::fs::read_to_string(&p).map_err(|e| Error::io(&p, e))?;
        let r: Record = serde_json::from_str(&text)
            .map_err(|e| Error::format(&p, format!("not an eval shard record: {e}")))?;
        let bad = |msg: String| Err(Error::format(&p, msg));
        let cells = |n: usize| n * VTYPES.len() * tally::SUBSETS.len();
        if let Some(first) = records.first() {
            if r.strata != first.strata || r.truth_sample != first.truth_sample {
                return bad("its strata or truth sample differ from the first shard's".into());
            }
        }
        if r.callsets.iter().map(|c| &c.name).ne(names.iter()) {
            return bad(format!(
                "its call sets ({}) are not the ones gathered ({})",
                r.callsets
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                names.join(", ")
            ));
        }
        for c in &r.callsets {
            if c.tally.n_strata != r.strata.len()
                || c.tally.cells.len() != cells(r.strata.len())
                || c.query_scores.len() != VTYPES.len()
                || c.truth_scores.len() != VTYPES.len()
            {
                return bad(format!(
                    "the counts of {} do not fit its strata (written by another kasane?)",
                    c.name
                ));
            }
        }
        records.push(r);
    }
    let Some(first) = records.first() else {
        return Err(Error::Usage("no eval shards to gather".into()));
    };
    let strata = first.strata.clone();
    let truth_sample = first.truth_sample.clone();
    crate::io::atomic::prepare_output_dir(&opts.output)?;
    let mut set = OutputSet::default();
    let mut outputs = Vec::new();
    let mut callsets = Vec::with_capacity(names.len());
    for (k, name) in names.iter().enumerate() {
        progress.log(&format!("gathering {name} from {} shard(s)", parts.len()));
        let mut r = CallsetResult {
            name: name.clone(),
            path: opts.calls[k].clone(),
            sample: records[0].callsets[k].sample.clone(),
            tally: Tally::new(strata.len()),
            sv_summary: Default::default(),
            curve_query: vec![Vec::new(); VTYPES.len()],
            curve_truth: vec![Vec::new(); VTYPES.len()],
            truth_records: Vec::new(),
            query_records: Vec::new(),
            small_stats: Default::default(),
        };
        for rec in &records {
            let c = &rec.callsets[k];
            r.tally.merge(&c.tally);
            r.sv_summary.add(&c.sv);
            r.small_stats.clusters_solved += c.clusters_solved;
            r.small_stats.clusters_too_large += c.clusters_too_large;
            for (t, h) in c.query_scores.iter().enumerate() {
                for &(b, tp, fp) in h {
                    let s = f32::from_bits(b);
                    let q = &mut r.curve_query[t];
                    q.extend(std::iter::repeat_n((s, true), tp as usize));
                    q.extend(std::iter::repeat_n((s, false), fp as usize));
                }
            }
            for (t, h) in c.truth_scores.iter().enumerate() {
                for &(b, n) in h {
                    r.curve_truth[t].extend(std::iter::repeat_n(f32::from_bits(b), n as usize));
                }
            }
        }
        r.sv_summary.finish();
        // The annotated VCFs: each shard's records, its header once.
        let here = output::annotated_paths(&opts.output, name);
        for (j, out) in here.iter().enumerate() {
            let from: Vec<PathBuf> = parts
                .iter()
                .map(|d| output::annotated_paths(d, name)[j].clone())
                .collect();
            crate::io::vcf::concat_shards_into(&from, out, &mut set)?;
            outputs.push(out.display().to_string());
        }
        callsets.push(r);
    }
    let mut warnings: Vec<String> = Vec::new();
    for w in records.iter().flat_map(|r| &r.warnings) {
        if !warnings.contains(w) {
            warnings.push(w.clone());
        }
    }
    warnings.extend(super::cluster_warnings(&callsets));
    let mut report = EvalReport {
        callsets,
        strata,
        outputs,
        warnings,
    };
    let more = output::write_summaries(opts, truth_sample.as_deref(), &mut report, &mut set)?;
    set.commit()?;
    report.outputs.extend(more);
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The curve made from the histograms is the curve made from the scores.
    #[test]
    fn histograms_give_the_same_curve() {
        let mut rng = crate::rng::Rng(7);
        let mut next = || rng.next();
        let mut q: Vec<(f32, bool)> = Vec::new();
        let mut t: Vec<f32> = Vec::new();
        for _ in 0..5000 {
            let x = next();
            let s = if x % 17 == 0 {
                f32::NAN
            } else {
                (x % 300) as f32 / 7.0
            };
            q.push((s, x % 3 != 0));
            let y = next();
            t.push(if y % 5 == 0 {
                f32::NAN
            } else {
                (y % 300) as f32 / 7.0
            });
        }
        let (mut q2, mut t2) = (Vec::new(), Vec::new());
        for (b, tp, fp) in query_hist(&q) {
            let s = f32::from_bits(b);
            q2.extend(std::iter::repeat_n((s, true), tp as usize));
            q2.extend(std::iter::repeat_n((s, false), fp as usize));
        }
        for (b, n) in truth_hist(&t) {
            t2.extend(std::iter::repeat_n(f32::from_bits(b), n as usize));
        }
        let a = tally::pr_curve(&mut q, &mut t, 50);
        let b = tally::pr_curve(&mut q2, &mut t2, 50);
        assert!(!a.0.is_empty());
        assert_eq!(
            serde_json::to_string(&a.0).unwrap(),
            serde_json::to_string(&b.0).unwrap()
        );
        assert_eq!(a.1, b.1);
    }
}
