//! VCF output: a header builder and a writer that BGZF-compresses records and indexes them
//! (tabix `.tbi`, or CSI when a contig is 2^29 bp or longer) while writing.
//!
//! The byte layout is chosen so that runs over disjoint sets of contig groups (`shard::Groups`,
//! which shards are made of) can be concatenated into exactly the file one run over all of them
//! would write: the header occupies BGZF blocks of its own and holds nothing that differs
//! between runs (no date, no temporary paths, no shard information), and every group starts a
//! new block. A gather step then keeps the first file's header blocks, each file's record
//! blocks and one end-of-file block.
//!
//! Files are written under temporary names and renamed only on success ([`PendingFile`]).

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::io::atomic::{OutputSet, PendingFile};
use crate::io::bgzf::{blocks, missing_eof, BgzfWriter, EOF_BLOCK};
use crate::io::csi::{levels_for, reindex, CsiBuilder, IndexedLines, CONF_VCF};
use crate::io::NameIndex;
use crate::shard::Groups;

/// Contigs at least this long need a CSI index (tabix's bins stop at 2^29).
pub const TBI_MAX_LEN: u64 = 1 << 29;

/// The meta-information and column header of a VCF.
#[derive(Clone, Debug, Default)]
pub struct VcfHeader {
    /// `##key=value` lines after `##fileformat`, in insertion order (without `##`).
    meta: Vec<String>,
    contigs: Vec<(String, u64)>,
    samples: Vec<String>,
    /// `##fileformat` version; `None` is VCFv4.2.
    version: Option<&'static str>,
}

impl VcfHeader {
    /// Declares another `##fileformat` version (e.g. `"VCFv4.3"`); the default is VCFv4.2.
    pub fn fileformat(&mut self, version: &'static str) -> &mut Self {
        self.version = Some(version);
        self
    }

    /// A header for `contigs` (name, length), listed in this order; records must follow it.
    pub fn new(contigs: impl IntoIterator<Item = (String, u64)>) -> Self {
        VcfHeader {
            meta: vec![format!("source=kasane {}", crate::VERSION)],
            contigs: contigs.into_iter().collect(),
            samples: Vec::new(),
            version: None,
        }
    }

    /// Adds a raw `##` line (given without the leading `##`).
    pub fn meta(&mut self, line: impl Into<String>) -> &mut Self {
        self.meta.push(line.into());
        self
    }

    /// Records the command line (`##kasaneCommand=`); keep run-specific paths out of it.
    pub fn command(&mut self, cmd: &str) -> &mut Self {
        self.meta(format!("kasaneCommand={cmd}"))
    }

    pub fn info(&mut self, id: &str, number: &str, ty: &str, desc: &str) -> &mut Self {
        self.meta(format!(
            "INFO=<ID={id},Number={number},Type={ty},Description=\"{desc}\">"
        ))
    }

    pub fn format(&mut self, id: &str, number: &str, ty: &str, desc: &str) -> &mut Self {
        self.meta(format!(
            "FORMAT=<ID={id},Number={number},Type={ty},Description=\"{desc}\">"
        ))
    }

    pub fn filter(&mut self, id: &str, desc: &str) -> &mut Self {
        self.meta(format!("FILTER=<ID={id},Description=\"{desc}\">"))
    }

    pub fn alt(&mut self, id: &str, desc: &str) -> &mut Self {
        self.meta(format!("ALT=<ID={id},Description=\"{desc}\">"))
    }

    pub fn sample(&mut self, name: impl Into<String>) -> &mut Self {
        self.samples.push(name.into());
        self
    }

    pub fn contigs(&self) -> &[(String, u64)] {
        &self.contigs
    }

    pub fn samples(&self) -> &[String] {
        &self.samples
    }

    /// The header text, ending with the `#CHROM` line and a newline.
    pub fn to_text(&self) -> String {
        let mut s = format!("##fileformat={}\n", self.version.unwrap_or("VCFv4.2"));
        // FILTER=PASS first, as htslib expects it to be defined before other filters.
        if !self.meta.iter().any(|m| m.starts_with("FILTER=<ID=PASS,")) {
            s.push_str("##FILTER=<ID=PASS,Description=\"All filters passed\">\n");
        }
        for m in &self.meta {
            s.push_str("##");
            s.push_str(m);
            s.push('\n');
        }
        for (name, len) in &self.contigs {
            s.push_str(&format!("##contig=<ID={name},length={len}>\n"));
        }
        s.push_str("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO");
        if !self.samples.is_empty() {
            s.push_str("\tFORMAT");
            for x in &self.samples {
                s.push('\t');
                s.push_str(x);
            }
        }
        s.push('\n');
        s
    }
}

/// Which index a VCF of these contigs gets.
fn wants_csi(contigs: &[(String, u64)]) -> bool {
    contigs.iter().any(|(_, l)| *l >= TBI_MAX_LEN)
}

/// Where a data line lies, as tabix reads it: contig, 0-based start and end (REF span, or
/// INFO `END` when that reaches further).
fn line_span(line: &[u8]) -> Option<(&[u8], u64, u64)> {
    // memchr finds the tabs: SV records carry sequences thousands of bases long.
    let mut tabs = memchr::memchr_iter(b'\t', line);
    let mut cut = [0usize; 8];
    for c in &mut cut {
        *c = tabs.next().unwrap_or(line.len());
    }
    if cut[2] == line.len() {
        return None;
    }
    let chrom = &line[..cut[0]];
    let pos: u64 = std::str::from_utf8(&line[cut[0] + 1..cut[1]])
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let reflen = (cut[3] - cut[2] - 1) as u64;
    let beg = pos.saturating_sub(1);
    let mut end = beg + reflen.max(1);
    if cut[6] < line.len() {
        let info = &line[cut[6] + 1..cut[7]];
        for kv in info.split(|&b| b == b';') {
            if let Some(v) = kv.strip_prefix(b"END=") {
                if let Some(e) = std::str::from_utf8(v)
                    .ok()
                    .and_then(|v| v.parse::<u64>().ok())
                {
                    end = end.max(e);
                }
            }
        }
    }
    Some((chrom, beg, end))
}

fn new_builder(csi: bool, max_len: u64) -> CsiBuilder {
    if csi {
        CsiBuilder::new(14, levels_for(max_len).max(5))
    } else {
        CsiBuilder::new_tbi()
    }
    .with_tabix_conf(CONF_VCF)
}

/// Path of the index next to `vcf`: `<vcf>.tbi` or `<vcf>.csi`.
pub fn index_path(vcf: &Path, csi: bool) -> PathBuf {
    let mut s = vcf.as_os_str().to_owned();
    s.push(if csi { ".csi" } else { ".tbi" });
    PathBuf::from(s)
}

/// Writes a bgzipped, indexed VCF. Records must come sorted (contigs in header order).
pub struct VcfWriter {
    path: PathBuf,
    file: PendingFile,
    bgzf: BgzfWriter<BufWriter<File>, CsiBuilder>,
    contigs: Vec<(String, u64)>,
    names: NameIndex,
    groups: Groups,
    /// Header index of the current contig and the last start written.
    at: Option<(usize, u64)>,
    /// Header indexes of the contigs with records, in index-tid order.
    seen: Vec<usize>,
    csi: bool,
    n_records: u64,
}

impl VcfWriter {
    /// Creates `path` (under a temporary name until [`VcfWriter::finish`]) and writes the
    /// header into its own BGZF block(s).
    pub fn create(path: &Path, header: &VcfHeader, pool: Arc<rayon::ThreadPool>) -> Result<Self> {
        Self::create_with_level(path, header, pool, 6)
    }

    /// As [`VcfWriter::create`], with a deflate level (1 fastest .. 12 smallest; htslib's
    /// default is 6).
    pub fn create_with_level(
        path: &Path,
        header: &VcfHeader,
        pool: Arc<rayon::ThreadPool>,
        level: i32,
    ) -> Result<Self> {
        let (file, w) = PendingFile::create(path)?;
        let csi = wants_csi(header.contigs());
        crate::io::atomic::check_destination(index_path(path, csi))?; // before the work, too
        let max_len = header.contigs().iter().map(|c| c.1).max().unwrap_or(0);
        let mut bgzf = BgzfWriter::new(w, level, pool, Some(new_builder(csi, max_len)));
        bgzf.write_plain(header.to_text().as_bytes())
            .and_then(|_| bgzf.end_block())
            .map_err(|e| Error::io(path, e))?;
        Ok(VcfWriter {
            path: path.to_path_buf(),
            file,
            bgzf,
            contigs: header.contigs().to_vec(),
            names: NameIndex::new(header.contigs(), |c| c.0.as_str()),
            groups: Groups::new(&header.contigs().iter().map(|c| c.1).collect::<Vec<_>>()),
            at: None,
            seen: Vec::new(),
            csi,
            n_records: 0,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn n_records(&self) -> u64 {
        self.n_records
    }

    /// Writes one data line (with or without its trailing newline).
    pub fn write_line(&mut self, line: &[u8]) -> Result<()> {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let (chrom, beg, end) = line_span(line).ok_or_else(|| {
            Error::format(&self.path, "internal error: malformed VCF record written")
        })?;
        // Records come in contig order: the current contig, else a lookup.
        let current = self
            .at
            .map(|(c, _)| c)
            .filter(|&c| self.contigs[c].0.as_bytes() == chrom);
        let ci = current
            .or_else(|| {
                let name = std::str::from_utf8(chrom).ok()?;
                self.names.find(&self.contigs, |c| c.0.as_str(), name)
            })
            .ok_or_else(|| {
                Error::format(
                    &self.path,
                    format!(
                        "internal error: record on contig {} missing from the header",
                        String::from_utf8_lossy(chrom)
                    ),
                )
            })?;
        match self.at {
            Some((c, p)) if c == ci && beg < p => {
                return Err(Error::format(
                    &self.path,
                    "internal error: VCF records written out of order",
                ))
            }
            Some((c, _)) if c > ci => {
                return Err(Error::format(
                    &self.path,
                    "internal error: VCF contigs written out of header order",
                ))
            }
            Some((c, _)) if c == ci => {}
            last => {
                // Each group of contigs starts a block, so outputs of whole groups (shards)
                // concatenate byte-identically, and tiny contigs share blocks.
                if last.is_none_or(|(c, _)| self.groups.of(c) != self.groups.of(ci)) {
                    self.bgzf
                        .end_block()
                        .map_err(|e| Error::io(&self.path, e))?;
                }
                self.seen.push(ci);
            }
        }
        self.at = Some((ci, beg));
        let tid = (self.seen.len() - 1) as u32;
        let mut buf = Vec::with_capacity(line.len() + 1);
        buf.extend_from_slice(line);
        buf.push(b'\n');
        self.bgzf
            .write_record(&buf, tid, beg, end)
            .map_err(|e| Error::io(&self.path, e))?;
        self.n_records += 1;
        Ok(())
    }

    /// Finishes the file and its index and adds both to `set` (renamed when the set commits).
    pub fn finish_into(self, set: &mut OutputSet) -> Result<()> {
        let (mut w, builder) = self.bgzf.finish().map_err(|e| Error::io(&self.path, e))?;
        std::io::Write::flush(&mut w).map_err(|e| Error::io(&self.path, e))?;
        drop(w);
        let mut builder = builder.unwrap_or_else(|| new_builder(self.csi, 0));
        for (tid, &ci) in self.seen.iter().enumerate() {
            builder.ensure_name(tid as u32, &self.contigs[ci].0);
        }
        let ipath = index_path(&self.path, self.csi);
        let (ifile, mut iw) = PendingFile::create(&ipath)?;
        std::io::Write::write_all(&mut iw, &builder.finish())
            .and_then(|_| std::io::Write::flush(&mut iw))
            .map_err(|e| Error::io(&ipath, e))?;
        set.add(self.file);
        set.add(ifile);
        Ok(())
    }

    /// Finishes the file and its index and renames both into place.
    pub fn finish(self) -> Result<()> {
        let mut set = OutputSet::default();
        self.finish_into(&mut set)?;
        set.commit()
    }
}

/// Joins shard VCFs (each the same header, then its own contigs, each contig starting a BGZF
/// block) into `out`: the first shard's header, every shard's records in order, one EOF block,
/// and the index rebuilt with [`index_vcf_gz`], so the result is the unsharded file byte for
/// byte. Returns the index path.
pub fn concat_shards(parts: &[PathBuf], out: &Path) -> Result<PathBuf> {
    let mut set = OutputSet::default();
    let index = concat_shards_into(parts, out, &mut set)?;
    set.commit()?;
    Ok(index)
}

/// [`concat_shards`], the file and its index added to `set` (committed with a run's other
/// files) instead of put in place at once. Returns the index path.
pub fn concat_shards_into(parts: &[PathBuf], out: &Path, set: &mut OutputSet) -> Result<PathBuf> {
    let (file, mut w) = PendingFile::create(out.to_path_buf())?;
    let mut inflater = libdeflater::Decompressor::new();
    let mut data = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        let raw = std::fs::read(part).map_err(|e| Error::io(part, e))?;
        if !raw.ends_with(&EOF_BLOCK) {
            return Err(missing_eof(part));
        }
        let body = &raw[..raw.len() - EOF_BLOCK.len()];
        // After the first shard, the header's blocks are skipped.
        let from = if i == 0 {
            0
        } else {
            header_blocks_len(body, part, &mut inflater, &mut data)?
        };
        std::io::Write::write_all(&mut w, &body[from..]).map_err(|e| Error::io(out, e))?;
    }
    std::io::Write::write_all(&mut w, &EOF_BLOCK)
        .and_then(|_| std::io::Write::flush(&mut w))
        .map_err(|e| Error::io(out, e))?;
    drop(w);
    let index = index_pending(file.tmp_path(), out)?;
    let ipath = index.final_path().to_path_buf();
    set.add(file);
    set.add(index);
    Ok(ipath)
}

/// The compressed length of the header's blocks at the start of `body` (a [`VcfWriter`] file,
/// whose header ends a block with the `#CHROM` line). A header is often longer than a block (a
/// `##contig` line each), and its later blocks start inside a line.
fn header_blocks_len(
    body: &[u8],
    part: &Path,
    inflater: &mut libdeflater::Decompressor,
    data: &mut Vec<u8>,
) -> Result<usize> {
    // Whether the text so far ends a line; the current line's first bytes; whether the last
    // line ended is `#CHROM`'s. Lines may run across blocks.
    let mut at_line_start = true;
    let mut head: Vec<u8> = Vec::with_capacity(6);
    let mut chrom_ended = false;
    for b in blocks(body, part) {
        let b = b?;
        b.inflate_into(inflater, data, part)?;
        for &c in data.iter() {
            if at_line_start {
                if c != b'#' {
                    return Err(Error::format(
                        part,
                        "not a VCF written by kasane: records begin before the #CHROM line",
                    ));
                }
                head.clear();
            }
            if head.len() < 6 {
                head.push(c);
            }
            at_line_start = c == b'\n';
            if at_line_start {
                chrom_ended = head == b"#CHROM";
            }
        }
        if chrom_ended && at_line_start {
            return Ok(b.end() as usize);
        }
    }
    Err(Error::format(part, "VCF header without a #CHROM line"))
}

/// A VCF's lines as tabix reads them; the `##contig` lines decide TBI or CSI.
struct VcfLines<'p> {
    path: &'p Path,
    contigs: Vec<(String, u64)>,
}

impl IndexedLines for VcfLines<'_> {
    fn record<'l>(&mut self, line: &'l [u8]) -> Result<Option<(&'l [u8], u64, u64)>> {
        if line.first() == Some(&b'#') {
            if let Some(c) = parse_contig_line(line) {
                self.contigs.push(c);
            }
            return Ok(None);
        }
        if line.is_empty() {
            return Ok(None);
        }
        line_span(line)
            .map(Some)
            .ok_or_else(|| Error::bgzf(self.path, "a VCF record cannot be read"))
    }

    fn new_index(&mut self) -> CsiBuilder {
        let max_len = self.contigs.iter().map(|c| c.1).max().unwrap_or(0);
        new_builder(wants_csi(&self.contigs), max_len)
    }
}

/// (Re)builds the tabix index of a finished `.vcf.gz` (`.tbi`, or `.csi` when a `##contig`
/// is 2^29 bp or longer), as `tabix -p vcf` would, and as [`VcfWriter`] writes it. Returns
/// the index path.
pub fn index_vcf_gz(path: &Path) -> Result<PathBuf> {
    let index = index_pending(path, path)?;
    let ipath = index.final_path().to_path_buf();
    index.commit()?;
    Ok(ipath)
}

/// The index of the `.vcf.gz` at `data`, written for the file that will be at `path`.
fn index_pending(data: &Path, path: &Path) -> Result<PendingFile> {
    let lines = VcfLines {
        path,
        contigs: Vec::new(),
    };
    let (lines, builder) = reindex(data, lines)?;
    let csi = wants_csi(&lines.contigs);
    let ipath = index_path(path, csi);
    let (f, mut w) = PendingFile::create(&ipath)?;
    std::io::Write::write_all(&mut w, &builder.finish())
        .and_then(|_| std::io::Write::flush(&mut w))
        .map_err(|e| Error::io(&ipath, e))?;
    drop(w);
    Ok(f)
}

fn parse_contig_line(line: &[u8]) -> Option<(String, u64)> {
    let s = std::str::from_utf8(line).ok()?;
    let body = s.strip_prefix("##contig=<")?.strip_suffix('>')?;
    let (mut id, mut len) = (None, None);
    for kv in body.split(',') {
        if let Some(v) = kv.strip_prefix("ID=") {
            id = Some(v.to_string());
        } else if let Some(v) = kv.strip_prefix("length=") {
            len = v.parse().ok();
        }
    }
    Some((id?, len.unwrap_or(0)))
}

/// True when `data` ends with the BGZF end-of-file block.
pub fn has_eof_block(data: &[u8]) -> bool {
    data.ends_with(&EOF_BLOCK)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::index::inflate_all;

    fn pool() -> Arc<rayon::ThreadPool> {
        Arc::new(
            rayon::ThreadPoolBuilder::new()
                .num_threads(2)
                .build()
                .unwrap(),
        )
    }

    #[test]
    fn line_span_reads_ref_length_and_info_end() {
        let span = |l: &str| line_span(l.as_bytes()).map(|(c, b, e)| (c.to_vec(), b, e));
        let c = b"chr1".to_vec();
        assert_eq!(
            span("chr1\t100\t.\tACGT\tA\t.\tPASS\t."),
            Some((c.clone(), 99, 103))
        );
        assert_eq!(
            span("chr1\t100\t.\tN\t<DEL>\t.\tPASS\tSVTYPE=DEL;END=500\tGT\t0/1"),
            Some((c.clone(), 99, 500))
        );
        // END before the REF's end does not shorten it; a missing INFO column is allowed.
        assert_eq!(
            span("chr1\t100\t.\tACGT\tA\t.\tPASS\tEND=50"),
            Some((c.clone(), 99, 103))
        );
        assert_eq!(span("chr1\t100\t.\tAC"), Some((c.clone(), 99, 101)));
        assert_eq!(span("chr1\t100\t."), None);
        assert_eq!(span("chr1\tx\t.\tA\tC"), None);
    }

    fn header() -> VcfHeader {
        let mut h = VcfHeader::new([("a".to_string(), 100_000), ("b".to_string(), 5_000)]);
        h.info("SVTYPE", "1", "String", "Type of structural variant")
            .info("END", "1", "Integer", "End position")
            .format("GT", "1", "String", "Genotype")
            .sample("s1");
        h
    }

    fn lines(contig: &str, n: usize) -> Vec<String> {
        (0..n)
            .map(|i| {
                format!(
                    "{contig}\t{}\t.\tA\t<DEL>\t.\tPASS\tSVTYPE=DEL;END={}\tGT\t0/1",
                    1 + i * 37,
                    1 + i * 37 + 500
                )
            })
            .collect()
    }

    fn write(path: &Path, recs: &[String]) {
        let mut w = VcfWriter::create(path, &header(), pool()).unwrap();
        for r in recs {
            w.write_line(r.as_bytes()).unwrap();
        }
        w.finish().unwrap();
    }

    #[test]
    fn writes_readable_bgzf_with_index_matching_a_rebuild() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.vcf.gz");
        let mut recs = lines("a", 3000);
        recs.extend(lines("b", 50));
        write(&p, &recs);
        let raw = std::fs::read(&p).unwrap();
        assert!(has_eof_block(&raw));
        let text = String::from_utf8(inflate_all(&raw).unwrap()).unwrap();
        let expected = header().to_text() + &recs.join("\n") + "\n";
        assert_eq!(text, expected);
        assert!(text.starts_with("##fileformat=VCFv4.2\n##FILTER=<ID=PASS"));
        // No temporary file left, index present and identical to one rebuilt from the file.
        let tbi = index_path(&p, false);
        let on_the_fly = std::fs::read(&tbi).unwrap();
        assert!(!d.path().join("x.vcf.gz.kasane-tmp").exists());
        std::fs::remove_file(&tbi).unwrap();
        assert_eq!(index_vcf_gz(&p).unwrap(), tbi);
        assert_eq!(std::fs::read(&tbi).unwrap(), on_the_fly);
        // The index is a TBI naming both contigs with the VCF preset.
        let idx = inflate_all(&on_the_fly).unwrap();
        assert_eq!(&idx[..4], b"TBI\x01");
        assert_eq!(i32::from_le_bytes(idx[4..8].try_into().unwrap()), 2);
        assert_eq!(i32::from_le_bytes(idx[8..12].try_into().unwrap()), 2);
        let l_nm = i32::from_le_bytes(idx[32..36].try_into().unwrap()) as usize;
        assert_eq!(&idx[36..36 + l_nm], b"a\0b\0");
    }

    #[test]
    fn per_contig_outputs_concatenate_to_the_whole() {
        let d = tempfile::tempdir().unwrap();
        let (a, b) = (lines("a", 2500), lines("b", 20));
        let all: Vec<String> = a.iter().chain(b.iter()).cloned().collect();
        let (pa, pb, pall) = (
            d.path().join("a.vcf.gz"),
            d.path().join("b.vcf.gz"),
            d.path().join("all.vcf.gz"),
        );
        write(&pa, &a);
        write(&pb, &b);
        write(&pall, &all);
        let hdr = {
            let mut v = Vec::new();
            let raw = std::fs::read(&pb).unwrap();
            // The header is whole blocks: find the prefix that inflates to exactly the header.
            let htext = header().to_text();
            let mut at = 0;
            while inflate_all(&raw[..at]).map(|t| t.len()) != Some(htext.len()) {
                let bsize = u16::from_le_bytes([raw[at + 16], raw[at + 17]]) as usize + 1;
                at += bsize;
                assert!(at < raw.len());
            }
            v.extend_from_slice(&raw[..at]);
            v
        };
        let body = |p: &Path| {
            let raw = std::fs::read(p).unwrap();
            raw[hdr.len()..raw.len() - EOF_BLOCK.len()].to_vec()
        };
        let mut cat = hdr.clone();
        cat.extend(body(&pa));
        cat.extend(body(&pb));
        cat.extend_from_slice(&EOF_BLOCK);
        assert_eq!(cat, std::fs::read(&pall).unwrap());
    }

    #[test]
    fn long_contigs_get_csi_and_disorder_is_an_error() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("big.vcf.gz");
        let h = VcfHeader::new([("big".to_string(), 1u64 << 30)]);
        let mut w = VcfWriter::create(&p, &h, pool()).unwrap();
        w.write_line(b"big\t600000000\t.\tA\tC\t.\tPASS\t.")
            .unwrap();
        assert!(w.write_line(b"big\t5\t.\tA\tC\t.\tPASS\t.").is_err());
        w.finish().unwrap();
        let idx = inflate_all(&std::fs::read(index_path(&p, true)).unwrap()).unwrap();
        assert_eq!(&idx[..4], b"CSI\x01");
        let dropped = d.path().join("never.vcf.gz");
        drop(VcfWriter::create(&dropped, &h, pool()).unwrap());
        assert!(!dropped.exists());
    }
}
