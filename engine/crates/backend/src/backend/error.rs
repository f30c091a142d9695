//! Why a backend cannot start or failed. The CUDA and wgpu errors are kept as sources; each
//! message reads exactly as the backends have always written it (`kasane backends` and the
//! tests show them), so a variant's text may repeat its source's.

use crate::error::Error;

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The backend's Cargo feature was off (`--no-default-features`): `what` is "CUDA" or
    /// "wgpu".
    #[error("built without {0}")]
    NotBuilt(&'static str),

    // --- CUDA: what is missing
    #[error("libcuda.so not found (no NVIDIA driver)")]
    NoDriver,
    #[error("no CUDA device")]
    NoDevice,
    #[error(
        "libnvrtc not found: install CUDA's NVRTC or `pip install nvidia-cuda-nvrtc==13.0.88` \
         and put its lib folder (site-packages/nvidia/cu13/lib, which holds libnvrtc.so.13) on \
         LD_LIBRARY_PATH"
    )]
    NoNvrtc,
    /// cudarc panicked (it does where a library or symbol is missing).
    #[error("CUDA failed: {0}")]
    CudaPanicked(String),

    // --- CUDA: a call failed
    /// A driver call; `what` says what was being done.
    #[cfg(feature = "cuda")]
    #[error("{what}: {source}")]
    Driver {
        what: std::borrow::Cow<'static, str>,
        #[source]
        source: cudarc::driver::DriverError,
    },
    /// The coverage PTX does not load (typically PTX newer than the driver).
    #[cfg(feature = "cuda")]
    #[error(
        "loading the PTX ({nvrtc}, {arch}) failed: {source} (PTX from an NVRTC newer than the \
         driver's CUDA version ({cuda}) does not load)"
    )]
    LoadPtx {
        nvrtc: String,
        arch: String,
        cuda: String,
        #[source]
        source: cudarc::driver::DriverError,
    },
    /// An NVRTC query (`call`) failed.
    #[cfg(feature = "cuda")]
    #[error("{call}: {:?}", .source.0)]
    Nvrtc {
        call: &'static str,
        #[source]
        source: cudarc::nvrtc::result::NvrtcError,
    },
    /// NVRTC rejected a kernel source; `log` is its compiler output.
    #[error("NVRTC {major}.{minor} could not compile kernels/{file} for {arch}:\n{log}")]
    KernelCompile {
        major: i32,
        minor: i32,
        file: &'static str,
        arch: String,
        log: String,
    },
    /// NVRTC failed other than by rejecting the source.
    #[cfg(feature = "cuda")]
    #[error("NVRTC {major}.{minor}, {arch}: {source}")]
    NvrtcCompile {
        major: i32,
        minor: i32,
        arch: String,
        #[source]
        source: cudarc::nvrtc::CompileError,
    },
    #[error(
        "NVRTC supports none of the architectures up to the device's compute capability \
         {major}.{minor} (it supports {archs:?})"
    )]
    NoArch {
        major: i32,
        minor: i32,
        archs: Vec<i32>,
    },

    // --- wgpu
    #[cfg(feature = "wgpu")]
    #[error(
        "no Vulkan, Metal or DX12 adapter found (install a GPU driver, or mesa-vulkan-drivers \
         for a CPU emulation)"
    )]
    NoAdapter {
        #[source]
        source: wgpu::RequestAdapterError,
    },
    #[error(
        "no Vulkan, Metal or DX12 adapter found (install a GPU driver, or mesa-vulkan-drivers \
         for a CPU emulation) (the adapter query panicked)"
    )]
    AdapterPanicked,
    /// `auto` refuses a CPU emulation of a GPU (llvmpipe).
    #[error("only a CPU emulation ({0}) is available")]
    CpuEmulationOnly(String),
    #[cfg(feature = "wgpu")]
    #[error("cannot open {device}: {source}")]
    OpenDevice {
        device: String,
        #[source]
        source: wgpu::RequestDeviceError,
    },
    #[error("cannot open {0}: wgpu panicked")]
    OpenPanicked(String),
    #[error("the shaders do not build: {0}")]
    Shaders(String),
    /// A validation or device error wgpu reported (it hands them over as text).
    #[error("{0}")]
    WgpuDevice(String),
    #[cfg(feature = "wgpu")]
    #[error("waiting for the device: {source}")]
    Poll {
        #[source]
        source: wgpu::PollError,
    },
    #[cfg(feature = "wgpu")]
    #[error("reading results back: {source}")]
    MapBuffer {
        #[source]
        source: wgpu::BufferAsyncError,
    },
    #[cfg(feature = "wgpu")]
    #[error("reading results back: {source:?}")]
    MapRange {
        #[source]
        source: wgpu::MapRangeError,
    },
    #[error("reading results back: the device did not answer")]
    NoAnswer,
    #[error("at most {max} thresholds are supported, {given} given")]
    TooManyThresholds { max: usize, given: usize },

    // --- inputs the kernels cannot take
    #[error("contig of {0} bases is too long")]
    ContigTooLong(usize),
    #[error("event at {pos} past the contig's end ({last})")]
    EventPastEnd { pos: u32, last: usize },
    #[error("depths range from {lo} to {hi}: too wide for a histogram")]
    HistogramTooWide { lo: i32, hi: i32 },
    #[error("quantize: no bin edges")]
    NoQuantizeEdges,
    #[error("item {0} runs past the sequences")]
    ItemPastSequences(usize),
    #[error("a pair names a missing item")]
    PairMissingItem,

    #[error("internal: no pipeline {0}")]
    NoPipeline(String),
    /// A broken invariant of the backend itself (a bug, not an input problem).
    #[error("internal: {0}")]
    Internal(&'static str),
}

impl BackendError {
    /// The library error for backend `backend` (`cpu`, `cuda`, `wgpu`): `backend NAME: why`.
    pub fn into_error(self, backend: &str) -> Error {
        Error::Backend {
            backend: backend.into(),
            msg: self.to_string(),
        }
    }

    /// Wraps a CUDA driver error, saying what was being done.
    #[cfg(feature = "cuda")]
    pub fn driver(
        what: impl Into<std::borrow::Cow<'static, str>>,
    ) -> impl FnOnce(cudarc::driver::DriverError) -> Self {
        let what = what.into();
        move |source| BackendError::Driver { what, source }
    }
}

pub type BackendResult<T> = std::result::Result<T, BackendError>;

#[cfg(test)]
mod tests {
    use super::*;

    /// The texts `kasane backends` and the tests have always shown.
    #[test]
    fn messages_read_as_before() {
        assert_eq!(
            BackendError::NotBuilt("CUDA").to_string(),
            "built without CUDA"
        );
        assert_eq!(
            BackendError::AdapterPanicked.to_string(),
            "no Vulkan, Metal or DX12 adapter found (install a GPU driver, or \
             mesa-vulkan-drivers for a CPU emulation) (the adapter query panicked)"
        );
        assert_eq!(
            BackendError::NoNvrtc.to_string(),
            "libnvrtc not found: install CUDA's NVRTC or `pip install \
             nvidia-cuda-nvrtc==13.0.88` and put its lib folder (site-packages/nvidia/cu13/lib, \
             which holds libnvrtc.so.13) on LD_LIBRARY_PATH"
        );
        assert_eq!(
            BackendError::NoQuantizeEdges.into_error("wgpu").to_string(),
            "backend wgpu: quantize: no bin edges"
        );
    }
}
