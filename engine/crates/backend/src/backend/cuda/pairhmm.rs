//! The pair-HMM operation on CUDA: `pair_costs` in `kernels/pairhmm.cu`, one thread per pair.

use super::{buf, download, ensure, grid, launch, upload, CudaBackend};
use crate::backend::error::{BackendError, BackendResult};
use crate::backend::pairhmm::{launches, PairBatch, PairHmmOps};
use crate::error::Result;

use cudarc::driver::PushKernelArg;

/// Scratch words per `pair_costs` launch (256 MiB).
const PAIR_SCRATCH_WORDS: usize = 1 << 26;

impl PairHmmOps for CudaBackend {
    fn pair_costs(&self, batch: &PairBatch) -> Result<Vec<u32>> {
        self.costs(batch).map_err(|e| e.into_error("cuda"))
    }
}

impl CudaBackend {
    fn costs(&self, batch: &PairBatch) -> BackendResult<Vec<u32>> {
        batch.validate()?;
        let n = batch.n_pairs();
        if n == 0 {
            return Ok(Vec::new());
        }
        let stream = self
            .kernels
            .ctx
            .new_stream()
            .map_err(BackendError::driver("creating a stream"))?;
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
            let (sq, it, pr) = (buf(&seqs)?, buf(&items)?, buf(&pairs)?);
            let (of, sc, o) = (buf(&offs)?, buf(&scratch)?, buf(&out)?);
            let cfg = grid((end - first).div_ceil(128), 128, 0);
            // SAFETY: the arguments match `pair_costs` in kernels/pairhmm.cu; `validate`
            // checked every index, and the scratch holds each pair's 3 * (hap_len + 1) words.
            unsafe {
                launch(&stream, &self.kernels.pair_costs, cfg, |a| {
                    a.arg(sq)
                        .arg(it)
                        .arg(pr)
                        .arg(&f32_)
                        .arg(&n32)
                        .arg(&ge)
                        .arg(of)
                        .arg(sc)
                        .arg(o);
                })?;
            }
            costs.extend(download(&stream, o, end - first)?);
        }
        Ok(costs)
    }
}
