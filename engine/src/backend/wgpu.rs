//! The wgpu backend: the coverage kernels as WGSL compute shaders (`shaders/coverage.wgsl`) on
//! any Vulkan, Metal or DX12 adapter, Mesa's llvmpipe CPU emulation included (which is how CI
//! runs it). The window logic is shared with CUDA ([`crate::backend::window`]); this module
//! provides its [`Device`]: buffers, pipelines and read-backs.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};

use wgpu::util::DeviceExt;

use crate::backend::pairhmm::{launches, PairBatch};
use crate::backend::window::{window_for, Contig, Device, TILE};
use crate::backend::{Backend, ContigDepth, DeviceInfo};
use crate::error::{Error, Result};

pub const SOURCE: &str = include_str!("../../../shaders/coverage.wgsl");
/// The read × haplotype shader of `kasane call` ([`crate::backend::pairhmm`]).
pub const PAIRHMM_SOURCE: &str = include_str!("../../../shaders/pairhmm.wgsl");

/// Entry points and the bindings each one uses (auto layouts hold only those).
const ENTRIES: [(&str, &[u32]); 9] = [
    ("scatter_events", &[0, 1, 5]),
    ("tile_sums", &[0, 1, 3]),
    ("scan_tile_offsets", &[0, 3, 4]),
    ("scan_tiles", &[0, 1, 2, 3, 4]),
    ("flags_count", &[0, 2, 3, 4, 8]),
    ("scan_counts", &[0, 3, 4]),
    ("flags_scatter", &[0, 2, 3, 4, 6, 8]),
    ("hist_counts", &[0, 2, 7]),
    ("interval_sums", &[0, 2, 8, 9, 10]),
];

/// Most thresholds one interval kernel counts (its shared array).
const MAX_THRESHOLDS: usize = 64;
const MAX_GROUPS_X: u32 = 65535;

fn err(msg: impl Into<String>) -> Error {
    Error::Backend {
        backend: "wgpu".into(),
        msg: msg.into(),
    }
}

const NO_ADAPTER: &str = "no Vulkan, Metal or DX12 adapter found (install a GPU driver, or \
     mesa-vulkan-drivers for a CPU emulation)";

fn adapter() -> std::result::Result<wgpu::Adapter, String> {
    let found = catch_unwind(|| {
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle());
        pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::HighPerformance,
            ..Default::default()
        }))
    });
    match found {
        Ok(Ok(a)) => Ok(a),
        Ok(Err(_)) => Err(NO_ADAPTER.into()),
        Err(_) => Err(format!("{NO_ADAPTER} (the adapter query panicked)")),
    }
}

fn describe(info: &wgpu::AdapterInfo) -> DeviceInfo {
    let kind = match info.device_type {
        wgpu::DeviceType::Cpu => "cpu",
        wgpu::DeviceType::DiscreteGpu => "discrete GPU",
        wgpu::DeviceType::IntegratedGpu => "integrated GPU",
        wgpu::DeviceType::VirtualGpu => "virtual GPU",
        wgpu::DeviceType::Other => "other",
    };
    let driver = [info.driver.as_str(), info.driver_info.as_str()]
        .iter()
        .filter(|s| !s.is_empty())
        .cloned()
        .collect::<Vec<_>>()
        .join(" ");
    DeviceInfo {
        device: format!("{} ({:?}, {kind})", info.name, info.backend),
        memory: None,
        driver: if driver.is_empty() {
            format!("{:?}", info.backend)
        } else {
            driver
        },
        is_gpu: info.device_type != wgpu::DeviceType::Cpu,
    }
}

/// What this machine's adapter is, without creating a device.
pub fn probe() -> std::result::Result<DeviceInfo, String> {
    adapter().map(|a| describe(&a.get_info()))
}

/// The device, queue and pipelines, shared by every contig.
struct Gpu {
    device: wgpu::Device,
    queue: wgpu::Queue,
    pipelines: HashMap<&'static str, (wgpu::ComputePipeline, &'static [u32])>,
    /// The first validation or device error wgpu reported.
    error: Arc<Mutex<Option<String>>>,
    pair_costs: wgpu::ComputePipeline,
}

pub struct WgpuBackend {
    gpu: Arc<Gpu>,
    info: DeviceInfo,
}

impl WgpuBackend {
    /// Opens the adapter; with `gpu_only`, a CPU emulation (llvmpipe) is refused.
    pub fn open(gpu_only: bool) -> std::result::Result<Self, String> {
        let adapter = adapter()?;
        let info = describe(&adapter.get_info());
        if gpu_only && !info.is_gpu {
            return Err(format!(
                "only a CPU emulation ({}) is available",
                info.device
            ));
        }
        let opened = catch_unwind(AssertUnwindSafe(|| {
            pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
                label: Some("kasane"),
                required_limits: adapter.limits(),
                ..Default::default()
            }))
        }));
        let (device, queue) = match opened {
            Ok(Ok(dq)) => dq,
            Ok(Err(e)) => return Err(format!("cannot open {}: {e}", info.device)),
            Err(_) => return Err(format!("cannot open {}: wgpu panicked", info.device)),
        };
        let error = Arc::new(Mutex::new(None::<String>));
        let slot = error.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            if let Ok(mut s) = slot.lock() {
                s.get_or_insert_with(|| e.to_string());
            }
        }));
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("coverage.wgsl"),
            source: wgpu::ShaderSource::Wgsl(SOURCE.into()),
        });
        let mut pipelines = HashMap::new();
        for (name, bindings) in ENTRIES {
            let p = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(name),
                layout: None,
                module: &module,
                entry_point: Some(name),
                compilation_options: Default::default(),
                cache: None,
            });
            pipelines.insert(name, (p, bindings));
        }
        let phmm = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("pairhmm.wgsl"),
            source: wgpu::ShaderSource::Wgsl(PAIRHMM_SOURCE.into()),
        });
        let pair_costs = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some("pair_costs"),
            layout: None,
            module: &phmm,
            entry_point: Some("pair_costs"),
            compilation_options: Default::default(),
            cache: None,
        });
        let _ = device.poll(wgpu::PollType::wait_indefinitely());
        if let Some(e) = error.lock().ok().and_then(|mut s| s.take()) {
            return Err(format!("the shaders do not build: {e}"));
        }
        Ok(WgpuBackend {
            gpu: Arc::new(Gpu {
                device,
                queue,
                pipelines,
                error,
                pair_costs,
            }),
            info,
        })
    }
}

impl Backend for WgpuBackend {
    fn name(&self) -> &'static str {
        "wgpu"
    }
    fn device(&self) -> String {
        self.info.device.clone()
    }
    fn begin_contig(&self, len: usize) -> Result<Box<dyn ContigDepth>> {
        let dev = WgpuDevice::new(self.gpu.clone(), len + 1)?;
        Ok(Box::new(Contig::new(dev, len + 1)))
    }

    fn pair_costs(&self, batch: &PairBatch) -> Result<Vec<u32>> {
        batch.validate().map_err(err)?;
        let n = batch.n_pairs();
        if n == 0 {
            return Ok(Vec::new());
        }
        let g = &self.gpu;
        let init = |data: &[u32], usage| {
            // Empty buffers are not allowed: pad to one word.
            let data: &[u32] = if data.is_empty() { &[0] } else { data };
            g.device
                .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: None,
                    contents: bytemuck::cast_slice(data),
                    usage,
                })
        };
        let seqs = init(&batch.seqs, wgpu::BufferUsages::STORAGE);
        let items = init(&batch.items, wgpu::BufferUsages::STORAGE);
        let pairs = init(&batch.pairs, wgpu::BufferUsages::STORAGE);
        // Launches small enough for llvmpipe's and real GPUs' binding limits (128 MiB).
        let max_words = (g.device.limits().max_storage_buffer_binding_size as usize / 4)
            .clamp(1 << 16, 1 << 25);
        let mut costs = Vec::with_capacity(n);
        for (first, end, off) in launches(batch, max_words) {
            let cnt = end - first;
            let words = off.last().map_or(0, |&o| o as usize) + batch.scratch_words(end - 1);
            let offs = init(&off, wgpu::BufferUsages::STORAGE);
            let scratch = g.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("scratch"),
                size: 4 * words.max(1) as u64,
                usage: wgpu::BufferUsages::STORAGE,
                mapped_at_creation: false,
            });
            let out_bytes = 4 * cnt as u64;
            let out = g.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("costs"),
                size: out_bytes,
                usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
                mapped_at_creation: false,
            });
            let rb = g.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("readback"),
                size: out_bytes,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            let (gx, gy) = groups(cnt.div_ceil(64));
            let params = [first as u32, cnt as u32, batch.gap_ext, gx];
            let ubuf = init(&params, wgpu::BufferUsages::UNIFORM);
            let bufs = [&ubuf, &seqs, &items, &pairs, &offs, &scratch, &out];
            let entries: Vec<wgpu::BindGroupEntry> = bufs
                .iter()
                .enumerate()
                .map(|(i, b)| wgpu::BindGroupEntry {
                    binding: i as u32,
                    resource: b.as_entire_binding(),
                })
                .collect();
            let group = g.device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: None,
                layout: &g.pair_costs.get_bind_group_layout(0),
                entries: &entries,
            });
            let mut enc = g
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
            {
                let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("pair_costs"),
                    timestamp_writes: None,
                });
                pass.set_pipeline(&g.pair_costs);
                pass.set_bind_group(0, &group, &[]);
                pass.dispatch_workgroups(gx, gy, 1);
            }
            enc.copy_buffer_to_buffer(&out, 0, &rb, 0, out_bytes);
            g.queue.submit([enc.finish()]);
            let slice = rb.slice(..);
            let status = Arc::new(Mutex::new(None));
            let s2 = status.clone();
            slice.map_async(wgpu::MapMode::Read, move |r| {
                if let Ok(mut s) = s2.lock() {
                    *s = Some(r.map_err(|e| e.to_string()));
                }
            });
            g.device
                .poll(wgpu::PollType::wait_indefinitely())
                .map_err(|e| err(format!("waiting for the device: {e}")))?;
            if let Some(e) = g.error.lock().ok().and_then(|s| s.clone()) {
                return Err(err(e));
            }
            match status.lock().ok().and_then(|mut s| s.take()) {
                Some(Ok(())) => {}
                Some(Err(e)) => return Err(err(format!("reading results back: {e}"))),
                None => return Err(err("reading results back: the device did not answer")),
            }
            {
                let view = slice
                    .get_mapped_range()
                    .map_err(|e| err(format!("reading results back: {e:?}")))?;
                costs.extend(
                    view.chunks_exact(4)
                        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])),
                );
            }
            rb.unmap();
        }
        Ok(costs)
    }
}

/// Uniform parameters of one kernel launch (`Params` in the shader).
#[repr(C)]
#[derive(Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    mask: u32,
    base: u32,
    n: u32,
    ntiles: u32,
    first: u32,
    mode: u32,
    nq: u32,
    first_pos: u32,
    lo: i32,
    nbins: u32,
    nsegs: u32,
    nthr: u32,
    n_events: u32,
    n_starts: u32,
    groups_x: u32,
    pad: u32,
}

/// A storage buffer that grows on demand.
struct Grow {
    buf: wgpu::Buffer,
    bytes: u64,
}

/// One contig's buffers on the device.
struct WgpuDevice {
    gpu: Arc<Gpu>,
    w: usize,
    /// Bindings 1..=10 (index 0 unused).
    bufs: Vec<Grow>,
    readback: Option<wgpu::Buffer>,
    readback_bytes: u64,
    nq: u32,
    nthr: u32,
    /// Length of the piece last scanned.
    n: usize,
}

// Binding numbers of the buffers the host reads or writes (1: ring, 2: depth and 3: tiles
// stay on the device).
const MISC: usize = 4;
const EVENTS: usize = 5;
const OUTP: usize = 6;
const HIST: usize = 7;
const AUX: usize = 8;
const SEGS: usize = 9;
const SEG_OUT: usize = 10;

fn storage(device: &wgpu::Device, bytes: u64) -> Grow {
    let bytes = bytes.max(16);
    Grow {
        buf: device.create_buffer(&wgpu::BufferDescriptor {
            label: None,
            size: bytes,
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_SRC
                | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        }),
        bytes,
    }
}

/// Workgroups as a 2-D grid (each dimension is limited to 65535).
fn groups(n: usize) -> (u32, u32) {
    let n = n.max(1) as u32;
    let x = n.min(MAX_GROUPS_X);
    (x, n.div_ceil(x))
}

impl WgpuDevice {
    fn new(gpu: Arc<Gpu>, len1: usize) -> Result<Self> {
        let w = window_for(len1);
        let d = &gpu.device;
        let sizes: [u64; 11] = [
            0,
            4 * w as u64,
            4 * w as u64,
            4 * (w / TILE + 1) as u64,
            4 * 8,
            16,
            8 * w as u64,
            16,
            16,
            16,
            16,
        ];
        let bufs: Vec<Grow> = sizes.iter().map(|&b| storage(d, b)).collect();
        let dev = WgpuDevice {
            gpu,
            w,
            bufs,
            readback: None,
            readback_bytes: 0,
            nq: 0,
            nthr: 0,
            n: 0,
        };
        dev.check()?;
        Ok(dev)
    }

    fn check(&self) -> Result<()> {
        match self.gpu.error.lock().ok().and_then(|s| s.clone()) {
            Some(e) => Err(err(e)),
            None => Ok(()),
        }
    }

    fn ensure(&mut self, which: usize, bytes: u64) {
        if self.bufs[which].bytes < bytes {
            self.bufs[which] = storage(&self.gpu.device, bytes.next_power_of_two());
        }
    }

    fn write(&mut self, which: usize, data: &[u8]) {
        self.ensure(which, data.len() as u64);
        if !data.is_empty() {
            self.gpu.queue.write_buffer(&self.bufs[which].buf, 0, data);
        }
    }

    /// Runs `passes` (entry point, workgroups) in order with parameters `p`, in one submission.
    fn run(&self, mut p: Params, passes: &[(&str, usize)]) -> Result<()> {
        let g = &self.gpu;
        let mut enc = g
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
        for &(name, n) in passes {
            let Some((pipeline, bindings)) = g.pipelines.get(name) else {
                return Err(err(format!("internal: no pipeline {name}")));
            };
            let (gx, gy) = groups(n);
            p.groups_x = gx;
            // Each pass gets its own parameters: a uniform written per pass.
            let params = g
                .device
                .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: None,
                    contents: bytemuck::bytes_of(&p),
                    usage: wgpu::BufferUsages::UNIFORM,
                });
            let entries: Vec<wgpu::BindGroupEntry> = bindings
                .iter()
                .map(|&b| wgpu::BindGroupEntry {
                    binding: b,
                    resource: if b == 0 {
                        params.as_entire_binding()
                    } else {
                        self.bufs[b as usize].buf.as_entire_binding()
                    },
                })
                .collect();
            let group = g.device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: None,
                layout: &pipeline.get_bind_group_layout(0),
                entries: &entries,
            });
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some(name),
                timestamp_writes: None,
            });
            pass.set_pipeline(pipeline);
            pass.set_bind_group(0, &group, &[]);
            pass.dispatch_workgroups(gx, gy, 1);
        }
        g.queue.submit([enc.finish()]);
        self.check()
    }

    /// Copies `bytes` from the start of buffer `which` back to the host.
    fn read(&mut self, which: usize, bytes: u64) -> Result<Vec<u8>> {
        if bytes == 0 {
            return Ok(Vec::new());
        }
        let bytes = bytes.next_multiple_of(4);
        if self.readback_bytes < bytes {
            let size = bytes.next_power_of_two();
            self.readback = Some(self.gpu.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("readback"),
                size,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            }));
            self.readback_bytes = size;
        }
        let Some(rb) = self.readback.as_ref() else {
            return Err(err("internal: no read-back buffer"));
        };
        let g = &self.gpu;
        let mut enc = g
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
        enc.copy_buffer_to_buffer(&self.bufs[which].buf, 0, rb, 0, bytes);
        g.queue.submit([enc.finish()]);
        let slice = rb.slice(0..bytes);
        let status = Arc::new(Mutex::new(None));
        let s2 = status.clone();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            if let Ok(mut s) = s2.lock() {
                *s = Some(r.map_err(|e| e.to_string()));
            }
        });
        g.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| err(format!("waiting for the device: {e}")))?;
        self.check()?;
        match status.lock().ok().and_then(|mut s| s.take()) {
            Some(Ok(())) => {}
            Some(Err(e)) => return Err(err(format!("reading results back: {e}"))),
            None => return Err(err("reading results back: the device did not answer")),
        }
        let out = {
            let view = slice
                .get_mapped_range()
                .map_err(|e| err(format!("reading results back: {e:?}")))?;
            view.to_vec()
        };
        rb.unmap();
        Ok(out)
    }

    fn read_u32(&mut self, which: usize, n: usize) -> Result<Vec<u32>> {
        let b = self.read(which, 4 * n as u64)?;
        Ok(b.chunks_exact(4)
            .take(n)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }

    fn params(&self) -> Params {
        Params {
            mask: (self.w - 1) as u32,
            nq: self.nq,
            nthr: self.nthr,
            ..Params::default()
        }
    }
}

impl Device for WgpuDevice {
    fn backend_name(&self) -> &'static str {
        "wgpu"
    }

    fn window(&self) -> usize {
        self.w
    }

    fn scatter(&mut self, events: &[u32], n_starts: usize) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        self.write(EVENTS, bytemuck::cast_slice(events));
        let p = Params {
            n_events: events.len() as u32,
            n_starts: n_starts as u32,
            ..self.params()
        };
        self.run(p, &[("scatter_events", events.len().div_ceil(256))])
    }

    fn set_params(&mut self, q: &[i64], thresholds: &[u32]) -> Result<()> {
        if thresholds.len() > MAX_THRESHOLDS {
            return Err(err(format!(
                "at most {MAX_THRESHOLDS} thresholds are supported, {} given",
                thresholds.len()
            )));
        }
        // Quantize edges as (lo, hi) words, then the thresholds.
        let mut aux: Vec<u32> = Vec::with_capacity(2 * q.len() + thresholds.len());
        for &e in q {
            aux.push(e as u64 as u32);
            aux.push(((e as u64) >> 32) as u32);
        }
        aux.extend_from_slice(thresholds);
        self.write(AUX, bytemuck::cast_slice(&aux));
        self.nq = q.len() as u32;
        self.nthr = thresholds.len() as u32;
        Ok(())
    }

    fn scan(&mut self, base: u32, n: usize) -> Result<()> {
        let ntiles = n.div_ceil(TILE);
        let p = Params {
            base,
            n: n as u32,
            ntiles: ntiles as u32,
            ..self.params()
        };
        self.run(
            p,
            &[
                ("tile_sums", ntiles),
                ("scan_tile_offsets", 1),
                ("scan_tiles", ntiles),
            ],
        )?;
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
        if quantize && self.nq == 0 {
            return Err(err("internal: no quantize edges"));
        }
        let ntiles = n.div_ceil(TILE);
        let p = Params {
            n: n as u32,
            ntiles: ntiles as u32,
            first: first as u32,
            mode: quantize as u32,
            first_pos: from,
            ..self.params()
        };
        self.run(
            p,
            &[
                ("flags_count", ntiles),
                ("scan_counts", 1),
                ("flags_scatter", ntiles),
            ],
        )?;
        let total = self.read_u32(MISC, 5)?[4] as usize;
        if total > n {
            return Err(err("internal: more change points than bases"));
        }
        let pairs = self.read_u32(OUTP, 2 * total)?;
        Ok(pairs.chunks_exact(2).map(|c| (c[0], c[1] as i32)).collect())
    }

    fn minmax(&mut self) -> Result<(i32, i32)> {
        let m = self.read_u32(MISC, 4)?;
        Ok((m[2] as i32, m[3] as i32))
    }

    fn hist(&mut self, n: usize, lo: i32, nbins: usize) -> Result<Vec<u32>> {
        let bytes = 4 * nbins as u64;
        self.ensure(HIST, bytes);
        let mut enc = self
            .gpu
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
        enc.clear_buffer(&self.bufs[HIST].buf, 0, Some(bytes.next_multiple_of(4)));
        self.gpu.queue.submit([enc.finish()]);
        let p = Params {
            n: n as u32,
            lo,
            nbins: nbins as u32,
            ..self.params()
        };
        self.run(p, &[("hist_counts", n.div_ceil(TILE))])?;
        self.read_u32(HIST, nbins)
    }

    fn interval_sums(&mut self, segs: &[u32], nthr: usize) -> Result<Vec<u32>> {
        if nthr != self.nthr as usize {
            return Err(err("internal: thresholds not uploaded"));
        }
        let nsegs = segs.len() / 2;
        let stride = 4 + nthr;
        self.write(SEGS, bytemuck::cast_slice(segs));
        self.ensure(SEG_OUT, 4 * (nsegs * stride) as u64);
        let p = Params {
            nsegs: nsegs as u32,
            ..self.params()
        };
        self.run(p, &[("interval_sums", nsegs)])?;
        self.read_u32(SEG_OUT, nsegs * stride)
    }

    fn carry(&mut self) -> Result<i32> {
        Ok(self.read_u32(MISC, 1)?[0] as i32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shaders parse and validate (naga), with or without an adapter.
    #[test]
    fn shaders_validate() {
        let module = wgpu::naga::front::wgsl::parse_str(SOURCE).expect("WGSL parses");
        let mut v = wgpu::naga::valid::Validator::new(
            wgpu::naga::valid::ValidationFlags::all(),
            wgpu::naga::valid::Capabilities::empty(),
        );
        v.validate(&module).expect("WGSL validates");
        for (name, _) in ENTRIES {
            assert!(
                module.entry_points.iter().any(|e| e.name == name),
                "no entry point {name}"
            );
        }
        let module = wgpu::naga::front::wgsl::parse_str(PAIRHMM_SOURCE).expect("WGSL parses");
        v.validate(&module).expect("pairhmm WGSL validates");
    }

    #[test]
    fn probe_never_panics() {
        let _ = probe();
        let _ = WgpuBackend::open(true);
    }

    #[test]
    fn wgpu_backend_matches_reference() {
        match WgpuBackend::open(false) {
            Ok(b) => {
                crate::backend::testing::check_backend(&b);
                crate::backend::pairhmm::testing::check_pair_costs(&b);
            }
            Err(why) => {
                assert!(
                    std::env::var_os("KASANE_REQUIRE_WGPU").is_none(),
                    "KASANE_REQUIRE_WGPU is set but wgpu cannot start: {why}"
                );
                eprintln!("skipped: {why}");
            }
        }
    }
}
