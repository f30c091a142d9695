//! The files of `kasane eval`, committed together:
//! - `summary.json`: every call set's counts and metrics (small variants at allele and genotype
//!   level; SVs with truvari bench's `summary.json` fields), per stratum, and the curves;
//! - `summary.csv`: hap.py's columns (genotype level, PASS calls), one call set after another;
//! - `strata.tsv`: every stratum x type x subset x level;
//! - `NAME.tp-base.vcf.gz`, `NAME.fn.vcf.gz`, `NAME.tp-comp.vcf.gz`, `NAME.fp.vcf.gz` per call
//!   set (bgzipped, indexed), records annotated;
//! - `report.html`; `eval.kasane.json` (provenance).

use std::path::Path;
use std::sync::Arc;

use serde_json::{json, Value};

use super::tally::{self, Counts, SUBSETS, VTYPES};
use super::variants::{Genome, Side};
use super::{CallsetResult, EvalOptions, EvalReport, RecResult, Verdict};
use crate::error::{Error, Result};
use crate::io::atomic::OutputSet;
use crate::io::vcf::{VcfHeader, VcfWriter};
use crate::io::vcf_reader::VcfReader;
use crate::progress::Progress;

/// A file's name, for summary.json and the report: they do not depend on where a run put its
/// files (a pipeline's output folder); eval.kasane.json keeps the full paths.
fn file_name(p: &Path) -> String {
    p.file_name().map_or_else(
        || p.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

fn num(v: Option<f64>) -> Value {
    v.filter(|x| x.is_finite())
        .map_or(Value::Null, |x| json!(x))
}

fn ratio(a: u64, b: u64) -> Option<f64> {
    (b > 0).then(|| a as f64 / b as f64)
}

/// One cell as JSON, at allele and genotype level.
pub fn counts_json(c: &Counts) -> Value {
    let level = |gt: bool| {
        let (p, r, f) = c.metrics(gt);
        let (ttp, qtp) = c.tp(gt);
        json!({
            "TRUTH.TOTAL": c.truth_total, "TRUTH.TP": ttp, "TRUTH.FN": c.truth_total - ttp,
            "QUERY.TOTAL": c.query_total, "QUERY.TP": qtp, "QUERY.FP": c.query_total - qtp,
            "precision": num(p), "recall": num(r), "f1": num(f),
        })
    };
    json!({
        "allele": level(false),
        "genotype": level(true),
        "FP.gt": c.query_tp - c.query_tp_gt,
        "FP.al": c.query_fp_al,
        "QUERY.UNK": c.query_unk,
    })
}

/// hap.py's `summary.csv` columns.
const CSV_HEADER: &str =
    "Type,Filter,TRUTH.TOTAL,TRUTH.TP,TRUTH.FN,QUERY.TOTAL,QUERY.FP,QUERY.UNK,\
FP.gt,FP.al,METRIC.Recall,METRIC.Precision,METRIC.Frac_NA,METRIC.F1_Score,\
TRUTH.TOTAL.TiTv_ratio,QUERY.TOTAL.TiTv_ratio,TRUTH.TOTAL.het_hom_ratio,\
QUERY.TOTAL.het_hom_ratio,Callset";

fn f6(v: Option<f64>) -> String {
    v.filter(|x| x.is_finite())
        .map_or(String::new(), |x| format!("{x:.6}"))
}

/// One hap.py row (genotype level, as hap.py counts: an allele match with the wrong genotype
/// is FP.gt, inside QUERY.FP).
fn csv_row(ty: &str, c: &Counts, callset: &str) -> String {
    let (p, r, f) = c.metrics(true);
    let qtotal = c.query_total + c.query_unk;
    format!(
        "{ty},PASS,{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{callset}\n",
        c.truth_total,
        c.truth_tp_gt,
        c.truth_total - c.truth_tp_gt,
        qtotal,
        c.query_total - c.query_tp_gt,
        c.query_unk,
        c.query_tp - c.query_tp_gt,
        c.query_fp_al,
        f6(r),
        f6(p),
        f6(ratio(c.query_unk, qtotal)),
        f6(f),
        f6(ratio(c.truth_ti, c.truth_tv)),
        f6(ratio(c.query_ti, c.query_tv)),
        f6(ratio(c.truth_het, c.truth_homalt)),
        f6(ratio(c.query_het, c.query_homalt)),
    )
}

const TSV_HEADER: &str = "callset\tstratum\ttype\tsubset\tlevel\ttruth_total\ttruth_tp\ttruth_fn\t\
query_total\tquery_tp\tquery_fp\tprecision\trecall\tf1\n";

fn tsv_rows(out: &mut String, r: &CallsetResult, strata: &[String]) {
    for (s, sname) in strata.iter().enumerate() {
        for (t, tname) in VTYPES.iter().enumerate() {
            for (k, kname) in SUBSETS.iter().enumerate() {
                let c = r.tally.get(s, t, k);
                if c.is_empty() {
                    continue;
                }
                for (level, gt) in [("allele", false), ("genotype", true)] {
                    let (p, rc, f) = c.metrics(gt);
                    let (ttp, qtp) = c.tp(gt);
                    out.push_str(&format!(
                        "{}\t{sname}\t{tname}\t{kname}\t{level}\t{}\t{ttp}\t{}\t{}\t{qtp}\t{}\t{}\t{}\t{}\n",
                        r.name,
                        c.truth_total,
                        c.truth_total - ttp,
                        c.query_total,
                        c.query_total - qtp,
                        f6(p),
                        f6(rc),
                        f6(f),
                    ));
                }
            }
        }
    }
}

/// A call set's curves as JSON, one per variant type with calls.
fn curves_json(r: &mut CallsetResult) -> Value {
    let mut m = serde_json::Map::new();
    for (t, tname) in VTYPES.iter().enumerate() {
        let (pts, best) = tally::pr_curve(&mut r.curve_query[t], &mut r.curve_truth[t], 200);
        if pts.is_empty() {
            continue;
        }
        m.insert(
            tname.to_string(),
            json!({ "best": best.map(|b| pts[b]), "points": pts }),
        );
    }
    Value::Object(m)
}

/// The callset's results per stratum: small types and SV.
fn strata_json(r: &CallsetResult, strata: &[String]) -> Value {
    let mut out = Vec::new();
    for (s, sname) in strata.iter().enumerate() {
        let mut types = serde_json::Map::new();
        for (t, tname) in VTYPES.iter().enumerate() {
            let mut subsets = serde_json::Map::new();
            for (k, kname) in SUBSETS.iter().enumerate() {
                let c = r.tally.get(s, t, k);
                if !c.is_empty() {
                    subsets.insert(kname.to_string(), counts_json(c));
                }
            }
            if !subsets.is_empty() {
                types.insert(tname.to_string(), Value::Object(subsets));
            }
        }
        out.push(json!({"stratum": sname, "types": types}));
    }
    Value::Array(out)
}

/// Every file of a run: the annotated VCFs, then the summaries; committed together.
pub fn write(
    opts: &EvalOptions,
    truth: &Side,
    mut report: EvalReport,
    genome: &Genome,
    pool: Arc<rayon::ThreadPool>,
    progress: &Progress,
) -> Result<EvalReport> {
    let mut set = OutputSet::default();
    let mut outputs = write_annotated(opts, truth, &mut report, genome, pool, progress, &mut set)?;
    // Listed in eval.kasane.json with the summaries.
    report.outputs = outputs.clone();
    outputs.extend(write_summaries(
        opts,
        truth.sample.as_deref(),
        &mut report,
        &mut set,
    )?);
    set.commit()?;
    report.outputs = outputs;
    Ok(report)
}

/// The annotated VCFs of each call set, per call set one pass over each source writing its
/// matched and its unmatched records (the truth's and the calls' passes at once). The
/// per-record results are dropped from the report once written.
pub fn write_annotated(
    opts: &EvalOptions,
    truth: &Side,
    report: &mut EvalReport,
    genome: &Genome,
    pool: Arc<rayon::ThreadPool>,
    progress: &Progress,
    set: &mut OutputSet,
) -> Result<Vec<String>> {
    let mut outputs = Vec::new();
    for r in &mut report.callsets {
        progress.log(&format!("writing the annotated VCFs of {}", r.name));
        let paths = annotated_paths(&opts.output, &r.name);
        let [tp_base, fn_, tp_comp, fp] = &paths;
        let (a, b) = rayon::join(
            || {
                annotate(
                    &truth.path,
                    &r.truth_records,
                    [tp_base, fn_],
                    "FN",
                    genome,
                    pool.clone(),
                )
            },
            || {
                annotate(
                    &r.path,
                    &r.query_records,
                    [tp_comp, fp],
                    "FP",
                    genome,
                    pool.clone(),
                )
            },
        );
        for w in a?.into_iter().chain(b?) {
            w.finish_into(set)?;
        }
        outputs.extend(paths.iter().map(|p| p.display().to_string()));
        r.truth_records = Vec::new();
        r.query_records = Vec::new();
    }
    Ok(outputs)
}

/// A call set's annotated VCFs: `NAME.tp-base`, `.fn`, `.tp-comp`, `.fp` (`.vcf.gz`).
pub fn annotated_paths(dir: &Path, name: &str) -> [std::path::PathBuf; 4] {
    ["tp-base", "fn", "tp-comp", "fp"].map(|what| dir.join(format!("{name}.{what}.vcf.gz")))
}

/// `summary.json`, `summary.csv`, `strata.tsv`, `report.html` and `eval.kasane.json`, from the
/// counts and curves alone (what `kasane gather` has of a sharded run). The curves' buffers
/// (sorted in place) are dropped from the report once summarised.
pub fn write_summaries(
    opts: &EvalOptions,
    truth_sample: Option<&str>,
    report: &mut EvalReport,
    set: &mut OutputSet,
) -> Result<Vec<String>> {
    let dir = &opts.output;
    let mut outputs: Vec<String> = Vec::new();
    let add = |name: &str, text: &str, set: &mut OutputSet, outputs: &mut Vec<String>| {
        let p = dir.join(name);
        crate::coverage::output::write_text(p.display().to_string(), text, set)?;
        outputs.push(p.display().to_string());
        Result::Ok(())
    };
    let mut callsets_json = Vec::new();
    let mut csv = String::from(CSV_HEADER);
    csv.push('\n');
    let mut tsv = String::from(TSV_HEADER);
    for r in &mut report.callsets {
        for (t, ty) in [(tally::INDEL, "INDEL"), (tally::SNV, "SNP")] {
            csv.push_str(&csv_row(ty, r.tally.get(0, t, 0), &r.name));
        }
        tsv_rows(&mut tsv, r, &report.strata);
        let (snv, indel) = (
            counts_json(r.tally.get(0, tally::SNV, 0)),
            counts_json(r.tally.get(0, tally::INDEL, 0)),
        );
        let curves = curves_json(r);
        callsets_json.push(json!({
            "name": r.name,
            "calls": file_name(&r.path),
            "sample": r.sample,
            "SNV": snv,
            "INDEL": indel,
            "SV": r.sv_summary.to_json(),
            "strata": strata_json(r, &report.strata),
            "curves": curves,
            "haplotype_clusters": { "solved": r.small_stats.clusters_solved, "too_large": r.small_stats.clusters_too_large },
        }));
        r.curve_query = Vec::new();
        r.curve_truth = Vec::new();
    }
    let summary = json!({
        "kasane_version": crate::VERSION,
        "truth": file_name(&opts.truth),
        "truth_sample": truth_sample,
        "truth_regions": opts.truth_regions.as_deref().map(file_name),
        "reference": opts.fasta.as_deref().map(file_name),
        "score": opts.score.name(),
        "sv_params": opts.sv.to_json(),
        "strata": report.strata,
        "subsets": SUBSETS,
        "callsets": callsets_json,
    });
    let mut text = serde_json::to_string_pretty(&summary).unwrap_or_default();
    text.push('\n');
    add("summary.json", &text, set, &mut outputs)?;
    add("summary.csv", &csv, set, &mut outputs)?;
    add("strata.tsv", &tsv, set, &mut outputs)?;
    add(
        "report.html",
        &super::report::html(&summary),
        set,
        &mut outputs,
    )?;
    let mut listed = report.outputs.clone();
    listed.extend(outputs.iter().cloned());
    let prov = json!({
        "kasane_version": crate::VERSION,
        "command": "eval",
        "command_line": opts.command_line,
        "threads": opts.threads,
        "backend": "cpu",
        "backend_requested": opts.backend.to_string(),
        "truth": opts.truth.display().to_string(),
        "calls": opts.calls.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
        "reference": opts.fasta.as_ref().map(|p| p.display().to_string()),
        "outputs": listed,
    });
    let mut text = serde_json::to_string_pretty(&prov).unwrap_or_default();
    text.push('\n');
    add("eval.kasane.json", &text, set, &mut outputs)?;
    Ok(outputs)
}

/// Copies the records of `src` into `outs[0]` (matched) and `outs[1]` (unmatched, labelled
/// `miss`: FN or FP), with INFO annotations; returns the writers, to be committed with the
/// run's other files.
fn annotate(
    src: &Path,
    recs: &[RecResult],
    outs: [&Path; 2],
    miss: &str,
    genome: &Genome,
    pool: Arc<rayon::ThreadPool>,
) -> Result<Vec<VcfWriter>> {
    let mut rd = VcfReader::open(src, pool.clone())?;
    let meta = rd.meta().clone();
    // Contigs as the source lists them (records follow that order), else the reference's.
    let contigs: Vec<(String, u64)> =
        if !meta.contigs.is_empty() && meta.contigs.iter().all(|c| c.1.is_some()) {
            meta.contigs
                .iter()
                .map(|(n, l)| (n.clone(), l.unwrap_or(0)))
                .collect()
        } else {
            genome.contigs.clone()
        };
    let mut h = VcfHeader::new(contigs);
    for m in &meta.lines {
        if m.starts_with("fileformat=") || m.starts_with("contig=") {
            continue;
        }
        h.meta(m.clone());
    }
    h.info("KEVAL", "1", "String", "kasane eval: TP, FP or FN");
    h.info(
        "KEVAL_GT",
        "0",
        "Flag",
        "kasane eval: the genotype matches too",
    );
    h.info(
        "KEVAL_HAP",
        "0",
        "Flag",
        "kasane eval: matched by haplotype sequence, not as written",
    );
    super::sv::declare_info(&mut h);
    for s in &meta.samples {
        h.sample(s.clone());
    }
    // Level 1: these copies of the inputs are for viewing, and compressing them at htslib's
    // default took a fifth of an SV evaluation's time.
    let mut ws = vec![
        VcfWriter::create_with_level(outs[0], &h, pool.clone(), 1)?,
        VcfWriter::create_with_level(outs[1], &h, pool, 1)?,
    ];
    let mut line = Vec::new();
    let mut info = Vec::new();
    let mut i = 0usize;
    while let Some(rec) = rd.next_record()? {
        let r = recs.get(i);
        i += 1;
        let Some(r) = r.filter(|r| r.verdict != Verdict::None) else {
            continue;
        };
        let (w, label) = if r.verdict == Verdict::Tp {
            (0, "TP")
        } else {
            (1, miss)
        };
        info.clear();
        if rec.col(7) != b"." {
            info.extend_from_slice(rec.col(7));
        }
        let mut push = |s: &str| {
            if !info.is_empty() {
                info.push(b';');
            }
            info.extend_from_slice(s.as_bytes());
        };
        push(&format!("KEVAL={label}"));
        if r.gt {
            push("KEVAL_GT");
        }
        if r.haplotype {
            push("KEVAL_HAP");
        }
        if let Some(m) = &r.sv {
            push(&m.info_fields());
        }
        line.clear();
        for k in 0..rec.n_cols() {
            if k > 0 {
                line.push(b'\t');
            }
            if k == 7 {
                line.extend_from_slice(&info);
            } else {
                line.extend_from_slice(rec.col(k));
            }
        }
        line.push(b'\n');
        ws[w].write_line(&line).map_err(|e| match e {
            Error::Format { msg, .. } => Error::format(src, msg),
            e => e,
        })?;
    }
    Ok(ws)
}
