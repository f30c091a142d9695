//! The coverage operations on wgpu: the [`Device`] of the shared window logic
//! ([`crate::backend::window`]), one set of buffers per contig.

use std::sync::Arc;

use wgpu::util::DeviceExt;

use super::{groups, words, Gpu, Pass, WgpuBackend};
use crate::backend::error::{BackendError, BackendResult};
use crate::backend::window::{window_for, Contig, Device, TILE};
use crate::backend::{ContigDepth, CoverageOps};
use crate::error::Result;

/// Most thresholds one interval kernel counts (its shared array).
const MAX_THRESHOLDS: usize = 64;

impl CoverageOps for WgpuBackend {
    fn begin_contig(&self, len: usize) -> Result<Box<dyn ContigDepth>> {
        let dev = WgpuDevice::new(self.gpu.clone(), len + 1).map_err(|e| e.into_error("wgpu"))?;
        Ok(Box::new(Contig::new(dev, len + 1)))
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

impl WgpuDevice {
    fn new(gpu: Arc<Gpu>, len1: usize) -> BackendResult<Self> {
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
        dev.gpu.check()?;
        Ok(dev)
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
    fn run(&self, mut p: Params, passes: &[(&'static str, usize)]) -> BackendResult<()> {
        let g = &self.gpu;
        // Each pass gets its own parameters: a uniform written per pass.
        let mut params = Vec::with_capacity(passes.len());
        for &(_, n) in passes {
            p.groups_x = groups(n).0;
            params.push(
                g.device
                    .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                        label: None,
                        contents: bytemuck::bytes_of(&p),
                        usage: wgpu::BufferUsages::UNIFORM,
                    }),
            );
        }
        let mut list = Vec::with_capacity(passes.len());
        for (&(name, n), params) in passes.iter().zip(&params) {
            let Some((pipeline, bindings)) = g.pipelines.get(name) else {
                return Err(BackendError::NoPipeline(name.to_string()));
            };
            list.push(Pass {
                label: name,
                pipeline,
                buffers: bindings
                    .iter()
                    .map(|&b| {
                        (
                            b,
                            if b == 0 {
                                params
                            } else {
                                &self.bufs[b as usize].buf
                            },
                        )
                    })
                    .collect(),
                groups: groups(n),
            });
        }
        g.dispatch(&list)
    }

    /// Copies `bytes` from the start of buffer `which` back to the host.
    fn read(&mut self, which: usize, bytes: u64) -> BackendResult<Vec<u8>> {
        if bytes == 0 {
            return Ok(Vec::new());
        }
        let bytes = bytes.next_multiple_of(4);
        if self.readback_bytes < bytes {
            let size = bytes.next_power_of_two();
            self.readback = Some(self.gpu.readback_buffer(size));
            self.readback_bytes = size;
        }
        let Some(rb) = self.readback.as_ref() else {
            return Err(BackendError::Internal("no read-back buffer"));
        };
        self.gpu.read_back(&self.bufs[which].buf, rb, bytes)
    }

    fn read_u32(&mut self, which: usize, n: usize) -> BackendResult<Vec<u32>> {
        let b = self.read(which, 4 * n as u64)?;
        Ok(words(&b, n))
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

    fn scatter(&mut self, events: &[u32], n_starts: usize) -> BackendResult<()> {
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

    fn set_params(&mut self, q: &[i64], thresholds: &[u32]) -> BackendResult<()> {
        if thresholds.len() > MAX_THRESHOLDS {
            return Err(BackendError::TooManyThresholds {
                max: MAX_THRESHOLDS,
                given: thresholds.len(),
            });
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

    fn scan(&mut self, base: u32, n: usize) -> BackendResult<()> {
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
    ) -> BackendResult<Vec<(u32, i32)>> {
        if quantize && self.nq == 0 {
            return Err(BackendError::Internal("no quantize edges"));
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
            return Err(BackendError::Internal("more change points than bases"));
        }
        let pairs = self.read_u32(OUTP, 2 * total)?;
        Ok(pairs.chunks_exact(2).map(|c| (c[0], c[1] as i32)).collect())
    }

    fn minmax(&mut self) -> BackendResult<(i32, i32)> {
        let m = self.read_u32(MISC, 4)?;
        Ok((m[2] as i32, m[3] as i32))
    }

    fn hist(&mut self, n: usize, lo: i32, nbins: usize) -> BackendResult<Vec<u32>> {
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

    fn interval_sums(&mut self, segs: &[u32], nthr: usize) -> BackendResult<Vec<u32>> {
        if nthr != self.nthr as usize {
            return Err(BackendError::Internal("thresholds not uploaded"));
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

    fn carry(&mut self) -> BackendResult<i32> {
        Ok(self.read_u32(MISC, 1)?[0] as i32)
    }
}
