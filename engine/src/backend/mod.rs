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

pub mod cpu;
pub mod cuda;
pub mod pairhmm;
pub mod wgpu;
pub mod window;

use std::fmt;

use crate::error::{Error, Result};

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

/// Depth events of one contig: each start adds one to the depth from that position on, each
/// end removes one. Positions are clamped to the contig length by the caller, so they lie in
/// `[0, len]`.
#[derive(Default, Clone, Debug)]
pub struct EventBatch {
    pub starts: Vec<u32>,
    pub ends: Vec<u32>,
}

impl EventBatch {
    pub fn len(&self) -> usize {
        self.starts.len() + self.ends.len()
    }
    pub fn is_empty(&self) -> bool {
        self.starts.is_empty() && self.ends.is_empty()
    }
    pub fn clear(&mut self) {
        self.starts.clear();
        self.ends.clear();
    }
}

/// What to compute from the final depths of a stretch `[from, to)`.
#[derive(Clone, Copy, Debug, Default)]
pub struct ReduceSpec<'a> {
    /// Change points of depth ([`Reduced::runs`]).
    pub runs: bool,
    /// Depth histogram ([`Reduced::hist`]).
    pub hist: bool,
    /// Intervals `[start, end)` in contig coordinates; each is clipped to the stretch and
    /// summarised in [`Reduced::intervals`] (one entry per interval, in this order).
    pub intervals: &'a [(u64, u64)],
    /// Depths to count bases at or above, per interval (sorted ascending).
    pub thresholds: &'a [u32],
    /// Quantize bin edges (sorted, as `-q` parses them): asks for [`Reduced::qruns`].
    pub quantize: Option<&'a [i64]>,
}

/// Exact histogram of a stretch: `counts[i]` bases have depth `min + i`. Empty when the
/// stretch is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HistChunk {
    pub min: i32,
    pub counts: Vec<u64>,
}

/// Integer summary of one interval's bases inside the stretch. Depths are compared as `u32`
/// for min and max (mosdepth keeps them unsigned), and summed as `i64`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IntervalSum {
    pub len: u64,
    pub sum: i64,
    pub min: u32,
    pub max: u32,
    /// Bases with depth `>= thresholds[k]`, per threshold.
    pub above: Vec<u64>,
}

impl IntervalSum {
    pub fn empty(thresholds: usize) -> Self {
        IntervalSum {
            len: 0,
            sum: 0,
            min: u32::MAX,
            max: 0,
            above: vec![0; thresholds],
        }
    }

    pub fn merge(&mut self, o: &IntervalSum) {
        self.len += o.len;
        self.sum = self.sum.wrapping_add(o.sum);
        self.min = self.min.min(o.min);
        self.max = self.max.max(o.max);
        for (a, b) in self.above.iter_mut().zip(&o.above) {
            *a += b;
        }
    }
}

/// The reductions of `[from, to)` that a [`ReduceSpec`] asked for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reduced {
    pub from: usize,
    pub to: usize,
    /// `(position, depth)` where depth differs from the base before, in order. `from` is always
    /// listed (when the stretch is not empty), so the depth at any position of the stretch is
    /// that of the last entry at or before it.
    pub runs: Vec<(u32, i32)>,
    pub hist: HistChunk,
    pub intervals: Vec<IntervalSum>,
    /// `(position, bin)` where the quantize bin (as [`quantize_bin`] gives it, -1 outside
    /// every bin) differs from the base before; `from` is always listed.
    ///
    /// [`quantize_bin`]: crate::coverage::stats::quantize_bin
    pub qruns: Vec<(u32, i32)>,
}

/// A contig's depth being accumulated on a backend.
pub trait ContigDepth: Send {
    /// Applies a batch of events (scatter-add into the difference array). Events may fall
    /// anywhere in `[done, len]`, where `done` is where the last [`reduce`](Self::reduce)
    /// stopped.
    fn add_events(&mut self, batch: &EventBatch) -> Result<()>;
    /// Final depths of `[done, to)` (`to` at most `len + 1`; the base at `len` exists, as in
    /// mosdepth, and is normally 0), reduced as `spec` asks. The caller promises that no later
    /// event falls before `to`. The backend may free what lies before `to`.
    fn reduce(&mut self, to: usize, spec: &ReduceSpec) -> Result<Reduced>;
}

pub trait Backend: Send + Sync {
    /// Short name (`cpu`, `cuda`, `wgpu`).
    fn name(&self) -> &'static str;
    /// The device, as shown to users and recorded with outputs.
    fn device(&self) -> String;
    /// Starts accumulating depth over a contig of `len` bases.
    fn begin_contig(&self, len: usize) -> Result<Box<dyn ContigDepth>>;
    /// Read × haplotype alignment costs of `kasane call`, one per pair of the batch, exactly
    /// as [`pairhmm::reference_costs`] computes them.
    fn pair_costs(&self, batch: &pairhmm::PairBatch) -> Result<Vec<u32>>;
}

/// What `kasane backends` prints for one backend.
#[derive(Clone, Debug)]
pub struct BackendInfo {
    pub kind: BackendKind,
    /// `Ok(description of device, memory, driver)` or `Err(why it cannot start)`.
    pub status: std::result::Result<DeviceInfo, String>,
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
    let fail = |kind: BackendKind, msg: String| Error::Backend {
        backend: kind.to_string(),
        msg,
    };
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

/// Checks a backend against the CPU reference on one contig's events; shared by every
/// backend's tests so they all assert the same things.
#[cfg(test)]
pub mod testing;
