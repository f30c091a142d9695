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

// ---- Hostile paths and inputs (issue 14) ----

/// Runs `kasane ARGS` from the repository root with extra environment; gives up (killing it)
/// after `secs`, so a hang fails the test instead of stalling the suite.
fn kasane_env(args: &[&str], env: &[(&str, &str)], secs: u64) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kasane"));
    cmd.current_dir(repo())
        .args(args)
        .env_remove("REF_PATH")
        // Set as CI systems often do: the one-line report must not depend on it.
        .env("RUST_BACKTRACE", "1")
        .env_remove("KASANE_BACKTRACE")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let start = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed().as_secs() > secs {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{args:?} still running after {secs} s");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

/// Fails unless `o` is a failure with one line `kasane: error: ...` mentioning each of `must`.
fn assert_one_line_error(o: &std::process::Output, must: &[&str]) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.code().is_some_and(|c| c != 0 && c != 101),
        "exit {:?}: {err}",
        o.status
    );
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err}");
    assert!(err.starts_with("kasane: error: "), "{err}");
    for m in must {
        assert!(err.contains(m), "does not mention {m:?}: {err}");
    }
}

/// Names in `dir`, sorted.
fn names(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn s(p: &std::path::Path) -> String {
    p.to_string_lossy().into_owned()
}

fn mkfifo(p: &std::path::Path) {
    let st = Command::new("mkfifo").arg(p).status().unwrap();
    assert!(st.success());
}

fn is_fifo(p: &std::path::Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_fifo())
}

#[test]
fn output_fifo_is_refused_not_replaced() {
    let d = tempfile::tempdir().unwrap();
    // call: the VCF itself is a FIFO.
    let vcf = d.path().join("c.vcf.gz");
    mkfifo(&vcf);
    let o = kasane_env(
        &[
            "call",
            "-f",
            "testdata/ref.fa",
            "-o",
            &s(&vcf),
            "testdata/sample.bam",
        ],
        &[],
        120,
    );
    assert_one_line_error(&o, &[&s(&vcf), "FIFO"]);
    assert!(is_fifo(&vcf), "the FIFO was replaced");
    assert_eq!(names(d.path()), ["c.vcf.gz"]);
    // coverage: a side file (.csi of the per-base BED) is a FIFO.
    let csi = d.path().join("x.per-base.bed.gz.csi");
    mkfifo(&csi);
    let o = kasane_env(
        &["coverage", &s(&d.path().join("x")), "testdata/sample.bam"],
        &[],
        120,
    );
    assert_one_line_error(&o, &[&s(&csi), "FIFO"]);
    assert!(is_fifo(&csi), "the FIFO was replaced");
    // sv: the provenance file is a FIFO.
    let json = d.path().join("s.kasane.json");
    mkfifo(&json);
    let o = kasane_env(
        &[
            "sv",
            "-f",
            "testdata/ref.fa",
            "-o",
            &s(&d.path().join("s.vcf.gz")),
            "testdata/long.bam",
        ],
        &[],
        120,
    );
    assert_one_line_error(&o, &[&s(&json), "FIFO"]);
    assert!(is_fifo(&json), "the FIFO was replaced");
    assert_eq!(
        names(d.path()),
        ["c.vcf.gz", "s.kasane.json", "x.per-base.bed.gz.csi"]
    );
}

/// An output path that is a symbolic link is refused: renaming over it would replace the
/// link, not write to its target.
#[test]
fn output_symlink_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let target = d.path().join("target.vcf.gz");
    std::fs::write(&target, "keep").unwrap();
    let link = d.path().join("link.vcf.gz");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let o = kasane_env(
        &[
            "call",
            "-f",
            "testdata/ref.fa",
            "-o",
            &s(&link),
            "testdata/sample.bam",
        ],
        &[],
        120,
    );
    assert_one_line_error(&o, &[&s(&link), "symbolic link"]);
    assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep");
    assert_eq!(names(d.path()), ["link.vcf.gz", "target.vcf.gz"]);
}

/// One output path is a directory: no other output appears under its final name.
#[test]
fn output_path_a_directory_leaves_no_other_outputs() {
    let cases: [(&str, &[&str]); 5] = [
        (
            "x.mosdepth.summary.txt",
            &["coverage", "{d}/x", "testdata/sample.bam"],
        ),
        (
            "x.per-base.bed.gz.csi",
            &["coverage", "{d}/x", "testdata/sample.bam"],
        ),
        (
            "x.kasane.json",
            &["coverage", "{d}/x", "testdata/sample.bam"],
        ),
        (
            "c.vcf.gz.tbi",
            &[
                "call",
                "-f",
                "testdata/ref.fa",
                "-o",
                "{d}/c.vcf.gz",
                "testdata/sample.bam",
            ],
        ),
        (
            "s.kasane.json",
            &[
                "sv",
                "-f",
                "testdata/ref.fa",
                "-o",
                "{d}/s.vcf.gz",
                "testdata/long.bam",
            ],
        ),
    ];
    for (dir_name, args) in cases {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join(dir_name)).unwrap();
        let args: Vec<String> = args
            .iter()
            .map(|a| a.replace("{d}", &s(d.path())))
            .collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = kasane_env(&args, &[], 120);
        assert_one_line_error(&o, &[dir_name, "directory"]);
        assert_eq!(names(d.path()), [dir_name], "{args:?}");
    }
}

/// `-t 99999` once spawned threads without bound (thousands, then a hang); now it is cut to
/// the machine's CPUs with one warning.
#[test]
fn huge_thread_count_is_capped() {
    let d = tempfile::tempdir().unwrap();
    let cpus = std::thread::available_parallelism().unwrap().get();
    let runs: [&[&str]; 3] = [
        &["coverage", "-t", "99999", "{d}/x", "testdata/sample.bam"],
        &[
            "call",
            "-t",
            "99999",
            "-f",
            "testdata/ref.fa",
            "-o",
            "{d}/c.vcf.gz",
            "testdata/sample.bam",
        ],
        &[
            "sv",
            "-t",
            "99999",
            "-f",
            "testdata/ref.fa",
            "-o",
            "{d}/s.vcf.gz",
            "testdata/long.bam",
        ],
    ];
    for args in runs {
        let args: Vec<String> = args
            .iter()
            .map(|a| a.replace("{d}", &s(d.path())))
            .collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = kasane_env(&args, &[], 120);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(
            err.starts_with("kasane: warning: 99999 threads")
                && err.contains(&format!("using {cpus}")),
            "{err}"
        );
    }
    for json in ["x.kasane.json", "s.kasane.json"] {
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(d.path().join(json)).unwrap()).unwrap();
        assert_eq!(v["threads"].as_u64(), Some(cpus as u64), "{json}");
    }
}

/// A `.fai` left over from another version of the FASTA: the same clear message in call and
/// sv (call once said "failed to fill whole buffer"), and no panic with CRAM.
#[test]
fn stale_fai_says_so() {
    let d = tempfile::tempdir().unwrap();
    let fa = d.path().join("r.fa");
    let text = std::fs::read(repo().join("testdata/ref.fa")).unwrap();
    std::fs::write(&fa, &text[..20000]).unwrap();
    std::fs::copy(
        repo().join("testdata/ref.fa.fai"),
        d.path().join("r.fa.fai"),
    )
    .unwrap();
    let out = d.path().join("out");
    std::fs::create_dir(&out).unwrap();
    for (cmd, bam) in [("call", "testdata/sample.bam"), ("sv", "testdata/long.bam")] {
        let o = kasane_env(
            &[cmd, "-f", &s(&fa), "-o", &s(&out.join("o.vcf.gz")), bam],
            &[],
            120,
        );
        assert_one_line_error(&o, &[&s(&fa), "stale", "samtools faidx"]);
        assert!(names(&out).is_empty(), "{cmd}: {:?}", names(&out));
    }
    let o = kasane_env(
        &[
            "coverage",
            "-f",
            &s(&fa),
            &s(&out.join("x")),
            "testdata/sample.cram",
        ],
        &[],
        120,
    );
    assert_one_line_error(&o, &[]);
    assert!(names(&out).is_empty(), "cram: {:?}", names(&out));
}

/// An input path that is a symbolic link loop says so (the OS's words), for BAM, reference
/// and BED alike.
#[test]
fn symlink_loop_input_says_so() {
    let d = tempfile::tempdir().unwrap();
    let (a, b) = (d.path().join("a"), d.path().join("b"));
    std::os::unix::fs::symlink(&a, &b).unwrap();
    std::os::unix::fs::symlink(&b, &a).unwrap();
    let out = d.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let x = s(&out.join("x"));
    let vcf = s(&out.join("c.vcf.gz"));
    let runs: [&[&str]; 4] = [
        &["coverage", &x, &s(&a)],
        &["coverage", "-b", &s(&a), &x, "testdata/sample.bam"],
        &["call", "-f", &s(&a), "-o", &vcf, "testdata/sample.bam"],
        &["call", "-f", "testdata/ref.fa", "-o", &vcf, &s(&a)],
    ];
    for args in runs {
        let o = kasane_env(args, &[], 120);
        assert_one_line_error(&o, &[&s(&a), "Too many levels of symbolic links"]);
        assert!(names(&out).is_empty(), "{args:?}: {:?}", names(&out));
    }
    assert_eq!(
        kasane::error::missing_reason(&a).as_deref(),
        Some("Too many levels of symbolic links (os error 40)")
    );
}

/// An output prefix or folder under a regular file: the error names the file.
#[test]
fn output_under_a_regular_file_names_it() {
    let d = tempfile::tempdir().unwrap();
    let file = d.path().join("file");
    std::fs::write(&file, "").unwrap();
    let (f, sub, prefix) = (s(&file), s(&file.join("sub")), s(&file.join("sub/x")));
    let under = format!("{f} is a regular file, not a folder");
    let itself = format!("{f}: exists and is a regular file, not a folder");
    let qc = "pipelines/short-read-qc.toml";
    for (args, want) in [
        (vec!["coverage", &prefix, "testdata/sample.bam"], &under),
        (vec!["run", "--quiet", qc, "-o", &sub], &under),
        (vec!["run", "--quiet", qc, "-o", &f], &itself),
    ] {
        let o = kasane_env(&args, &[], 120);
        assert_one_line_error(&o, &[want]);
    }
    assert_eq!(names(d.path()), ["file"]);
}

/// A panic (here injected) on the main thread or in a detached worker: one line, exit 1, and
/// no temporary file left.
#[test]
fn panic_is_one_line_and_leaves_no_temporaries() {
    for fault in ["panic@chr1", "worker-panic@chr1"] {
        let d = tempfile::tempdir().unwrap();
        let o = kasane_env(
            &["coverage", &s(&d.path().join("x")), "testdata/sample.bam"],
            &[("KASANE_FAULT", fault)],
            120,
        );
        assert_one_line_error(
            &o,
            &[
                "kasane: error: internal error: injected fault",
                "testdata/sample.bam",
            ],
        );
        assert_eq!(o.status.code(), Some(1), "{fault}");
        assert!(names(d.path()).is_empty(), "{fault}: {:?}", names(d.path()));
    }
}

/// `kasane plan FILE | head`: a reader that leaves early ends kasane quietly, with the status a
/// shell gives a process ended by SIGPIPE, not an "internal error" line.
#[test]
fn a_closed_stdout_ends_quietly() {
    use std::io::Read;
    let tmp = tempfile::tempdir().unwrap();
    let bam = common::repo().join("testdata/sample.bam");
    let mut sheet = String::from("id\tpath\n");
    for i in 0..3000 {
        sheet.push_str(&format!("s{i}\t{}\n", bam.display()));
    }
    std::fs::write(tmp.path().join("sheet.tsv"), sheet).unwrap();
    let toml = tmp.path().join("p.toml");
    std::fs::write(
        &toml,
        "name = \"p\"\noutput = \"out\"\nsample_sheet = \"sheet.tsv\"\n\n[[steps]]\nid = \"cov\"\nkind = \"coverage\"\n",
    )
    .unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_kasane"))
        .arg("plan")
        .arg(&toml)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Read a little of the plan (over 1 MB in all), then close the pipe.
    let mut first = [0u8; 64];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(141));
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
