//! References with many contigs (issue 21), at a size a test can afford: two large contigs
//! and 4,000 tiny ones. Tiny contigs share BGZF blocks (a block each made files ten times
//! mosdepth's size), the indexes still find every contig's lines, and shards, which are whole
//! groups of contigs, gather into the unsharded files byte for byte.

mod common;

use std::path::{Path, PathBuf};

use common::{files, gunzip, ok, write_bam, write_fasta, Rec, Rng};
use noodles::core::{Position, Region};

const TINY: usize = 4000;
const TINY_LEN: usize = 200;
const BIG_LEN: usize = 1_000_000;

struct Fixture {
    _dir: tempfile::TempDir,
    dir: PathBuf,
}

/// `ref.fa` and `reads.bam`: big1 and big2 (1 Mb, reads over their first 20 kb at 10x with a
/// heterozygous SNV every 2 kb), then ctg1..ctg4000 of 200 bp with one read each.
fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().to_path_buf();
    let mut rng = Rng(21);
    let mut names = vec!["big1".to_string(), "big2".to_string()];
    names.extend((1..=TINY).map(|i| format!("ctg{i}")));
    let seqs: Vec<Vec<u8>> = names
        .iter()
        .map(|n| {
            rng.seq(if n.starts_with("big") {
                BIG_LEN
            } else {
                TINY_LEN
            })
        })
        .collect();
    let contigs: Vec<(&str, &[u8])> = names
        .iter()
        .zip(&seqs)
        .map(|(n, s)| (n.as_str(), s.as_slice()))
        .collect();
    write_fasta(&p.join("ref.fa"), &contigs);
    let mut recs = Vec::new();
    for (tid, seq) in seqs.iter().enumerate() {
        let starts: Vec<i64> = if tid < 2 {
            (0..2000).map(|_| rng.below(20_000 - 100) as i64).collect()
        } else {
            vec![50]
        };
        for (k, &s) in starts.iter().enumerate() {
            let mut read = seq[s as usize..s as usize + 100].to_vec();
            if tid < 2 && rng.below(2) == 0 {
                for (j, b) in read.iter_mut().enumerate() {
                    if (s as usize + j) % 2000 == 1000 {
                        *b = if *b == b'A' { b'C' } else { b'A' };
                    }
                }
            }
            let mut r = Rec::matched(format!("r{tid}_{k}"), s, read, 30);
            r.tid = tid as i32;
            recs.push(r);
        }
    }
    let lens: Vec<(&str, usize)> = names
        .iter()
        .zip(&seqs)
        .map(|(n, s)| (n.as_str(), s.len()))
        .collect();
    write_bam(&p.join("reads.bam"), &lens, "many", recs);
    Fixture { _dir: dir, dir: p }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The number of BGZF blocks of `path` (each block's BSIZE field gives its length).
fn blocks(path: &Path) -> usize {
    let data = std::fs::read(path).unwrap();
    let (mut at, mut n) = (0, 0);
    while at + 18 <= data.len() {
        assert_eq!(&data[at..at + 4], b"\x1f\x8b\x08\x04", "block at {at}");
        at += u16::from_le_bytes([data[at + 16], data[at + 17]]) as usize + 1;
        n += 1;
    }
    assert_eq!(at, data.len());
    n
}

#[test]
fn tiny_contigs_share_blocks_and_stay_indexed() {
    let fx = fixture();
    let out = fx.dir.join("cov");
    ok(&[
        "coverage",
        "-t",
        "2",
        "--by",
        "100",
        s(&out),
        s(&fx.dir.join("reads.bam")),
    ]);
    let per_base = fx.dir.join("cov.per-base.bed.gz");
    let text = gunzip(&per_base);
    // One read at 50..150 on each tiny contig: three lines each.
    assert!(text.contains("ctg1234\t0\t50\t0\nctg1234\t50\t150\t1\nctg1234\t150\t200\t0\n"));
    assert_eq!(
        text.lines().filter(|l| l.starts_with("ctg")).count(),
        3 * TINY
    );
    // A block per tiny contig would be at least TINY blocks; groups of them share one.
    for name in ["cov.per-base.bed.gz", "cov.regions.bed.gz"] {
        let n = blocks(&fx.dir.join(name));
        assert!(n < TINY / 2, "{name}: {n} blocks for {TINY} tiny contigs");
    }
    // The index finds each contig's lines, whether its group starts with it or not.
    for name in ["cov.per-base.bed.gz", "cov.regions.bed.gz"] {
        let bed = fx.dir.join(name);
        let lines: Vec<String> = gunzip(&bed).lines().map(String::from).collect();
        let mut reader = noodles::csi::io::IndexedReader::new(
            std::fs::File::open(&bed).unwrap(),
            noodles::csi::fs::read(fx.dir.join(format!("{name}.csi"))).unwrap(),
        );
        for (chrom, start, end) in [
            ("big2", 500usize, 900usize),
            ("ctg1", 0, 200),
            ("ctg2", 10, 60),
            ("ctg1777", 140, 200),
            ("ctg3999", 0, 1),
            ("ctg4000", 100, 200),
        ] {
            let region = Region::new(
                chrom,
                Position::try_from(start + 1).unwrap()..=Position::try_from(end).unwrap(),
            );
            let found: Vec<String> = reader
                .query(&region)
                .unwrap()
                .map(|r| {
                    let r = r.unwrap();
                    let line: &str = r.as_ref();
                    line.to_string()
                })
                .collect();
            let expect: Vec<String> = lines
                .iter()
                .filter(|l| {
                    let f: Vec<&str> = l.split('\t').collect();
                    let (a, b): (usize, usize) = (f[1].parse().unwrap(), f[2].parse().unwrap());
                    f[0] == chrom && a < end && b > start
                })
                .cloned()
                .collect();
            assert!(!expect.is_empty());
            assert_eq!(found, expect, "{name} {chrom}:{start}-{end}");
        }
    }
}

/// coverage, call and sv over the many contigs, unsharded and in 3 and 7 shards gathered:
/// the same files.
#[test]
fn shards_of_many_contigs_gather_into_the_unsharded_files() {
    let fx = fixture();
    let toml = fx.dir.join("p.toml");
    std::fs::write(
        &toml,
        r#"name = "many"
output = "out"
reference = "ref.fa"

[engine]
threads = 2

[[samples]]
id = "many"
path = "reads.bam"

[[steps]]
id = "depth"
kind = "coverage"
[steps.params]
by = 100
thresholds = [1, 2]

[[steps]]
id = "calls"
kind = "call"

[[steps]]
id = "svs"
kind = "sv"
"#,
    )
    .unwrap();
    let f = s(&toml);
    let full = fx.dir.join("full");
    ok(&["run", f, "-o", s(&full), "--quiet"]);
    let want = files(&full);
    assert!(!gunzip(&full.join("calls/many.vcf.gz"))
        .lines()
        .all(|l| l.starts_with('#')));
    for n in [3usize, 7] {
        let out = fx.dir.join(format!("s{n}"));
        for i in 1..=n {
            ok(&[
                "run",
                f,
                "-o",
                s(&out),
                "--shard",
                &format!("{i}/{n}"),
                "--quiet",
            ]);
        }
        ok(&["gather", f, "-o", s(&out), "--quiet"]);
        let got = files(&out);
        assert_eq!(
            got.iter().map(|(p, _)| p).collect::<Vec<_>>(),
            want.iter().map(|(p, _)| p).collect::<Vec<_>>()
        );
        for ((p, a), (_, b)) in got.iter().zip(&want) {
            assert!(a == b, "{n} shards: {} differs", p.display());
        }
    }
}
