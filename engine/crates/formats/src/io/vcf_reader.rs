//! Reading VCF (plain, gzip or BGZF): the header's contigs and samples, then records one line
//! at a time. Records are lazy (noodles' model): a [`Record`] is the line and its tab
//! positions, and each field is parsed only when asked for, so a reader that looks at five
//! columns of a five-million-line truth set pays for five.
//!
//! BGZF input is inflated on the rayon pool ahead of the parser ([`BgzfStream`]).

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::io::bgzf::BgzfStream;

/// What a VCF's header says that readers need.
#[derive(Clone, Debug, Default)]
pub struct VcfMeta {
    /// `##contig` lines in order: name and length (when given).
    pub contigs: Vec<(String, Option<u64>)>,
    /// Sample columns.
    pub samples: Vec<String>,
    /// Every `##` line, without the leading `##`.
    pub lines: Vec<String>,
}

impl VcfMeta {
    /// The position of sample `name`.
    pub fn sample(&self, name: &str) -> Option<usize> {
        self.samples.iter().position(|s| s == name)
    }
}

enum Source {
    Bgzf(BgzfStream),
    Plain(Box<dyn Read + Send>),
}

/// A VCF file opened for reading, positioned after its header.
pub struct VcfReader {
    path: PathBuf,
    src: Source,
    buf: Vec<u8>,
    /// First unread byte of `buf`.
    at: usize,
    eof: bool,
    line_no: u64,
    meta: VcfMeta,
    /// Tab positions of the current record, from its start.
    tabs: Vec<usize>,
}

/// One record: a line of the file and where its columns are.
pub struct Record<'a> {
    line: &'a [u8],
    tabs: &'a [usize],
    /// 1-based line number in the file (for messages).
    pub line_no: u64,
}

/// A sample's genotype: allele indexes (`None` for `.`) and whether it is phased.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Genotype {
    pub alleles: Vec<Option<u32>>,
    pub phased: bool,
}

impl VcfReader {
    /// Opens `path` and reads its header. `pool` inflates BGZF input.
    pub fn open(path: &Path, pool: Arc<rayon::ThreadPool>) -> Result<Self> {
        let mut f = File::open(path).map_err(|e| Error::io(path, e))?;
        let mut head = [0u8; 18];
        let n = read_up_to(&mut f, &mut head).map_err(|e| Error::io(path, e))?;
        drop(f);
        let gz = n >= 2 && head[0] == 0x1f && head[1] == 0x8b;
        // BGZF: gzip with the FEXTRA flag and a `BC` subfield (SAM spec 4.1).
        let bgzf = gz && n >= 14 && head[3] & 4 != 0 && head[12] == b'B' && head[13] == b'C';
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let src = if bgzf {
            Source::Bgzf(BgzfStream::from_reader(file, path.to_path_buf(), pool))
        } else if gz {
            Source::Plain(Box::new(flate2::read::MultiGzDecoder::new(
                BufReader::with_capacity(1 << 20, file),
            )))
        } else {
            Source::Plain(Box::new(file))
        };
        let mut r = VcfReader {
            path: path.to_path_buf(),
            src,
            buf: Vec::new(),
            at: 0,
            eof: false,
            line_no: 0,
            meta: VcfMeta::default(),
            tabs: Vec::new(),
        };
        r.read_header()?;
        Ok(r)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn meta(&self) -> &VcfMeta {
        &self.meta
    }

    fn bad(&self, msg: impl std::fmt::Display) -> Error {
        Error::format(&self.path, format!("line {}: {msg}", self.line_no))
    }

    fn read_header(&mut self) -> Result<()> {
        let mut saw_fileformat = false;
        loop {
            let Some((s, e)) = self.next_line()? else {
                return Err(Error::format(
                    &self.path,
                    "no #CHROM header line: not a VCF, or cut short",
                ));
            };
            let line = std::str::from_utf8(&self.buf[s..e])
                .map_err(|_| self.bad("the header is not UTF-8 text"))?
                .trim_end_matches('\r')
                .to_string();
            if self.line_no == 1 {
                if !line.starts_with("##fileformat=VCF") {
                    return Err(Error::format(
                        &self.path,
                        "not a VCF: the first line is not ##fileformat=VCFv4.x",
                    ));
                }
                saw_fileformat = true;
            }
            if let Some(m) = line.strip_prefix("##") {
                if let Some(c) = m.strip_prefix("contig=<") {
                    let c = c.trim_end_matches('>');
                    let mut id = None;
                    let mut len = None;
                    for kv in split_meta(c) {
                        if let Some(v) = kv.strip_prefix("ID=") {
                            id = Some(v.to_string());
                        } else if let Some(v) = kv.strip_prefix("length=") {
                            len = v.parse().ok();
                        }
                    }
                    match id {
                        Some(id) => self.meta.contigs.push((id, len)),
                        None => return Err(self.bad("a ##contig line without ID")),
                    }
                }
                self.meta.lines.push(m.to_string());
                continue;
            }
            if let Some(h) = line.strip_prefix("#CHROM") {
                let cols: Vec<&str> = h.split('\t').collect();
                // cols[0] is the rest of "#CHROM" (empty); then POS ID REF ALT QUAL FILTER INFO.
                if cols.len() < 8 {
                    return Err(self.bad("the #CHROM line has fewer than 8 columns"));
                }
                self.meta.samples = cols.iter().skip(9).map(|s| s.to_string()).collect();
                debug_assert!(saw_fileformat);
                return Ok(());
            }
            return Err(self.bad("a line before #CHROM that does not start with ##"));
        }
    }

    /// The next line's span in `buf` (without its newline), or `None` at the end.
    fn next_line(&mut self) -> Result<Option<(usize, usize)>> {
        loop {
            if let Some(i) = memchr::memchr(b'\n', &self.buf[self.at..]) {
                let s = self.at;
                self.at += i + 1;
                self.line_no += 1;
                return Ok(Some((s, s + i)));
            }
            if self.eof {
                if self.at < self.buf.len() {
                    let s = self.at;
                    self.at = self.buf.len();
                    self.line_no += 1;
                    return Ok(Some((s, self.buf.len())));
                }
                return Ok(None);
            }
            self.fill()?;
        }
    }

    /// Appends the next chunk of text to `buf`, dropping what was consumed.
    fn fill(&mut self) -> Result<()> {
        if self.at > 0 {
            self.buf.drain(..self.at);
            self.at = 0;
        }
        match &mut self.src {
            Source::Bgzf(s) => match s.next_batch()? {
                Some(b) => {
                    self.buf.extend_from_slice(&b.data);
                    s.give_back(b.data);
                }
                None => self.eof = true,
            },
            Source::Plain(r) => {
                let n0 = self.buf.len();
                self.buf.resize(n0 + (1 << 20), 0);
                let n = r
                    .read(&mut self.buf[n0..])
                    .map_err(|e| Error::io(&self.path, e))?;
                self.buf.truncate(n0 + n);
                if n == 0 {
                    self.eof = true;
                }
            }
        }
        Ok(())
    }

    /// The next record, or `None` at the end of the file. Blank lines are skipped; a line with
    /// fewer than 8 columns is an error naming it.
    pub fn next_record(&mut self) -> Result<Option<Record<'_>>> {
        loop {
            let Some((s, mut e)) = self.next_line()? else {
                return Ok(None);
            };
            if e > s && self.buf[e - 1] == b'\r' {
                e -= 1;
            }
            if e == s {
                continue;
            }
            if self.buf[s] == b'#' {
                return Err(self.bad("a header line after #CHROM"));
            }
            self.tabs.clear();
            self.tabs
                .extend(memchr::memchr_iter(b'\t', &self.buf[s..e]));
            if self.tabs.len() < 7 {
                return Err(self.bad(format!(
                    "a record needs at least 8 tab-separated columns, this one has {}",
                    self.tabs.len() + 1
                )));
            }
            return Ok(Some(Record {
                line: &self.buf[s..e],
                tabs: &self.tabs,
                line_no: self.line_no,
            }));
        }
    }
}

fn read_up_to(f: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// `A=1,B="x,y",C=2` split at commas outside quotes.
fn split_meta(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut quoted) = (0, false);
    for (i, c) in s.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

impl<'a> Record<'a> {
    /// Column `i` (0 = CHROM).
    pub fn col(&self, i: usize) -> &'a [u8] {
        let s = if i == 0 {
            0
        } else {
            match self.tabs.get(i - 1) {
                Some(&t) => t + 1,
                None => return b"",
            }
        };
        let e = self.tabs.get(i).map_or(self.line.len(), |&t| t);
        &self.line[s..e]
    }

    /// Number of columns.
    pub fn n_cols(&self) -> usize {
        self.tabs.len() + 1
    }

    pub fn chrom(&self) -> &'a str {
        std::str::from_utf8(self.col(0)).unwrap_or("?")
    }

    /// POS (1-based), or an error message.
    pub fn pos(&self) -> std::result::Result<u64, String> {
        let p = self.col(1);
        std::str::from_utf8(p)
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or_else(|| format!("POS '{}' is not a number", String::from_utf8_lossy(p)))
    }

    pub fn id(&self) -> &'a [u8] {
        self.col(2)
    }

    pub fn reference(&self) -> &'a [u8] {
        self.col(3)
    }

    /// The ALT alleles (empty for `.`).
    pub fn alts(&self) -> impl Iterator<Item = &'a [u8]> {
        let a = self.col(4);
        let none = a == b".";
        a.split(|&b| b == b',').filter(move |_| !none)
    }

    /// QUAL, `None` for `.` or unparsable.
    pub fn qual(&self) -> Option<f64> {
        std::str::from_utf8(self.col(5)).ok()?.parse().ok()
    }

    pub fn filter(&self) -> &'a [u8] {
        self.col(6)
    }

    /// FILTER is PASS or `.`.
    pub fn passes(&self) -> bool {
        matches!(self.filter(), b"PASS" | b".")
    }

    /// An INFO value: `Some(b"")` for a flag, `None` when absent.
    pub fn info(&self, key: &str) -> Option<&'a [u8]> {
        let info = self.col(7);
        if info == b"." {
            return None;
        }
        for kv in info.split(|&b| b == b';') {
            if let Some(rest) = kv.strip_prefix(key.as_bytes()) {
                if rest.is_empty() {
                    return Some(rest);
                }
                if rest[0] == b'=' {
                    return Some(&rest[1..]);
                }
            }
        }
        None
    }

    /// An INFO value's first number.
    pub fn info_f64(&self, key: &str) -> Option<f64> {
        let v = self.info(key)?;
        let first = v.split(|&b| b == b',').next()?;
        std::str::from_utf8(first).ok()?.parse().ok()
    }

    /// A FORMAT field of sample `sample` (0-based), `None` when absent.
    pub fn format(&self, sample: usize, key: &str) -> Option<&'a [u8]> {
        if self.n_cols() < 10 + sample {
            return None;
        }
        let keys = self.col(8);
        let k = keys
            .split(|&b| b == b':')
            .position(|k| k == key.as_bytes())?;
        self.col(9 + sample).split(|&b| b == b':').nth(k)
    }

    /// Sample `sample`'s genotype, `None` without FORMAT/GT.
    pub fn genotype(&self, sample: usize) -> Option<Genotype> {
        let gt = self.format(sample, "GT")?;
        let mut g = Genotype::default();
        for part in gt.split(|&b| b == b'/' || b == b'|') {
            g.alleles.push(if part == b"." {
                None
            } else {
                Some(std::str::from_utf8(part).ok()?.parse().ok()?)
            });
        }
        g.phased = gt.contains(&b'|');
        Some(g)
    }

    /// The whole line.
    pub fn line(&self) -> &'a [u8] {
        self.line
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn pool() -> Arc<rayon::ThreadPool> {
        Arc::new(
            rayon::ThreadPoolBuilder::new()
                .num_threads(1)
                .build()
                .unwrap(),
        )
    }

    const TEXT: &str = "##fileformat=VCFv4.2\n##contig=<ID=chr1,length=1000>\n\
        ##INFO=<ID=SVTYPE,Number=1,Type=String,Description=\"a, b\">\n\
        #CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\tS2\n\
        chr1\t10\tv1\tA\tC,G\t30.5\tPASS\tDP=3;FLAG;AF=0.5,0.2\tGT:DP\t0|1:4\t1/2\n\
        chr1\t20\t.\tAT\t.\t.\tLowQual\t.\tGT\t./.\t0/0\n";

    #[test]
    fn reads_plain_and_gzip() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("a.vcf");
        std::fs::write(&plain, TEXT).unwrap();
        let gz = dir.path().join("a.vcf.gz");
        let mut e = flate2::write::GzEncoder::new(
            File::create(&gz).unwrap(),
            flate2::Compression::default(),
        );
        e.write_all(TEXT.as_bytes()).unwrap();
        e.finish().unwrap();
        for p in [&plain, &gz] {
            let mut r = VcfReader::open(p, pool()).unwrap();
            assert_eq!(r.meta().contigs, vec![("chr1".to_string(), Some(1000))]);
            assert_eq!(r.meta().samples, vec!["S1", "S2"]);
            let rec = r.next_record().unwrap().unwrap();
            assert_eq!(rec.chrom(), "chr1");
            assert_eq!(rec.pos().unwrap(), 10);
            assert_eq!(rec.alts().collect::<Vec<_>>(), vec![b"C", b"G"]);
            assert_eq!(rec.qual(), Some(30.5));
            assert!(rec.passes());
            assert_eq!(rec.info("FLAG"), Some(&b""[..]));
            assert_eq!(rec.info("DP"), Some(&b"3"[..]));
            assert_eq!(rec.info_f64("AF"), Some(0.5));
            assert_eq!(rec.info("F"), None);
            assert_eq!(rec.format(0, "DP"), Some(&b"4"[..]));
            let g = rec.genotype(1).unwrap();
            assert_eq!(g.alleles, vec![Some(1), Some(2)]);
            assert!(!g.phased);
            assert!(rec.genotype(0).unwrap().phased);
            assert_eq!(rec.line_no, 5);
            let rec = r.next_record().unwrap().unwrap();
            assert_eq!(rec.alts().count(), 0);
            assert!(!rec.passes());
            assert_eq!(rec.genotype(0).unwrap().alleles, vec![None, None]);
            assert_eq!(rec.qual(), None);
            assert!(r.next_record().unwrap().is_none());
        }
    }

    #[test]
    fn bad_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("b.vcf");
        std::fs::write(&p, "hello\n").unwrap();
        let e = VcfReader::open(&p, pool()).err().unwrap().to_string();
        assert!(e.contains("b.vcf") && e.contains("not a VCF"), "{e}");
        std::fs::write(&p, "##fileformat=VCFv4.2\n").unwrap();
        let e = VcfReader::open(&p, pool()).err().unwrap().to_string();
        assert!(e.contains("#CHROM"), "{e}");
        std::fs::write(&p, format!("{TEXT}chr1\t5\tx\n")).unwrap();
        let mut r = VcfReader::open(&p, pool()).unwrap();
        r.next_record().unwrap();
        r.next_record().unwrap();
        let e = r.next_record().err().unwrap().to_string();
        assert!(e.contains("line 7") && e.contains("8 tab-separated"), "{e}");
    }
}
