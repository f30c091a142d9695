//! `kasane eval`'s options: the table, the option struct from parsed values, and the files a
//! run writes. The SV matching options have truvari bench's names and defaults.

use std::path::PathBuf;

use super::{OptDef, ParamKind, Ty, Values};
use crate::error::{Error, Result};
use crate::eval::sv::{Pick, SvParams};
use crate::eval::variants::ScoreField;
use crate::eval::EvalOptions;

/// Every option of `kasane eval`, in `--help` order.
pub const OPTIONS: &[OptDef] = &[
    OptDef::new(
        "fasta",
        "fasta",
        Ty::Path,
        "FASTA",
        "Reference FASTA (with .fai): normalizes small variants, matches them by haplotype, resolves symbolic SVs and checks that both VCFs are on it. Without it (SVs, as truvari without -f) the contigs are the truth header's",
    )
    .short('f'),
    OptDef::new(
        "truth",
        "truth",
        Ty::Path,
        "VCF",
        "Truth set (VCF, plain or bgzipped, sorted)",
    )
    .required()
    .param(ParamKind::Path, "truth set (VCF); {sample} is replaced by the sample id"),
    OptDef::new(
        "truth_regions",
        "truth-regions",
        Ty::Path,
        "BED",
        "The truth's confident regions: truth variants outside are not counted, calls outside are QUERY.UNK",
    )
    .param(ParamKind::Path, "the truth's confident regions (BED); {sample} is replaced by the sample id"),
    OptDef::new(
        "calls",
        "calls",
        Ty::Paths,
        "VCF",
        "Call set(s) to evaluate (VCF, plain or bgzipped, sorted); repeat for several, compared side by side",
    )
    .required()
    .param(ParamKind::Str, "the call or sv step (this step depends on) whose VCF is evaluated"),
    OptDef::new(
        "stratify",
        "stratify",
        Ty::StrList,
        "NAME=BED",
        "A stratum: every metric is also given for variants inside these regions; repeat for several",
    ),
    OptDef::new(
        "stratify_tsv",
        "stratify-tsv",
        Ty::Path,
        "TSV",
        "Strata from a GIAB stratification list: NAME<TAB>BED per line, paths relative to the list",
    )
    .param(ParamKind::Path, "GIAB stratification list (NAME<TAB>BED lines)"),
    OptDef::new(
        "sample",
        "sample",
        Ty::Str,
        "NAME",
        "The calls' sample column (default: the first)",
    ),
    OptDef::new(
        "truth_sample",
        "truth-sample",
        Ty::Str,
        "NAME",
        "The truth's sample column (default: the first)",
    )
    .param(ParamKind::Str, "the truth's sample column; {sample} is replaced by the sample id"),
    OptDef::new(
        "output",
        "output",
        Ty::Path,
        "DIR",
        "Output folder (created if missing): summary.json, summary.csv, strata.tsv, report.html, annotated VCFs",
    )
    .short('o')
    .default("eval"),
    super::THREADS,
    OptDef::new(
        "backend",
        "backend",
        Ty::Backend,
        "BACKEND",
        "Compute backend (evaluation runs on the CPU; recorded in provenance)",
    )
    .default("auto"),
    OptDef::new(
        "score",
        "score",
        Ty::Str,
        "FIELD",
        "What ranks calls for the precision-recall curve: QUAL, INFO/KEY or FORMAT/KEY",
    )
    .default("QUAL")
    .param(ParamKind::Str, "score for the precision-recall curve: QUAL, INFO/KEY or FORMAT/KEY"),
    OptDef::new(
        "refdist",
        "refdist",
        Ty::U32,
        "BP",
        "SVs (truvari): maximum distance between breakpoints of a match",
    )
    .default("500")
    .param(ParamKind::Int, "SVs: maximum breakpoint distance (truvari --refdist)"),
    OptDef::new(
        "pctseq",
        "pctseq",
        Ty::Str,
        "FRACTION",
        "SVs (truvari): minimum sequence similarity of a match; 0 turns the sequence comparison off",
    )
    .default("0.7")
    .param(ParamKind::Str, "SVs: minimum sequence similarity (truvari --pctseq)"),
    OptDef::new(
        "pctsize",
        "pctsize",
        Ty::Str,
        "FRACTION",
        "SVs (truvari): minimum size similarity of a match (shorter / longer)",
    )
    .default("0.7")
    .param(ParamKind::Str, "SVs: minimum size similarity (truvari --pctsize)"),
    OptDef::new(
        "pctovl",
        "pctovl",
        Ty::Str,
        "FRACTION",
        "SVs (truvari): minimum reciprocal overlap of a match",
    )
    .default("0.0")
    .param(ParamKind::Str, "SVs: minimum reciprocal overlap (truvari --pctovl)"),
    OptDef::switch(
        "typeignore",
        "typeignore",
        "TYPEIGNORE",
        "SVs (truvari): match whatever the SV types",
    )
    .param(ParamKind::Bool, "SVs: ignore SV types (truvari --typeignore)"),
    OptDef::switch(
        "dup_to_ins",
        "dup-to-ins",
        "DUP_TO_INS",
        "SVs (truvari): compare duplications as insertions",
    )
    .param(ParamKind::Bool, "SVs: duplications as insertions (truvari --dup-to-ins)"),
    OptDef::new(
        "sizemin",
        "sizemin",
        Ty::U32,
        "BP",
        "SVs (truvari): smallest SV counted",
    )
    .default("50")
    .param(ParamKind::Int, "SVs: smallest SV counted (truvari --sizemin)"),
    OptDef::new(
        "sizefilt",
        "sizefilt",
        Ty::U32,
        "BP",
        "SVs (truvari): smallest call considered as a match for a counted truth SV [default: --sizemin when below 30, else 30]",
    )
    .param(ParamKind::Int, "SVs: smallest call that can match (truvari --sizefilt)"),
    OptDef::new(
        "sizemax",
        "sizemax",
        Ty::I64,
        "BP",
        "SVs (truvari): largest SV counted; -1: no limit",
    )
    .default("50000")
    .negative()
    .param(ParamKind::Int, "SVs: largest SV counted (truvari --sizemax)"),
    OptDef::switch(
        "passonly",
        "passonly",
        "PASSONLY",
        "SVs (truvari): only records with FILTER PASS or . (small variants always)",
    )
    .param(ParamKind::Bool, "SVs: only FILTER PASS (truvari --passonly)"),
    OptDef::new(
        "pick",
        "pick",
        Ty::Str,
        "single|multi|ac",
        "SVs (truvari): how many matches a variant may take: one, any, or its allele count",
    )
    .default("single")
    .param(ParamKind::Str, "SVs: single, multi or ac (truvari --pick)"),
    OptDef::new(
        "bnddist",
        "bnddist",
        Ty::I64,
        "BP",
        "SVs (truvari): maximum distance between breakends of matching BNDs; -1: leave BNDs out",
    )
    .default("100")
    .negative()
    .param(ParamKind::Int, "SVs: BND breakend distance (truvari --bnddist)"),
    OptDef::new(
        "chunksize",
        "chunksize",
        Ty::U32,
        "BP",
        "SVs (truvari): variants this close are compared in one chunk",
    )
    .default("1000")
    .param(ParamKind::Int, "SVs: chunk size (truvari --chunksize)"),
    OptDef::switch(
        "no_roll",
        "no-roll",
        "NO_ROLL",
        "SVs (truvari): compare sequences as written, without rolling them",
    )
    .param(ParamKind::Bool, "SVs: no sequence rolling (truvari --no-roll)"),
    OptDef::new(
        "no_ref",
        "no-ref",
        Ty::Str,
        "a|b|c",
        "SVs (truvari): leave out records whose genotype lacks the ALT allele: in both (a), the truth (b) or the calls (c)",
    )
    .param(ParamKind::Str, "SVs: a, b or c (truvari --no-ref)"),
    OptDef::new(
        "extend",
        "extend",
        Ty::U32,
        "BP",
        "SVs (truvari): read calls from the truth regions widened by this much; unmatched calls outside the regions do not count",
    )
    .default("0")
    .param(ParamKind::Int, "SVs: widen the truth regions for calls (truvari --extend)"),
    OptDef::switch(
        "no_decompose",
        "no-decompose",
        "NO_DECOMPOSE",
        "SVs (truvari): do not compare a BND with the breakends a DEL, INV or DUP makes",
    )
    .param(ParamKind::Bool, "SVs: no BND decomposition (truvari --no-decompose)"),
    OptDef::new("shard", "shard", Ty::Str, "i/N", super::coverage::SHARD_HELP).hide(),
    OptDef::switch("quiet", "quiet", "QUIET", "No progress display"),
];

fn fraction(v: &Values, name: &str) -> Result<Option<f64>> {
    match v.string(name) {
        None => Ok(None),
        Some(s) => s
            .parse::<f64>()
            .ok()
            .filter(|x| (0.0..=1.0).contains(x))
            .map(Some)
            .ok_or_else(|| {
                Error::Usage(format!(
                    "--{} {s}: expected a fraction between 0 and 1",
                    name.replace('_', "-")
                ))
            }),
    }
}

/// The option struct of an eval run; `command_line` is recorded in the provenance file.
pub fn to_options(v: &Values, command_line: Vec<String>) -> Result<EvalOptions> {
    let mut o = EvalOptions::new(
        v.path("fasta"),
        v.need_path("truth")?,
        v.paths("calls"),
        v.path("output").unwrap_or_else(|| PathBuf::from("eval")),
    );
    o.truth_regions = v.path("truth_regions");
    o.stratify = v
        .strings("stratify")
        .unwrap_or_default()
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect();
    o.stratify_tsv = v.path("stratify_tsv");
    o.sample = v.string("sample");
    o.truth_sample = v.string("truth_sample");
    o.threads = v.uint_as::<usize>("threads")?.unwrap_or(0);
    o.backend = v
        .backend("backend")
        .unwrap_or(crate::backend::BackendKind::Auto);
    if let Some(s) = v.string("score") {
        o.score = ScoreField::parse(&s)?;
    }
    let mut p = SvParams::default();
    if let Some(x) = v.uint("refdist") {
        p.refdist = x;
    }
    if let Some(x) = fraction(v, "pctseq")? {
        p.pctseq = x;
    }
    if let Some(x) = fraction(v, "pctsize")? {
        p.pctsize = x;
    }
    if let Some(x) = fraction(v, "pctovl")? {
        p.pctovl = x;
    }
    p.typeignore = v.flag("typeignore");
    p.dup_to_ins = v.flag("dup_to_ins");
    if let Some(x) = v.uint("sizemin") {
        p.sizemin = x;
    }
    p.sizefilt = v.uint("sizefilt");
    if let Some(x) = v.int("sizemax") {
        if x < -1 {
            return Err(Error::Usage(format!(
                "--sizemax {x}: expected -1 or a size"
            )));
        }
        p.sizemax = x;
    }
    p.passonly = v.flag("passonly");
    if let Some(s) = v.string("pick") {
        p.pick = Pick::parse(&s)?;
    }
    if let Some(x) = v.int("bnddist") {
        if x < -1 {
            return Err(Error::Usage(format!(
                "--bnddist {x}: expected -1 or a distance"
            )));
        }
        p.bnddist = x;
    }
    if let Some(x) = v.uint("chunksize") {
        p.chunksize = x;
    }
    p.no_roll = v.flag("no_roll");
    p.decompose = !v.flag("no_decompose");
    p.no_ref = match v.string("no_ref").as_deref() {
        None => None,
        Some(x @ ("a" | "b" | "c")) => x.chars().next(),
        Some(x) => return Err(Error::Usage(format!("--no-ref {x}: expected a, b or c"))),
    };
    p.extend = v.uint("extend").unwrap_or(0);
    p.has_regions = o.truth_regions.is_some();
    o.sv = p;
    o.shard = v
        .string("shard")
        .as_deref()
        .map(crate::shard::Shard::parse)
        .transpose()?;
    o.command_line = command_line;
    Ok(o)
}

/// The options of a pipeline job's command line (arguments after `kasane eval`).
pub fn from_args(args: &[String]) -> Result<EvalOptions> {
    let (v, line) = super::job_values("eval", OPTIONS, args)?;
    to_options(&v, line)
}

/// The files an eval run writes into its folder, for these call set names.
pub fn outputs(dir: &str, callsets: &[String], index: super::VcfIndex) -> Vec<String> {
    let mut v = Vec::new();
    for c in callsets {
        for what in ["tp-base", "fn", "tp-comp", "fp"] {
            v.extend(super::vcf_outputs(&format!("{dir}/{c}.{what}"), index));
        }
    }
    for f in [
        "summary.json",
        "summary.csv",
        "strata.tsv",
        "report.html",
        "eval.kasane.json",
    ] {
        v.push(format!("{dir}/{f}"));
    }
    v
}
