//! The window logic shared by the GPU backends: a contig's differences live in a ring of `W`
//! positions on the device, events beyond the window wait on the host, and `reduce` works
//! through pieces of at most `W` positions, asking a [`Device`] for the kernels (scan, change
//! points, histogram, interval sums) and handling stretches of constant depth on the host.

use crate::backend::cpu::reduce_depths;
use crate::backend::depth::{
    quantize_bin, ContigDepth, EventBatch, HistChunk, IntervalSum, ReduceSpec, Reduced,
};
use crate::backend::error::{BackendError, BackendResult};
use crate::error::Result;

/// Positions per scan tile (the kernels' block size times items per thread).
pub const TILE: usize = 4096;
/// The largest ring, in positions.
pub const MAX_WINDOW: usize = 1 << 22;
/// Bases per interval segment given to one block.
pub const SEG: usize = 1 << 16;
/// The widest histogram of one piece.
const MAX_BINS: u64 = 1 << 30;

/// The ring size for a contig of `len1` positions.
pub fn window_for(len1: usize) -> usize {
    len1.next_power_of_two().clamp(TILE, MAX_WINDOW)
}

// ---------------------------------------------------------------------------------------------
// Host-side pieces of the reduction

/// What one `reduce` call gathers over its pieces.
struct Acc {
    runs: Vec<(u32, i32)>,
    qruns: Vec<(u32, i32)>,
    hist: Option<HistChunk>,
    intervals: Vec<IntervalSum>,
}

/// Adds `counts` (of depths `min..`) into `h`, widening its range as needed.
pub(crate) fn hist_add(h: &mut Option<HistChunk>, min: i32, counts: Vec<u64>) {
    if counts.is_empty() {
        return;
    }
    let Some(cur) = h.as_mut() else {
        *h = Some(HistChunk { min, counts });
        return;
    };
    let lo = (cur.min as i64).min(min as i64);
    let hi = (cur.min as i64 + cur.counts.len() as i64).max(min as i64 + counts.len() as i64);
    if lo < cur.min as i64 {
        let shift = (cur.min as i64 - lo) as usize;
        let mut v = vec![0u64; shift];
        v.extend_from_slice(&cur.counts);
        cur.counts = v;
        cur.min = lo as i32;
    }
    cur.counts.resize((hi - lo) as usize, 0);
    let at = (min as i64 - lo) as usize;
    for (a, b) in cur.counts[at..].iter_mut().zip(&counts) {
        *a += b;
    }
}

/// How many leading thresholds depth `v` reaches, as the CPU counts them.
pub(crate) fn reached(v: i32, thresholds: &[u32]) -> usize {
    if v < 0 {
        return 0;
    }
    thresholds.iter().take_while(|&&t| v as u32 >= t).count()
}

/// The summary of `n` bases of constant depth `v`.
pub(crate) fn constant_sum(v: i32, n: u64, thresholds: &[u32]) -> IntervalSum {
    let r = reached(v, thresholds);
    IntervalSum {
        len: n,
        sum: (v as i64).wrapping_mul(n as i64),
        min: v as u32,
        max: v as u32,
        above: (0..thresholds.len())
            .map(|k| if k < r { n } else { 0 })
            .collect(),
    }
}

/// `[s, e)` clipped to `[b, e_)`, if not empty.
pub(crate) fn clip(&(s, e): &(u64, u64), b: usize, end: usize) -> Option<(usize, usize)> {
    let s = (s.min(usize::MAX as u64) as usize).max(b);
    let e = (e.min(usize::MAX as u64) as usize).min(end);
    (s < e).then_some((s, e))
}

// ---------------------------------------------------------------------------------------------
// A contig: the window logic on the host, the ring and the kernels behind [`Device`]

/// The device side of a contig, as the window logic drives it. [`CudaDevice`] runs it on the
/// GPU; the tests also drive the same logic over a plain host emulation.
pub trait Device: Send {
    /// The backend's name, for errors.
    fn backend_name(&self) -> &'static str;
    /// Ring size (a power of two, a multiple of [`TILE`]).
    fn window(&self) -> usize;
    /// Scatter-adds `events` (`n_starts` starts, then ends) into the ring.
    fn scatter(&mut self, events: &[u32], n_starts: usize) -> BackendResult<()>;
    /// The quantize edges and thresholds of the coming `reduce` (`q` may be empty).
    fn set_params(&mut self, q: &[i64], thresholds: &[u32]) -> BackendResult<()>;
    /// Final depths of the `n` positions from ring slot `base`, zeroing the slots: the
    /// current piece, which the calls below reduce.
    fn scan(&mut self, base: u32, n: usize) -> BackendResult<()>;
    /// Change points of the piece's depth, or of its quantize bin (`quantize`), positions
    /// starting at `from`.
    fn change_points(
        &mut self,
        from: u32,
        n: usize,
        first: bool,
        quantize: bool,
    ) -> BackendResult<Vec<(u32, i32)>>;
    /// The piece's smallest and largest depth.
    fn minmax(&mut self) -> BackendResult<(i32, i32)>;
    /// Counts of depths `lo .. lo + nbins` over the piece.
    fn hist(&mut self, n: usize, lo: i32, nbins: usize) -> BackendResult<Vec<u32>>;
    /// Sums of segments (pairs of offsets into the piece), `4 + thresholds` words each.
    fn interval_sums(&mut self, segs: &[u32], nthr: usize) -> BackendResult<Vec<u32>>;
    /// The running depth after the last piece scanned.
    fn carry(&mut self) -> BackendResult<i32>;
}

/// The window logic of a contig over a [`Device`].
pub struct Contig<D: Device> {
    dev: D,
    /// Bases, including the one at `len`.
    len1: usize,
    w: usize,
    staging: Vec<u32>,
    /// Events at or past `done + w` when they came.
    pending_starts: Vec<u32>,
    pending_ends: Vec<u32>,
    /// The smallest pending position (`usize::MAX` if none).
    pending_min: usize,
    /// The largest position ever scatter-added to the ring: past it, the ring is all zero.
    dev_max: Option<usize>,
    done: usize,
    /// The running depth at `done`, when known on the host.
    carry: Option<i32>,
}

impl<D: Device> Contig<D> {
    pub fn new(dev: D, len1: usize) -> Self {
        Contig {
            w: dev.window(),
            dev,
            len1,
            staging: Vec::new(),
            pending_starts: Vec::new(),
            pending_ends: Vec::new(),
            pending_min: usize::MAX,
            dev_max: None,
            done: 0,
            carry: Some(0),
        }
    }

    /// Uploads the pending events the window now reaches.
    fn flush_pending(&mut self) -> BackendResult<()> {
        let horizon = self.done + self.w;
        if self.pending_min >= horizon {
            return Ok(());
        }
        self.staging.clear();
        let mut min = usize::MAX;
        let mut max = self.dev_max;
        let mut n_starts = 0;
        for (list, is_start) in [
            (&mut self.pending_starts, true),
            (&mut self.pending_ends, false),
        ] {
            list.retain(|&p| {
                let p = p as usize;
                if p < horizon {
                    self.staging.push(p as u32);
                    max = Some(max.map_or(p, |m| m.max(p)));
                    false
                } else {
                    min = min.min(p);
                    true
                }
            });
            if is_start {
                n_starts = self.staging.len();
            }
        }
        self.pending_min = min;
        self.dev_max = max;
        if self.staging.is_empty() {
            return Ok(());
        }
        self.dev.scatter(&self.staging, n_starts)
    }

    /// The running depth at `done`, read from the device if the host does not know it.
    fn host_carry(&mut self) -> BackendResult<i32> {
        if let Some(c) = self.carry {
            return Ok(c);
        }
        let c = self.dev.carry()?;
        self.carry = Some(c);
        Ok(c)
    }

    /// `[b, e)`, where the depth is the constant `c`: reduced on the host.
    fn host_piece(b: usize, e: usize, c: i32, first: bool, spec: &ReduceSpec, acc: &mut Acc) {
        if spec.runs && first {
            acc.runs.push((b as u32, c));
        }
        if let Some(q) = spec.quantize {
            if first {
                acc.qruns.push((b as u32, quantize_bin(c as i64, q) as i32));
            }
        }
        if spec.hist {
            hist_add(&mut acc.hist, c, vec![(e - b) as u64]);
        }
        for (iv, sum) in spec.intervals.iter().zip(acc.intervals.iter_mut()) {
            if let Some((s, t)) = clip(iv, b, e) {
                sum.merge(&constant_sum(c, (t - s) as u64, spec.thresholds));
            }
        }
    }

    /// `[b, e)` (at most `w` bases) on the device.
    fn device_piece(
        &mut self,
        b: usize,
        e: usize,
        first: bool,
        spec: &ReduceSpec,
        acc: &mut Acc,
    ) -> BackendResult<()> {
        let n = e - b;
        self.dev.scan((b & (self.w - 1)) as u32, n)?;
        self.carry = None;
        if spec.runs {
            let r = self.dev.change_points(b as u32, n, first, false)?;
            acc.runs.extend(r);
        }
        if spec.quantize.is_some() {
            let r = self.dev.change_points(b as u32, n, first, true)?;
            acc.qruns.extend(r);
        }
        if spec.hist {
            let (lo, hi) = self.dev.minmax()?;
            if lo == hi {
                hist_add(&mut acc.hist, lo, vec![n as u64]);
            } else {
                let nbins = (hi as i64 - lo as i64 + 1) as u64;
                if nbins > MAX_BINS {
                    return Err(BackendError::HistogramTooWide { lo, hi });
                }
                let counts = self.dev.hist(n, lo, nbins as usize)?;
                hist_add(
                    &mut acc.hist,
                    lo,
                    counts.into_iter().map(u64::from).collect(),
                );
            }
        }
        if !spec.intervals.is_empty() {
            let mut segs: Vec<u32> = Vec::new();
            let mut owner: Vec<usize> = Vec::new();
            for (i, iv) in spec.intervals.iter().enumerate() {
                if let Some((s, t)) = clip(iv, b, e) {
                    let mut at = s;
                    while at < t {
                        let end = t.min(at + SEG);
                        segs.push((at - b) as u32);
                        segs.push((end - b) as u32);
                        owner.push(i);
                        at = end;
                    }
                }
            }
            if !owner.is_empty() {
                let nthr = spec.thresholds.len();
                let stride = 4 + nthr;
                let res = self.dev.interval_sums(&segs, nthr)?;
                if res.len() != owner.len() * stride {
                    return Err(BackendError::Internal("interval sums of the wrong size"));
                }
                for (j, &i) in owner.iter().enumerate() {
                    let r = &res[j * stride..(j + 1) * stride];
                    let s = IntervalSum {
                        len: (segs[2 * j + 1] - segs[2 * j]) as u64,
                        sum: ((r[0] as u64) | ((r[1] as u64) << 32)) as i64,
                        min: r[2],
                        max: r[3],
                        above: r[4..].iter().map(|&x| x as u64).collect(),
                    };
                    acc.intervals[i].merge(&s);
                }
            }
        }
        Ok(())
    }
}

impl<D: Device> ContigDepth for Contig<D> {
    fn add_events(&mut self, batch: &EventBatch) -> Result<()> {
        self.add(batch)
            .map_err(|e| e.into_error(self.dev.backend_name()))
    }

    fn reduce(&mut self, to: usize, spec: &ReduceSpec) -> Result<Reduced> {
        self.reduce_to(to, spec)
            .map_err(|e| e.into_error(self.dev.backend_name()))
    }
}

impl<D: Device> Contig<D> {
    /// [`ContigDepth::add_events`].
    fn add(&mut self, batch: &EventBatch) -> BackendResult<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let (done, horizon, len1) = (self.done, self.done + self.w, self.len1);
        self.staging.clear();
        let mut max = self.dev_max;
        let mut n_starts = 0;
        for (list, pending, is_start) in [
            (&batch.starts, &mut self.pending_starts, true),
            (&batch.ends, &mut self.pending_ends, false),
        ] {
            for &p in list {
                let pu = p as usize;
                if pu >= len1 {
                    return Err(BackendError::EventPastEnd {
                        pos: p,
                        last: len1 - 1,
                    });
                }
                if pu < done {
                    // Already reduced: the CPU reference never reads such an event either.
                    continue;
                }
                if pu < horizon {
                    self.staging.push(p);
                    max = Some(max.map_or(pu, |m| m.max(pu)));
                } else {
                    pending.push(p);
                    self.pending_min = self.pending_min.min(pu);
                }
            }
            if is_start {
                n_starts = self.staging.len();
            }
        }
        self.dev_max = max;
        if self.staging.is_empty() {
            return Ok(());
        }
        self.dev.scatter(&self.staging, n_starts)
    }

    /// [`ContigDepth::reduce`].
    fn reduce_to(&mut self, to: usize, spec: &ReduceSpec) -> BackendResult<Reduced> {
        let from = self.done;
        let to = to.min(self.len1);
        if to <= from {
            return Ok(reduce_depths(from, &[], spec));
        }
        if spec.quantize.is_some_and(|q| q.is_empty()) {
            return Err(BackendError::NoQuantizeEdges);
        }
        let thresholds = if spec.intervals.is_empty() {
            &[][..]
        } else {
            spec.thresholds
        };
        self.dev
            .set_params(spec.quantize.unwrap_or(&[]), thresholds)?;
        let mut acc = Acc {
            runs: Vec::new(),
            qruns: Vec::new(),
            hist: None,
            intervals: vec![IntervalSum::empty(spec.thresholds.len()); spec.intervals.len()],
        };
        let mut first = true;
        while self.done < to {
            self.flush_pending()?;
            let b = self.done;
            let e = match self.dev_max {
                Some(m) if m >= b => {
                    let e = to.min(b + self.w).min(m + 1);
                    self.device_piece(b, e, first, spec, &mut acc)?;
                    e
                }
                _ => {
                    // No event on the device from here on: constant up to the next pending one.
                    let e = to.min(self.pending_min);
                    let c = self.host_carry()?;
                    Self::host_piece(b, e, c, first, spec, &mut acc);
                    e
                }
            };
            self.done = e;
            first = false;
        }
        Ok(Reduced {
            from,
            to,
            runs: acc.runs,
            hist: acc.hist.unwrap_or_default(),
            intervals: acc.intervals,
            qruns: acc.qruns,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::pairhmm::{PairBatch, PairHmmOps};
    use crate::backend::{Backend, CoverageOps};

    /// The device of [`Contig`] emulated on the host, as the kernels compute (checked against
    /// the kernels themselves only on a GPU): drives the window logic through the shared
    /// backend test where no GPU is. It also checks that no two live positions share a slot.
    struct EmuDevice {
        w: usize,
        ring: Vec<i32>,
        owner: Vec<Option<u32>>,
        depth: Vec<i32>,
        state: [i32; 2],
        minmax: (i32, i32),
        q: Vec<i64>,
        thr: Vec<u32>,
    }

    impl EmuDevice {
        fn new(w: usize) -> Self {
            EmuDevice {
                w,
                ring: vec![0; w],
                owner: vec![None; w],
                depth: vec![0; w],
                state: [0; 2],
                minmax: (0, 0),
                q: Vec::new(),
                thr: Vec::new(),
            }
        }
    }

    impl Device for EmuDevice {
        fn backend_name(&self) -> &'static str {
            "emulated"
        }
        fn window(&self) -> usize {
            self.w
        }
        fn scatter(&mut self, events: &[u32], n_starts: usize) -> BackendResult<()> {
            for (i, &p) in events.iter().enumerate() {
                let slot = p as usize & (self.w - 1);
                assert!(
                    self.owner[slot].is_none_or(|o| o == p),
                    "slot {slot} of position {p} still holds position {:?}",
                    self.owner[slot]
                );
                self.owner[slot] = Some(p);
                self.ring[slot] = self.ring[slot].wrapping_add(if i < n_starts { 1 } else { -1 });
            }
            Ok(())
        }
        fn set_params(&mut self, q: &[i64], thresholds: &[u32]) -> BackendResult<()> {
            self.q = q.to_vec();
            self.thr = thresholds.to_vec();
            Ok(())
        }
        fn scan(&mut self, base: u32, n: usize) -> BackendResult<()> {
            assert!(n >= 1 && n <= self.w);
            let carry_in = self.state[0];
            let mut acc = carry_in;
            let (mut lo, mut hi) = (i32::MAX, i32::MIN);
            for i in 0..n {
                let slot = (base as usize + i) & (self.w - 1);
                acc = acc.wrapping_add(self.ring[slot]);
                self.ring[slot] = 0;
                self.owner[slot] = None;
                self.depth[i] = acc;
                lo = lo.min(acc);
                hi = hi.max(acc);
            }
            self.state = [acc, carry_in];
            self.minmax = (lo, hi);
            Ok(())
        }
        fn change_points(
            &mut self,
            from: u32,
            n: usize,
            first: bool,
            quantize: bool,
        ) -> BackendResult<Vec<(u32, i32)>> {
            let f = |v: i32| {
                if quantize {
                    quantize_bin(v as i64, &self.q) as i32
                } else {
                    v
                }
            };
            let mut out = Vec::new();
            for i in 0..n {
                let v = f(self.depth[i]);
                let change = if i == 0 {
                    first || v != f(self.state[1])
                } else {
                    v != f(self.depth[i - 1])
                };
                if change {
                    out.push((from + i as u32, v));
                }
            }
            Ok(out)
        }
        fn minmax(&mut self) -> BackendResult<(i32, i32)> {
            Ok(self.minmax)
        }
        fn hist(&mut self, n: usize, lo: i32, nbins: usize) -> BackendResult<Vec<u32>> {
            let mut c = vec![0u32; nbins];
            for &d in &self.depth[..n] {
                c[(d as u32).wrapping_sub(lo as u32) as usize] += 1;
            }
            Ok(c)
        }
        fn interval_sums(&mut self, segs: &[u32], nthr: usize) -> BackendResult<Vec<u32>> {
            assert_eq!(nthr, self.thr.len());
            let mut out = Vec::new();
            for s in segs.chunks(2) {
                let d = &self.depth[s[0] as usize..s[1] as usize];
                let sum = d.iter().fold(0u64, |a, &v| a.wrapping_add(v as i64 as u64));
                out.push(sum as u32);
                out.push((sum >> 32) as u32);
                out.push(d.iter().map(|&v| v as u32).min().unwrap_or(u32::MAX));
                out.push(d.iter().map(|&v| v as u32).max().unwrap_or(0));
                for k in 0..nthr {
                    out.push(d.iter().filter(|&&v| reached(v, &self.thr) > k).count() as u32);
                }
            }
            Ok(out)
        }
        fn carry(&mut self) -> BackendResult<i32> {
            Ok(self.state[0])
        }
    }

    /// The window logic over [`EmuDevice`], with a fixed ring size (`None`: as on the GPU).
    struct EmuBackend(Option<usize>);

    impl Backend for EmuBackend {
        fn name(&self) -> &'static str {
            "emulated"
        }
        fn device(&self) -> String {
            "host emulation".into()
        }
        fn coverage(&self) -> &dyn CoverageOps {
            self
        }
        fn pairhmm(&self) -> &dyn PairHmmOps {
            self
        }
    }

    impl CoverageOps for EmuBackend {
        fn begin_contig(&self, len: usize) -> Result<Box<dyn ContigDepth>> {
            let w = self.0.unwrap_or_else(|| window_for(len + 1));
            Ok(Box::new(Contig::new(EmuDevice::new(w), len + 1)))
        }
    }

    impl PairHmmOps for EmuBackend {
        fn pair_costs(&self, batch: &PairBatch) -> Result<Vec<u32>> {
            Ok(crate::backend::pairhmm::reference_costs(batch))
        }
    }

    #[test]
    fn window_logic_matches_reference_on_emulated_device() {
        crate::backend::testing::check_backend(&EmuBackend(None));
        // A small ring: many pieces per reduce, most events wait on the host.
        crate::backend::testing::check_backend(&EmuBackend(Some(TILE)));
    }

    #[test]
    fn host_helpers() {
        let mut h = None;
        hist_add(&mut h, 5, vec![1, 2]);
        hist_add(&mut h, 3, vec![1]);
        hist_add(&mut h, 8, vec![4]);
        assert_eq!(
            h,
            Some(HistChunk {
                min: 3,
                counts: vec![1, 0, 1, 2, 0, 4]
            })
        );
        let s = constant_sum(3, 10, &[0, 1, 5, 2]);
        assert_eq!(s.above, vec![10, 10, 0, 0]);
        assert_eq!(s.sum, 30);
        assert_eq!(constant_sum(-1, 2, &[0]).above, vec![0]);
    }
}
