//! `kasane gather FILE`: joins the shards that `kasane run FILE --shard i/N` left under
//! `OUT/.kasane/shards/` into the files an unsharded run writes, byte for byte, and records each
//! gathered job as an unsharded run would, so a later `kasane run FILE` finds it up to date.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::json;

use super::fingerprint;
use super::plan::{self, Job};
use super::run::{self, Done};
use super::{safe, Pipeline};
use crate::error::{Error, Result};
use crate::shard::Shard;

pub struct GatherOptions {
    /// Overrides the file's output folder.
    pub out: Option<PathBuf>,
    /// Gather only this job (`step/sample`), without run.json.
    pub job: Option<String>,
    pub quiet: bool,
}

fn usage(msg: impl Into<String>) -> Error {
    Error::Usage(msg.into())
}

/// The shard count of the shards under `root`: every `i-of-N` folder must agree on N.
pub fn shard_count(root: &Path) -> Result<usize> {
    let dir = root.join(".kasane").join("shards");
    // Shards are read from folders kasane made, not through a link planted there.
    if !safe::no_links_under(root, Path::new(".kasane/shards")) && dir.exists() {
        return Err(usage(format!(
            "{}: a symbolic link inside the output folder, which kasane did not make",
            dir.display()
        )));
    }
    let rd = std::fs::read_dir(&dir).map_err(|_| {
        usage(format!(
            "{}: no shards to gather: run `kasane run FILE --shard i/N` for each i first",
            dir.display()
        ))
    })?;
    let mut counts: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some((i, n)) = name.split_once("-of-") {
            if let (Ok(i), Ok(n)) = (i.parse::<usize>(), n.parse::<usize>()) {
                counts.entry(n).or_default().push(i);
            }
        }
    }
    match counts.len() {
        0 => Err(usage(format!(
            "{}: no shard folders (i-of-N)",
            dir.display()
        ))),
        1 => {
            let (n, mut have) = counts.into_iter().next().unwrap_or_default();
            have.sort_unstable();
            let missing: Vec<String> = (1..=n)
                .filter(|i| have.binary_search(i).is_err())
                .map(|i| format!("{i}/{n}"))
                .collect();
            if missing.is_empty() {
                Ok(n)
            } else {
                Err(usage(format!(
                    "{}: shard(s) {} have not run",
                    dir.display(),
                    missing.join(", ")
                )))
            }
        }
        _ => Err(usage(format!(
            "{}: shards of different counts ({}): remove the stale ones",
            dir.display(),
            counts
                .keys()
                .map(|n| format!("of {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// A shard job's record, if that shard finished it with the same key and intact outputs.
fn shard_record(dir: &Path, job: &Job) -> Result<Option<serde_json::Value>> {
    let key = plan::job_key(job, dir).map_err(|e| Error::io(&job.input, e))?;
    if !plan::up_to_date(dir, job, &key) {
        return Ok(None);
    }
    let path = plan::state_path(dir, job);
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    Ok(serde_json::from_str(&text).ok())
}

/// Gathers every job (or the one `opts.job` names); returns the provenance file written.
pub fn gather(p: &Pipeline, opts: &GatherOptions) -> Result<PathBuf> {
    let root = run::output_dir(p, opts.out.as_deref())?;
    let n = shard_count(&root)?;
    for k in 1..=n {
        let rel = Path::new(".kasane/shards").join(Shard { index: k, count: n }.dir_name());
        if !safe::no_links_under(&root, &rel) {
            return Err(usage(format!(
                "{}: a symbolic link inside the output folder, which kasane did not make",
                root.join(rel).display()
            )));
        }
    }
    let _lock = run::lock(&root, opts.job.as_deref())?;
    let log = |msg: &str| {
        if !opts.quiet {
            eprintln!("[kasane] {msg}");
        }
    };
    let jobs: Vec<Job> = run::select_jobs(p, opts.job.as_deref())?;
    run::check_jobs(p, &jobs)?;
    log(&format!(
        "{}: gathering {} job(s) from {n} shard(s) into {}",
        p.name,
        jobs.len(),
        root.display()
    ));
    let started_all = run::now();
    let mut done = Vec::with_capacity(jobs.len());
    for (i, job) in jobs.iter().enumerate() {
        let key = plan::job_key(job, &root).map_err(|e| Error::io(&job.input, e))?;
        if plan::up_to_date(&root, job, &key) {
            log(&format!("{}: up to date, skipped", job.id));
            // Keep what the gather that made it recorded.
            let rec: serde_json::Value = std::fs::read_to_string(plan::state_path(&root, job))
                .ok()
                .and_then(|t| serde_json::from_str(&t).ok())
                .unwrap_or_default();
            done.push(Done {
                skipped: true,
                provenance: rec.get("provenance").cloned(),
                shards: rec["shards"].as_array().cloned().unwrap_or_default(),
                ..Done::new(i, run::now())
            });
            continue;
        }
        let t0 = Instant::now();
        let started = run::now();
        let mut parts = Vec::with_capacity(n);
        let mut shard_info = Vec::with_capacity(n);
        for k in 1..=n {
            let s = Shard { index: k, count: n };
            let dir = run::shard_dir(&root, s);
            let sj = plan::for_shard(job, s);
            let Some(rec) = shard_record(&dir, &sj)? else {
                return Err(usage(format!(
                    "job {}: shard {s} has not finished, or its inputs or kasane changed since: \
                     run `kasane run {} --shard {s}`",
                    job.id,
                    p.file.display()
                )));
            };
            parts.push(dir.join(&job.prefix).display().to_string());
            shard_info.push(json!({
                "shard": s.to_string(),
                "start_unix": rec["start_unix"],
                "seconds": rec["seconds"],
                "peak_rss_kib": rec["peak_rss_kib"],
                "backend": rec["provenance"]["backend"],
                "device": rec["provenance"]["device"],
            }));
        }
        let prefix = root.join(&job.prefix);
        if let Some(d) = Path::new(&job.prefix).parent() {
            safe::dir_under(&root, d)?;
        }
        // qc and eval: the options as the job ran them, outputs into the unsharded folder.
        let job_args = || {
            let mut a = job.args.clone();
            a.extend(plan::tail_args(job, &prefix));
            a
        };
        let dirs: Vec<PathBuf> = parts.iter().map(PathBuf::from).collect();
        match job.kind {
            super::StepKind::Coverage => {
                crate::coverage::shards::gather(&parts, &prefix.display().to_string())?;
            }
            super::StepKind::Qc => {
                let mut o = crate::options::qc::from_args(&job_args())?;
                o.shard = None;
                crate::qc::gather(&o, &dirs)?;
                // The job's provenance is its gather record (as for the other kinds).
                let _ = std::fs::remove_file(prefix.join("qc.kasane.json"));
            }
            super::StepKind::Eval => {
                let mut o = crate::options::eval::from_args(&job_args())?;
                o.shard = None;
                let progress = crate::progress::Progress::new(true);
                crate::eval::shards::gather(&o, &dirs, &progress)?;
                let _ = std::fs::remove_file(prefix.join("eval.kasane.json"));
            }
            super::StepKind::Sv | super::StepKind::Call => {
                let vcfs: Vec<PathBuf> = parts
                    .iter()
                    .map(|p| PathBuf::from(format!("{p}.vcf.gz")))
                    .collect();
                crate::io::vcf::concat_shards(
                    &vcfs,
                    &PathBuf::from(format!("{}.vcf.gz", prefix.display())),
                )?;
            }
        }
        let mut outputs = BTreeMap::new();
        for w in &job.writes {
            let path = root.join(w);
            outputs.insert(
                w.clone(),
                fingerprint::checksum(&path).map_err(|e| Error::io(&path, e))?,
            );
        }
        let seconds = t0.elapsed().as_secs_f64();
        // The first shard's backend and device stand for the job's (all shards' are listed).
        let provenance = Some(json!({
            "backend": shard_info[0]["backend"],
            "device": shard_info[0]["device"],
        }));
        let record = json!({
            "key": key,
            "outputs": outputs,
            "start_unix": started,
            "seconds": seconds,
            "peak_rss_kib": null,
            "provenance": provenance,
            "shards": shard_info,
        });
        run::write_under(&root, &plan::state_rel(job), &record.to_string())?;
        log(&format!("{}: gathered in {seconds:.1} s", job.id));
        done.push(Done {
            seconds,
            provenance,
            shards: shard_info,
            ..Done::new(i, started)
        });
    }
    if opts.job.is_some() {
        return Ok(plan::state_path(&root, &jobs[0]));
    }
    let backend = p.backend.clone();
    let text = run::provenance(p, &root, &jobs, &done, p.threads, &backend, started_all)?;
    let path = run::write_under(&root, Path::new("run.json"), &text)?;
    log(&format!("done: {}", path.display()));
    Ok(path)
}
