//! Hostile pipeline files and output folders (issue 14): ids that would escape the output
//! folder or inject code into an exported Snakefile, links planted in the output folder,
//! colliding job records, inputs that would hang a reader, an output folder that is a file, and
//! cohort-sized planning.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{kasane, ok, repo, snakemake_available};

fn bam() -> String {
    repo().join("testdata/sample.bam").display().to_string()
}

fn reference() -> String {
    repo().join("testdata/ref.fa").display().to_string()
}

/// A TOML basic string (the ids and paths below hold quotes, braces and newlines).
fn toml_str(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// A pipeline file in `dir`: samples (id, path) and coverage steps (id, depends_on).
fn pipeline(dir: &Path, samples: &[(&str, &str)], steps: &[(&str, &[&str])]) -> PathBuf {
    let mut t = format!(
        "name = \"p\"\noutput = \"out\"\nreference = {}\n",
        toml_str(&reference())
    );
    for (id, path) in samples {
        t.push_str(&format!(
            "[[samples]]\nid = {}\npath = {}\n",
            toml_str(id),
            toml_str(path)
        ));
    }
    for (id, deps) in steps {
        t.push_str(&format!(
            "[[steps]]\nid = {}\nkind = \"coverage\"\n",
            toml_str(id)
        ));
        if !deps.is_empty() {
            let d: Vec<String> = deps.iter().map(|d| toml_str(d)).collect();
            t.push_str(&format!("depends_on = [{}]\n", d.join(", ")));
        }
        t.push_str("[steps.params]\nno_per_base = true\n");
    }
    let f = dir.join("p.toml");
    std::fs::write(&f, t).unwrap();
    f
}

/// Runs kasane; a run past `secs` is killed and fails the test (the hangs of issue 14).
fn kasane_within(args: &[&str], secs: u64) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kasane"))
        .current_dir(repo())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if t0.elapsed() > Duration::from_secs(secs) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{args:?} hung (killed after {secs} s)");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs kasane, which must fail with one line of error; returns it.
fn fails(args: &[&str]) -> String {
    let o = kasane_within(args, 60);
    let e = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(1), "{args:?}: {e}");
    assert!(!e.contains("panicked"), "{e}");
    e
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn tree(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            out.push(e.path());
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            }
        }
    }
    out.sort();
    out
}

// --- Step ids that escape the output folder ---

#[test]
fn step_id_with_dotdot_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    for id in ["../../X", "/tmp/abs", "..", "", ".", ".kasane", "a\nb"] {
        let f = pipeline(tmp.path(), &[("s1", &bam())], &[(id, &[])]);
        for cmd in ["validate", "plan", "run"] {
            let e = fails(&[cmd, s(&f)]);
            assert!(e.contains("cannot name a file"), "{id:?} {cmd}: {e}");
        }
    }
    assert_eq!(tree(tmp.path()), vec![tmp.path().join("p.toml")]);
}

#[test]
fn runner_refuses_a_job_writing_outside_the_folder() {
    // Built past the file checks (a library caller can): the runner still refuses.
    let tmp = tempfile::tempdir().unwrap();
    let f = pipeline(tmp.path(), &[("s1", &bam())], &[("cov", &[])]);
    let mut p = kasane::pipeline::parse::load(&f).unwrap();
    p.steps[0].id = "../escaped".into();
    let opts = kasane::pipeline::run::RunOptions {
        out: Some(tmp.path().join("out")),
        threads: 1,
        backend: Some("cpu".into()),
        exe: PathBuf::from(env!("CARGO_BIN_EXE_kasane")),
        quiet: true,
        shard: None,
        job: None,
    };
    let e = kasane::pipeline::run::run(&p, &opts)
        .unwrap_err()
        .to_string();
    assert!(e.contains("writes outside the output folder"), "{e}");
    assert!(!tmp.path().join("escaped").exists());
}

#[test]
fn verify_does_not_follow_run_json_outside_the_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let f = pipeline(tmp.path(), &[("s1", &bam())], &[("cov", &[])]);
    let out = tmp.path().join("out");
    ok(&["run", "--quiet", s(&f)]);
    // A file outside, and a run.json edited to claim it, with its true checksum.
    let outside = tmp.path().join("secret.txt");
    std::fs::write(&outside, "x").unwrap();
    let rj = out.join("run.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&rj).unwrap()).unwrap();
    let sum = blake3::hash(b"x").to_hex().to_string();
    for path in ["../secret.txt", s(&outside)] {
        v["jobs"][0]["outputs"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({"path": path, "size": 1, "blake3": sum}));
    }
    std::fs::write(&rj, serde_json::to_string(&v).unwrap()).unwrap();
    let o = kasane(&["verify", s(&out)]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(!o.status.success(), "{text}");
    assert_eq!(
        text.matches("not a path inside the folder").count(),
        2,
        "{text}"
    );
}

// --- Links inside the output folder ---

#[test]
fn symlinked_step_folder_in_output_is_refused() {
    for inside in ["cov", ".kasane", ".kasane/jobs", ".kasane/logs"] {
        let tmp = tempfile::tempdir().unwrap();
        let f = pipeline(tmp.path(), &[("s1", &bam())], &[("cov", &[])]);
        let out = tmp.path().join("out");
        let elsewhere = tmp.path().join("elsewhere");
        std::fs::create_dir_all(&elsewhere).unwrap();
        let link = out.join(inside);
        std::fs::create_dir_all(link.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(&elsewhere, &link).unwrap();
        let e = fails(&["run", "--quiet", s(&f)]);
        assert!(e.contains("symbolic link"), "{inside}: {e}");
        assert!(
            tree(&elsewhere).is_empty(),
            "{inside}: {:?}",
            tree(&elsewhere)
        );
    }
}

#[test]
fn symlinked_record_or_log_is_replaced_not_followed() {
    let tmp = tempfile::tempdir().unwrap();
    let f = pipeline(tmp.path(), &[("s1", &bam())], &[("cov", &[])]);
    let out = tmp.path().join("out");
    let victim = tmp.path().join("victim.txt");
    std::fs::write(&victim, "keep").unwrap();
    for rel in [
        ".kasane/logs/cov__s1.log",
        ".kasane/jobs/cov__s1.json.kasane-tmp",
        ".kasane/lock",
        "run.json.kasane-tmp",
    ] {
        let l = out.join(rel);
        std::fs::create_dir_all(l.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(&victim, &l).unwrap();
    }
    ok(&["run", "--quiet", s(&f)]);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
    assert!(ok(&["verify", s(&out)]).contains(": ok,"));
}

// --- Job records that collide ---

#[test]
#[allow(non_snake_case)] // named after the case: ids `a` and `a__b`
fn job_records_of_a_and_a__b_do_not_collide() {
    let tmp = tempfile::tempdir().unwrap();
    let b = bam();
    let f = pipeline(
        tmp.path(),
        &[("s1", &b), ("b__s1", &b)],
        &[("a", &[]), ("a__b", &[])],
    );
    let out = tmp.path().join("out");
    ok(&["run", "--quiet", s(&f)]);
    let records = std::fs::read_dir(out.join(".kasane/jobs")).unwrap().count();
    assert_eq!(records, 4);
    // Every job finds its own record: a second run skips all four.
    ok(&["run", "--quiet", s(&f)]);
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap();
    let st: Vec<&str> = v["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["status"].as_str().unwrap())
        .collect();
    assert_eq!(st, ["up to date (skipped)"; 4], "{st:?}");
    // And the exported workflow has a gather rule per job.
    let wf = tmp.path().join("wf");
    ok(&["export", "snakemake", s(&f), "-o", s(&wf), "--shards", "1"]);
    let sf = std::fs::read_to_string(wf.join("Snakefile")).unwrap();
    let mut rules: Vec<&str> = sf
        .lines()
        .filter(|l| l.starts_with("rule gather_"))
        .collect();
    assert_eq!(rules.len(), 4, "{rules:?}");
    rules.sort();
    rules.dedup();
    assert_eq!(rules.len(), 4, "{rules:?}");
}

// --- Inputs that hang a reader ---

fn mkfifo(p: &Path) {
    let st = Command::new("mkfifo").arg(p).status().unwrap();
    assert!(st.success());
}

#[test]
fn fifo_as_sample_path_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let fifo = tmp.path().join("s.bam");
    mkfifo(&fifo);
    let f = pipeline(tmp.path(), &[("s1", s(&fifo))], &[("cov", &[])]);
    for cmd in ["validate", "plan", "run"] {
        let e = fails(&[cmd, s(&f)]);
        assert!(e.contains("is a FIFO, not a regular file"), "{cmd}: {e}");
    }
    let e = fails(&[
        "export",
        "snakemake",
        s(&f),
        "-o",
        s(&tmp.path().join("wf")),
    ]);
    assert!(e.contains("a FIFO"), "{e}");
}

#[test]
fn dev_zero_or_a_folder_as_sample_path_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    for (path, what) in [("/dev/zero", "a character device"), ("/tmp", "a folder")] {
        let f = pipeline(tmp.path(), &[("s1", path)], &[("cov", &[])]);
        for cmd in ["validate", "plan"] {
            let e = fails(&[cmd, s(&f)]);
            assert!(e.contains(&format!("is {what}, not a regular file")), "{e}");
        }
    }
}

#[test]
fn fifo_as_reference_regions_or_sheet_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let fifo = tmp.path().join("fifo");
    mkfifo(&fifo);
    let q = toml_str(s(&fifo));
    let base = "output = \"out\"\n[[steps]]\nid = \"c\"\nkind = \"coverage\"\n";
    let sample = format!("[[samples]]\nid = \"s\"\npath = {}\n", toml_str(&bam()));
    for head in [
        format!("reference = {q}\n{sample}"),
        format!("regions = {q}\n{sample}"),
        format!("sample_sheet = {q}\n"),
    ] {
        let f = tmp.path().join("p.toml");
        std::fs::write(&f, format!("{head}{base}")).unwrap();
        let e = fails(&["validate", s(&f)]);
        assert!(e.contains("is a FIFO, not a regular file"), "{head}: {e}");
    }
    // The pipeline file itself.
    let e = fails(&["validate", s(&fifo)]);
    assert!(e.contains("is a FIFO"), "{e}");
}

#[test]
fn symlink_loop_as_sample_path_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a.bam");
    let b = tmp.path().join("b.bam");
    std::os::unix::fs::symlink(&b, &a).unwrap();
    std::os::unix::fs::symlink(&a, &b).unwrap();
    let f = pipeline(tmp.path(), &[("s1", s(&a))], &[("cov", &[])]);
    let e = fails(&["validate", s(&f)]);
    assert!(e.contains("too many levels of symbolic links"), "{e}");
    assert!(!e.contains("does not exist"), "{e}");
}

// --- An output folder that is a file ---

#[test]
fn output_folder_that_is_a_file_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let f = pipeline(tmp.path(), &[("s1", &bam())], &[("cov", &[])]);
    let out = tmp.path().join("out");
    std::fs::write(&out, "a file").unwrap();
    let wf = tmp.path().join("wf");
    let want = format!(
        "{}: exists and is a regular file, not a folder",
        out.display()
    );
    for args in [
        vec!["run", s(&f)],
        vec!["plan", s(&f)],
        vec!["gather", s(&f)],
        vec!["export", "snakemake", s(&f), "-o", s(&wf)],
        vec![
            "export",
            "snakemake",
            s(&f),
            "-o",
            s(&wf),
            "--results",
            s(&out),
        ],
    ] {
        let e = fails(&args);
        assert!(e.contains(&want), "{args:?}: {e}");
        assert_eq!(e.lines().count(), 1, "{e}");
    }
    assert!(!wf.exists(), "export wrote nothing");
    // An export folder that is a file.
    std::fs::write(&wf, "a file").unwrap();
    let res = tmp.path().join("res");
    let e = fails(&[
        "export",
        "snakemake",
        s(&f),
        "-o",
        s(&wf),
        "--results",
        s(&res),
    ]);
    assert!(
        e.contains(&format!(
            "{}: exists and is a regular file, not a folder",
            wf.display()
        )),
        "{e}"
    );
    assert_eq!(std::fs::read_to_string(&wf).unwrap(), "a file");
}

// --- Code injection through the exported Snakefile ---

const INJECT: &str = "c{__import__('os').system('touch INJECTED')}";

#[test]
fn hostile_ids_in_snakemake_export_execute_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    // Paths with quotes, braces and a newline; ids with code in braces and quotes.
    let data = tmp.path().join("da\"ta {x-y} '\nz");
    std::fs::create_dir_all(&data).unwrap();
    let sample = data.join("s.bam");
    std::fs::copy(repo().join("testdata/sample.bam"), &sample).unwrap();
    let f = pipeline(
        tmp.path(),
        &[(INJECT, s(&sample)), ("q\"uote'", s(&sample))],
        &[(INJECT, &[]), ("d\"e", &[INJECT])],
    );
    let wf = tmp.path().join("wf");
    let res = tmp.path().join("re\"s {a-b}\nults");
    ok(&[
        "export",
        "snakemake",
        s(&f),
        "-o",
        s(&wf),
        "--results",
        s(&res),
        "--shards",
        "2",
    ]);
    let sf = std::fs::read_to_string(wf.join("Snakefile")).unwrap();
    // The ids appear only inside string literals, escaped.
    assert!(!sf.contains("q\"uote"), "an unescaped quote");
    for line in sf.lines() {
        if line.contains("__import__") {
            assert!(!line.contains("f\""), "an id in an f-string: {line}");
        }
    }
    let cfg = std::fs::read_to_string(wf.join("config.yaml")).unwrap();
    assert!(cfg.contains("output: \""), "{cfg}");
    assert_eq!(cfg.lines().filter(|l| l.starts_with("output:")).count(), 1);
    let prof = std::fs::read_to_string(wf.join("profiles/slurm/config.yaml")).unwrap();
    assert!(prof
        .lines()
        .all(|l| l.starts_with('#') || !l.contains("Snakefile")));
    if !snakemake_available() {
        return;
    }
    let o = Command::new("snakemake")
        .current_dir(tmp.path())
        .args(["-n", "-s", s(&wf.join("Snakefile")), "--cores", "1"])
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&o.stderr).into_owned() + &String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "snakemake -n failed:\n{log}");
    assert!(log.contains("gather_"), "{log}");
    assert!(!tmp.path().join("INJECTED").exists(), "code ran");
    assert!(!repo().join("INJECTED").exists(), "code ran");
}

#[test]
fn export_refuses_a_path_snakemake_reads_as_a_wildcard() {
    let tmp = tempfile::tempdir().unwrap();
    let f = pipeline(tmp.path(), &[("s{x}", &bam())], &[("cov", &[])]);
    let wf = tmp.path().join("wf");
    let e = fails(&["export", "snakemake", s(&f), "-o", s(&wf)]);
    assert!(e.contains("Snakemake reads as a wildcard"), "{e}");
    assert!(!wf.exists());
}

// --- Cohort-sized planning ---

/// 60,000 samples x 2 steps: each job of the second step waits for its sample's first job
/// only. (Before the fix the planner scanned every earlier job per job: 7.2e9 comparisons.)
#[test]
fn planning_a_cohort_links_each_job_to_its_own_dependency() {
    let tmp = tempfile::tempdir().unwrap();
    let n = 60_000;
    let mut sheet = String::from("id\tpath\n");
    for i in 0..n {
        sheet.push_str(&format!("s{i}\t{}\n", bam()));
    }
    std::fs::write(tmp.path().join("sheet.tsv"), sheet).unwrap();
    let f = tmp.path().join("p.toml");
    std::fs::write(
        &f,
        "output = \"out\"\nsample_sheet = \"sheet.tsv\"\n\
         [[steps]]\nid = \"a\"\nkind = \"coverage\"\n\
         [[steps]]\nid = \"b\"\nkind = \"coverage\"\ndepends_on = [\"a\"]\n",
    )
    .unwrap();
    let p = kasane::pipeline::parse::load(&f).unwrap();
    let jobs = kasane::pipeline::plan::jobs(&p);
    assert_eq!(jobs.len(), 2 * n);
    for (i, j) in jobs.iter().enumerate() {
        if i < n {
            assert!(j.after.is_empty());
        } else {
            assert_eq!(j.after, [i - n]);
            assert_eq!(jobs[i - n].sample, j.sample);
        }
    }
}
