//! From a checked pipeline to jobs: one per sample and step, in dependency order, each with
//! the `kasane` command it runs, what it reads and writes, and whether an earlier run already
//! finished it (same kasane, parameters and inputs; outputs intact).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::json;

use super::parse::options_for;
use super::{fingerprint, safe};
use super::{Param, Pipeline, StepKind};
use crate::options::{self, OptDef, ParamKind, VcfIndex};

#[derive(Clone, Debug)]
pub struct Job {
    /// `step/sample`.
    pub id: String,
    pub step: String,
    pub sample: String,
    pub kind: StepKind,
    /// Arguments after `kasane coverage`, without threads, backend, prefix and input.
    pub args: Vec<String>,
    /// Output prefix, relative to the output folder.
    pub prefix: String,
    pub input: PathBuf,
    /// Every file the job reads.
    pub reads: Vec<PathBuf>,
    /// Files it reads that earlier jobs write, relative to the output folder (an eval step's
    /// call set).
    pub reads_out: Vec<String>,
    /// Output files, relative to the output folder.
    pub writes: Vec<String>,
    /// Jobs (indexes) that must finish first.
    pub after: Vec<usize>,
    /// A qc job that also writes this coverage job's files, from the same reading of the
    /// input ([`fuse`]); the coverage job then waits for it.
    pub read_by: Option<usize>,
    /// The coverage job whose files this qc job also writes.
    pub coverage_of: Option<usize>,
}

/// The jobs of a pipeline, in an order that respects dependencies.
pub fn jobs(p: &Pipeline) -> Vec<Job> {
    let mut out: Vec<Job> = Vec::with_capacity(p.steps.len() * p.samples.len());
    // Jobs go step by step, each step's samples in file order: job `s * n + k` is step `s` of
    // sample `k`, so a dependency is found by arithmetic (a scan of the earlier jobs made
    // planning quadratic in the cohort size).
    let n = p.samples.len();
    let step_index: HashMap<&str, usize> = p
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.as_str(), i))
        .collect();
    // The reference's index is read once, not once per job.
    let vcf_index = VcfIndex::for_reference(p.reference.as_deref());
    for step in &p.steps {
        let mut deps: Vec<usize> = step
            .depends_on
            .iter()
            .filter_map(|d| step_index.get(d.as_str()).copied())
            .collect();
        deps.sort_unstable();
        deps.dedup();
        for (k, sample) in p.samples.iter().enumerate() {
            let mut args = Vec::new();
            // An eval step reads VCFs, not the sample's alignments.
            let mut reads = if step.kind == StepKind::Eval {
                Vec::new()
            } else {
                vec![sample.path.clone()]
            };
            let mut reads_out = Vec::new();
            let mut input = sample.path.clone();
            let table = options_for(step.kind);
            let def = |name: &str| table.iter().find(|d| d.name == name);
            let flag = |name: &str| {
                def(name).map_or_else(
                    || format!("--{}", name.replace('_', "-")),
                    |d| format!("--{}", d.long),
                )
            };
            for (name, v) in &step.params {
                if step.kind == StepKind::Eval {
                    if let Param::Str(s) = v {
                        if name == "calls" {
                            // The call set: that step's VCF for this sample (see tail_args).
                            reads_out.push(options::vcf_path(&format!("{s}/{}", sample.id)));
                            continue;
                        }
                        // `{sample}` in a truth path or sample name: this sample's.
                        let s = s.replace("{sample}", &sample.id);
                        args.push(flag(name));
                        args.push(s.clone());
                        if names_a_file(def(name), &s) {
                            reads.push(PathBuf::from(&s));
                            if name == "truth" {
                                input = PathBuf::from(&s);
                            }
                        }
                        continue;
                    }
                }
                match v {
                    Param::Bool(true) => args.push(flag(name)),
                    Param::Bool(false) => {}
                    Param::Int(n) => {
                        args.push(flag(name));
                        args.push(n.to_string());
                    }
                    Param::Str(s) if name == "by" && s == "regions" => {
                        if let Some(r) = &p.regions {
                            args.push(flag(name));
                            args.push(r.display().to_string());
                            reads.push(r.clone());
                        }
                    }
                    Param::Str(s) => {
                        args.push(flag(name));
                        args.push(s.clone());
                        if names_a_file(def(name), s) {
                            reads.push(PathBuf::from(s));
                        }
                    }
                    Param::List(l) => {
                        args.push(flag(name));
                        args.push(l.join(","));
                    }
                }
            }
            if let Some(r) = &p.reference {
                args.push("--fasta".into());
                args.push(r.display().to_string());
                reads.push(r.clone());
            }
            let prefix = format!("{}/{}", step.id, sample.id);
            let writes = match step.kind {
                StepKind::Coverage => {
                    options::coverage::outputs(&prefix, &|k| match step.params.get(k) {
                        Some(Param::Bool(b)) => *b,
                        Some(_) => true,
                        None => false,
                    })
                }
                StepKind::Sv => options::sv::outputs(&prefix, vcf_index),
                StepKind::Call => options::call::outputs(&prefix, vcf_index),
                // Its provenance goes into run.json, as every job's does.
                StepKind::Qc => options::qc::outputs(
                    &prefix,
                    std::slice::from_ref(&sample.id),
                    p.reference.is_some(),
                )
                .into_iter()
                .filter(|w| !w.ends_with("/qc.kasane.json"))
                .collect(),
                // A folder per job, the call set named by the sample; provenance into run.json.
                StepKind::Eval => {
                    let name =
                        crate::eval::callset_names(&[PathBuf::from(options::vcf_path(&sample.id))]);
                    options::eval::outputs(&prefix, &name, vcf_index)
                        .into_iter()
                        .filter(|w| !w.ends_with("/eval.kasane.json"))
                        .collect()
                }
            };
            let after = deps.iter().map(|&d| d * n + k).collect();
            out.push(Job {
                id: prefix.clone(),
                step: step.id.clone(),
                sample: sample.id.clone(),
                kind: step.kind,
                args,
                prefix,
                input,
                reads,
                reads_out,
                writes,
                after,
                read_by: None,
                coverage_of: None,
            });
        }
    }
    out
}

/// Pairs each coverage job with the qc job of the same sample and input, so that a run reads
/// the input once for both: the qc job also writes the coverage files (`kasane qc --coverage`)
/// and the coverage job, which then waits for it, takes them. Not when either step depends on
/// the other (through any chain of steps), nor for a coverage step of one contig (`chrom`),
/// which qc's whole-genome reading would not stand for. A job run alone (a workflow engine's)
/// is never paired.
pub fn fuse(jobs: &mut [Job]) {
    let n = jobs.len();
    // Whether job a waits, directly or not, for job b.
    // (Only a sample's own jobs are on the way, so the walk is short.)
    let waits_for = |jobs: &[Job], a: usize, b: usize| {
        let mut seen = std::collections::HashSet::new();
        let mut stack = vec![a];
        while let Some(x) = stack.pop() {
            for &y in &jobs[x].after {
                if y == b {
                    return true;
                }
                if y < n && seen.insert(y) {
                    stack.push(y);
                }
            }
        }
        false
    };
    // Each sample's qc jobs in order, found once (a scan per coverage job was quadratic in
    // the cohort size); a coverage job takes the first not yet taken.
    let mut qc_of: HashMap<(String, PathBuf), std::collections::VecDeque<usize>> = HashMap::new();
    for (q, j) in jobs.iter().enumerate() {
        if j.kind == StepKind::Qc {
            qc_of
                .entry((j.sample.clone(), j.input.clone()))
                .or_default()
                .push_back(q);
        }
    }
    for c in 0..n {
        let cj = &jobs[c];
        if cj.kind != StepKind::Coverage || cj.args.iter().any(|a| a == "--chrom") {
            continue;
        }
        let Some(free) = qc_of.get_mut(&(cj.sample.clone(), cj.input.clone())) else {
            continue;
        };
        let Some(&q) = free.front() else { continue };
        // Pairs made so far count: their coverage jobs now wait on their qc jobs.
        if waits_for(jobs, q, c) || waits_for(jobs, c, q) {
            continue;
        }
        free.pop_front();
        jobs[c].read_by = Some(q);
        jobs[c].after.push(q);
        jobs[q].coverage_of = Some(c);
    }
}

/// Whether a parameter's value is a file the job reads: a path, or a BED (not a window size).
fn names_a_file(def: Option<&OptDef>, value: &str) -> bool {
    match def.and_then(|d| d.param).map(|p| p.kind) {
        Some(ParamKind::Path) => true,
        Some(ParamKind::BedOrWindow) => value.parse::<u64>().is_err(),
        _ => false,
    }
}

/// The arguments after a job's options: where it writes and what it reads.
pub fn tail_args(job: &Job, prefix: &Path) -> Vec<String> {
    match job.kind {
        StepKind::Coverage => vec![
            prefix.display().to_string(),
            job.input.display().to_string(),
        ],
        StepKind::Sv | StepKind::Call => vec![
            "--output".into(),
            options::vcf_path(&prefix.display().to_string()),
            job.input.display().to_string(),
        ],
        // eval writes a folder per job and reads the VCF an earlier job wrote (the output
        // folder is the prefix's grandparent: OUT/STEP/SAMPLE).
        StepKind::Eval => {
            let out = prefix
                .parent()
                .and_then(Path::parent)
                .unwrap_or(Path::new("."));
            let mut v = Vec::new();
            for r in &job.reads_out {
                v.push("--calls".into());
                v.push(out.join(r).display().to_string());
            }
            v.push("--output".into());
            v.push(prefix.display().to_string());
            v
        }
        // qc writes a folder per job; its files are named by the pipeline's sample id.
        StepKind::Qc => vec![
            "--output".into(),
            prefix.display().to_string(),
            "--sample-name".into(),
            job.sample.clone(),
            job.input.display().to_string(),
        ],
    }
}

/// The job that runs shard `shard` of `job`: only the shard's contigs, its BED files and a
/// shard record instead of the summary and distribution files (`kasane gather` makes those).
pub fn for_shard(job: &Job, shard: crate::shard::Shard) -> Job {
    let mut j = job.clone();
    j.args.push("--shard".into());
    j.args.push(shard.to_string());
    if j.kind == StepKind::Coverage {
        j.writes
            .retain(|w| w.ends_with(".bed.gz") || w.ends_with(".bed.gz.csi"));
        j.writes
            .push(crate::coverage::shards::record_path(&j.prefix));
    }
    if j.kind == StepKind::Eval {
        // The annotated VCFs of the shard's contigs and a record of its counts.
        j.writes.retain(|w| {
            w.ends_with(".vcf.gz") || w.ends_with(".vcf.gz.tbi") || w.ends_with(".vcf.gz.csi")
        });
        j.writes.push(
            crate::eval::shards::record_path(Path::new(&j.prefix))
                .display()
                .to_string(),
        );
    }
    if j.kind == StepKind::Qc {
        j.writes = vec![
            crate::qc::shard_record_path(Path::new(&j.prefix), &j.sample)
                .display()
                .to_string(),
        ];
    }
    j.writes.sort();
    j
}

/// The key that says whether a job's earlier result still holds: kasane's version, the
/// command, and the fingerprints of what it reads (`out` is the output folder, where earlier
/// jobs' files are).
pub fn job_key(job: &Job, out: &Path) -> std::io::Result<String> {
    let inputs: Vec<serde_json::Value> = job
        .reads
        .iter()
        .cloned()
        .chain(job.reads_out.iter().map(|r| out.join(r)))
        .map(|p| fingerprint::input(&p))
        .collect::<std::io::Result<_>>()?;
    let v = json!({
        "kasane": crate::VERSION,
        "kind": job.kind.name(),
        "args": job.args,
        "inputs": inputs,
    });
    Ok(blake3::hash(v.to_string().as_bytes()).to_hex().to_string())
}

/// The name of a job's record, log and lock: unique per job (see [`safe::job_key`]).
pub fn record_name(job: &Job) -> String {
    safe::job_key(&job.step, &job.sample)
}

/// Where a finished job's record lives, relative to the output folder.
pub fn state_rel(job: &Job) -> PathBuf {
    Path::new(".kasane")
        .join("jobs")
        .join(format!("{}.json", record_name(job)))
}

/// Where a finished job's record lives.
pub fn state_path(out: &Path, job: &Job) -> PathBuf {
    out.join(state_rel(job))
}

/// Whether every file a job writes, and its record, stay inside the output folder (ids are
/// checked when the file is read; this holds whatever built the job).
pub fn stays_under(job: &Job) -> bool {
    safe::stays_under(Path::new(&job.prefix))
        && job.writes.iter().all(|w| safe::stays_under(Path::new(w)))
}

/// Whether `job` was finished by an earlier run with the same key and its outputs are intact.
pub fn up_to_date(out: &Path, job: &Job, key: &str) -> bool {
    // A link planted in the folder is not what the run wrote.
    if !safe::no_links_under(out, &state_rel(job)) {
        return false;
    }
    let Ok(text) = std::fs::read_to_string(state_path(out, job)) else {
        return false;
    };
    let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else {
        return false;
    };
    if v["key"].as_str() != Some(key) {
        return false;
    }
    let Some(outputs) = v["outputs"].as_object() else {
        return false;
    };
    if outputs.len() != job.writes.len() {
        return false;
    }
    job.writes.iter().all(|w| {
        outputs.get(w).and_then(|h| h.as_str()).is_some_and(|h| {
            safe::no_links_under(out, Path::new(w))
                && fingerprint::checksum(&out.join(w)).is_ok_and(|got| got == h)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::{call, coverage, sv, OptDef, Values};

    /// A job's command line as the CLI reads it, from the analysis's own table.
    fn parsed(defs: &'static [OptDef], job: &Job) -> Values {
        let args: Vec<String> = job
            .args
            .iter()
            .cloned()
            .chain(tail_args(job, Path::new(&job.prefix)))
            .collect();
        let m = options::command(clap::Command::new("kasane"), defs)
            .try_get_matches_from(std::iter::once("kasane".to_string()).chain(args.clone()))
            .unwrap_or_else(|e| panic!("{args:?}: {e}"));
        options::values(&m, defs)
    }

    fn cli(defs: &'static [OptDef], args: &[&str]) -> Values {
        let m = options::command(clap::Command::new("kasane"), defs)
            .try_get_matches_from(std::iter::once("kasane").chain(args.iter().copied()))
            .unwrap_or_else(|e| panic!("{args:?}: {e}"));
        options::values(&m, defs)
    }

    /// Pipeline step parameters and the CLI flags they stand for build the same option structs.
    #[test]
    fn params_and_flags_give_the_same_options() {
        // Cargo.toml stands in for every input: the checker only needs files that exist.
        let text = r#"
reference = "Cargo.toml"
[[samples]]
id = "a"
path = "Cargo.toml"
[[steps]]
id = "cov"
kind = "coverage"
params = { mapq = 30, by = 500, thresholds = [1, 5], fast_mode = true, flag = 3844, min_frag_len = 10, chrom = "chr1", quantize = "0:1:5:", read_groups = "g1,g2" }
[[steps]]
id = "sv"
kind = "sv"
params = { min_svlen = 80, min_mapq = 5, min_support = 3, mosaic = true }
[[steps]]
id = "call"
kind = "call"
params = { min_mapq = 7, min_base_qual = 12 }
"#;
        let p = crate::pipeline::parse::parse_str(Path::new("p.toml"), text)
            .unwrap_or_else(|d| panic!("{d:?}"));
        let jobs = jobs(&p);
        let none = |_: &str| None;

        let from_params =
            coverage::to_options(&parsed(coverage::OPTIONS, &jobs[0]), &none, vec![]).unwrap();
        let from_flags = coverage::to_options(
            &cli(
                coverage::OPTIONS,
                &[
                    "-Q",
                    "30",
                    "-b",
                    "500",
                    "-T",
                    "1,5",
                    "-x",
                    "-F",
                    "3844",
                    "-l",
                    "10",
                    "-c",
                    "chr1",
                    "-q",
                    "0:1:5:",
                    "-R",
                    "g1,g2",
                    "--fasta",
                    "./Cargo.toml",
                    "cov/a",
                    "./Cargo.toml",
                ],
            ),
            &none,
            vec![],
        )
        .unwrap();
        assert_eq!(format!("{from_params:?}"), format!("{from_flags:?}"));

        let from_params = sv::to_options(&parsed(sv::OPTIONS, &jobs[1]), vec![]).unwrap();
        let from_flags = sv::to_options(
            &cli(
                sv::OPTIONS,
                &[
                    "--min-svlen",
                    "80",
                    "--min-mapq",
                    "5",
                    "--min-support",
                    "3",
                    "--mosaic",
                    "-f",
                    "./Cargo.toml",
                    "-o",
                    "sv/a.vcf.gz",
                    "./Cargo.toml",
                ],
            ),
            vec![],
        )
        .unwrap();
        assert_eq!(format!("{from_params:?}"), format!("{from_flags:?}"));

        let from_params = call::to_options(&parsed(call::OPTIONS, &jobs[2])).unwrap();
        let from_flags = call::to_options(&cli(
            call::OPTIONS,
            &[
                "--min-mapq",
                "7",
                "--min-base-qual",
                "12",
                "-f",
                "./Cargo.toml",
                "-o",
                "call/a.vcf.gz",
                "./Cargo.toml",
            ],
        ))
        .unwrap();
        assert_eq!(format!("{from_params:?}"), format!("{from_flags:?}"));
        assert_eq!(from_params.min_mapq, 7);
    }

    /// Every pipeline parameter is an option of its kind's table, with a flag.
    #[test]
    fn the_parameter_sets_stay_as_they_were() {
        let names =
            |d: &'static [OptDef]| -> Vec<&str> { options::params(d).map(|d| d.name).collect() };
        assert_eq!(names(coverage::OPTIONS).len(), 14);
        assert_eq!(
            names(sv::OPTIONS),
            [
                "tandem_repeats",
                "min_svlen",
                "min_mapq",
                "min_support",
                "mosaic"
            ]
        );
        assert_eq!(
            names(call::OPTIONS),
            ["min_mapq", "min_base_qual", "read_type"]
        );
        for d in [coverage::OPTIONS, sv::OPTIONS, call::OPTIONS] {
            assert!(options::params(d).all(|o| !o.positional && !o.long.is_empty()));
        }
    }
}
