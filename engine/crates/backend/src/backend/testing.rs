//! One test body per operation, run on every backend (cpu, cuda, wgpu, and the window logic
//! over an emulated device):
//! - coverage ([`check_backend`]): random events, reduced in uneven steps with every kind of
//!   request, must give exactly what the CPU reference gives on a naive prefix sum;
//! - pair-HMM ([`check_pair_costs`]): random reads against mutated haplotypes must cost
//!   exactly what [`reference_costs`] says.

use super::cpu::reduce_depths;
use super::pairhmm::{reference_costs, PairBatch};
use super::{Backend, EventBatch, ReduceSpec};

use crate::rng::Rng;

/// A contig's reads as they arrive sorted: (start, end) pairs, some long, some piled up.
fn reads(rng: &mut Rng, len: u64, n: usize, max_span: u64) -> Vec<(u32, u32)> {
    let mut starts: Vec<u64> = (0..n).map(|_| rng.below(len)).collect();
    // Pile-ups: deep stacks at a few places, to reach high depths.
    for _ in 0..3 {
        let at = rng.below(len);
        for _ in 0..(n / 8) {
            starts.push(at);
        }
    }
    starts.sort_unstable();
    starts
        .into_iter()
        .map(|s| {
            let e = (s + 1 + rng.below(max_span)).min(len);
            (s as u32, e as u32)
        })
        .collect()
}

/// Runs `backend`'s coverage operations over several contigs and compares every reduction
/// with the reference.
pub fn check_backend(backend: &dyn Backend) {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let cases: [(u64, usize, u64); 5] = [
        (1, 1, 1),
        (1000, 50, 100),
        (70_000, 3000, 300),
        (3_000_000, 20_000, 20_000),
        // A span far longer than any device window, and an empty stretch after it.
        (40_000_000, 200, 3_000_000),
    ];
    let q = [0i64, 1, 4, 30, i64::MAX];
    let q2 = [2i64, 5];
    for (case, &(len, n, span)) in cases.iter().enumerate() {
        let reads = reads(&mut rng, len, n, span);
        // The reference: a naive difference array over len + 1 bases.
        let mut d = vec![0i32; len as usize + 1];
        for &(s, e) in &reads {
            d[s as usize] += 1;
            d[e as usize] -= 1;
        }
        let mut acc = 0;
        for v in &mut d {
            acc += *v;
            *v = acc;
        }
        let mut c = backend
            .coverage()
            .begin_contig(len as usize)
            .expect("begin_contig");
        let mut done = 0usize;
        let mut next = 0usize;
        let mut step = 0;
        while done < len as usize + 1 {
            // Deliver the reads starting before a point ahead of `done`, in a few batches.
            let ahead = done + 1 + rng.below(1 << 21) as usize;
            let mut batch = EventBatch::default();
            while next < reads.len() && (reads[next].0 as usize) < ahead {
                batch.starts.push(reads[next].0);
                batch.ends.push(reads[next].1);
                next += 1;
                if batch.len() > 5000 {
                    c.add_events(&batch).expect("add_events");
                    batch.clear();
                }
            }
            c.add_events(&batch).expect("add_events");
            let limit = if next < reads.len() {
                reads[next].0 as usize
            } else {
                len as usize + 1
            };
            let to = (done + 1 + rng.below(1 << 20) as usize)
                .min(limit)
                .max(done)
                .min(len as usize + 1);
            let lo = done as u64;
            let hi = to as u64;
            let intervals: Vec<(u64, u64)> = (0..rng.below(40))
                .map(|_| {
                    let s = lo.saturating_sub(50) + rng.below(hi - lo + 100);
                    (s, s + rng.below(3000))
                })
                .chain([(0, len + 1), (hi, hi + 10)])
                .collect();
            let thresholds = [0u32, 1, 2, 10, 100];
            let spec = match step % 4 {
                0 => ReduceSpec {
                    runs: true,
                    hist: true,
                    intervals: &intervals,
                    thresholds: &thresholds,
                    quantize: Some(&q),
                },
                1 => ReduceSpec {
                    hist: true,
                    ..ReduceSpec::default()
                },
                2 => ReduceSpec {
                    runs: true,
                    intervals: &intervals,
                    thresholds: &[],
                    quantize: Some(&q2),
                    ..ReduceSpec::default()
                },
                _ => ReduceSpec::default(),
            };
            let got = c.reduce(to, &spec).expect("reduce");
            let want = reduce_depths(done, &d[done..to], &spec);
            assert_eq!(
                got,
                want,
                "{}: case {case} (len {len}), step {step}, [{done}, {to})",
                backend.name()
            );
            done = to;
            step += 1;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Pair-HMM

/// Random haplotypes (some N, varied gap opens) and reads drawn from them with errors.
pub fn random_batch(seed: u64, n_haps: usize, reads_per_hap: usize) -> PairBatch {
    let mut rng = Rng(seed | 1);
    let mut b = PairBatch {
        gap_ext: 10,
        ..Default::default()
    };
    let mut haps = Vec::new();
    for _ in 0..n_haps {
        let len = 1 + rng.below(300) as usize;
        let words: Vec<u32> = (0..len)
            .map(|_| {
                let code = if rng.below(50) == 0 { 4 } else { rng.below(4) };
                code as u32 | ((15 + rng.below(40)) as u32) << 8
            })
            .collect();
        haps.push((b.push_item(&words), words));
    }
    let mut reads = Vec::new();
    for (_, hap) in &haps {
        for _ in 0..reads_per_hap {
            let s = rng.below(hap.len() as u64) as usize;
            let e = (s + rng.below(200) as usize).min(hap.len());
            let mut words = Vec::new();
            for w in &hap[s..e] {
                match rng.below(30) {
                    0 => {}
                    1 => {
                        words.push(w & 0xff | 30 << 8 | 45 << 16);
                        words.push(rng.below(5) as u32 | 20 << 8 | 30 << 16);
                    }
                    2 => words.push(
                        rng.below(4) as u32
                            | (rng.below(41) as u32) << 8
                            | (10 + rng.below(50) as u32) << 16,
                    ),
                    _ => words.push(
                        w & 0xff | (rng.below(41) as u32) << 8 | (10 + rng.below(50) as u32) << 16,
                    ),
                }
            }
            reads.push(b.push_item(&words));
        }
    }
    for &r in &reads {
        for (h, _) in &haps {
            if rng.below(3) > 0 {
                b.push_pair(r, *h);
            }
        }
    }
    b
}

/// Runs `backend`'s pair-HMM on random batches and compares every cost with the reference.
pub fn check_pair_costs(backend: &dyn Backend) {
    for (seed, nh, nr) in [(1u64, 1usize, 1usize), (7, 5, 8), (99, 12, 20)] {
        let b = random_batch(seed, nh, nr);
        let want = reference_costs(&b);
        let got = backend.pairhmm().pair_costs(&b).expect("pair_costs");
        assert_eq!(got, want, "{}: seed {seed}", backend.name());
    }
    let empty = PairBatch::default();
    assert!(backend
        .pairhmm()
        .pair_costs(&empty)
        .expect("empty")
        .is_empty());
}
