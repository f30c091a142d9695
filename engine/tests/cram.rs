//! CRAM through htslib: files other writers made (htsjdk, CRAM 2.1 and 3.1) read where htslib
//! reads them, failures are one line, and a reference that disagrees with the header stops.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{files, repo};

/// htslib's test corpus (Debian's `htslib-test`), or `None` with a printed reason. With
/// `KASANE_REQUIRE_HTSLIB_TEST=1` a missing corpus fails the test instead.
fn corpus() -> Option<PathBuf> {
    let dir = PathBuf::from("/usr/share/htslib-test/test");
    if dir.join("ce#5b_java.cram").is_file() {
        return Some(dir);
    }
    if std::env::var("KASANE_REQUIRE_HTSLIB_TEST").as_deref() == Ok("1") {
        panic!("{} is missing (install htslib-test)", dir.display());
    }
    eprintln!(
        "skipped: {} is missing (install htslib-test)",
        dir.display()
    );
    None
}

struct Run {
    ok: bool,
    stderr: String,
    /// Files left in the output folder.
    left: Vec<String>,
}

/// Runs `kasane <cmd>` on `input` with reference `fasta`, writing into a fresh folder.
fn run(cmd: &str, input: &Path, fasta: &Path) -> Run {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path();
    let mut args: Vec<String> = vec![cmd.into(), "-f".into(), fasta.display().to_string()];
    match cmd {
        "coverage" => args.push(out.join("o").display().to_string()),
        "call" => args.extend(["-o".into(), out.join("o.vcf.gz").display().to_string()]),
        "sv" => args.extend(["-o".into(), out.join("o.sv.vcf.gz").display().to_string()]),
        _ => unreachable!(),
    }
    args.push(input.display().to_string());
    let o = Command::new(env!("CARGO_BIN_EXE_kasane"))
        .current_dir(repo())
        .args(&args)
        .env_remove("REF_PATH")
        .output()
        .unwrap();
    let mut left: Vec<String> = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    Run {
        ok: o.status.success(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        left,
    }
}

/// A clean result, or one error line with nothing left behind; never a panic.
fn assert_clean(cmd: &str, input: &Path, r: &Run) {
    let what = format!("{cmd} {}", input.display());
    assert!(
        !r.stderr.contains("panicked"),
        "{what}: panicked: {}",
        r.stderr
    );
    assert!(
        !r.left.iter().any(|f| f.contains("kasane-tmp")),
        "{what}: temporary files left: {:?}",
        r.left
    );
    if !r.ok {
        assert_eq!(
            r.stderr.trim_end().lines().count(),
            1,
            "{what}: not one line: {}",
            r.stderr
        );
        assert!(
            r.stderr.starts_with("kasane: error: "),
            "{what}: {}",
            r.stderr
        );
        assert!(r.left.is_empty(), "{what}: files left: {:?}", r.left);
    }
    // htslib's own messages ("[E::...]", "[W::...]") are silenced.
    assert!(!r.stderr.contains("[E::"), "{what}: {}", r.stderr);
    assert!(!r.stderr.contains("[W::"), "{what}: {}", r.stderr);
}

#[test]
fn htsjdk_cram_ce_5b_java_reads_in_coverage_call_and_sv() {
    // noodles panicked with `capacity overflow` here (and call left a .kasane-tmp).
    let Some(t) = corpus() else { return };
    let input = t.join("ce#5b_java.cram");
    for cmd in ["coverage", "call", "sv"] {
        let r = run(cmd, &input, &t.join("ce.fa"));
        assert_clean(cmd, &input, &r);
        assert!(r.ok, "{cmd}: {}", r.stderr);
    }
}

#[test]
fn htsjdk_written_crams_and_range_cram_read_cleanly_or_fail_in_one_line() {
    let Some(t) = corpus() else { return };
    let cases = [
        ("auxf#values_java.cram", "auxf.fa"),
        ("xx#large_aux_java.cram", "xx.fa"),
        ("range.cram", "ce.fa"),
    ];
    for (cram, fasta) in cases {
        let input = t.join(cram);
        for cmd in ["coverage", "call", "sv"] {
            let r = run(cmd, &input, &t.join(fasta));
            assert_clean(cmd, &input, &r);
            if cram != "xx#large_aux_java.cram" {
                // samtools reads these; so must kasane.
                assert!(r.ok, "{cmd} {cram}: {}", r.stderr);
            }
        }
    }
}

#[test]
fn cram_header_length_disagreeing_with_the_reference_is_refused() {
    // testdata/xx30.cram says `xx LN:30`; xx20.fa holds 20 bp. htslib silently takes 20
    // (mosdepth then fails on a read past it); the old reader took 30. Neither is right.
    let root = repo();
    let input = root.join("testdata/xx30.cram");
    let fasta = root.join("testdata/xx20.fa");
    for cmd in ["coverage", "call", "sv"] {
        let r = run(cmd, &input, &fasta);
        assert_clean(cmd, &input, &r);
        assert!(
            !r.ok,
            "{cmd}: accepted a 30 bp contig against a 20 bp reference"
        );
        for m in ["xx30.cram", "xx20.fa", "contig xx", "30 bp", "20 bp"] {
            assert!(r.stderr.contains(m), "{cmd}: no {m:?} in {}", r.stderr);
        }
    }
}

#[test]
fn htsjdk_cram_with_a_header_length_disagreeing_with_the_reference_is_refused() {
    let Some(t) = corpus() else { return };
    let r = run(
        "coverage",
        &t.join("xx#large_aux_java.cram"),
        &t.join("xx.fa"),
    );
    assert!(!r.ok);
    assert!(r.stderr.contains("contig xx is 30 bp"), "{}", r.stderr);
}

/// The files `kasane coverage ARGS` writes for `input`, under a prefix of the same name.
fn coverage_files(input: &str, args: &[&str]) -> Vec<(PathBuf, Vec<u8>)> {
    let tmp = tempfile::tempdir().unwrap();
    let prefix = tmp.path().join("out");
    let mut a = vec!["coverage", "-f", "testdata/ref.fa"];
    a.extend_from_slice(args);
    let prefix = prefix.to_str().unwrap().to_string();
    a.push(&prefix);
    a.push(input);
    common::ok(&a);
    files(tmp.path())
        .into_iter()
        .filter(|(p, _)| !p.to_string_lossy().ends_with(".kasane.json"))
        .collect()
}

/// `cram` gives the BAM's coverage in fast mode, and sample.cram's (CRAM 3.0) in every mode.
/// Mate-overlap correction looks at a read's number of CIGAR operations, which htslib's CRAM
/// decoder changes (`=`/`X` become `M` and merge), so there BAM and CRAM differ for mosdepth
/// as well; the goldens hold mosdepth's own CRAM results.
fn assert_same_coverage(cram: &str) {
    let sets: [&[&str]; 4] = [&[], &["-b", "500"], &["-R", "rg2", "-Q", "10"], &["-x"]];
    for args in sets {
        let want = if args == ["-x"] {
            coverage_files("testdata/sample.bam", args)
        } else {
            coverage_files("testdata/sample.cram", args)
        };
        assert!(!want.is_empty());
        assert!(
            want == coverage_files(cram, args),
            "{cram} {args:?}: coverage differs"
        );
    }
}

#[test]
fn cram_2_1_gives_the_bam_coverage() {
    let head = std::fs::read(repo().join("testdata/sample.v21.cram")).unwrap();
    assert_eq!(&head[..6], b"CRAM\x02\x01");
    assert_same_coverage("testdata/sample.v21.cram");
}

#[test]
fn cram_3_1_gives_the_bam_coverage() {
    let head = std::fs::read(repo().join("testdata/sample.v31.cram")).unwrap();
    assert_eq!(&head[..6], b"CRAM\x03\x01");
    assert_same_coverage("testdata/sample.v31.cram");
}

#[test]
fn cram_2_1_and_3_1_give_the_bam_calls() {
    let body = |input: &str| -> Vec<String> {
        let tmp = tempfile::tempdir().unwrap();
        let o = tmp.path().join("o.vcf.gz");
        common::ok(&[
            "call",
            "-f",
            "testdata/ref.fa",
            "-o",
            o.to_str().unwrap(),
            input,
        ]);
        common::gunzip(&o)
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(String::from)
            .collect()
    };
    let bam = body("testdata/sample.bam");
    assert!(!bam.is_empty());
    assert_eq!(body("testdata/sample.v21.cram"), bam);
    assert_eq!(body("testdata/sample.v31.cram"), bam);
}

#[test]
fn cram_sample_name_comes_from_the_read_group_as_for_bam() {
    // The old reader kept no header text, so a CRAM's VCF column was named after the file.
    let tmp = tempfile::tempdir().unwrap();
    let o = tmp.path().join("o.vcf.gz");
    common::ok(&[
        "call",
        "-f",
        "testdata/ref.fa",
        "-o",
        o.to_str().unwrap(),
        "testdata/sample.cram",
    ]);
    let text = common::gunzip(&o);
    let chrom = text.lines().find(|l| l.starts_with("#CHROM")).unwrap();
    assert!(chrom.ends_with("\tsampleA"), "{chrom}");
}

#[test]
fn damaged_cram_fails_in_one_line() {
    // A container cut in half: htslib's decoder fails; its own messages stay silent.
    let tmp = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(repo().join("testdata/sample.cram")).unwrap();
    let cut = tmp.path().join("cut.cram");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    for cmd in ["coverage", "call", "sv"] {
        let r = run(cmd, &cut, &repo().join("testdata/ref.fa"));
        assert_clean(cmd, &cut, &r);
        assert!(!r.ok, "{cmd}: a cut CRAM was accepted");
        assert!(r.stderr.contains("cut.cram"), "{}", r.stderr);
    }
}

/// Every output of coverage, call and sv for `input`, without provenance and index files and
/// the VCF sample column line (named after the file for a BAM without `@RG`).
fn all_outputs(input: &str, fasta: &str) -> Vec<(String, String)> {
    let tmp = tempfile::tempdir().unwrap();
    let p = |n: &str| tmp.path().join(n).to_str().unwrap().to_string();
    common::ok(&["coverage", "-f", fasta, &p("o"), input]);
    common::ok(&["call", "-f", fasta, "-o", &p("c.vcf.gz"), input]);
    common::ok(&["sv", "-f", fasta, "-o", &p("s.vcf.gz"), input]);
    let mut out = Vec::new();
    for (rel, _) in files(tmp.path()) {
        let path = tmp.path().join(&rel);
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with(".json") || name.ends_with(".tbi") || name.ends_with(".csi") {
            continue;
        }
        let text: String = text_of(&path)
            .lines()
            .filter(|l| !l.starts_with("#CHROM"))
            .map(|l| format!("{l}\n"))
            .collect();
        out.push((name, text));
    }
    assert!(out.len() >= 5, "{out:?}");
    out
}

#[test]
fn bcftools_indel_ad_cram_reads_as_its_bam() {
    // noodles panicked in its sequence iterator ("range start index 687 out of range").
    let fa = "testdata/bcftools/indel-AD.1.fa";
    assert_eq!(
        all_outputs("testdata/bcftools/indel-AD.1.cram", fa),
        all_outputs("testdata/bcftools/indel-AD.1.bam", fa)
    );
}

#[test]
fn bcftools_cram_2_1_mpileup_4_reads_as_its_bam() {
    // Refused before with "container header checksum mismatch" (CRAM 2.1 has no CRC32).
    let head = std::fs::read(repo().join("testdata/bcftools/mpileup.4.cram")).unwrap();
    assert_eq!(&head[..6], b"CRAM\x02\x01");
    let fa = "testdata/bcftools/mpileup.ref.fa";
    assert_eq!(
        all_outputs("testdata/bcftools/mpileup.4.cram", fa),
        all_outputs("testdata/bcftools/mpileup.4.bam", fa)
    );
}

/// A file's text, gunzipped when it is gzip or BGZF.
fn text_of(p: &Path) -> String {
    let bytes = std::fs::read(p).unwrap();
    if bytes.starts_with(&[0x1f, 0x8b]) {
        common::gunzip(p)
    } else {
        String::from_utf8(bytes).unwrap()
    }
}

#[test]
fn coverage_on_cram_asks_htslib_for_no_bases() {
    // Only the fields coverage reads are decoded (CRAM_OPT_REQUIRED_FIELDS): with a FASTA of
    // the right names and lengths but other bases, coverage is unchanged (the bases are never
    // reconstructed), while call, which needs them, fails on htslib's reference MD5 check.
    let tmp = tempfile::tempdir().unwrap();
    let fa = tmp.path().join("other.fa");
    let text = std::fs::read_to_string(repo().join("testdata/ref.fa")).unwrap();
    let other: String = text
        .lines()
        .map(|l| {
            if l.starts_with('>') {
                format!("{l}\n")
            } else {
                format!("{}\n", l.replace('A', "C"))
            }
        })
        .collect();
    std::fs::write(&fa, other).unwrap();
    std::fs::copy(
        repo().join("testdata/ref.fa.fai"),
        tmp.path().join("other.fa.fai"),
    )
    .unwrap();
    let cov = |fasta: &Path| {
        let d = tempfile::tempdir().unwrap();
        let prefix = d.path().join("o");
        common::ok(&[
            "coverage",
            "-f",
            fasta.to_str().unwrap(),
            prefix.to_str().unwrap(),
            "testdata/sample.cram",
        ]);
        common::gunzip(&d.path().join("o.per-base.bed.gz"))
    };
    assert_eq!(cov(&fa), cov(&repo().join("testdata/ref.fa")));
    let r = run("call", &repo().join("testdata/sample.cram"), &fa);
    assert_clean("call", &fa, &r);
    assert!(!r.ok, "call decoded bases against the wrong reference");
}
