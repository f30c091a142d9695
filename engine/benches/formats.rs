//! Our hand-written BGZF inflation and BAM record decoding against noodles', on the same file,
//! so the choice to keep them is measured (issue 13). Each group prints both, in bytes/s of
//! decompressed data:
//! - `bgzf_inflate`: the whole file inflated on one thread (`kasane` = `io::bgzf::BgzfStream`
//!   with a one-thread pool; `noodles` = `noodles::bgzf::io::Reader`);
//! - `bam_records`: every record read and the fields coverage uses (position, flag, MAPQ,
//!   CIGAR) taken from it (`kasane` = `io::bam::BamReader`, one inflate thread; `noodles` =
//!   `noodles::bam::io::Reader`, lazy records).
//!
//! cargo bench --bench formats                      # on testdata/long.bam
//! KASANE_BENCH_BAM=/path/to/big.bam cargo bench --bench formats

use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use kasane::io::Alignment;

fn input() -> PathBuf {
    std::env::var_os("KASANE_BENCH_BAM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/long.bam"))
}

fn one_thread() -> Arc<rayon::ThreadPool> {
    Arc::new(
        rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .expect("pool"),
    )
}

fn inflated_len(path: &std::path::Path) -> u64 {
    let mut r = noodles::bgzf::io::Reader::new(std::fs::File::open(path).expect("open"));
    std::io::copy(&mut r, &mut std::io::sink()).expect("inflate")
}

fn bench_inflate(c: &mut Criterion) {
    let path = input();
    let pool = one_thread();
    let total = inflated_len(&path);
    let mut g = c.benchmark_group("bgzf_inflate");
    g.throughput(Throughput::Bytes(total));
    g.bench_function("kasane", |b| {
        b.iter(|| {
            let mut s = kasane::io::bgzf::BgzfStream::open(&path, 0, pool.clone()).expect("open");
            let mut n = 0u64;
            while let Some(x) = s.next_batch().expect("batch") {
                n += x.data.len() as u64;
                s.give_back(x.data);
            }
            assert_eq!(n, total);
            n
        })
    });
    g.bench_function("noodles", |b| {
        b.iter(|| {
            let mut r = noodles::bgzf::io::Reader::new(std::fs::File::open(&path).expect("open"));
            let mut buf = vec![0u8; 1 << 16];
            let mut n = 0u64;
            loop {
                let k = r.read(&mut buf).expect("inflate");
                if k == 0 {
                    break;
                }
                n += k as u64;
            }
            assert_eq!(n, total);
            n
        })
    });
    g.finish();
}

fn bench_records(c: &mut Criterion) {
    let path = input();
    let pool = one_thread();
    let total = inflated_len(&path);
    let mut g = c.benchmark_group("bam_records");
    g.throughput(Throughput::Bytes(total));
    // Both sum the same fields, so each must decode them; the sums are checked equal once.
    let ours = || {
        let mut r = kasane::io::bam::BamReader::open(&path, pool.clone()).expect("open");
        let (mut n, mut sum) = (0u64, 0u64);
        while let Some(rec) = r.next_record().expect("record") {
            n += 1;
            sum = sum
                .wrapping_add(rec.pos() as u64)
                .wrapping_add(rec.flag() as u64)
                .wrapping_add(rec.mapq() as u64);
            rec.for_each_cigar(|op| sum = sum.wrapping_add(op.len as u64));
        }
        (n, sum)
    };
    let theirs = || {
        let mut r = noodles::bam::io::Reader::new(std::fs::File::open(&path).expect("open"));
        r.read_header().expect("header");
        let (mut n, mut sum) = (0u64, 0u64);
        for rec in r.records() {
            let rec = rec.expect("record");
            n += 1;
            let pos = match rec.alignment_start() {
                Some(p) => usize::from(p.expect("position")) as u64 - 1,
                None => u64::MAX,
            };
            let mapq = rec.mapping_quality().map_or(255, u8::from) as u64;
            sum = sum
                .wrapping_add(pos)
                .wrapping_add(u16::from(rec.flags()) as u64)
                .wrapping_add(mapq);
            for op in rec.cigar().iter() {
                sum = sum.wrapping_add(op.expect("cigar").len() as u64);
            }
        }
        (n, sum)
    };
    assert_eq!(
        ours(),
        theirs(),
        "the two readers disagree on {}",
        path.display()
    );
    g.bench_function("kasane", |b| b.iter(ours));
    g.bench_function("noodles", |b| b.iter(theirs));
    g.finish();
}

criterion_group!(benches, bench_inflate, bench_records);
criterion_main!(benches);
