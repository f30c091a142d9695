//! CRAM input through htslib (the copy bundled by rust-htslib), mapped onto [`Alignment`].
//!
//! htslib is asked only for the fields a stage reads (`CRAM_OPT_REQUIRED_FIELDS`, as mosdepth
//! does), so coverage never decodes sequences, qualities or tags. Each decoded record is laid
//! out as a BAM record and read through [`BamRecord`], so CRAM and BAM share one accessor code.
//!
//! rust-htslib's `Reader` is not used: it takes some negative `sam_read1` results for success
//! and unwraps on non-UTF-8 paths; the few calls needed are made here directly.

use std::collections::HashMap;
use std::ffi::CString;
use std::os::raw::c_int;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Once};

use rust_htslib::htslib as hts;

use crate::error::{Error, Result};
use crate::io::bam::BamRecord;
use crate::io::fasta::FastaReader;
use crate::io::{CigarOp, Fields, Header, Reference, Visitor};

/// htslib's `HTS_POS_MAX`: an iterator to the end of a contig.
const HTS_POS_MAX: i64 = ((i32::MAX as i64) << 32) | i32::MAX as i64;

/// Fields every stage reads: coverage's overlap correction needs the mate fields and the name,
/// `-R` the read group (stored as a record field in CRAM, so `RGAUX` costs no tag decoding).
const CORE_FIELDS: u32 = hts::sam_fields_SAM_QNAME
    | hts::sam_fields_SAM_FLAG
    | hts::sam_fields_SAM_RNAME
    | hts::sam_fields_SAM_POS
    | hts::sam_fields_SAM_MAPQ
    | hts::sam_fields_SAM_CIGAR
    | hts::sam_fields_SAM_RNEXT
    | hts::sam_fields_SAM_PNEXT
    | hts::sam_fields_SAM_TLEN
    | hts::sam_fields_SAM_RGAUX;

/// sv reads bases and `SA`, never qualities.
const SEQ_TAG_FIELDS: u32 = CORE_FIELDS | hts::sam_fields_SAM_SEQ | hts::sam_fields_SAM_AUX;

/// call reads bases, qualities and `NM`.
const FULL_FIELDS: u32 = SEQ_TAG_FIELDS | hts::sam_fields_SAM_QUAL;

/// What htslib is asked to decode for `f`, and whether it may rebuild `MD`/`NM` from the
/// reference (its default) (CRAM usually leaves them out; only call reads `NM`, and rebuilding walks
/// every base against the reference).
fn required_fields(f: Fields) -> (u32, bool) {
    match f {
        Fields::Positions => (CORE_FIELDS, false),
        Fields::SeqTags => (SEQ_TAG_FIELDS, false),
        Fields::Full => (FULL_FIELDS, true),
    }
}

/// The open htslib objects; freed in reverse order of creation.
struct Hts {
    fp: *mut hts::htsFile,
    hdr: *mut hts::sam_hdr_t,
    idx: *mut hts::hts_idx_t,
    itr: *mut hts::hts_itr_t,
    b: *mut hts::bam1_t,
}

impl Drop for Hts {
    fn drop(&mut self) {
        // SAFETY: each pointer is null or owned by this struct alone.
        unsafe {
            if !self.itr.is_null() {
                hts::hts_itr_destroy(self.itr);
            }
            if !self.idx.is_null() {
                hts::hts_idx_destroy(self.idx);
            }
            if !self.b.is_null() {
                hts::bam_destroy1(self.b);
            }
            if !self.hdr.is_null() {
                hts::sam_hdr_destroy(self.hdr);
            }
            if !self.fp.is_null() {
                hts::hts_close(self.fp);
            }
        }
    }
}

// SAFETY: the handles are used by one thread at a time (the reader's owner); htslib's own
// decoding threads are internal to it.
unsafe impl Send for Hts {}

pub struct CramReader {
    h: Hts,
    pub header: std::sync::Arc<Header>,
    path: PathBuf,
    /// The fields to decode (see [`Fields`]); set before reading starts.
    pub fields: Fields,
    threads: usize,
    started: bool,
    /// The current record laid out as a BAM record (without `block_size`).
    buf: Vec<u8>,
    n_records: u64,
}

fn c_path(path: &Path) -> Result<CString> {
    use std::os::unix::ffi::OsStrExt;
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| Error::format(path, "path contains a NUL byte"))
}

/// htslib writes its warnings and errors straight to stderr, several lines per failure; the
/// reader reports each failure itself in one line instead.
fn quiet_htslib() {
    static QUIET: Once = Once::new();
    // SAFETY: sets a global integer once.
    QUIET.call_once(|| unsafe { hts::hts_set_log_level(hts::htsLogLevel_HTS_LOG_OFF) });
}

impl CramReader {
    pub fn open(path: &Path, reference: &Path, pool: Arc<rayon::ThreadPool>) -> Result<Self> {
        // The reference check every input gets (a missing file, a link loop, a stale or
        // impossible `.fai` named as such), before htslib reads bases through it.
        let fasta = FastaReader::open(reference)?;
        let fai = {
            let mut s = reference.as_os_str().to_owned();
            s.push(".fai");
            PathBuf::from(s)
        };
        if !fai.is_file() {
            return Err(Error::format(
                reference,
                "reference FASTA has no .fai index; create one with `samtools faidx`",
            ));
        }
        let fai_len: HashMap<&str, u64> = fasta
            .contigs()
            .iter()
            .map(|e| (e.name.as_str(), e.len))
            .collect();
        quiet_htslib();
        let cpath = c_path(path)?;
        let cref = c_path(reference)?;
        let mut h = Hts {
            fp: std::ptr::null_mut(),
            hdr: std::ptr::null_mut(),
            idx: std::ptr::null_mut(),
            itr: std::ptr::null_mut(),
            b: std::ptr::null_mut(),
        };
        // SAFETY: plain htslib calls on pointers checked for null; `h` frees them on return.
        unsafe {
            h.fp = hts::hts_open(cpath.as_ptr(), c"r".as_ptr());
            if h.fp.is_null() {
                return Err(Error::io(path, std::io::Error::last_os_error()));
            }
            let fmt = hts::hts_get_format(h.fp);
            if fmt.is_null() || (*fmt).format != hts::htsExactFormat_cram {
                return Err(Error::format(path, "not a CRAM file htslib can read"));
            }
            h.hdr = hts::sam_hdr_read(h.fp);
            if h.hdr.is_null() {
                return Err(Error::format(path, "cannot read the CRAM header"));
            }
            h.b = hts::bam_init1();
            if h.b.is_null() {
                return Err(Error::format(path, "out of memory"));
            }
        }
        let header = read_header(&h, path)?;
        // htslib silently replaces a header length with the FASTA's (mosdepth then fails on
        // reads past the shorter end); a contig of two lengths means the wrong reference.
        for r in &header.refs {
            if let Some(&len) = fai_len.get(r.name.as_str()) {
                if len != r.len {
                    return Err(Error::format(
                        path,
                        format!(
                            "contig {} is {} bp in the CRAM header but {} bp in the reference {}; \
                             give the FASTA the CRAM was written against",
                            r.name,
                            r.len,
                            len,
                            reference.display()
                        ),
                    ));
                }
            }
        }
        // SAFETY: `fp` is open.
        if unsafe { hts::hts_set_fai_filename(h.fp, cref.as_ptr()) } != 0 {
            return Err(Error::format(
                reference,
                "htslib cannot use this FASTA as the CRAM reference",
            ));
        }
        Ok(CramReader {
            h,
            header: std::sync::Arc::new(header),
            path: path.to_path_buf(),
            fields: Fields::Positions,
            threads: pool.current_num_threads(),
            started: false,
            buf: Vec::new(),
            n_records: 0,
        })
    }

    /// Reading goes on with contig `tid` only, found through the `.crai` index `crai` (a
    /// contig it lists no container for has no records). May be called again for another
    /// contig; the fields to decode are fixed by then.
    pub fn seek_to_contig(&mut self, crai: &Path, tid: usize) -> Result<()> {
        if !self.started {
            self.start()?;
        }
        let cpath = c_path(&self.path)?;
        let ccrai = c_path(crai)?;
        // SAFETY: `fp` is open; the index and iterator are owned by `Hts`, which frees them.
        unsafe {
            if self.h.idx.is_null() {
                self.h.idx = hts::sam_index_load3(
                    self.h.fp,
                    cpath.as_ptr(),
                    ccrai.as_ptr(),
                    hts::HTS_IDX_SILENT_FAIL as c_int,
                );
                if self.h.idx.is_null() {
                    return Err(Error::format(crai, "cannot read the CRAM index"));
                }
            }
            if !self.h.itr.is_null() {
                hts::hts_itr_destroy(self.h.itr);
                self.h.itr = std::ptr::null_mut();
            }
            self.h.itr = hts::sam_itr_queryi(self.h.idx, tid as c_int, 0, HTS_POS_MAX);
            if self.h.itr.is_null() {
                return Err(Error::format(
                    crai,
                    format!(
                        "cannot seek to contig {} with the CRAM index",
                        self.header.refs.get(tid).map_or("?", |r| r.name.as_str())
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Reads the records of contigs `tids` (ascending) through one multi-region iterator:
    /// htslib merges their containers, so a container that holds many (tiny) contigs is decoded
    /// once, not once per contig.
    pub fn seek_to_contigs(&mut self, crai: &Path, tids: &[usize]) -> Result<()> {
        self.seek_to_contig(crai, tids.first().copied().unwrap_or(0))?;
        // Regions by name in braces (names may hold ':'), with their end: htslib finds the end
        // of an open-ended region by walking the index to the end of the file, once per region.
        let regions: Vec<std::ffi::CString> = tids
            .iter()
            .filter_map(|&t| self.header.refs.get(t))
            .filter_map(|r| {
                std::ffi::CString::new(format!("{{{}}}:1-{}", r.name, r.len.max(1))).ok()
            })
            .collect();
        let mut ptrs: Vec<*mut std::os::raw::c_char> =
            regions.iter().map(|c| c.as_ptr().cast_mut()).collect();
        // SAFETY: `idx` was loaded by `seek_to_contig`; the strings outlive the call, which
        // copies what it needs; the old iterator is destroyed once.
        unsafe {
            if !self.h.itr.is_null() {
                hts::hts_itr_destroy(self.h.itr);
                self.h.itr = std::ptr::null_mut();
            }
            self.h.itr =
                hts::sam_itr_regarray(self.h.idx, self.h.hdr, ptrs.as_mut_ptr(), ptrs.len() as _);
        }
        if self.h.itr.is_null() {
            return Err(Error::format(
                crai,
                "cannot seek to the chosen contigs with the CRAM index",
            ));
        }
        Ok(())
    }

    /// Options go in before the first container is decoded: htslib reads them per container.
    fn start(&mut self) -> Result<()> {
        self.started = true;
        let (fields, decode_md) = required_fields(self.fields);
        // SAFETY: `fp` is open; `hts_set_opt` reads an `int` for both options.
        unsafe {
            if hts::hts_set_opt(
                self.h.fp,
                hts::hts_fmt_option_CRAM_OPT_REQUIRED_FIELDS,
                fields as c_int,
            ) != 0
                || (!decode_md
                    && hts::hts_set_opt(self.h.fp, hts::hts_fmt_option_CRAM_OPT_DECODE_MD, 0) != 0)
            {
                return Err(Error::format(&self.path, "htslib refused the CRAM options"));
            }
            // One thread decodes in line; more are htslib's own pool.
            if self.threads > 1 && hts::hts_set_threads(self.h.fp, self.threads as c_int) != 0 {
                return Err(Error::format(
                    &self.path,
                    "htslib cannot start its decoding threads",
                ));
            }
        }
        Ok(())
    }

    /// Feeds records in file order (or the indexed contig's records) to `v`.
    pub fn visit<V: Visitor>(&mut self, v: &mut V) -> Result<()> {
        if !self.started {
            self.start()?;
        }
        loop {
            // SAFETY: `fp`, `hdr` and `b` are live; `itr` is null or belongs to `fp`.
            let ret = unsafe {
                if self.h.itr.is_null() {
                    hts::sam_read1(self.h.fp, self.h.hdr, self.h.b)
                } else if (*self.h.itr).multi() != 0 {
                    hts::hts_itr_multi_next(self.h.fp, self.h.itr, self.h.b.cast())
                } else {
                    hts::hts_itr_next(
                        std::ptr::null_mut(),
                        self.h.itr,
                        self.h.b.cast(),
                        self.h.fp.cast(),
                    )
                }
            };
            if ret == -1 {
                return Ok(());
            }
            if ret < -1 {
                return Err(self.decode_error());
            }
            self.n_records += 1;
            // SAFETY: htslib filled `b` (its data holds `l_data` bytes).
            let b = unsafe { &*self.h.b };
            let data: &[u8] = if b.data.is_null() || b.l_data <= 0 {
                &[]
            } else {
                unsafe { std::slice::from_raw_parts(b.data, b.l_data as usize) }
            };
            if let Err(what) = to_bam_layout(&b.core, data, &mut self.buf) {
                return Err(self.corrupt(what));
            }
            let Some(rec) = BamRecord::parse(&self.buf) else {
                return Err(self.corrupt("record fields are inconsistent"));
            };
            if !v.record(&rec)? {
                return Ok(());
            }
        }
    }

    fn decode_error(&self) -> Error {
        Error::format(
            &self.path,
            format!(
                "cannot decode CRAM data after record #{}: the file is damaged or truncated, \
                 or the reference does not match it",
                self.n_records
            ),
        )
    }

    fn corrupt(&self, what: &str) -> Error {
        Error::format(
            &self.path,
            format!("corrupt CRAM record #{}: {what}", self.n_records),
        )
    }
}

fn read_header(h: &Hts, path: &Path) -> Result<Header> {
    // SAFETY: `hdr` is a live header; names and text are NUL-terminated strings it owns.
    unsafe {
        let n = hts::sam_hdr_nref(h.hdr);
        let mut refs = Vec::with_capacity(n.max(0) as usize);
        for tid in 0..n {
            let name = hts::sam_hdr_tid2name(h.hdr, tid);
            let len = hts::sam_hdr_tid2len(h.hdr, tid);
            if name.is_null() || len < 0 {
                return Err(Error::format(
                    path,
                    format!("corrupt CRAM header: reference #{tid}"),
                ));
            }
            refs.push(Reference {
                name: std::ffi::CStr::from_ptr(name)
                    .to_string_lossy()
                    .into_owned(),
                len: len as u64,
            });
        }
        let text = hts::sam_hdr_str(h.hdr);
        let text = if text.is_null() {
            String::new()
        } else {
            std::ffi::CStr::from_ptr(text)
                .to_string_lossy()
                .into_owned()
        };
        Ok(Header::new(text, refs))
    }
}

/// Lays out htslib's in-memory record as a BAM file record (without `block_size`), the form
/// [`BamRecord`] reads. A CIGAR of over 65535 operations goes to a `CG` tag, as in BAM.
fn to_bam_layout(
    c: &hts::bam1_core_t,
    data: &[u8],
    out: &mut Vec<u8>,
) -> std::result::Result<(), &'static str> {
    let l_qname = c.l_qname as usize;
    let name_len = l_qname
        .checked_sub(c.l_extranul as usize)
        .ok_or("bad read name length")?;
    let n_cigar = c.n_cigar as usize;
    let l_seq = usize::try_from(c.l_qseq).map_err(|_| "negative sequence length")?;
    let cigar_end = l_qname + 4 * n_cigar;
    let seq_end = cigar_end + l_seq.div_ceil(2) + l_seq;
    if seq_end > data.len() || name_len > 255 {
        return Err("record fields are inconsistent with its length");
    }
    let i32_of = |v: i64| i32::try_from(v).map_err(|_| "position beyond 2^31 (not supported)");
    let (pos, mpos, tlen) = (i32_of(c.pos)?, i32_of(c.mpos)?, i32_of(c.isize_)?);
    let cigar = &data[l_qname..cigar_end];
    let long = n_cigar > 0xffff;
    // The placeholder `<l_seq>S` must hold l_seq in 28 bits to be recognised.
    if long && l_seq >= 1 << 28 {
        return Err("read too long for a CIGAR of over 65535 operations");
    }
    out.clear();
    out.extend_from_slice(&c.tid.to_le_bytes());
    out.extend_from_slice(&pos.to_le_bytes());
    // An absent name (none decoded) is stored as "*", as htslib prints it.
    let name: &[u8] = if name_len <= 1 {
        b"*\0"
    } else {
        &data[..name_len]
    };
    out.push(name.len() as u8);
    out.push(c.qual);
    out.extend_from_slice(&c.bin.to_le_bytes());
    out.extend_from_slice(&(if long { 2u16 } else { n_cigar as u16 }).to_le_bytes());
    out.extend_from_slice(&c.flag.to_le_bytes());
    out.extend_from_slice(&c.l_qseq.to_le_bytes());
    out.extend_from_slice(&c.mtid.to_le_bytes());
    out.extend_from_slice(&mpos.to_le_bytes());
    out.extend_from_slice(&tlen.to_le_bytes());
    out.extend_from_slice(name);
    if name.last() != Some(&0) {
        return Err("read name is not NUL-terminated");
    }
    if long {
        let ref_len: u64 = cigar
            .chunks_exact(4)
            .map(|b| CigarOp::from_bam(u32::from_le_bytes([b[0], b[1], b[2], b[3]])))
            .filter(|op| op.consumes_ref())
            .map(|op| op.len as u64)
            .sum();
        let ref_len = u32::try_from(ref_len).map_err(|_| "CIGAR spans over 2^32 bases")?;
        out.extend_from_slice(&(((l_seq as u32) << 4) | 4).to_le_bytes());
        out.extend_from_slice(&((ref_len << 4) | 3).to_le_bytes());
    } else {
        out.extend_from_slice(cigar);
    }
    out.extend_from_slice(&data[cigar_end..]);
    if long {
        out.extend_from_slice(b"CGBI");
        out.extend_from_slice(&(n_cigar as u32).to_le_bytes());
        out.extend_from_slice(cigar);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::Alignment;

    fn core(n_cigar: u32, l_qseq: i32, l_qname: u16) -> hts::bam1_core_t {
        hts::bam1_core_t {
            pos: 10,
            tid: 0,
            bin: 4680,
            qual: 60,
            l_extranul: 0,
            flag: 0,
            l_qname,
            n_cigar,
            l_qseq,
            mtid: -1,
            mpos: -1,
            isize_: 0,
        }
    }

    #[test]
    fn a_cigar_over_65535_ops_goes_to_a_cg_tag() {
        let n = 70_000u32;
        let mut data = b"r\0".to_vec();
        for i in 0..n {
            // Alternating 1M / 1I: 35000 reference bases, 70000 query bases.
            let op: u32 = if i % 2 == 0 { 1 << 4 } else { (1 << 4) | 1 };
            data.extend_from_slice(&op.to_le_bytes());
        }
        let l_seq = 70_000usize;
        data.extend(std::iter::repeat_n(0x11u8, l_seq.div_ceil(2)));
        data.extend(std::iter::repeat_n(30u8, l_seq));
        let mut out = Vec::new();
        to_bam_layout(&core(n, l_seq as i32, 2), &data, &mut out).unwrap();
        let rec = BamRecord::parse(&out).unwrap();
        assert_eq!(rec.n_cigar(), n as usize);
        assert_eq!(rec.end_pos(), 10 + 35_000);
        assert_eq!(rec.seq_len(), l_seq);
        assert_eq!(rec.read_name(), b"r");
    }

    #[test]
    fn a_record_shorter_than_its_fields_is_refused() {
        let data = b"r\0".to_vec();
        let mut out = Vec::new();
        assert!(to_bam_layout(&core(3, 0, 2), &data, &mut out).is_err());
    }
}
