//! Hostile BAM headers and records: each must be refused by coverage, call and sv with one
//! line naming the file, exit 1, no panic and no output left under a final name.

mod common;

use std::path::{Path, PathBuf};

use common::{kasane, write_bam, write_fasta, Rec, Rng};
use kasane::io::bgzf::compress_all;
use kasane::io::index::inflate_all;

const CHR1: usize = 5000;
const CHR2: usize = 3000;

/// A valid sorted BAM of nine reads on two contigs, its reference, and the decompressed bytes.
struct Base {
    dir: tempfile::TempDir,
    fasta: PathBuf,
    raw: Vec<u8>,
}

fn base() -> Base {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(7);
    let chr1 = rng.seq(CHR1);
    let chr2 = rng.seq(CHR2);
    let fasta = dir.path().join("ref.fa");
    write_fasta(&fasta, &[("chr1", &chr1), ("chr2", &chr2)]);
    let mut recs = Vec::new();
    for i in 0..6 {
        let pos = 100 + 300 * i;
        let mut r = Rec::matched(
            format!("r{i}"),
            pos as i64,
            chr1[pos..pos + 100].to_vec(),
            30,
        );
        if i == 2 {
            // An optional field, so that the decoder's tag walk sees damaged bytes too.
            r.cigar = vec![(b'M', 60), (b'S', 40)];
            r.sa = Some(format!("chr2,{},+,60S40M,60,0;", 2000 + 1));
        }
        recs.push(r);
    }
    for i in 0..3 {
        let pos = 200 + 400 * i;
        let mut r = Rec::matched(
            format!("s{i}"),
            pos as i64,
            chr2[pos..pos + 100].to_vec(),
            30,
        );
        r.tid = 1;
        recs.push(r);
    }
    let bam = dir.path().join("base.bam");
    write_bam(&bam, &[("chr1", CHR1), ("chr2", CHR2)], "s", recs);
    let raw = inflate_all(&std::fs::read(&bam).unwrap()).unwrap();
    Base { dir, fasta, raw }
}

/// Byte offsets in the decompressed stream: where `n_ref` is, and where each record's
/// `block_size` is.
struct Layout {
    n_ref_at: usize,
    records: Vec<usize>,
}

fn le32(b: &[u8], at: usize) -> i32 {
    i32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

fn put32(b: &mut [u8], at: usize, v: i32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn layout(raw: &[u8]) -> Layout {
    let l_text = le32(raw, 4) as usize;
    let n_ref_at = 8 + l_text;
    let mut at = n_ref_at + 4;
    for _ in 0..le32(raw, n_ref_at) {
        at += 4 + le32(raw, at) as usize + 4;
    }
    let mut records = Vec::new();
    while at < raw.len() {
        records.push(at);
        at += 4 + le32(raw, at) as usize;
    }
    Layout { n_ref_at, records }
}

impl Base {
    /// Writes `raw` BGZF-compressed (no index) as `name`.
    fn write(&self, name: &str, raw: &[u8]) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, compress_all(raw, 6)).unwrap();
        p
    }
}

/// What one analysis did: exit code, stderr, files left in its output folder.
fn run_one(cmd: &str, bam: &Path, fasta: &Path) -> (Option<i32>, String, Vec<String>) {
    let out = tempfile::tempdir().unwrap();
    let o = out.path();
    let (b, f) = (bam.to_str().unwrap(), fasta.to_str().unwrap());
    let args: Vec<String> = match cmd {
        "coverage" => vec![
            "coverage".into(),
            o.join("cov").display().to_string(),
            b.into(),
        ],
        "call" => vec![
            "call".into(),
            "-f".into(),
            f.into(),
            "-o".into(),
            o.join("call.vcf.gz").display().to_string(),
            b.into(),
        ],
        _ => vec![
            "sv".into(),
            "-f".into(),
            f.into(),
            "-o".into(),
            o.join("sv.vcf.gz").display().to_string(),
            b.into(),
        ],
    };
    let args: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    let r = kasane(&args);
    let mut left: Vec<String> = std::fs::read_dir(o)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    (
        r.status.code(),
        String::from_utf8_lossy(&r.stderr).into_owned(),
        left,
    )
}

/// coverage, call and sv each refuse `bam` with one line naming it and mentioning `what`.
fn assert_refused(bam: &Path, fasta: &Path, what: &str) {
    for cmd in ["coverage", "call", "sv"] {
        let (code, err, left) = run_one(cmd, bam, fasta);
        let err_lines: Vec<&str> = err.trim_end().lines().collect();
        assert_eq!(
            code,
            Some(1),
            "{cmd} {}: exit {code:?}, stderr {err}",
            bam.display()
        );
        assert!(!err.contains("panicked"), "{cmd}: panicked: {err}");
        assert!(!err.contains("memory allocation"), "{cmd}: aborted: {err}");
        assert_eq!(err_lines.len(), 1, "{cmd}: not one line: {err}");
        assert!(
            err.contains(&bam.display().to_string()),
            "{cmd}: error does not name the file: {err}"
        );
        assert!(
            err.contains(what),
            "{cmd}: error does not say {what:?}: {err}"
        );
        assert!(left.is_empty(), "{cmd}: files left behind: {left:?}");
    }
}

/// `raw` with field `at` (a byte offset into record `k`'s body, after `block_size`) set to `v`.
fn with_field(raw: &[u8], k: usize, at: usize, v: i32) -> Vec<u8> {
    let mut r = raw.to_vec();
    let body = layout(raw).records[k] + 4;
    put32(&mut r, body + at, v);
    r
}

/// Offset of record `k`'s first CIGAR operation, from the start of its body.
fn cigar_at(raw: &[u8], k: usize) -> usize {
    let body = layout(raw).records[k] + 4;
    32 + raw[body + 8] as usize
}

const REF_ID: usize = 0;
const POS: usize = 4;
const NEXT_REF_ID: usize = 20;
const NEXT_POS: usize = 24;

// ------------------------------------------------------------------ headers (allocation aborts)

fn l_text_short_by(short: i32) {
    let b = base();
    let mut raw = b.raw.clone();
    let v = le32(&raw, 4) - short;
    put32(&mut raw, 4, v);
    let bam = b.write(&format!("ltext_short_{short}.bam"), &raw);
    assert_refused(&bam, &b.fasta, "header");
}

#[test]
fn header_l_text_20_bytes_short_is_refused() {
    l_text_short_by(20);
}

#[test]
fn header_l_text_100_bytes_short_is_refused() {
    l_text_short_by(100);
}

#[test]
fn header_l_text_past_the_file_is_refused() {
    let b = base();
    let mut raw = b.raw.clone();
    put32(&mut raw, 4, i32::MAX);
    let bam = b.write("ltext_huge.bam", &raw);
    assert_refused(&bam, &b.fasta, "file ends inside the header");
}

#[test]
fn header_n_ref_0x7fffffff_is_refused() {
    let b = base();
    let mut raw = b.raw.clone();
    let at = layout(&raw).n_ref_at;
    put32(&mut raw, at, 0x7fff_ffff);
    let bam = b.write("nref_huge.bam", &raw);
    assert_refused(&bam, &b.fasta, "header");
}

/// Found by `fuzz_bam_header` (seed 14, iteration 50): a name length running into the next
/// fields read NULs and record bytes as a contig's name, and the error naming that contig
/// spanned many lines. A line break inside a name is refused in the header.
#[test]
fn header_reference_name_with_control_bytes_is_refused() {
    let b = base();
    let mut raw = b.raw.clone();
    let at = layout(&raw).n_ref_at;
    // The second reference's l_name: after n_ref, the first l_name, "chr1\0" and its l_ref.
    let second = at + 4 + 4 + 5 + 4;
    assert_eq!(&raw[second + 4..second + 9], b"chr2\0");
    raw[second + 6] = b'\n';
    let bam = b.write("name_ctrl.bam", &raw);
    assert_refused(&bam, &b.fasta, "control characters in a reference name");
}

// ------------------------------------------------------------- records (silent data loss)

#[test]
fn record_ref_id_minus_2_is_refused() {
    let b = base();
    let bam = b.write("refid_m2.bam", &with_field(&b.raw, 0, REF_ID, -2));
    assert_refused(&bam, &b.fasta, "record #1 (r0): it refers to contig #-2");
}

#[test]
fn record_ref_id_past_the_header_is_refused() {
    let b = base();
    // The last record: call used to skip it quietly.
    let bam = b.write("refid_2.bam", &with_field(&b.raw, 8, REF_ID, 2));
    assert_refused(&bam, &b.fasta, "record #9 (s2): it refers to contig #2");
}

#[test]
fn record_mate_ref_id_minus_2_is_refused() {
    let b = base();
    let bam = b.write("mate_refid_m2.bam", &with_field(&b.raw, 3, NEXT_REF_ID, -2));
    assert_refused(&bam, &b.fasta, "its mate refers to contig #-2");
}

#[test]
fn record_negative_position_is_refused() {
    let b = base();
    let bam = b.write("pos_m5.bam", &with_field(&b.raw, 0, POS, -5));
    assert_refused(&bam, &b.fasta, "record #1 (r0): its position -5 is invalid");
}

#[test]
fn record_mate_position_below_minus_1_is_refused() {
    let b = base();
    let bam = b.write("mpos_m2.bam", &with_field(&b.raw, 1, NEXT_POS, -2));
    assert_refused(&bam, &b.fasta, "mate position -2 is invalid");
}

#[test]
fn cigar_op_code_15_is_refused() {
    let b = base();
    let at = cigar_at(&b.raw, 1);
    let bam = b.write("op15.bam", &with_field(&b.raw, 1, at, (100 << 4) | 15));
    assert_refused(&bam, &b.fasta, "record #2 (r1): CIGAR operation code 15");
}

#[test]
fn cigar_op_code_9_without_sequence_is_refused() {
    // htslib accepts an undefined code when there is no sequence to compare with; kasane does
    // not guess what it consumes.
    let b = base();
    let at = cigar_at(&b.raw, 1);
    let mut raw = with_field(&b.raw, 1, at, (100 << 4) | 9);
    // l_seq 0 (the bases and qualities stay behind as unread bytes before the tags).
    let body = layout(&raw).records[1] + 4;
    put32(&mut raw, body + 16, 0);
    let bam = b.write("op9_noseq.bam", &raw);
    assert_refused(&bam, &b.fasta, "CIGAR operation code 9");
}

#[test]
fn cigar_op_268m_bases_is_refused() {
    let b = base();
    let at = cigar_at(&b.raw, 1);
    let op = (((1u32 << 28) - 1) << 4) as i32; // 268435455M
    let bam = b.write("op268m.bam", &with_field(&b.raw, 1, at, op));
    assert_refused(
        &bam,
        &b.fasta,
        "record #2 (r1): CIGAR covers 268435455 bases but the sequence has 100",
    );
}

#[test]
fn cigar_end_past_the_largest_bam_position_is_refused() {
    let b = base();
    // The last chr1 read, moved so that its 100M ends past 2^31 - 1.
    let bam = b.write(
        "end_overflow.bam",
        &with_field(&b.raw, 5, POS, i32::MAX - 50),
    );
    assert_refused(&bam, &b.fasta, "past the largest BAM position");
}

#[test]
fn unmapped_read_with_ref_id_and_pos_minus_1_is_accepted() {
    let b = base();
    let mut raw = b.raw.clone();
    let l = layout(&raw);
    let last = *l.records.last().unwrap();
    let mut rec = raw[last..].to_vec();
    for at in [REF_ID, POS, NEXT_REF_ID, NEXT_POS] {
        put32(&mut rec, 4 + at, -1);
    }
    rec[4 + 14..4 + 16].copy_from_slice(&4u16.to_le_bytes());
    raw.extend_from_slice(&rec);
    let bam = b.write("unmapped_last.bam", &raw);
    for cmd in ["coverage", "call", "sv"] {
        let (code, err, _) = run_one(cmd, &bam, &b.fasta);
        assert_eq!(code, Some(0), "{cmd}: {err}");
    }
}

// --------------------------------------------------- truncated or corrupt records, indexes

#[test]
fn record_cut_short_is_refused() {
    let b = base();
    let l = layout(&b.raw);
    let raw = &b.raw[..l.records[3] + 60];
    let bam = b.write("cut.bam", raw);
    assert_refused(
        &bam,
        &b.fasta,
        "record #4: file ends in the middle of a record",
    );
}

#[test]
fn record_name_length_past_the_record_is_refused() {
    let b = base();
    let mut raw = b.raw.clone();
    let body = layout(&raw).records[2] + 4;
    raw[body + 8] = 255;
    let bam = b.write("lname.bam", &raw);
    assert_refused(&bam, &b.fasta, "record #3: record fields are inconsistent");
}

/// Reads every record of `path` through every accessor; returns the error, if any.
fn read_all(path: &Path, pool: &std::sync::Arc<rayon::ThreadPool>) -> Result<(), String> {
    use kasane::io::{Alignment, AlignmentReader, Visitor};
    struct Touch;
    impl Visitor for Touch {
        fn record<A: Alignment>(&mut self, r: &A) -> kasane::error::Result<bool> {
            let mut n = 0usize;
            r.for_each_cigar(|c| n += c.len as usize);
            let _ = (
                r.end_pos(),
                r.seq(),
                r.qual(),
                r.read_name().len(),
                r.read_group(),
            );
            let _ = (r.aux_str(*b"SA"), r.aux_int(*b"NM"), r.aux(*b"XX"));
            let _ = (
                r.template_length(),
                r.next_pos(),
                r.next_ref_id(),
                r.mapq(),
                n,
            );
            Ok(true)
        }
    }
    let mut rd = AlignmentReader::open(path, None, pool.clone()).map_err(|e| e.to_string())?;
    rd.visit(&mut Touch).map_err(|e| e.to_string())
}

#[test]
fn damaged_records_are_errors_never_panics() {
    // Every byte of the first three records (the third has a tag) set to a few telling values,
    // and the stream cut at every one of those bytes: each read ends cleanly or in an error.
    let b = base();
    let l = layout(&b.raw);
    let pool = std::sync::Arc::new(
        rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap(),
    );
    let path = b.dir.path().join("damaged.bam");
    for at in l.records[0]..l.records[3] {
        let mut variants: Vec<(bool, Vec<u8>)> = [0x00u8, 0x01, 0x7f, 0x80, 0xff]
            .iter()
            .map(|&v| {
                let mut r = b.raw.clone();
                r[at] = v;
                (false, r)
            })
            .collect();
        // Cut inside a record (not between two): must be an error.
        variants.push((!l.records.contains(&at), b.raw[..at].to_vec()));
        for (must_fail, raw) in variants {
            std::fs::write(&path, compress_all(&raw, 1)).unwrap();
            let r =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| read_all(&path, &pool)));
            let r = r.unwrap_or_else(|_| panic!("panicked with byte {at} damaged"));
            match r {
                Err(e) => assert!(e.contains("damaged.bam: corrupt BAM record #"), "{e}"),
                Ok(()) => assert!(!must_fail, "cut at byte {at} was read without an error"),
            }
        }
    }
}

/// testdata's CSI-indexed BAM copied next to a damaged copy of its index; `coverage -c chr1`
/// seeks with it.
fn damaged_csi(name: &str, damage: impl Fn(&mut Vec<u8>)) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let bam = dir.path().join(format!("{name}.bam"));
    let td = common::repo().join("testdata");
    std::fs::copy(td.join("sample.csi.bam"), &bam).unwrap();
    let mut csi = std::fs::read(td.join("sample.csi.bam.csi")).unwrap();
    damage(&mut csi);
    std::fs::write(dir.path().join(format!("{name}.bam.csi")), csi).unwrap();
    (dir, bam)
}

fn assert_coverage_c_refused(bam: &Path, what: &str) {
    let out = tempfile::tempdir().unwrap();
    let prefix = out.path().join("cov");
    let args = [
        "coverage",
        "-c",
        "chr1",
        prefix.to_str().unwrap(),
        bam.to_str().unwrap(),
    ];
    let o = kasane(&args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        !err.contains("panicked") && !err.contains("memory allocation"),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains(".csi") && err.contains(what), "{err}");
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0);
}

#[test]
fn csi_block_claiming_4_gib_is_refused() {
    let (_d, bam) = damaged_csi("isize", |csi| {
        let bsize = u16::from_le_bytes([csi[16], csi[17]]) as usize + 1;
        csi[bsize - 4..bsize].copy_from_slice(&u32::MAX.to_le_bytes());
    });
    assert_coverage_c_refused(&bam, "corrupt index");
}

#[test]
fn csi_block_shorter_than_its_header_is_refused() {
    let (_d, bam) = damaged_csi("bsize", |csi| {
        csi[16..18].copy_from_slice(&0u16.to_le_bytes())
    });
    assert_coverage_c_refused(&bam, "corrupt index");
}

#[test]
fn bai_with_n_bin_0x7fffffff_is_refused() {
    let b = base();
    let dir = b.dir.path();
    let bam = dir.join("base.bam");
    let bai = dir.join("base.bam.bai");
    let mut idx = std::fs::read(&bai).unwrap();
    // magic, n_ref, then contig 0's n_bin.
    put32(&mut idx, 8, 0x7fff_ffff);
    std::fs::write(&bai, idx).unwrap();
    let out = tempfile::tempdir().unwrap();
    let vcf = out.path().join("x.vcf.gz");
    let args = [
        "call",
        "-f",
        b.fasta.to_str().unwrap(),
        "-r",
        "chr1",
        "-o",
        vcf.to_str().unwrap(),
    ];
    let o = kasane(&[&args[..], &[bam.to_str().unwrap()]].concat());
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("base.bam.bai: corrupt index: short file, or a count"),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
}
