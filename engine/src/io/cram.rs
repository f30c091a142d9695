//! CRAM input through noodles (decoding needs the reference), mapped onto [`Alignment`].

use std::fs::File;
use std::path::{Path, PathBuf};

use noodles::cram;
use noodles::fasta;
use noodles::sam;
use noodles::sam::alignment::record::cigar::op::Kind;
use noodles::sam::alignment::record::data::field::Tag;
use noodles::sam::alignment::record_buf::data::field::Value;

use crate::error::{Error, Result};
use crate::io::{Alignment, CigarOp, Header, Reference, Visitor};

pub struct CramReader {
    inner: cram::io::Reader<File>,
    sam_header: sam::Header,
    pub header: Header,
    path: PathBuf,
}

impl CramReader {
    pub fn open(path: &Path, reference: &Path) -> Result<Self> {
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
            .set_reference_sequence_repository(repo)
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
            sam_header,
            header: Header {
                text: String::new(),
                refs,
            },
            path: path.to_path_buf(),
        })
    }

    pub fn visit<V: Visitor>(&mut self, v: &mut V) -> Result<()> {
        let mut rec = OwnedAlignment::default();
        for r in self.inner.records(&self.sam_header) {
            let r = r.map_err(|e| {
                Error::format(&self.path, format!("cannot decode CRAM record: {e}"))
            })?;
            rec.fill(&r);
            if !v.record(&rec)? {
                break;
            }
        }
        Ok(())
    }
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
}

impl OwnedAlignment {
    fn fill(&mut self, r: &sam::alignment::RecordBuf) {
        self.ref_id = r.reference_sequence_id().map_or(-1, |v| v as i32);
        self.pos = r
            .alignment_start()
            .map_or(-1, |p| usize::from(p) as i64 - 1);
        self.mapq = r.mapping_quality().map_or(255, u8::from);
        self.flag = u16::from(r.flags());
        self.next_ref_id = r.mate_reference_sequence_id().map_or(-1, |v| v as i32);
        self.next_pos = r
            .mate_alignment_start()
            .map_or(-1, |p| usize::from(p) as i64 - 1);
        self.tlen = r.template_length() as i64;
        self.name.clear();
        if let Some(n) = r.name() {
            self.name.extend_from_slice(n);
        }
        self.cigar.clear();
        self.cigar
            .extend(r.cigar().as_ref().iter().map(|op| CigarOp {
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
            }));
        self.rg = match r.data().get(&Tag::READ_GROUP) {
            Some(Value::String(s)) => Some(s.to_vec()),
            _ => None,
        };
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
}
