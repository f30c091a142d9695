//! Turning alignments into depth events, with mosdepth's conventions: reads filtered by flag,
//! MAPQ and read group; in the default mode, only aligned blocks count (deletions and splices
//! do not) and the overlap of a proper pair's mates is counted once.

use rustc_hash::FxHashMap;

use crate::backend::EventBatch;
use crate::io::bam::{FLAG_PROPER_PAIR, FLAG_READ2, FLAG_SUPPLEMENTARY};
use crate::io::Alignment;

/// Which reads count, and how.
#[derive(Clone, Debug)]
pub struct ReadFilter {
    pub min_mapq: u8,
    pub exclude_flags: u16,
    pub include_flags: u16,
    pub read_groups: Vec<Vec<u8>>,
    /// Count the whole span from start to end, no CIGAR walk and no mate correction.
    pub fast_mode: bool,
    /// Fragment mode: count each proper pair's whole fragment once, from read 1: from the
    /// leftmost mate's start over the absolute template length.
    pub fragment_mode: bool,
    /// Reads whose absolute template length is outside these bounds are ignored (any mode).
    pub min_frag_len: Option<u64>,
    pub max_frag_len: Option<u64>,
}

/// mosdepth's defaults: `-F 1796` (unmapped, secondary, QC-fail, duplicate), nothing else.
impl Default for ReadFilter {
    fn default() -> Self {
        ReadFilter {
            min_mapq: 0,
            exclude_flags: 1796,
            include_flags: 0,
            read_groups: Vec::new(),
            fast_mode: false,
            fragment_mode: false,
            min_frag_len: None,
            max_frag_len: None,
        }
    }
}

impl ReadFilter {
    #[inline]
    pub fn passes<A: Alignment>(&self, rec: &A) -> bool {
        let flag = rec.flag();
        if rec.mapq() < self.min_mapq {
            return false;
        }
        if self.min_frag_len.is_some() || self.max_frag_len.is_some() {
            let tlen = rec.template_length().unsigned_abs();
            if self.min_frag_len.is_some_and(|m| tlen < m)
                || self.max_frag_len.is_some_and(|m| tlen > m)
            {
                return false;
            }
        }
        if flag & self.exclude_flags != 0 {
            return false;
        }
        if self.include_flags != 0 && flag & self.include_flags == 0 {
            return false;
        }
        if !self.read_groups.is_empty() {
            match rec.read_group() {
                Some(rg) => {
                    if !self.read_groups.iter().any(|g| g == rg) {
                        return false;
                    }
                }
                None => return false,
            }
        }
        true
    }
}

/// A mate held back until its partner arrives, to remove their overlap.
struct HeldMate {
    single_op: bool,
    stop: i64,
    events: Vec<(i64, i32)>,
}

/// Start/end events of a read's aligned blocks in the order mosdepth generates them: adjacent
/// blocks (split only by insertions) merge, and a block's start is emitted before the
/// previous block's end. The order matters for the stable sort in the overlap correction.
///
/// Returns the read's end as htslib's `bam_endpos` gives it, from the same CIGAR pass.
fn block_events<A: Alignment>(rec: &A, out: &mut Vec<(i64, i32)>) -> i64 {
    out.clear();
    let start = rec.pos();
    let unmapped = rec.flag() & crate::io::bam::FLAG_UNMAPPED != 0;
    if rec.n_cigar() == 1 {
        // The common case, and mosdepth's own shortcut: one M block.
        let mut single = None;
        rec.for_each_cigar(|c| single = (c.op == b'M').then_some(c.len as i64));
        if let Some(len) = single {
            out.push((start, 1));
            out.push((start + len, -1));
            return if unmapped || len == 0 {
                start + 1
            } else {
                start + len
            };
        }
    }
    let mut pos = start;
    let mut last_stop = -1i64;
    rec.for_each_cigar(|c| {
        if !c.consumes_ref() {
            return;
        }
        let len = c.len as i64;
        if c.consumes_query() {
            if pos != last_stop {
                out.push((pos, 1));
                if last_stop != -1 {
                    out.push((last_stop, -1));
                }
            }
            last_stop = pos + len;
        }
        pos += len;
    });
    if last_stop != -1 {
        out.push((last_stop, -1));
    }
    if unmapped || pos == start {
        start + 1
    } else {
        pos
    }
}

/// Builds one contig's depth events from its records, in file order.
pub struct EventBuilder {
    filter: ReadFilter,
    len: i64,
    held: FxHashMap<Vec<u8>, HeldMate>,
    scratch: Vec<(i64, i32)>,
    pair: Vec<(i64, i32)>,
    pub batch: EventBatch,
}

impl EventBuilder {
    pub fn new(filter: ReadFilter) -> Self {
        EventBuilder {
            filter,
            len: 0,
            held: FxHashMap::default(),
            scratch: Vec::new(),
            pair: Vec::new(),
            batch: EventBatch::default(),
        }
    }

    /// Starts a contig of `len` bases; events beyond it are clamped to `len`.
    pub fn begin(&mut self, len: u64) {
        self.len = len as i64;
        self.held.clear();
        self.batch.clear();
    }

    #[inline]
    fn start(&mut self, p: i64) {
        self.batch.starts.push(p.clamp(0, self.len) as u32);
    }
    #[inline]
    fn end(&mut self, p: i64) {
        self.batch.ends.push(p.clamp(0, self.len) as u32);
    }

    /// Adds one record of the current contig (already known to be on it).
    pub fn add<A: Alignment>(&mut self, rec: &A) {
        if !self.filter.passes(rec) {
            return;
        }
        let flag = rec.flag();
        if self.filter.fragment_mode {
            self.add_fragment(rec);
            return;
        }
        let start = rec.pos();
        if self.filter.fast_mode {
            let stop = rec.end_pos();
            self.start(start);
            self.end(stop);
            return;
        }
        let mut ev = std::mem::take(&mut self.scratch);
        let stop = block_events(rec, &mut ev);
        if flag & FLAG_PROPER_PAIR != 0 && flag & FLAG_SUPPLEMENTARY == 0 {
            self.correct_mate_overlap(rec, stop, &ev);
        }
        for &(p, v) in &ev {
            if v > 0 {
                self.start(p);
            } else {
                self.end(p);
            }
        }
        self.scratch = ev;
    }

    /// mosdepth's rule: the mate that starts first (or, at equal starts, arrives first) is held
    /// if it reaches the other's start; when the other arrives, their shared bases are removed
    /// once.
    fn correct_mate_overlap<A: Alignment>(&mut self, rec: &A, stop: i64, own: &[(i64, i32)]) {
        let start = rec.pos();
        let mpos = rec.next_pos();
        let name = rec.read_name();
        if rec.ref_id() == rec.next_ref_id()
            && stop > mpos
            && (start < mpos || (start == mpos && !self.held.contains_key(name)))
        {
            let events = own.to_vec();
            self.held.insert(
                name.to_vec(),
                HeldMate {
                    single_op: rec.n_cigar() == 1,
                    stop,
                    events,
                },
            );
            return;
        }
        let Some(mate) = self.held.remove(name) else {
            return;
        };
        if rec.n_cigar() == 1 && mate.single_op {
            self.end(start);
            self.start(mate.stop);
            return;
        }
        let mut ses = std::mem::take(&mut self.pair);
        ses.clear();
        ses.extend_from_slice(own);
        ses.extend_from_slice(&mate.events);
        // Stable: equal positions keep generation order, as mosdepth's merge sort does.
        ses.sort_by_key(|e| e.0);
        let mut depth = 0i32;
        let mut last_pos = 0i64;
        for &(p, v) in &ses {
            if v == -1 && depth == 2 {
                self.end(last_pos);
                self.start(p);
            }
            depth += v;
            last_pos = p;
        }
        self.pair = ses;
    }

    /// Fragment mode (mosdepth 0.3.4+): read 1 of each proper pair counts the whole fragment,
    /// from the leftmost mate's start over the absolute template length; nothing else counts.
    fn add_fragment<A: Alignment>(&mut self, rec: &A) {
        let flag = rec.flag();
        if flag & FLAG_READ2 != 0 || flag & FLAG_PROPER_PAIR == 0 || flag & FLAG_SUPPLEMENTARY != 0
        {
            return;
        }
        let start = rec.pos().min(rec.next_pos());
        self.start(start);
        self.end(start + rec.template_length().abs());
    }

    /// Reads held for a mate that never came are dropped at the end of a contig, as mosdepth does.
    pub fn end_contig(&mut self) {
        self.held.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::CigarOp;

    struct R {
        pos: i64,
        cigar: Vec<CigarOp>,
    }

    /// A paired read for fragment-mode tests.
    struct P {
        pos: i64,
        mpos: i64,
        flag: u16,
        tlen: i64,
    }
    impl Alignment for P {
        fn ref_id(&self) -> i32 {
            0
        }
        fn pos(&self) -> i64 {
            self.pos
        }
        fn mapq(&self) -> u8 {
            60
        }
        fn flag(&self) -> u16 {
            self.flag
        }
        fn next_ref_id(&self) -> i32 {
            0
        }
        fn next_pos(&self) -> i64 {
            self.mpos
        }
        fn read_name(&self) -> &[u8] {
            b"p"
        }
        fn n_cigar(&self) -> usize {
            1
        }
        fn for_each_cigar(&self, mut f: impl FnMut(CigarOp)) {
            f(CigarOp { op: b'M', len: 50 })
        }
        fn read_group(&self) -> Option<&[u8]> {
            None
        }
        fn template_length(&self) -> i64 {
            self.tlen
        }
    }

    fn fragment_filter(min: Option<u64>, max: Option<u64>) -> ReadFilter {
        ReadFilter {
            fragment_mode: true,
            min_frag_len: min,
            max_frag_len: max,
            ..ReadFilter::default()
        }
    }

    #[test]
    fn fragment_mode_counts_each_proper_pair_once_over_its_insert() {
        let mut b = EventBuilder::new(fragment_filter(None, None));
        b.begin(1000);
        // read 1 on the right: the fragment starts at its mate
        b.add(&P {
            pos: 300,
            mpos: 100,
            flag: 0x1 | 0x2 | 0x40 | 0x10,
            tlen: -250,
        });
        b.add(&P {
            pos: 100,
            mpos: 300,
            flag: 0x1 | 0x2 | 0x80,
            tlen: 250,
        }); // read 2: ignored
        b.add(&P {
            pos: 500,
            mpos: 900,
            flag: 0x1 | 0x40,
            tlen: 450,
        }); // not proper: ignored
        assert_eq!(b.batch.starts, vec![100]);
        assert_eq!(b.batch.ends, vec![350]);
    }

    #[test]
    fn insert_size_limits_apply_to_every_read() {
        let mut b = EventBuilder::new(fragment_filter(Some(200), Some(300)));
        b.begin(1000);
        b.add(&P {
            pos: 10,
            mpos: 60,
            flag: 0x1 | 0x2 | 0x40,
            tlen: 150,
        });
        b.add(&P {
            pos: 10,
            mpos: 260,
            flag: 0x1 | 0x2 | 0x40,
            tlen: 301,
        });
        b.add(&P {
            pos: 10,
            mpos: 210,
            flag: 0x1 | 0x2 | 0x40,
            tlen: 250,
        });
        assert_eq!(
            (b.batch.starts.clone(), b.batch.ends.clone()),
            (vec![10], vec![260])
        );
    }
    impl Alignment for R {
        fn ref_id(&self) -> i32 {
            0
        }
        fn pos(&self) -> i64 {
            self.pos
        }
        fn mapq(&self) -> u8 {
            60
        }
        fn flag(&self) -> u16 {
            0
        }
        fn next_ref_id(&self) -> i32 {
            -1
        }
        fn next_pos(&self) -> i64 {
            -1
        }
        fn read_name(&self) -> &[u8] {
            b"r"
        }
        fn n_cigar(&self) -> usize {
            self.cigar.len()
        }
        fn for_each_cigar(&self, mut f: impl FnMut(CigarOp)) {
            self.cigar.iter().for_each(|c| f(*c))
        }
        fn read_group(&self) -> Option<&[u8]> {
            None
        }
        fn template_length(&self) -> i64 {
            0
        }
    }
    fn cig(s: &str) -> Vec<CigarOp> {
        let mut v = Vec::new();
        let mut n = 0u32;
        for b in s.bytes() {
            if b.is_ascii_digit() {
                n = n * 10 + (b - b'0') as u32;
            } else {
                v.push(CigarOp { op: b, len: n });
                n = 0;
            }
        }
        v
    }

    #[test]
    fn blocks_merge_across_insertions_and_split_at_deletions() {
        let mut ev = Vec::new();
        block_events(
            &R {
                pos: 100,
                cigar: cig("5S10M2I10M3D5M4S"),
            },
            &mut ev,
        );
        assert_eq!(ev, vec![(100, 1), (123, 1), (120, -1), (128, -1)]);
        block_events(
            &R {
                pos: 7,
                cigar: cig("50M"),
            },
            &mut ev,
        );
        assert_eq!(ev, vec![(7, 1), (57, -1)]);
    }
}
