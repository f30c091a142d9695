//! The coverage operations on CUDA: the [`Device`] of the shared window logic
//! ([`crate::backend::window`]), one ring and its buffers per contig.

use std::sync::Arc;

use cudarc::driver::{CudaSlice, CudaStream, PushKernelArg};

use super::{buf, download, ensure, grid, launch, upload, zeroed, CudaBackend, Kernels};
use crate::backend::error::{BackendError, BackendResult};
use crate::backend::window::{window_for, Contig, Device, TILE};
use crate::backend::{ContigDepth, CoverageOps};
use crate::error::Result;

/// Threads per block of the tiled kernels, and positions per tile (`BLOCK * ITEMS` in the
/// source).
const BLOCK: u32 = 512;
/// Threads of the one-block scans.
const SCAN_THREADS: u32 = 1024;
/// Histograms with at most this many bins are gathered in shared memory first.
const SHARED_BINS: u64 = 8192;

impl CoverageOps for CudaBackend {
    fn begin_contig(&self, len: usize) -> Result<Box<dyn ContigDepth>> {
        let open = || -> BackendResult<_> {
            // Positions are u32 on the device.
            let len1 = len
                .checked_add(1)
                .filter(|&l| l <= u32::MAX as usize)
                .ok_or(BackendError::ContigTooLong(len))?;
            let dev = CudaDevice::new(self.kernels.clone(), len1)?;
            Ok(Contig::new(dev, len1))
        };
        Ok(Box::new(open().map_err(|e| e.into_error("cuda"))?))
    }
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
    fn new(k: Arc<Kernels>, len1: usize) -> BackendResult<Self> {
        let stream = k
            .ctx
            .new_stream()
            .map_err(BackendError::driver("creating a stream"))?;
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

    fn scatter(&mut self, events: &[u32], n_starts: usize) -> BackendResult<()> {
        let n = events.len();
        if n == 0 {
            return Ok(());
        }
        upload(&self.stream, &mut self.events, events)?;
        let ev = buf(&self.events)?;
        let (mask, ns, n32) = (self.mask(), n_starts as u32, n as u32);
        let cfg = grid(n.div_ceil(256).min(1 << 16), 256, 0);
        unsafe {
            launch(&self.stream, &self.k.scatter_events, cfg, |a| {
                a.arg(&self.ring).arg(&mask).arg(ev).arg(&ns).arg(&n32);
            })
        }
    }

    fn set_params(&mut self, q: &[i64], thresholds: &[u32]) -> BackendResult<()> {
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

    fn scan(&mut self, base: u32, n: usize) -> BackendResult<()> {
        let ntiles = n.div_ceil(TILE);
        let (mask, n32, nt32) = (self.mask(), n as u32, ntiles as u32);
        let (s, k) = (&self.stream, &self.k);
        unsafe {
            launch(s, &k.tile_sums, grid(ntiles, BLOCK, 0), |a| {
                a.arg(&self.ring)
                    .arg(&mask)
                    .arg(&base)
                    .arg(&n32)
                    .arg(&self.tiles);
            })?;
            launch(s, &k.scan_tile_offsets, grid(1, SCAN_THREADS, 0), |a| {
                a.arg(&self.tiles)
                    .arg(&nt32)
                    .arg(&self.state)
                    .arg(&self.minmax);
            })?;
            launch(s, &k.scan_tiles, grid(ntiles, BLOCK, 0), |a| {
                a.arg(&self.ring)
                    .arg(&mask)
                    .arg(&base)
                    .arg(&n32)
                    .arg(&self.tiles)
                    .arg(&self.depth)
                    .arg(&self.minmax);
            })?;
        }
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
        let ntiles = n.div_ceil(TILE);
        let (n32, nt32, first32) = (n as u32, ntiles as u32, first as u32);
        let (mode, nq) = if quantize { (1u32, self.nq) } else { (0, 0) };
        if quantize && nq == 0 {
            return Err(BackendError::Internal("no quantize edges"));
        }
        ensure(&self.stream, &mut self.out_pos, self.w)?;
        ensure(&self.stream, &mut self.out_val, self.w)?;
        let q = buf(&self.q)?;
        let (op, ov) = (buf(&self.out_pos)?, buf(&self.out_val)?);
        let (s, k) = (&self.stream, &self.k);
        unsafe {
            launch(s, &k.flags_count, grid(ntiles, BLOCK, 0), |a| {
                a.arg(&self.depth)
                    .arg(&n32)
                    .arg(&self.state)
                    .arg(&first32)
                    .arg(&mode)
                    .arg(q)
                    .arg(&nq)
                    .arg(&self.tiles);
            })?;
            launch(s, &k.scan_counts, grid(1, SCAN_THREADS, 0), |a| {
                a.arg(&self.tiles).arg(&nt32).arg(&self.total);
            })?;
            launch(s, &k.flags_scatter, grid(ntiles, BLOCK, 0), |a| {
                a.arg(&self.depth)
                    .arg(&n32)
                    .arg(&self.state)
                    .arg(&first32)
                    .arg(&mode)
                    .arg(q)
                    .arg(&nq)
                    .arg(&from)
                    .arg(&self.tiles)
                    .arg(op)
                    .arg(ov);
            })?;
        }
        let total = download(s, &self.total, 1)?[0] as usize;
        if total > n {
            return Err(BackendError::Internal("more change points than bases"));
        }
        let pos = download(s, op, total)?;
        let val = download(s, ov, total)?;
        Ok(pos.into_iter().zip(val).collect())
    }

    fn minmax(&mut self) -> BackendResult<(i32, i32)> {
        let mm = download(&self.stream, &self.minmax, 2)?;
        Ok((mm[0], mm[1]))
    }

    fn hist(&mut self, n: usize, lo: i32, nbins: usize) -> BackendResult<Vec<u32>> {
        ensure(&self.stream, &mut self.hist, nbins)?;
        let Some(h) = self.hist.as_mut() else {
            return Err(BackendError::Internal("device buffer missing"));
        };
        self.stream
            .memset_zeros(&mut h.slice_mut(0..nbins))
            .map_err(BackendError::driver("zeroing the histogram"))?;
        let h = &*h;
        let shared = nbins as u64 <= SHARED_BINS;
        let (n32, nb32, use_shared) = (n as u32, nbins as u32, shared as u32);
        let smem = if shared { nb32 * 4 } else { 0 };
        let cfg = grid(n.div_ceil(256 * 16), 256, smem);
        unsafe {
            launch(&self.stream, &self.k.hist_counts, cfg, |a| {
                a.arg(&self.depth)
                    .arg(&n32)
                    .arg(&lo)
                    .arg(&nb32)
                    .arg(&use_shared)
                    .arg(h);
            })?;
        }
        download(&self.stream, h, nbins)
    }

    fn interval_sums(&mut self, segs: &[u32], nthr: usize) -> BackendResult<Vec<u32>> {
        if nthr != self.nthr as usize {
            return Err(BackendError::Internal("thresholds not uploaded"));
        }
        let nsegs = segs.len() / 2;
        let stride = 4 + nthr;
        upload(&self.stream, &mut self.segs, segs)?;
        ensure(&self.stream, &mut self.seg_out, nsegs * stride)?;
        let (ns32, nthr32) = (nsegs as u32, nthr as u32);
        let smem = ((nthr + 1) * 4) as u32;
        let (segs, thr, out) = (buf(&self.segs)?, buf(&self.thr)?, buf(&self.seg_out)?);
        let cfg = grid(nsegs.min(1 << 16), 256, smem);
        unsafe {
            launch(&self.stream, &self.k.interval_sums, cfg, |a| {
                a.arg(&self.depth)
                    .arg(segs)
                    .arg(&ns32)
                    .arg(thr)
                    .arg(&nthr32)
                    .arg(out);
            })?;
        }
        download(&self.stream, out, nsegs * stride)
    }

    fn carry(&mut self) -> BackendResult<i32> {
        Ok(download(&self.stream, &self.state, 1)?[0])
    }
}
