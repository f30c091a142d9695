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

/// How far ahead (compressed bytes) a seek walks through the running stream rather than
/// opening a new one: about what a new stream would read ahead anyway.
const SEEK_AHEAD: u64 = 1 << 20;

/// One inflated batch of consecutive blocks.
pub struct Batch {
    pub data: Vec<u8>,
    /// Each block's compressed offset in the file and its first byte in `data`, in order.
    pub blocks: Vec<(u64, usize)>,
}

/// An inflated batch's bytes and its blocks' (compressed offset, first byte).
type Inflation = Result<(Vec<u8>, Vec<(u64, usize)>)>;
type Inflated = (u64, Inflation);

/// Decompressed bytes of a BGZF file, delivered in order as batches.
///
/// A reader thread cuts the file into batches of whole blocks; each batch is inflated by a task
/// on the rayon pool, so reading, inflating and the consumer's decoding all overlap. A token per
/// batch bounds the memory in flight; results are put back in order by sequence number.
pub struct BgzfStream {
    rx: Receiver<Inflated>,
    tokens: Sender<Vec<u8>>,
    pending: std::collections::BTreeMap<u64, Inflation>,
    next_seq: u64,
    handle: Option<JoinHandle<()>>,
}

impl BgzfStream {
    /// Opens `path` and starts inflating at compressed offset `coffset`.
    pub fn open(path: &Path, coffset: u64, pool: Arc<rayon::ThreadPool>) -> Result<Self> {
        let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
        if coffset > 0 {
            file.seek(SeekFrom::Start(coffset))
                .map_err(|e| Error::io(path, e))?;
        }
        Ok(Self::start(file, path.to_path_buf(), coffset, pool))
    }

    pub fn from_reader<R: Read + Send + 'static>(
        reader: R,
        path: PathBuf,
        pool: Arc<rayon::ThreadPool>,
    ) -> Self {
        Self::start(reader, path, 0, pool)
    }

    /// Starts the reader thread on `reader`, whose first byte is at `coffset` of `path`.
    fn start<R: Read + Send + 'static>(
        reader: R,
        path: PathBuf,
        coffset: u64,
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
                let reader = BufReader::with_capacity(1 << 20, reader);
                let mut producer = Producer {
                    blocks: BlockReader::new(reader, path, coffset),
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
                return r.map(|(data, blocks)| Some(Batch { data, blocks }));
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
    blocks: BlockReader<R>,
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
                    let path = self.blocks.path.clone();
                    let this = seq;
                    pool.spawn(move || {
                        let r = inflate_batch(&raw, &blocks, &mut out, &path).map(|_| {
                            let mut at = 0;
                            let starts = blocks
                                .iter()
                                .map(|b| {
                                    at += b.isize;
                                    (b.coffset, at - b.isize)
                                })
                                .collect();
                            (out, starts)
                        });
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

    /// Reads whole blocks until about `BATCH_COMPRESSED` bytes.
    fn read_batch(&mut self, raw: &mut Vec<u8>) -> Result<Option<Vec<Frame>>> {
        let mut blocks: Vec<Frame> = Vec::with_capacity(16);
        while raw.len() < BATCH_COMPRESSED {
            match self.blocks.read_into(raw)? {
                Some(f) => blocks.push(f),
                None => {
                    // The missing marker is reported after the blocks read before it.
                    if blocks.is_empty() && !self.blocks.last_was_eof() {
                        return Err(missing_eof(self.blocks.path()));
                    }
                    break;
                }
            }
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

fn inflate_batch(raw: &[u8], blocks: &[Frame], out: &mut Vec<u8>, path: &Path) -> Result<()> {
    let total: usize = blocks.iter().map(|b| b.isize).sum();
    // Contents are fully overwritten; only growth of a recycled buffer is zero-filled.
    out.resize(total, 0);
    let mut at = 0;
    INFLATER.with(|d| {
        let mut d = d.borrow_mut();
        for b in blocks {
            let dst = &mut out[at..at + b.isize];
            if !inflate_checked(&mut d, b.cdata(raw), b.crc, dst) {
                return Err(block_error(path, b.coffset, BlockError::Inflate));
            }
            at += b.isize;
        }
        Ok(())
    })
}

// ---------------------------------------------------------------------------------------------
// The block walker: every place that reads BGZF blocks (the stream above, index files, VCF and
// BED re-indexing, shard gathering) frames them here, with one set of checks and messages.

/// What is wrong with a BGZF block; shown with the file and the block's offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    #[error("file ends inside a block header")]
    ShortHeader,
    #[error("not a BGZF block (bad gzip magic or flags)")]
    BadMagic,
    #[error("block has no BSIZE field")]
    NoBsize,
    #[error("block size field is too small")]
    SmallBsize,
    #[error("file ends inside a block")]
    ShortBlock,
    #[error("block claims more than 64 KiB of data")]
    TooLarge,
    #[error("block does not inflate or fails its CRC check")]
    Inflate,
}

/// The error for `what` in the block at compressed offset `offset` of `path`.
pub fn block_error(path: &Path, offset: u64, what: BlockError) -> Error {
    Error::bgzf(
        path,
        format!("{what} (BGZF block at byte {offset}); the file is truncated or corrupt"),
    )
}

/// The error for a file whose last block is not the end-of-file marker.
pub fn missing_eof(path: &Path) -> Error {
    Error::bgzf(
        path,
        "file is truncated: the BGZF end-of-file marker is missing",
    )
}

/// Where one block lies in a buffer, and what its header and trailer say.
#[derive(Clone, Copy, Debug)]
pub struct Frame {
    /// Compressed offset of the block in its file.
    pub coffset: u64,
    /// The block's first byte in the buffer it was read into.
    pub start: usize,
    /// The whole block's length (BSIZE + 1).
    pub len: usize,
    /// Header length (12 + XLEN): the deflate data starts there.
    header_len: usize,
    /// Inflated size (ISIZE) and CRC32 of the inflated data.
    pub isize: usize,
    pub crc: u32,
}

impl Frame {
    fn cdata<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        &buf[self.start + self.header_len..self.start + self.len - 8]
    }
}

/// The XLEN of a block from its fixed 12-byte header.
fn fixed_header(h: &[u8]) -> std::result::Result<usize, BlockError> {
    if h[0] != 0x1f || h[1] != 0x8b || h[2] != 8 || h[3] & 4 == 0 {
        return Err(BlockError::BadMagic);
    }
    Ok(u16::from_le_bytes([h[10], h[11]]) as usize)
}

/// The whole block's length from its extra field (the `BC` subfield holds BSIZE).
fn block_len(xlen: usize, extra: &[u8]) -> std::result::Result<usize, BlockError> {
    let bsize = find_bsize(extra).ok_or(BlockError::NoBsize)?;
    let len = bsize + 1;
    match len.checked_sub(12 + xlen) {
        Some(rest) if rest >= 8 => Ok(len),
        _ => Err(BlockError::SmallBsize),
    }
}

/// CRC32 and ISIZE from a block's 8-byte trailer.
fn trailer(t: &[u8]) -> std::result::Result<(u32, usize), BlockError> {
    let crc = u32::from_le_bytes([t[0], t[1], t[2], t[3]]);
    let isize = u32::from_le_bytes([t[4], t[5], t[6], t[7]]) as usize;
    if isize > 65536 {
        return Err(BlockError::TooLarge);
    }
    Ok((crc, isize))
}

/// Frames the block at the start of `b` (which may run on past it).
fn frame_slice(b: &[u8], coffset: u64, start: usize) -> std::result::Result<Frame, BlockError> {
    let head = b.get(..12).ok_or(BlockError::ShortHeader)?;
    let xlen = fixed_header(head)?;
    let extra = b.get(12..12 + xlen).ok_or(BlockError::ShortHeader)?;
    let len = block_len(xlen, extra)?;
    let tail = b.get(len - 8..len).ok_or(BlockError::ShortBlock)?;
    let (crc, isize) = trailer(tail)?;
    Ok(Frame {
        coffset,
        start,
        len,
        header_len: 12 + xlen,
        isize,
        crc,
    })
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

/// Inflates `cdata` into `dst` (exactly ISIZE long); false unless it fills `dst` exactly and
/// matches `crc`.
fn inflate_checked(
    d: &mut libdeflater::Decompressor,
    cdata: &[u8],
    crc: u32,
    dst: &mut [u8],
) -> bool {
    matches!(d.deflate_decompress(cdata, dst), Ok(n) if n == dst.len())
        && libdeflater::crc32(dst) == crc
}

/// One whole BGZF block.
#[derive(Clone, Copy, Debug)]
pub struct Block<'a> {
    /// Compressed offset of the block in its file.
    pub coffset: u64,
    /// The whole block, header to trailer.
    pub raw: &'a [u8],
    frame: Frame,
}

impl<'a> Block<'a> {
    fn new(buf: &'a [u8], frame: Frame) -> Self {
        Block {
            coffset: frame.coffset,
            raw: &buf[frame.start..frame.start + frame.len],
            frame,
        }
    }

    /// The same block placed at `coffset` of another file (one it is copied into).
    pub fn moved_to(self, coffset: u64) -> Self {
        Block { coffset, ..self }
    }

    /// Bytes the block inflates to (ISIZE).
    pub fn isize(&self) -> usize {
        self.frame.isize
    }

    /// Compressed offset just past the block.
    pub fn end(&self) -> u64 {
        self.coffset + self.raw.len() as u64
    }

    /// Inflates the block into `out` (replacing its contents), checking size and CRC.
    pub fn inflate_into(
        &self,
        d: &mut libdeflater::Decompressor,
        out: &mut Vec<u8>,
        path: &Path,
    ) -> Result<()> {
        out.clear();
        out.resize(self.frame.isize, 0);
        let f = Frame {
            start: 0,
            ..self.frame
        };
        if inflate_checked(d, f.cdata(self.raw), f.crc, out) {
            Ok(())
        } else {
            Err(block_error(path, self.coffset, BlockError::Inflate))
        }
    }
}

/// The blocks of a BGZF file held in memory, in order; the walk stops at the first error.
pub struct SliceBlocks<'a> {
    data: &'a [u8],
    at: usize,
    path: &'a Path,
}

/// Walks the blocks of `data` (a whole BGZF file, or whole blocks of one); errors name `path`.
pub fn blocks<'a>(data: &'a [u8], path: &'a Path) -> SliceBlocks<'a> {
    SliceBlocks { data, at: 0, path }
}

impl<'a> Iterator for SliceBlocks<'a> {
    type Item = Result<Block<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.at >= self.data.len() {
            return None;
        }
        let at = self.at;
        match frame_slice(&self.data[at..], at as u64, at) {
            Ok(f) => {
                self.at += f.len;
                Some(Ok(Block::new(self.data, f)))
            }
            Err(e) => {
                self.at = self.data.len();
                Some(Err(block_error(self.path, at as u64, e)))
            }
        }
    }
}

/// Inflates a whole BGZF file held in memory (index files, small outputs).
pub fn inflate(data: &[u8], path: &Path) -> Result<Vec<u8>> {
    let mut d = libdeflater::Decompressor::new();
    let mut out = Vec::new();
    for b in blocks(data, path) {
        let b = b?;
        // The output is bounded by the file's size (ISIZE is checked), not by a field in it.
        let start = out.len();
        out.resize(start + b.isize(), 0);
        let f = Frame {
            start: 0,
            ..b.frame
        };
        if !inflate_checked(&mut d, f.cdata(b.raw), f.crc, &mut out[start..]) {
            return Err(block_error(path, b.coffset, BlockError::Inflate));
        }
    }
    Ok(out)
}

/// The blocks of a BGZF stream, read one at a time.
pub struct BlockReader<R> {
    reader: R,
    path: Arc<PathBuf>,
    /// Compressed offset of the next block.
    offset: u64,
    /// Whether the last block read was empty (the end-of-file marker).
    last_empty: bool,
    buf: Vec<u8>,
}

impl<R: Read> BlockReader<R> {
    /// Reads blocks from `reader`, whose first byte is at compressed offset `offset` of `path`.
    pub fn new(reader: R, path: impl Into<PathBuf>, offset: u64) -> Self {
        BlockReader {
            reader,
            path: Arc::new(path.into()),
            offset,
            last_empty: false,
            buf: Vec::new(),
        }
    }

    /// Whether the last block read was empty, as the end-of-file marker is.
    pub fn last_was_eof(&self) -> bool {
        self.last_empty
    }

    /// Compressed offset of the next block.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends the next whole block to `out`; `None` at the end of input.
    pub fn read_into(&mut self, out: &mut Vec<u8>) -> Result<Option<Frame>> {
        let start = out.len();
        match self.read_frame(out, start) {
            Ok(Some(f)) => {
                self.last_empty = f.isize == 0;
                self.offset += f.len as u64;
                Ok(Some(f))
            }
            Ok(None) => Ok(None),
            Err(e) => {
                out.truncate(start);
                Err(e)
            }
        }
    }

    /// The next block; `None` at the end of input.
    pub fn next_block(&mut self) -> Result<Option<Block<'_>>> {
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        let r = self.read_into(&mut buf);
        self.buf = buf;
        Ok(r?.map(|f| Block::new(&self.buf, f)))
    }

    fn read_frame(&mut self, out: &mut Vec<u8>, start: usize) -> Result<Option<Frame>> {
        let bad = |e: BlockError| block_error(&self.path, self.offset, e);
        let io = |e| Error::io(self.path.as_path(), e);
        out.resize(start + 12, 0);
        let n = read_full(&mut self.reader, &mut out[start..]).map_err(io)?;
        if n == 0 {
            out.truncate(start);
            return Ok(None);
        }
        if n < 12 {
            return Err(bad(BlockError::ShortHeader));
        }
        let xlen = fixed_header(&out[start..]).map_err(bad)?;
        out.resize(start + 12 + xlen, 0);
        if read_full(&mut self.reader, &mut out[start + 12..]).map_err(io)? < xlen {
            return Err(bad(BlockError::ShortHeader));
        }
        let len = block_len(xlen, &out[start + 12..]).map_err(bad)?;
        out.resize(start + len, 0);
        if read_full(&mut self.reader, &mut out[start + 12 + xlen..]).map_err(io)? < len - 12 - xlen
        {
            return Err(bad(BlockError::ShortBlock));
        }
        let (crc, isize) = trailer(&out[start + len - 8..]).map_err(bad)?;
        Ok(Some(Frame {
            coffset: self.offset,
            start,
            len,
            header_len: 12 + xlen,
            isize,
            crc,
        }))
    }
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

/// A cursor over the decompressed stream that hands out contiguous byte ranges, copying only the
/// few that straddle two batches.
pub struct ByteCursor {
    stream: BgzfStream,
    cur: Vec<u8>,
    /// Where `cur`'s blocks start: compressed offset in the file, first byte in `cur`.
    blocks: Vec<(u64, usize)>,
    pos: usize,
    pending: Vec<u8>,
    path: PathBuf,
}

impl ByteCursor {
    pub fn new(stream: BgzfStream, path: PathBuf) -> Self {
        ByteCursor {
            stream,
            cur: Vec::new(),
            blocks: Vec::new(),
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
                Some(b) => self.take(b),
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

    fn take(&mut self, b: Batch) {
        let old = std::mem::replace(&mut self.cur, b.data);
        if old.capacity() > 0 {
            self.stream.give_back(old);
        }
        self.blocks = b.blocks;
        self.pos = 0;
    }

    /// Moves forward to virtual offset (`coffset`, `within`) inside the stream already running,
    /// when that lies ahead of the current position and at most [`SEEK_AHEAD`] compressed bytes
    /// on. Returns false, having moved nowhere or only past data it skipped, where it cannot:
    /// the caller then opens a new stream there. Reading one contig after another through the
    /// index (many tiny contigs) thus inflates each block once, not a read-ahead per contig.
    pub fn seek_ahead(&mut self, coffset: u64, within: usize) -> Result<bool> {
        if !self.pending.is_empty() {
            return Ok(false);
        }
        loop {
            let Some(&(first, _)) = self.blocks.first() else {
                return Ok(false);
            };
            let &(last, _) = self.blocks.last().unwrap_or(&(first, 0));
            if coffset < first {
                return Ok(false);
            }
            if coffset <= last {
                let Ok(i) = self.blocks.binary_search_by_key(&coffset, |b| b.0) else {
                    // Not a block start: a damaged index; reopening reports it.
                    return Ok(false);
                };
                let start = self.blocks[i].1;
                let end = self.blocks.get(i + 1).map_or(self.cur.len(), |b| b.1);
                let to = start + within;
                if to > end || to < self.pos {
                    return Ok(false);
                }
                self.pos = to;
                return Ok(true);
            }
            if coffset - last > SEEK_AHEAD {
                return Ok(false);
            }
            match self.stream.next_batch()? {
                Some(b) => self.take(b),
                None => return Ok(false),
            }
        }
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

/// What a [`BgzfWriter`] tells an index about each record written through it. The writer
/// knows virtual offsets; how they are binned and stored (CSI, tabix) is the index's business,
/// so this module does not depend on any index format.
pub trait RecordIndex {
    /// One record spanning `[beg, end)` of contig `tid`, stored between two virtual offsets.
    fn push(&mut self, tid: u32, beg: u64, end: u64, vstart: u64, vend: u64);
}

/// A BGZF writer that compresses full blocks in parallel and, optionally, indexes the records
/// written through it.
pub struct BgzfWriter<W: Write, I: RecordIndex> {
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
    index: Option<I>,
}

impl<W: Write, I: RecordIndex> BgzfWriter<W, I> {
    pub fn new(out: W, level: i32, pool: Arc<rayon::ThreadPool>, index: Option<I>) -> Self {
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

    /// The index being built, if any.
    pub fn index_mut(&mut self) -> Option<&mut I> {
        self.index.as_mut()
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
        // One block (a contig's end, with many tiny contigs): no pool round trip.
        let blocks: Vec<Vec<u8>> = if full <= BLOCK_DATA_SIZE {
            let mut b = Vec::new();
            compress_block_into(data, level, &mut b);
            vec![b]
        } else {
            self.pool.install(|| {
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
            })
        };
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
    pub fn finish(mut self) -> std::io::Result<(W, Option<I>)> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn text(n: usize) -> Vec<u8> {
        (0..n).map(|i| b"ACGT\n"[i % 5]).collect()
    }

    #[test]
    fn slice_and_stream_walks_agree_and_inflate_to_the_input() {
        let input = text(3 * BLOCK_DATA_SIZE + 1000);
        let gz = compress_all(&input, 1);
        let path = Path::new("x.gz");
        let from_slice: Vec<(u64, Vec<u8>, usize)> = blocks(&gz, path)
            .map(|b| b.map(|b| (b.coffset, b.raw.to_vec(), b.isize())))
            .collect::<Result<_>>()
            .unwrap();
        assert_eq!(from_slice.len(), 5, "four data blocks and the EOF marker");
        assert_eq!(from_slice.last().unwrap().1, EOF_BLOCK);
        let mut r = BlockReader::new(&gz[..], path, 0);
        let mut from_stream = Vec::new();
        while let Some(b) = r.next_block().unwrap() {
            from_stream.push((b.coffset, b.raw.to_vec(), b.isize()));
        }
        assert_eq!(from_slice, from_stream);
        assert!(r.last_was_eof());
        assert_eq!(r.offset(), gz.len() as u64);
        assert_eq!(inflate(&gz, path).unwrap(), input);
    }

    #[test]
    fn damage_is_named_with_the_file_and_the_block() {
        let gz = compress_all(&text(2 * BLOCK_DATA_SIZE), 1);
        let path = Path::new("x.gz");
        let second = blocks(&gz, path).nth(1).unwrap().unwrap().coffset;
        let msg = |data: &[u8]| inflate(data, path).unwrap_err().to_string();
        let cut = msg(&gz[..second as usize + 30]);
        assert!(cut.starts_with("x.gz: file ends inside a block"), "{cut}");
        assert!(
            cut.contains(&format!("BGZF block at byte {second}")),
            "{cut}"
        );
        assert!(cut.contains("truncated"), "{cut}");
        let mut bad = gz.clone();
        bad[second as usize] = 0;
        assert!(msg(&bad).contains("not a BGZF block"));
        // A wrong CRC: the data inflates but is not what was written.
        let mut bad = gz.clone();
        let crc_at = second as usize - 8;
        bad[crc_at] ^= 1;
        assert!(msg(&bad).contains("fails its CRC check (BGZF block at byte 0)"));
        // The stream reader says the same, and a missing marker is seen.
        let mut r = BlockReader::new(&gz[..second as usize + 30], path, 0);
        assert!(r.next_block().unwrap().is_some());
        assert_eq!(r.next_block().unwrap_err().to_string(), cut);
        let mut r = BlockReader::new(&gz[..gz.len() - EOF_BLOCK.len()], path, 0);
        while r.next_block().unwrap().is_some() {}
        assert!(!r.last_was_eof());
    }
}
