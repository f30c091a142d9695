//! The pair-HMM operation on wgpu: `pair_costs` in `shaders/pairhmm.wgsl`.

use wgpu::util::DeviceExt;

use super::{groups, words, Pass, WgpuBackend};
use crate::backend::error::BackendResult;
use crate::backend::pairhmm::{launches, PairBatch, PairHmmOps};
use crate::error::Result;

impl PairHmmOps for WgpuBackend {
    fn pair_costs(&self, batch: &PairBatch) -> Result<Vec<u32>> {
        self.costs(batch).map_err(|e| e.into_error("wgpu"))
    }
}

impl WgpuBackend {
    fn costs(&self, batch: &PairBatch) -> BackendResult<Vec<u32>> {
        batch.validate()?;
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
            let words_needed = off.last().map_or(0, |&o| o as usize) + batch.scratch_words(end - 1);
            let offs = init(&off, wgpu::BufferUsages::STORAGE);
            let scratch = g.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("scratch"),
                size: 4 * words_needed.max(1) as u64,
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
            let (gx, gy) = groups(cnt.div_ceil(64));
            let params = [first as u32, cnt as u32, batch.gap_ext, gx];
            let ubuf = init(&params, wgpu::BufferUsages::UNIFORM);
            let bufs = [&ubuf, &seqs, &items, &pairs, &offs, &scratch, &out];
            g.dispatch(&[Pass {
                label: "pair_costs",
                pipeline: &g.pair_costs,
                buffers: (0u32..).zip(bufs).collect(),
                groups: (gx, gy),
            }])?;
            let rb = g.readback_buffer(out_bytes);
            costs.extend(words(&g.read_back(&out, &rb, out_bytes)?, cnt));
        }
        Ok(costs)
    }
}
