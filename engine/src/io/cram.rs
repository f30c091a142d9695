//! CRAM input through noodles (decoding needs the reference), mapped onto [`Alignment`].

use std::collections::VecDeque;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crossbeam_channel::{bounded, Receiver};

use noodles::cram;
use noodles::fasta;
use noodles::sam;
use noodles::sam::alignment::record::cigar::op::Kind;
use noodles::sam::alignment::record::data::field::{Tag, Value};

use crate::error::{Error, Result};
use crate::io::{Alignment, AuxValue, CigarOp, Header, Reference, Visitor};

pub struct CramReader {
    inner: cram::io::Reader<File>,
    sam_header: Arc<sam::Header>,
    repo: fasta::Repository,
    pool: Arc<rayon::ThreadPool>,
    pub header: Header,
    path: PathBuf,
    /// Copy sequences, qualities and optional fields too (see `AlignmentReader::want_full_records`).
    pub full_records: bool,
    /// Nothing left to read (a contig the index lists no container for).
    exhausted: bool,
}

/// Containers decoded ahead of the consumer.
const CONTAINERS_IN_FLIGHT: usize = 4;

type Decoded = std::result::Result<Vec<OwnedAlignment>, String>;

impl CramReader {
    pub fn open(path: &Path, reference: &Path, pool: Arc<rayon::ThreadPool>) -> Result<Self> {
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
        let repo = fasta::io::indexed_reader::Builder::default()
            .build_from_path(reference)
            .map(fasta::repository::adapters::IndexedReader::new)
            .map(fasta::Repository::new)
            .map_err(|e| Error::io(reference, e))?;
        let mut inner = cram::io::reader::Builder::default()
            .set_reference_sequence_repository(repo.clone())
            .build_from_path(path)
            .map_err(|e| Error::io(path, e))?;
        let sam_header = inner
            .read_header()
            .map_err(|e| Error::format(path, format!("cannot read CRAM header: {e}")))?;
        let refs = sam_header
            .reference_sequences()
            .iter()
            .map(|(name, rs)| Reference {
                name: name.to_string(),
                len: usize::from(rs.length()) as u64,
            })
            .collect();
        Ok(CramReader {
            inner,
            sam_header: Arc::new(sam_header),
            repo,
            pool,
            header: Header {
                text: String::new(),
                refs,
            },
            path: path.to_path_buf(),
            full_records: false,
            exhausted: false,
        })
    }

    /// Moves to the first container holding records of contig `tid`, as the `.crai` index
    /// `crai` lists them; a contig it lists none for has no records. Records of earlier
    /// contigs can still come first (containers may span contigs): readers skip them.
    pub fn seek_to_contig(&mut self, crai: &Path, tid: usize) -> Result<()> {
        let index = cram::crai::fs::read(crai)
            .map_err(|e| Error::format(crai, format!("cannot read CRAM index: {e}")))?;
        let first = index
            .iter()
            .filter(|r| r.reference_sequence_id() == Some(tid))
            .map(|r| r.offset())
            .min();
        match first {
            Some(offset) => {
                self.inner
                    .seek(std::io::SeekFrom::Start(offset))
                    .map_err(|e| Error::io(&self.path, e))?;
            }
            None => self.exhausted = true,
        }
        Ok(())
    }

    /// Containers are read in order here and decoded in parallel on the pool, a few ahead.
    pub fn visit<V: Visitor>(&mut self, v: &mut V) -> Result<()> {
        let mut inflight: VecDeque<Receiver<Decoded>> = VecDeque::new();
        let mut eof = self.exhausted;
        loop {
            while !eof && inflight.len() < CONTAINERS_IN_FLIGHT {
                let mut container = cram::io::reader::Container::default();
                let n = self.inner.read_container(&mut container).map_err(|e| {
                    Error::format(&self.path, format!("cannot read CRAM container: {e}"))
                })?;
                if n == 0 {
                    eof = true;
                    break;
                }
                let (tx, rx) = bounded(1);
                let header = self.sam_header.clone();
                let repo = self.repo.clone();
                let full = self.full_records;
                self.pool.spawn(move || {
                    let _ = tx.send(
                        decode_container(&container, &header, repo, full)
                            .map_err(|e| e.to_string()),
                    );
                });
                inflight.push_back(rx);
            }
            let Some(rx) = inflight.pop_front() else {
                return Ok(());
            };
            let records = rx
                .recv()
                .map_err(|_| Error::format(&self.path, "CRAM decoding stopped unexpectedly"))?
                .map_err(|e| {
                    Error::format(&self.path, format!("cannot decode CRAM record: {e}"))
                })?;
            for rec in &records {
                if !v.record(rec)? {
                    return Ok(());
                }
            }
        }
    }
}

fn decode_container(
    container: &cram::io::reader::Container,
    header: &sam::Header,
    repo: fasta::Repository,
    full: bool,
) -> std::io::Result<Vec<OwnedAlignment>> {
    let compression_header = container.compression_header()?;
    let mut out = Vec::new();
    for slice in container.slices() {
        let slice = slice?;
        let (core, external) = slice.decode_blocks()?;
        let records = slice.records(repo.clone(), header, &compression_header, &core, &external)?;
        for r in &records {
            out.push(OwnedAlignment::from_record(r, header, full)?);
        }
    }
    Ok(out)
}

/// An alignment copied out of a decoded record (CRAM has no byte layout to borrow from).
#[derive(Default)]
pub struct OwnedAlignment {
    ref_id: i32,
    pos: i64,
    mapq: u8,
    flag: u16,
    next_ref_id: i32,
    next_pos: i64,
    tlen: i64,
    name: Vec<u8>,
    cigar: Vec<CigarOp>,
    rg: Option<Vec<u8>>,
    seq: Vec<u8>,
    qual: Vec<u8>,
    aux: Vec<([u8; 2], OwnedAux)>,
}

/// An optional field copied out of a CRAM record.
enum OwnedAux {
    Char(u8),
    Int(i64),
    Float(f32),
    Str(Vec<u8>),
    Array,
}

impl OwnedAlignment {
    fn from_record(
        r: &impl sam::alignment::Record,
        header: &sam::Header,
        full: bool,
    ) -> std::io::Result<Self> {
        let pos = |p: Option<std::io::Result<noodles::core::Position>>| -> std::io::Result<i64> {
            Ok(p.transpose()?.map_or(-1, |p| usize::from(p) as i64 - 1))
        };
        let id = |p: Option<std::io::Result<usize>>| -> std::io::Result<i32> {
            Ok(p.transpose()?.map_or(-1, |v| v as i32))
        };
        let mut cigar = Vec::new();
        for op in r.cigar().iter() {
            let op = op?;
            cigar.push(CigarOp {
                op: match op.kind() {
                    Kind::Match => b'M',
                    Kind::Insertion => b'I',
                    Kind::Deletion => b'D',
                    Kind::Skip => b'N',
                    Kind::SoftClip => b'S',
                    Kind::HardClip => b'H',
                    Kind::Pad => b'P',
                    Kind::SequenceMatch => b'=',
                    Kind::SequenceMismatch => b'X',
                },
                len: op.len() as u32,
            });
        }
        let rg = match r.data().get(&Tag::READ_GROUP).transpose()? {
            Some(Value::String(s)) => Some(s.to_vec()),
            _ => None,
        };
        let (mut seq, mut qual, mut aux) = (Vec::new(), Vec::new(), Vec::new());
        if full {
            seq.extend(r.sequence().iter().map(|b| b.to_ascii_uppercase()));
            qual.extend(r.quality_scores().iter().map(|q| q.unwrap_or(0xff)));
            if !seq.is_empty() && qual.len() != seq.len() {
                qual = vec![0xff; seq.len()];
            }
            for field in r.data().iter() {
                let (tag, value) = field?;
                let v = match value {
                    Value::Character(c) => OwnedAux::Char(c),
                    Value::Int8(v) => OwnedAux::Int(v as i64),
                    Value::UInt8(v) => OwnedAux::Int(v as i64),
                    Value::Int16(v) => OwnedAux::Int(v as i64),
                    Value::UInt16(v) => OwnedAux::Int(v as i64),
                    Value::Int32(v) => OwnedAux::Int(v as i64),
                    Value::UInt32(v) => OwnedAux::Int(v as i64),
                    Value::Float(v) => OwnedAux::Float(v),
                    Value::String(s) | Value::Hex(s) => OwnedAux::Str(s.to_vec()),
                    Value::Array(_) => OwnedAux::Array,
                };
                let t: [u8; 2] = *tag.as_ref();
                aux.push((t, v));
            }
        }
        Ok(OwnedAlignment {
            seq,
            qual,
            aux,
            ref_id: id(r.reference_sequence_id(header))?,
            pos: pos(r.alignment_start())?,
            mapq: r.mapping_quality().transpose()?.map_or(255, u8::from),
            flag: u16::from(r.flags()?),
            next_ref_id: id(r.mate_reference_sequence_id(header))?,
            next_pos: pos(r.mate_alignment_start())?,
            tlen: r.template_length()? as i64,
            name: r.name().map(|n| n.to_vec()).unwrap_or_default(),
            cigar,
            rg,
        })
    }
}

impl Alignment for OwnedAlignment {
    fn ref_id(&self) -> i32 {
        self.ref_id
    }
    fn pos(&self) -> i64 {
        self.pos
    }
    fn mapq(&self) -> u8 {
        self.mapq
    }
    fn flag(&self) -> u16 {
        self.flag
    }
    fn next_ref_id(&self) -> i32 {
        self.next_ref_id
    }
    fn next_pos(&self) -> i64 {
        self.next_pos
    }
    fn template_length(&self) -> i64 {
        self.tlen
    }
    fn read_name(&self) -> &[u8] {
        &self.name
    }
    fn n_cigar(&self) -> usize {
        self.cigar.len()
    }
    fn for_each_cigar(&self, mut f: impl FnMut(CigarOp)) {
        for c in &self.cigar {
            f(*c);
        }
    }
    fn read_group(&self) -> Option<&[u8]> {
        self.rg.as_deref()
    }
    fn seq_len(&self) -> usize {
        self.seq.len()
    }
    fn seq_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.seq);
    }
    fn qual_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.qual);
    }
    fn aux(&self, tag: [u8; 2]) -> Option<AuxValue<'_>> {
        let (_, v) = self.aux.iter().find(|(t, _)| *t == tag)?;
        Some(match v {
            OwnedAux::Char(c) => AuxValue::Char(*c),
            OwnedAux::Int(i) => AuxValue::Int(*i),
            OwnedAux::Float(f) => AuxValue::Float(*f),
            OwnedAux::Str(s) => AuxValue::Str(s),
            OwnedAux::Array => AuxValue::Array,
        })
    }
}
