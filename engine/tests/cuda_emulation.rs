//! The CUDA kernels, run for real without a GPU: `kernels/emu/shim.h` emulates the few CUDA
//! features `kernels/coverage.cu` uses (blocks, threads as OS threads, barriers, warp shuffles,
//! atomics), and `kernels/emu/harness.cpp` compares every kernel with a plain reference (ring
//! wrap-around, carried depth, negative depths, both change-point modes, both histogram paths,
//! interval sums). NVRTC proves the kernels compile; this proves what they compute.
//!
//! Only with the `cuda` feature: a build without it ships no CUDA kernels.
#![cfg(feature = "cuda")]

use std::path::Path;
use std::process::Command;

#[test]
fn cuda_kernels_match_reference_under_cpu_emulation() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let emu = root.join("kernels/emu");
    let tmp = tempfile::tempdir().unwrap();
    let exe = tmp.path().join("harness");
    let cxx = std::env::var("CXX").unwrap_or_else(|_| "g++".into());
    let built = Command::new(&cxx)
        .args(["-std=c++20", "-O1", "-pthread", "-o"])
        .arg(&exe)
        .arg(emu.join("harness.cpp"))
        .output();
    let built = match built {
        Ok(o) => o,
        Err(e) => {
            assert!(
                std::env::var_os("KASANE_REQUIRE_NVRTC").is_none(),
                "{cxx} is needed to run the CUDA kernel emulation: {e}"
            );
            eprintln!("skipped: cannot run {cxx}: {e}");
            return;
        }
    };
    assert!(
        built.status.success(),
        "the kernels do not build under the emulation:\n{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let run = Command::new(&exe).output().unwrap();
    let out = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success() && out.contains("all kernels match"),
        "kernel emulation failed:\n{out}"
    );
}

/// `kernels/pairhmm.cu` under the same emulation, against the Rust reference on a random batch.
#[test]
fn pairhmm_kernel_matches_reference_under_cpu_emulation() {
    use kasane::backend::pairhmm::{reference_costs, PairBatch};
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let exe = tmp.path().join("pairhmm");
    let cxx = std::env::var("CXX").unwrap_or_else(|_| "g++".into());
    let built = match Command::new(&cxx)
        .args(["-std=c++20", "-O1", "-pthread", "-o"])
        .arg(&exe)
        .arg(root.join("kernels/emu/pairhmm_harness.cpp"))
        .output()
    {
        Ok(o) => o,
        Err(e) => {
            assert!(
                std::env::var_os("KASANE_REQUIRE_NVRTC").is_none(),
                "{cxx} is needed to run the CUDA kernel emulation: {e}"
            );
            eprintln!("skipped: cannot run {cxx}: {e}");
            return;
        }
    };
    assert!(
        built.status.success(),
        "pairhmm.cu does not build under the emulation:\n{}",
        String::from_utf8_lossy(&built.stderr)
    );
    // Random haplotypes (some N, varied gap opens) and reads drawn from them with errors.
    let mut rng = kasane::rng::Rng(0x2545_f491_4f6c_dd1d);
    let mut rnd = |m: u64| rng.below(m);
    let mut b = PairBatch {
        gap_ext: 10,
        ..Default::default()
    };
    let mut haps = Vec::new();
    for _ in 0..6 {
        let len = 1 + rnd(120) as usize;
        let w: Vec<u32> = (0..len)
            .map(|_| (if rnd(40) == 0 { 4 } else { rnd(4) }) as u32 | ((16 + rnd(30)) as u32) << 8)
            .collect();
        haps.push((b.push_item(&w), w));
    }
    let mut reads = Vec::new();
    for (_, h) in &haps {
        for _ in 0..8 {
            let st = rnd(h.len() as u64) as usize;
            let en = (st + rnd(90) as usize).min(h.len());
            let mut w = Vec::new();
            for x in &h[st..en] {
                match rnd(25) {
                    0 => {}
                    1 => {
                        w.push(x & 0xff | 30 << 8 | 40 << 16);
                        w.push(rnd(4) as u32 | 20 << 8 | 25 << 16);
                    }
                    2 => w.push(rnd(5) as u32 | (rnd(41) as u32) << 8 | 50 << 16),
                    _ => w.push(x & 0xff | (rnd(41) as u32) << 8 | (10 + rnd(50) as u32) << 16),
                }
            }
            reads.push(b.push_item(&w));
        }
    }
    for &r in &reads {
        for (h, _) in &haps {
            b.push_pair(r, *h);
        }
    }
    let mut bytes = Vec::new();
    bytes.extend_from_slice(&b.gap_ext.to_le_bytes());
    for v in [&b.seqs, &b.items, &b.pairs] {
        bytes.extend_from_slice(&(v.len() as u32).to_le_bytes());
        for x in v.iter() {
            bytes.extend_from_slice(&x.to_le_bytes());
        }
    }
    let input = tmp.path().join("batch.bin");
    std::fs::write(&input, bytes).unwrap();
    let run = Command::new(&exe).arg(&input).output().unwrap();
    assert!(run.status.success(), "harness failed");
    let got: Vec<u32> = String::from_utf8_lossy(&run.stdout)
        .lines()
        .map(|l| l.trim().parse().unwrap())
        .collect();
    assert_eq!(got, reference_costs(&b));
}
