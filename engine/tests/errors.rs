//! Bad input: one clear line naming the file, a non-zero exit, no panic, and no output left
//! under a final name.

mod common;

use std::process::Command;

use common::repo;

/// Runs `kasane coverage ARGS PREFIX INPUT` in a fresh folder; returns (exit code, stderr, files left).
fn run(args: &[&str], input: &str) -> (Option<i32>, String, Vec<String>) {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_kasane"))
        .current_dir(repo())
        .arg("coverage")
        .args(args)
        .arg(tmp.path().join("out"))
        .arg(input)
        .env_remove("REF_PATH")
        .output()
        .unwrap();
    let mut left: Vec<String> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        left,
    )
}

fn assert_clean_failure(args: &[&str], input: &str, must_mention: &[&str]) {
    let (code, err, left) = run(args, input);
    assert!(
        code.is_some_and(|c| c != 0),
        "{args:?} {input}: exit {code:?}, stderr {err}"
    );
    assert!(!err.contains("panicked"), "{input}: panicked: {err}");
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "{input}: not one line: {err}"
    );
    assert!(err.starts_with("kasane: error: "), "{input}: {err}");
    for m in must_mention {
        assert!(
            err.contains(m),
            "{input}: error does not mention {m:?}: {err}"
        );
    }
    assert!(left.is_empty(), "{input}: files left behind: {left:?}");
}

#[test]
fn truncated_bam() {
    assert_clean_failure(
        &[],
        "testdata/bad/truncated.bam",
        &["testdata/bad/truncated.bam", "truncated"],
    );
}

#[test]
fn bam_cut_at_a_block_boundary() {
    assert_clean_failure(
        &[],
        "testdata/bad/no_eof.bam",
        &["testdata/bad/no_eof.bam", "end-of-file marker"],
    );
}

#[test]
fn corrupt_record() {
    // mosdepth 0.3.3 prints an error and exits 0 here, leaving chr1 cut short.
    assert_clean_failure(
        &[],
        "testdata/bad/corrupt.bam",
        &["testdata/bad/corrupt.bam", "corrupt BAM record"],
    );
}

#[test]
fn not_an_alignment_file() {
    assert_clean_failure(
        &[],
        "testdata/bad/not_a_bam.bam",
        &["testdata/bad/not_a_bam.bam", "not a BAM or CRAM"],
    );
}

#[test]
fn missing_file() {
    assert_clean_failure(
        &[],
        "testdata/does_not_exist.bam",
        &["testdata/does_not_exist.bam", "No such file"],
    );
}

#[test]
fn unsorted_bam() {
    assert_clean_failure(
        &[],
        "testdata/bad/notsorted.bam",
        &["testdata/bad/notsorted.bam", "not sorted"],
    );
}

#[test]
fn missing_index_when_one_is_needed() {
    assert_clean_failure(
        &["-c", "chr1"],
        "testdata/bad/noindex.bam",
        &["testdata/bad/noindex.bam", "index not found"],
    );
}

#[test]
fn unindexed_bam_is_fine_for_whole_file() {
    let (code, err, left) = run(&["-n"], "testdata/bad/noindex.bam");
    assert_eq!(code, Some(0), "{err}");
    assert!(left.contains(&"out.mosdepth.summary.txt".to_string()));
}

#[test]
fn unknown_contig() {
    assert_clean_failure(
        &["-c", "chrNOPE"],
        "testdata/sample.bam",
        &["chrNOPE", "testdata/sample.bam"],
    );
}

#[test]
fn malformed_bed_lines_name_file_and_line() {
    assert_clean_failure(
        &["-b", "testdata/bad/bad_start.bed"],
        "testdata/sample.bam",
        &["testdata/bad/bad_start.bed:2:", "abc"],
    );
    // mosdepth skips this line with a warning; a silently shorter region list is worse than an error.
    assert_clean_failure(
        &["-b", "testdata/bad/bad_cols.bed"],
        "testdata/sample.bam",
        &["testdata/bad/bad_cols.bed:2:", "3 tab-separated"],
    );
}

#[test]
fn cram_without_reference() {
    assert_clean_failure(
        &[],
        "testdata/sample.cram",
        &["testdata/sample.cram", "reference"],
    );
}

#[test]
fn bad_options() {
    assert_clean_failure(&["-T", "1,2"], "testdata/sample.bam", &["--thresholds"]);
    assert_clean_failure(&["-q", "0::5"], "testdata/sample.bam", &["--quantize"]);
    assert_clean_failure(&["-x", "-a"], "testdata/sample.bam", &["fragment-mode"]);
}

#[test]
fn unwritable_prefix() {
    let out = Command::new(env!("CARGO_BIN_EXE_kasane"))
        .current_dir(repo())
        .args([
            "coverage",
            "/nonexistent-dir/sub/out",
            "testdata/sample.bam",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.contains("/nonexistent-dir/sub/out.") && err.contains("cannot create"),
        "{err}"
    );
}

#[test]
fn failure_keeps_no_temporary_files() {
    // The truncated file fails after outputs were opened: their temporary files must be gone.
    let (_, _, left) = run(
        &["-b", "100", "-q", "0:1:", "-T", "1"],
        "testdata/bad/truncated.bam",
    );
    assert!(left.is_empty(), "{left:?}");
}

/// A backend asked for by name that cannot start is a one-line error, never a silent fallback
/// to the CPU or a panic (cudarc panics when libcuda is missing unless probed first).
#[test]
fn unavailable_backend_is_a_clear_error() {
    let probes = [
        ("cuda", kasane::backend::cuda::probe()),
        ("wgpu", kasane::backend::wgpu::probe()),
    ];
    let mut checked = 0;
    for (name, status) in probes {
        if status.is_ok() {
            eprintln!("{name} is available here: nothing to check");
            continue;
        }
        assert_clean_failure(&["--backend", name], "testdata/sample.bam", &[name]);
        checked += 1;
    }
    // `--backend cpu` always works, and `kasane backends` always answers.
    let (code, _, _) = run(&["--backend", "cpu"], "testdata/sample.bam");
    assert_eq!(code, Some(0));
    let out = Command::new(env!("CARGO_BIN_EXE_kasane"))
        .arg("backends")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for name in ["cuda", "wgpu", "cpu"] {
        assert!(
            text.lines().any(|l| l.starts_with(&format!("{name}\t"))),
            "backends does not list {name}:\n{text}"
        );
    }
    eprintln!("{checked} unavailable backend(s) checked");
}

/// `auto` keeps small inputs on the CPU, never picks a CPU emulation of a GPU (llvmpipe), and
/// records what it chose.
#[test]
fn auto_backend_choice_is_recorded() {
    let tmp = tempfile::tempdir().unwrap();
    for (min_bytes, name) in [(None, "small"), (Some("0"), "any")] {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kasane"));
        cmd.current_dir(repo())
            .args(["coverage", "-n"])
            .arg(tmp.path().join(name))
            .arg("testdata/sample.bam");
        if let Some(m) = min_bytes {
            cmd.env("KASANE_GPU_MIN_BYTES", m);
        }
        assert!(cmd.status().unwrap().success());
        let json = std::fs::read_to_string(tmp.path().join(format!("{name}.kasane.json"))).unwrap();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        let backend = v["backend"].as_str().unwrap().to_string();
        let want = if min_bytes.is_none() {
            "cpu".to_string()
        } else if kasane::backend::cuda::probe().is_ok() {
            "cuda".to_string()
        } else if kasane::backend::wgpu::probe().is_ok_and(|d| d.is_gpu) {
            "wgpu".to_string()
        } else {
            "cpu".to_string()
        };
        assert_eq!(backend, want, "{name}: {json}");
        assert!(v["device"].as_str().is_some_and(|d| !d.is_empty()));
    }
}
