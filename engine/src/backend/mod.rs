//! Compute backends. Every analysis hands its heavy, data-parallel steps to a [`Backend`]; the
//! CPU implementation is the reference that other backends must match exactly (integer
//! arithmetic, and floating point only in a fixed order).

pub mod cpu;

use std::fmt;

use crate::error::{Error, Result};

/// What the user asked for with `--backend`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum BackendKind {
    /// The fastest backend that works on this machine.
    #[default]
    Auto,
    /// NVIDIA GPU through CUDA.
    Cuda,
    /// GPU through wgpu (Vulkan/Metal/DX12).
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
/// end removes one. Positions are clamped to the contig length by the caller.
#[derive(Default)]
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

/// A contig's depth being accumulated on a backend.
pub trait ContigDepth: Send {
    /// Applies a batch of events (scatter-add into the difference array).
    fn add_events(&mut self, batch: &EventBatch) -> Result<()>;
    /// Depth of bases `[done, upto)`, where `done` is where the previous call stopped: the
    /// caller promises no later event falls before `upto`, so these values are final. This lets
    /// outputs stream while the rest of the contig is still being read, and lets the backend
    /// free what it handed out.
    fn take_final(&mut self, upto: usize) -> Result<Vec<i32>>;
}

pub trait Backend: Send + Sync {
    /// Short name (`cpu`, `cuda`, `wgpu`).
    fn name(&self) -> &'static str;
    /// The device, as shown to users and recorded with outputs.
    fn device(&self) -> String;
    /// Starts accumulating depth over a contig of `len` bases.
    fn begin_contig(&self, len: usize) -> Result<Box<dyn ContigDepth>>;
}

/// Opens the backend the user asked for. `auto` picks the CPU until the GPU backends land; a
/// GPU backend asked for by name is an error that says why it cannot start.
pub fn open(kind: BackendKind, threads: usize) -> Result<Box<dyn Backend>> {
    match kind {
        BackendKind::Auto | BackendKind::Cpu => Ok(Box::new(cpu::CpuBackend::new(threads))),
        BackendKind::Cuda | BackendKind::Wgpu => Err(Error::Backend {
            backend: kind.to_string(),
            msg: "this build of kasane has no GPU backends yet; use --backend cpu".into(),
        }),
    }
}
