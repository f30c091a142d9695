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

use crate::backend::Reduced;
use crate::coverage::output::{CompressedPiece, IndexedBed};
use crate::coverage::stats::{DepthStat, Histogram};
use crate::error::Result;
use crate::io::bgzf::{compress_block_into, BLOCK_DATA_SIZE};

/// Bases per piece: small enough that the pieces in flight (their depths, text and compressed
/// blocks) stay a few megabytes, large enough to amortise a task.
pub const PIECE: usize = 1 << 18;
/// Depth runs per per-base task.
const PIECE_RUNS: usize = 1 << 16;
/// Pieces of at most this many runs are made on the calling thread.
const INLINE_RUNS: usize = 256;

/// A piece of per-base lines: a few made here, written through the file's own buffer (so the
/// lines of tiny contigs share blocks); or many, compressed into whole blocks by a pool task.
enum Piece {
    Ready(PieceLines),
    Pending(Receiver<CompressedPiece>),
}

/// Per-base lines and each line's (start, end, offset of its end in `text`).
struct PieceLines {
    text: Vec<u8>,
    marks: Vec<(u64, u64, usize)>,
}

pub struct ContigStream {
    tid: usize,
    chrom: Arc<str>,
    len: usize,
    per_base: bool,
    /// Bases handed out so far.
    done: usize,
    /// The run open at `done`: (start, depth).
    carry: Option<(usize, i32)>,
    inflight: VecDeque<Piece>,
    max_inflight: usize,
    hist: Histogram,
    stat: DepthStat,
}

impl ContigStream {
    pub fn new(tid: usize, chrom: &str, len: usize, per_base: bool, threads: usize) -> Self {
        ContigStream {
            tid,
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

    /// Takes the reduction of `[done, r.to)` (with runs when per-base lines are written):
    /// merges its histogram and statistics, and hands its lines to pool tasks in pieces.
    pub fn push(
        &mut self,
        pool: &rayon::ThreadPool,
        r: &Reduced,
        mut out: Option<&mut IndexedBed>,
    ) -> Result<()> {
        debug_assert_eq!(r.from, self.done);
        self.hist.add_chunk(&r.hist);
        self.stat = self.stat.merge(&DepthStat::of_hist(&r.hist));
        self.done = r.to.min(self.len);
        if !self.per_base || r.runs.is_empty() {
            return Ok(());
        }
        let last_piece = self.done == self.len;
        let runs: Arc<[(u32, i32)]> = r.runs.as_slice().into();
        let mut k = 0;
        while k < runs.len() {
            let e = (k + PIECE_RUNS).min(runs.len());
            // The run open where this piece starts: listed runs differ from the one before,
            // except the stretch's first entry, which may continue the carried run.
            let carry_in = self.carry.unwrap_or((0, runs[0].1));
            let (p_last, v_last) = runs[e - 1];
            self.carry = Some(if e - 1 == k && v_last == carry_in.1 {
                carry_in
            } else {
                (p_last as usize, v_last)
            });
            let close = (last_piece && e == runs.len()).then_some(self.len);
            if e - k <= INLINE_RUNS {
                // A few lines (a tiny contig): a pool task would cost more than they do.
                let p = piece_lines(&self.chrom, &runs[k..e], carry_in, close);
                self.inflight.push_back(Piece::Ready(p));
            } else {
                let chrom = self.chrom.clone();
                let runs = runs.clone();
                let (tx, rx) = bounded(1);
                pool.spawn(move || {
                    let p = piece_lines(&chrom, &runs[k..e], carry_in, close);
                    let _ = tx.send(compress_piece(p));
                });
                self.inflight.push_back(Piece::Pending(rx));
            }
            while self.inflight.len() > self.max_inflight {
                self.write_front(out.as_deref_mut())?;
            }
            k = e;
        }
        Ok(())
    }

    fn write_front(&mut self, out: Option<&mut IndexedBed>) -> Result<()> {
        match self.inflight.pop_front() {
            None => {}
            Some(Piece::Ready(p)) => {
                if let Some(o) = out {
                    o.write_lines(self.tid, &self.chrom, &p.text, &p.marks)?;
                }
            }
            Some(Piece::Pending(rx)) => {
                let p = rx.recv().map_err(|_| crate::Error::Backend {
                    backend: "cpu".into(),
                    msg: "a coverage task stopped unexpectedly".into(),
                })?;
                if let Some(o) = out {
                    o.write_piece(self.tid, &self.chrom, &p)?;
                }
            }
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

/// Per-base lines for the change points `runs`, given the run open before them; `close_at`
/// ends the last run at the contig's end.
fn piece_lines(
    chrom: &str,
    runs: &[(u32, i32)],
    carry: (usize, i32),
    close_at: Option<usize>,
) -> PieceLines {
    let mut text = Vec::with_capacity(runs.len() * (chrom.len() + 24));
    let mut marks = Vec::with_capacity(runs.len());
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
    for &(p, v) in runs {
        if v != rv {
            line(rs, p as usize, rv, &mut text);
            rs = p as usize;
            rv = v;
        }
    }
    if let Some(end) = close_at {
        line(rs, end, rv, &mut text);
    }
    PieceLines { text, marks }
}

/// A piece's lines compressed into whole BGZF blocks.
fn compress_piece(p: PieceLines) -> CompressedPiece {
    let PieceLines { text, marks } = p;
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
        let mut rng = crate::rng::Rng(7);
        let mut rnd = |m: u64| rng.below(m);
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
            let mut s = ContigStream::new(0, "c", len, true, 1000);
            let mut done = 0;
            let mut pieces = Vec::new();
            let spec = crate::backend::ReduceSpec {
                runs: true,
                hist: true,
                ..Default::default()
            };
            while done < len {
                let step = (1 + rnd(PIECE as u64 * 2) as usize).min(len - done);
                let r = crate::backend::cpu::reduce_depths(done, &d[done..done + step], &spec);
                s.push(&pool, &r, None).unwrap();
                done += step;
            }
            // Collect the pieces' marks directly from the jobs, in order.
            while let Some(p) = s.inflight.pop_front() {
                pieces.push(match p {
                    Piece::Ready(p) => p.marks,
                    Piece::Pending(rx) => rx.recv().unwrap().marks,
                });
            }
            let mut got = Vec::new();
            for marks in &pieces {
                for &(b, e, _) in marks {
                    got.push((b, e));
                }
            }
            let hist = &s.hist;
            let want: Vec<(u64, u64)> = naive_runs(&d).iter().map(|r| (r.0, r.1)).collect();
            assert_eq!(got, want, "trial {trial}, len {len}");
            assert_eq!(hist.0.iter().sum::<u64>(), len as u64);
        }
    }
}
