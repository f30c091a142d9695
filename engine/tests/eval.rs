//! `kasane eval`: SV counts against truvari bench 5.4.0's own summary.json files (126
//! parameter sets over truvari's test files and tie-heavy synthetic sets, committed in
//! testdata/eval/truvari with the script that made them), small variants matched by
//! haplotype (planted equivalent representations), strata, several call sets, thread-count
//! invariance, the report in a browser, and bad input.

mod common;

use std::path::{Path, PathBuf};

use common::{kasane, repo, Rng};
use serde_json::Value;

fn truvari_dir() -> PathBuf {
    repo().join("testdata/eval/truvari")
}

fn run_eval(cwd: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_kasane"))
        .current_dir(cwd)
        .arg("eval")
        .arg("--quiet")
        .args(args)
        .output()
        .unwrap()
}

fn summary(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap()
}

/// Every case of cases.tsv gives truvari's summary.json numbers (each field truvari writes).
#[test]
fn sv_counts_equal_truvari_bench() {
    let dir = truvari_dir();
    let cases = std::fs::read_to_string(dir.join("cases.tsv")).unwrap();
    let t = tempfile::tempdir().unwrap();
    let mut n = 0;
    for line in cases.lines().filter(|l| !l.starts_with('#')) {
        let f: Vec<&str> = line.split('\t').collect();
        let (name, args) = (f[0], f[2]);
        let out = t.path().join(name);
        let mut a: Vec<&str> = args.split(' ').collect();
        let o = out.to_str().unwrap();
        a.extend(["-o", o]);
        let r = run_eval(&dir, &a);
        assert!(
            r.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&r.stderr)
        );
        let golden: Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join(format!("golden/{name}.summary.json"))).unwrap(),
        )
        .unwrap();
        let ours = &summary(&out)["callsets"][0]["SV"];
        for k in [
            "TP-base",
            "TP-comp",
            "FP",
            "FN",
            "precision",
            "recall",
            "f1",
            "base cnt",
            "comp cnt",
            "TP-comp_TP-gt",
            "TP-comp_FP-gt",
            "TP-base_TP-gt",
            "TP-base_FP-gt",
            "gt_concordance",
            "gt_matrix",
        ] {
            assert_eq!(golden[k], ours[k], "{name}: {k} ({args})");
        }
        n += 1;
    }
    assert!(n >= 120, "only {n} cases");
}

/// A reference with a dinucleotide repeat, and VCF lines on it.
struct Planted {
    seq: Vec<u8>,
}

impl Planted {
    fn new() -> Self {
        let mut seq = Rng(7).seq(4000);
        // (AC)x8 at 1000..1016.
        for i in 0..16 {
            seq[1000 + i] = if i % 2 == 0 { b'A' } else { b'C' };
        }
        seq[999] = b'G';
        seq[1016] = b'T';
        Planted { seq }
    }

    /// REF bases at 1-based `pos`, length `n`.
    fn r(&self, pos: usize, n: usize) -> String {
        String::from_utf8(self.seq[pos - 1..pos - 1 + n].to_vec()).unwrap()
    }

    /// A base other than the reference's at `pos`.
    fn other(&self, pos: usize) -> char {
        match self.seq[pos - 1] {
            b'A' => 'G',
            b'G' => 'A',
            b'C' => 'T',
            _ => 'C',
        }
    }
}

fn vcf(path: &Path, sample: &str, recs: &[(usize, String, String, &str, &str)]) {
    let mut s = String::from(
        "##fileformat=VCFv4.2\n##contig=<ID=chr1,length=4000>\n\
         ##FORMAT=<ID=GT,Number=1,Type=String,Description=\"Genotype\">\n",
    );
    s.push_str(&format!(
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t{sample}\n"
    ));
    for (pos, r, a, gt, qual) in recs {
        s.push_str(&format!(
            "chr1\t{pos}\t.\t{r}\t{a}\t{qual}\tPASS\t.\tGT\t{gt}\n"
        ));
    }
    std::fs::write(path, s).unwrap();
}

/// Equivalent representations match: an MNP and its SNVs, a deletion written at either end
/// of a repeat, a complex allele and its parts; wrong alleles and genotypes count as such.
#[test]
fn small_variants_match_by_haplotype() {
    let p = Planted::new();
    let t = tempfile::tempdir().unwrap();
    let fa = t.path().join("ref.fa");
    common::write_fasta(&fa, &[("chr1", &p.seq)]);
    // Complex: a 2-bp deletion after 2000 and an SNV at 2006, as one record in the calls
    // (whose atoms, aligned from the start, are other SNVs and a deletion at the end).
    let complex_ref = p.r(2000, 10);
    let mut hap: Vec<u8> = complex_ref.clone().into_bytes();
    hap[6] = p.other(2006) as u8;
    hap.drain(1..3); // deletes 2001..2002
    let complex_alt = String::from_utf8(hap).unwrap();
    let truth = vec![
        // MNP as two SNVs.
        (500, p.r(500, 1), p.other(500).to_string(), "0/1", "."),
        (501, p.r(501, 1), p.other(501).to_string(), "0/1", "."),
        // Deletion of one AC unit at the start of the repeat (1-based 1001..1016; anchor G
        // at 1000).
        (1000, p.r(1000, 3), p.r(1000, 1), "1/1", "."),
        // The complex allele's parts.
        (2000, p.r(2000, 3), p.r(2000, 1), "0/1", "."),
        (2006, p.r(2006, 1), p.other(2006).to_string(), "0/1", "."),
        // Missed by the calls.
        (3000, p.r(3000, 1), p.other(3000).to_string(), "0/1", "."),
        // Genotype differs in the calls.
        (3500, p.r(3500, 1), p.other(3500).to_string(), "1/1", "."),
    ];
    let calls = vec![
        (
            500,
            p.r(500, 2),
            format!("{}{}", p.other(500), p.other(501)),
            "0/1",
            "50",
        ),
        // The same deletion at the end of the repeat: after the last AC, anchor at 1014.
        (1014, p.r(1014, 3), p.r(1014, 1), "1/1", "40"),
        (2000, complex_ref.clone(), complex_alt.clone(), "0/1", "30"),
        (3500, p.r(3500, 1), p.other(3500).to_string(), "0/1", "20"),
        // A false positive.
        (3700, p.r(3700, 1), p.other(3700).to_string(), "0/1", "5"),
    ];
    let (tv, cv) = (t.path().join("truth.vcf"), t.path().join("calls.vcf"));
    vcf(&tv, "T", &truth);
    vcf(&cv, "C", &calls);
    let out = t.path().join("out");
    let r = run_eval(
        t.path(),
        &[
            "-f",
            fa.to_str().unwrap(),
            "--truth",
            "truth.vcf",
            "--calls",
            "calls.vcf",
            "-o",
            out.to_str().unwrap(),
        ],
    );
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let s = summary(&out);
    let cs = &s["callsets"][0];
    let snv = &cs["SNV"]["allele"];
    let indel = &cs["INDEL"]["allele"];
    // Truth SNVs: 500, 501, 2006, 3000, 3500 -> 4 matched (3000 missed).
    assert_eq!(snv["TRUTH.TOTAL"], 5, "{cs}");
    assert_eq!(snv["TRUTH.TP"], 4, "{cs}");
    // Truth indels: the repeat deletion and the complex's deletion, both matched.
    assert_eq!(indel["TRUTH.TOTAL"], 2, "{cs}");
    assert_eq!(indel["TRUTH.TP"], 2, "{cs}");
    // Calls: every atom matched but the false positive.
    let fp = snv["QUERY.FP"].as_u64().unwrap() + indel["QUERY.FP"].as_u64().unwrap();
    assert_eq!(fp, 1, "{cs}");
    // Genotype level: 3500 is het in the calls, hom in the truth.
    assert_eq!(cs["SNV"]["genotype"]["TRUTH.TP"], 3, "{cs}");
    assert_eq!(cs["SNV"]["FP.gt"], 1, "{cs}");
    // The complex call is annotated as matched by haplotype.
    let tp = common::gunzip(&out.join("calls.tp-comp.vcf.gz"));
    let line = tp
        .lines()
        .find(|l| l.contains(&complex_alt) && !l.starts_with('#'))
        .unwrap();
    assert!(
        line.contains("KEVAL=TP") && line.contains("KEVAL_HAP"),
        "{line}"
    );
    let fps = common::gunzip(&out.join("calls.fp.vcf.gz"));
    assert_eq!(
        fps.lines().filter(|l| !l.starts_with('#')).count(),
        1,
        "{fps}"
    );
    // hap.py's summary.csv: header and the PASS rows.
    let csv = std::fs::read_to_string(out.join("summary.csv")).unwrap();
    assert!(csv.starts_with("Type,Filter,TRUTH.TOTAL,TRUTH.TP,TRUTH.FN,QUERY.TOTAL,QUERY.FP"));
    let snp_row = csv.lines().find(|l| l.starts_with("SNP,PASS,")).unwrap();
    assert!(snp_row.starts_with("SNP,PASS,5,3,2,"), "{snp_row}");
}

/// Strata, confident regions, several call sets, and the same files at 1 and 3 threads.
#[test]
fn strata_callsets_and_threads() {
    let p = Planted::new();
    let t = tempfile::tempdir().unwrap();
    let fa = t.path().join("ref.fa");
    common::write_fasta(&fa, &[("chr1", &p.seq)]);
    let snv = |pos: usize, gt: &'static str, q: &'static str| {
        (pos, p.r(pos, 1), p.other(pos).to_string(), gt, q)
    };
    let truth: Vec<_> = (1..20).map(|k| snv(k * 150, "0/1", ".")).collect();
    let a: Vec<_> = (1..15)
        .map(|k| snv(k * 150, "0/1", "30"))
        .chain([snv(3333, "0/1", "2")])
        .collect();
    let b: Vec<_> = (5..20).map(|k| snv(k * 150, "0/1", "30")).collect();
    vcf(&t.path().join("truth.vcf"), "T", &truth);
    vcf(&t.path().join("a.vcf"), "A", &a);
    vcf(&t.path().join("b.vcf"), "B", &b);
    std::fs::write(t.path().join("first.bed"), "chr1\t0\t1000\n").unwrap();
    std::fs::write(t.path().join("conf.bed"), "chr1\t0\t3000\n").unwrap();
    std::fs::write(t.path().join("strata.tsv"), "late\tlate.bed\n").unwrap();
    std::fs::write(t.path().join("late.bed"), "chr1\t2000\t4000\n").unwrap();
    let mut outs = Vec::new();
    for threads in ["1", "3"] {
        let out = t.path().join(format!("out{threads}"));
        let r = run_eval(
            t.path(),
            &[
                "-f",
                fa.to_str().unwrap(),
                "--truth",
                "truth.vcf",
                "--calls",
                "a.vcf",
                "--calls",
                "b.vcf",
                "--stratify",
                "first=first.bed",
                "--stratify-tsv",
                "strata.tsv",
                "--truth-regions",
                "conf.bed",
                "-t",
                threads,
                "-o",
                out.to_str().unwrap(),
            ],
        );
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
        outs.push(out);
    }
    let s = summary(&outs[0]);
    assert_eq!(s["strata"], serde_json::json!(["*", "first", "late"]));
    let (a, b) = (&s["callsets"][0], &s["callsets"][1]);
    assert_eq!(
        (a["name"].as_str(), b["name"].as_str()),
        (Some("a"), Some("b"))
    );
    // Confident regions: truth at 150..2850 (19 SNVs), calls at 3333 are UNK.
    assert_eq!(a["SNV"]["allele"]["TRUTH.TOTAL"], 19);
    assert_eq!(a["SNV"]["allele"]["TRUTH.TP"], 14);
    assert_eq!(a["SNV"]["QUERY.UNK"], 1);
    assert_eq!(a["SNV"]["allele"]["QUERY.FP"], 0);
    assert_eq!(b["SNV"]["allele"]["TRUTH.TP"], 15);
    // Stratum "first" (0..1000): truth at 150..900 = 6; call set b starts at 750.
    let first = &b["strata"][1];
    assert_eq!(first["stratum"], "first");
    assert_eq!(first["types"]["SNV"]["*"]["allele"]["TRUTH.TOTAL"], 6);
    assert_eq!(first["types"]["SNV"]["*"]["allele"]["TRUTH.TP"], 2);
    let tsv = std::fs::read_to_string(outs[0].join("strata.tsv")).unwrap();
    assert!(
        tsv.lines()
            .any(|l| l.starts_with("b\tlate\tSNV\t*\tallele\t")),
        "{tsv}"
    );
    // The precision-recall curve finds the threshold that drops the low-score call... which
    // is outside the confident regions here, so every threshold keeps precision 1.
    assert!(a["curves"]["SNV"]["best"]["precision"].as_f64().unwrap() > 0.99);
    // Threads change nothing (the provenance file records them).
    for f in ["summary.json", "summary.csv", "strata.tsv", "report.html"] {
        assert_eq!(
            std::fs::read(outs[0].join(f)).unwrap(),
            std::fs::read(outs[1].join(f)).unwrap(),
            "{f}"
        );
    }
    for f in ["a.tp-base.vcf.gz", "b.fp.vcf.gz", "a.fn.vcf.gz"] {
        assert_eq!(
            common::gunzip(&outs[0].join(f)),
            common::gunzip(&outs[1].join(f)),
            "{f}"
        );
    }
    common::renders_in_chromium(&outs[0].join("report.html"), 4, "eval-report.png");
}

/// The report of an SV evaluation draws too (SV curves and subsets).
#[test]
fn sv_report_renders() {
    let dir = truvari_dir();
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("o");
    let r = run_eval(
        &dir,
        &[
            "-f",
            "inputs/reference.fa",
            "--truth",
            "inputs/input1.vcf.gz",
            "--calls",
            "inputs/input2.vcf.gz",
            "--calls",
            "inputs/input3.vcf.gz",
            "--dup-to-ins",
            "-o",
            out.to_str().unwrap(),
        ],
    );
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let s = summary(&out);
    assert_eq!(s["callsets"].as_array().unwrap().len(), 2);
    common::renders_in_chromium(&out.join("report.html"), 6, "eval-sv-report.png");
}

/// Bad input: one line naming the file and the record; nothing left in the output folder.
#[test]
fn bad_input_is_named() {
    let p = Planted::new();
    let t = tempfile::tempdir().unwrap();
    let fa = t.path().join("ref.fa");
    common::write_fasta(&fa, &[("chr1", &p.seq)]);
    let good = vec![(100, p.r(100, 1), p.other(100).to_string(), "0/1", ".")];
    vcf(&t.path().join("good.vcf"), "S", &good);
    let cases: Vec<(&str, String, &str)> = vec![
        ("unsorted", format!("chr1\t200\t.\t{}\tA\t.\tPASS\t.\tGT\t0/1\nchr1\t100\t.\t{}\tA\t.\tPASS\t.\tGT\t0/1\n", p.r(200, 1), p.r(100, 1)), "not sorted"),
        ("other_contig", "chr9\t100\t.\tA\tC\t.\tPASS\t.\tGT\t0/1\n".into(), "not in the reference"),
        ("wrong_ref", format!("chr1\t100\t.\t{}\t{}\t.\tPASS\t.\tGT\t0/1\n", p.other(100), p.r(100, 1)), "does not match the reference"),
        ("short_line", "chr1\t100\t.\tA\n".into(), "8 tab-separated"),
        ("bad_pos", "chr1\tx\t.\tA\tC\t.\tPASS\t.\tGT\t0/1\n".into(), "POS 'x'"),
    ];
    for (name, body, want) in cases {
        let f = t.path().join(format!("{name}.vcf"));
        std::fs::write(
            &f,
            format!(
                "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS\n{body}"
            ),
        )
        .unwrap();
        let out = t.path().join(format!("out_{name}"));
        let r = run_eval(
            t.path(),
            &[
                "-f",
                fa.to_str().unwrap(),
                "--truth",
                "good.vcf",
                "--calls",
                f.to_str().unwrap(),
                "-o",
                out.to_str().unwrap(),
            ],
        );
        let err = String::from_utf8_lossy(&r.stderr);
        assert!(!r.status.success(), "{name}: succeeded");
        assert!(
            err.contains(&format!("{name}.vcf")) && err.contains(want),
            "{name}: {err}"
        );
        assert_eq!(err.trim().lines().count(), 1, "{name}: {err}");
        assert!(!out.exists(), "{name}: output folder left behind");
    }
    // A named sample the truth lacks; a stratum on another assembly; a missing file.
    let out = t.path().join("o");
    let o = out.to_str().unwrap();
    let fa = fa.to_str().unwrap();
    let r = run_eval(
        t.path(),
        &[
            "-f",
            fa,
            "--truth",
            "good.vcf",
            "--truth-sample",
            "X",
            "--calls",
            "good.vcf",
            "-o",
            o,
        ],
    );
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(
        err.contains("no sample 'X'") && err.contains("good.vcf"),
        "{err}"
    );
    std::fs::write(t.path().join("hg.bed"), "chrZ\t1\t100\n").unwrap();
    let r = run_eval(
        t.path(),
        &[
            "-f",
            fa,
            "--truth",
            "good.vcf",
            "--calls",
            "good.vcf",
            "--stratify",
            "x=hg.bed",
            "-o",
            o,
        ],
    );
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(
        err.contains("hg.bed") && err.contains("another assembly"),
        "{err}"
    );
    let r = run_eval(
        t.path(),
        &[
            "-f", fa, "--truth", "nope.vcf", "--calls", "good.vcf", "-o", o,
        ],
    );
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(!r.status.success() && err.contains("nope.vcf"), "{err}");
    assert!(!out.exists());
    // Truth records that cannot both hold: a warning naming them, the run goes on.
    let third = |pos: usize| -> String {
        let (r, o) = (p.r(pos, 1), p.other(pos).to_string());
        ["A", "C", "G", "T"]
            .iter()
            .find(|b| **b != r && **b != o)
            .unwrap()
            .to_string()
    };
    let clash = vec![
        (301, p.r(301, 1), p.other(301).to_string(), "1/1", "."),
        (301, p.r(301, 1), third(301), "0/1", "."),
    ];
    vcf(&t.path().join("clash.vcf"), "S", &clash);
    let r = run_eval(
        t.path(),
        &[
            "-f",
            fa,
            "--truth",
            "clash.vcf",
            "--calls",
            "good.vcf",
            "-o",
            o,
        ],
    );
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(r.status.success(), "{err}");
    assert!(
        err.contains("clash.vcf") && err.contains("cannot both hold") && err.contains("chr1:301"),
        "{err}"
    );
    std::fs::remove_dir_all(&out).unwrap();
    // A truncated bgzipped VCF.
    let gz = t.path().join("cut.vcf.gz");
    let bytes = std::fs::read(truvari_dir().join("inputs/input2.vcf.gz")).unwrap();
    std::fs::write(&gz, &bytes[..bytes.len() / 2]).unwrap();
    let r = kasane(&[
        "eval",
        "--quiet",
        "--truth",
        truvari_dir().join("inputs/input1.vcf.gz").to_str().unwrap(),
        "--calls",
        gz.to_str().unwrap(),
        "-o",
        o,
    ]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(!r.status.success() && err.contains("cut.vcf.gz"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(!out.exists());
}

/// Small variants against `score_small.py` (`bcftools norm -a -m -both` then exact matching;
/// goldens in testdata/eval/small/golden, made by testdata/eval/small/make_golden.sh): where
/// both files write variants the same way the allele-level counts are equal; where the calls
/// write planted variants another way (testdata/eval/small/planted.tsv), score_small counts
/// them as FP and FN and kasane, matching haplotypes, gives the counts of the agreeing file.
#[test]
fn small_counts_equal_score_small_where_representations_agree() {
    let dir = repo().join("testdata/eval/small");
    let t = tempfile::tempdir().unwrap();
    let golden = |name: &str| -> Value {
        serde_json::from_str(
            &std::fs::read_to_string(dir.join(format!("golden/score_small.{name}.json"))).unwrap(),
        )
        .unwrap()
    };
    let run = |calls: &str| -> Value {
        let out = t.path().join(calls);
        let r = run_eval(
            &dir,
            &[
                "-f",
                "../../ref.fa",
                "--truth",
                "truth.vcf.gz",
                "--calls",
                &format!("{calls}.vcf.gz"),
                "-o",
                out.to_str().unwrap(),
            ],
        );
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
        summary(&out)["callsets"][0].clone()
    };
    let agree = golden("agree");
    let ours = run("calls_agree");
    for (k, g) in [("SNV", "snv"), ("INDEL", "indel")] {
        let a = &ours[k]["allele"];
        assert_eq!(a["TRUTH.TP"], agree[g]["tp"], "{k}: {ours}");
        assert_eq!(a["TRUTH.FN"], agree[g]["fn"], "{k}: {ours}");
        assert_eq!(a["QUERY.FP"], agree[g]["fp"], "{k}: {ours}");
        assert_eq!(a["QUERY.TP"], agree[g]["tp"], "{k}: {ours}");
    }
    // The planted differences: score_small loses them, kasane finds the agreeing counts.
    let differ = golden("differ");
    let ours = run("calls_differ");
    for (k, g) in [("SNV", "snv"), ("INDEL", "indel")] {
        let a = &ours[k]["allele"];
        assert!(
            differ[g]["fn"].as_u64() > agree[g]["fn"].as_u64(),
            "{g}: planted cases lost"
        );
        assert_eq!(a["TRUTH.TP"], agree[g]["tp"], "{k}: {ours}");
        assert_eq!(a["TRUTH.FN"], agree[g]["fn"], "{k}: {ours}");
        assert_eq!(a["QUERY.FP"], agree[g]["fp"], "{k}: {ours}");
    }
    assert!(
        ours["haplotype_clusters"]["solved"].as_u64().unwrap() >= 6,
        "{ours}"
    );
}

/// The pipeline step: calls evaluated per sample (pipelines/evaluate-calls.toml), resumed,
/// verified; an eval step must name the call or sv step it evaluates and depend on it.
#[test]
fn pipeline_step_evaluates_a_call_step() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("out");
    let o = out.to_str().unwrap();
    let f = "pipelines/evaluate-calls.toml";
    let r = kasane(&["run", "--quiet", f, "-o", o]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let s = summary(&out.join("evaluation/qc_a"));
    let snv = &s["callsets"][0]["SNV"]["allele"];
    assert!(snv["TRUTH.TOTAL"].as_u64().unwrap() > 100, "{snv}");
    assert!(snv["recall"].as_f64().unwrap() > 0.9, "{snv}");
    // The long-read sample's planted SVs (testdata/eval/pipeline/gen_lr.py: four deletions,
    // four insertions), found by the sv step and matched with truvari's rules; its SNVs too.
    let sv = &summary(&out.join("sv-evaluation/lr_a"))["callsets"][0]["SV"];
    assert_eq!(sv["base cnt"], 8, "{sv}");
    assert!(sv["TP-base"].as_u64().unwrap() >= 7, "{sv}");
    assert!(sv["FP"].as_u64().unwrap() <= 1, "{sv}");
    let lr = &summary(&out.join("evaluation/lr_a"))["callsets"][0]["SNV"]["allele"];
    assert_eq!(lr["TRUTH.TOTAL"], 40, "{lr}");
    assert!(lr["recall"].as_f64().unwrap() > 0.8, "{lr}");
    // qc_a carries no SVs: an empty truth counts nothing and fails nothing.
    let none = &summary(&out.join("sv-evaluation/qc_a"))["callsets"][0]["SV"];
    assert_eq!(none["base cnt"], 0, "{none}");
    let run: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap();
    let ev = run["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["id"] == "evaluation/qc_a")
        .unwrap();
    assert_eq!(
        (ev["kind"].as_str(), ev["backend"].as_str()),
        (Some("eval"), Some("cpu")),
        "{ev}"
    );
    assert!(kasane(&["verify", o]).status.success());
    // Malformed eval steps.
    let bad = t.path().join("bad.toml");
    let base = std::fs::read_to_string(repo().join(f))
        .unwrap()
        .replace("../", &format!("{}/", repo().display()));
    for (from, to, want) in [
        ("calls = \"calls\"\n", "", "needs `calls`"),
        (
            "calls = \"calls\"",
            "calls = \"nope\"",
            "must name a call or sv step",
        ),
        ("depends_on = [\"calls\"]\n", "", "must depend on `calls`"),
    ] {
        std::fs::write(&bad, base.replace(from, to)).unwrap();
        let r = kasane(&["validate", bad.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&r.stderr);
        assert!(!r.status.success() && err.contains(want), "{want}: {err}");
    }
}

/// `kasane eval --shard i/N` counts the contigs of shard i of the calls' header; contigs that
/// header lacks go to the last shard, so the shards' counts and curves add up to one whole
/// run's (`--shard 1/1`), cell by cell.
#[test]
fn shards_count_every_contig_once() {
    let dir = repo().join("testdata/eval/small");
    let t = tempfile::tempdir().unwrap();
    // The calls without chr3 in their header (and without its records): chr3's truth variants
    // must still be counted, as false negatives, in one shard.
    let text = common::gunzip(&dir.join("calls_differ.vcf.gz"));
    let calls = t.path().join("calls.vcf");
    let kept: String = text
        .lines()
        .filter(|l| !l.starts_with("##contig=<ID=chr3,") && !l.starts_with("chr3\t"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&calls, kept).unwrap();
    let record = |shard: &str| -> Value {
        let out = t.path().join(shard.replace('/', "-of-"));
        let r = run_eval(
            &dir,
            &[
                "-f",
                "../../ref.fa",
                "--truth",
                "truth.vcf.gz",
                "--calls",
                calls.to_str().unwrap(),
                "--shard",
                shard,
                "-o",
                out.to_str().unwrap(),
            ],
        );
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
        assert!(!out.join("summary.json").exists());
        serde_json::from_str(&std::fs::read_to_string(out.join("eval-shard.json")).unwrap())
            .unwrap()
    };
    let whole = record("1/1");
    let cells = |v: &Value| {
        v["callsets"][0]["tally"]["cells"]
            .as_array()
            .unwrap()
            .clone()
    };
    let field = |c: &Value, k: &str| c[k].as_u64().unwrap();
    let all = cells(&whole);
    let total: u64 = all.iter().map(|c| field(c, "truth_total")).sum();
    assert!(total > 0);
    for n in [2usize, 3] {
        let parts: Vec<Value> = (1..=n).map(|i| record(&format!("{i}/{n}"))).collect();
        for (k, want) in all.iter().enumerate() {
            for key in want.as_object().unwrap().keys() {
                let got: u64 = parts.iter().map(|p| field(&cells(p)[k], key)).sum();
                assert_eq!(got, field(want, key), "{n} shards, cell {k} {key}");
            }
        }
        // The curves: every score counted once.
        let scores = |v: &Value| -> u64 {
            v["callsets"][0]["truth_scores"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|t| t.as_array().unwrap().iter().map(|e| e[1].as_u64().unwrap()))
                .sum()
        };
        let got: u64 = parts.iter().map(scores).sum();
        assert_eq!(got, scores(&whole), "{n} shards");
        // The last shard holds chr3, which the calls' header lacks.
        let last = cells(&parts[n - 1]);
        assert!(last.iter().map(|c| field(c, "truth_total")).sum::<u64>() > 0);
    }
}
