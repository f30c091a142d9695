//! Running a pipeline: each job is a `kasane` subprocess (so a job's peak memory is its own and
//! a failure stays contained), as many at once as the thread budget allows, in dependency
//! order. A finished job leaves a record under `OUT/.kasane/jobs/`; a job whose record matches
//! (same kasane, parameters and inputs, outputs intact) is skipped, so running the same command
//! after a failure or a `kill -9` resumes the work. `run.json` is written last.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde_json::json;

use super::fingerprint;
use super::plan::{self, Job};
use super::{safe, Pipeline};
use crate::error::{Error, Result};
use crate::shard::Shard;

pub struct RunOptions {
    /// Overrides the file's output folder.
    pub out: Option<PathBuf>,
    /// Overrides `[engine] threads` (0: the file's, else all cores).
    pub threads: usize,
    pub backend: Option<String>,
    /// The `kasane` executable to run jobs with.
    pub exe: PathBuf,
    pub quiet: bool,
    /// Run shard i/N of every job, into `OUT/.kasane/shards/i-of-N/` (joined by `gather`).
    pub shard: Option<Shard>,
    /// Run only this job (`step/sample`), without run.json: for workflow engines that run
    /// each job on its own.
    pub job: Option<String>,
}

enum State {
    Waiting,
    Running,
    Done(Done),
    Failed,
}

/// What happened to one job.
pub(crate) struct Done {
    pub job: usize,
    pub started: f64,
    pub seconds: f64,
    pub peak_rss_kib: Option<u64>,
    pub skipped: bool,
    pub provenance: Option<serde_json::Value>,
    pub error: Option<String>,
    /// For a gathered job: what each shard's run recorded.
    pub shards: Vec<serde_json::Value>,
    /// A qc job: the coverage job whose files it wrote in the same reading. A coverage job:
    /// the qc job that wrote its files.
    pub fused: Option<usize>,
}

impl Done {
    /// Job `job`, started at `started` (Unix seconds), nothing more known yet.
    pub(crate) fn new(job: usize, started: f64) -> Done {
        Done {
            job,
            started,
            seconds: 0.0,
            peak_rss_kib: None,
            skipped: false,
            provenance: None,
            error: None,
            shards: Vec::new(),
            fused: None,
        }
    }

    /// Job `job` failed after `seconds`.
    fn failed(job: usize, started: f64, seconds: f64, error: String) -> Done {
        Done {
            seconds,
            error: Some(error),
            ..Done::new(job, started)
        }
    }
}

/// The most threads a job may have for its coverage and qc jobs to share one reading (measured
/// faster at 2 threads: `benches/qc/speed.sh`).
const FUSE_MAX_THREADS: usize = 2;

pub(crate) fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn usage(msg: impl Into<String>) -> Error {
    Error::Usage(msg.into())
}

/// The output folder a run uses.
/// The output folder a run uses; a file in its place is refused here, before any work.
pub fn output_dir(p: &Pipeline, out: Option<&Path>) -> Result<PathBuf> {
    let dir = match out {
        Some(o) => o.to_path_buf(),
        None if !p.output.as_os_str().is_empty() => p.output.clone(),
        None => {
            return Err(usage(format!(
                "{}: no output folder: set `output` in the file or give -o DIR",
                p.file.display()
            )))
        }
    };
    safe::check_root(&dir)?;
    Ok(dir)
}

/// Writes `text` to `path` under a temporary name, then renames it. The temporary file is
/// made afresh (a link or leftover there is removed, not followed).
pub(crate) fn write_atomic(path: &Path, text: &str) -> Result<()> {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).map_err(|e| Error::io(d, e))?;
    }
    let tmp = path.with_extension("json.kasane-tmp");
    safe::clear(&tmp)?;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(|e| Error::io(&tmp, e))?;
    std::io::Write::write_all(&mut f, text.as_bytes()).map_err(|e| Error::io(&tmp, e))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

/// [`write_atomic`] to `root/rel`, every folder between checked by [`safe::dir_under`].
pub(crate) fn write_under(root: &Path, rel: &Path, text: &str) -> Result<PathBuf> {
    let path = safe::file_under(root, rel)?;
    write_atomic(&path, text)?;
    Ok(path)
}

/// Refuses jobs whose files would land outside the output folder.
pub(crate) fn check_jobs(p: &Pipeline, jobs: &[Job]) -> Result<()> {
    match jobs.iter().find(|j| !plan::stays_under(j)) {
        Some(j) => Err(usage(format!(
            "{}: job {} writes outside the output folder",
            p.file.display(),
            j.id
        ))),
        None => Ok(()),
    }
}

/// Where shard `s` of a run into `root` keeps its outputs and job records.
pub fn shard_dir(root: &Path, s: Shard) -> PathBuf {
    root.join(".kasane").join("shards").join(s.dir_name())
}

/// The jobs a run (or gather) works on: all, or the one `only` names.
pub(crate) fn select_jobs(p: &Pipeline, only: Option<&str>) -> Result<Vec<Job>> {
    let jobs = plan::jobs(p);
    let Some(id) = only else {
        return Ok(jobs);
    };
    match jobs.iter().find(|j| j.id == id) {
        Some(j) => {
            let mut j = j.clone();
            // The workflow engine orders the jobs; alone, a job waits for nothing.
            j.after.clear();
            Ok(vec![j])
        }
        None => Err(usage(format!(
            "{}: no job {id}; the jobs are: {}",
            p.file.display(),
            jobs.iter()
                .map(|j| j.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// Runs the pipeline's jobs; returns the provenance file written (`run.json`, or `shard.json`
/// in a shard folder, or the job's record with `job`).
pub fn run(p: &Pipeline, opts: &RunOptions) -> Result<PathBuf> {
    let root = output_dir(p, opts.out.as_deref())?;
    safe::make_root(&root)?;
    let out = match opts.shard {
        Some(s) => {
            let d = shard_dir(&root, s);
            safe::dir_under(&root, d.strip_prefix(&root).unwrap_or(Path::new("")))?
        }
        None => root.clone(),
    };
    let _lock = lock(&out, opts.job.as_deref())?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = match (opts.threads, p.threads) {
        (0, 0) => cores,
        (0, t) => t,
        (t, _) => t,
    };
    let backend = opts.backend.clone().unwrap_or_else(|| p.backend.clone());
    let mut jobs = select_jobs(p, opts.job.as_deref())?;
    if let Some(s) = opts.shard {
        jobs = jobs.iter().map(|j| plan::for_shard(j, s)).collect();
    }
    // Coverage wants two threads (reading and inflating); more jobs run side by side beyond that.
    let slots = (threads / 2).clamp(1, jobs.len().max(1));
    let per_job = (threads / slots).max(1);
    // One reading for a sample's coverage and qc counts on two threads beside the reading;
    // with more threads a job, qc's own reading of contigs in parallel is the faster.
    if opts.job.is_none() && per_job <= FUSE_MAX_THREADS {
        plan::fuse(&mut jobs);
    }
    let log = |msg: &str| {
        if !opts.quiet {
            eprintln!("[kasane] {msg}");
        }
    };
    log(&format!(
        "{}{}: {} job(s), {} at a time with {} thread(s) each, backend {backend}, output {}",
        p.name,
        opts.shard
            .map(|s| format!(" shard {s}"))
            .unwrap_or_default(),
        jobs.len(),
        slots,
        per_job,
        out.display()
    ));
    check_jobs(p, &jobs)?;
    // Every input is there and a regular file before any job starts (the keys, which hash
    // the inputs, are taken as each job comes up, so the first job starts at once).
    let mut looked = std::collections::HashSet::new();
    for r in jobs.iter().flat_map(|j| &j.reads) {
        if looked.insert(r.as_path()) {
            if let Some(problem) = safe::input_problem(r) {
                return Err(usage(problem));
            }
        }
    }
    let started_all = now();
    let mut state: Vec<State> = (0..jobs.len()).map(|_| State::Waiting).collect();
    // Dependencies left per job and who waits on whom: finishing a job readies its dependents
    // without a scan of every job (which made a run quadratic in the cohort size).
    let mut left: Vec<usize> = jobs.iter().map(|j| j.after.len()).collect();
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); jobs.len()];
    for (i, j) in jobs.iter().enumerate() {
        for &a in &j.after {
            dependents[a].push(i);
        }
    }
    // Lowest index first, as file order asks.
    let mut ready: BinaryHeap<Reverse<usize>> = (0..jobs.len())
        .filter(|&i| left[i] == 0)
        .map(Reverse)
        .collect();
    let mut running = 0usize;
    // Per coverage job: the qc job that wrote its files in this run.
    let mut written_by: Vec<Option<usize>> = vec![None; jobs.len()];
    let (tx, rx) = mpsc::channel::<Done>();
    let mut failed: Option<String> = None;
    loop {
        while failed.is_none() && running < slots {
            let Some(Reverse(i)) = ready.pop() else { break };
            running += 1;
            state[i] = State::Running;
            let tx = tx.clone();
            let job = jobs[i].clone();
            let (exe, out2, backend2) = (opts.exe.clone(), out.clone(), backend.clone());
            let quiet = opts.quiet;
            let fusion = match (job.coverage_of, job.read_by) {
                (Some(c), _) => Fusion::Writes(c, Box::new(jobs[c].clone())),
                (_, Some(q)) if written_by[i] == Some(q) => Fusion::Written(jobs[q].id.clone()),
                _ => Fusion::None,
            };
            std::thread::spawn(move || {
                let d = check_or_run(i, &job, &exe, &out2, per_job, &backend2, quiet, fusion);
                let _ = tx.send(d);
            });
        }
        if running == 0 {
            break;
        }
        let Ok(d) = rx.recv() else { break };
        running -= 1;
        let id = &jobs[d.job].id;
        match &d.error {
            Some(e) => {
                log(&format!("{id}: failed: {e}"));
                failed.get_or_insert_with(|| format!("job {id} failed: {e}"));
                state[d.job] = State::Failed;
            }
            None => {
                if let (Some(c), false) = (d.fused, jobs[d.job].kind == super::StepKind::Coverage) {
                    written_by[c] = Some(d.job);
                }
                if d.skipped {
                    log(&format!("{id}: up to date, skipped"));
                } else if let (Some(q), super::StepKind::Coverage) = (d.fused, jobs[d.job].kind) {
                    log(&format!(
                        "{id}: written by {} in the same reading",
                        jobs[q].id
                    ));
                } else {
                    log(&format!(
                        "{id}: done in {:.1} s{}",
                        d.seconds,
                        d.peak_rss_kib
                            .map(|k| format!(", peak memory {:.1} MB", k as f64 / 1024.0))
                            .unwrap_or_default()
                    ));
                }
                let i = d.job;
                for &w in &dependents[i] {
                    left[w] -= 1;
                    if left[w] == 0 {
                        ready.push(Reverse(w));
                    }
                }
                state[i] = State::Done(d);
            }
        }
    }
    if let Some(f) = failed {
        return Err(usage(f));
    }
    let mut done = Vec::with_capacity(jobs.len());
    for (i, st) in state.into_iter().enumerate() {
        match st {
            State::Done(d) => done.push(d),
            _ => return Err(usage(format!("job {} could not run", jobs[i].id))),
        }
    }
    if opts.job.is_some() {
        let path = plan::state_path(&out, &jobs[0]);
        log(&format!("done: {}", path.display()));
        return Ok(path);
    }
    let run_json = provenance(p, &out, &jobs, &done, threads, &backend, started_all)?;
    let name = if opts.shard.is_some() {
        "shard.json"
    } else {
        "run.json"
    };
    let path = write_under(&out, Path::new(name), &run_json)?;
    log(&format!("done: {}", path.display()));
    Ok(path)
}

/// One run per output folder at a time: an exclusive lock on `OUT/.kasane/lock`, released
/// when the runner exits, however it exits.
pub(crate) fn lock(out: &Path, job: Option<&str>) -> Result<std::fs::File> {
    let dir = safe::dir_under(out, Path::new(".kasane"))?;
    // A job run alone locks only that job, so a workflow engine can run jobs side by side.
    let path = match job {
        Some(j) => {
            let (step, sample) = j.split_once('/').unwrap_or((j, ""));
            dir.join(format!("lock.{}", safe::job_key(step, sample)))
        }
        None => dir.join("lock"),
    };
    // A link there is not kasane's: replace it rather than open what it points to.
    if std::fs::symlink_metadata(&path).is_ok_and(|m| !m.is_file()) {
        safe::clear(&path)?;
    }
    let mut oo = std::fs::OpenOptions::new();
    oo.create(true).truncate(false).write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        oo.custom_flags(libc::O_NOFOLLOW);
    }
    let f = oo.open(&path).map_err(|e| Error::io(&path, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::io::AsRawFd;
        // A run killed a moment ago can leave a job process between fork and exec that still
        // shares the lock for a few milliseconds: wait briefly before calling the folder busy.
        let mut tries = 0;
        // SAFETY: flock on a descriptor we own.
        while unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            tries += 1;
            if tries > 40 {
                return Err(usage(format!(
                    "{}: another kasane run is using this output folder",
                    out.display()
                )));
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
    Ok(f)
}

/// How a job shares its reading of the input with another ([`plan::fuse`]).
enum Fusion {
    None,
    /// A qc job that also writes this coverage job's files.
    Writes(usize, Box<Job>),
    /// A coverage job whose files this qc job wrote in this run.
    Written(String),
}

/// A job's key, then its run unless an earlier run's record still holds; in the job's own
/// thread, so hashing the inputs of one job does not hold up the others.
#[allow(clippy::too_many_arguments)]
fn check_or_run(
    i: usize,
    job: &Job,
    exe: &Path,
    out: &Path,
    threads: usize,
    backend: &str,
    quiet: bool,
    fusion: Fusion,
) -> Done {
    let mut d = Done::new(i, now());
    let key = match plan::job_key(job, out) {
        Ok(k) => k,
        Err(e) => {
            d.error = Some(format!("{}: {e}", job.input.display()));
            return d;
        }
    };
    if plan::up_to_date(out, job, &key) {
        d.skipped = true;
        return d;
    }
    let mut extra = Vec::new();
    let mut fused = None;
    match fusion {
        Fusion::Written(by) => {
            let mut d = record_job(i, job, &key, out, now(), 0.0, None, Some(&by));
            d.fused = job.read_by;
            return d;
        }
        Fusion::Writes(c, cov) => {
            // Only a coverage job that will not be skipped: else it stays as it is.
            let up = plan::job_key(&cov, out).is_ok_and(|k| plan::up_to_date(out, &cov, &k));
            if !up {
                match prepare_prefix(out, &cov) {
                    Ok(p) => {
                        extra.push("--coverage".to_string());
                        extra.push(p.display().to_string());
                        extra.extend(cov.args.iter().map(|a| format!("--coverage-arg={a}")));
                        fused = Some(c);
                    }
                    Err(e) => {
                        d.error = Some(e.to_string());
                        return d;
                    }
                }
            }
        }
        Fusion::None => {}
    }
    if !quiet {
        eprintln!("[kasane] {}: started", job.id);
    }
    let mut d = run_job(i, job, &key, exe, out, threads, backend, &extra);
    if d.error.is_none() {
        d.fused = fused;
    }
    d
}

/// Makes (or checks) the folder of a job's output prefix under `out`, one component at a
/// time (a link planted in the output folder would send the job's files elsewhere), and
/// removes that job's leftovers from a run killed mid-job (other jobs share the folder).
fn prepare_prefix(out: &Path, job: &Job) -> Result<PathBuf> {
    let prefix = out.join(&job.prefix);
    if let Some(d) = prefix.parent() {
        let rel = d.strip_prefix(out).unwrap_or(d);
        safe::dir_under(out, rel)?;
        let mine = format!(
            "{}.",
            prefix
                .file_name()
                .map_or(String::new(), |n| n.to_string_lossy().into_owned())
        );
        if let Ok(rd) = std::fs::read_dir(d) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.starts_with(&mine) && name.ends_with(".kasane-tmp") {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
    }
    Ok(prefix)
}

#[allow(clippy::too_many_arguments)]
fn run_job(
    i: usize,
    job: &Job,
    key: &str,
    exe: &Path,
    out: &Path,
    threads: usize,
    backend: &str,
    extra: &[String],
) -> Done {
    let started = now();
    let t0 = Instant::now();
    let fail = |e: String| Done::failed(i, started, t0.elapsed().as_secs_f64(), e);
    let prefix = match prepare_prefix(out, job) {
        Ok(p) => p,
        Err(e) => return fail(e.to_string()),
    };
    let before: Vec<_> = job
        .reads
        .iter()
        .map(|r| fingerprint::stamp(r).ok())
        .collect();
    let log_rel = Path::new(".kasane")
        .join("logs")
        .join(format!("{}.log", plan::record_name(job)));
    let log_path = match safe::file_under(out, &log_rel).and_then(|p| safe::clear(&p).map(|_| p)) {
        Ok(p) => p,
        Err(e) => return fail(e.to_string()),
    };
    let log = match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&log_path)
    {
        Ok(f) => f,
        Err(e) => return fail(format!("{}: {e}", log_path.display())),
    };
    let log2 = match log.try_clone() {
        Ok(f) => f,
        Err(e) => return fail(format!("{}: {e}", log_path.display())),
    };
    let mut cmd = Command::new(exe);
    cmd.arg(job.kind.name())
        .args([
            "--threads",
            &threads.to_string(),
            "--backend",
            backend,
            "--quiet",
        ])
        .args(&job.args)
        .args(extra)
        .args(plan::tail_args(job, &prefix))
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2);
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: prctl is async-signal-safe. A job dies with the runner thread waiting for
        // it, so a killed run leaves no job writing behind the next one.
        let runner = std::process::id() as libc::pid_t;
        unsafe {
            cmd.pre_exec(move || {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                // The runner may have died before the line above: then nobody waits for us.
                if libc::getppid() != runner {
                    libc::_exit(1);
                }
                Ok(())
            });
        }
    }
    let child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return fail(format!("cannot start {}: {e}", exe.display())),
    };
    let (status, peak) = wait_with_rusage(child);
    let seconds = t0.elapsed().as_secs_f64();
    // qc exits 3 when a sample fails its checks: its outputs are complete and say why.
    let qc_failed =
        job.kind == super::StepKind::Qc && status == Some(crate::qc::EXIT_FAILED_QC as i32);
    if status != Some(0) && !qc_failed {
        let msg = std::fs::read_to_string(&log_path)
            .ok()
            .and_then(|t| {
                t.lines()
                    .rev()
                    .find(|l| !l.trim().is_empty())
                    .map(str::to_string)
            })
            .unwrap_or_else(|| format!("exit status {status:?}"));
        return fail(format!("{msg} (log: {})", log_path.display()));
    }
    for (r, b) in job.reads.iter().zip(&before) {
        if fingerprint::stamp(r).ok() != *b {
            return fail(format!(
                "{} changed while the job was reading it; its outputs cannot be trusted",
                r.display()
            ));
        }
    }
    record_job(i, job, key, out, started, seconds, peak, None)
}

/// What a job whose files are written leaves: its provenance taken into the record (and
/// later run.json), its outputs checked and hashed, its record written. `read_with`: the job
/// that wrote them in its own reading of the input.
#[allow(clippy::too_many_arguments)]
fn record_job(
    i: usize,
    job: &Job,
    key: &str,
    out: &Path,
    started: f64,
    seconds: f64,
    peak: Option<u64>,
    read_with: Option<&str>,
) -> Done {
    let prefix = out.join(&job.prefix);
    let fail = |e: String| Done::failed(i, started, seconds, e);
    // The per-job provenance file goes into run.json, so that the output folder is the same
    // whatever the backend or thread count.
    let pj = if job.kind == super::StepKind::Qc {
        prefix.join("qc.kasane.json")
    } else if job.kind == super::StepKind::Eval {
        prefix.join("eval.kasane.json")
    } else {
        PathBuf::from(format!("{}.kasane.json", prefix.display()))
    };
    let mut provenance = std::fs::read_to_string(&pj)
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok());
    if let (Some(p), Some(by)) = (provenance.as_mut(), read_with) {
        p["read_with"] = json!(by);
    }
    let _ = std::fs::remove_file(&pj);
    let mut outputs = BTreeMap::new();
    for w in &job.writes {
        match fingerprint::checksum(&out.join(w)) {
            Ok(h) => {
                outputs.insert(w.clone(), h);
            }
            Err(e) => return fail(format!("expected output {w} is missing: {e}")),
        }
    }
    let record = json!({
        "key": key,
        "outputs": outputs,
        "start_unix": started,
        "seconds": seconds,
        "peak_rss_kib": peak,
        "provenance": provenance,
    });
    if let Err(e) = write_under(out, &plan::state_rel(job), &record.to_string()) {
        return fail(e.to_string());
    }
    Done {
        seconds,
        peak_rss_kib: peak,
        provenance,
        ..Done::new(i, started)
    }
}

/// Waits for `child` and returns its exit code and peak resident memory (KiB).
fn wait_with_rusage(mut child: std::process::Child) -> (Option<i32>, Option<u64>) {
    #[cfg(unix)]
    {
        let pid = child.id() as libc::pid_t;
        let mut status: libc::c_int = 0;
        // SAFETY: rusage is plain data, and wait4 reaps exactly this child, which std does not
        // wait for afterwards.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
        if r == pid {
            let code = if libc::WIFEXITED(status) {
                Some(libc::WEXITSTATUS(status))
            } else {
                None
            };
            return (code, Some(ru.ru_maxrss as u64));
        }
    }
    let code = child.wait().ok().and_then(|s| s.code());
    (code, None)
}

pub(crate) fn provenance(
    p: &Pipeline,
    out: &Path,
    jobs: &[Job],
    done: &[Done],
    threads: usize,
    backend: &str,
    started: f64,
) -> Result<String> {
    let mut inputs = BTreeMap::new();
    for j in jobs {
        for r in &j.reads {
            let k = r.display().to_string();
            if let std::collections::btree_map::Entry::Vacant(e) = inputs.entry(k) {
                e.insert(fingerprint::input(r).map_err(|err| Error::io(r, err))?);
            }
        }
    }
    let mut job_list = Vec::new();
    let mut devices = BTreeMap::new();
    for (j, d) in jobs.iter().zip(done) {
        let mut outputs = Vec::new();
        for w in &j.writes {
            let path = out.join(w);
            let size = std::fs::metadata(&path)
                .map_err(|e| Error::io(&path, e))?
                .len();
            outputs.push(json!({
                "path": w,
                "size": size,
                "blake3": fingerprint::checksum(&path).map_err(|e| Error::io(&path, e))?,
            }));
        }
        if let Some(pv) = &d.provenance {
            if let (Some(b), Some(dev)) = (pv["backend"].as_str(), pv["device"].as_str()) {
                devices.insert(b.to_string(), dev.to_string());
            }
        }
        job_list.push(json!({
            "id": j.id,
            "step": j.step,
            "sample": j.sample,
            "kind": j.kind.name(),
            "command": std::iter::once(format!("kasane {}", j.kind.name()))
                .chain(j.args.iter().cloned())
                .chain(plan::tail_args(j, Path::new(&j.prefix)))
                .collect::<Vec<_>>()
                .join(" "),
            "status": if d.skipped { "up to date (skipped)" } else { "ran" },
            "start_unix": d.started,
            "end_unix": d.started + d.seconds,
            "seconds": d.seconds,
            "peak_rss_kib": d.peak_rss_kib,
            "backend": d.provenance.as_ref().and_then(|v| v["backend"].as_str().map(str::to_string)),
            "outputs": outputs,
        }));
        if !d.shards.is_empty() {
            if let Some(last) = job_list.last_mut() {
                last["shards"] = json!(d.shards);
            }
        }
        // A coverage job whose files a qc job wrote from its reading of the input.
        if let Some(by) = d.provenance.as_ref().and_then(|v| v["read_with"].as_str()) {
            if let Some(last) = job_list.last_mut() {
                last["read_with"] = json!(by);
            }
        }
    }
    let text = std::fs::read_to_string(&p.file).map_err(|e| Error::io(&p.file, e))?;
    let resolved = json!({
        "name": p.name,
        "reference": p.reference.as_ref().map(|r| r.display().to_string()),
        "regions": p.regions.as_ref().map(|r| r.display().to_string()),
        "output": out.display().to_string(),
        "engine": { "backend": backend, "threads": threads },
        "samples": p.samples.iter().map(|s| json!({
            "id": s.id, "path": s.path.display().to_string(), "meta": s.meta,
        })).collect::<Vec<_>>(),
        "steps": p.steps.iter().map(|s| json!({
            "id": s.id,
            "kind": s.kind.name(),
            "depends_on": s.depends_on,
            "params": s.params.iter().map(|(k, v)| (k.clone(), match v {
                super::Param::Bool(b) => json!(b),
                super::Param::Int(n) => json!(n),
                super::Param::Str(s) => json!(s),
                super::Param::List(l) => json!(l),
            })).collect::<serde_json::Map<_, _>>(),
        })).collect::<Vec<_>>(),
    });
    let v = json!({
        "kasane_version": crate::VERSION,
        "build": {
            "target": format!("{}-{}", std::env::consts::ARCH, std::env::consts::OS),
            "profile": if cfg!(debug_assertions) { "debug" } else { "release" },
        },
        "pipeline": {
            "path": p.file.display().to_string(),
            "blake3": blake3::hash(text.as_bytes()).to_hex().to_string(),
            "text": text,
        },
        "resolved": resolved,
        "backend": backend,
        "devices": devices,
        "start_unix": started,
        "end_unix": now(),
        "inputs": inputs.into_values().collect::<Vec<_>>(),
        "jobs": job_list,
    });
    let mut s = serde_json::to_string_pretty(&v).unwrap_or_default();
    s.push('\n');
    Ok(s)
}
