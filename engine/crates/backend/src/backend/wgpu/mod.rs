//! The wgpu backend: the kernels as WGSL compute shaders (`shaders/coverage.wgsl`,
//! `shaders/pairhmm.wgsl`) on any Vulkan, Metal or DX12 adapter, Mesa's llvmpipe CPU emulation
//! included (which is how CI runs it).
//!
//! This module opens the adapter and builds the pipelines, and holds the two helpers all work
//! goes through: [`Gpu::dispatch`] (compute passes in one submission) and [`Gpu::read_back`].
//! The operations are in [`coverage`] (the [`Device`](crate::backend::window::Device) of the
//! window logic shared with CUDA) and [`pairhmm`].

mod coverage;
mod pairhmm;

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};

use crate::backend::error::{BackendError, BackendResult};
use crate::backend::{Backend, CoverageOps, DeviceInfo, PairHmmOps};

pub const SOURCE: &str = include_str!("../../../../../../shaders/coverage.wgsl");
/// The read × haplotype shader of `kasane call` ([`crate::backend::pairhmm`]).
pub const PAIRHMM_SOURCE: &str = include_str!("../../../../../../shaders/pairhmm.wgsl");

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

const MAX_GROUPS_X: u32 = 65535;

fn adapter() -> BackendResult<wgpu::Adapter> {
    let found = catch_unwind(|| {
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle());
        pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::HighPerformance,
            ..Default::default()
        }))
    });
    match found {
        Ok(Ok(a)) => Ok(a),
        Ok(Err(source)) => Err(BackendError::NoAdapter { source }),
        Err(_) => Err(BackendError::AdapterPanicked),
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
pub fn probe() -> BackendResult<DeviceInfo> {
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

/// One compute pass: a pipeline, the buffer of each binding it uses, and its workgroups.
struct Pass<'a> {
    label: &'static str,
    pipeline: &'a wgpu::ComputePipeline,
    buffers: Vec<(u32, &'a wgpu::Buffer)>,
    groups: (u32, u32),
}

/// Workgroups as a 2-D grid (each dimension is limited to 65535).
fn groups(n: usize) -> (u32, u32) {
    let n = n.max(1) as u32;
    let x = n.min(MAX_GROUPS_X);
    (x, n.div_ceil(x))
}

impl Gpu {
    /// The first error wgpu reported, if any.
    fn check(&self) -> BackendResult<()> {
        match self.error.lock().ok().and_then(|s| s.clone()) {
            Some(e) => Err(BackendError::WgpuDevice(e)),
            None => Ok(()),
        }
    }

    /// Runs `passes` in order, in one submission: the one place work is dispatched.
    fn dispatch(&self, passes: &[Pass]) -> BackendResult<()> {
        let mut enc = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
        for p in passes {
            let entries: Vec<wgpu::BindGroupEntry> = p
                .buffers
                .iter()
                .map(|&(binding, b)| wgpu::BindGroupEntry {
                    binding,
                    resource: b.as_entire_binding(),
                })
                .collect();
            let group = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: None,
                layout: &p.pipeline.get_bind_group_layout(0),
                entries: &entries,
            });
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some(p.label),
                timestamp_writes: None,
            });
            pass.set_pipeline(p.pipeline);
            pass.set_bind_group(0, &group, &[]);
            pass.dispatch_workgroups(p.groups.0, p.groups.1, 1);
        }
        self.queue.submit([enc.finish()]);
        self.check()
    }

    /// Copies the first `bytes` of `src` (a multiple of 4) through `readback` (as large, and
    /// mappable) to the host: the one place results come back.
    fn read_back(
        &self,
        src: &wgpu::Buffer,
        readback: &wgpu::Buffer,
        bytes: u64,
    ) -> BackendResult<Vec<u8>> {
        let mut enc = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
        enc.copy_buffer_to_buffer(src, 0, readback, 0, bytes);
        self.queue.submit([enc.finish()]);
        let slice = readback.slice(0..bytes);
        let status = Arc::new(Mutex::new(None));
        let s2 = status.clone();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            if let Ok(mut s) = s2.lock() {
                *s = Some(r);
            }
        });
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|source| BackendError::Poll { source })?;
        self.check()?;
        match status.lock().ok().and_then(|mut s| s.take()) {
            Some(Ok(())) => {}
            Some(Err(source)) => return Err(BackendError::MapBuffer { source }),
            None => return Err(BackendError::NoAnswer),
        }
        let out = {
            let view = slice
                .get_mapped_range()
                .map_err(|source| BackendError::MapRange { source })?;
            view.to_vec()
        };
        readback.unmap();
        Ok(out)
    }

    /// A mappable buffer to read `bytes` back through.
    fn readback_buffer(&self, bytes: u64) -> wgpu::Buffer {
        self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size: bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    }
}

/// Little-endian words of `bytes` (as the shaders write them), at most `n`.
fn words(bytes: &[u8], n: usize) -> Vec<u32> {
    bytes
        .chunks_exact(4)
        .take(n)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

pub struct WgpuBackend {
    gpu: Arc<Gpu>,
    info: DeviceInfo,
}

impl WgpuBackend {
    /// Opens the adapter; with `gpu_only`, a CPU emulation (llvmpipe) is refused.
    pub fn open(gpu_only: bool) -> BackendResult<Self> {
        let adapter = adapter()?;
        let info = describe(&adapter.get_info());
        if gpu_only && !info.is_gpu {
            return Err(BackendError::CpuEmulationOnly(info.device));
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
            Ok(Err(source)) => {
                return Err(BackendError::OpenDevice {
                    device: info.device,
                    source,
                })
            }
            Err(_) => return Err(BackendError::OpenPanicked(info.device)),
        };
        let error = Arc::new(Mutex::new(None::<String>));
        let slot = error.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            if let Ok(mut s) = slot.lock() {
                s.get_or_insert_with(|| e.to_string());
            }
        }));
        let pipeline = |module: &wgpu::ShaderModule, name: &'static str| {
            device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(name),
                layout: None,
                module,
                entry_point: Some(name),
                compilation_options: Default::default(),
                cache: None,
            })
        };
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("coverage.wgsl"),
            source: wgpu::ShaderSource::Wgsl(SOURCE.into()),
        });
        let pipelines = ENTRIES
            .iter()
            .map(|&(name, bindings)| (name, (pipeline(&module, name), bindings)))
            .collect();
        let phmm = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("pairhmm.wgsl"),
            source: wgpu::ShaderSource::Wgsl(PAIRHMM_SOURCE.into()),
        });
        let pair_costs = pipeline(&phmm, "pair_costs");
        let _ = device.poll(wgpu::PollType::wait_indefinitely());
        if let Some(e) = error.lock().ok().and_then(|mut s| s.take()) {
            return Err(BackendError::Shaders(e));
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
    fn coverage(&self) -> &dyn CoverageOps {
        self
    }
    fn pairhmm(&self) -> &dyn PairHmmOps {
        self
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
                crate::backend::testing::check_pair_costs(&b);
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
