//! Criterion benchmarks of the coverage core loop, reported as throughput:
//! - `events`: records → depth events (CIGAR walk, mate-overlap correction) → backend scatter
//!   and prefix sum, in block events per second, for each available backend;
//! - `per_base`: final depths → per-base BED lines compressed into BGZF blocks, in bases/s;
//! - `inflate`: BGZF inflation of a BAM from testdata, in decompressed bytes/s.
//!
//! cargo bench --bench coverage

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use kasane::backend::{self, BackendKind, ContigDepth, EventBatch, ReduceSpec};
use kasane::coverage::depth::{EventBuilder, ReadFilter};
use kasane::io::bam::BamRecord;

/// A BAM record body (without block_size) for a read at `pos` with the given CIGAR.
fn bam_record(name: &str, pos: i32, flag: u16, mpos: i32, cigar: &[(u32, u32)]) -> Vec<u8> {
    let l_seq = cigar
        .iter()
        .filter(|(op, _)| [0, 1, 4, 7, 8].contains(op))
        .map(|c| c.1)
        .sum::<u32>();
    let mut v = Vec::new();
    v.extend_from_slice(&0i32.to_le_bytes());
    v.extend_from_slice(&pos.to_le_bytes());
    v.push(name.len() as u8 + 1);
    v.push(60);
    v.extend_from_slice(&0u16.to_le_bytes());
    v.extend_from_slice(&(cigar.len() as u16).to_le_bytes());
    v.extend_from_slice(&flag.to_le_bytes());
    v.extend_from_slice(&(l_seq as i32).to_le_bytes());
    v.extend_from_slice(&0i32.to_le_bytes());
    v.extend_from_slice(&mpos.to_le_bytes());
    v.extend_from_slice(&0i32.to_le_bytes());
    v.extend_from_slice(name.as_bytes());
    v.push(0);
    for (op, len) in cigar {
        v.extend_from_slice(&((len << 4) | op).to_le_bytes());
    }
    v.resize(v.len() + l_seq.div_ceil(2) as usize + l_seq as usize, 0);
    v
}

/// 30x-like short-read pairs over `len` bases: most 150M, some with an indel, some overlapping.
fn records(len: i32) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut rng = kasane::rng::Rng(42);
    let mut rnd = |m: u64| rng.below(m);
    let mut pos = 0i32;
    let mut i = 0;
    while pos < len - 1000 {
        pos += rnd(10) as i32;
        let insert = 150 + rnd(400) as i32;
        let cigar: Vec<(u32, u32)> = match rnd(10) {
            0 => vec![(0, 70), (2, 3), (0, 80)],
            1 => vec![(4, 20), (0, 130)],
            _ => vec![(0, 150)],
        };
        let name = format!("r{i}");
        out.push(bam_record(
            &name,
            pos,
            0x1 | 0x2 | 0x40,
            pos + insert - 150,
            &cigar,
        ));
        out.push(bam_record(
            &name,
            pos + insert - 150,
            0x1 | 0x2 | 0x80,
            pos,
            &[(0, 150)],
        ));
        i += 1;
    }
    // Sorted by position, as in a BAM.
    out.sort_by_key(|r| i32::from_le_bytes([r[4], r[5], r[6], r[7]]));
    out
}

fn filter() -> ReadFilter {
    ReadFilter::default()
}

fn default_spec() -> ReduceSpec<'static> {
    ReduceSpec {
        runs: true,
        hist: true,
        ..ReduceSpec::default()
    }
}

/// Reduces a whole contig in the steps the coverage driver uses; intervals are passed only
/// with the stretch they fall in, as the driver does.
fn reduce_all(d: &mut dyn ContigDepth, len: usize, spec: &ReduceSpec) -> usize {
    let mut at = 0;
    let mut n = 0;
    let mut k = 0;
    while at < len {
        let to = (at + (1 << 20)).min(len);
        let j = spec.intervals[k..].partition_point(|iv| (iv.0 as usize) < to) + k;
        let s = ReduceSpec {
            intervals: &spec.intervals[k..j],
            ..*spec
        };
        let r = d.reduce(to, &s).expect("reduce");
        n += r.runs.len() + r.hist.counts.len();
        k = j;
        at = to;
    }
    n
}

fn bench_events(c: &mut Criterion) {
    let len = 2_000_000usize;
    let recs = records(len as i32);
    let parsed: Vec<BamRecord> = recs
        .iter()
        .map(|r| BamRecord::parse(r).expect("valid record"))
        .collect();
    // Count the events once, for the throughput figure.
    let mut b = EventBuilder::new(filter());
    b.begin(len as u64);
    for r in &parsed {
        b.add(r);
    }
    let n_events = b.batch.len() as u64;
    let mut g = c.benchmark_group("events");
    g.throughput(Throughput::Elements(n_events));
    for kind in [BackendKind::Cpu, BackendKind::Cuda, BackendKind::Wgpu] {
        let backend = match backend::open(kind, 1, None) {
            Ok(b) => b,
            Err(why) => {
                // Says why, e.g. "built without CUDA" in a --no-default-features build.
                eprintln!("events/{kind}: backend unavailable ({why}), skipped");
                continue;
            }
        };
        g.bench_with_input(
            BenchmarkId::new("records_to_depth", kind),
            &parsed,
            |bench, parsed| {
                bench.iter(|| {
                    let mut b = EventBuilder::new(filter());
                    b.begin(len as u64);
                    let mut d = backend.begin_contig(len).expect("contig");
                    for r in parsed {
                        b.add(r);
                        if b.batch.len() >= 1 << 16 {
                            d.add_events(&b.batch).expect("events");
                            b.batch.clear();
                        }
                    }
                    d.add_events(&b.batch).expect("events");
                    reduce_all(d.as_mut(), len, &default_spec())
                })
            },
        );
        // The backend step alone: scatter-add and prefix sum of prepared events.
        let mut b = EventBuilder::new(filter());
        b.begin(len as u64);
        for r in &parsed {
            b.add(r);
        }
        let batch = EventBatch {
            starts: b.batch.starts.clone(),
            ends: b.batch.ends.clone(),
        };
        // The backend's kernels alone, on prepared events: scatter-add, prefix sum and the
        // reductions of a default run (runs and histogram), of `-n` (histogram) and of
        // `-n -b 500 -T 1,10,20` (runs, histogram, window sums and thresholds).
        let windows: Vec<(u64, u64)> = (0..len as u64 / 500)
            .map(|i| (i * 500, i * 500 + 500))
            .collect();
        let specs: [(&str, ReduceSpec); 3] = [
            ("kernels_default", default_spec()),
            (
                "kernels_hist",
                ReduceSpec {
                    hist: true,
                    ..ReduceSpec::default()
                },
            ),
            (
                "kernels_windows",
                ReduceSpec {
                    runs: true,
                    hist: true,
                    intervals: &windows,
                    thresholds: &[1, 10, 20],
                    quantize: None,
                },
            ),
        ];
        for (name, spec) in specs {
            g.bench_with_input(BenchmarkId::new(name, kind), &batch, |bench, batch| {
                bench.iter(|| {
                    let mut d = backend.begin_contig(len).expect("contig");
                    d.add_events(batch).expect("events");
                    reduce_all(d.as_mut(), len, &spec)
                })
            });
        }
    }
    g.finish();
}

fn bench_inflate(c: &mut Criterion) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/long.bam");
    let pool = Arc::new(
        rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .expect("pool"),
    );
    let total = {
        let mut s = kasane::io::bgzf::BgzfStream::open(&path, 0, pool.clone()).expect("open");
        let mut n = 0u64;
        while let Some(b) = s.next_batch().expect("batch") {
            n += b.data.len() as u64;
        }
        n
    };
    let mut g = c.benchmark_group("inflate");
    g.throughput(Throughput::Bytes(total));
    g.bench_function("bgzf_one_thread", |bench| {
        bench.iter(|| {
            let mut s = kasane::io::bgzf::BgzfStream::open(&path, 0, pool.clone()).expect("open");
            let mut n = 0u64;
            while let Some(b) = s.next_batch().expect("batch") {
                n += b.data.len() as u64;
                s.give_back(b.data);
            }
            n
        })
    });
    g.finish();
}

criterion_group!(benches, bench_events, bench_inflate);
criterion_main!(benches);
