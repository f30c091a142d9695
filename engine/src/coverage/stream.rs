//! Streaming a contig's final depths into the per-base file and the contig's statistics while
//! the rest of the file is still being read.
//!
//! Reads arrive sorted by start, and no read starting at `s` changes depth before `s`, so the
//! depth of every base before the current read is final. Such stretches are cut into pieces;
//! each piece is turned into per-base BED lines, compressed into BGZF blocks and counted into a
//! histogram by a pool task, and the pieces are written in order. The run open at a piece's
//! start (the "carry") is found by the reading thread with a short backward scan, so pieces do
//! not wait for each other.

use std::collections::VecDeque;
use std::sync::Arc;

use crossbeam_channel::{bounded, Receiver};

use crate::coverage::output::IndexedBed;
use crate::coverage::stats::{DepthStat, Histogram};
use crate::error::Result;
use crate::io::bgzf::{compress_block_into, BLOCK_DATA_SIZE};

/// Bases per piece: small enough that the pieces in flight (their depths, text and compressed
/// blocks) stay a few megabytes, large enough to amortise a task.
pub const PIECE: usize = 1 << 18;

/// Per-base lines of one piece, already compressed into whole BGZF blocks.
pub struct CompressedPiece {
    pub data: Vec<u8>,
    /// Compressed size of each block; every block but the last holds `BLOCK_DATA_SIZE` bytes.
    pub block_sizes: Vec<usize>,
    pub ulen: usize,
    /// Each line's (start, end, offset of its end in the uncompressed text).
    pub marks: Vec<(u64, u64, usize)>,
}

struct PieceOut {
    hist: Histogram,
    stat: DepthStat,
    piece: Option<CompressedPiece>,
}

pub struct ContigStream {
    chrom: Arc<str>,
    len: usize,
    per_base: bool,
    /// Bases handed out so far.
    done: usize,
    /// The run open at `done`: (start, depth).
    carry: Option<(usize, i32)>,
    inflight: VecDeque<Receiver<PieceOut>>,
    max_inflight: usize,
    hist: Histogram,
    stat: DepthStat,
}

impl ContigStream {
    pub fn new(chrom: &str, len: usize, per_base: bool, threads: usize) -> Self {
        ContigStream {
            chrom: chrom.into(),
            len,
            per_base,
            done: 0,
            carry: None,
            inflight: VecDeque::new(),
            max_inflight: 2 * threads.max(1),
            hist: Histogram::default(),
            stat: DepthStat::CLEARED,
        }
    }

    pub fn done(&self) -> usize {
        self.done
    }

    /// Like [`push`](Self::push) for an owned vector, which is handed to the task without a
    /// copy when it fits in one piece.
    pub fn push_owned(
        &mut self,
        pool: &rayon::ThreadPool,
        mut d: Vec<i32>,
        out: Option<&mut IndexedBed>,
    ) -> Result<()> {
        d.truncate(self.len - self.done);
        if d.len() > PIECE {
            return self.push(pool, &d, out);
        }
        if !d.is_empty() {
            self.push_piece(pool, d, out)?;
        }
        Ok(())
    }

    /// Hands over the final depths of `[done, done + d.len())` (clipped to the contig).
    pub fn push(
        &mut self,
        pool: &rayon::ThreadPool,
        d: &[i32],
        mut out: Option<&mut IndexedBed>,
    ) -> Result<()> {
        let d = &d[..d.len().min(self.len - self.done)];
        for chunk in d.chunks(PIECE) {
            self.push_piece(pool, chunk.to_vec(), out.as_deref_mut())?;
        }
        Ok(())
    }

    fn push_piece(
        &mut self,
        pool: &rayon::ThreadPool,
        chunk: Vec<i32>,
        mut out: Option<&mut IndexedBed>,
    ) -> Result<()> {
        {
            let a = self.done;
            let carry_in = self.carry.unwrap_or((0, chunk[0]));
            // The run still open at the end of this piece becomes the next piece's carry.
            let last = chunk[chunk.len() - 1];
            let mut p = chunk.len() - 1;
            while p > 0 && chunk[p - 1] == last {
                p -= 1;
            }
            self.carry = Some(if p == 0 && last == carry_in.1 {
                carry_in
            } else {
                (a + p, last)
            });
            self.done += chunk.len();
            let last_piece = self.done == self.len;
            let vals = chunk;
            let chrom = self.chrom.clone();
            let per_base = self.per_base;
            let len = self.len;
            let (tx, rx) = bounded(1);
            pool.spawn(move || {
                let _ = tx.send(piece_job(
                    &chrom,
                    a,
                    &vals,
                    carry_in,
                    last_piece.then_some(len),
                    per_base,
                ));
            });
            self.inflight.push_back(rx);
            while self.inflight.len() > self.max_inflight {
                self.write_front(out.as_deref_mut())?;
            }
        }
        Ok(())
    }

    fn write_front(&mut self, out: Option<&mut IndexedBed>) -> Result<()> {
        let Some(rx) = self.inflight.pop_front() else {
            return Ok(());
        };
        let r = rx.recv().map_err(|_| crate::Error::Backend {
            backend: "cpu".into(),
            msg: "a coverage task stopped unexpectedly".into(),
        })?;
        self.hist.merge(&r.hist);
        self.stat = self.stat.merge(&r.stat);
        if let (Some(p), Some(o)) = (r.piece, out) {
            o.write_piece(&self.chrom, &p)?;
        }
        Ok(())
    }

    /// Waits for every piece, writes them, and returns the contig's histogram and statistics.
    pub fn finish(mut self, mut out: Option<&mut IndexedBed>) -> Result<(Histogram, DepthStat)> {
        while !self.inflight.is_empty() {
            self.write_front(out.as_deref_mut())?;
        }
        Ok((self.hist, self.stat))
    }
}

fn piece_job(
    chrom: &str,
    a: usize,
    vals: &[i32],
    carry: (usize, i32),
    close_at: Option<usize>,
    per_base: bool,
) -> PieceOut {
    let mut hist = Histogram::default();
    hist.add_depths(vals);
    let stat = DepthStat::of(vals);
    let piece = per_base.then(|| {
        let mut text = Vec::with_capacity(vals.len() / 2);
        let mut marks = Vec::new();
        let mut ib = itoa::Buffer::new();
        let (mut rs, mut rv) = carry;
        let mut line = |s: usize, e: usize, v: i32, text: &mut Vec<u8>| {
            text.extend_from_slice(chrom.as_bytes());
            text.push(b'\t');
            text.extend_from_slice(ib.format(s).as_bytes());
            text.push(b'\t');
            text.extend_from_slice(ib.format(e).as_bytes());
            text.push(b'\t');
            text.extend_from_slice(ib.format(v).as_bytes());
            text.push(b'\n');
            marks.push((s as u64, e as u64, text.len()));
        };
        for (i, &v) in vals.iter().enumerate() {
            if v != rv {
                line(rs, a + i, rv, &mut text);
                rs = a + i;
                rv = v;
            }
        }
        if let Some(end) = close_at {
            line(rs, end, rv, &mut text);
        }
        let mut data = Vec::with_capacity(text.len() / 3 + 64);
        let mut block_sizes = Vec::with_capacity(text.len() / BLOCK_DATA_SIZE + 1);
        for block in text.chunks(BLOCK_DATA_SIZE) {
            block_sizes.push(compress_block_into(block, 1, &mut data));
        }
        CompressedPiece {
            data,
            block_sizes,
            ulen: text.len(),
            marks,
        }
    });
    PieceOut { hist, stat, piece }
}
