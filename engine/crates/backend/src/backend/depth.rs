//! The coverage operations of a backend: a contig's depth events go in, and come back
//! reduced as the coverage outputs need them. [`CoverageOps`] is implemented by the CPU
//! reference ([`super::cpu`]) and by the CUDA and wgpu window logic ([`super::window`]).

use crate::error::Result;

/// A reduction of at most this many bases does no parallel work on the CPU backend, so a
/// caller may run it on its own thread: with many tiny contigs, a pool round trip per contig
/// would cost more than the work.
pub const INLINE_BASES: usize = 1 << 16;

/// Depth events of one contig: each start adds one to the depth from that position on, each
/// end removes one. Positions are clamped to the contig length by the caller, so they lie in
/// `[0, len]`.
#[derive(Default, Clone, Debug)]
pub struct EventBatch {
    pub starts: Vec<u32>,
    pub ends: Vec<u32>,
}

impl EventBatch {
    pub fn len(&self) -> usize {
        self.starts.len() + self.ends.len()
    }
    pub fn is_empty(&self) -> bool {
        self.starts.is_empty() && self.ends.is_empty()
    }
    pub fn clear(&mut self) {
        self.starts.clear();
        self.ends.clear();
    }
}

/// What to compute from the final depths of a stretch `[from, to)`.
#[derive(Clone, Copy, Debug, Default)]
pub struct ReduceSpec<'a> {
    /// Change points of depth ([`Reduced::runs`]).
    pub runs: bool,
    /// Depth histogram ([`Reduced::hist`]).
    pub hist: bool,
    /// Intervals `[start, end)` in contig coordinates; each is clipped to the stretch and
    /// summarised in [`Reduced::intervals`] (one entry per interval, in this order).
    pub intervals: &'a [(u64, u64)],
    /// Depths to count bases at or above, per interval (sorted ascending).
    pub thresholds: &'a [u32],
    /// Quantize bin edges (sorted, as `-q` parses them): asks for [`Reduced::qruns`].
    pub quantize: Option<&'a [i64]>,
}

/// Exact histogram of a stretch: `counts[i]` bases have depth `min + i`. Empty when the
/// stretch is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HistChunk {
    pub min: i32,
    pub counts: Vec<u64>,
}

/// Integer summary of one interval's bases inside the stretch. Depths are compared as `u32`
/// for min and max (mosdepth keeps them unsigned), and summed as `i64`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IntervalSum {
    pub len: u64,
    pub sum: i64,
    pub min: u32,
    pub max: u32,
    /// Bases with depth `>= thresholds[k]`, per threshold.
    pub above: Vec<u64>,
}

impl IntervalSum {
    pub fn empty(thresholds: usize) -> Self {
        IntervalSum {
            len: 0,
            sum: 0,
            min: u32::MAX,
            max: 0,
            above: vec![0; thresholds],
        }
    }

    pub fn merge(&mut self, o: &IntervalSum) {
        self.len += o.len;
        self.sum = self.sum.wrapping_add(o.sum);
        self.min = self.min.min(o.min);
        self.max = self.max.max(o.max);
        for (a, b) in self.above.iter_mut().zip(&o.above) {
            *a += b;
        }
    }
}

/// The reductions of `[from, to)` that a [`ReduceSpec`] asked for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reduced {
    pub from: usize,
    pub to: usize,
    /// `(position, depth)` where depth differs from the base before, in order. `from` is always
    /// listed (when the stretch is not empty), so the depth at any position of the stretch is
    /// that of the last entry at or before it.
    pub runs: Vec<(u32, i32)>,
    pub hist: HistChunk,
    pub intervals: Vec<IntervalSum>,
    /// `(position, bin)` where the quantize bin (as [`quantize_bin`] gives it, -1 outside
    /// every bin) differs from the base before; `from` is always listed.
    pub qruns: Vec<(u32, i32)>,
}

/// A contig's depth being accumulated on a backend.
pub trait ContigDepth: Send {
    /// Applies a batch of events (scatter-add into the difference array). Events may fall
    /// anywhere in `[done, len]`, where `done` is where the last [`reduce`](Self::reduce)
    /// stopped.
    fn add_events(&mut self, batch: &EventBatch) -> Result<()>;
    /// Final depths of `[done, to)` (`to` at most `len + 1`; the base at `len` exists, as in
    /// mosdepth, and is normally 0), reduced as `spec` asks. The caller promises that no later
    /// event falls before `to`. The backend may free what lies before `to`.
    fn reduce(&mut self, to: usize, spec: &ReduceSpec) -> Result<Reduced>;
}

/// The coverage half of a [`super::Backend`].
pub trait CoverageOps: Send + Sync {
    /// Starts accumulating depth over a contig of `len` bases.
    fn begin_contig(&self, len: usize) -> Result<Box<dyn ContigDepth>>;
}

/// Index of the bin holding `v`, or -1 outside all bins (mosdepth's linear search).
#[inline]
pub fn quantize_bin(v: i64, q: &[i64]) -> i64 {
    if v < q[0] || v > q[q.len() - 1] {
        return -1;
    }
    for (i, &b) in q.iter().enumerate() {
        if b > v {
            return i as i64 - 1;
        }
        if b == v {
            return i as i64;
        }
    }
    q.len() as i64 - 1
}
