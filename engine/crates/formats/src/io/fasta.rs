//! Indexed FASTA: random access to reference bases through a `.fai` index (built in memory when
//! the file has none), plus the check that a reference matches an alignment file's header.
//!
//! Reads go through positioned reads (`pread`), so one reader serves many threads at once.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::io::{Header, NameIndex};

/// One `.fai` line: where a contig's bases are and how its lines are laid out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaiEntry {
    pub name: String,
    pub len: u64,
    /// Byte offset of the first base.
    pub offset: u64,
    pub line_bases: u64,
    pub line_bytes: u64,
}

pub struct FastaReader {
    path: PathBuf,
    file: File,
    entries: Vec<FaiEntry>,
    names: NameIndex,
}

impl FastaReader {
    /// Opens `path`, reading `path.fai` when present and otherwise indexing the file in memory.
    pub fn open(path: &Path) -> Result<Self> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let mut magic = [0u8; 2];
        if file
            .read_at(&mut magic, 0)
            .map_err(|e| Error::io(path, e))?
            == 2
            && magic == [0x1f, 0x8b]
        {
            return Err(Error::format(
                path,
                "compressed FASTA is not supported; decompress it (and index with `samtools faidx`)",
            ));
        }
        let fai = {
            let mut s = path.as_os_str().to_owned();
            s.push(".fai");
            PathBuf::from(s)
        };
        let entries = if fai.is_file() {
            let text = std::fs::read_to_string(&fai).map_err(|e| Error::io(&fai, e))?;
            let entries = parse_fai(&fai, &text)?;
            check_fai(path, &file, &entries)?;
            entries
        } else {
            build_index(path, &file)?
        };
        Ok(FastaReader {
            path: path.to_path_buf(),
            file,
            names: NameIndex::new(&entries, |e| e.name.as_str()),
            entries,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Contigs in file order.
    pub fn contigs(&self) -> &[FaiEntry] {
        &self.entries
    }

    pub fn contig(&self, name: &str) -> Option<&FaiEntry> {
        let i = self.names.find(&self.entries, |e| e.name.as_str(), name)?;
        self.entries.get(i)
    }

    /// Bases `[start, end)` of `contig`, uppercase; the range is clipped to the contig.
    pub fn fetch(&self, contig: &str, start: u64, end: u64) -> Result<Vec<u8>> {
        let e = self.contig(contig).ok_or_else(|| {
            Error::format(
                &self.path,
                format!("contig {contig} is not in the reference"),
            )
        })?;
        let end = end.min(e.len);
        if start >= end {
            return Ok(Vec::new());
        }
        let lb = e.line_bases.max(1);
        let byte = |p: u64| e.offset + p / lb * e.line_bytes + p % lb;
        let (b0, b1) = (byte(start), byte(end - 1) + 1);
        let mut raw = vec![0u8; (b1 - b0) as usize];
        self.file.read_exact_at(&mut raw, b0).map_err(|err| {
            if err.kind() == std::io::ErrorKind::UnexpectedEof {
                stale(
                    &self.path,
                    contig,
                    "the file ends before the bases its .fai index places",
                )
            } else {
                Error::io(&self.path, err)
            }
        })?;
        let mut out = Vec::with_capacity((end - start) as usize);
        out.extend(
            raw.iter()
                .filter(|b| !b.is_ascii_whitespace())
                .map(|b| b.to_ascii_uppercase()),
        );
        if out.len() as u64 != end - start {
            return Err(stale(
                &self.path,
                contig,
                "line lengths differ from its .fai index",
            ));
        }
        Ok(out)
    }
}

/// The one message for a `.fai` that does not describe the FASTA next to it.
fn stale(path: &Path, contig: &str, why: &str) -> Error {
    Error::format(
        path,
        format!(
            "contig {contig}: {why}: the index is stale (or of another file); re-create it with `samtools faidx {}`",
            path.display()
        ),
    )
}

/// Cheap checks, when the FASTA is opened, that its `.fai` fits it: every contig ends inside
/// the file, and its bases start right after a line break (the end of its header line).
fn check_fai(path: &Path, file: &File, entries: &[FaiEntry]) -> Result<()> {
    let size = file.metadata().map_err(|e| Error::io(path, e))?.len();
    for e in entries {
        if e.len == 0 {
            continue;
        }
        if e.line_bases == 0 || e.line_bytes < e.line_bases {
            return Err(stale(path, &e.name, "its .fai line layout is impossible"));
        }
        let last = e.len - 1;
        let end = (last / e.line_bases)
            .checked_mul(e.line_bytes)
            .and_then(|b| b.checked_add(e.offset))
            .and_then(|b| b.checked_add(last % e.line_bases + 1));
        if end.is_none_or(|end| end > size) {
            return Err(stale(
                path,
                &e.name,
                &format!("its .fai index places bases beyond the end of the file ({size} bytes)"),
            ));
        }
        let mut before = [0u8; 1];
        let after_newline = e.offset > 0
            && file
                .read_at(&mut before, e.offset - 1)
                .map_err(|err| Error::io(path, err))?
                == 1
            && before[0] == b'\n';
        if !after_newline {
            return Err(stale(
                path,
                &e.name,
                "its .fai index does not point at the start of a line",
            ));
        }
    }
    Ok(())
}

/// The `.fai` index next to `reference` (`reference.fai`), read without the FASTA: an error when
/// there is none, it is not a regular file (a FIFO would hang the reader), or a line is not an
/// index line.
pub fn read_fai_of(reference: &Path) -> Result<Vec<FaiEntry>> {
    let mut s = reference.as_os_str().to_owned();
    s.push(".fai");
    let fai = PathBuf::from(s);
    if !fai.is_file() {
        return Err(Error::format(&fai, "not a regular file"));
    }
    let text = std::fs::read_to_string(&fai).map_err(|e| Error::io(&fai, e))?;
    parse_fai(&fai, &text)
}

fn parse_fai(fai: &Path, text: &str) -> Result<Vec<FaiEntry>> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        let num = |k: usize| f.get(k).and_then(|v| v.parse::<u64>().ok());
        match (num(1), num(2), num(3), num(4)) {
            (Some(len), Some(offset), Some(line_bases), Some(line_bytes)) => out.push(FaiEntry {
                name: f[0].to_string(),
                len,
                offset,
                line_bases,
                line_bytes,
            }),
            _ => {
                return Err(Error::format(
                    fai,
                    format!("line {}: not a FASTA index line", i + 1),
                ))
            }
        }
    }
    Ok(out)
}

/// Scans the FASTA once, as `samtools faidx` does, keeping the index in memory.
fn build_index(path: &Path, file: &File) -> Result<Vec<FaiEntry>> {
    use std::io::{BufRead, BufReader};
    let mut r = BufReader::with_capacity(1 << 20, file);
    let mut out: Vec<FaiEntry> = Vec::new();
    let mut offset = 0u64;
    let mut line = Vec::new();
    // Per contig: whether a short (last) line has been seen, to reject ragged layouts.
    let mut short_seen = false;
    let bad = |m: String| Error::format(path, m);
    loop {
        line.clear();
        let n = r
            .read_until(b'\n', &mut line)
            .map_err(|e| Error::io(path, e))? as u64;
        if n == 0 {
            break;
        }
        offset += n;
        if line[0] == b'>' {
            let name = String::from_utf8_lossy(&line[1..])
                .split_ascii_whitespace()
                .next()
                .unwrap_or("")
                .to_string();
            out.push(FaiEntry {
                name,
                len: 0,
                offset,
                line_bases: 0,
                line_bytes: 0,
            });
            short_seen = false;
            continue;
        }
        let Some(e) = out.last_mut() else {
            return Err(bad("does not start with a '>' header line".into()));
        };
        let bases = line.iter().filter(|b| !b.is_ascii_whitespace()).count() as u64;
        if bases == 0 {
            continue;
        }
        if e.line_bases == 0 {
            e.line_bases = bases;
            e.line_bytes = n;
        } else if short_seen || bases > e.line_bases {
            return Err(bad(format!(
                "contig {} has lines of different lengths; cannot index it",
                e.name
            )));
        } else if bases < e.line_bases {
            short_seen = true;
        }
        e.len += bases;
    }
    Ok(out)
}

/// Checks that the reference holds every contig of the alignment header with the same length;
/// the error names the first mismatch.
pub fn check_reference(header: &Header, bam_path: &Path, fasta: &FastaReader) -> Result<()> {
    for r in &header.refs {
        match fasta.contig(&r.name) {
            None => {
                return Err(Error::format(
                    bam_path,
                    format!(
                        "contig {} of the alignments is not in the reference {}",
                        r.name,
                        fasta.path().display()
                    ),
                ))
            }
            Some(e) if e.len != r.len => {
                return Err(Error::format(
                    bam_path,
                    format!(
                        "contig {} has length {} here but {} in the reference {}",
                        r.name,
                        r.len,
                        e.len,
                        fasta.path().display()
                    ),
                ))
            }
            Some(_) => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::Reference;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn fetch_with_and_without_fai() {
        let d = tempfile::tempdir().unwrap();
        let fa = write(
            d.path(),
            "r.fa",
            ">a desc\nACGTa\ncgtAC\nGT\n>b\nTTTT\nGG\n",
        );
        let r = FastaReader::open(&fa).unwrap();
        assert_eq!(r.contigs()[0].len, 12);
        assert_eq!(r.contigs()[1].len, 6);
        assert_eq!(r.fetch("a", 3, 9).unwrap(), b"TACGTA");
        assert_eq!(r.fetch("a", 10, 100).unwrap(), b"GT");
        assert_eq!(r.fetch("b", 0, 6).unwrap(), b"TTTTGG");
        let fai: String = r
            .contigs()
            .iter()
            .map(|e| {
                format!(
                    "{}\t{}\t{}\t{}\t{}\n",
                    e.name, e.len, e.offset, e.line_bases, e.line_bytes
                )
            })
            .collect();
        assert_eq!(fai, "a\t12\t8\t5\t6\nb\t6\t26\t4\t5\n");
        write(d.path(), "r.fa.fai", &fai);
        let r2 = FastaReader::open(&fa).unwrap();
        assert_eq!(r2.contigs(), r.contigs());
        assert_eq!(r2.fetch("a", 0, 12).unwrap(), b"ACGTACGTACGT");
        assert!(r2.fetch("zz", 0, 1).is_err());
    }

    #[test]
    fn reference_check_names_the_mismatch() {
        let d = tempfile::tempdir().unwrap();
        let fa = write(d.path(), "r.fa", ">a\nACGT\n>b\nTT\n");
        let r = FastaReader::open(&fa).unwrap();
        let mut h = Header::default();
        h.refs.push(Reference {
            name: "a".into(),
            len: 4,
        });
        assert!(check_reference(&h, Path::new("x.bam"), &r).is_ok());
        h.refs.push(Reference {
            name: "b".into(),
            len: 3,
        });
        let e = check_reference(&h, Path::new("x.bam"), &r).unwrap_err();
        assert!(e.to_string().contains("contig b has length 3"), "{e}");
        h.refs[1].name = "c".into();
        let e = check_reference(&h, Path::new("x.bam"), &r).unwrap_err();
        assert!(e.to_string().contains("contig c"), "{e}");
    }
}
