//! Parity with mosdepth 0.3.3: every case in testdata/golden/cases.tsv (made by
//! testdata/golden/make_golden.sh) is re-run with `kasane coverage` and every file mosdepth
//! wrote is compared line by line.

mod common;

use std::io::Read;
use std::path::Path;
use std::process::Command;

use common::repo;

fn read_text(p: &Path) -> String {
    let raw = std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    if p.extension().is_some_and(|e| e == "gz") {
        let mut s = String::new();
        flate2::read::MultiGzDecoder::new(&raw[..])
            .read_to_string(&mut s)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        s
    } else {
        String::from_utf8(raw).unwrap()
    }
}

struct Case {
    name: String,
    env: Vec<(String, String)>,
    args: Vec<String>,
    input: String,
}

fn cases() -> Vec<Case> {
    let tsv = std::fs::read_to_string(repo().join("testdata/golden/cases.tsv")).unwrap();
    tsv.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let env = if f[1] == "-" {
                Vec::new()
            } else {
                f[1].split_whitespace()
                    .map(|kv| {
                        let (k, v) = kv.split_once('=').unwrap();
                        (k.to_string(), v.to_string())
                    })
                    .collect()
            };
            Case {
                name: f[0].to_string(),
                env,
                args: f[2].split_whitespace().map(String::from).collect(),
                input: f[3].to_string(),
            }
        })
        .collect()
}

/// Runs one case with `extra` arguments and returns a list of differences.
fn check_case(c: &Case, extra: &[&str]) -> Vec<String> {
    let tmp = tempfile::tempdir().unwrap();
    let prefix = tmp.path().join("out");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kasane"));
    cmd.current_dir(repo())
        .arg("coverage")
        .args(&c.args)
        .args(extra)
        .arg(&prefix)
        .arg(&c.input)
        .env_remove("MOSDEPTH_PRECISION")
        .env_remove("REF_PATH");
    for i in 0..10 {
        cmd.env_remove(format!("MOSDEPTH_Q{i}"));
    }
    for (k, v) in &c.env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    if !out.status.success() {
        return vec![format!(
            "{}: exit {:?}: {}",
            c.name,
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        )];
    }
    let gdir = repo().join("testdata/golden").join(&c.name);
    let mut problems = Vec::new();
    let mut expected: Vec<String> = std::fs::read_dir(&gdir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    expected.sort();
    for name in &expected {
        let mine = tmp.path().join(name);
        if !mine.exists() {
            problems.push(format!("{}: {name} not written", c.name));
            continue;
        }
        let (a, b) = (read_text(&gdir.join(name)), read_text(&mine));
        if a != b {
            let (al, bl): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
            let i = al
                .iter()
                .zip(&bl)
                .position(|(x, y)| x != y)
                .unwrap_or(al.len().min(bl.len()));
            problems.push(format!(
                "{}: {name} differs at line {} (mosdepth {} lines, kasane {}):\n  mosdepth: {:?}\n  kasane:   {:?}",
                c.name,
                i + 1,
                al.len(),
                bl.len(),
                al.get(i),
                bl.get(i)
            ));
        }
    }
    // Each .bed.gz comes with its index, and nothing mosdepth does not write appears.
    for e in std::fs::read_dir(tmp.path()).unwrap() {
        let n = e.unwrap().file_name().to_string_lossy().into_owned();
        if n == "out.kasane.json" {
            let j = std::fs::read_to_string(tmp.path().join(&n)).unwrap();
            if !(j.contains("\"kasane_version\"") && j.contains(&c.input)) {
                problems.push(format!(
                    "{}: provenance lacks version or input: {j}",
                    c.name
                ));
            }
        } else if n.ends_with(".csi") {
            if !expected.contains(&n.trim_end_matches(".csi").to_string()) {
                problems.push(format!("{}: unexpected {n}", c.name));
            }
        } else if !expected.contains(&n) {
            problems.push(format!("{}: unexpected output {n}", c.name));
        } else if n.ends_with(".bed.gz") && !tmp.path().join(format!("{n}.csi")).exists() {
            problems.push(format!("{}: {n} has no .csi", c.name));
        }
    }
    problems
}

/// Cases where kasane deliberately differs, with the test that covers its behaviour instead.
const DIVERGES: &[(&str, &str)] = &[(
    "bad_cols_bed",
    "mosdepth skips a BED line with 2 columns; kasane refuses it (tests/errors.rs)",
)];

fn run_all(extra: &[&str]) {
    let cases: Vec<Case> = cases()
        .into_iter()
        .filter(|c| !DIVERGES.iter().any(|(n, _)| *n == c.name))
        .collect();
    assert!(
        cases.len() >= 30,
        "cases.tsv lists only {} cases",
        cases.len()
    );
    let problems: Vec<String> = cases.iter().flat_map(|c| check_case(c, extra)).collect();
    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn matches_mosdepth_goldens_single_thread() {
    run_all(&["-t", "1"]);
}

#[test]
fn matches_mosdepth_goldens_four_threads() {
    run_all(&["-t", "4"]);
}

/// A GPU backend to test, or why not: CI sets `KASANE_REQUIRE_WGPU` (Mesa's CPU Vulkan
/// device) so that a missing device fails there instead of skipping.
fn gpu_backend(name: &str) -> Option<&'static str> {
    let (status, require) = match name {
        "wgpu" => (kasane::backend::wgpu::probe(), "KASANE_REQUIRE_WGPU"),
        _ => (kasane::backend::cuda::probe(), "KASANE_REQUIRE_CUDA"),
    };
    match status {
        Ok(_) => Some(if name == "wgpu" { "wgpu" } else { "cuda" }),
        Err(why) => {
            assert!(
                std::env::var_os(require).is_none(),
                "{name} is required ({require}) but unavailable: {why}"
            );
            eprintln!("skipped: no {name} device here: {why}");
            None
        }
    }
}

#[test]
fn matches_mosdepth_goldens_on_wgpu() {
    if let Some(b) = gpu_backend("wgpu") {
        run_all(&["-t", "2", "--backend", b]);
    }
}

#[test]
fn matches_mosdepth_goldens_on_cuda() {
    if let Some(b) = gpu_backend("cuda") {
        run_all(&["-t", "2", "--backend", b]);
    }
}

/// Not just the lines: every output file is byte-for-byte the same at any thread count and
/// on every backend (compressed blocks included), so checksums of re-analyses can be compared.
#[test]
fn outputs_are_byte_identical_across_thread_counts_and_backends() {
    let args: &[&[&str]] = &[
        &[],
        &["-b", "777", "-T", "1,5", "-q", "0:1:5:"],
        &["-b", "testdata/regions.bed", "-m"],
        &["-n", "-x", "-b", "50000", "-T", "0,2,1000"],
    ];
    let mut configs = vec![("1", "cpu"), ("3", "cpu")];
    for b in ["wgpu", "cuda"] {
        if let Some(b) = gpu_backend(b) {
            configs.push(("2", b));
        }
    }
    for (i, a) in args.iter().enumerate() {
        let mut outs = Vec::new();
        for (t, b) in &configs {
            let tmp = tempfile::tempdir().unwrap();
            let st = Command::new(env!("CARGO_BIN_EXE_kasane"))
                .current_dir(repo())
                .args(["coverage", "-t", t, "--backend", b])
                .args(*a)
                .arg(tmp.path().join("out"))
                .arg("testdata/long.bam")
                .status()
                .unwrap();
            assert!(st.success(), "case {i} on {b} failed");
            let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(tmp.path())
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| !p.to_string_lossy().ends_with(".kasane.json"))
                .map(|p| {
                    (
                        p.file_name().unwrap().to_string_lossy().into_owned(),
                        std::fs::read(&p).unwrap(),
                    )
                })
                .collect();
            files.sort();
            outs.push(files);
        }
        assert!(outs[0].len() >= 3, "case {i}: too few outputs");
        for (k, o) in outs.iter().enumerate().skip(1) {
            assert_eq!(outs[0].len(), o.len());
            for (x, y) in outs[0].iter().zip(o) {
                assert_eq!(x.0, y.0);
                assert!(
                    x.1 == y.1,
                    "case {i}: {} differs between {:?} and {:?}",
                    x.0,
                    configs[0],
                    configs[k]
                );
            }
        }
    }
}
