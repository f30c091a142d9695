//! The CUDA backend: kernels in `kernels/coverage.cu`, compiled at run time by NVRTC for the
//! device's compute capability (a virtual `compute_XY` architecture, which the driver JITs),
//! launched through cudarc's driver API. libcuda and libnvrtc are opened at run time, so a
//! build without CUDA runs everywhere and [`probe`] says why the backend cannot start.
//!
//! Per contig, the differences live on the device in a ring of `W` slots (a power of two, at
//! most [`MAX_WINDOW`]); position `p` is slot `p & (W - 1)`. Events before `done + W` are
//! scatter-added there (one upload per batch); later ones wait on the host until the window
//! reaches them. [`ContigDepth::reduce`] walks `[done, to)` in pieces of at most `W` bases: a
//! device scan turns a piece into final depths (zeroing the slots it consumed, so the ring
//! is ready for the next `W` positions), and the reductions run on those depths; only their
//! results come back. A stretch with no event on the device is constant, so it is reduced on
//! the host without any device work.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use cudarc::driver::{
    CudaContext, CudaFunction, CudaSlice, CudaStream, DeviceRepr, LaunchConfig, PushKernelArg,
    ValidAsZeroBits,
};
use cudarc::nvrtc::{CompileOptions, Ptx};

use crate::backend::pairhmm::{launches, PairBatch};
use crate::backend::window::{window_for, Contig, Device, TILE};
use crate::backend::{Backend, ContigDepth, DeviceInfo};
use crate::error::{Error, Result};

/// The kernel source, compiled by NVRTC when the backend opens.
pub const SOURCE: &str = include_str!("../../../kernels/coverage.cu");

/// The read × haplotype kernel of `kasane call` ([`crate::backend::pairhmm`]).
pub const PAIRHMM_SOURCE: &str = include_str!("../../../kernels/pairhmm.cu");
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

/// Threads per block of the tiled kernels, and positions per tile (`BLOCK * ITEMS` in the
/// source).
const BLOCK: u32 = 512;
/// Threads of the one-block scans.
const SCAN_THREADS: u32 = 1024;
/// Histograms with at most this many bins are gathered in shared memory first.
const SHARED_BINS: u64 = 8192;

const NO_DRIVER: &str = "libcuda.so not found (no NVIDIA driver)";
const NO_DEVICE: &str = "no CUDA device";
const NO_NVRTC: &str = "libnvrtc not found: install CUDA's NVRTC or `pip install \
    nvidia-cuda-nvrtc==13.0.88` and put its lib folder (site-packages/nvidia/cu13/lib, which \
    holds libnvrtc.so.13) on LD_LIBRARY_PATH";

fn backend_err(msg: impl Into<String>) -> Error {
    Error::Backend {
        backend: "cuda".into(),
        msg: msg.into(),
    }
}

/// Maps a driver error to a backend error saying what was being done.
fn ctx<E: std::fmt::Display>(what: &'static str) -> impl Fn(E) -> Error {
    move |e| backend_err(format!("{what}: {e}"))
}

/// Runs `f`, turning a panic inside cudarc (it panics where a library or symbol is missing)
/// into an error.
fn guarded<T>(
    f: impl FnOnce() -> std::result::Result<T, String>,
) -> std::result::Result<T, String> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(p) => {
            let why = p
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| p.downcast_ref::<&str>().copied())
                .unwrap_or("unknown panic");
            Err(format!("CUDA failed: {why}"))
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

fn probe_found() -> std::result::Result<Found, String> {
    guarded(|| {
        use cudarc::driver::{result, sys};
        if !driver_present() {
            return Err(NO_DRIVER.into());
        }
        match result::init() {
            Ok(()) => {}
            Err(e) if e.0 == sys::CUresult::CUDA_ERROR_NO_DEVICE => return Err(NO_DEVICE.into()),
            Err(e) => return Err(format!("cuInit failed: {e}")),
        }
        let count = result::device::get_count().map_err(|e| format!("cuDeviceGetCount: {e}"))?;
        if count < 1 {
            return Err(NO_DEVICE.into());
        }
        let dev = result::device::get(0).map_err(|e| format!("cuDeviceGet(0): {e}"))?;
        let name = result::device::get_name(dev).map_err(|e| format!("cuDeviceGetName: {e}"))?;
        // SAFETY: `dev` is a valid device handle from cuDeviceGet.
        let memory = unsafe { result::device::total_mem(dev) }
            .map_err(|e| format!("cuDeviceTotalMem: {e}"))?;
        let mut v: std::ffi::c_int = 0;
        // SAFETY: writes one int.
        let r = unsafe { sys::cuDriverGetVersion(&mut v) };
        let version = if r == sys::CUresult::CUDA_SUCCESS {
            format!("{}.{}", v / 1000, (v % 1000) / 10)
        } else {
            "version unknown".to_string()
        };
        if !nvrtc_present() {
            return Err(NO_NVRTC.into());
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
pub fn probe() -> std::result::Result<DeviceInfo, String> {
    probe_found().map(|f| f.info)
}

// ---------------------------------------------------------------------------------------------
// NVRTC

/// NVRTC's version, `(major, minor)`.
fn nvrtc_version() -> std::result::Result<(i32, i32), String> {
    use cudarc::nvrtc::sys;
    let (mut major, mut minor): (std::ffi::c_int, std::ffi::c_int) = (0, 0);
    // SAFETY: writes two ints; the library is present (checked by the callers).
    let r = unsafe { sys::nvrtcVersion(&mut major, &mut minor) };
    if r != sys::nvrtcResult::NVRTC_SUCCESS {
        return Err(format!("nvrtcVersion: {r:?}"));
    }
    Ok((major, minor))
}

/// The architectures NVRTC can compile for (as `75`, `90`, ...).
fn nvrtc_archs() -> std::result::Result<Vec<i32>, String> {
    use cudarc::nvrtc::sys;
    let mut n: std::ffi::c_int = 0;
    // SAFETY: writes one int.
    let r = unsafe { sys::nvrtcGetNumSupportedArchs(&mut n) };
    if r != sys::nvrtcResult::NVRTC_SUCCESS {
        return Err(format!("nvrtcGetNumSupportedArchs: {r:?}"));
    }
    let mut v = vec![0 as std::ffi::c_int; n.max(0) as usize];
    if !v.is_empty() {
        // SAFETY: `v` holds the `n` ints NVRTC writes.
        let r = unsafe { sys::nvrtcGetSupportedArchs(v.as_mut_ptr()) };
        if r != sys::nvrtcResult::NVRTC_SUCCESS {
            return Err(format!("nvrtcGetSupportedArchs: {r:?}"));
        }
    }
    Ok(v)
}

/// The virtual architecture to compile for on a device of compute capability `major.minor`:
/// its own, or the newest NVRTC knows below it (the driver JITs PTX for newer devices).
fn pick_arch(major: i32, minor: i32) -> std::result::Result<String, String> {
    let want = major * 10 + minor;
    let archs = nvrtc_archs()?;
    match archs.iter().copied().filter(|&a| a <= want).max() {
        Some(a) => Ok(format!("compute_{a}")),
        None => Err(format!(
            "NVRTC supports none of the architectures up to the device's compute capability \
             {major}.{minor} (it supports {archs:?})"
        )),
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
pub fn compile_ptx(src: &KernelSource, arch: &str) -> std::result::Result<String, String> {
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
            return Err(NO_NVRTC.to_string());
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
) -> std::result::Result<String, String> {
    let opts = CompileOptions {
        options: vec![
            format!("--gpu-architecture={arch}"),
            "--std=c++17".to_string(),
        ],
        name: Some(src.file.to_string()),
        ..Default::default()
    };
    let ptx = cudarc::nvrtc::compile_ptx_with_opts(src.text, opts).map_err(|e| match e {
        cudarc::nvrtc::CompileError::CompileError { log, .. } => format!(
            "NVRTC {major}.{minor} could not compile kernels/{} for {arch}:\n{}",
            src.file,
            log.to_string_lossy()
        ),
        e => format!("NVRTC {major}.{minor}, {arch}: {e}"),
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

/// The loaded kernels of one device.
struct Kernels {
    ctx: Arc<CudaContext>,
    scatter_events: CudaFunction,
    tile_sums: CudaFunction,
    scan_tile_offsets: CudaFunction,
    scan_tiles: CudaFunction,
    flags_count: CudaFunction,
    scan_counts: CudaFunction,
    flags_scatter: CudaFunction,
    hist_counts: CudaFunction,
    interval_sums: CudaFunction,
    pair_costs: CudaFunction,
}

pub struct CudaBackend {
    kernels: Arc<Kernels>,
    info: DeviceInfo,
    /// "NVIDIA H100 80GB HBM3 (CUDA 13.0)"
    device: String,
}

impl CudaBackend {
    /// Opens device 0: a context, and the kernels compiled for its compute capability.
    pub fn open() -> std::result::Result<Self, String> {
        let found = probe_found()?;
        let kernels = guarded(|| {
            let ctx = CudaContext::new(0).map_err(|e| format!("creating a CUDA context: {e}"))?;
            let (major, minor) = ctx
                .compute_capability()
                .map_err(|e| format!("reading the compute capability: {e}"))?;
            let arch = pick_arch(major, minor)?;
            let ptx = compile_ptx(&COVERAGE, &arch)?;
            let phmm_ptx = compile_ptx(&PAIRHMM, &arch)?;
            let phmm = ctx
                .load_module(Ptx::from_src(phmm_ptx))
                .map_err(|e| format!("loading the pairhmm PTX ({arch}) failed: {e}"))?;
            let module = ctx.load_module(Ptx::from_src(ptx)).map_err(|e| {
                let v = nvrtc_version()
                    .map(|(a, b)| format!("NVRTC {a}.{b}"))
                    .unwrap_or_else(|_| "NVRTC".into());
                format!(
                    "loading the PTX ({v}, {arch}) failed: {e} (PTX from an NVRTC newer than \
                     the driver's CUDA version ({}) does not load)",
                    found.cuda
                )
            })?;
            let f = |name: &str| {
                module
                    .load_function(name)
                    .map_err(|e| format!("kernel {name}: {e}"))
            };
            Ok(Kernels {
                scatter_events: f("scatter_events")?,
                tile_sums: f("tile_sums")?,
                scan_tile_offsets: f("scan_tile_offsets")?,
                scan_tiles: f("scan_tiles")?,
                flags_count: f("flags_count")?,
                scan_counts: f("scan_counts")?,
                flags_scatter: f("flags_scatter")?,
                hist_counts: f("hist_counts")?,
                interval_sums: f("interval_sums")?,
                pair_costs: phmm
                    .load_function("pair_costs")
                    .map_err(|e| format!("kernel pair_costs: {e}"))?,
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
    fn begin_contig(&self, len: usize) -> Result<Box<dyn ContigDepth>> {
        let len1 = len
            .checked_add(1)
            .filter(|&l| l <= u32::MAX as usize)
            .ok_or_else(|| backend_err(format!("contig of {len} bases is too long")))?;
        let dev = CudaDevice::new(self.kernels.clone(), len1)?;
        Ok(Box::new(Contig::new(dev, len1)))
    }

    fn pair_costs(&self, batch: &PairBatch) -> Result<Vec<u32>> {
        batch.validate().map_err(backend_err)?;
        let n = batch.n_pairs();
        if n == 0 {
            return Ok(Vec::new());
        }
        let stream = self
            .kernels
            .ctx
            .new_stream()
            .map_err(ctx("creating a stream"))?;
        let (mut seqs, mut items, mut pairs) = (None, None, None);
        upload(&stream, &mut seqs, &batch.seqs)?;
        upload(&stream, &mut items, &batch.items)?;
        upload(&stream, &mut pairs, &batch.pairs)?;
        let (mut offs, mut scratch, mut out) = (None, None, None);
        let mut costs = Vec::with_capacity(n);
        for (first, end, off) in launches(batch, PAIR_SCRATCH_WORDS) {
            let words = off.last().map_or(0, |&o| o as usize) + batch.scratch_words(end - 1);
            upload(&stream, &mut offs, &off)?;
            ensure::<u32>(&stream, &mut scratch, words)?;
            ensure::<u32>(&stream, &mut out, end - first)?;
            let (f32_, n32, ge) = (first as u32, (end - first) as u32, batch.gap_ext);
            let o = buf(&out)?;
            // SAFETY: the arguments match `pair_costs` in kernels/pairhmm.cu; `validate`
            // checked every index, and the scratch holds each pair's 3 * (hap_len + 1) words.
            unsafe {
                stream
                    .launch_builder(&self.kernels.pair_costs)
                    .arg(buf(&seqs)?)
                    .arg(buf(&items)?)
                    .arg(buf(&pairs)?)
                    .arg(&f32_)
                    .arg(&n32)
                    .arg(&ge)
                    .arg(buf(&offs)?)
                    .arg(buf(&scratch)?)
                    .arg(o)
                    .launch(grid((end - first).div_ceil(128), 128, 0))
            }
            .map_err(ctx("launching pair_costs"))?;
            costs.extend(download(&stream, o, end - first)?);
        }
        Ok(costs)
    }
}

/// Scratch words per `pair_costs` launch (256 MiB).
const PAIR_SCRATCH_WORDS: usize = 1 << 26;

// ---------------------------------------------------------------------------------------------
// Device helpers

fn grid(blocks: usize, threads: u32, shared: u32) -> LaunchConfig {
    LaunchConfig {
        grid_dim: (blocks.max(1) as u32, 1, 1),
        block_dim: (threads, 1, 1),
        shared_mem_bytes: shared,
    }
}

/// Makes `slot` hold at least `n` elements (contents undefined after a growth).
fn ensure<T: DeviceRepr>(
    stream: &Arc<CudaStream>,
    slot: &mut Option<CudaSlice<T>>,
    n: usize,
) -> Result<()> {
    let have = slot.as_ref().map_or(0, |s| s.len());
    if have < n.max(1) {
        let want = n.max(1).max(have * 2);
        *slot = None;
        // SAFETY: every user writes the elements it reads (or zeroes them first).
        let s = unsafe { stream.alloc::<T>(want) }.map_err(ctx("allocating device memory"))?;
        *slot = Some(s);
    }
    Ok(())
}

/// The slice in `slot` (after [`ensure`]).
fn buf<T>(slot: &Option<CudaSlice<T>>) -> Result<&CudaSlice<T>> {
    slot.as_ref()
        .ok_or_else(|| backend_err("internal: device buffer missing"))
}

/// Copies `data` to the start of `slot`, growing it as needed.
fn upload<T: DeviceRepr>(
    stream: &Arc<CudaStream>,
    slot: &mut Option<CudaSlice<T>>,
    data: &[T],
) -> Result<()> {
    ensure(stream, slot, data.len())?;
    if data.is_empty() {
        return Ok(());
    }
    let Some(s) = slot.as_mut() else {
        return Err(backend_err("internal: device buffer missing"));
    };
    let mut dst = s.slice_mut(0..data.len());
    stream
        .memcpy_htod(data, &mut dst)
        .map_err(ctx("copying to the device"))
}

/// The first `n` elements of `s`.
fn download<T: DeviceRepr + Default + Clone>(
    stream: &Arc<CudaStream>,
    s: &CudaSlice<T>,
    n: usize,
) -> Result<Vec<T>> {
    if n == 0 {
        return Ok(Vec::new());
    }
    if n > s.len() {
        return Err(backend_err("internal: read past a device buffer"));
    }
    let v = stream
        .clone_dtoh(&s.slice(0..n))
        .map_err(ctx("copying from the device"))?;
    stream.synchronize().map_err(ctx("synchronizing"))?;
    Ok(v)
}

fn zeroed<T: DeviceRepr + ValidAsZeroBits>(
    stream: &Arc<CudaStream>,
    n: usize,
) -> Result<CudaSlice<T>> {
    stream
        .alloc_zeros::<T>(n.max(1))
        .map_err(ctx("allocating device memory"))
}

/// The ring, the depths of the current piece and the kernels' buffers on the GPU.
struct CudaDevice {
    k: Arc<Kernels>,
    stream: Arc<CudaStream>,
    w: usize,
    ring: CudaSlice<i32>,
    depth: CudaSlice<i32>,
    /// Per-tile sums, then offsets.
    tiles: CudaSlice<u32>,
    /// `[running depth, depth before the last piece]`.
    state: CudaSlice<i32>,
    minmax: CudaSlice<i32>,
    total: CudaSlice<u32>,
    events: Option<CudaSlice<u32>>,
    out_pos: Option<CudaSlice<u32>>,
    out_val: Option<CudaSlice<i32>>,
    hist: Option<CudaSlice<u32>>,
    segs: Option<CudaSlice<u32>>,
    seg_out: Option<CudaSlice<u32>>,
    q: Option<CudaSlice<i64>>,
    nq: u32,
    thr: Option<CudaSlice<u32>>,
    nthr: u32,
    /// Length of the piece last scanned.
    n: usize,
}

impl CudaDevice {
    fn new(k: Arc<Kernels>, len1: usize) -> Result<Self> {
        let stream = k.ctx.new_stream().map_err(ctx("creating a stream"))?;
        let w = window_for(len1);
        let mut q = None;
        let mut thr = None;
        ensure(&stream, &mut q, 1)?;
        ensure(&stream, &mut thr, 1)?;
        Ok(CudaDevice {
            ring: zeroed(&stream, w)?,
            depth: zeroed(&stream, w)?,
            tiles: zeroed(&stream, w / TILE)?,
            state: zeroed(&stream, 2)?,
            minmax: zeroed(&stream, 2)?,
            total: zeroed(&stream, 1)?,
            k,
            stream,
            w,
            events: None,
            out_pos: None,
            out_val: None,
            hist: None,
            segs: None,
            seg_out: None,
            q,
            nq: 0,
            thr,
            nthr: 0,
            n: 0,
        })
    }

    fn mask(&self) -> u32 {
        (self.w - 1) as u32
    }
}

// SAFETY (every `launch` below): the arguments match the kernels' signatures in
// kernels/coverage.cu in order and type, and every buffer holds what the kernel indexes:
// `ring`, `depth`, `out_pos`, `out_val`: w >= n; `tiles`: w / TILE >= the tiles of a piece;
// the others are sized just before their launch.
impl Device for CudaDevice {
    fn backend_name(&self) -> &'static str {
        "cuda"
    }
    fn window(&self) -> usize {
        self.w
    }

    fn scatter(&mut self, events: &[u32], n_starts: usize) -> Result<()> {
        let n = events.len();
        if n == 0 {
            return Ok(());
        }
        upload(&self.stream, &mut self.events, events)?;
        let ev = buf(&self.events)?;
        let (mask, ns, n32) = (self.mask(), n_starts as u32, n as u32);
        let cfg = grid(n.div_ceil(256).min(1 << 16), 256, 0);
        unsafe {
            self.stream
                .launch_builder(&self.k.scatter_events)
                .arg(&self.ring)
                .arg(&mask)
                .arg(ev)
                .arg(&ns)
                .arg(&n32)
                .launch(cfg)
        }
        .map_err(ctx("launching scatter_events"))?;
        Ok(())
    }

    fn set_params(&mut self, q: &[i64], thresholds: &[u32]) -> Result<()> {
        if !q.is_empty() {
            upload(&self.stream, &mut self.q, q)?;
        }
        self.nq = q.len() as u32;
        if !thresholds.is_empty() {
            upload(&self.stream, &mut self.thr, thresholds)?;
        }
        self.nthr = thresholds.len() as u32;
        Ok(())
    }

    fn scan(&mut self, base: u32, n: usize) -> Result<()> {
        let ntiles = n.div_ceil(TILE);
        let (mask, n32, nt32) = (self.mask(), n as u32, ntiles as u32);
        unsafe {
            self.stream
                .launch_builder(&self.k.tile_sums)
                .arg(&self.ring)
                .arg(&mask)
                .arg(&base)
                .arg(&n32)
                .arg(&self.tiles)
                .launch(grid(ntiles, BLOCK, 0))
        }
        .map_err(ctx("launching tile_sums"))?;
        unsafe {
            self.stream
                .launch_builder(&self.k.scan_tile_offsets)
                .arg(&self.tiles)
                .arg(&nt32)
                .arg(&self.state)
                .arg(&self.minmax)
                .launch(grid(1, SCAN_THREADS, 0))
        }
        .map_err(ctx("launching scan_tile_offsets"))?;
        unsafe {
            self.stream
                .launch_builder(&self.k.scan_tiles)
                .arg(&self.ring)
                .arg(&mask)
                .arg(&base)
                .arg(&n32)
                .arg(&self.tiles)
                .arg(&self.depth)
                .arg(&self.minmax)
                .launch(grid(ntiles, BLOCK, 0))
        }
        .map_err(ctx("launching scan_tiles"))?;
        self.n = n;
        Ok(())
    }

    fn change_points(
        &mut self,
        from: u32,
        n: usize,
        first: bool,
        quantize: bool,
    ) -> Result<Vec<(u32, i32)>> {
        let ntiles = n.div_ceil(TILE);
        let (n32, nt32, first32) = (n as u32, ntiles as u32, first as u32);
        let (mode, nq) = if quantize { (1u32, self.nq) } else { (0, 0) };
        if quantize && nq == 0 {
            return Err(backend_err("internal: no quantize edges"));
        }
        ensure(&self.stream, &mut self.out_pos, self.w)?;
        ensure(&self.stream, &mut self.out_val, self.w)?;
        let q = buf(&self.q)?;
        unsafe {
            self.stream
                .launch_builder(&self.k.flags_count)
                .arg(&self.depth)
                .arg(&n32)
                .arg(&self.state)
                .arg(&first32)
                .arg(&mode)
                .arg(q)
                .arg(&nq)
                .arg(&self.tiles)
                .launch(grid(ntiles, BLOCK, 0))
        }
        .map_err(ctx("launching flags_count"))?;
        unsafe {
            self.stream
                .launch_builder(&self.k.scan_counts)
                .arg(&self.tiles)
                .arg(&nt32)
                .arg(&self.total)
                .launch(grid(1, SCAN_THREADS, 0))
        }
        .map_err(ctx("launching scan_counts"))?;
        let (op, ov) = (buf(&self.out_pos)?, buf(&self.out_val)?);
        unsafe {
            self.stream
                .launch_builder(&self.k.flags_scatter)
                .arg(&self.depth)
                .arg(&n32)
                .arg(&self.state)
                .arg(&first32)
                .arg(&mode)
                .arg(q)
                .arg(&nq)
                .arg(&from)
                .arg(&self.tiles)
                .arg(op)
                .arg(ov)
                .launch(grid(ntiles, BLOCK, 0))
        }
        .map_err(ctx("launching flags_scatter"))?;
        let total = download(&self.stream, &self.total, 1)?[0] as usize;
        if total > n {
            return Err(backend_err("internal: more change points than bases"));
        }
        let pos = download(&self.stream, op, total)?;
        let val = download(&self.stream, ov, total)?;
        Ok(pos.into_iter().zip(val).collect())
    }

    fn minmax(&mut self) -> Result<(i32, i32)> {
        let mm = download(&self.stream, &self.minmax, 2)?;
        Ok((mm[0], mm[1]))
    }

    fn hist(&mut self, n: usize, lo: i32, nbins: usize) -> Result<Vec<u32>> {
        ensure(&self.stream, &mut self.hist, nbins)?;
        let Some(h) = self.hist.as_mut() else {
            return Err(backend_err("internal: device buffer missing"));
        };
        self.stream
            .memset_zeros(&mut h.slice_mut(0..nbins))
            .map_err(ctx("zeroing the histogram"))?;
        let shared = nbins as u64 <= SHARED_BINS;
        let (n32, nb32, use_shared) = (n as u32, nbins as u32, shared as u32);
        let smem = if shared { nb32 * 4 } else { 0 };
        unsafe {
            self.stream
                .launch_builder(&self.k.hist_counts)
                .arg(&self.depth)
                .arg(&n32)
                .arg(&lo)
                .arg(&nb32)
                .arg(&use_shared)
                .arg(&*h)
                .launch(grid(n.div_ceil(256 * 16), 256, smem))
        }
        .map_err(ctx("launching hist_counts"))?;
        download(&self.stream, h, nbins)
    }

    fn interval_sums(&mut self, segs: &[u32], nthr: usize) -> Result<Vec<u32>> {
        if nthr != self.nthr as usize {
            return Err(backend_err("internal: thresholds not uploaded"));
        }
        let nsegs = segs.len() / 2;
        let stride = 4 + nthr;
        upload(&self.stream, &mut self.segs, segs)?;
        ensure(&self.stream, &mut self.seg_out, nsegs * stride)?;
        let (ns32, nthr32) = (nsegs as u32, nthr as u32);
        let smem = ((nthr + 1) * 4) as u32;
        let out = buf(&self.seg_out)?;
        unsafe {
            self.stream
                .launch_builder(&self.k.interval_sums)
                .arg(&self.depth)
                .arg(buf(&self.segs)?)
                .arg(&ns32)
                .arg(buf(&self.thr)?)
                .arg(&nthr32)
                .arg(out)
                .launch(grid(nsegs.min(1 << 16), 256, smem))
        }
        .map_err(ctx("launching interval_sums"))?;
        download(&self.stream, out, nsegs * stride)
    }

    fn carry(&mut self) -> Result<i32> {
        Ok(download(&self.stream, &self.state, 1)?[0])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernels_compile_with_nvrtc() {
        if !nvrtc_present() {
            let why = format!("skipping: {NO_NVRTC}");
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
        crate::backend::pairhmm::testing::check_pair_costs(&backend);
    }

    #[test]
    fn probe_never_panics() {
        let p = probe();
        let o = CudaBackend::open().map(|b| b.device());
        eprintln!("probe: {:?}", p.as_ref().map(|i| &i.device));
        eprintln!("open: {o:?}");
        assert_eq!(p.is_ok(), o.is_ok() || p.is_ok());
        if let Err(why) = &p {
            assert!(!why.is_empty());
            assert!(o.is_err(), "open succeeded where probe failed");
        }
    }
}
