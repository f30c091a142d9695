//! Pipeline files: validate, plan, run, resume, verify, schema, on `pipelines/` and `testdata/`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn kasane(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kasane"))
        .current_dir(repo())
        .args(args)
        .output()
        .unwrap()
}

fn ok(args: &[&str]) -> String {
    let o = kasane(args);
    assert!(
        o.status.success(),
        "{args:?} failed:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn run_json(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("run.json")).unwrap()).unwrap()
}

fn statuses(dir: &Path) -> Vec<String> {
    run_json(dir)["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["status"].as_str().unwrap().to_string())
        .collect()
}

/// Every file under `dir` except run.json and the state folder, with its bytes.
fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            let rel = p.strip_prefix(dir).unwrap().to_path_buf();
            if rel.starts_with(".kasane") || rel == Path::new("run.json") {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((rel, std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn every_example_validates_runs_and_verifies() {
    let mut n = 0;
    for e in std::fs::read_dir(repo().join("pipelines"))
        .unwrap()
        .flatten()
    {
        let p = e.path();
        if p.extension().is_none_or(|x| x != "toml") {
            continue;
        }
        n += 1;
        let f = p.to_string_lossy().into_owned();
        assert!(ok(&["validate", &f]).contains(": ok ("));
        let plan = ok(&["plan", &f, "-o", "/nonexistent-kasane-plan"]);
        assert!(plan.contains("[will run]"), "{plan}");
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        let o = out.to_string_lossy().into_owned();
        ok(&["run", "--quiet", &f, "-o", &o]);
        assert!(statuses(&out).iter().all(|s| s == "ran"));
        assert!(ok(&["verify", &o]).contains(": ok,"));
        // Each job's files are what `kasane coverage` writes with the same options.
        let v = run_json(&out);
        let job = &v["jobs"][0];
        let cmd: Vec<String> = job["command"]
            .as_str()
            .unwrap()
            .split(' ')
            .map(str::to_string)
            .collect();
        let direct = tmp.path().join("direct");
        let mut args: Vec<String> = cmd[1..cmd.len() - 2].to_vec();
        args.push(direct.to_string_lossy().into_owned());
        args.push(cmd[cmd.len() - 1].clone());
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        ok(&a);
        for o in job["outputs"].as_array().unwrap() {
            let rel = o["path"].as_str().unwrap();
            let suffix = &rel[rel.find('.').unwrap()..];
            let mine = std::fs::read(out.join(rel)).unwrap();
            let theirs = std::fs::read(format!("{}{suffix}", direct.display())).unwrap();
            assert!(mine == theirs, "{f}: {rel} differs from a direct run");
        }
    }
    assert!(n >= 3, "only {n} example pipelines");
}

#[test]
fn a_second_run_skips_finished_jobs_and_redoes_damaged_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let o = out.to_string_lossy().into_owned();
    let f = "pipelines/cohort.toml";
    ok(&["run", "--quiet", f, "-o", &o]);
    let first = files(&out);
    ok(&["run", "--quiet", f, "-o", &o]);
    assert!(
        statuses(&out).iter().all(|s| s.contains("skipped")),
        "{:?}",
        statuses(&out)
    );
    assert!(
        ok(&["plan", f, "-o", &o])
            .matches("up to date: skipped")
            .count()
            == 3
    );
    // A damaged output: verify says so, and the next run redoes that job only.
    let victim = out.join("depth/mother.mosdepth.summary.txt");
    std::fs::write(&victim, "damaged\n").unwrap();
    let v = kasane(&["verify", &o]);
    assert!(!v.status.success());
    assert!(String::from_utf8_lossy(&v.stdout).contains("mother.mosdepth.summary.txt: changed"));
    ok(&["run", "--quiet", f, "-o", &o]);
    let st = statuses(&out);
    assert_eq!(st.iter().filter(|s| *s == "ran").count(), 1, "{st:?}");
    assert_eq!(files(&out), first);
    // A stray file is not what the run wrote.
    std::fs::write(out.join("depth/extra.txt"), "x").unwrap();
    let v = kasane(&["verify", &o]);
    assert!(!v.status.success());
    assert!(String::from_utf8_lossy(&v.stdout).contains("extra.txt: not written by the run"));
}

/// A run killed with SIGKILL at an arbitrary moment is finished by running it again, and the
/// result is the same as an uninterrupted run.
#[test]
fn a_killed_run_resumes_to_the_same_result() {
    let tmp = tempfile::tempdir().unwrap();
    let clean = tmp.path().join("clean");
    let f = "pipelines/cohort.toml";
    ok(&["run", "--quiet", f, "-o", &clean.to_string_lossy()]);
    for delay_ms in [5u64, 40, 120] {
        let out = tmp.path().join(format!("killed{delay_ms}"));
        let o = out.to_string_lossy().into_owned();
        let mut child = Command::new(env!("CARGO_BIN_EXE_kasane"))
            .current_dir(repo())
            .args(["run", "--quiet", f, "-o", &o])
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        ok(&["run", "--quiet", f, "-o", &o]);
        assert!(ok(&["verify", &o]).contains(": ok,"));
        assert_eq!(files(&out), files(&clean), "killed after {delay_ms} ms");
    }
}

#[test]
fn outputs_are_identical_across_threads_and_backends() {
    let tmp = tempfile::tempdir().unwrap();
    let f = "pipelines/short-read-qc.toml";
    let mut runs = vec![
        vec!["-t", "1", "--backend", "cpu"],
        vec!["-t", "4", "--backend", "cpu"],
    ];
    if kasane::backend::wgpu::probe().is_ok() {
        runs.push(vec!["-t", "2", "--backend", "wgpu"]);
    }
    let mut results = Vec::new();
    for (i, extra) in runs.iter().enumerate() {
        let out = tmp.path().join(format!("r{i}"));
        let o = out.to_string_lossy().into_owned();
        let mut args = vec!["run", "--quiet", f, "-o", &o];
        args.extend(extra.iter().copied());
        ok(&args);
        results.push(files(&out));
    }
    assert!(results[0].len() >= 10);
    for r in &results[1..] {
        assert_eq!(r, &results[0]);
    }
}

#[test]
fn a_malformed_file_lists_every_problem_and_runs_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("bad.toml");
    std::fs::write(
        &f,
        "outptu = \"o\"\n[[samples]]\nid = \"a\"\npath = \"nope.bam\"\n[[steps]]\nid = \"s\"\nkind = \"covrage\"\n[[steps]]\nid = \"t\"\nkind = \"coverage\"\ndepends_on = [\"u\"]\n[steps.params]\nmapq = \"x\"\n",
    )
    .unwrap();
    let fs = f.to_string_lossy().into_owned();
    for cmd in ["validate", "run"] {
        let o = kasane(
            &[cmd, &fs, "-o", &tmp.path().join("out").to_string_lossy()]
                [..if cmd == "validate" { 2 } else { 4 }],
        );
        assert!(!o.status.success());
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!err.contains("panicked"), "{err}");
        let located = err
            .lines()
            .filter(|l| l.starts_with(&format!("{fs}:")))
            .count();
        assert!(located >= 5, "{cmd}: {err}");
        assert!(err.contains("did you mean `output`?"), "{err}");
        assert!(err.contains("nope.bam does not exist"), "{err}");
        assert!(err.contains("unknown step kind `covrage`"), "{err}");
        assert!(err.contains("unknown step `u`"), "{err}");
        assert!(err.contains("`mapq` must be an integer"), "{err}");
    }
    assert!(
        !tmp.path().join("out").exists(),
        "a refused run created its output folder"
    );
}

#[test]
fn schema_is_json_and_knows_every_parameter() {
    let s = ok(&["schema"]);
    let v: serde_json::Value = serde_json::from_str(&s).unwrap();
    let params = &v["properties"]["steps"]["items"]["properties"]["params"]["properties"];
    for p in [
        "by",
        "thresholds",
        "quantize",
        "mapq",
        "no_per_base",
        "fast_mode",
    ] {
        assert!(params.get(p).is_some(), "schema lacks {p}");
    }
    assert_eq!(params["flag"]["default"], 1796);
}
