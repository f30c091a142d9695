//! Alignment inputs, each opened once: header, sample name, index, and the one reading loop
//! every analysis drives. The loop seeks per contig (BAM through its BAI/CSI, CRAM through its
//! CRAI), skips the records an earlier contig leaves in a shared CRAM container, stops at the
//! unplaced reads, and refuses unsorted records with one message; the analysis only sees
//! records it asked for, in coordinate order, through its [`Sink`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::io::fasta::{check_reference, FastaReader};
use crate::io::{index, Alignment, AlignmentReader, Fields, Header, Visitor};
use crate::progress::Progress;

/// What an analysis does with the records the input layer hands it.
pub trait Sink {
    /// One placed record of contig `tid` (an index into the header), in coordinate order.
    /// Returns false to stop reading (this contig, when reading contig by contig).
    fn record<A: Alignment>(&mut self, tid: usize, rec: &A) -> Result<bool>;

    /// One unplaced record (no contig: they come after every placed one in a sorted file),
    /// when reading [`Reach::All`]. The default stops the reading there: only analyses that
    /// count every read (qc) look at them.
    fn unplaced<A: Alignment>(&mut self, rec: &A) -> Result<bool> {
        let _ = rec;
        Ok(false)
    }
}

/// Two sinks fed by one reading (`kasane qc --coverage`: the input is read once for both).
/// Each record goes to both, and reading goes on while either wants more: a sink that said
/// stop may still be handed records, which the sinks of whole-genome and shard readings
/// ignore as they did the one that stopped them.
pub struct Tee<'a, A, B>(pub &'a mut A, pub &'a mut B);

impl<A: Sink, B: Sink> Sink for Tee<'_, A, B> {
    fn record<R: Alignment>(&mut self, tid: usize, rec: &R) -> Result<bool> {
        let a = self.0.record(tid, rec)?;
        let b = self.1.record(tid, rec)?;
        Ok(a || b)
    }

    fn unplaced<R: Alignment>(&mut self, rec: &R) -> Result<bool> {
        let a = self.0.unplaced(rec)?;
        let b = self.1.unplaced(rec)?;
        Ok(a || b)
    }
}

/// Which records a reading covers.
#[derive(Clone, Copy, Debug)]
pub enum Reach<'a> {
    /// Every placed record, from the start of the file.
    All,
    /// The records of these contigs (ascending), each found through the index, which must
    /// exist ([`Input::require_index`]).
    Contigs(&'a [usize]),
    /// Every placed record from the first record of the first of these contigs (ascending)
    /// that the index places anything on; without a BAM index (or for CRAM), from the start.
    /// The sink decides where to stop.
    From(&'a [usize]),
}

/// One alignment file, open, with what was read of its header.
pub struct Input {
    pub path: PathBuf,
    /// Shared with the reader (a header can list millions of contigs).
    pub header: Arc<Header>,
    /// The sample's name in outputs: `@RG SM` or the file name, made unique among the run's
    /// inputs by [`unique_names`].
    pub sample: String,
    reader: AlignmentReader,
    /// The BAI/CSI offsets (BAM) or the CRAI's path (CRAM), once looked for.
    index: Option<Located>,
    /// Records decoded so far, placed or not.
    decoded: u64,
    /// Records handed to the sink.
    delivered: u64,
    fields_set: bool,
}

enum Located {
    Bam(Vec<Option<u64>>),
    Cram(PathBuf),
}

impl Input {
    /// Opens `path` (BAM or CRAM, by content) and reads its header; `reference` is required
    /// for CRAM. `pool` inflates BAM blocks; CRAM decodes with as many htslib threads.
    pub fn open(
        path: &Path,
        reference: Option<&Path>,
        pool: Arc<rayon::ThreadPool>,
    ) -> Result<Input> {
        let reader = AlignmentReader::open(path, reference, pool)?;
        let header = reader.header().clone();
        Ok(Input {
            path: path.to_path_buf(),
            sample: header.sample_name(path),
            header,
            reader,
            index: None,
            decoded: 0,
            delivered: 0,
            fields_set: false,
        })
    }

    pub fn is_cram(&self) -> bool {
        self.reader.is_cram()
    }

    /// The index extensions samtools looks for: `.bai`/`.csi` for BAM, `.crai` for CRAM.
    fn index_exts(&self) -> &'static [&'static str] {
        if self.reader.is_cram() {
            &["crai"]
        } else {
            &["bai", "csi"]
        }
    }

    /// Whether an index lies next to the file.
    pub fn has_index(&self) -> bool {
        index::candidates(&self.path, self.index_exts())
            .iter()
            .any(|p| p.is_file())
    }

    /// Fails unless the file has an index; `why` says what needs it.
    pub fn require_index(&self, why: &str) -> Result<()> {
        if self.has_index() {
            return Ok(());
        }
        Err(Error::format(
            &self.path,
            format!(
                "index not found (looked for .{}); reading {why} needs one: create it with \
                 `samtools index`",
                self.index_exts().join(", .")
            ),
        ))
    }

    /// Every contig of the header is in the reference, with the same length.
    pub fn check_reference(&self, fasta: &FastaReader) -> Result<()> {
        check_reference(&self.header, &self.path, fasta)
    }

    /// Records decoded so far (placed or not, the one that ended a stretch included).
    pub fn records_decoded(&self) -> u64 {
        self.decoded
    }

    /// Records handed to a sink so far.
    pub fn records_delivered(&self) -> u64 {
        self.delivered
    }

    /// Hands the records of `reach` to `sink`, decoding `fields` of each (CRAM decodes only
    /// those; the first call fixes them). Progress is reported on `progress`.
    pub fn read<S: Sink>(
        &mut self,
        reach: Reach<'_>,
        fields: Fields,
        sink: &mut S,
        progress: Option<&Progress>,
    ) -> Result<()> {
        if !self.fields_set {
            self.reader.set_fields(fields);
            self.fields_set = true;
        }
        match reach {
            Reach::All => self.run(None, sink, progress),
            Reach::From(tids) => {
                let Some(&first) = tids.first() else {
                    return Ok(());
                };
                if first > 0 && !self.reader.is_cram() && self.has_index() {
                    let offsets = self.bam_offsets()?;
                    // The first contig of the list that has records. None: the reading can
                    // only reach unplaced records, which follow the last placed ones, so it
                    // starts at the last earlier contig with records (the sink skips them).
                    let found = tids.iter().find_map(|&t| offsets.get(t).copied().flatten());
                    let earlier = || {
                        offsets[..first.min(offsets.len())]
                            .iter()
                            .rev()
                            .flatten()
                            .next()
                            .copied()
                    };
                    if let Some(v) = found.or_else(earlier) {
                        self.reader.seek_bam(v)?;
                    }
                }
                self.run(None, sink, progress)
            }
            Reach::Contigs(tids) if tids.len() > 1 && self.reader.is_cram() => {
                // One iterator over all of them: a CRAM container often holds many contigs.
                let crai = self.cram_index()?;
                self.reader.seek_cram_contigs(&crai, tids)?;
                self.run(None, sink, progress)
            }
            Reach::Contigs(tids) => {
                for &tid in tids {
                    if self.reader.is_cram() {
                        let crai = self.cram_index()?;
                        self.reader.seek_cram(&crai, tid)?;
                    } else {
                        match self.bam_offsets()?.get(tid).copied().flatten() {
                            Some(v) => self.reader.seek_bam(v)?,
                            // The index places no record on this contig.
                            None => continue,
                        }
                    }
                    self.run(Some(tid), sink, progress)?;
                }
                Ok(())
            }
        }
    }

    fn bam_offsets(&mut self) -> Result<&[Option<u64>]> {
        if !matches!(self.index, Some(Located::Bam(_))) {
            self.index = Some(Located::Bam(index::first_offsets(&self.path)?));
        }
        match &self.index {
            Some(Located::Bam(v)) => Ok(v),
            _ => Ok(&[]),
        }
    }

    fn cram_index(&mut self) -> Result<PathBuf> {
        if let Some(Located::Cram(p)) = &self.index {
            return Ok(p.clone());
        }
        let p = index::require_cram_index(&self.path)?;
        self.index = Some(Located::Cram(p.clone()));
        Ok(p)
    }

    fn run<S: Sink>(
        &mut self,
        only: Option<usize>,
        sink: &mut S,
        progress: Option<&Progress>,
    ) -> Result<()> {
        let mut checked = Checked {
            path: &self.path,
            n_refs: self.header.refs.len(),
            only,
            last: (-1, i64::MIN),
            decoded: &mut self.decoded,
            delivered: &mut self.delivered,
            sink,
            progress,
        };
        self.reader.visit(&mut checked)
    }
}

/// The checks every reading gets, between the reader and the analysis's sink.
struct Checked<'a, S> {
    path: &'a Path,
    n_refs: usize,
    /// Reading one contig through the index.
    only: Option<usize>,
    last: (i64, i64),
    decoded: &'a mut u64,
    delivered: &'a mut u64,
    sink: &'a mut S,
    progress: Option<&'a Progress>,
}

impl<S: Sink> Visitor for Checked<'_, S> {
    #[inline]
    fn record<A: Alignment>(&mut self, rec: &A) -> Result<bool> {
        *self.decoded += 1;
        if *self.decoded & 0xffff == 0 {
            if let Some(p) = self.progress {
                p.records(*self.decoded);
            }
        }
        let tid = rec.ref_id();
        if tid < 0 {
            // Unplaced reads come last in a sorted file: only a whole-file reading hands them on.
            if self.only.is_some() {
                return Ok(false);
            }
            return self.sink.unplaced(rec);
        }
        let t = tid as usize;
        if t >= self.n_refs {
            return Err(Error::format(
                self.path,
                format!("record refers to contig #{t}, which the header does not list"),
            ));
        }
        if let Some(o) = self.only {
            if t != o {
                // An earlier contig's records can share the first container (CRAM): skip
                // them; a record of a later contig ends this one.
                return Ok(t < o);
            }
        }
        let key = (tid as i64, rec.pos());
        if key < self.last {
            return Err(Error::format(
                self.path,
                format!(
                    "record #{} is out of order: records are not sorted by coordinate (sort \
                     with `samtools sort`)",
                    *self.decoded
                ),
            ));
        }
        self.last = key;
        *self.delivered += 1;
        self.sink.record(t, rec)
    }
}

/// Makes sample names unique, in input order: a repeated name gets `_2`, `_3`, ... (the first
/// number that is free), so VCF sample columns never clash.
pub fn unique_names(names: &mut [String]) {
    let mut seen: std::collections::HashSet<String> = std::collections::HashSet::new();
    for s in names.iter_mut() {
        if !seen.contains(s.as_str()) {
            seen.insert(s.clone());
            continue;
        }
        let mut n = 2u64;
        while seen.contains(&format!("{s}_{n}")) {
            n += 1;
        }
        *s = format!("{s}_{n}");
        seen.insert(s.clone());
    }
}

/// Opens every input once, names the samples (unique, see [`unique_names`]) and, with a
/// reference, checks every header against it. Every problem with an input is found here,
/// before any output exists.
pub fn open_all(
    paths: &[PathBuf],
    reference: Option<(&Path, &FastaReader)>,
    pool: &Arc<rayon::ThreadPool>,
) -> Result<Vec<Input>> {
    let mut inputs = Vec::with_capacity(paths.len());
    for p in paths {
        let input = Input::open(p, reference.map(|r| r.0), pool.clone())?;
        if let Some((_, fasta)) = reference {
            input.check_reference(fasta)?;
        }
        inputs.push(input);
    }
    let mut names: Vec<String> = inputs.iter().map(|i| i.sample.clone()).collect();
    unique_names(&mut names);
    for (i, n) in inputs.iter_mut().zip(names) {
        i.sample = n;
    }
    Ok(inputs)
}

/// Fails unless every input lists the first one's contigs (names, lengths, order).
pub fn require_same_contigs(inputs: &[Input]) -> Result<()> {
    let Some(first) = inputs.first() else {
        return Ok(());
    };
    for i in &inputs[1..] {
        if i.header.refs != first.header.refs {
            return Err(Error::format(
                &i.path,
                format!(
                    "its contigs (names, lengths or order) differ from those of {}",
                    first.path.display()
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_names_get_the_first_free_number() {
        let mut v: Vec<String> = ["a", "b", "a", "a_2", "a"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        unique_names(&mut v);
        assert_eq!(v, ["a", "b", "a_2", "a_2_2", "a_3"]);
    }
}
