//! The `.csi` written next to each `.bed.gz` must let a reader find lines by region, as
//! `tabix` does: query the index with noodles, seek, and check the lines found.

mod common;

use std::path::Path;
use std::process::Command;

use common::{gunzip, repo};
use noodles::core::{Position, Region};

fn all_lines(p: &Path) -> Vec<String> {
    gunzip(p).lines().map(String::from).collect()
}

#[test]
fn csi_finds_the_lines_of_a_region() {
    let tmp = tempfile::tempdir().unwrap();
    let prefix = tmp.path().join("out");
    let st = Command::new(env!("CARGO_BIN_EXE_kasane"))
        .current_dir(repo())
        .args(["coverage", "-t", "2", "-b", "500"])
        .arg(&prefix)
        .arg("testdata/long.bam")
        .status()
        .unwrap();
    assert!(st.success());
    for name in ["out.per-base.bed.gz", "out.regions.bed.gz"] {
        let bed = tmp.path().join(name);
        let lines = all_lines(&bed);
        let mut reader = noodles::csi::io::IndexedReader::new(
            std::fs::File::open(&bed).unwrap(),
            noodles::csi::fs::read(tmp.path().join(format!("{name}.csi"))).unwrap(),
        );
        for (chrom, start, end) in [
            ("chr1", 1000usize, 1200usize),
            ("chr2", 15000, 15001),
            ("chr1", 29000, 30017),
        ] {
            let region = Region::new(
                chrom,
                Position::try_from(start + 1).unwrap()..=Position::try_from(end).unwrap(),
            );
            let mut found = Vec::new();
            for rec in reader.query(&region).unwrap() {
                let rec = rec.unwrap();
                let line: &str = rec.as_ref();
                found.push(line.to_string());
            }
            // What a linear scan says overlaps the region.
            let expect: Vec<String> = lines
                .iter()
                .filter(|l| {
                    let f: Vec<&str> = l.split('\t').collect();
                    let (s, e): (usize, usize) = (f[1].parse().unwrap(), f[2].parse().unwrap());
                    f[0] == chrom && s < end && e > start
                })
                .cloned()
                .collect();
            assert!(!expect.is_empty());
            assert_eq!(found, expect, "{name} {chrom}:{start}-{end}");
        }
    }
}
