//! The CUDA backend: kernels in `kernels/coverage.cu` and `kernels/pairhmm.cu`, compiled at run
//! time by NVRTC for the device's compute capability (a virtual `compute_XY` architecture,
//! which the driver JITs), launched through cudarc's driver API. libcuda and libnvrtc are
//! opened at run time, so a build with CUDA runs everywhere and [`probe`] says why the backend
//! cannot start.
//!
//! This module opens the device, compiles and loads the kernels, and holds the helpers every
//! launch and transfer goes through ([`launch`], [`upload`], [`download`]); the operations
//! are in [`coverage`] (the coverage kernels over the shared window logic) and [`pairhmm`].
//!
//! Per contig, the differences live on the device in a ring of `W` slots (a power of two, at
//! most [`MAX_WINDOW`]); position `p` is slot `p & (W - 1)`. Events before `done + W` are
//! scatter-added there (one upload per batch); later ones wait on the host until the window
//! reaches them. [`ContigDepth::reduce`] walks `[done, to)` in pieces of at most `W` bases: a
//! device scan turns a piece into final depths (zeroing the slots it consumed, so the ring
//! is ready for the next `W` positions), and the reductions run on those depths; only their
//! results come back. A stretch with no event on the device is constant, so it is reduced on
//! the host without any device work.
//!
//! [`MAX_WINDOW`]: crate::backend::window::MAX_WINDOW
//! [`ContigDepth::reduce`]: crate::backend::ContigDepth::reduce

mod coverage;
mod pairhmm;

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use cudarc::driver::{
    CudaContext, CudaFunction, CudaModule, CudaSlice, CudaStream, DeviceRepr, LaunchArgs,
    LaunchConfig, ValidAsZeroBits,
};
use cudarc::nvrtc::{CompileOptions, Ptx};

use crate::backend::error::{BackendError, BackendResult};
use crate::backend::{Backend, CoverageOps, DeviceInfo, PairHmmOps};

/// The kernel source, compiled by NVRTC when the backend opens.
pub const SOURCE: &str = include_str!("../../../../../../kernels/coverage.cu");

/// The read × haplotype kernel of `kasane call` ([`crate::backend::pairhmm`]).
pub const PAIRHMM_SOURCE: &str = include_str!("../../../../../../kernels/pairhmm.cu");
pub const PAIRHMM_KERNELS: [&str; 1] = ["pair_costs"];

/// A kernel source file and the kernels it must define.
#[derive(Clone, Copy)]
pub struct KernelSource {
    pub file: &'static str,
    pub text: &'static str,
    pub kernels: &'static [&'static str],
}

pub const COVERAGE: KernelSource = KernelSource {
    file: "coverage.cu",
    text: SOURCE,
    kernels: &KERNELS,
};
pub const PAIRHMM: KernelSource = KernelSource {
    file: "pairhmm.cu",
    text: PAIRHMM_SOURCE,
    kernels: &PAIRHMM_KERNELS,
};

/// Every kernel the backend loads from [`SOURCE`].
pub const KERNELS: [&str; 9] = [
    "scatter_events",
    "tile_sums",
    "scan_tile_offsets",
    "scan_tiles",
    "flags_count",
    "scan_counts",
    "flags_scatter",
    "hist_counts",
    "interval_sums",
];

/// Runs `f`, turning a panic inside cudarc (it panics where a library or symbol is missing)
/// into an error.
fn guarded<T>(f: impl FnOnce() -> BackendResult<T>) -> BackendResult<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(p) => {
            let why = p
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| p.downcast_ref::<&str>().copied())
                .unwrap_or("unknown panic");
            Err(BackendError::CudaPanicked(why.to_string()))
        }
    }
}

fn driver_present() -> bool {
    // SAFETY: only tries to open the library.
    unsafe { cudarc::driver::sys::is_culib_present() }
}

fn nvrtc_present() -> bool {
    // SAFETY: only tries to open the library.
    unsafe { cudarc::nvrtc::sys::is_culib_present() }
}

/// What [`probe`] found.
struct Found {
    info: DeviceInfo,
    /// "CUDA 13.0"
    cuda: String,
}

fn probe_found() -> BackendResult<Found> {
    guarded(|| {
        use cudarc::driver::{result, sys};
        let drv = BackendError::driver;
        if !driver_present() {
            return Err(BackendError::NoDriver);
        }
        match result::init() {
            Ok(()) => {}
            Err(e) if e.0 == sys::CUresult::CUDA_ERROR_NO_DEVICE => {
                return Err(BackendError::NoDevice)
            }
            Err(e) => return Err(drv("cuInit failed")(e)),
        }
        let count = result::device::get_count().map_err(drv("cuDeviceGetCount"))?;
        if count < 1 {
            return Err(BackendError::NoDevice);
        }
        let dev = result::device::get(0).map_err(drv("cuDeviceGet(0)"))?;
        let name = result::device::get_name(dev).map_err(drv("cuDeviceGetName"))?;
        // SAFETY: `dev` is a valid device handle from cuDeviceGet.
        let memory = unsafe { result::device::total_mem(dev) }.map_err(drv("cuDeviceTotalMem"))?;
        let mut v: std::ffi::c_int = 0;
        // SAFETY: writes one int.
        let r = unsafe { sys::cuDriverGetVersion(&mut v) };
        let version = if r == sys::CUresult::CUDA_SUCCESS {
            format!("{}.{}", v / 1000, (v % 1000) / 10)
        } else {
            "version unknown".to_string()
        };
        if !nvrtc_present() {
            return Err(BackendError::NoNvrtc);
        }
        Ok(Found {
            info: DeviceInfo {
                device: name,
                memory: Some(memory as u64),
                driver: format!("CUDA driver {version}"),
                is_gpu: true,
            },
            cuda: format!("CUDA {version}"),
        })
    })
}

/// Whether the CUDA backend can start here, and on what. Never panics.
pub fn probe() -> BackendResult<DeviceInfo> {
    probe_found().map(|f| f.info)
}

// ---------------------------------------------------------------------------------------------
// NVRTC

/// An NVRTC query's status as a result.
fn nvrtc_call(call: &'static str, r: cudarc::nvrtc::sys::nvrtcResult) -> BackendResult<()> {
    r.result()
        .map_err(|source| BackendError::Nvrtc { call, source })
}

/// NVRTC's version, `(major, minor)`.
fn nvrtc_version() -> BackendResult<(i32, i32)> {
    let (mut major, mut minor): (std::ffi::c_int, std::ffi::c_int) = (0, 0);
    // SAFETY: writes two ints; the library is present (checked by the callers).
    let r = unsafe { cudarc::nvrtc::sys::nvrtcVersion(&mut major, &mut minor) };
    nvrtc_call("nvrtcVersion", r)?;
    Ok((major, minor))
}

/// The architectures NVRTC can compile for (as `75`, `90`, ...).
fn nvrtc_archs() -> BackendResult<Vec<i32>> {
    use cudarc::nvrtc::sys;
    let mut n: std::ffi::c_int = 0;
    // SAFETY: writes one int.
    let r = unsafe { sys::nvrtcGetNumSupportedArchs(&mut n) };
    nvrtc_call("nvrtcGetNumSupportedArchs", r)?;
    let mut v = vec![0 as std::ffi::c_int; n.max(0) as usize];
    if !v.is_empty() {
        // SAFETY: `v` holds the `n` ints NVRTC writes.
        let r = unsafe { sys::nvrtcGetSupportedArchs(v.as_mut_ptr()) };
        nvrtc_call("nvrtcGetSupportedArchs", r)?;
    }
    Ok(v)
}

/// The virtual architecture to compile for on a device of compute capability `major.minor`:
/// its own, or the newest NVRTC knows below it (the driver JITs PTX for newer devices).
fn pick_arch(major: i32, minor: i32) -> BackendResult<String> {
    let want = major * 10 + minor;
    let archs = nvrtc_archs()?;
    match archs.iter().copied().filter(|&a| a <= want).max() {
        Some(a) => Ok(format!("compute_{a}")),
        None => Err(BackendError::NoArch {
            major,
            minor,
            archs,
        }),
    }
}

fn fnv1a(bytes: &[u8], mut h: u64) -> u64 {
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn cache_dir() -> Option<PathBuf> {
    if let Some(x) = std::env::var_os("XDG_CACHE_HOME").filter(|x| !x.is_empty()) {
        return Some(PathBuf::from(x).join("kasane"));
    }
    std::env::var_os("HOME")
        .filter(|x| !x.is_empty())
        .map(|h| PathBuf::from(h).join(".cache").join("kasane"))
}

/// PTX compiled this process, by architecture.
fn ptx_cache() -> &'static Mutex<HashMap<String, String>> {
    static CACHE: OnceLock<Mutex<HashMap<String, String>>> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Compiles [`SOURCE`] to PTX for the virtual architecture `arch` (`compute_90`), using only
/// NVRTC (no driver, no GPU). Results are cached for the process and on disk (under
/// `$XDG_CACHE_HOME/kasane` or `~/.cache/kasane`, keyed by a hash of the source, the
/// architecture and NVRTC's version); failures to cache are ignored.
pub fn compile_ptx(src: &KernelSource, arch: &str) -> BackendResult<String> {
    let mem_key = format!("{}:{arch}", src.file);
    if let Some(p) = ptx_cache()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&mem_key)
    {
        return Ok(p.clone());
    }
    let ptx = guarded(|| {
        if !nvrtc_present() {
            return Err(BackendError::NoNvrtc);
        }
        let (major, minor) = nvrtc_version()?;
        let key = format!("{arch}\0nvrtc {major}.{minor}\0");
        let hash = fnv1a(
            src.text.as_bytes(),
            fnv1a(key.as_bytes(), 0xcbf2_9ce4_8422_2325),
        );
        let stem = src.file.trim_end_matches(".cu");
        let file = cache_dir().map(|d| d.join(format!("{stem}-{hash:016x}.ptx")));
        if let Some(text) = file.as_ref().and_then(|f| std::fs::read_to_string(f).ok()) {
            if src
                .kernels
                .iter()
                .all(|k| text.contains(&format!(".entry {k}(")))
            {
                return Ok(text);
            }
        }
        let text = nvrtc_compile(src, arch, (major, minor))?;
        if let Some(f) = &file {
            store(f, &text);
        }
        Ok(text)
    })?;
    ptx_cache()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(mem_key, ptx.clone());
    Ok(ptx)
}

/// Compiles [`SOURCE`] for `arch` with NVRTC (whose version is `(major, minor)`), no cache.
fn nvrtc_compile(
    src: &KernelSource,
    arch: &str,
    (major, minor): (i32, i32),
) -> BackendResult<String> {
    let opts = CompileOptions {
        options: vec![
            format!("--gpu-architecture={arch}"),
            "--std=c++17".to_string(),
        ],
        name: Some(src.file.to_string()),
        ..Default::default()
    };
    let ptx = cudarc::nvrtc::compile_ptx_with_opts(src.text, opts).map_err(|e| match e {
        cudarc::nvrtc::CompileError::CompileError { log, .. } => BackendError::KernelCompile {
            major,
            minor,
            file: src.file,
            arch: arch.to_string(),
            log: log.to_string_lossy().into_owned(),
        },
        source => BackendError::NvrtcCompile {
            major,
            minor,
            arch: arch.to_string(),
            source,
        },
    })?;
    Ok(ptx.to_src())
}

/// Writes a cache file atomically (a temporary file renamed), ignoring failures.
fn store(file: &std::path::Path, text: &str) {
    let Some(dir) = file.parent() else { return };
    if std::fs::create_dir_all(dir).is_err() {
        return;
    }
    let tmp = dir.join(format!(".kernels-{}.ptx.tmp", std::process::id()));
    if std::fs::write(&tmp, text).is_ok() && std::fs::rename(&tmp, file).is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
}

// ---------------------------------------------------------------------------------------------
// The backend

/// A loaded kernel and its name (for errors).
struct Kernel {
    name: &'static str,
    func: CudaFunction,
}

fn load(module: &Arc<CudaModule>, name: &'static str) -> BackendResult<Kernel> {
    let func = module
        .load_function(name)
        .map_err(BackendError::driver(format!("kernel {name}")))?;
    Ok(Kernel { name, func })
}

/// The loaded kernels of one device.
struct Kernels {
    ctx: Arc<CudaContext>,
    scatter_events: Kernel,
    tile_sums: Kernel,
    scan_tile_offsets: Kernel,
    scan_tiles: Kernel,
    flags_count: Kernel,
    scan_counts: Kernel,
    flags_scatter: Kernel,
    hist_counts: Kernel,
    interval_sums: Kernel,
    pair_costs: Kernel,
}

pub struct CudaBackend {
    kernels: Arc<Kernels>,
    info: DeviceInfo,
    /// "NVIDIA H100 80GB HBM3 (CUDA 13.0)"
    device: String,
}

impl CudaBackend {
    /// Opens device 0: a context, and the kernels compiled for its compute capability.
    pub fn open() -> BackendResult<Self> {
        let found = probe_found()?;
        let kernels = guarded(|| {
            let ctx =
                CudaContext::new(0).map_err(BackendError::driver("creating a CUDA context"))?;
            let (major, minor) = ctx
                .compute_capability()
                .map_err(BackendError::driver("reading the compute capability"))?;
            let arch = pick_arch(major, minor)?;
            let ptx = compile_ptx(&COVERAGE, &arch)?;
            let phmm_ptx = compile_ptx(&PAIRHMM, &arch)?;
            let phmm = ctx
                .load_module(Ptx::from_src(phmm_ptx))
                .map_err(BackendError::driver(format!(
                    "loading the pairhmm PTX ({arch}) failed"
                )))?;
            let module =
                ctx.load_module(Ptx::from_src(ptx))
                    .map_err(|source| BackendError::LoadPtx {
                        nvrtc: nvrtc_version()
                            .map(|(a, b)| format!("NVRTC {a}.{b}"))
                            .unwrap_or_else(|_| "NVRTC".into()),
                        arch: arch.clone(),
                        cuda: found.cuda.clone(),
                        source,
                    })?;
            Ok(Kernels {
                scatter_events: load(&module, "scatter_events")?,
                tile_sums: load(&module, "tile_sums")?,
                scan_tile_offsets: load(&module, "scan_tile_offsets")?,
                scan_tiles: load(&module, "scan_tiles")?,
                flags_count: load(&module, "flags_count")?,
                scan_counts: load(&module, "scan_counts")?,
                flags_scatter: load(&module, "flags_scatter")?,
                hist_counts: load(&module, "hist_counts")?,
                interval_sums: load(&module, "interval_sums")?,
                pair_costs: load(&phmm, "pair_costs")?,
                ctx,
            })
        })?;
        Ok(CudaBackend {
            kernels: Arc::new(kernels),
            device: format!("{} ({})", found.info.device, found.cuda),
            info: found.info,
        })
    }

    pub fn info(&self) -> DeviceInfo {
        self.info.clone()
    }
}

impl Backend for CudaBackend {
    fn name(&self) -> &'static str {
        "cuda"
    }
    fn device(&self) -> String {
        self.device.clone()
    }
    fn coverage(&self) -> &dyn CoverageOps {
        self
    }
    fn pairhmm(&self) -> &dyn PairHmmOps {
        self
    }
}

// ---------------------------------------------------------------------------------------------
// Device helpers

fn grid(blocks: usize, threads: u32, shared: u32) -> LaunchConfig {
    LaunchConfig {
        grid_dim: (blocks.max(1) as u32, 1, 1),
        block_dim: (threads, 1, 1),
        shared_mem_bytes: shared,
    }
}

/// Launches `kernel` on `stream` over `cfg`, its arguments pushed in order by `args`: the one
/// place a kernel starts, so that every failure names its kernel.
///
/// # Safety
/// `args` must push exactly the kernel's parameters, in order and type, and every buffer must
/// hold what the kernel indexes under `cfg`.
unsafe fn launch<'a>(
    stream: &'a CudaStream,
    kernel: &'a Kernel,
    cfg: LaunchConfig,
    args: impl FnOnce(&mut LaunchArgs<'a>),
) -> BackendResult<()> {
    let mut b = stream.launch_builder(&kernel.func);
    args(&mut b);
    // SAFETY: the caller vouches for the arguments and sizes.
    unsafe { b.launch(cfg) }
        .map(drop)
        .map_err(BackendError::driver(format!("launching {}", kernel.name)))
}

/// Makes `slot` hold at least `n` elements (contents undefined after a growth).
fn ensure<T: DeviceRepr>(
    stream: &Arc<CudaStream>,
    slot: &mut Option<CudaSlice<T>>,
    n: usize,
) -> BackendResult<()> {
    let have = slot.as_ref().map_or(0, |s| s.len());
    if have < n.max(1) {
        let want = n.max(1).max(have * 2);
        *slot = None;
        // SAFETY: every user writes the elements it reads (or zeroes them first).
        let s = unsafe { stream.alloc::<T>(want) }
            .map_err(BackendError::driver("allocating device memory"))?;
        *slot = Some(s);
    }
    Ok(())
}

/// The slice in `slot` (after [`ensure`]).
fn buf<T>(slot: &Option<CudaSlice<T>>) -> BackendResult<&CudaSlice<T>> {
    slot.as_ref()
        .ok_or(BackendError::Internal("device buffer missing"))
}

/// Copies `data` to the start of `slot`, growing it as needed.
fn upload<T: DeviceRepr>(
    stream: &Arc<CudaStream>,
    slot: &mut Option<CudaSlice<T>>,
    data: &[T],
) -> BackendResult<()> {
    ensure(stream, slot, data.len())?;
    if data.is_empty() {
        return Ok(());
    }
    let Some(s) = slot.as_mut() else {
        return Err(BackendError::Internal("device buffer missing"));
    };
    let mut dst = s.slice_mut(0..data.len());
    stream
        .memcpy_htod(data, &mut dst)
        .map_err(BackendError::driver("copying to the device"))
}

/// The first `n` elements of `s`.
fn download<T: DeviceRepr + Default + Clone>(
    stream: &Arc<CudaStream>,
    s: &CudaSlice<T>,
    n: usize,
) -> BackendResult<Vec<T>> {
    if n == 0 {
        return Ok(Vec::new());
    }
    if n > s.len() {
        return Err(BackendError::Internal("read past a device buffer"));
    }
    let v = stream
        .clone_dtoh(&s.slice(0..n))
        .map_err(BackendError::driver("copying from the device"))?;
    stream
        .synchronize()
        .map_err(BackendError::driver("synchronizing"))?;
    Ok(v)
}

fn zeroed<T: DeviceRepr + ValidAsZeroBits>(
    stream: &Arc<CudaStream>,
    n: usize,
) -> BackendResult<CudaSlice<T>> {
    stream
        .alloc_zeros::<T>(n.max(1))
        .map_err(BackendError::driver("allocating device memory"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernels_compile_with_nvrtc() {
        if !nvrtc_present() {
            let why = format!("skipping: {}", BackendError::NoNvrtc);
            if std::env::var_os("KASANE_REQUIRE_NVRTC").is_some() {
                panic!("KASANE_REQUIRE_NVRTC is set but NVRTC cannot be loaded: {why}");
            }
            eprintln!("{why}");
            return;
        }
        let (major, minor) = nvrtc_version().expect("nvrtc version");
        for (src, arch) in [COVERAGE, PAIRHMM]
            .iter()
            .flat_map(|s| ["compute_75", "compute_90"].map(|a| (s, a)))
        {
            // A real compile, whatever the caches hold; then the cached path agrees.
            let ptx = guarded(|| nvrtc_compile(src, arch, (major, minor)))
                .unwrap_or_else(|e| panic!("{arch}: {e}"));
            let cached = compile_ptx(src, arch).unwrap_or_else(|e| panic!("{arch}: {e}"));
            assert_eq!(ptx, cached, "{arch}: cached PTX differs");
            assert!(ptx.contains(".target sm_"), "{arch}: not PTX");
            for k in src.kernels {
                assert!(
                    ptx.contains(&format!(".entry {k}(")),
                    "{arch}: kernel {k} missing from the PTX"
                );
            }
            eprintln!(
                "NVRTC {major}.{minor} compiled {} kernels for {arch} ({} bytes of PTX)",
                src.kernels.len(),
                ptx.len()
            );
        }
    }

    #[test]
    fn cuda_backend_matches_reference() {
        if let Err(why) = probe() {
            assert!(
                std::env::var_os("KASANE_REQUIRE_CUDA").is_none(),
                "KASANE_REQUIRE_CUDA is set but CUDA cannot start: {why}"
            );
            eprintln!("skipping the CUDA backend test: {why}");
            return;
        }
        let backend = CudaBackend::open().expect("open the CUDA backend");
        crate::backend::testing::check_backend(&backend);
        crate::backend::testing::check_pair_costs(&backend);
    }

    #[test]
    fn probe_never_panics() {
        let p = probe();
        let o = CudaBackend::open().map(|b| b.device());
        eprintln!("probe: {:?}", p.as_ref().map(|i| &i.device));
        eprintln!("open: {o:?}");
        assert_eq!(p.is_ok(), o.is_ok() || p.is_ok());
        if let Err(why) = &p {
            assert!(!why.to_string().is_empty());
            assert!(o.is_err(), "open succeeded where probe failed");
        }
    }
}
