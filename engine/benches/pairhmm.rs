//! The pair-HMM on the CPU: reads side by side in vector lanes (`CpuBackend::pair_costs`:
//! `pairhmm::pair_costs_wide`, 16 lanes of 16-bit cells, while more than 8 reads of a
//! haplotype are left, then `pairhmm::pair_costs_lanes`, 8 of 32 bits; AVX2 where present)
//! against one pair at a time
//! (`pairhmm::reference_costs`, the scalar recurrence every backend must match), on one
//! thread, over a batch shaped like an ONT window's: 40 reads of 60 to 140 bases with 5 %
//! errors against 12 haplotypes of 100 bases. Prints both in DP cells per second; the lanes
//! are kept because this measures them faster (see benches/RESULTS.md).
//!
//! cargo bench --bench pairhmm

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use kasane::backend::pairhmm::{reference_costs, PairBatch, PairHmmOps};
use kasane::rng::Rng;

fn batch() -> PairBatch {
    let mut rng = Rng(7);
    let mut b = PairBatch {
        gap_ext: 10,
        ..Default::default()
    };
    let base = rng.seq(100);
    let word = |c: u8| match c {
        b'A' => 0u32,
        b'C' => 1,
        b'G' => 2,
        _ => 3,
    };
    let haps: Vec<u32> = (0..12)
        .map(|k| {
            let mut s = base.clone();
            s[10 + 7 * k] = b"ACGT"[k % 4];
            b.push_item(&s.iter().map(|&c| word(c) | 40 << 8).collect::<Vec<_>>())
        })
        .collect();
    for _ in 0..40 {
        let lo = rng.below(20) as usize;
        let hi = 80 + rng.below(21) as usize;
        let mut r: Vec<u32> = Vec::new();
        for &c in &base[lo..hi] {
            match rng.below(40) {
                0 => {}
                1 => r.extend([word(c), word(b"ACGT"[rng.below(4) as usize])]),
                _ => r.push(word(c)),
            }
        }
        let read: Vec<u32> = r.into_iter().map(|w| w | 15 << 8 | 14 << 16).collect();
        let ri = b.push_item(&read);
        for &h in &haps {
            b.push_pair(ri, h);
        }
    }
    b
}

fn bench_pairhmm(c: &mut Criterion) {
    let b = batch();
    let cells: u64 = (0..b.n_pairs())
        .map(|p| (b.item(b.pairs[2 * p]).len() * b.item(b.pairs[2 * p + 1]).len()) as u64)
        .sum();
    let cpu = kasane::backend::cpu::CpuBackend::new(1);
    // The backend works on the caller's pool: one thread, as the reference.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("pool");
    let lanes = || pool.install(|| cpu.pair_costs(&b).expect("lanes"));
    assert_eq!(
        lanes(),
        reference_costs(&b),
        "the lanes must equal the reference"
    );
    let mut g = c.benchmark_group("pairhmm");
    g.throughput(Throughput::Elements(cells));
    g.bench_function("lanes", |x| x.iter(lanes));
    g.bench_function("one_pair_at_a_time", |x| x.iter(|| reference_costs(&b)));
    g.finish();
}

criterion_group!(benches, bench_pairhmm);
criterion_main!(benches);
