//! `kasane qc` against the peers' own files: every metric line of Picard 2.27.5
//! (CollectWgsMetrics, CollectInsertSizeMetrics, CollectGcBiasMetrics) and samtools 1.16.1
//! (stats) on the QC test BAMs, committed in testdata/qc/golden with the script that made them
//! (testdata/qc/make_golden.sh); the same outputs at 1 and 2 threads; the HTML report rendered
//! in headless Chromium; identity, thresholds and bad input.

mod common;

use std::path::{Path, PathBuf};

use common::{kasane, repo};

fn qc_dir() -> PathBuf {
    repo().join("testdata/qc")
}

/// The lines of a metrics file without its comment lines (Picard's dated header, samtools'
/// command line), and for samtools stats only the sections kasane writes.
fn body(text: &str, samtools: bool) -> Vec<String> {
    const SECTIONS: &[&str] = &[
        "CHK", "SN", "FFQ", "LFQ", "GCF", "GCL", "IS", "RL", "FRL", "LRL", "ID", "IC",
    ];
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| !samtools || SECTIONS.contains(&l.split('\t').next().unwrap_or("")))
        .map(str::to_string)
        .collect()
}

fn read(p: &Path) -> String {
    if p.extension().is_some_and(|e| e == "gz") {
        common::gunzip(p)
    } else {
        std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }
}

/// Asserts that `ours` has the golden's lines, one by one (the first difference is shown).
fn same_lines(golden: &Path, ours: &Path, samtools: bool) {
    let g = body(&read(golden), samtools);
    let o = body(&read(ours), samtools);
    assert!(!g.is_empty(), "{}: empty golden", golden.display());
    for (i, (a, b)) in g.iter().zip(&o).enumerate() {
        assert_eq!(
            a,
            b,
            "line {} differs: {} (golden) vs {}",
            i + 1,
            golden.display(),
            ours.display()
        );
    }
    assert_eq!(
        g.len(),
        o.len(),
        "{} vs {}",
        golden.display(),
        ours.display()
    );
}

fn run_qc(out: &Path, extra: &[&str], inputs: &[&str]) -> std::process::Output {
    let d = qc_dir();
    let fasta = d.join("qc_ref.fa");
    let mut args: Vec<String> = vec![
        "qc".into(),
        "-f".into(),
        fasta.display().to_string(),
        "-o".into(),
        out.display().to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    args.extend(inputs.iter().map(|i| d.join(i).display().to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    kasane(&refs)
}

fn ok_qc(out: &Path, extra: &[&str], inputs: &[&str]) {
    let o = run_qc(out, extra, inputs);
    assert!(
        o.status.success(),
        "qc {extra:?} {inputs:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn short_reads_match_picard_and_samtools_at_any_thread_count() {
    let t = tempfile::tempdir().unwrap();
    let g = qc_dir().join("golden");
    let mut firsts: Vec<Vec<(PathBuf, Vec<u8>)>> = Vec::new();
    for threads in ["1", "2"] {
        let out = t.path().join(format!("t{threads}"));
        ok_qc(&out, &["-t", threads, "--quiet"], &["qc_a.bam", "qc_b.bam"]);
        for (bam, sample) in [("qc_a", "qcA"), ("qc_b", "qcB")] {
            let o = |ext: &str| out.join(format!("{sample}.{ext}"));
            same_lines(&g.join(format!("{bam}.samtools.stats")), &o("stats"), true);
            same_lines(
                &g.join(format!("{bam}.wgs_metrics")),
                &o("wgs_metrics"),
                false,
            );
            same_lines(
                &g.join(format!("{bam}.insert_size_metrics")),
                &o("insert_size_metrics"),
                false,
            );
            same_lines(
                &g.join(format!("{bam}.gc_bias_metrics")),
                &o("gc_bias.detail_metrics"),
                false,
            );
            same_lines(
                &g.join(format!("{bam}.gc_bias_summary_metrics")),
                &o("gc_bias.summary_metrics"),
                false,
            );
        }
        // Per read group: rg1 is 2x100, rg2 2x150.
        let j: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("qcA.qc.json")).unwrap())
                .unwrap();
        let rg = &j["read_groups"];
        let len = |g: &str| rg[g]["mean_length"].as_f64().unwrap();
        assert!(len("rg1") < 101.0 && len("rg2") > 140.0, "{rg}");
        let reads: u64 = ["rg1", "rg2"]
            .iter()
            .map(|g| rg[*g]["reads"].as_u64().unwrap())
            .sum();
        assert_eq!(
            Some(reads as f64),
            j["metrics"]["raw_total_sequences"]["value"].as_f64(),
            "{rg}"
        );
        let mut files: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().path())
            // The command line (with -t) is recorded in the provenance only.
            .filter(|p| !p.to_string_lossy().ends_with("qc.kasane.json"))
            .map(|p| {
                (
                    PathBuf::from(p.file_name().unwrap()),
                    std::fs::read(&p).unwrap(),
                )
            })
            .collect();
        files.sort();
        firsts.push(files);
    }
    assert_eq!(firsts[0].len(), firsts[1].len());
    for (a, b) in firsts[0].iter().zip(&firsts[1]) {
        assert!(a == b, "{} differs between 1 and 2 threads", a.0.display());
    }
}

#[test]
fn unpaired_counting_matches_picard() {
    let t = tempfile::tempdir().unwrap();
    let g = qc_dir().join("golden");
    // Paired sample with COUNT_UNPAIRED=true; long reads with the default (false) and auto.
    let a = t.path().join("a");
    ok_qc(&a, &["--count-unpaired", "true", "--quiet"], &["qc_a.bam"]);
    same_lines(
        &g.join("qc_a.wgs_metrics.count_unpaired"),
        &a.join("qcA.wgs_metrics"),
        false,
    );
    let l = t.path().join("long-false");
    ok_qc(
        &l,
        &["--count-unpaired", "false", "--quiet"],
        &["qc_long.bam"],
    );
    same_lines(
        &g.join("qc_long.wgs_metrics"),
        &l.join("qcA.wgs_metrics"),
        false,
    );
    let l = t.path().join("long-auto");
    ok_qc(&l, &["--quiet"], &["qc_long.bam"]);
    same_lines(
        &g.join("qc_long.wgs_metrics.count_unpaired"),
        &l.join("qcA.wgs_metrics"),
        false,
    );
    same_lines(
        &g.join("qc_long.samtools.stats.gz"),
        &l.join("qcA.stats"),
        true,
    );
    same_lines(
        &g.join("qc_long.gc_bias_metrics"),
        &l.join("qcA.gc_bias.detail_metrics"),
        false,
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(l.join("qcA.qc.json")).unwrap()).unwrap();
    assert_eq!(json["count_unpaired"], true);
    assert_eq!(json["read_type"], "long reads");
    assert!(
        json["metrics"]["read_length_n50"]["value"]
            .as_f64()
            .unwrap()
            > 1000.0
    );
    let id = json["metrics"]["mean_identity"]["value"].as_f64().unwrap();
    assert!(id > 0.8 && id < 1.0, "{id}");
}

#[test]
fn identity_sex_and_fingerprints() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("run1");
    let sites = qc_dir().join("qc_sites.vcf.gz");
    let sites = sites.display().to_string();
    ok_qc(
        &out,
        &["--sites", &sites, "--quiet"],
        &["qc_a.bam", "qc_b.bam"],
    );
    let j = |s: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(out.join(format!("{s}.qc.json"))).unwrap())
            .unwrap()
    };
    let (a, b) = (j("qcA"), j("qcB"));
    assert_eq!(a["sex"]["call"], "male", "{}", a["sex"]);
    assert_eq!(b["sex"]["call"], "female", "{}", b["sex"]);
    // The fingerprint's counts against the simulation's truth: at the homozygous sites with
    // 8 reads or more, the allele most reads show is the true one.
    let truth = std::fs::read_to_string(qc_dir().join("qc_truth.tsv")).unwrap();
    let fp = std::fs::read_to_string(out.join("qcA.fingerprint.tsv")).unwrap();
    assert!(fp.starts_with("#kasane fingerprint 1\n#sample\tqcA\n"));
    let counts: std::collections::HashMap<(String, String), [u32; 4]> = fp
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let c = [2, 3, 4, 5].map(|i| f[i].parse::<u32>().unwrap());
            ((f[0].to_string(), f[1].to_string()), c)
        })
        .collect();
    let (mut checked, mut agree) = (0, 0);
    for l in truth.lines().filter(|l| !l.starts_with('#')) {
        let f: Vec<&str> = l.split('\t').collect();
        let want = match f[5] {
            "0/0" => f[2],
            "1/1" => f[3],
            _ => continue,
        };
        let Some(c) = counts.get(&(f[0].to_string(), f[1].to_string())) else {
            continue;
        };
        if c.iter().sum::<u32>() < 8 {
            continue;
        }
        let best = (0..4).max_by_key(|&i| c[i]).unwrap();
        checked += 1;
        agree += ("ACGT".as_bytes()[best] == want.as_bytes()[0]) as u32;
    }
    assert!(
        checked >= 50 && agree * 100 >= checked * 95,
        "{agree} of {checked}"
    );
    let rel = std::fs::read_to_string(out.join("relatedness.tsv")).unwrap();
    let row = rel.lines().nth(1).unwrap();
    assert!(row.contains("unrelated"), "{rel}");

    // The same BAM under a second name is a duplicate; a new run checked against the first
    // run's fingerprints flags a sample whose fingerprint is another's (a swap).
    let dup = t.path().join("dup.bam");
    std::fs::copy(qc_dir().join("qc_a.bam"), &dup).unwrap();
    std::fs::copy(qc_dir().join("qc_a.bam.bai"), t.path().join("dup.bam.bai")).unwrap();
    let out2 = t.path().join("run2");
    let o = run_qc(
        &out2,
        &["--sites", &sites, "--quiet"],
        &["qc_a.bam", dup.to_str().unwrap()],
    );
    assert_eq!(
        o.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let rel = std::fs::read_to_string(out2.join("relatedness.tsv")).unwrap();
    assert!(rel.contains("duplicate or identical twin"), "{rel}");
    let tsv = std::fs::read_to_string(out2.join("qc.tsv")).unwrap();
    assert!(tsv.lines().skip(1).all(|l| l.contains("\tFAIL\t")), "{tsv}");

    // Against earlier fingerprints: qcA matches its own, passes.
    let fa = out.join("qcA.fingerprint.tsv").display().to_string();
    let out3 = t.path().join("run3");
    ok_qc(
        &out3,
        &["--sites", &sites, "--fingerprints", &fa, "--quiet"],
        &["qc_a.bam"],
    );
    let rel = std::fs::read_to_string(out3.join("relatedness.tsv")).unwrap();
    assert!(
        rel.contains("(earlier: ") && rel.contains("duplicate"),
        "{rel}"
    );
    // An earlier "qcA" that was really qcB's reads: today's qcA does not match it (a swap),
    // and matches nobody else's.
    let fb = std::fs::read_to_string(out.join("qcB.fingerprint.tsv")).unwrap();
    let fake = t.path().join("earlier-qcA.fingerprint.tsv");
    std::fs::write(&fake, fb.replace("#sample\tqcB\n", "#sample\tqcA\n")).unwrap();
    let out4 = t.path().join("run4");
    let o = run_qc(
        &out4,
        &[
            "--sites",
            &sites,
            "--fingerprints",
            fake.to_str().unwrap(),
            "--quiet",
        ],
        &["qc_a.bam"],
    );
    assert_eq!(
        o.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("does not match its earlier fingerprint"),
        "{err}"
    );
    // A fingerprint file that is not one.
    let o = run_qc(
        &t.path().join("run5"),
        &["--fingerprints", &sites],
        &["qc_a.bam"],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a kasane fingerprint"));
}

#[test]
fn thresholds_decide_pass_and_fail() {
    let t = tempfile::tempdir().unwrap();
    let rules = t.path().join("rules.toml");
    std::fs::write(
        &rules,
        "[min]\nMEAN_COVERAGE = 100\n[max]\nerror_rate = 0.5\n",
    )
    .unwrap();
    let out = t.path().join("out");
    let r = rules.display().to_string();
    let o = run_qc(&out, &["--thresholds", &r, "--quiet"], &["qc_b.bam"]);
    assert_eq!(o.status.code(), Some(3));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("FAIL: MEAN_COVERAGE"), "{err}");
    let tsv = std::fs::read_to_string(out.join("qc.tsv")).unwrap();
    assert!(tsv.contains("\tFAIL\t"), "{tsv}");
    assert!(
        tsv.contains("MEAN_COVERAGE") && tsv.contains("< 100"),
        "{tsv}"
    );

    std::fs::write(&rules, "[min]\nMEAN_COVERAGE = 1\n").unwrap();
    let out = t.path().join("out2");
    let o = run_qc(&out, &["--thresholds", &r, "--quiet"], &["qc_b.bam"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    // An unknown metric: one line naming the file and the nearest name; nothing written.
    std::fs::write(&rules, "[min]\nMEAN_COVERGE = 1\n").unwrap();
    let out = t.path().join("out3");
    let o = run_qc(&out, &["--thresholds", &r], &["qc_b.bam"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("rules.toml") && err.contains("did you mean 'MEAN_COVERAGE'"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(!out.join("qc.html").exists());
}

#[test]
fn bad_input_is_one_line_and_leaves_no_report() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("out");
    let check = |o: std::process::Output, must: &[&str]| {
        assert_eq!(
            o.status.code(),
            Some(1),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        for m in must {
            assert!(err.contains(m), "{m:?} not in {err}");
        }
        assert!(!out.join("qc.html").exists() && !out.join("qc.tsv").exists());
    };
    // A sites file on another reference.
    let other = t.path().join("other.vcf");
    std::fs::write(&other, "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n1\t100\t.\tA\tG\t.\t.\tAF=0.5\n").unwrap();
    check(
        run_qc(&out, &["--sites", other.to_str().unwrap()], &["qc_a.bam"]),
        &["other.vcf", "another reference"],
    );
    // CRAM without a reference.
    let o = kasane(&[
        "qc",
        "-o",
        out.to_str().unwrap(),
        repo().join("testdata/sample.cram").to_str().unwrap(),
    ]);
    check(o, &["sample.cram", "reference"]);
    // An output folder that cannot be made.
    let file = t.path().join("afile");
    std::fs::write(&file, "x").unwrap();
    let o = run_qc(&file.join("sub"), &[], &["qc_b.bam"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("afile"));
    // A truncated BAM: nothing left that looks finished.
    let cut = t.path().join("cut.bam");
    let data = std::fs::read(qc_dir().join("qc_b.bam")).unwrap();
    std::fs::write(&cut, &data[..data.len() / 2]).unwrap();
    check(run_qc(&out, &[], &[cut.to_str().unwrap()]), &["cut.bam"]);
    let left: Vec<_> = std::fs::read_dir(&out)
        .map(|d| d.map(|e| e.unwrap().file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
    // A BAM without read groups is one sample named after its file.
    let out2 = t.path().join("out2");
    let o = kasane(&[
        "qc",
        "-o",
        out2.to_str().unwrap(),
        "--quiet",
        repo().join("testdata/long.bam").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(out2.join("long.qc.json").exists());
}

#[test]
fn report_renders_in_a_browser_without_script_errors() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("out");
    let sites = qc_dir().join("qc_sites.vcf.gz");
    ok_qc(
        &out,
        &["--sites", sites.to_str().unwrap(), "--quiet"],
        &["qc_a.bam", "qc_b.bam", "qc_long.bam"],
    );
    common::renders_in_chromium(&out.join("qc.html"), 9, "qc-report.png");
}

/// The files of every regular file in `dir` but provenance, by name.
fn contents(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && !p.to_string_lossy().ends_with(".kasane.json"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn coverage_rides_along_in_the_same_reading() {
    let t = tempfile::tempdir().unwrap();
    let bam = qc_dir().join("qc_a.bam");
    let bam = bam.to_str().unwrap();
    let (fused, apart) = (t.path().join("fused"), t.path().join("apart"));
    for d in [&fused, &apart] {
        std::fs::create_dir_all(d.join("cov")).unwrap();
    }
    let prefix = fused.join("cov/S");
    ok_qc(
        &fused.join("qc"),
        &[
            "--quiet",
            "--coverage",
            prefix.to_str().unwrap(),
            "--coverage-arg=--by",
            "--coverage-arg=500",
            "--coverage-arg=--thresholds",
            "--coverage-arg=1,10,20",
        ],
        &["qc_a.bam"],
    );
    ok_qc(&apart.join("qc"), &["--quiet"], &["qc_a.bam"]);
    let p = apart.join("cov/S");
    let o = kasane(&[
        "coverage",
        "--by",
        "500",
        "--thresholds",
        "1,10,20",
        p.to_str().unwrap(),
        bam,
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for sub in ["qc", "cov"] {
        let (a, b) = (contents(&fused.join(sub)), contents(&apart.join(sub)));
        assert!(a.len() >= 4, "{sub}: {} files", a.len());
        assert_eq!(
            a.iter().map(|f| &f.0).collect::<Vec<_>>(),
            b.iter().map(|f| &f.0).collect::<Vec<_>>()
        );
        for (x, y) in a.iter().zip(&b) {
            assert!(x.1 == y.1, "{sub}/{} differs from a run of its own", x.0);
        }
    }
    // The coverage run's provenance says it read as much as qc did.
    let prov: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fused.join("cov/S.kasane.json")).unwrap())
            .unwrap();
    assert!(prov["records_read"].as_u64().unwrap() > 1000, "{prov}");

    // Misuse is one line, and no report is left.
    let bad = t.path().join("bad");
    for (extra, inputs, want) in [
        (
            vec!["--coverage", prefix.to_str().unwrap()],
            vec!["qc_a.bam", "qc_b.bam"],
            "single input",
        ),
        (
            vec!["--coverage-arg=-n"],
            vec!["qc_a.bam"],
            "needs --coverage",
        ),
        (
            vec![
                "--coverage",
                prefix.to_str().unwrap(),
                "--coverage-arg=--chrom",
                "--coverage-arg=chr1",
            ],
            vec!["qc_a.bam"],
            "--chrom",
        ),
    ] {
        let o = run_qc(&bad, &extra, &inputs);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{extra:?}");
        assert!(
            err.contains(want) && err.trim().lines().count() == 1,
            "{err}"
        );
        assert!(!bad.join("qc.html").exists());
    }
}
