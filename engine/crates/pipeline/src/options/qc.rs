//! `kasane qc`'s options: the table, the option struct from parsed values, and the files a run
//! writes.

use std::path::PathBuf;

use super::coverage::SHARD_HELP;
use super::{OptDef, ParamKind, Ty, Values};
use crate::backend::BackendKind;
use crate::error::{Error, Result};
use crate::qc::QcOptions;

/// Every option of `kasane qc`, in `--help` order.
pub const OPTIONS: &[OptDef] = &[
    OptDef::positional(
        "inputs",
        Ty::Paths,
        "BAM-or-CRAM",
        "Alignments: BAM or CRAM files sorted by coordinate, one sample each, all on one reference",
    ),
    OptDef::new(
        "output",
        "output",
        Ty::Path,
        "DIR",
        "Output folder (created if missing): SAMPLE.* files per sample, qc.html, qc.tsv, relatedness.tsv",
    )
    .short('o')
    .required(),
    OptDef::new(
        "fasta",
        "fasta",
        Ty::Path,
        "FASTA",
        "Reference FASTA (with .fai): needed for CRAM and GC bias; reference N bases leave the territory",
    )
    .short('f')
    .env("REF_PATH"),
    super::THREADS,
    OptDef::new(
        "backend",
        "backend",
        Ty::Backend,
        "BACKEND",
        "Compute backend (QC counts on the CPU; recorded in provenance)",
    )
    .default("auto"),
    OptDef::new(
        "by",
        "by",
        Ty::Str,
        "bed|window",
        "Depth tracks: a window size in bases, or a BED file of regions (default: about 2000 windows over the genome)",
    )
    .param(ParamKind::BedOrWindow, "BED file or window size for the depth tracks"),
    OptDef::new(
        "sites",
        "sites",
        Ty::Path,
        "VCF",
        "Fingerprint panel: biallelic SNPs (VCF, plain or bgzipped; INFO AF used for contamination). Default: about 300,000 positions spread evenly over the genome",
    )
    .param(ParamKind::Path, "fingerprint panel: biallelic SNPs with INFO AF"),
    OptDef::new(
        "thresholds",
        "thresholds",
        Ty::Path,
        "TOML",
        "Pass/fail rules: [min] and [max] tables of metric = bound (metric names as in SAMPLE.qc.json)",
    )
    .param(ParamKind::Path, "pass/fail rules: TOML with [min] and [max] tables"),
    OptDef::new(
        "ped",
        "ped",
        Ty::Path,
        "PED",
        "Pedigree: declared sex and expected relationships, checked against the data",
    )
    .param(ParamKind::Path, "pedigree (PED): declared sex and relationships"),
    OptDef::new(
        "fingerprints",
        "fingerprints",
        Ty::StrList,
        "FILES",
        "Earlier runs' SAMPLE.fingerprint.tsv files (comma-separated): a sample that no longer matches its own, or matches another's, fails",
    ),
    OptDef::new(
        "min_mapq",
        "min-mapq",
        Ty::U8,
        "MIN_MAPQ",
        "Coverage metrics: reads of lower mapping quality are excluded (Picard's MINIMUM_MAPPING_QUALITY)",
    )
    .default("20")
    .param(ParamKind::Int, "coverage metrics: minimum mapping quality"),
    OptDef::new(
        "min_baseq",
        "min-baseq",
        Ty::U8,
        "MIN_BASEQ",
        "Coverage metrics: bases of lower quality are excluded (Picard's MINIMUM_BASE_QUALITY)",
    )
    .default("20")
    .param(ParamKind::Int, "coverage metrics: minimum base quality"),
    OptDef::new(
        "coverage_cap",
        "coverage-cap",
        Ty::U32,
        "CAP",
        "Coverage metrics: depth is capped here (Picard's COVERAGE_CAP)",
    )
    .default("250")
    .param(ParamKind::Int, "coverage metrics: depth cap"),
    OptDef::new(
        "count_unpaired",
        "count-unpaired",
        Ty::Str,
        "auto|true|false",
        "Coverage metrics: count unpaired reads (Picard's COUNT_UNPAIRED); auto: only for single-end samples",
    )
    .default("auto")
    .param(ParamKind::Str, "coverage metrics: count unpaired reads (auto, true, false)"),
    OptDef::new(
        "max_contamination",
        "max-contamination",
        Ty::Str,
        "FRACTION",
        "A sample whose estimated contamination is above this fails",
    )
    .default("0.03")
    .param(ParamKind::Str, "contamination above this fraction fails a sample"),
    OptDef::new(
        "sample_name",
        "sample-name",
        Ty::Str,
        "NAME",
        "The sample's name in file names and the report (one input only; default: its @RG SM, else the file name)",
    ),
    OptDef::new(
        "coverage",
        "coverage",
        Ty::Str,
        "PREFIX",
        "Also write `kasane coverage PREFIX`'s files (mosdepth's) from the same reading of the input (one input only): the BAM is read once for both",
    ),
    OptDef::new(
        "coverage_arg",
        "coverage-arg",
        Ty::StrEach,
        "ARG",
        "One argument of that coverage run, as `kasane coverage` takes it (repeat it: --coverage-arg=--by --coverage-arg=500); --threads and --backend are qc's",
    ),
    OptDef::new("shard", "shard", Ty::Str, "i/N", SHARD_HELP).hide(),
    OptDef::switch("quiet", "quiet", "QUIET", "No progress display"),
];

/// The option struct of a qc run; `command_line` is recorded in the provenance file.
pub fn to_options(v: &Values, command_line: Vec<String>) -> Result<QcOptions> {
    let mut o = QcOptions::new(v.paths("inputs"), v.need_path("output")?);
    o.fasta = v.path("fasta");
    o.threads = v.uint_as::<usize>("threads")?.unwrap_or(0);
    o.backend = v.backend("backend").unwrap_or(BackendKind::Auto);
    o.by = v
        .string("by")
        .as_deref()
        .map(crate::coverage::By::parse)
        .transpose()?;
    o.sites = v.path("sites");
    o.thresholds = v.path("thresholds");
    o.ped = v.path("ped");
    o.fingerprints = v
        .strings("fingerprints")
        .unwrap_or_default()
        .into_iter()
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
        .collect();
    if let Some(q) = v.uint_as("min_mapq")? {
        o.wgs.min_mapq = q;
    }
    if let Some(q) = v.uint_as("min_baseq")? {
        o.wgs.min_baseq = q;
    }
    if let Some(c) = v.uint_as::<u32>("coverage_cap")? {
        if c == 0 {
            return Err(Error::Usage("--coverage-cap must be at least 1".into()));
        }
        o.wgs.coverage_cap = c;
    }
    o.count_unpaired = match v.string("count_unpaired").as_deref() {
        None | Some("auto") => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(x) => {
            return Err(Error::Usage(format!(
                "--count-unpaired {x}: expected auto, true or false"
            )))
        }
    };
    if let Some(s) = v.string("max_contamination") {
        o.max_contamination = s
            .parse::<f64>()
            .ok()
            .filter(|x| (0.0..=1.0).contains(x))
            .ok_or_else(|| {
                Error::Usage(format!(
                    "--max-contamination {s}: expected a fraction between 0 and 1"
                ))
            })?;
    }
    o.sample_name = v.string("sample_name");
    o.shard = v
        .string("shard")
        .as_deref()
        .map(crate::shard::Shard::parse)
        .transpose()?;
    if let Some(prefix) = v.string("coverage") {
        let [input] = o.inputs.as_slice() else {
            return Err(Error::Usage(
                "--coverage writes the coverage files of a single input".into(),
            ));
        };
        let mut args = v.strings("coverage_arg").unwrap_or_default();
        // qc's reading is the coverage run's: its threads, backend and shard.
        args.extend(["--threads".into(), o.threads.to_string()]);
        args.extend([
            "--backend".into(),
            v.string("backend").unwrap_or("auto".into()),
        ]);
        if let Some(s) = o
            .shard
            .filter(|_| !args.iter().any(|a| a.starts_with("--shard")))
        {
            args.extend(["--shard".into(), s.to_string()]);
        }
        // A CRAM needs the reference; a coverage argument of its own comes first.
        if let Some(f) = o.fasta.as_ref().filter(|_| {
            !args
                .iter()
                .any(|a| a == "--fasta" || a.starts_with("--fasta=") || a == "-f")
        }) {
            args.extend(["--fasta".into(), f.display().to_string()]);
        }
        args.extend(["--".into(), prefix, input.display().to_string()]);
        let (cv, line) = super::job_values("coverage", super::coverage::OPTIONS, &args)?;
        let env = |k: &str| std::env::var(k).ok();
        o.coverage = Some(super::coverage::to_options(&cv, &env, line)?);
    } else if v.strings("coverage_arg").is_some_and(|a| !a.is_empty()) {
        return Err(Error::Usage(
            "--coverage-arg needs --coverage PREFIX".into(),
        ));
    }
    o.command_line = command_line;
    Ok(o)
}

/// The options of a command line `kasane qc ARGS` (as a pipeline job runs it).
pub fn from_args(args: &[String]) -> Result<QcOptions> {
    let (v, line) = super::job_values("qc", OPTIONS, args)?;
    to_options(&v, line)
}

/// The files a qc run writes into its folder for these sample names (run-level files last).
pub fn outputs(dir: &str, samples: &[String], with_reference: bool) -> Vec<String> {
    let mut v = Vec::new();
    for s in samples {
        let s = crate::qc::output::file_stem(s);
        v.push(format!("{dir}/{s}.stats"));
        v.push(format!("{dir}/{s}.wgs_metrics"));
        v.push(format!("{dir}/{s}.insert_size_metrics"));
        if with_reference {
            v.push(format!("{dir}/{s}.gc_bias.summary_metrics"));
            v.push(format!("{dir}/{s}.gc_bias.detail_metrics"));
        }
        v.push(format!("{dir}/{s}.fingerprint.tsv"));
        v.push(format!("{dir}/{s}.qc.json"));
    }
    for f in ["qc.tsv", "relatedness.tsv", "qc.html", "qc.kasane.json"] {
        v.push(format!("{dir}/{f}"));
    }
    v
}
