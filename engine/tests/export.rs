//! `kasane export snakemake`: the workflow it writes, what it refuses, and (where Snakemake is
//! installed; `.ci/run` installs it) a real Snakemake run compared byte for byte with
//! `kasane run`.

mod common;

use std::path::Path;
use std::process::Command;

use common::{files, kasane, ok_stderr, repo, snakemake_available};

fn pipeline(name: &str) -> String {
    repo()
        .join(format!("pipelines/{name}.toml"))
        .to_string_lossy()
        .into_owned()
}

#[test]
fn export_writes_a_workflow_with_every_job_and_resources() {
    let tmp = tempfile::tempdir().unwrap();
    let wf = tmp.path().join("wf");
    let res = tmp.path().join("res");
    let log = ok_stderr(&[
        "export",
        "snakemake",
        &pipeline("cohort"),
        "-o",
        wf.to_str().unwrap(),
        "--results",
        res.to_str().unwrap(),
        "--shards",
        "4",
        "--mem-mb",
        "1500",
    ]);
    assert!(log.contains("3 job(s) x 4 shard(s)"), "{log}");
    let sf = std::fs::read_to_string(wf.join("Snakefile")).unwrap();
    assert!(sf.contains("N = 4"));
    for job in ["depth/mother", "depth/child", "depth/long"] {
        assert!(sf.contains(&format!("\"id\": \"{job}\"")), "{job}");
        let rule = format!("rule gather_{}:", job.replace('/', "__"));
        assert!(sf.contains(&rule), "{rule}");
    }
    assert!(sf.contains("threads: config[\"threads\"]"));
    assert!(sf.contains("mem_mb=config[\"mem_mb\"]"));
    let cfg = std::fs::read_to_string(wf.join("config.yaml")).unwrap();
    assert!(cfg.contains("mem_mb: 1500"), "{cfg}");
    assert!(
        cfg.contains(&format!("output: \"{}\"", res.display())),
        "{cfg}"
    );
    let prof = std::fs::read_to_string(wf.join("profiles/slurm/config.yaml")).unwrap();
    assert!(prof.contains("executor: slurm"));
    // Without --shards: the test inputs are tiny, and the longest contig is half the genome.
    let wf2 = tmp.path().join("wf2");
    let log = ok_stderr(&[
        "export",
        "snakemake",
        &pipeline("cohort"),
        "-o",
        wf2.to_str().unwrap(),
    ]);
    assert!(log.contains("3 job(s) x 1 shard(s)"), "{log}");
}

#[test]
fn export_refuses_more_shards_than_contigs() {
    let tmp = tempfile::tempdir().unwrap();
    let wf = tmp.path().join("wf");
    let o = kasane(&[
        "export",
        "snakemake",
        &pipeline("short-read-qc"),
        "-o",
        wf.to_str().unwrap(),
        "--shards",
        "6",
    ]);
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("--shards 6: sample NA0001 has 5 contig(s)"),
        "{e}"
    );
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(!wf.exists(), "nothing written");
}

fn snakemake(wf: &Path, cwd: &Path) -> String {
    let o = Command::new("snakemake")
        .current_dir(cwd)
        .args(["-s", wf.join("Snakefile").to_str().unwrap(), "--cores", "2"])
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "snakemake failed:\n{log}");
    log
}

/// The exported workflow, run by Snakemake, writes `kasane run`'s files byte for byte; a second
/// run does nothing; a removed output is made again by its job's gather alone.
#[test]
fn snakemake_runs_the_export_to_the_same_files_as_kasane_run() {
    if !snakemake_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    for (name, shards) in [
        ("short-read-qc", "3"),
        ("long-read-sv", "2"),
        ("cohort", "5"),
        ("evaluate-calls", "2"),
    ] {
        let full = tmp.path().join(format!("{name}-full"));
        ok_stderr(&[
            "run",
            &pipeline(name),
            "-o",
            full.to_str().unwrap(),
            "--quiet",
        ]);
        let wf = tmp.path().join(format!("{name}-wf"));
        let res = tmp.path().join(format!("{name}-res"));
        ok_stderr(&[
            "export",
            "snakemake",
            &pipeline(name),
            "-o",
            wf.to_str().unwrap(),
            "--results",
            res.to_str().unwrap(),
            "--shards",
            shards,
        ]);
        snakemake(&wf, tmp.path());
        assert_eq!(files(&res), files(&full), "{name}");
        assert!(ok_stderr(&["verify", res.to_str().unwrap()]).is_empty());
        let again = snakemake(&wf, tmp.path());
        assert!(again.contains("Nothing to be done"), "{again}");
        let (victim, _) = files(&res).into_iter().next().unwrap();
        std::fs::remove_file(res.join(&victim)).unwrap();
        let redo = snakemake(&wf, tmp.path());
        assert!(!redo.contains("rule shard:"), "shards re-ran:\n{redo}");
        assert!(redo.contains("rule gather_"), "{redo}");
        assert_eq!(files(&res), files(&full), "{name} after a redo");
    }
}
