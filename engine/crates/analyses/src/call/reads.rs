//! Reads for the caller: the alignment files are read on their own threads (one per file),
//! records filtered and copied into owned [`Read`]s, and sent in batches, contig by contig.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};

use crate::error::{Error, Result};
use crate::io::bam::{FLAG_DUP, FLAG_QCFAIL, FLAG_SECONDARY, FLAG_UNMAPPED};
use crate::io::{Alignment, AlignmentReader, CigarOp, Fields, Visitor};

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
}

/// A long read's own error rates, measured on its alignment (`NM` and the CIGAR), as phred;
/// 0 where unknown. Long-read base qualities lump substitutions and indels together (and
/// indels dominate), so a long read's mismatches cost at least its measured substitution
/// rate and its gaps open at its measured indel rate. Short reads are too short to measure:
/// they keep their base qualities.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReadErrors {
    pub mismatch: u8,
    pub gap_open: u8,
}

/// Aligned bases a read needs for its error rates to be measured.
pub const MIN_MEASURED: u64 = 1000;

fn phred_rate(events: u64, bases: u64) -> u8 {
    let p = (events as f64 + 1.0) / (bases as f64 + 1.0);
    (-10.0 * p.log10()).round().clamp(10.0, 45.0) as u8
}

/// [`ReadErrors`] from a CIGAR and the `NM` tag.
pub fn measure_errors(cigar: &[CigarOp], nm: Option<i64>) -> ReadErrors {
    let (mut aligned, mut ins_b, mut del_b, mut gaps) = (0u64, 0u64, 0u64, 0u64);
    for c in cigar {
        match c.op {
            b'M' | b'=' | b'X' => aligned += c.len as u64,
            b'I' => {
                ins_b += c.len as u64;
                gaps += 1;
            }
            b'D' => {
                del_b += c.len as u64;
                gaps += 1;
            }
            _ => {}
        }
    }
    if aligned < MIN_MEASURED {
        return ReadErrors::default();
    }
    let mismatch = match nm {
        Some(nm) if nm >= 0 => phred_rate((nm as u64).saturating_sub(ins_b + del_b), aligned),
        _ => 0,
    };
    ReadErrors {
        mismatch,
        gap_open: phred_rate(gaps, aligned),
    }
}

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

pub struct ReadSource {
    pub path: PathBuf,
    pub sample: u32,
    pub reference: PathBuf,
    pub min_mapq: u8,
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
    tx: &'a Sender<Msg>,
    /// The ranges by tid (`None`: contig not wanted).
    want: &'a [Option<ContigRange>],
    /// Only this contig (indexed mode).
    only: Option<usize>,
    batch: Vec<Read>,
    /// Bases in `batch`.
    bases: usize,
    cur: Option<usize>,
    last: (i64, i64),
    n: u64,
    /// Set when the consumer went away: stop quietly.
    closed: bool,
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

impl Visitor for Collect<'_> {
    fn record<A: Alignment>(&mut self, rec: &A) -> Result<bool> {
        self.n += 1;
        let tid = rec.ref_id();
        if tid < 0 {
            // Unplaced reads come last in a sorted file.
            return Ok(false);
        }
        let tid = tid as usize;
        if let Some(o) = self.only {
            if tid != o {
                // An earlier contig's records can share the first container (CRAM): skip
                // them; a record of a later contig ends this one.
                return Ok(tid < o);
            }
        }
        let pos = rec.pos();
        if Some(tid) != self.cur {
            if let Some(c) = self.cur {
                if tid < c {
                    return Err(unsorted(&self.src.path, self.n));
                }
            }
            self.end_contig();
            self.cur = Some(tid);
            self.last = (tid as i64, pos);
        } else if pos < self.last.1 {
            return Err(unsorted(&self.src.path, self.n));
        }
        self.last.1 = pos;
        if self.closed {
            return Ok(false);
        }
        let Some(range) = self.want.get(tid).copied().flatten() else {
            return Ok(true);
        };
        if pos >= range.hi {
            // Past the range: in indexed mode this contig is done.
            return Ok(self.only.is_none());
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
                &self.src.path,
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
        let errors = measure_errors(&cigar, rec.aux_int(*b"NM"));
        self.batch.push(Read {
            errors,
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

fn unsorted(path: &Path, n: u64) -> Error {
    Error::format(
        path,
        format!("record #{n} is out of order: the file must be sorted by coordinate"),
    )
}

/// Starts the reader thread of one file over `ranges` (ascending tid). Every wanted contig
/// gets an [`Msg::EndContig`], even one without reads.
pub fn spawn(
    src: ReadSource,
    ranges: Vec<ContigRange>,
    names: Vec<String>,
    pool: Arc<rayon::ThreadPool>,
) -> Receiver<Msg> {
    // A few batches ahead are enough to keep the workers fed.
    let (tx, rx) = crossbeam_channel::bounded(4);
    std::thread::spawn(move || {
        let mut want = vec![None; names.len()];
        for r in &ranges {
            want[r.tid] = Some(*r);
        }
        let run = || -> Result<()> {
            if src.indexed {
                for r in &ranges {
                    let mut reader = AlignmentReader::open(
                        &src.path,
                        Some(&src.reference),
                        Some(&names[r.tid]),
                        pool.clone(),
                    )?;
                    reader.set_fields(Fields::Full);
                    let mut c = Collect {
                        src: &src,
                        tx: &tx,
                        want: &want,
                        only: Some(r.tid),
                        batch: Vec::new(),
                        bases: 0,
                        cur: Some(r.tid),
                        last: (r.tid as i64, i64::MIN),
                        n: 0,
                        closed: false,
                    };
                    reader.visit(&mut c)?;
                    c.cur = Some(r.tid);
                    c.end_contig();
                    if c.closed {
                        return Ok(());
                    }
                }
            } else {
                let mut reader =
                    AlignmentReader::open(&src.path, Some(&src.reference), None, pool.clone())?;
                reader.set_fields(Fields::Full);
                let mut c = Collect {
                    src: &src,
                    tx: &tx,
                    want: &want,
                    only: None,
                    batch: Vec::new(),
                    bases: 0,
                    cur: None,
                    last: (-1, i64::MIN),
                    n: 0,
                    closed: false,
                };
                reader.visit(&mut c)?;
                c.end_contig();
                // Contigs without reads still end.
                for r in &ranges {
                    let _ = tx.send(Msg::EndContig(r.key));
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
