//! Pipeline files: validate, plan, run, resume, verify, schema, on `pipelines/` and `testdata/`.

mod common;

use std::path::Path;
use std::process::Command;

use common::{files, kasane, ok, repo};

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
        // A VCF output is named with its extension (`kasane call`, `kasane sv`).
        let ext = if cmd[cmd.len() - 2].ends_with(".vcf.gz") {
            ".vcf.gz"
        } else {
            ""
        };
        args.push(format!("{}{ext}", direct.display()));
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

/// Every example, cut into 2 and into 5 shards (all the contigs of the test reference; 4 for the
/// example on the four-contig reference), run
/// shard by shard in reverse order and gathered: the same files as an unsharded run, and a later
/// unsharded run finds every job up to date.
#[test]
fn shards_gather_into_the_unsharded_files() {
    let tmp = tempfile::tempdir().unwrap();
    for (name, counts) in [
        ("short-read-qc", [2usize, 5]),
        ("long-read-qc", [2, 5]),
        ("long-read-sv", [2, 5]),
        ("cohort", [2, 5]),
        // Calls and SVs evaluated: the eval shards read the call shards' VCFs.
        ("evaluate-calls", [2, 4]),
    ] {
        let f = repo().join(format!("pipelines/{name}.toml"));
        let f = f.to_string_lossy().into_owned();
        let full = tmp.path().join(format!("{name}-full"));
        ok(&["run", &f, "-o", full.to_str().unwrap(), "--quiet"]);
        let want = files(&full);
        for n in counts {
            let out = tmp.path().join(format!("{name}-{n}"));
            let o = out.to_str().unwrap();
            for i in (1..=n).rev() {
                ok(&[
                    "run",
                    &f,
                    "-o",
                    o,
                    "--shard",
                    &format!("{i}/{n}"),
                    "--quiet",
                ]);
            }
            ok(&["gather", &f, "-o", o, "--quiet"]);
            let got = files(&out);
            assert_eq!(
                got.iter().map(|(p, _)| p).collect::<Vec<_>>(),
                want.iter().map(|(p, _)| p).collect::<Vec<_>>(),
                "{name} in {n} shards"
            );
            for ((p, a), (_, b)) in got.iter().zip(&want) {
                assert!(a == b, "{name} in {n} shards: {} differs", p.display());
            }
            assert!(ok(&["verify", o]).contains(": ok,"));
            let shards = &run_json(&out)["jobs"][0]["shards"];
            assert_eq!(shards.as_array().map(Vec::len), Some(n), "{shards}");
            // Gathered jobs count as done for an unsharded run of the same file.
            ok(&["run", &f, "-o", o, "--quiet"]);
            assert!(statuses(&out).iter().all(|s| s.contains("skipped")));
        }
    }
}

/// The workflow-engine path: each job of each shard run alone, each job gathered alone, then
/// one gather for run.json.
#[test]
fn jobs_run_and_gather_one_at_a_time() {
    let tmp = tempfile::tempdir().unwrap();
    let f = repo().join("pipelines/short-read-qc.toml");
    let f = f.to_string_lossy().into_owned();
    let full = tmp.path().join("full");
    ok(&["run", &f, "-o", full.to_str().unwrap(), "--quiet"]);
    let out = tmp.path().join("jobs");
    let o = out.to_str().unwrap();
    let jobs = [
        "targets/NA0001",
        "windows/NA0001",
        "calls/NA0001",
        "metrics/NA0001",
    ];
    for j in jobs {
        for i in 1..=3 {
            ok(&[
                "run",
                &f,
                "-o",
                o,
                "--shard",
                &format!("{i}/3"),
                "--job",
                j,
                "--quiet",
            ]);
        }
    }
    for j in jobs {
        ok(&["gather", &f, "-o", o, "--job", j, "--quiet"]);
    }
    assert!(!out.join("run.json").exists());
    ok(&["gather", &f, "-o", o, "--quiet"]);
    assert_eq!(files(&out), files(&full));
    assert!(statuses(&out).iter().all(|s| s.contains("skipped")));
    let e = kasane(&["run", &f, "-o", o, "--job", "nope/NA0001"]);
    assert!(!e.status.success());
    assert!(String::from_utf8_lossy(&e.stderr)
        .contains("no job nope/NA0001; the jobs are: targets/NA0001"));
}

/// Gather refuses what it cannot join exactly: a missing shard, a shard whose input changed,
/// more shards than contigs.
#[test]
fn gather_refuses_missing_or_stale_shards() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    for f in ["sample.bam", "sample.bam.bai", "ref.fa", "ref.fa.fai"] {
        std::fs::copy(repo().join("testdata").join(f), data.join(f)).unwrap();
    }
    let file = tmp.path().join("p.toml");
    std::fs::write(
        &file,
        "name = \"p\"\noutput = \"out\"\nreference = \"data/ref.fa\"\n\
         [[samples]]\nid = \"s\"\npath = \"data/sample.bam\"\n\
         [[steps]]\nid = \"cov\"\nkind = \"coverage\"\n",
    )
    .unwrap();
    let f = file.to_str().unwrap();
    let err = |args: &[&str]| {
        let o = kasane(args);
        assert!(!o.status.success(), "{args:?} succeeded");
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    let e = err(&["gather", f, "--quiet"]);
    assert!(e.contains("no shards to gather"), "{e}");
    ok(&["run", f, "--shard", "1/2", "--quiet"]);
    let e = err(&["gather", f, "--quiet"]);
    assert!(e.contains("shard(s) 2/2 have not run"), "{e}");
    ok(&["run", f, "--shard", "2/2", "--quiet"]);
    // The input changes after the shards ran: their results no longer hold.
    let bam = data.join("sample.bam");
    let mut t = std::fs::File::options().append(true).open(&bam).unwrap();
    // One more empty BGZF block: still a valid BAM, with other bytes.
    let eof: [u8; 28] = [
        0x1f, 0x8b, 8, 4, 0, 0, 0, 0, 0, 0xff, 6, 0, 0x42, 0x43, 2, 0, 0x1b, 0, 3, 0, 0, 0, 0, 0,
        0, 0, 0, 0,
    ];
    std::io::Write::write_all(&mut t, &eof).unwrap();
    drop(t);
    let e = err(&["gather", f, "--quiet"]);
    assert!(
        e.contains("shard 1/2 has not finished, or its inputs"),
        "{e}"
    );
    assert!(!tmp.path().join("out/cov/s.mosdepth.summary.txt").exists());
    let e = err(&["run", f, "--shard", "1/9", "--quiet"]);
    assert!(
        e.contains("9 shards asked for, but the reference has 5 contig(s)"),
        "{e}"
    );
    let e = err(&["run", f, "--shard", "3/2", "--quiet"]);
    assert!(e.contains("expected i/N"), "{e}");
}

#[test]
fn coverage_and_qc_of_a_sample_share_one_reading() {
    let tmp = tempfile::tempdir().unwrap();
    let f = repo().join("pipelines/short-read-qc.toml");
    let f = f.to_str().unwrap();
    let out = tmp.path().join("out");
    let o = out.to_str().unwrap();
    ok(&["run", "--quiet", f, "-o", o]);
    let v = run_json(&out);
    let by_id = |id: &str| {
        v["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["id"] == id)
            .cloned()
            .unwrap()
    };
    // The first coverage step of the sample rides along with its qc; the second, which the
    // qc job already carries one for, reads on its own.
    assert_eq!(by_id("targets/NA0001")["read_with"], "metrics/NA0001");
    assert!(by_id("windows/NA0001")["read_with"].is_null());
    assert!(by_id("metrics/NA0001")["read_with"].is_null());
    // The same files as jobs run one at a time (as a workflow engine runs them: unpaired).
    let apart = tmp.path().join("apart");
    let a = apart.to_str().unwrap();
    for id in [
        "targets/NA0001",
        "windows/NA0001",
        "calls/NA0001",
        "metrics/NA0001",
    ] {
        ok(&["run", "--quiet", f, "-o", a, "--job", id]);
    }
    let record = std::fs::read_dir(apart.join(".kasane/jobs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().contains("targets"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .unwrap();
    let record: serde_json::Value = serde_json::from_str(&record).unwrap();
    assert!(
        record["provenance"]["records_read"].as_u64().is_some(),
        "{record}"
    );
    assert!(record["provenance"]["read_with"].is_null(), "{record}");
    let (mine, theirs) = (files(&out), files(&apart));
    assert!(mine.len() > 10, "{} files", mine.len());
    assert_eq!(
        mine.iter().map(|f| &f.0).collect::<Vec<_>>(),
        theirs.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    for (x, y) in mine.iter().zip(&theirs) {
        assert!(x.1 == y.1, "{} differs from a job run alone", x.0.display());
    }
}
