//! From a checked pipeline to jobs: one per sample and step, in dependency order, each with
//! the `kasane` command it runs, what it reads and writes, and whether an earlier run already
//! finished it (same kasane, parameters and inputs; outputs intact).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::json;

use super::{fingerprint, safe};
use super::{Param, Pipeline, StepKind};

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
    /// Output files, relative to the output folder.
    pub writes: Vec<String>,
    /// Jobs (indexes) that must finish first.
    pub after: Vec<usize>,
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
    let vcf_index = vcf_index(p.reference.as_deref());
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
            let mut reads = vec![sample.path.clone()];
            let flag = |name: &str| format!("--{}", name.replace('_', "-"));
            for (name, v) in &step.params {
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
                        if (name == "by" && s.parse::<u64>().is_err()) || name == "tandem_repeats" {
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
                StepKind::Coverage => coverage_outputs(&prefix, step),
                StepKind::Sv | StepKind::Call => vcf_outputs(&prefix, vcf_index),
            };
            let after = deps.iter().map(|&d| d * n + k).collect();
            out.push(Job {
                id: prefix.clone(),
                step: step.id.clone(),
                sample: sample.id.clone(),
                kind: step.kind,
                args,
                prefix,
                input: sample.path.clone(),
                reads,
                writes,
                after,
            });
        }
    }
    out
}

/// The index a VCF gets: `.tbi`, or `.csi` when the reference has a contig of 2^29 bp or more
/// (as the writer chooses).
fn vcf_index(reference: Option<&Path>) -> &'static str {
    let long = reference
        .map(|r| PathBuf::from(format!("{}.fai", r.display())))
        // Only a regular file: a FIFO there would hang planning.
        .filter(|fai| fai.is_file())
        .and_then(|fai| std::fs::read_to_string(fai).ok())
        .is_some_and(|fai| {
            fai.lines().any(|l| {
                l.split('\t')
                    .nth(1)
                    .and_then(|n| n.parse::<u64>().ok())
                    .is_some_and(|n| n >= 1 << 29)
            })
        });
    if long {
        "csi"
    } else {
        "tbi"
    }
}

/// A VCF and its index.
fn vcf_outputs(prefix: &str, index: &str) -> Vec<String> {
    vec![
        format!("{prefix}.vcf.gz"),
        format!("{prefix}.vcf.gz.{index}"),
    ]
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
            format!("{}.vcf.gz", prefix.display()),
            job.input.display().to_string(),
        ],
    }
}

fn coverage_outputs(prefix: &str, step: &super::Step) -> Vec<String> {
    let on = |k: &str| match step.params.get(k) {
        Some(Param::Bool(b)) => *b,
        Some(_) => true,
        None => false,
    };
    let mut w = vec![
        format!("{prefix}.mosdepth.global.dist.txt"),
        format!("{prefix}.mosdepth.summary.txt"),
    ];
    let mut bed = |name: &str| {
        w.push(format!("{prefix}.{name}.bed.gz"));
        w.push(format!("{prefix}.{name}.bed.gz.csi"));
    };
    if !on("no_per_base") {
        bed("per-base");
    }
    if on("by") {
        bed("regions");
    }
    if on("quantize") {
        bed("quantized");
    }
    if on("thresholds") {
        bed("thresholds");
    }
    if on("by") {
        w.push(format!("{prefix}.mosdepth.region.dist.txt"));
    }
    w.sort();
    w
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
    j.writes.sort();
    j
}

/// The key that says whether a job's earlier result still holds: kasane's version, the
/// command, and the fingerprints of what it reads.
pub fn job_key(job: &Job) -> std::io::Result<String> {
    let inputs: Vec<serde_json::Value> = job
        .reads
        .iter()
        .map(|p| fingerprint::input(p))
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
