//! Helpers shared by the integration tests: deterministic sequences, small BAM and FASTA
//! writers, and running the `kasane` binary.

// Each test file compiles this module on its own and uses only part of it.
#![allow(dead_code)]

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root (relative test inputs such as testdata/ are resolved from it).
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Runs the `kasane` binary from the repository root.
pub fn kasane(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kasane"))
        .current_dir(repo())
        .args(args)
        .output()
        .unwrap()
}

/// Runs `kasane`, fails the test unless it succeeds, and returns the output.
fn succeed(args: &[&str]) -> Output {
    let o = kasane(args);
    assert!(
        o.status.success(),
        "{args:?} failed:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

/// Runs `kasane`, which must succeed; returns its stdout.
pub fn ok(args: &[&str]) -> String {
    String::from_utf8_lossy(&succeed(args).stdout).into_owned()
}

/// Runs `kasane`, which must succeed; returns its stderr (the log).
pub fn ok_stderr(args: &[&str]) -> String {
    String::from_utf8_lossy(&succeed(args).stderr).into_owned()
}

/// The whole text of a gzip or BGZF file.
pub fn gunzip(p: &Path) -> String {
    let mut s = String::new();
    flate2::read::MultiGzDecoder::new(std::fs::File::open(p).unwrap())
        .read_to_string(&mut s)
        .unwrap();
    s
}

/// Every file under `dir` except run.json and kasane's state folder, with its bytes, sorted:
/// two result folders compare equal when their outputs are byte for byte the same.
pub fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
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

/// The one test generator (xorshift64), shared with the library's unit tests.
#[allow(unused_imports)] // not every test file draws numbers
pub use kasane::rng::Rng;

/// Writes `path` (60 bases a line) and its `.fai`, so readers need not index it themselves.
pub fn write_fasta(path: &Path, contigs: &[(&str, &[u8])]) {
    let mut fa = String::new();
    let mut fai = String::new();
    for (name, seq) in contigs {
        fa.push_str(&format!(">{name}\n"));
        fai.push_str(&format!("{name}\t{}\t{}\t60\t61\n", seq.len(), fa.len()));
        for line in seq.chunks(60) {
            fa.push_str(std::str::from_utf8(line).unwrap());
            fa.push('\n');
        }
    }
    std::fs::write(path, fa).unwrap();
    std::fs::write(with_suffix(path, ".fai"), fai).unwrap();
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(suffix);
    PathBuf::from(p)
}

/// One alignment record.
#[derive(Clone)]
pub struct Rec {
    pub name: String,
    pub tid: i32,
    /// 0-based leftmost reference position.
    pub pos: i64,
    pub flag: u16,
    pub mapq: u8,
    /// (operation as in SAM, e.g. `b'M'`, length).
    pub cigar: Vec<(u8, u32)>,
    pub seq: Vec<u8>,
    /// Base qualities; empty means 30 for every base.
    pub qual: Vec<u8>,
    /// The SA tag's value, if any.
    pub sa: Option<String>,
}

impl Rec {
    /// A forward read on contig 0 aligned base for base (CIGAR `<len>M`), MAPQ 60.
    pub fn matched(name: String, pos: i64, seq: Vec<u8>, qual: u8) -> Rec {
        Rec {
            tid: 0,
            pos,
            name,
            cigar: vec![(b'M', seq.len() as u32)],
            qual: vec![qual; seq.len()],
            seq,
            flag: 0,
            mapq: 60,
            sa: None,
        }
    }
}

/// Writes a coordinate-sorted BAM of `recs` (sorted here by contig, position, name) with one
/// read group whose SM is `sample`, and its `.bai`. noodles compresses and indexes it, so the
/// inputs do not depend on the BGZF code under test.
pub fn write_bam(path: &Path, contigs: &[(&str, usize)], sample: &str, mut recs: Vec<Rec>) {
    recs.sort_by(|a, b| (a.tid, a.pos, &a.name).cmp(&(b.tid, b.pos, &b.name)));
    let mut text = String::from("@HD\tVN:1.6\tSO:coordinate\n");
    for (n, l) in contigs {
        text.push_str(&format!("@SQ\tSN:{n}\tLN:{l}\n"));
    }
    text.push_str(&format!("@RG\tID:rg\tSM:{sample}\n"));
    let mut b = b"BAM\x01".to_vec();
    b.extend_from_slice(&(text.len() as i32).to_le_bytes());
    b.extend_from_slice(text.as_bytes());
    b.extend_from_slice(&(contigs.len() as i32).to_le_bytes());
    for (n, l) in contigs {
        b.extend_from_slice(&(n.len() as i32 + 1).to_le_bytes());
        b.extend_from_slice(n.as_bytes());
        b.push(0);
        b.extend_from_slice(&(*l as i32).to_le_bytes());
    }
    for r in &recs {
        b.extend(encode(r));
    }
    let mut w = noodles::bgzf::io::Writer::new(std::fs::File::create(path).unwrap());
    w.write_all(&b).unwrap();
    w.finish().unwrap();
    match noodles::bam::fs::index(path).unwrap() {
        noodles::bam::Index::Bai(i) => {
            noodles::bam::bai::fs::write(with_suffix(path, ".bai"), &i).unwrap()
        }
        _ => panic!("noodles did not build a BAI for {}", path.display()),
    }
}

/// One BAM record, its length prefix included.
fn encode(r: &Rec) -> Vec<u8> {
    let code = |op: u8| b"MIDNSHP=X".iter().position(|&x| x == op).unwrap() as u32;
    let nt = |c: u8| {
        b"=ACMGRSVTWYHKDBN"
            .iter()
            .position(|&x| x == c)
            .unwrap_or(15) as u8
    };
    let ref_len: u32 = r
        .cigar
        .iter()
        .filter(|c| matches!(c.0, b'M' | b'D' | b'N' | b'=' | b'X'))
        .map(|c| c.1)
        .sum();
    let pos = r.pos as i32;
    // A record that covers no reference base is binned as covering one.
    let end = pos + ref_len.max(1) as i32;
    let mut d = Vec::new();
    d.extend_from_slice(&r.tid.to_le_bytes());
    d.extend_from_slice(&pos.to_le_bytes());
    d.push(r.name.len() as u8 + 1);
    d.push(r.mapq);
    d.extend_from_slice(&reg2bin(pos, end).to_le_bytes());
    d.extend_from_slice(&(r.cigar.len() as u16).to_le_bytes());
    d.extend_from_slice(&r.flag.to_le_bytes());
    d.extend_from_slice(&(r.seq.len() as i32).to_le_bytes());
    // No mate: next tid, next pos, template length.
    d.extend_from_slice(&(-1i32).to_le_bytes());
    d.extend_from_slice(&(-1i32).to_le_bytes());
    d.extend_from_slice(&0i32.to_le_bytes());
    d.extend_from_slice(r.name.as_bytes());
    d.push(0);
    for &(op, n) in &r.cigar {
        d.extend_from_slice(&((n << 4) | code(op)).to_le_bytes());
    }
    for pair in r.seq.chunks(2) {
        let hi = nt(pair[0]) << 4;
        let lo = pair.get(1).map_or(0, |&c| nt(c));
        d.push(hi | lo);
    }
    if r.qual.is_empty() {
        d.extend(std::iter::repeat_n(30u8, r.seq.len()));
    } else {
        assert_eq!(
            r.qual.len(),
            r.seq.len(),
            "{}: qual and seq lengths",
            r.name
        );
        d.extend_from_slice(&r.qual);
    }
    if let Some(sa) = &r.sa {
        d.extend_from_slice(b"SAZ");
        d.extend_from_slice(sa.as_bytes());
        d.push(0);
    }
    let mut out = (d.len() as i32).to_le_bytes().to_vec();
    out.extend(d);
    out
}

/// The BAI bin of the 0-based half-open interval [beg, end) (SAM specification, 5.3).
fn reg2bin(beg: i32, end: i32) -> u16 {
    let end = end - 1;
    let r = if beg >> 14 == end >> 14 {
        ((1 << 15) - 1) / 7 + (beg >> 14)
    } else if beg >> 17 == end >> 17 {
        ((1 << 12) - 1) / 7 + (beg >> 17)
    } else if beg >> 20 == end >> 20 {
        ((1 << 9) - 1) / 7 + (beg >> 20)
    } else if beg >> 23 == end >> 23 {
        ((1 << 6) - 1) / 7 + (beg >> 23)
    } else if beg >> 26 == end >> 26 {
        1 + (beg >> 26)
    } else {
        0
    };
    r as u16
}

/// Whether `snakemake` runs here; with `KASANE_REQUIRE_SNAKEMAKE` set (CI) it must.
pub fn snakemake_available() -> bool {
    let found = Command::new("snakemake")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("KASANE_REQUIRE_SNAKEMAKE").is_none(),
            "KASANE_REQUIRE_SNAKEMAKE is set but snakemake does not run"
        );
        eprintln!("skipped: snakemake is not installed (pip install snakemake)");
    }
    found
}

/// Headless Chromium, when installed (CI installs it and sets KASANE_REQUIRE_CHROMIUM).
pub fn chromium() -> Option<PathBuf> {
    for c in ["chromium", "chromium-browser", "google-chrome"] {
        if let Ok(o) = Command::new("which").arg(c).output() {
            if o.status.success() {
                let p = String::from_utf8_lossy(&o.stdout).trim().to_string();
                if !p.is_empty() {
                    return Some(PathBuf::from(p));
                }
            }
        }
    }
    None
}

/// Opens a self-contained HTML report in headless Chromium: it must finish drawing
/// (`data-status="ok"`) with at least `min_plots` plots and no script error, and a screenshot
/// is taken (copied to $KASANE_SCREENSHOT_DIR/`shot_name` when set). Skipped, saying so,
/// without Chromium unless KASANE_REQUIRE_CHROMIUM is set.
pub fn renders_in_chromium(page: &Path, min_plots: usize, shot_name: &str) {
    let html = std::fs::read_to_string(page).unwrap();
    // Self-contained: nothing fetched.
    for bad in ["src=\"http", "href=\"http", "<link ", "@import", "fetch("] {
        assert!(!html.contains(bad), "report refers to {bad}");
    }
    let Some(chrome) = chromium() else {
        assert!(
            std::env::var_os("KASANE_REQUIRE_CHROMIUM").is_none(),
            "KASANE_REQUIRE_CHROMIUM is set but no chromium was found"
        );
        eprintln!("chromium not installed: the report's rendering is not checked");
        return;
    };
    let t = tempfile::tempdir().unwrap();
    let url = format!("file://{}", page.display());
    let profile = t.path().join("profile");
    let base = |extra: &[String]| {
        let mut c = Command::new(&chrome);
        c.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(&url);
        c
    };
    let dom = base(&["--dump-dom".into()]).output().unwrap();
    let dom_text = String::from_utf8_lossy(&dom.stdout);
    assert!(
        dom_text.contains("data-status=\"ok\""),
        "the page did not finish drawing: {}\n{}",
        &dom_text[..dom_text.len().min(2000)],
        String::from_utf8_lossy(&dom.stderr)
    );
    let plots: usize = dom_text
        .split("data-plots=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    assert!(plots >= min_plots, "only {plots} plots drawn");
    // The error list stays empty (its script's own text mentions "script error").
    assert!(
        dom_text.contains("<div id=\"errors\"></div>"),
        "script errors reported"
    );
    let shot = t.path().join("report.png");
    let o = base(&[
        format!("--screenshot={}", shot.display()),
        "--window-size=1400,3000".into(),
    ])
    .output()
    .unwrap();
    assert!(
        shot.exists() && std::fs::metadata(&shot).unwrap().len() > 10_000,
        "no screenshot: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    if let Some(dir) = std::env::var_os("KASANE_SCREENSHOT_DIR") {
        let _ = std::fs::copy(&shot, Path::new(&dir).join(shot_name));
    }
}
