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

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs of equal depth, the obvious way.
    fn naive_runs(d: &[i32]) -> Vec<(u64, u64, i32)> {
        let mut out = Vec::new();
        let mut s = 0;
        for i in 1..=d.len() {
            if i == d.len() || d[i] != d[s] {
                out.push((s as u64, i as u64, d[s]));
                s = i;
            }
        }
        out
    }

    /// Pieces cut at arbitrary places must give exactly the runs of the whole contig.
    #[test]
    fn pieces_stitch_into_the_same_runs() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let mut x: u64 = 7;
        let mut rnd = |m: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % m
        };
        for trial in 0..40 {
            let len = 1 + rnd(3 * PIECE as u64) as usize;
            // Long flat stretches and busy ones, so runs cross piece edges both ways.
            let mut d = Vec::with_capacity(len);
            let mut v = rnd(3) as i32;
            while d.len() < len {
                let run = if rnd(4) == 0 {
                    rnd(PIECE as u64)
                } else {
                    rnd(20)
                } + 1;
                for _ in 0..run.min((len - d.len()) as u64) {
                    d.push(v);
                }
                v = if rnd(3) == 0 { v } else { rnd(4) as i32 };
            }
            // Enough room in flight that no piece is written (and dropped) before we collect it.
            let mut s = ContigStream::new("c", len, true, 1000);
            let mut done = 0;
            let mut pieces = Vec::new();
            while done < len {
                let step = (1 + rnd(PIECE as u64 * 2) as usize).min(len - done);
                s.push(&pool, &d[done..done + step], None).unwrap();
                done += step;
            }
            // Collect the pieces' marks directly from the jobs, in order.
            while let Some(rx) = s.inflight.pop_front() {
                pieces.push(rx.recv().unwrap());
            }
            let mut got = Vec::new();
            let mut hist = Histogram::default();
            for p in &pieces {
                hist.merge(&p.hist);
                let cp = p.piece.as_ref().unwrap();
                for &(b, e, _) in &cp.marks {
                    got.push((b, e));
                }
            }
            let want: Vec<(u64, u64)> = naive_runs(&d).iter().map(|r| (r.0, r.1)).collect();
            assert_eq!(got, want, "trial {trial}, len {len}");
            assert_eq!(hist.0.iter().sum::<u64>(), len as u64);
        }
    }
}
