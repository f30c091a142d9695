//! Input and output formats. Each format lives in its own module; stages see alignments only
//! through the [`Alignment`] trait, so BAM and CRAM feed the same code.

pub mod atomic;
pub mod bam;
pub mod bed;
pub mod bgzf;
pub mod cram;
pub mod csi;
pub mod fasta;
pub mod index;
pub mod vcf;
pub mod vcf_reader;

use std::path::Path;
use std::sync::Arc;

use crate::error::{Error, Result};

/// Finds items by name in O(log n) without copying the names: their positions sorted by name
/// (4 bytes per item). With repeated names the first in order is found, as a linear scan would.
#[derive(Clone, Debug, Default)]
pub struct NameIndex {
    order: Vec<u32>,
}

impl NameIndex {
    pub fn new<T>(items: &[T], key: impl Fn(&T) -> &str) -> Self {
        let mut order: Vec<u32> = (0..items.len() as u32).collect();
        // Stable, so equal names keep their order and the first comes first.
        order.sort_by(|&a, &b| key(&items[a as usize]).cmp(key(&items[b as usize])));
        NameIndex { order }
    }

    /// The position of `name` in `items` (the slice this index was built from).
    pub fn find<T>(&self, items: &[T], key: impl Fn(&T) -> &str, name: &str) -> Option<usize> {
        let i = self
            .order
            .partition_point(|&j| key(&items[j as usize]) < name);
        let j = *self.order.get(i)? as usize;
        (key(items.get(j)?) == name).then_some(j)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reference {
    pub name: String,
    pub len: u64,
}

impl Reference {
    /// The key of a [`NameIndex`] over references.
    pub fn name_of(&self) -> &str {
        &self.name
    }
}

#[derive(Clone, Debug, Default)]
pub struct Header {
    pub text: String,
    pub refs: Vec<Reference>,
    /// Built at the first lookup by name.
    names: std::sync::OnceLock<NameIndex>,
}

impl Header {
    pub fn new(text: String, refs: Vec<Reference>) -> Self {
        Header {
            text,
            refs,
            names: Default::default(),
        }
    }

    /// The index of contig `name`, in O(log n) (a header can list millions).
    pub fn tid(&self, name: &str) -> Option<usize> {
        self.names
            .get_or_init(|| NameIndex::new(&self.refs, Reference::name_of))
            .find(&self.refs, Reference::name_of, name)
    }

    /// Sample name: the first `@RG SM:` of the header, else the file name without `.bam` or
    /// `.cram`.
    pub fn sample_name(&self, path: &Path) -> String {
        let sm = self
            .text
            .lines()
            .filter(|l| l.starts_with("@RG"))
            .flat_map(|l| l.split('\t'))
            .filter_map(|f| f.strip_prefix("SM:"))
            .find(|s| !s.is_empty());
        if let Some(s) = sm {
            return s.to_string();
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "sample".into());
        name.strip_suffix(".bam")
            .or_else(|| name.strip_suffix(".cram"))
            .unwrap_or(&name)
            .to_string()
    }
}

/// One CIGAR operation, `op` as its SAM letter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CigarOp {
    pub op: u8,
    pub len: u32,
}

const BAM_OPS: &[u8; 16] = b"MIDNSHP=X???????";

impl CigarOp {
    #[inline]
    pub fn from_bam(v: u32) -> Self {
        CigarOp {
            op: BAM_OPS[(v & 0xf) as usize],
            len: v >> 4,
        }
    }
    #[inline]
    pub fn consumes_ref(&self) -> bool {
        matches!(self.op, b'M' | b'D' | b'N' | b'=' | b'X')
    }
    #[inline]
    pub fn consumes_query(&self) -> bool {
        matches!(self.op, b'M' | b'I' | b'S' | b'=' | b'X')
    }
}

/// The fields of an aligned read that analyses use, decoded on demand.
pub trait Alignment {
    fn ref_id(&self) -> i32;
    /// 0-based leftmost position.
    fn pos(&self) -> i64;
    fn mapq(&self) -> u8;
    fn flag(&self) -> u16;
    fn next_ref_id(&self) -> i32;
    fn next_pos(&self) -> i64;
    /// Signed observed template length (TLEN).
    fn template_length(&self) -> i64;
    fn read_name(&self) -> &[u8];
    fn n_cigar(&self) -> usize;
    fn for_each_cigar(&self, f: impl FnMut(CigarOp));
    fn read_group(&self) -> Option<&[u8]>;

    // The four accessors below default to "absent" so that test doubles need not provide them.

    /// Length of the stored read sequence (0 when the record carries none, `SEQ = *`).
    fn seq_len(&self) -> usize {
        0
    }
    /// Appends the read's bases as uppercase ASCII (`ACGTN...`) to `out`; nothing when the
    /// record carries no sequence. Decoded on demand: stages that never call it pay nothing.
    fn seq_into(&self, out: &mut Vec<u8>) {
        let _ = out;
    }
    /// Appends the base qualities (phred, not +33) to `out`; 0xff bytes when they are missing.
    fn qual_into(&self, out: &mut Vec<u8>) {
        let _ = out;
    }
    /// The value of optional field `tag`, if present.
    fn aux(&self, tag: [u8; 2]) -> Option<AuxValue<'_>> {
        let _ = tag;
        None
    }
    /// The bases as BAM stores them (4-bit codes, two a byte, high nibble first), where the
    /// record holds them so; `None` otherwise.
    fn packed_seq(&self) -> Option<&[u8]> {
        None
    }
    /// The record's BAM bytes (after its length), which [`bam::BamRecord::decode`] reads
    /// again, where it is a BAM record; `None` otherwise. Lets a record travel to another
    /// thread as bytes.
    fn bam_bytes(&self) -> Option<&[u8]> {
        None
    }

    /// The read's bases as a new vector (see [`Alignment::seq_into`]).
    fn seq(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.seq_len());
        self.seq_into(&mut v);
        v
    }
    /// The base qualities as a new vector (see [`Alignment::qual_into`]).
    fn qual(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.seq_len());
        self.qual_into(&mut v);
        v
    }
    /// A string-typed (`Z`) optional field, e.g. `SA`, `MD`.
    fn aux_str(&self, tag: [u8; 2]) -> Option<&[u8]> {
        match self.aux(tag)? {
            AuxValue::Str(s) => Some(s),
            _ => None,
        }
    }
    /// An integer-typed optional field, e.g. `NM`, `AS`.
    fn aux_int(&self, tag: [u8; 2]) -> Option<i64> {
        match self.aux(tag)? {
            AuxValue::Int(v) => Some(v),
            _ => None,
        }
    }

    /// End position as htslib's `bam_endpos` defines it: unmapped reads and reads without
    /// reference-consuming operations span one base.
    fn end_pos(&self) -> i64 {
        let mut rlen = 0i64;
        if self.flag() & bam::FLAG_UNMAPPED == 0 {
            self.for_each_cigar(|c| {
                if c.consumes_ref() {
                    rlen += c.len as i64;
                }
            });
        }
        self.pos() + rlen.max(1)
    }
}

/// The value of one optional field. Arrays (`B`) are not decoded: no stage needs them yet.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum AuxValue<'a> {
    /// `A` (one printable character).
    Char(u8),
    /// Any integer type (`cCsSiI`).
    Int(i64),
    Float(f32),
    /// `Z` or `H` text, without the terminating NUL.
    Str(&'a [u8]),
    /// An array (`B`), left undecoded.
    Array,
}

/// BAM's 4-bit base codes as ASCII.
pub const SEQ_NT16: &[u8; 16] = b"=ACMGRSVTWYHKDBN";

/// What a stage reads of each record, so that CRAM decodes nothing else. Every set includes
/// the reference id, position, flag, MAPQ, CIGAR, name, mate fields and read group.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Fields {
    /// Nothing more (coverage).
    #[default]
    Positions,
    /// Plus bases and the stored optional fields, without qualities, and without the `MD`/`NM`
    /// tags a CRAM leaves to be rebuilt from the reference (sv: inserted bases and `SA`).
    SeqTags,
    /// Everything, `MD`/`NM` rebuilt where the CRAM left them out (call: bases, qualities, `NM`).
    Full,
}

/// Callback for [`AlignmentReader::visit`]: called for each record in file order.
pub trait Visitor {
    /// Returns false to stop reading.
    fn record<A: Alignment>(&mut self, rec: &A) -> Result<bool>;
}

/// A BAM or CRAM file, chosen by its content. Analyses reach it through the input layer
/// (`crate::input`), which seeks, checks order and counts.
pub enum AlignmentReader {
    Bam(bam::BamReader, Arc<rayon::ThreadPool>),
    Cram(cram::CramReader),
}

impl AlignmentReader {
    /// Opens `path` and reads its header; `reference` is required for CRAM.
    pub fn open(
        path: &Path,
        reference: Option<&Path>,
        pool: Arc<rayon::ThreadPool>,
    ) -> Result<Self> {
        match sniff(path)? {
            Kind::Bam => Ok(AlignmentReader::Bam(
                bam::BamReader::open(path, pool.clone())?,
                pool,
            )),
            Kind::Cram => {
                let reference = reference.ok_or_else(|| {
                    Error::format(
                        path,
                        "CRAM needs its reference: give it with -f/--fasta (or set REF_PATH)",
                    )
                })?;
                Ok(AlignmentReader::Cram(cram::CramReader::open(
                    path, reference, pool,
                )?))
            }
        }
    }

    pub fn is_cram(&self) -> bool {
        matches!(self, AlignmentReader::Cram(_))
    }

    /// BAM: goes on at virtual offset `voffset` (from the BAI/CSI).
    pub fn seek_bam(&mut self, voffset: u64) -> Result<()> {
        match self {
            AlignmentReader::Bam(r, pool) => r.seek(voffset, pool.clone()),
            AlignmentReader::Cram(_) => Ok(()),
        }
    }

    /// CRAM: goes on with contig `tid` only, through the `.crai` at `crai`.
    /// CRAM: reads contigs `tids` (ascending) through one iterator (see
    /// [`cram::CramReader::seek_to_contigs`]).
    pub fn seek_cram_contigs(&mut self, crai: &Path, tids: &[usize]) -> Result<()> {
        match self {
            AlignmentReader::Bam(..) => Ok(()),
            AlignmentReader::Cram(r) => r.seek_to_contigs(crai, tids),
        }
    }

    pub fn seek_cram(&mut self, crai: &Path, tid: usize) -> Result<()> {
        match self {
            AlignmentReader::Bam(..) => Ok(()),
            AlignmentReader::Cram(r) => r.seek_to_contig(crai, tid),
        }
    }

    /// The fields a stage reads. CRAM decodes only these (the default is
    /// [`Fields::Positions`]), so coverage-like stages keep their speed; BAM decodes every
    /// field lazily in any case. Set before the first record is read.
    pub fn set_fields(&mut self, fields: Fields) {
        if let AlignmentReader::Cram(r) = self {
            r.fields = fields;
        }
    }

    pub fn header(&self) -> &Arc<Header> {
        match self {
            AlignmentReader::Bam(r, _) => &r.header,
            AlignmentReader::Cram(r) => &r.header,
        }
    }

    /// Feeds records in file order to `v` until it returns false or the file ends.
    pub fn visit<V: Visitor>(&mut self, v: &mut V) -> Result<()> {
        match self {
            AlignmentReader::Bam(r, _) => {
                while let Some(rec) = r.next_record()? {
                    if !v.record(&rec)? {
                        break;
                    }
                }
                Ok(())
            }
            AlignmentReader::Cram(r) => r.visit(v),
        }
    }
}

enum Kind {
    Bam,
    Cram,
}

fn sniff(path: &Path) -> Result<Kind> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut magic = [0u8; 4];
    let n = f.read(&mut magic).map_err(|e| Error::io(path, e))?;
    if n == 4 && &magic == b"CRAM" {
        Ok(Kind::Cram)
    } else if n >= 2 && magic[0] == 0x1f && magic[1] == 0x8b {
        Ok(Kind::Bam)
    } else {
        Err(Error::format(path, "not a BAM or CRAM file"))
    }
}
