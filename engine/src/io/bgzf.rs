//! BGZF: parallel block inflation for reading, parallel block deflation for writing.
//!
//! Reading is where coverage speed is won: a producer thread cuts the file into BGZF blocks and
//! inflates a batch of them at once on the rayon pool (libdeflate), while the consumer decodes
//! records from the previous batch. Buffers are recycled so steady state allocates nothing.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{bounded, Receiver, Sender};
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::io::csi::CsiBuilder;

/// Largest uncompressed payload htslib puts in one block; offsets inside a block must fit 16 bits.
pub const BLOCK_DATA_SIZE: usize = 0xff00;
/// The 28-byte empty block that terminates every BGZF file.
pub const EOF_BLOCK: [u8; 28] = [
    0x1f, 0x8b, 0x08, 0x04, 0, 0, 0, 0, 0, 0xff, 0x06, 0, 0x42, 0x43, 0x02, 0, 0x1b, 0, 0x03, 0, 0,
    0, 0, 0, 0, 0, 0, 0,
];
/// Compressed bytes gathered into one batch; one pool task inflates one batch.
const BATCH_COMPRESSED: usize = 192 << 10;
/// Most batches in flight (being read, inflated, or waiting for the consumer): one per pool
/// thread plus two, so every thread can inflate while the consumer reads one and the next
/// is gathered; more would only hold memory (a batch is about 0.5 to 1 MB inflated).
const IN_FLIGHT: usize = 18;

/// One inflated batch of consecutive blocks.
pub struct Batch {
    pub data: Vec<u8>,
}

type Inflated = (u64, Result<Vec<u8>>);

/// Decompressed bytes of a BGZF file, delivered in order as batches.
///
/// A reader thread cuts the file into batches of whole blocks; each batch is inflated by a task
/// on the rayon pool, so reading, inflating and the consumer's decoding all overlap. A token per
/// batch bounds the memory in flight; results are put back in order by sequence number.
pub struct BgzfStream {
    rx: Receiver<Inflated>,
    tokens: Sender<Vec<u8>>,
    pending: std::collections::BTreeMap<u64, Result<Vec<u8>>>,
    next_seq: u64,
    handle: Option<JoinHandle<()>>,
}

struct RawBlock {
    start: usize, // offset of CDATA inside the raw buffer
    clen: usize,
    isize: usize,
    crc: u32,
}

impl BgzfStream {
    /// Opens `path` and starts inflating at compressed offset `coffset`.
    pub fn open(path: &Path, coffset: u64, pool: Arc<rayon::ThreadPool>) -> Result<Self> {
        let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
        if coffset > 0 {
            file.seek(SeekFrom::Start(coffset))
                .map_err(|e| Error::io(path, e))?;
        }
        Ok(Self::from_reader(file, path.to_path_buf(), pool))
    }

    pub fn from_reader<R: Read + Send + 'static>(
        reader: R,
        path: PathBuf,
        pool: Arc<rayon::ThreadPool>,
    ) -> Self {
        let in_flight = (pool.current_num_threads() + 2).min(IN_FLIGHT);
        let (tx, rx) = bounded::<Inflated>(in_flight);
        let (tokens, token_rx) = bounded::<Vec<u8>>(in_flight);
        for _ in 0..in_flight {
            let _ = tokens.send(Vec::new());
        }
        let handle = std::thread::Builder::new()
            .name("bgzf-read".into())
            .spawn(move || {
                let mut producer = Producer {
                    reader: BufReader::with_capacity(1 << 20, reader),
                    path: Arc::new(path),
                    saw_eof_block: false,
                    offset: 0,
                };
                producer.run(pool, token_rx, tx);
            })
            .expect("spawning a thread");
        BgzfStream {
            rx,
            tokens,
            pending: Default::default(),
            next_seq: 0,
            handle: Some(handle),
        }
    }

    /// The next batch, `None` at a clean end of file.
    pub fn next_batch(&mut self) -> Result<Option<Batch>> {
        loop {
            if let Some(r) = self.pending.remove(&self.next_seq) {
                self.next_seq += 1;
                return r.map(|data| Some(Batch { data }));
            }
            match self.rx.recv() {
                Ok((seq, r)) => {
                    self.pending.insert(seq, r);
                }
                Err(_) => return Ok(None),
            }
        }
    }

    /// Returns a consumed buffer: it frees a place in flight and its allocation is reused.
    pub fn give_back(&self, buf: Vec<u8>) {
        let _ = self.tokens.try_send(buf);
    }
}

impl Drop for BgzfStream {
    fn drop(&mut self) {
        // Closing our ends makes the reader thread's next send or token wait fail, so it stops.
        let (_, rx) = bounded(0);
        drop(std::mem::replace(&mut self.rx, rx));
        let (tokens, _) = bounded(0);
        drop(std::mem::replace(&mut self.tokens, tokens));
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

struct Producer<R: Read> {
    reader: BufReader<R>,
    path: Arc<PathBuf>,
    saw_eof_block: bool,
    offset: u64,
}

impl<R: Read> Producer<R> {
    fn run(
        &mut self,
        pool: Arc<rayon::ThreadPool>,
        tokens: Receiver<Vec<u8>>,
        tx: Sender<Inflated>,
    ) {
        let mut seq = 0u64;
        loop {
            let Ok(mut out) = tokens.recv() else { return };
            let mut raw = Vec::with_capacity(BATCH_COMPRESSED + (64 << 10));
            match self.read_batch(&mut raw) {
                Ok(None) => return,
                Ok(Some(blocks)) => {
                    let tx = tx.clone();
                    let path = self.path.clone();
                    let this = seq;
                    pool.spawn(move || {
                        let r = inflate_batch(&raw, &blocks, &mut out, &path).map(|_| out);
                        let _ = tx.send((this, r));
                    });
                }
                Err(e) => {
                    let _ = tx.send((seq, Err(e)));
                    return;
                }
            }
            seq += 1;
        }
    }

    fn err(&self, msg: &str) -> Error {
        Error::bgzf(
            self.path.as_path(),
            format!(
                "{msg} (BGZF block at byte {}); the file is truncated or corrupt",
                self.offset
            ),
        )
    }

    /// Reads whole blocks until about `BATCH_COMPRESSED` bytes.
    fn read_batch(&mut self, raw: &mut Vec<u8>) -> Result<Option<Vec<RawBlock>>> {
        let mut blocks: Vec<RawBlock> = Vec::with_capacity(16);
        let io = |e| Error::io(self.path.as_path(), e);
        while raw.len() < BATCH_COMPRESSED {
            let mut header = [0u8; 12];
            let n = read_full(&mut self.reader, &mut header).map_err(io)?;
            if n == 0 {
                if blocks.is_empty() && !self.saw_eof_block {
                    return Err(Error::bgzf(
                        self.path.as_path(),
                        "file is truncated: the BGZF end-of-file marker is missing",
                    ));
                }
                break;
            }
            if n < 12 {
                return Err(self.err("file ends inside a block header"));
            }
            if header[0] != 0x1f || header[1] != 0x8b || header[2] != 8 || header[3] & 4 == 0 {
                return Err(self.err("not a BGZF block (bad gzip magic or flags)"));
            }
            let xlen = u16::from_le_bytes([header[10], header[11]]) as usize;
            let mut extra = vec![0u8; xlen];
            if read_full(&mut self.reader, &mut extra).map_err(io)? < xlen {
                return Err(self.err("file ends inside a block header"));
            }
            let bsize = find_bsize(&extra).ok_or_else(|| self.err("block has no BSIZE field"))?;
            let block_len = bsize + 1;
            let rest = block_len
                .checked_sub(12 + xlen)
                .filter(|r| *r >= 8)
                .ok_or_else(|| self.err("block size field is too small"))?;
            let start = raw.len();
            raw.resize(start + rest, 0);
            if read_full(&mut self.reader, &mut raw[start..]).map_err(io)? < rest {
                return Err(self.err("file ends inside a block"));
            }
            let tail = &raw[start + rest - 8..start + rest];
            let crc = u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]);
            let isize = u32::from_le_bytes([tail[4], tail[5], tail[6], tail[7]]) as usize;
            if isize > 65536 {
                return Err(self.err("block claims more than 64 KiB of data"));
            }
            self.saw_eof_block = isize == 0;
            blocks.push(RawBlock {
                start,
                clen: rest - 8,
                isize,
                crc,
            });
            self.offset += block_len as u64;
        }
        if blocks.is_empty() {
            return Ok(None);
        }
        Ok(Some(blocks))
    }
}

thread_local! {
    static INFLATER: std::cell::RefCell<libdeflater::Decompressor> =
        std::cell::RefCell::new(libdeflater::Decompressor::new());
}

fn inflate_batch(raw: &[u8], blocks: &[RawBlock], out: &mut Vec<u8>, path: &Path) -> Result<()> {
    let total: usize = blocks.iter().map(|b| b.isize).sum();
    // Contents are fully overwritten; only growth of a recycled buffer is zero-filled.
    out.resize(total, 0);
    let mut at = 0;
    INFLATER.with(|d| {
        let mut d = d.borrow_mut();
        for b in blocks {
            let dst = &mut out[at..at + b.isize];
            let src = &raw[b.start..b.start + b.clen];
            match d.deflate_decompress(src, dst) {
                Ok(n) if n == b.isize && libdeflater::crc32(dst) == b.crc => {}
                _ => {
                    return Err(Error::bgzf(
                        path,
                        "a BGZF block does not inflate or fails its CRC check; the file is corrupt",
                    ))
                }
            }
            at += b.isize;
        }
        Ok(())
    })
}

fn read_full<R: Read>(r: &mut R, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn find_bsize(extra: &[u8]) -> Option<usize> {
    let mut i = 0;
    while i + 4 <= extra.len() {
        let slen = u16::from_le_bytes([extra[i + 2], extra[i + 3]]) as usize;
        if extra[i] == b'B' && extra[i + 1] == b'C' && slen == 2 && i + 6 <= extra.len() {
            return Some(u16::from_le_bytes([extra[i + 4], extra[i + 5]]) as usize);
        }
        i += 4 + slen;
    }
    None
}

/// A cursor over the decompressed stream that hands out contiguous byte ranges, copying only the
/// few that straddle two batches.
pub struct ByteCursor {
    stream: BgzfStream,
    cur: Vec<u8>,
    pos: usize,
    pending: Vec<u8>,
    path: PathBuf,
}

impl ByteCursor {
    pub fn new(stream: BgzfStream, path: PathBuf) -> Self {
        ByteCursor {
            stream,
            cur: Vec::new(),
            pos: 0,
            pending: Vec::new(),
            path,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Skips `n` bytes (used to honour the within-block part of a virtual offset).
    pub fn skip(&mut self, n: usize) -> Result<()> {
        if !self.ensure(n)? {
            return Err(Error::format(
                &self.path,
                "index points past the end of the file",
            ));
        }
        self.consume(n);
        Ok(())
    }

    /// Makes `n` bytes available from the current position. Returns false at end of stream if
    /// nothing at all is left; errors if the stream ends part way.
    #[inline]
    pub fn ensure(&mut self, n: usize) -> Result<bool> {
        if self.pending.is_empty() && self.cur.len() - self.pos >= n {
            return Ok(true);
        }
        self.fill(n, "file ends in the middle of a record (truncated)")
    }

    /// The slow path of [`Self::ensure`]. `n` comes from the file, so nothing is reserved for
    /// it up front: `pending` grows only with bytes the stream actually delivers.
    fn fill(&mut self, n: usize, truncated: &str) -> Result<bool> {
        while self.pending.len() < n {
            let avail = self.cur.len() - self.pos;
            if avail > 0 {
                let take = avail.min(n - self.pending.len());
                self.pending
                    .extend_from_slice(&self.cur[self.pos..self.pos + take]);
                self.pos += take;
                continue;
            }
            match self.stream.next_batch()? {
                Some(b) => {
                    let old = std::mem::replace(&mut self.cur, b.data);
                    if old.capacity() > 0 {
                        self.stream.give_back(old);
                    }
                    self.pos = 0;
                }
                None => {
                    if self.pending.is_empty() {
                        return Ok(false);
                    }
                    return Err(Error::format(&self.path, truncated));
                }
            }
        }
        Ok(true)
    }

    /// The `n` bytes made available by a successful `ensure(n)`.
    #[inline]
    pub fn peek(&self, n: usize) -> &[u8] {
        if self.pending.is_empty() {
            &self.cur[self.pos..self.pos + n]
        } else {
            &self.pending[..n]
        }
    }

    #[inline]
    pub fn consume(&mut self, n: usize) {
        if self.pending.is_empty() {
            self.pos += n;
        } else {
            self.pending.drain(..n);
        }
    }

    /// Reads exactly `n` bytes into a new vector (header parsing).
    pub fn read_vec(&mut self, n: usize) -> Result<Vec<u8>> {
        const SHORT: &str =
            "file ends inside the header (a length in it is wrong, or the file is cut)";
        let complete = if self.pending.is_empty() && self.cur.len() - self.pos >= n {
            true
        } else {
            self.fill(n, SHORT)?
        };
        if !complete {
            return Err(Error::format(&self.path, SHORT));
        }
        let v = self.peek(n).to_vec();
        self.consume(n);
        Ok(v)
    }
}

/// Index entry produced while writing: the record's interval and its end offset in the
/// uncompressed stream (converted to a virtual offset once its block is compressed).
#[derive(Clone, Copy, Debug)]
struct PendingEntry {
    tid: u32,
    beg: u64,
    end: u64,
    uoffset_end: u64,
}

/// A BGZF writer that compresses full blocks in parallel and, optionally, indexes the records
/// written through it (CSI).
pub struct BgzfWriter<W: Write> {
    out: W,
    level: i32,
    pool: Arc<rayon::ThreadPool>,
    buf: Vec<u8>,
    /// Uncompressed offset of `buf[0]` in the whole stream.
    buf_base: u64,
    /// Compressed offset where the next block will start.
    coffset: u64,
    entries: Vec<PendingEntry>,
    last_vend: u64,
    batch_bytes: usize,
    index: Option<CsiBuilder>,
}

impl<W: Write> BgzfWriter<W> {
    pub fn new(
        out: W,
        level: i32,
        pool: Arc<rayon::ThreadPool>,
        index: Option<CsiBuilder>,
    ) -> Self {
        let batch_bytes = BLOCK_DATA_SIZE * 16 * pool.current_num_threads().max(1);
        BgzfWriter {
            out,
            level,
            pool,
            buf: Vec::with_capacity(batch_bytes + BLOCK_DATA_SIZE),
            buf_base: 0,
            coffset: 0,
            entries: Vec::new(),
            last_vend: 0,
            batch_bytes,
            index,
        }
    }

    /// Uncompressed bytes written so far.
    pub fn uoffset(&self) -> u64 {
        self.buf_base + self.buf.len() as u64
    }

    /// Compresses everything written so far, so that the next byte starts a new BGZF block
    /// (a header, or a contig, then occupies whole blocks of its own).
    /// Unindexed bytes before this point (a header) are skipped by the index: the next
    /// record's chunk starts here, as tabix would record it.
    pub fn end_block(&mut self) -> std::io::Result<()> {
        self.flush_blocks(true)?;
        if self.entries.is_empty() {
            self.last_vend = self.coffset << 16;
        }
        Ok(())
    }

    /// Appends bytes that are not indexed (a header line).
    pub fn write_plain(&mut self, data: &[u8]) -> std::io::Result<()> {
        self.buf.extend_from_slice(data);
        self.maybe_flush()
    }

    /// Appends one record (a line) covering `[beg, end)` of index contig `tid`.
    pub fn write_record(
        &mut self,
        data: &[u8],
        tid: u32,
        beg: u64,
        end: u64,
    ) -> std::io::Result<()> {
        self.buf.extend_from_slice(data);
        if self.index.is_some() {
            let uoffset_end = self.uoffset();
            self.entries.push(PendingEntry {
                tid,
                beg,
                end,
                uoffset_end,
            });
        }
        self.maybe_flush()
    }

    /// Appends many records at once: `marks` holds each record's (beg, end, end offset within
    /// `data`).
    pub fn write_records(
        &mut self,
        data: &[u8],
        tid: u32,
        marks: &[(u64, u64, usize)],
    ) -> std::io::Result<()> {
        let base = self.uoffset();
        self.buf.extend_from_slice(data);
        if self.index.is_some() {
            self.entries
                .extend(marks.iter().map(|&(beg, end, rel)| PendingEntry {
                    tid,
                    beg,
                    end,
                    uoffset_end: base + rel as u64,
                }));
        }
        self.maybe_flush()
    }

    fn maybe_flush(&mut self) -> std::io::Result<()> {
        if self.buf.len() >= self.batch_bytes {
            self.flush_blocks(false)?;
        }
        Ok(())
    }

    fn flush_blocks(&mut self, all: bool) -> std::io::Result<()> {
        let full = if all {
            self.buf.len()
        } else {
            self.buf.len() / BLOCK_DATA_SIZE * BLOCK_DATA_SIZE
        };
        if full == 0 {
            return Ok(());
        }
        let level = self.level;
        let data = &self.buf[..full];
        let blocks: Vec<Vec<u8>> = self.pool.install(|| {
            data.par_chunks(BLOCK_DATA_SIZE)
                .map_init(
                    || {
                        libdeflater::Compressor::new(
                            libdeflater::CompressionLvl::new(level).unwrap_or_default(),
                        )
                    },
                    compress_block,
                )
                .collect()
        });
        // Compressed start of each block, for virtual offsets.
        let mut starts = Vec::with_capacity(blocks.len() + 1);
        let mut off = self.coffset;
        for b in &blocks {
            starts.push(off);
            self.out.write_all(b)?;
            off += b.len() as u64;
        }
        starts.push(off);
        let base = self.buf_base;
        let n_blocks = blocks.len();
        let voff = |u: u64| -> u64 {
            let rel = (u - base) as usize;
            let k = rel / BLOCK_DATA_SIZE;
            if k >= n_blocks {
                // Exactly at the end of the compressed data: the start of the next block.
                starts[n_blocks] << 16
            } else {
                (starts[k] << 16) | (rel % BLOCK_DATA_SIZE) as u64
            }
        };
        let limit = base + full as u64;
        let n_done = self.entries.partition_point(|e| e.uoffset_end <= limit);
        if let Some(index) = self.index.as_mut() {
            for e in &self.entries[..n_done] {
                let vend = voff(e.uoffset_end);
                index.push(e.tid, e.beg, e.end, self.last_vend, vend);
                self.last_vend = vend;
            }
        }
        self.entries.drain(..n_done);
        self.coffset = off;
        self.buf.drain(..full);
        self.buf_base += full as u64;
        Ok(())
    }

    /// Appends records already compressed into whole blocks elsewhere (see
    /// [`compress_block_into`]): `block_sizes` are the compressed block sizes, every block but the
    /// last holding `BLOCK_DATA_SIZE` bytes of text; `marks` are each record's (beg, end, end
    /// offset within the text).
    pub fn write_precompressed(
        &mut self,
        tid: u32,
        data: &[u8],
        block_sizes: &[usize],
        ulen: usize,
        marks: &[(u64, u64, usize)],
    ) -> std::io::Result<()> {
        self.flush_blocks(true)?;
        if let Some(index) = self.index.as_mut() {
            let mut starts = Vec::with_capacity(block_sizes.len() + 1);
            let mut off = self.coffset;
            for b in block_sizes {
                starts.push(off);
                off += *b as u64;
            }
            starts.push(off);
            let n = block_sizes.len();
            for &(beg, end, rel) in marks {
                let k = rel / BLOCK_DATA_SIZE;
                let vend = if k >= n {
                    starts[n] << 16
                } else {
                    (starts[k] << 16) | (rel % BLOCK_DATA_SIZE) as u64
                };
                index.push(tid, beg, end, self.last_vend, vend);
                self.last_vend = vend;
            }
        }
        self.out.write_all(data)?;
        self.coffset += data.len() as u64;
        self.buf_base += ulen as u64;
        Ok(())
    }

    /// Compressed bytes written so far (exact after [`Self::end_block`]).
    pub fn coffset(&self) -> u64 {
        self.coffset
    }

    /// Flushes every pending byte, writes the EOF block and returns the inner writer and the
    /// index built along the way.
    pub fn finish(mut self) -> std::io::Result<(W, Option<CsiBuilder>)> {
        self.flush_blocks(true)?;
        self.out.write_all(&EOF_BLOCK)?;
        self.out.flush()?;
        Ok((self.out, self.index))
    }
}
thread_local! {
    static DEFLATER: std::cell::RefCell<Option<(i32, libdeflater::Compressor)>> =
        const { std::cell::RefCell::new(None) };
}

/// Compresses `data` (at most `BLOCK_DATA_SIZE` bytes) as one BGZF block appended to `out`;
/// returns the block's size.
pub fn compress_block_into(data: &[u8], level: i32, out: &mut Vec<u8>) -> usize {
    DEFLATER.with(|c| {
        let mut c = c.borrow_mut();
        if c.as_ref().is_none_or(|(l, _)| *l != level) {
            let lvl = libdeflater::CompressionLvl::new(level).unwrap_or_default();
            *c = Some((level, libdeflater::Compressor::new(lvl)));
        }
        let Some((_, comp)) = c.as_mut() else {
            unreachable!("set just above")
        };
        let block = compress_block(comp, data);
        out.extend_from_slice(&block);
        block.len()
    })
}

fn compress_block(c: &mut libdeflater::Compressor, data: &[u8]) -> Vec<u8> {
    let bound = c.deflate_compress_bound(data.len());
    let mut out = vec![0u8; 18 + bound + 8];
    let n = match c.deflate_compress(data, &mut out[18..18 + bound]) {
        Ok(n) => n,
        Err(_) => unreachable!("the output buffer is sized by compress_bound"),
    };
    let total = 18 + n + 8;
    out[..18].copy_from_slice(&[
        0x1f, 0x8b, 0x08, 0x04, 0, 0, 0, 0, 0, 0xff, 0x06, 0, 0x42, 0x43, 0x02, 0, 0, 0,
    ]);
    let bsize = (total - 1) as u16;
    out[16..18].copy_from_slice(&bsize.to_le_bytes());
    out[18 + n..22 + n].copy_from_slice(&libdeflater::crc32(data).to_le_bytes());
    out[22 + n..26 + n].copy_from_slice(&(data.len() as u32).to_le_bytes());
    out.truncate(total);
    out
}

/// Compresses a whole buffer into BGZF with the EOF block (for small index files).
pub fn compress_all(data: &[u8], level: i32) -> Vec<u8> {
    let mut c =
        libdeflater::Compressor::new(libdeflater::CompressionLvl::new(level).unwrap_or_default());
    let mut out = Vec::new();
    for chunk in data.chunks(BLOCK_DATA_SIZE) {
        out.extend_from_slice(&compress_block(&mut c, chunk));
    }
    out.extend_from_slice(&EOF_BLOCK);
    out
}
