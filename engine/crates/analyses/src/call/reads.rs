//! Reads for the caller: the alignment files are read on their own threads (one per file),
//! records filtered and copied into owned [`Read`]s, and sent in batches, contig by contig.

use std::path::Path;

use crossbeam_channel::{Receiver, Sender};

use crate::error::{Error, Result};
use crate::input::{Input, Reach, Sink};
use crate::io::bam::{FLAG_DUP, FLAG_QCFAIL, FLAG_SECONDARY, FLAG_UNMAPPED};
use crate::io::{Alignment, CigarOp, Fields};
use crate::readtype::ReadType;

/// Reads with any of these flags are left out.
pub const SKIP_FLAGS: u16 = FLAG_UNMAPPED | FLAG_SECONDARY | FLAG_QCFAIL | FLAG_DUP;

/// An aligned read, owned.
#[derive(Clone, Debug)]
pub struct Read {
    pub sample: u32,
    /// The molecule: a hash of the read name, shared by mates and by a read's split parts,
    /// which all come from one haplotype (see [`crate::call::phase`]).
    pub key: u64,
    /// 0-based leftmost aligned position and end (exclusive).
    pub pos: i64,
    pub end: i64,
    pub mapq: u8,
    pub cigar: Vec<CigarOp>,
    /// Uppercase bases.
    pub seq: Vec<u8>,
    /// Phred qualities (missing qualities become 20).
    pub qual: Vec<u8>,
    pub errors: ReadErrors,
    /// Where every [`MARK_EVERY`]-th CIGAR operation starts (see [`cigar_marks`]).
    pub marks: Vec<CigarMark>,
}

/// A CIGAR operation's index, and the reference position and query offset where it starts.
pub type CigarMark = (u32, i64, u32);

/// CIGAR operations between two marks: a window's walk over a read starts at the last mark
/// before it, not at the read's start (a 15 kb ONT read has thousands of operations, and
/// walking them all for each of its hundreds of windows took half of ONT calling).
pub const MARK_EVERY: usize = 32;

/// The marks of a CIGAR aligned at `pos`: none for CIGARs of fewer than [`MARK_EVERY`]
/// operations.
pub fn cigar_marks(pos: i64, cigar: &[CigarOp]) -> Vec<CigarMark> {
    if cigar.len() < MARK_EVERY {
        return Vec::new();
    }
    let (mut rpos, mut q) = (pos, 0u32);
    let mut out = Vec::with_capacity(cigar.len() / MARK_EVERY + 1);
    for (i, c) in cigar.iter().enumerate() {
        if i % MARK_EVERY == 0 {
            out.push((i as u32, rpos, q));
        }
        match c.op {
            b'M' | b'=' | b'X' => {
                rpos += c.len as i64;
                q += c.len;
            }
            b'I' | b'S' => q += c.len,
            b'D' | b'N' => rpos += c.len as i64,
            _ => {}
        }
    }
    out
}

impl Read {
    /// Where a walk of the CIGAR for reference positions from `lo` on may start: (operation
    /// index, reference position, query offset) of the last mark at or before `lo` (every
    /// operation before it ends there, so it neither covers nor anchors a base from `lo`),
    /// or the read's start.
    pub fn walk_from(&self, lo: i64) -> (usize, i64, usize) {
        let k = self.marks.partition_point(|m| m.1 <= lo);
        match k.checked_sub(1).map(|i| self.marks[i]) {
            Some((op, rpos, q)) => (op as usize, rpos, q as usize),
            None => (0, self.pos, 0),
        }
    }
}

pub use crate::readtype::{measure_errors, phred_rate, ReadErrors, MIN_MEASURED};

/// [`Read::key`]: 64-bit FNV-1a of the name (stable across runs and platforms).
pub fn read_key(name: &[u8]) -> u64 {
    name.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

/// What a file's reader thread sends.
pub enum Msg {
    Reads(usize, Vec<Read>),
    /// Every read of this contig has been sent.
    EndContig(usize),
    Fail(Error),
}

/// One contig's range of interest: reads overlapping `[lo, hi)`.
#[derive(Clone, Copy, Debug)]
pub struct ContigRange {
    /// The contig's index in this file's header.
    pub tid: usize,
    /// The contig's index in the reference, which messages carry.
    pub key: usize,
    pub lo: i64,
    pub hi: i64,
}

/// What the reader thread of one file needs besides the file.
pub struct ReadSource {
    pub sample: u32,
    pub min_mapq: u8,
    /// Short reads keep their base qualities; long reads' error rates are measured, each
    /// read's own where it has [`MIN_MEASURED`] aligned bases, else `typical`.
    pub read_type: ReadType,
    /// The file's pooled rates ([`crate::readtype::Detection::typical`]).
    pub typical: ReadErrors,
    /// Seek to each contig with the index (required when regions were asked for); without it
    /// the file is read from the start.
    pub indexed: bool,
}

/// A batch is sent at this many reads or this many bases, whichever comes first (long reads
/// would otherwise make batches of tens of megabytes).
const BATCH: usize = 1024;
const BATCH_BASES: usize = 256 << 10;

struct Collect<'a> {
    src: &'a ReadSource,
    path: &'a Path,
    tx: &'a Sender<Msg>,
    /// The ranges by tid (`None`: contig not wanted).
    want: &'a [Option<ContigRange>],
    batch: Vec<Read>,
    /// Bases in `batch`.
    bases: usize,
    cur: Option<usize>,
    /// Records seen (for messages).
    n: u64,
    /// Set when the consumer went away: stop quietly.
    closed: bool,
    /// Reading all wanted contigs in one pass (CRAM): past a range, skip rather than stop.
    one_pass: bool,
}

impl Collect<'_> {
    fn flush(&mut self) {
        if let Some(t) = self.cur {
            if !self.batch.is_empty() {
                let b = std::mem::take(&mut self.batch);
                self.bases = 0;
                let key = self.want.get(t).copied().flatten().map(|r| r.key);
                if let Some(k) = key {
                    if self.tx.send(Msg::Reads(k, b)).is_err() {
                        self.closed = true;
                    }
                }
            }
        }
    }
    fn end_contig(&mut self) {
        self.flush();
        if let Some(t) = self.cur.take() {
            let key = self.want.get(t).copied().flatten().map(|r| r.key);
            if let Some(k) = key {
                if self.tx.send(Msg::EndContig(k)).is_err() {
                    self.closed = true;
                }
            }
        }
    }
}

impl Sink for Collect<'_> {
    fn record<A: Alignment>(&mut self, tid: usize, rec: &A) -> Result<bool> {
        self.n += 1;
        let pos = rec.pos();
        if Some(tid) != self.cur {
            self.end_contig();
            self.cur = Some(tid);
        }
        if self.closed {
            return Ok(false);
        }
        let Some(range) = self.want.get(tid).copied().flatten() else {
            return Ok(true);
        };
        if pos >= range.hi {
            // Past the range: when reading contig by contig, this contig is done.
            return Ok(!self.src.indexed || self.one_pass);
        }
        if rec.flag() & SKIP_FLAGS != 0 || rec.mapq() < self.src.min_mapq || rec.mapq() == 255 {
            return Ok(true);
        }
        let end = rec.end_pos();
        if end <= range.lo {
            return Ok(true);
        }
        let mut cigar = Vec::with_capacity(rec.n_cigar());
        rec.for_each_cigar(|c| cigar.push(c));
        let mut seq = Vec::with_capacity(rec.seq_len());
        rec.seq_into(&mut seq);
        if seq.is_empty() || cigar.is_empty() {
            return Ok(true);
        }
        let qlen: usize = cigar
            .iter()
            .filter(|c| c.consumes_query())
            .map(|c| c.len as usize)
            .sum();
        // BAM records were checked by the decoder already (same message); this guards CRAM.
        if qlen != seq.len() {
            return Err(Error::format(
                self.path,
                format!(
                    "corrupt record #{} ({}): CIGAR covers {qlen} bases but the sequence has {}",
                    self.n,
                    String::from_utf8_lossy(rec.read_name()),
                    seq.len()
                ),
            ));
        }
        let mut qual = Vec::with_capacity(seq.len());
        rec.qual_into(&mut qual);
        if qual.len() != seq.len() || qual.first() == Some(&0xff) {
            qual.clear();
            qual.resize(seq.len(), 20);
        }
        let errors = if self.src.read_type.is_long() {
            let e = measure_errors(&cigar, rec.aux_int(*b"NM"));
            if e.gap_open == 0 {
                self.src.typical
            } else {
                e
            }
        } else {
            ReadErrors::default()
        };
        self.batch.push(Read {
            errors,
            marks: cigar_marks(pos, &cigar),
            sample: self.src.sample,
            key: match rec.read_name() {
                // Unnamed reads (`*`, lossy CRAM): each its own molecule, keyed by content
                // so that every run gives it the same key.
                b"*" | b"" => read_key(&[&pos.to_le_bytes()[..], &seq].concat()),
                name => read_key(name),
            },
            pos,
            end,
            mapq: rec.mapq(),
            cigar,
            seq,
            qual,
        });
        self.bases += self.batch.last().map_or(0, |r| r.seq.len());
        if self.batch.len() >= BATCH || self.bases >= BATCH_BASES {
            self.flush();
        }
        Ok(!self.closed)
    }
}

/// Starts the reader thread of `input` over `ranges` (ascending tid). Every wanted contig
/// gets an [`Msg::EndContig`], even one without reads.
pub fn spawn(mut input: Input, src: ReadSource, ranges: Vec<ContigRange>) -> Receiver<Msg> {
    // A few batches ahead are enough to keep the workers fed.
    let (tx, rx) = crossbeam_channel::bounded(4);
    std::thread::spawn(move || {
        let mut want = vec![None; input.header.refs.len()];
        for r in &ranges {
            want[r.tid] = Some(*r);
        }
        let path = input.path.clone();
        let mut c = Collect {
            src: &src,
            path: &path,
            tx: &tx,
            want: &want,
            batch: Vec::new(),
            bases: 0,
            cur: None,
            n: 0,
            closed: false,
            one_pass: false,
        };
        let mut run = || -> Result<()> {
            if src.indexed && input.is_cram() && ranges.len() > 1 {
                // CRAM: one pass over all the contigs (a container often holds many, and a
                // seek per contig would decode it again for each).
                c.one_pass = true;
                let tids: Vec<usize> = ranges.iter().map(|r| r.tid).collect();
                input.read(Reach::Contigs(&tids), Fields::Full, &mut c, None)?;
                c.end_contig();
                // Contigs without reads still end.
                for r in &ranges {
                    let _ = c.tx.send(Msg::EndContig(r.key));
                }
            } else if src.indexed {
                for r in &ranges {
                    c.cur = Some(r.tid);
                    input.read(Reach::Contigs(&[r.tid]), Fields::Full, &mut c, None)?;
                    // Still `r.tid`: records of other contigs are not delivered.
                    c.end_contig();
                    if c.closed {
                        return Ok(());
                    }
                }
            } else {
                input.read(Reach::All, Fields::Full, &mut c, None)?;
                c.end_contig();
                // Contigs without reads still end.
                for r in &ranges {
                    let _ = c.tx.send(Msg::EndContig(r.key));
                }
            }
            Ok(())
        };
        if let Err(e) = run() {
            let _ = tx.send(Msg::Fail(e));
        }
    });
    rx
}
