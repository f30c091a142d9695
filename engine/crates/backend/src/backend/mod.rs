//! Compute backends. Every analysis hands its heavy, data-parallel steps to a [`Backend`]; the
//! CPU implementation is the reference that the CUDA and wgpu backends must match exactly. All
//! kernel arithmetic is integer, so the order in which a device adds things up cannot change a
//! result; the one floating-point step of coverage (mosdepth's region mean, a sequential f64
//! sum) stays on the host, where it is the same code for every backend.
//!
//! Coverage kernels, per contig: events are scatter-added into a difference array on the
//! device; [`ContigDepth::reduce`] turns a stretch of it into final depths (a prefix sum) and
//! reduces them there, handing back only what the outputs need: the change points of depth
//! (the per-base file's runs), a depth histogram, per-interval sums and threshold counts, and the
//! change points of the quantize bin.

//! A backend is two sets of operations, each a trait with a CPU, a CUDA and a wgpu
//! implementation and one test body in `testing` that every implementation passes:
//! - [`depth::CoverageOps`]: the coverage kernels above (types in [`depth`]);
//! - [`pairhmm::PairHmmOps`]: the read × haplotype costs of `kasane call`.
//!
//! The CUDA and wgpu backends are Cargo features (`cuda`, `wgpu`, both default); without one,
//! a stand-in of the same name says "built without ..." wherever the backend would start.

pub mod cpu;
#[cfg(feature = "cuda")]
pub mod cuda;
pub mod depth;
pub mod error;
pub mod pairhmm;
mod stand_in;
#[cfg(feature = "wgpu")]
pub mod wgpu;
pub mod window;

#[cfg(not(feature = "cuda"))]
pub use stand_in::cuda;
#[cfg(not(feature = "wgpu"))]
pub use stand_in::wgpu;

use std::fmt;

pub use depth::{
    quantize_bin, ContigDepth, CoverageOps, EventBatch, HistChunk, IntervalSum, ReduceSpec, Reduced,
};
pub use error::BackendError;
pub use pairhmm::PairHmmOps;

use crate::error::Result;

/// What the user asked for with `--backend`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum BackendKind {
    /// CUDA if a device and driver work, else wgpu on a real GPU adapter, else the CPU.
    #[default]
    Auto,
    /// NVIDIA GPU through CUDA (kernels compiled at run time by NVRTC).
    Cuda,
    /// GPU through wgpu (Vulkan, Metal or DX12) with WGSL compute shaders.
    Wgpu,
    /// CPU threads (rayon).
    Cpu,
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BackendKind::Auto => "auto",
            BackendKind::Cuda => "cuda",
            BackendKind::Wgpu => "wgpu",
            BackendKind::Cpu => "cpu",
        })
    }
}

/// A compute backend: its coverage and pair-HMM operations.
pub trait Backend: Send + Sync {
    /// Short name (`cpu`, `cuda`, `wgpu`).
    fn name(&self) -> &'static str;
    /// The device, as shown to users and recorded with outputs.
    fn device(&self) -> String;
    /// The coverage operations.
    fn coverage(&self) -> &dyn CoverageOps;
    /// The pair-HMM operation of `kasane call`.
    fn pairhmm(&self) -> &dyn PairHmmOps;

    /// Starts accumulating depth over a contig of `len` bases
    /// ([`CoverageOps::begin_contig`]).
    fn begin_contig(&self, len: usize) -> Result<Box<dyn ContigDepth>> {
        self.coverage().begin_contig(len)
    }
    /// Read × haplotype alignment costs of `kasane call`, one per pair of the batch, exactly
    /// as [`pairhmm::reference_costs`] computes them ([`PairHmmOps::pair_costs`]).
    fn pair_costs(&self, batch: &pairhmm::PairBatch) -> Result<Vec<u32>> {
        self.pairhmm().pair_costs(batch)
    }
}

/// What `kasane backends` prints for one backend.
#[derive(Debug)]
pub struct BackendInfo {
    pub kind: BackendKind,
    /// `Ok(description of device, memory, driver)` or `Err(why it cannot start)`.
    pub status: std::result::Result<DeviceInfo, BackendError>,
}

#[derive(Clone, Debug, Default)]
pub struct DeviceInfo {
    pub device: String,
    /// Device memory in bytes, where known.
    pub memory: Option<u64>,
    pub driver: String,
    /// A real GPU (not a CPU emulation such as llvmpipe).
    pub is_gpu: bool,
}

/// Probes every backend without starting any work.
pub fn probe_all(threads: usize) -> Vec<BackendInfo> {
    vec![
        BackendInfo {
            kind: BackendKind::Cuda,
            status: cuda::probe(),
        },
        BackendInfo {
            kind: BackendKind::Wgpu,
            status: wgpu::probe(),
        },
        BackendInfo {
            kind: BackendKind::Cpu,
            status: Ok(cpu::CpuBackend::new(threads).info()),
        },
    ]
}

/// Inputs smaller than this stay on the CPU under `auto`: below it, starting a device
/// (context, kernel compilation) and the per-call transfers cost more than the reductions they
/// replace. `benches/backend_crossover.sh` measures the crossover on a machine; the
/// environment variable `KASANE_GPU_MIN_BYTES` overrides it.
pub const GPU_MIN_BYTES: u64 = 4 << 30;

pub fn gpu_min_bytes() -> u64 {
    std::env::var("KASANE_GPU_MIN_BYTES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(GPU_MIN_BYTES)
}

/// Opens the backend the user asked for. A backend asked for by name that cannot start is an
/// error saying why. `auto` takes the first of CUDA, wgpu on a real GPU, and the CPU that
/// works, and the CPU for inputs under [`gpu_min_bytes`] (`input_bytes`, when known).
pub fn open(
    kind: BackendKind,
    threads: usize,
    input_bytes: Option<u64>,
) -> Result<Box<dyn Backend>> {
    let fail = |kind: BackendKind, e: BackendError| e.into_error(&kind.to_string());
    match kind {
        BackendKind::Cpu => Ok(Box::new(cpu::CpuBackend::new(threads))),
        BackendKind::Cuda => cuda::CudaBackend::open()
            .map(|b| Box::new(b) as Box<dyn Backend>)
            .map_err(|m| fail(kind, m)),
        BackendKind::Wgpu => wgpu::WgpuBackend::open(false)
            .map(|b| Box::new(b) as Box<dyn Backend>)
            .map_err(|m| fail(kind, m)),
        BackendKind::Auto => {
            if input_bytes.is_some_and(|n| n < gpu_min_bytes()) {
                return Ok(Box::new(cpu::CpuBackend::new(threads)));
            }
            if let Ok(b) = cuda::CudaBackend::open() {
                return Ok(Box::new(b));
            }
            if let Ok(b) = wgpu::WgpuBackend::open(true) {
                return Ok(Box::new(b));
            }
            Ok(Box::new(cpu::CpuBackend::new(threads)))
        }
    }
}

/// The test bodies every implementation of each operation passes.
#[cfg(test)]
pub mod testing;

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    /// Every source file of the backend, with its text.
    fn sources() -> Vec<(PathBuf, String)> {
        fn walk(dir: &Path, out: &mut Vec<(PathBuf, String)>) {
            for e in std::fs::read_dir(dir).expect("backend sources").flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(&p, out);
                } else if p.extension().is_some_and(|x| x == "rs") {
                    let text = std::fs::read_to_string(&p).expect("read a source");
                    out.push((p, text));
                }
            }
        }
        let mut out = Vec::new();
        walk(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("src/backend"),
            &mut out,
        );
        assert!(out.len() > 5, "backend sources not found");
        out
    }

    /// `coverage` uses the backend's types; the backend must not use `coverage` back (it did,
    /// for `quantize_bin`), so the two form no circle.
    #[test]
    fn backend_does_not_import_coverage() {
        let needle = concat!("crate::", "coverage");
        for (path, text) in sources() {
            assert!(!text.contains(needle), "{} uses {needle}", path.display());
        }
    }

    /// Backend errors are typed ([`super::BackendError`]), not strings.
    #[test]
    fn backend_errors_are_typed_not_strings() {
        let needle = concat!(", ", "String>");
        for (path, text) in sources() {
            for (i, line) in text.lines().enumerate() {
                assert!(
                    !(line.contains("Result") && line.contains(needle)),
                    "{}:{}: a string error: {line}",
                    path.display(),
                    i + 1
                );
            }
        }
    }
}
