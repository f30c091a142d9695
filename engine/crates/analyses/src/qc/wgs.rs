//! Picard's `CollectWgsMetrics` (2.27.5, default algorithm) in one streaming pass.
//!
//! Picard walks the reference locus by locus (`SamLocusIterator`): at each non-`N` locus it
//! takes the aligned bases of the reads that passed its read filters, drops bases of quality
//! below 20 (or `N`), then bases of a read whose name was already counted at that locus (the
//! second of two overlapping mates), and caps the depth at 250. Reads are filtered in order:
//! secondary (not counted), MAPQ < 20, duplicates, then unpaired or mate-unmapped reads; each
//! filter counts the aligned bases of the reads it removes. Reads failing vendor quality
//! checks and unmapped reads never enter.
//!
//! Here the loci of a contig live in a ring buffer from the leftmost locus a read can still
//! reach to the furthest end seen; a locus is final once a read starts past it (the input is
//! sorted). Overlapping mates are found by name: a read whose mate starts inside it leaves
//! behind the loci it counted, which its mate consults.

use super::identity::{base_index, Site};
use crate::io::{Alignment, CigarOp};

/// Reference bases that are part of Picard's territory.
const ACGT: [bool; 256] = {
    let mut t = [false; 256];
    t[b'A' as usize] = true;
    t[b'C' as usize] = true;
    t[b'G' as usize] = true;
    t[b'T' as usize] = true;
    t
};

/// Options with Picard's names and defaults.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct WgsParams {
    pub min_mapq: u8,
    pub min_baseq: u8,
    pub coverage_cap: u32,
    pub count_unpaired: bool,
}

impl Default for WgsParams {
    fn default() -> Self {
        WgsParams {
            min_mapq: 20,
            min_baseq: 20,
            coverage_cap: 250,
            count_unpaired: false,
        }
    }
}

/// Bases removed by each read filter, and by the per-locus checks.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Excluded {
    pub adapter: u64,
    pub mapq: u64,
    pub dupe: u64,
    pub unpaired: u64,
    pub baseq: u64,
    pub overlap: u64,
    pub capped: u64,
}

/// What a locus holds while reads still reach it.
#[derive(Clone, Copy, Default)]
struct Locus {
    /// Bases counted (after the quality and overlap checks), uncapped.
    depth: u32,
    /// Bases of quality > 2 seen, up to the cap (Picard's unfiltered depth).
    unfiltered: u32,
}

/// A record still in reach of later ones: the loci it counted, for the overlap check of later
/// records of the same name (its mate, a supplementary part of either, anything Picard's
/// per-locus name set would catch). Names are compared by a 64-bit hash.
struct Pending {
    hash: u64,
    start: i64,
    end: i64,
    counted: Vec<u64>,
}

impl Pending {
    fn has(&self, pos: i64) -> bool {
        let i = (pos - self.start) as usize;
        self.counted
            .get(i / 64)
            .is_some_and(|w| w >> (i % 64) & 1 == 1)
    }
}

/// One sample's collector. Only the counts travel in a shard record.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Wgs {
    pub params: WgsParams,
    /// High-quality depth (capped) → loci.
    pub hist: Vec<u64>,
    /// Unfiltered depth (capped) → loci.
    pub unfiltered_hist: Vec<u64>,
    /// Base quality → bases (of quality > 2, up to the cap per locus).
    pub baseq_hist: Vec<u64>,
    pub excluded: Excluded,
    /// Per contig: sum of counted depth (uncapped), and loci (non-`N`).
    pub contig_depth: Vec<(u64, u64)>,
    /// Depth summed over windows of `window` bases, per contig, for the depth plots.
    pub window: u64,
    pub windows: Vec<Vec<u64>>,
    // The contig in progress.
    #[serde(skip)]
    tid: Option<usize>,
    /// Reference bases of the contig (upper case), when a reference was given.
    #[serde(skip)]
    refseq: Option<std::sync::Arc<Vec<u8>>>,
    /// `--by BED`: regions per contig (sorted), their summed depth, and the first region a
    /// locus can still be in.
    pub regions: Option<super::ByRegions>,
    pub region_depth: Vec<Vec<u64>>,
    #[serde(skip)]
    region_next: usize,
    #[serde(skip)]
    ring: Vec<Locus>,
    /// Locus of `ring[head]`.
    #[serde(skip)]
    base: i64,
    #[serde(skip)]
    head: usize,
    /// Loci in use from `base`.
    #[serde(skip)]
    used: usize,
    /// Next locus not yet added to the histogram.
    #[serde(skip)]
    done: i64,
    #[serde(skip)]
    contig_len: i64,
    #[serde(skip)]
    pending: std::collections::VecDeque<Pending>,
    /// Bitmaps of pruned records, for reuse.
    #[serde(skip)]
    spare: Vec<Vec<u64>>,
    /// Records since the pending reads were last pruned.
    #[serde(skip)]
    since_prune: u32,
    #[serde(skip)]
    quals: Vec<u8>,
    #[serde(skip)]
    seq: Vec<u8>,
    #[serde(skip)]
    ops: Vec<CigarOp>,
    /// The first panel site at or after the last record's start.
    #[serde(skip)]
    site_cursor: usize,
    /// Stretches of the contig whose reference is not A, C, G or T, in order.
    #[serde(skip)]
    gaps: Vec<(i64, i64)>,
    /// The contig's base-quality counts in four lanes (bases alternate between them, so that
    /// runs of one quality do not wait on one counter), added to `baseq_hist` at its end.
    #[serde(skip, default = "no_lanes")]
    baseq_lanes: Box<[u64; LANES * 128]>,
    #[serde(skip)]
    adapters: Adapters,
}

impl Wgs {
    pub fn new(params: WgsParams, n_contigs: usize, window: u64) -> Self {
        let cap = params.coverage_cap as usize;
        Wgs {
            params,
            hist: vec![0; cap + 1],
            unfiltered_hist: vec![0; cap + 1],
            baseq_hist: vec![0; 127],
            excluded: Excluded::default(),
            contig_depth: vec![(0, 0); n_contigs],
            window: window.max(1),
            windows: vec![Vec::new(); n_contigs],
            tid: None,
            refseq: None,
            ring: vec![Locus::default(); 1 << 12],
            base: 0,
            head: 0,
            used: 0,
            done: 0,
            contig_len: 0,
            pending: Default::default(),
            spare: Vec::new(),
            since_prune: 0,
            regions: None,
            region_depth: vec![Vec::new(); n_contigs],
            region_next: 0,
            quals: Vec::new(),
            seq: Vec::new(),
            ops: Vec::new(),
            site_cursor: 0,
            gaps: Vec::new(),
            baseq_lanes: no_lanes(),
            adapters: Adapters::new(),
        }
    }

    /// Starts contig `tid` of `len` bases; `refseq` is its sequence where a reference was
    /// given (loci with `N` are not part of the territory).
    pub fn start_contig(&mut self, tid: usize, len: u64, refseq: Option<std::sync::Arc<Vec<u8>>>) {
        self.tid = Some(tid);
        self.refseq = refseq;
        self.base = 0;
        self.head = 0;
        self.used = 0;
        self.done = 0;
        self.contig_len = len as i64;
        self.pending.clear();
        self.site_cursor = 0;
        self.gaps.clear();
        if let Some(seq) = self.refseq.as_deref() {
            let mut open: Option<i64> = None;
            for (i, &c) in seq.iter().enumerate() {
                match (ACGT[c as usize], open) {
                    (false, None) => open = Some(i as i64),
                    (true, Some(st)) => {
                        self.gaps.push((st, i as i64));
                        open = None;
                    }
                    _ => {}
                }
            }
            if let Some(st) = open {
                self.gaps.push((st, seq.len() as i64));
            }
        }
        self.windows[tid] = vec![0; len.div_ceil(self.window) as usize];
        self.region_next = 0;
        if let Some(r) = &self.regions {
            self.region_depth[tid] = vec![0; r[tid].len()];
        }
    }

    /// Adds every locus before `upto` (exclusive) to the histograms.
    fn flush_to(&mut self, upto: i64) {
        let Some(tid) = self.tid else { return };
        let upto = upto.min(self.contig_len);
        let cap = self.params.coverage_cap;
        let mask = self.ring.len() - 1;
        while self.done < upto {
            let p = self.done;
            let loc = if p >= self.base && ((p - self.base) as usize) < self.used {
                let i = (self.head + (p - self.base) as usize) & mask;
                std::mem::take(&mut self.ring[i])
            } else {
                Locus::default()
            };
            let is_n = self
                .refseq
                .as_ref()
                .is_some_and(|s| !matches!(s[p as usize], b'A' | b'C' | b'G' | b'T'));
            if !is_n {
                let hq = loc.depth.min(cap);
                if loc.depth > cap {
                    self.excluded.capped += (loc.depth - cap) as u64;
                }
                self.hist[hq as usize] += 1;
                self.unfiltered_hist[loc.unfiltered as usize] += 1;
                self.contig_depth[tid].0 += loc.depth as u64;
                self.contig_depth[tid].1 += 1;
                self.windows[tid][(p as u64 / self.window) as usize] += loc.depth as u64;
            }
            if let Some(regs) = &self.regions {
                // Regions are sorted by start; a locus adds to every region holding it.
                let regs = &regs[tid];
                let p = p as u64;
                while self.region_next < regs.len() && regs[self.region_next].1 <= p {
                    self.region_next += 1;
                }
                let mut k = self.region_next;
                while k < regs.len() && regs[k].0 <= p {
                    if p < regs[k].1 {
                        self.region_depth[tid][k] += loc.depth as u64;
                    }
                    k += 1;
                }
            }
            self.done += 1;
        }
        // Drop the loci no read can reach any more.
        if upto > self.base {
            let k = ((upto - self.base) as usize).min(self.used);
            self.head = (self.head + k) & mask;
            self.used -= k;
            self.base += k as i64;
            if self.used == 0 {
                self.base = upto;
                self.head = 0;
            }
        }
    }

    /// Adds the counts of another part of the same file (other contigs).
    pub fn merge(&mut self, o: &Wgs) {
        for (a, b) in [
            (&mut self.hist, &o.hist),
            (&mut self.unfiltered_hist, &o.unfiltered_hist),
            (&mut self.baseq_hist, &o.baseq_hist),
        ] {
            for (x, y) in a.iter_mut().zip(b) {
                *x += y;
            }
        }
        let (e, f) = (&mut self.excluded, &o.excluded);
        e.adapter += f.adapter;
        e.mapq += f.mapq;
        e.dupe += f.dupe;
        e.unpaired += f.unpaired;
        e.baseq += f.baseq;
        e.overlap += f.overlap;
        e.capped += f.capped;
        for (a, b) in self.contig_depth.iter_mut().zip(&o.contig_depth) {
            a.0 += b.0;
            a.1 += b.1;
        }
        for (a, b) in self.windows.iter_mut().zip(&o.windows) {
            if a.is_empty() {
                a.clone_from(b);
            }
        }
        for (a, b) in self.region_depth.iter_mut().zip(&o.region_depth) {
            if a.is_empty() {
                a.clone_from(b);
            }
        }
    }

    /// Finishes the contig in progress: every remaining locus is counted.
    pub fn end_contig(&mut self) {
        if self.tid.is_some() {
            self.flush_to(self.contig_len);
            for lane in self.baseq_lanes.chunks_exact_mut(128) {
                for (h, l) in self.baseq_hist.iter_mut().zip(lane.iter_mut()) {
                    *h += std::mem::take(l);
                }
            }
            self.tid = None;
            self.refseq = None;
            self.pending.clear();
        }
    }

    /// Makes room for loci up to `end` (exclusive).
    fn reserve(&mut self, end: i64) {
        let need = (end - self.base).max(0) as usize;
        if need > self.ring.len() {
            let mut n = self.ring.len();
            while n < need {
                n *= 2;
            }
            let mask = self.ring.len() - 1;
            let mut v = vec![Locus::default(); n];
            for (k, slot) in v.iter_mut().enumerate().take(self.used) {
                *slot = self.ring[(self.head + k) & mask];
            }
            self.ring = v;
            self.head = 0;
        }
        if need > self.used {
            self.used = need;
        }
    }

    /// Aligned bases of a read (M, =, X), the bases the filters count.
    fn aligned_bases<A: Alignment>(rec: &A) -> u64 {
        let mut n = 0u64;
        rec.for_each_cigar(|c| {
            if matches!(c.op, b'M' | b'=' | b'X') {
                n += c.len as u64;
            }
        });
        n
    }

    /// One record of the contig in progress (any flags: the filters are applied here). Bases
    /// counted at panel `sites` (this contig's, sorted) are added to `counts` (the same
    /// indexes): the fingerprint sees exactly the bases the depth does.
    pub fn record<A: Alignment>(&mut self, rec: &A, sites: &[Site], counts: &mut [[u32; 4]]) {
        let flag = rec.flag();
        // Picard's read filters come first, in its order, and count the aligned bases of what
        // they remove; unmapped and QC-failed reads are dropped only after them.
        if flag & 0x100 != 0 {
            return;
        }
        let pos = rec.pos();
        self.flush_to(pos);
        if (flag & 0x4 != 0 || rec.mapq() == 0) && self.adapters.is_adapter(rec, &mut self.seq) {
            self.excluded.adapter += Self::aligned_bases(rec);
            return;
        }
        let p = &self.params;
        if rec.mapq() < p.min_mapq {
            self.excluded.mapq += Self::aligned_bases(rec);
            return;
        }
        if flag & 0x400 != 0 {
            self.excluded.dupe += Self::aligned_bases(rec);
            return;
        }
        if !p.count_unpaired && (flag & 0x1 == 0 || flag & 0x8 != 0) {
            self.excluded.unpaired += Self::aligned_bases(rec);
            return;
        }
        if flag & 0x4 != 0 || flag & 0x200 != 0 {
            return;
        }
        self.pileup(rec, sites, counts);
    }

    fn pileup<A: Alignment>(&mut self, rec: &A, sites: &[Site], counts: &mut [[u32; 4]]) {
        let pos = rec.pos();
        let end = rec.end_pos();
        self.reserve(end);
        // The CIGAR is copied out so that the per-base loop runs outside a closure.
        self.ops.clear();
        let ops = &mut self.ops;
        rec.for_each_cigar(|c| ops.push(c));
        let qlen: usize = self
            .ops
            .iter()
            .filter(|c| matches!(c.op, b'M' | b'=' | b'X' | b'I' | b'S'))
            .map(|c| c.len as usize)
            .sum();
        // Records without qualities (0xff, or none stored) count as high quality: long reads
        // often have none. Bases beyond the stored sequence are N.
        self.quals.clear();
        rec.qual_into(&mut self.quals);
        if self.quals.len() < qlen {
            self.quals.clear();
            self.quals.resize(qlen, 0xff);
        }
        self.seq.clear();
        rec.seq_into(&mut self.seq);
        if self.seq.len() < qlen {
            self.seq.clear();
            self.seq.resize(qlen, b'N');
        }
        let hash = {
            use std::hash::{BuildHasher, Hasher};
            let mut h = rustc_hash::FxBuildHasher.build_hasher();
            h.write(rec.read_name());
            h.finish()
        };
        // Records that end before this one starts can no longer be overlapped: they leave the
        // front (the deque is in start order), and every 4096 records the rest are swept too.
        while self.pending.front().is_some_and(|p| p.end <= pos) {
            if let Some(p) = self.pending.pop_front() {
                self.spare.push(p.counted);
            }
        }
        self.since_prune += 1;
        if self.since_prune >= 4096 {
            self.since_prune = 0;
            let spare = &mut self.spare;
            self.pending.retain_mut(|p| {
                if p.end > pos {
                    return true;
                }
                spare.push(std::mem::take(&mut p.counted));
                false
            });
        }
        let earlier: Vec<&Pending> = self.pending.iter().filter(|p| p.hash == hash).collect();
        let words = ((end - pos).max(0) as usize).div_ceil(64);
        let mut counted = self.spare.pop().unwrap_or_default();
        counted.clear();
        counted.resize(words, 0);
        let mask = self.ring.len() - 1;
        let (head, base) = (self.head, self.base);
        let (minq, cap) = (self.params.min_baseq, self.params.coverage_cap);
        let (mut ex_baseq, mut ex_overlap) = (0u64, 0u64);
        let lanes = &mut *self.baseq_lanes;
        let ring = &mut self.ring[..];
        let refseq = self.refseq.as_deref().map(Vec::as_slice);
        let gaps = &self.gaps[..];
        let (quals, seq) = (&self.quals[..], &self.seq[..]);
        let contig_len = self.contig_len;
        // The panel sites from the first at or after this read (reads come sorted).
        let mut cur = self.site_cursor;
        while cur < sites.len() && (sites[cur].pos as i64) < pos {
            cur += 1;
        }
        self.site_cursor = cur;
        let (mut r, mut q) = (pos, 0usize);
        for c in &self.ops {
            match c.op {
                b'M' | b'=' | b'X' => {
                    let n = c.len as usize;
                    let stop = ((contig_len - r).max(0) as usize).min(n);
                    let bs = &seq[q..q + stop];
                    let run_end = r + stop as i64;
                    let g = gaps.partition_point(|g| g.1 <= r);
                    let in_gap = gaps.get(g).is_some_and(|g| g.0 < run_end);
                    let at = Bases {
                        qs: &quals[q..q + stop],
                        bs,
                        refs: refseq
                            .filter(|_| in_gap)
                            .map(|s| &s[r as usize..r as usize + stop]),
                        ring_at: head + (r - base) as usize,
                        mask,
                        bit: (r - pos) as usize,
                        locus: r,
                    };
                    let tally = Tally {
                        ring: &mut *ring,
                        counted: &mut counted,
                        earlier: &earlier,
                        lanes: &mut *lanes,
                        minq,
                        cap,
                    };
                    let (b, o) = count_run(&at, tally);
                    ex_baseq += b;
                    ex_overlap += o;
                    // The fingerprint sees exactly the bases the depth counted (the first of
                    // several sites at one locus).
                    while cur < sites.len() && (sites[cur].pos as i64) < run_end {
                        let p = sites[cur].pos as i64;
                        if p >= r {
                            let i = (p - pos) as usize;
                            if counted[i / 64] >> (i % 64) & 1 == 1 {
                                if let Some(bi) = base_index(bs[(p - r) as usize]) {
                                    counts[cur][bi] += 1;
                                }
                            }
                        }
                        cur += 1;
                        while cur < sites.len() && sites[cur].pos as i64 == p {
                            cur += 1;
                        }
                    }
                    r += n as i64;
                    q += n;
                }
                b'I' | b'S' => q += c.len as usize,
                b'D' | b'N' => r += c.len as i64,
                _ => {}
            }
        }
        self.excluded.baseq += ex_baseq;
        self.excluded.overlap += ex_overlap;
        self.pending.push_back(Pending {
            hash,
            start: pos,
            end,
            counted,
        });
    }
}

/// One run of aligned bases (an `M`, `=` or `X` operation) of a record.
struct Bases<'a> {
    qs: &'a [u8],
    bs: &'a [u8],
    /// The reference under the run, where one was given.
    refs: Option<&'a [u8]>,
    /// Ring slot of the run's first locus (before the mask).
    ring_at: usize,
    mask: usize,
    /// Bit of the run's first locus in the record's `counted` map.
    bit: usize,
    locus: i64,
}

/// Lanes of the base-quality counts.
const LANES: usize = 4;

fn no_lanes() -> Box<[u64; LANES * 128]> {
    Box::new([0; LANES * 128])
}

/// What the per-base loop updates, handed over by value so that the loop works on locals
/// (inside a closure over the CIGAR, every base reloaded the ring, its bounds and the tables
/// through captured references: this loop was half of qc's time).
struct Tally<'a, 'b> {
    ring: &'a mut [Locus],
    /// The record's map of counted loci.
    counted: &'a mut [u64],
    /// Earlier records of the same name still in reach.
    earlier: &'a [&'b Pending],
    lanes: &'a mut [u64; LANES * 128],
    minq: u8,
    cap: u32,
}

/// [`count_bases`] for this run: overlap checks only when an earlier record of the same name
/// is in reach, reference checks only when the run meets a reference gap.
fn count_run(at: &Bases<'_>, t: Tally<'_, '_>) -> (u64, u64) {
    match (t.earlier.is_empty(), at.refs.is_some()) {
        (true, false) => count_bases::<false, false>(at, t),
        (true, true) => count_bases::<false, true>(at, t),
        (false, false) => count_bases::<true, false>(at, t),
        (false, true) => count_bases::<true, true>(at, t),
    }
}

/// Counts a run's bases at their loci; returns the bases excluded for quality and as overlap.
/// `OVERLAP`: whether an earlier record of the same name may have counted some of these loci
/// (then those bases are the overlap). `REF`: whether the run meets reference bases other than
/// A, C, G or T (loci Picard skips). Not inlined, so that its few values stay in registers;
/// the quality counts alternate between lanes and the record's map of counted loci fills a
/// word in a register, so that no base waits on the store of the one before.
#[inline(never)]
fn count_bases<const OVERLAP: bool, const REF: bool>(
    at: &Bases<'_>,
    Tally {
        ring,
        counted,
        earlier,
        lanes,
        minq,
        cap,
    }: Tally<'_, '_>,
) -> (u64, u64) {
    let (mut ex_baseq, mut ex_overlap) = (0u64, 0u64);
    let (ring_at, mask, bit) = (at.ring_at, at.mask, at.bit);
    let refs = at.refs.unwrap_or(&[]);
    let mut word = 0u64;
    let mut word_at = bit / 64;
    for (k, (&bq, &b)) in at.qs.iter().zip(at.bs).enumerate() {
        // Picard skips loci where the reference is not A, C, G or T.
        if REF && !refs.get(k).is_some_and(|&c| ACGT[c as usize]) {
            continue;
        }
        if bq <= 2 {
            ex_baseq += 1;
            continue;
        }
        let l = &mut ring[(ring_at + k) & mask];
        if l.unfiltered < cap {
            l.unfiltered += 1;
            lanes[(k % LANES) * 128 + bq.min(126) as usize] += 1;
        }
        if bq < minq || b | 0x20 == b'n' {
            ex_baseq += 1;
            continue;
        }
        if OVERLAP && earlier.iter().any(|m| m.has(at.locus + k as i64)) {
            ex_overlap += 1;
            continue;
        }
        l.depth += 1;
        let i = bit + k;
        if i / 64 != word_at {
            counted[word_at] |= word;
            word = 0;
            word_at = i / 64;
        }
        word |= 1 << (i % 64);
    }
    if word != 0 {
        counted[word_at] |= word;
    }
    (ex_baseq, ex_overlap)
}

/// The numbers of Picard's WgsMetrics.
#[derive(Clone, Debug)]
pub struct WgsMetrics {
    pub territory: u64,
    pub mean: f64,
    pub sd: f64,
    pub median: f64,
    pub mad: f64,
    pub pct_exc: [f64; 8],
    pub pct_x: [f64; 14],
    pub fold: [f64; 3],
    pub het_snp_sensitivity: f64,
    pub het_snp_q: i64,
    pub within_20pct: f64,
}

pub const PCT_X: [usize; 14] = [1, 5, 10, 15, 20, 25, 30, 40, 50, 60, 70, 80, 90, 100];

pub const DEFS: &[(&str, &str)] = &[
    ("GENOME_TERRITORY", "Non-N reference bases (Picard CollectWgsMetrics)"),
    ("MEAN_COVERAGE", "Mean high-quality depth over the territory: MAPQ ≥ 20, base quality ≥ 20, no duplicates, overlapping mates counted once, capped at 250"),
    ("SD_COVERAGE", "Standard deviation of that depth"),
    ("MEDIAN_COVERAGE", "Median of that depth"),
    ("MAD_COVERAGE", "Median absolute deviation of that depth"),
    ("PCT_EXC_ADAPTER", "Fraction of aligned bases excluded as adapter: unmapped or MAPQ 0 reads starting with 16 bases of an Illumina adapter (1 mismatch allowed)"),
    ("PCT_EXC_MAPQ", "Fraction of aligned bases excluded for low mapping quality"),
    ("PCT_EXC_DUPE", "Fraction of aligned bases excluded as duplicates"),
    ("PCT_EXC_UNPAIRED", "Fraction of aligned bases excluded as unpaired or with an unmapped mate"),
    ("PCT_EXC_BASEQ", "Fraction of aligned bases excluded for low base quality"),
    ("PCT_EXC_OVERLAP", "Fraction of aligned bases excluded as the overlap of two mates"),
    ("PCT_EXC_CAPPED", "Fraction of aligned bases above the depth cap"),
    ("PCT_EXC_TOTAL", "Fraction of aligned bases excluded for any reason"),
    ("PCT_1X", "Fraction of the territory at ≥ 1x"),
    ("PCT_5X", "Fraction of the territory at ≥ 5x"),
    ("PCT_10X", "Fraction of the territory at ≥ 10x"),
    ("PCT_15X", "Fraction of the territory at ≥ 15x"),
    ("PCT_20X", "Fraction of the territory at ≥ 20x"),
    ("PCT_25X", "Fraction of the territory at ≥ 25x"),
    ("PCT_30X", "Fraction of the territory at ≥ 30x"),
    ("PCT_40X", "Fraction of the territory at ≥ 40x"),
    ("PCT_50X", "Fraction of the territory at ≥ 50x"),
    ("PCT_60X", "Fraction of the territory at ≥ 60x"),
    ("PCT_70X", "Fraction of the territory at ≥ 70x"),
    ("PCT_80X", "Fraction of the territory at ≥ 80x"),
    ("PCT_90X", "Fraction of the territory at ≥ 90x"),
    ("PCT_100X", "Fraction of the territory at ≥ 100x"),
    ("FOLD_80_BASE_PENALTY", "Mean depth over the 20th percentile depth: how much more sequencing brings 80 % of bases to the mean"),
    ("FOLD_90_BASE_PENALTY", "Mean depth over the 10th percentile depth"),
    ("FOLD_95_BASE_PENALTY", "Mean depth over the 5th percentile depth"),
    ("HET_SNP_SENSITIVITY", "Theoretical sensitivity to heterozygous SNPs from the depth and base-quality distributions (Picard's model)"),
    ("HET_SNP_Q", "HET_SNP_SENSITIVITY as a phred score"),
    ("PCT_WITHIN_20PCT_OF_MEAN", "Fraction of the territory whose depth is within 20 % of the mean (mosdepth issue 149)"),
];

/// Values of [`DEFS`], in order.
pub fn values(m: &WgsMetrics) -> Vec<Option<f64>> {
    let mut v = vec![
        Some(m.territory as f64),
        Some(m.mean),
        Some(m.sd),
        Some(m.median),
        Some(m.mad),
    ];
    v.extend(m.pct_exc.iter().map(|&x| Some(x)));
    v.extend(m.pct_x.iter().map(|&x| Some(x)));
    v.extend(m.fold.iter().map(|&x| Some(x)));
    v.push(Some(m.het_snp_sensitivity));
    v.push(Some(m.het_snp_q as f64));
    v.push(Some(m.within_20pct));
    v
}

/// java.util.Random, for Picard's sampled het-SNP sensitivity (seeded, so exact).
struct JavaRandom(u64);

impl JavaRandom {
    const MULT: u64 = 0x5DEECE66D;
    const MASK: u64 = (1 << 48) - 1;
    fn new(seed: i64) -> Self {
        JavaRandom((seed as u64 ^ Self::MULT) & Self::MASK)
    }
    #[cfg(test)]
    fn next(&mut self, bits: u32) -> i64 {
        self.0 = (self.0.wrapping_mul(Self::MULT).wrapping_add(0xB)) & Self::MASK;
        ((self.0 >> (48 - bits)) as i64 as i32) as i64
    }
    #[cfg(test)]
    fn next_double(&mut self) -> f64 {
        (((self.next(26)) << 27) + self.next(27)) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

/// Java's generator advanced `k` steps at once: `s -> a s + c`.
const fn java_jump(k: u32) -> (u64, u64) {
    let (mut a, mut c) = (1u64, 0u64);
    let mut i = 0;
    while i < k {
        a = a.wrapping_mul(JavaRandom::MULT) & JavaRandom::MASK;
        c = c.wrapping_mul(JavaRandom::MULT).wrapping_add(0xB) & JavaRandom::MASK;
        i += 1;
    }
    (a, c)
}

/// Picard's rejection sampling of a quality from its histogram (`probs`, scaled to a maximum
/// of 1): a bin drawn uniformly by one `nextDouble`, kept if a second falls below its weight,
/// up to 600 tries, else 0. Each try takes four steps of the generator whatever its outcome,
/// so the state of any later try is one jump from the current one. Qualities are binned (9
/// of 127 bins used by a 30x short-read BAM: 63 tries a draw), so most tries surely land in
/// an empty bin, which their first 26 random bits show: eight tries are screened at once
/// from one state, and only the first that may be kept is computed as Java computes it.
/// Step by step, the chain of dependent multiplications and the unpredictable empty-bin
/// branch made the sensitivity 1.1 s of a 10 s run.
struct QualitySampler<'a> {
    probs: &'a [f64],
    /// Bins whose weight is not above 0 (NaN included): a try landing there is rejected.
    empty: Vec<bool>,
    state: u64,
}

impl<'a> QualitySampler<'a> {
    /// Tries screened at once.
    const BLOCK: u32 = 8;
    /// `JUMPS[k]`: `k` steps of the generator at once.
    const JUMPS: [(u64, u64); 33] = {
        let mut t = [(0u64, 0u64); 33];
        let mut k = 0;
        while k < 33 {
            t[k] = java_jump(k as u32);
            k += 1;
        }
        t
    };
    /// Picard's limit of tries.
    const SAMPLING_MAX: u32 = 600;

    fn new(probs: &'a [f64], seed: i64) -> Self {
        QualitySampler {
            probs,
            empty: probs
                .iter()
                .map(|&p| p.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater))
                .collect(),
            state: JavaRandom::new(seed).0,
        }
    }

    #[inline]
    fn at(s: u64, k: usize) -> u64 {
        let (a, c) = Self::JUMPS[k];
        s.wrapping_mul(a).wrapping_add(c) & JavaRandom::MASK
    }

    /// The `nextDouble` made by steps `k + 1` and `k + 2` from state `s`.
    #[inline]
    fn double(s: u64, k: usize) -> f64 {
        let hi = (Self::at(s, k + 1) >> 22) as i64;
        let lo = (Self::at(s, k + 2) >> 21) as i64;
        ((hi << 27) + lo) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Whether the try starting at step `k` from `s` may be kept: its bin is read from the
    /// high 26 bits of its first double, unless the low 27 bits could move it into the next
    /// bin (they add less than `nq / 2^26` to `nq * u`; rounding far less). No branch.
    #[inline(always)]
    fn may_keep(&self, s: u64, k: usize) -> bool {
        const LOW: u64 = (1 << 26) - 1;
        let nq = self.probs.len() as u64;
        let t = (Self::at(s, k + 1) >> 22) * nq;
        // t >> 26 < nq: the index is in range.
        ((t & LOW) + nq >= LOW) | !self.empty[(t >> 26) as usize]
    }

    /// One try computed as Java computes it: its bin if kept.
    #[inline]
    fn exact(&self, s: u64) -> Option<usize> {
        let n = (self.probs.len() as f64 * Self::double(s, 0)) as usize;
        let p = self.probs.get(n).copied().unwrap_or(0.0);
        (Self::double(s, 2) < p).then_some(n)
    }

    fn draw(&mut self) -> usize {
        let mut count = 0;
        while count + Self::BLOCK <= Self::SAMPLING_MAX {
            let s = self.state;
            let mut maybe = 0u32;
            for j in 0..Self::BLOCK as usize {
                maybe |= (self.may_keep(s, 4 * j) as u32) << j;
            }
            if maybe == 0 {
                self.state = Self::at(s, 4 * Self::BLOCK as usize);
                count += Self::BLOCK;
                continue;
            }
            // The tries before the first that may be kept are rejected; that one is computed.
            let j = maybe.trailing_zeros() as usize;
            let sj = Self::at(s, 4 * j);
            self.state = Self::at(s, 4 * j + 4);
            count += j as u32 + 1;
            if let Some(n) = self.exact(sj) {
                return n;
            }
        }
        // The last few tries (a draw this long is rare), one by one.
        while count < Self::SAMPLING_MAX {
            let s = self.state;
            self.state = Self::at(s, 4);
            count += 1;
            if let Some(n) = self.exact(s) {
                return n;
            }
        }
        0
    }
}

/// Picard's `TheoreticalSensitivity.hetSNPSensitivity` (seed 51, 10000 samples, log-odds 3).
pub fn het_snp_sensitivity(depth: &[f64], quality: &[f64]) -> f64 {
    const SAMPLE_SIZE: usize = 10_000;
    let n_depth = depth.len().min(1001);
    let wmax = quality.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if wmax.is_nan() || wmax <= 0.0 {
        // No base of usable quality: Picard's draws all come out 0, and so does the result
        // (NaN without any locus).
        return if depth.iter().any(|d| d.is_nan()) {
            f64::NAN
        } else {
            0.0
        };
    }
    let probs: Vec<f64> = quality.iter().map(|w| w / wmax).collect();
    let mut sampler = QualitySampler::new(&probs, 51);
    let mut draw = || sampler.draw();
    // sums[m][iteration]: the sum of m quality draws.
    let mut sums: Vec<Vec<i64>> = vec![Vec::with_capacity(SAMPLE_SIZE); n_depth];
    for _ in 0..SAMPLE_SIZE {
        let mut cum = 0i64;
        for row in sums.iter_mut() {
            row.push(cum);
            cum += draw() as i64;
        }
    }
    let log2 = 2f64.log10();
    let thresholds: Vec<f64> = (0..n_depth)
        .map(|n| 10.0 * (n as f64 * log2 + 3.0))
        .collect();
    // above[m][n]: the fraction of sums of m qualities at or above threshold n.
    let mut above = vec![vec![0f64; n_depth]; n_depth];
    for (m, row) in sums.iter_mut().enumerate() {
        row.sort_unstable();
        let (mut n, mut j) = (0usize, 0usize);
        let len = row.len();
        while n < n_depth && j < len {
            if thresholds[n] > row[j] as f64 {
                j += 1;
            } else {
                above[m][n] = (len - j) as f64 / len as f64;
                n += 1;
            }
        }
    }
    // The binomial(n, 1/2) table, built as Picard builds it.
    let mut alt: Vec<Vec<f64>> = Vec::with_capacity(n_depth);
    for n in 0..n_depth {
        let mut row = vec![0.5f64.powi(n as i32)];
        for m in 1..n {
            let v = (n as f64 * 0.5 / m as f64) * alt[n - 1][m - 1];
            row.push(v);
        }
        if n > 0 {
            row.push(row[0]);
        }
        alt.push(row);
    }
    let mut result = 0.0;
    for n in 0..n_depth {
        for m in 0..=n {
            result += depth[n] * alt[n][m] * above[m][n];
        }
    }
    result
}

impl Wgs {
    /// Picard's metrics from the histograms.
    pub fn picard_metrics(&self) -> WgsMetrics {
        use super::picard::hist as h;
        let bins: Vec<(f64, f64)> = self
            .hist
            .iter()
            .enumerate()
            .map(|(d, &c)| (d as f64, c as f64))
            .collect();
        let territory: u64 = self.hist.iter().sum();
        let count = territory as f64;
        // htsjdk's histogram holds every depth, empty ones included.
        let depths: std::collections::BTreeMap<u64, u64> = self
            .hist
            .iter()
            .enumerate()
            .map(|(d, &c)| (d as u64, c))
            .collect();
        let (mean, sd, median, mad) = (
            h::mean(&depths),
            h::sd(&depths),
            h::median(&depths),
            h::mad(&depths),
        );
        let total: f64 = bins.iter().map(|&(d, c)| d * c).sum();
        let e = &self.excluded;
        let with = total
            + (e.adapter + e.dupe + e.mapq + e.unpaired + e.baseq + e.overlap + e.capped) as f64;
        let pct = |x: u64| if with == 0.0 { 0.0 } else { x as f64 / with };
        let pct_exc = [
            pct(e.adapter),
            pct(e.mapq),
            pct(e.dupe),
            pct(e.unpaired),
            pct(e.baseq),
            pct(e.overlap),
            pct(e.capped),
            if with == 0.0 {
                0.0
            } else {
                (with - total) / with
            },
        ];
        let mut pct_x = [0f64; 14];
        for (k, &x) in PCT_X.iter().enumerate() {
            let above: u64 = self.hist.iter().skip(x).sum();
            pct_x[k] = above as f64 / territory as f64;
        }
        let percentile = |p: f64| -> f64 {
            let mut so_far = 0f64;
            for &(d, c) in &bins {
                so_far += c;
                if so_far / count >= p {
                    return d;
                }
            }
            f64::NAN
        };
        let fold = if count > 0.0 {
            [
                mean / percentile(0.2),
                mean / percentile(0.1),
                mean / percentile(0.05),
            ]
        } else {
            [0.0; 3]
        };
        let norm = |v: &[u64]| -> Vec<f64> {
            let s: f64 = v.iter().map(|&x| x as f64).sum();
            v.iter().map(|&x| x as f64 / s).collect()
        };
        let sens = het_snp_sensitivity(&norm(&self.unfiltered_hist), &norm(&self.baseq_hist));
        let het_q = if sens.is_finite() {
            (-10.0 * (1.0 - sens).log10() + 0.5).floor() as i64
        } else {
            0
        };
        let (lo, hi) = (mean * 0.8, mean * 1.2);
        let within: u64 = self
            .hist
            .iter()
            .enumerate()
            .filter(|(d, _)| (*d as f64) >= lo && (*d as f64) <= hi)
            .map(|(_, &c)| c)
            .sum();
        WgsMetrics {
            territory,
            mean,
            sd,
            median,
            mad,
            pct_exc,
            pct_x,
            fold,
            het_snp_sensitivity: sens,
            het_snp_q: het_q,
            within_20pct: within as f64 / count,
        }
    }

    pub fn picard_text(&self, sample: &str, input: &std::path::Path, m: &WgsMetrics) -> String {
        use super::picard::{picard_file, PVal};
        let keys: Vec<&str> = DEFS[..DEFS.len() - 1].iter().map(|d| d.0).collect();
        let mut row = vec![
            PVal::Int(m.territory as i64),
            PVal::Float(m.mean),
            PVal::Float(m.sd),
            PVal::Float(m.median),
            PVal::Float(m.mad),
        ];
        row.extend(m.pct_exc.iter().map(|&x| PVal::Float(x)));
        row.extend(m.pct_x.iter().map(|&x| PVal::Float(x)));
        row.extend(m.fold.iter().map(|&x| PVal::Float(x)));
        row.push(PVal::Float(m.het_snp_sensitivity));
        row.push(PVal::Int(m.het_snp_q));
        let hist: Vec<Vec<PVal>> = self
            .hist
            .iter()
            .enumerate()
            .map(|(d, &c)| vec![PVal::Int(d as i64), PVal::Int(c as i64)])
            .collect();
        picard_file(
            "CollectWgsMetrics",
            sample,
            input,
            "picard.analysis.WgsMetrics",
            &keys,
            &[row],
            Some((&["coverage", "high_quality_coverage_count"], &hist)),
        )
    }
}

/// Picard's adapter check (`AdapterUtility` with its default adapters): a read that is
/// unmapped or of mapping quality 0 whose first 16 bases, in sequencing order, match a 16-mer
/// of an Illumina adapter (or its reverse complement) with at most one mismatch.
pub struct Adapters {
    kmers: Vec<[u8; 16]>,
}

/// Illumina's single-end, paired-end and indexed adapters (5' then 3'), as Picard lists them.
const ADAPTERS: [&str; 6] = [
    "AATGATACGGCGACCACCGAGATCTACACTCTTTCCCTACACGACGCTCTTCCGATCT",
    "AGATCGGAAGAGCTCGTATGCCGTCTTCTGCTTG",
    "AATGATACGGCGACCACCGAGATCTACACTCTTTCCCTACACGACGCTCTTCCGATCT",
    "AGATCGGAAGAGCGGTTCAGCAGGAATGCCGAGACCGATCTCGTATGCCGTCTTCTGCTTG",
    "AATGATACGGCGACCACCGAGATCTACACTCTTTCCCTACACGACGCTCTTCCGATCT",
    "AGATCGGAAGAGCACACGTCTGAACTCCAGTCACNNNNNNNNATCTCGTATGCCGTCTTCTGCTTG",
];

fn complement(b: u8) -> u8 {
    match b {
        b'A' => b'T',
        b'C' => b'G',
        b'G' => b'C',
        b'T' => b'A',
        b'a' => b't',
        b'c' => b'g',
        b'g' => b'c',
        b't' => b'a',
        x => x,
    }
}

impl Default for Adapters {
    fn default() -> Self {
        Self::new()
    }
}

impl Adapters {
    pub fn new() -> Self {
        let mut set = std::collections::BTreeSet::new();
        for a in ADAPTERS {
            let a = a.as_bytes();
            for w in a.windows(16) {
                if w.iter().filter(|&&b| b == b'N').count() <= 1 {
                    let mut k = [0u8; 16];
                    k.copy_from_slice(w);
                    set.insert(k);
                    let mut rc = [0u8; 16];
                    for (i, &b) in w.iter().rev().enumerate() {
                        rc[i] = complement(b);
                    }
                    set.insert(rc);
                }
            }
        }
        Adapters {
            kmers: set.into_iter().collect(),
        }
    }

    pub fn is_adapter<A: Alignment>(&self, rec: &A, buf: &mut Vec<u8>) -> bool {
        let flag = rec.flag();
        if flag & 0x4 == 0 && rec.mapq() != 0 {
            return false;
        }
        buf.clear();
        rec.seq_into(buf);
        let n = buf.len();
        if n < 16 {
            return false;
        }
        let rev = flag & 0x4 == 0 && flag & 0x10 != 0;
        let base = |i: usize| {
            if rev {
                complement(buf[n - i - 1])
            } else {
                buf[i]
            }
        };
        'k: for k in &self.kmers {
            let mut errors = 0;
            for (i, &a) in k.iter().enumerate() {
                if !base(i).eq_ignore_ascii_case(&a) {
                    errors += 1;
                    if errors > 1 {
                        continue 'k;
                    }
                }
            }
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Picard's sampler as Java runs it: two `nextDouble`s a try, one step at a time.
    fn stepwise(probs: &[f64], rng: &mut JavaRandom) -> usize {
        let mut count = 0;
        loop {
            let n = (probs.len() as f64 * rng.next_double()) as usize;
            count += 1;
            if rng.next_double() < probs[n] {
                return n;
            } else if count >= 600 {
                return 0;
            }
        }
    }

    #[test]
    fn jumping_sampler_draws_what_java_draws() {
        let mut binned = vec![0.0; 127];
        for (q, w) in [(2, 0.05), (12, 0.1), (23, 0.25), (37, 1.0)] {
            binned[q] = w;
        }
        let mut spread: Vec<f64> = (0..60).map(|q| (q as f64 / 59.0).powi(3)).collect();
        spread[7] = f64::NAN;
        // Weights so small that many draws give up after 600 tries.
        let mut rare = vec![0.0; 127];
        rare[100] = 1e-3;
        for probs in [binned, spread, rare] {
            for seed in [51, 7, -3] {
                let mut fast = QualitySampler::new(&probs, seed);
                let mut slow = JavaRandom::new(seed);
                let draws: Vec<usize> = (0..3000).map(|_| fast.draw()).collect();
                let want: Vec<usize> = (0..3000).map(|_| stepwise(&probs, &mut slow)).collect();
                assert_eq!(draws, want, "seed {seed}");
                assert!(draws.iter().any(|&d| d != 0));
            }
        }
    }
}
