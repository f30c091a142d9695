//! A truth set or call set read for evaluation: small variants normalized into primitive
//! "atoms" (SNVs, insertions, deletions; trimmed and left-aligned against the reference, as
//! `bcftools norm -a -m -both -f` would leave them), and structural variants kept whole for
//! truvari-style matching ([`super::sv`]).
//!
//! Checks made while reading, each an error naming the file and the record: contigs absent
//! from the reference, records out of order, REF bases that are not the reference's (a VCF
//! for another assembly), a named sample the file does not have.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};
use crate::io::fasta::FastaReader;
use crate::io::vcf_reader::{Record, VcfReader};

use super::sv::SvRec;

pub use super::genotype::Zyg;

/// One primitive small variant: reference bases `[pos, pos + ref_len)` replaced by `alt`
/// (an insertion has `ref_len` 0 and goes before base `pos`; a deletion has an empty `alt`).
#[derive(Clone, Copy, Debug)]
pub struct Atom {
    /// 0-based.
    pub pos: u64,
    pub ref_len: u32,
    /// Offset and length of the ALT bases in the contig's arena.
    pub alt_off: u32,
    pub alt_len: u32,
    /// The record it came from (0-based, in file order).
    pub rec: u32,
    pub zyg: Zyg,
    /// The ranking score (`--score`), NaN when the record has none.
    pub score: f32,
    /// INFO `VAF` (somatic truth sets), NaN when absent.
    pub vaf: f32,
}

impl Atom {
    pub fn is_snv(&self) -> bool {
        self.ref_len == 1 && self.alt_len == 1
    }

    /// Inserted (positive) or deleted (negative) bases; 0 for an SNV.
    pub fn indel_len(&self) -> i64 {
        self.alt_len as i64 - self.ref_len as i64
    }

    /// The reference span, at least one base (an insertion is placed at its position).
    pub fn end(&self) -> u64 {
        self.pos + (self.ref_len as u64).max(1)
    }
}

/// What one contig holds of one side.
#[derive(Debug, Default)]
pub struct ContigVars {
    /// Sorted by (pos, ref_len, alt).
    pub atoms: Vec<Atom>,
    /// ALT bases of the atoms.
    pub arena: Vec<u8>,
    /// Structural variants, in file order (sorted by position).
    pub svs: Vec<SvRec>,
}

impl ContigVars {
    pub fn alt(&self, a: &Atom) -> &[u8] {
        &self.arena[a.alt_off as usize..(a.alt_off + a.alt_len) as usize]
    }

    /// What makes two atoms equal: position, reference span, ALT bases.
    pub fn key<'a>(&'a self, a: &Atom) -> (u64, u32, &'a [u8]) {
        (a.pos, a.ref_len, self.alt(a))
    }

    /// Sorts the atoms by [`ContigVars::key`] (then record), the order matching walks.
    pub fn sort_atoms(&mut self) {
        let mut atoms = std::mem::take(&mut self.atoms);
        atoms.sort_by(|a, b| self.key(a).cmp(&self.key(b)).then(a.rec.cmp(&b.rec)));
        self.atoms = atoms;
    }
}

/// How records are ranked for the precision-recall curve.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScoreField {
    Qual,
    Info(String),
    Format(String),
}

impl ScoreField {
    /// `QUAL`, `INFO/KEY` or `FORMAT/KEY`.
    pub fn parse(s: &str) -> Result<Self> {
        if s.eq_ignore_ascii_case("QUAL") {
            return Ok(ScoreField::Qual);
        }
        if let Some(k) = s.strip_prefix("INFO/").filter(|k| !k.is_empty()) {
            return Ok(ScoreField::Info(k.to_string()));
        }
        if let Some(k) = s.strip_prefix("FORMAT/").filter(|k| !k.is_empty()) {
            return Ok(ScoreField::Format(k.to_string()));
        }
        Err(Error::Usage(format!(
            "--score '{s}': expected QUAL, INFO/KEY or FORMAT/KEY"
        )))
    }

    pub fn name(&self) -> String {
        match self {
            ScoreField::Qual => "QUAL".into(),
            ScoreField::Info(k) => format!("INFO/{k}"),
            ScoreField::Format(k) => format!("FORMAT/{k}"),
        }
    }

    fn value(&self, r: &Record<'_>, sample: Option<usize>) -> f32 {
        let v = match self {
            ScoreField::Qual => r.qual(),
            ScoreField::Info(k) => r.info_f64(k),
            ScoreField::Format(k) => sample
                .and_then(|s| r.format(s, k))
                .and_then(|v| std::str::from_utf8(v.split(|&b| b == b',').next()?).ok())
                .and_then(|v| v.parse().ok()),
        };
        v.map_or(f32::NAN, |v| v as f32)
    }
}

/// How a side is read.
#[derive(Clone, Debug)]
pub struct ReadOptions {
    /// The sample column whose genotype is used (default: the first).
    pub sample: Option<String>,
    pub score: ScoreField,
    /// A record whose size (truvari's) is at least this goes to SV matching (symbolic alleles
    /// and breakends always do).
    pub sv_min: u32,
    /// Sequence alleles changing the length by less than this are small variants (a record
    /// can be both: an indel of 30 to 49 bp is a candidate match for an SV).
    pub small_max: u32,
    /// Warn of records that overlap where they cannot both hold (a truth set).
    pub check_overlaps: bool,
    /// Only these contigs (by reference index) are read (`--shard`); records elsewhere are
    /// numbered and checked for order, not parsed.
    pub only: Option<Arc<Vec<bool>>>,
}

/// One side read whole.
#[derive(Debug)]
pub struct Side {
    pub path: PathBuf,
    /// The sample whose genotypes were used.
    pub sample: Option<String>,
    /// Indexed like the reference's contigs.
    pub contigs: Vec<ContigVars>,
    /// Records in the file (each call set's results are indexed by record).
    pub n_records: usize,
    pub warnings: Vec<String>,
}

/// The genome both sides are on: the reference's contigs and, through a small cache shared by
/// the threads reading both sides (which walk the genome in the same order), whole-contig
/// sequences. Without a reference (SVs only, as truvari runs without `-f`), the contigs are
/// the truth header's and there are no sequences.
pub struct Genome {
    pub contigs: Vec<(String, u64)>,
    pub fasta: Option<FastaReader>,
    /// The file the contigs come from (for messages).
    pub source: PathBuf,
    tid_of: HashMap<String, usize>,
    held: Mutex<Vec<(usize, Arc<Vec<u8>>)>>,
}

impl Genome {
    pub fn open(fasta: Option<&Path>, truth: &Path, pool: Arc<rayon::ThreadPool>) -> Result<Self> {
        let (contigs, fasta, source) = match fasta {
            Some(p) => {
                let f = FastaReader::open(p)?;
                let c = f
                    .contigs()
                    .iter()
                    .map(|e| (e.name.clone(), e.len))
                    .collect();
                (c, Some(f), p.to_path_buf())
            }
            None => {
                let rd = VcfReader::open(truth, pool)?;
                let mut c = Vec::new();
                for (name, len) in &rd.meta().contigs {
                    let Some(len) = len else {
                        return Err(Error::format(
                            truth,
                            format!("##contig {name} has no length: give the reference with -f"),
                        ));
                    };
                    c.push((name.clone(), *len));
                }
                if c.is_empty() {
                    return Err(Error::format(
                        truth,
                        "the header lists no ##contig lines: give the reference with -f",
                    ));
                }
                (c, None, truth.to_path_buf())
            }
        };
        let tid_of = contigs
            .iter()
            .enumerate()
            .map(|(i, (n, _))| (n.clone(), i))
            .collect();
        Ok(Genome {
            contigs,
            fasta,
            source,
            tid_of,
            held: Mutex::new(Vec::new()),
        })
    }

    pub fn tid(&self, name: &str) -> Option<usize> {
        self.tid_of.get(name).copied()
    }

    pub fn has_sequence(&self) -> bool {
        self.fasta.is_some()
    }

    /// Bases `[start, end)` of a contig (uppercase), `None` without a reference or on a read
    /// error (a symbolic SV then stays unresolved, as without a reference).
    pub fn fetch(&self, tid: usize, start: u64, end: u64) -> Option<Vec<u8>> {
        let (name, _) = &self.contigs[tid];
        self.fasta.as_ref()?.fetch(name, start, end).ok()
    }

    /// A contig's bases (uppercase); empty without a reference.
    pub fn seq(&self, tid: usize) -> Result<Arc<Vec<u8>>> {
        let Some(fasta) = &self.fasta else {
            return Ok(Arc::new(Vec::new()));
        };
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, s)) = held.iter().find(|(t, _)| *t == tid) {
            return Ok(s.clone());
        }
        let (name, len) = &self.contigs[tid];
        let seq = Arc::new(fasta.fetch(name, 0, *len)?);
        if held.len() >= 3 {
            held.remove(0);
        }
        held.push((tid, seq.clone()));
        Ok(seq)
    }
}

fn rec_err(path: &Path, r: &Record<'_>, msg: impl std::fmt::Display) -> Error {
    Error::format(
        path,
        format!("line {} ({}:{}): {msg}", r.line_no, r.chrom(), {
            r.pos().map_or("?".to_string(), |p| p.to_string())
        }),
    )
}

/// Reads `path` whole.
pub fn read_side(
    path: &Path,
    genome: &Genome,
    opts: &ReadOptions,
    pool: Arc<rayon::ThreadPool>,
) -> Result<Side> {
    let mut rd = VcfReader::open(path, pool)?;
    let sample = match &opts.sample {
        Some(name) => Some(rd.meta().sample(name).ok_or_else(|| {
            Error::format(
                path,
                format!(
                    "no sample '{name}' (the file has: {})",
                    if rd.meta().samples.is_empty() {
                        "none, it is sites-only".to_string()
                    } else {
                        rd.meta().samples.join(", ")
                    }
                ),
            )
        })?),
        None => (!rd.meta().samples.is_empty()).then_some(0),
    };
    let sample_name = sample.map(|i| rd.meta().samples[i].clone());
    let n_contigs = genome.contigs.len();
    let mut contigs: Vec<ContigVars> = (0..n_contigs).map(|_| ContigVars::default()).collect();
    let mut done = vec![false; n_contigs];
    // The current contig, and its bases once a small variant needed them.
    let mut cur: Option<(usize, Option<Arc<Vec<u8>>>)> = None;
    let mut last_pos = 0u64;
    let mut rec_no: u32 = 0;
    let mut scratch = Vec::new();
    let mut multi_sv = 0u64;
    let mut off_contig = (0u64, String::new());
    let path_buf = path.to_path_buf();
    while let Some(r) = rd.next_record()? {
        let no = rec_no;
        rec_no = rec_no
            .checked_add(1)
            .ok_or_else(|| rec_err(path, &r, "more than 4 billion records"))?;
        let chrom = r.chrom();
        let tid = match cur.as_ref() {
            Some((t, _)) if genome.contigs[*t].0 == chrom => *t,
            _ => {
                let Some(t) = genome.tid(chrom) else {
                    if !genome.has_sequence() {
                        // truvari's rule without a reference: contigs the truth's header
                        // lacks are left out (with a warning).
                        if off_contig.0 == 0 {
                            off_contig.1 = chrom.to_string();
                        }
                        off_contig.0 += 1;
                        continue;
                    }
                    return Err(rec_err(
                        path,
                        &r,
                        format!(
                            "contig '{chrom}' is not in the reference {}: a VCF for another \
                             assembly?",
                            genome.source.display()
                        ),
                    ));
                };
                if done[t] {
                    return Err(rec_err(
                        path,
                        &r,
                        format!("contig '{chrom}' appears again after other contigs: the VCF is not sorted (bcftools sort)"),
                    ));
                }
                if let Some((prev, _)) = cur {
                    done[prev] = true;
                }
                cur = Some((t, None));
                last_pos = 0;
                t
            }
        };
        let pos = r.pos().map_err(|m| rec_err(path, &r, m))?;
        if pos < last_pos {
            return Err(rec_err(
                path,
                &r,
                format!(
                    "position {pos} comes after {last_pos}: the VCF is not sorted (bcftools sort)"
                ),
            ));
        }
        last_pos = pos;
        if opts.only.as_ref().is_some_and(|k| !k[tid]) {
            continue;
        }
        let held = &mut cur.as_mut().expect("a contig is current").1;
        let mut seq = || -> Result<Arc<Vec<u8>>> {
            if held.is_none() {
                *held = Some(genome.seq(tid)?);
            }
            Ok(held.clone().unwrap_or_default())
        };
        read_record(
            &r,
            no,
            sample,
            genome.contigs[tid].1,
            &mut seq,
            opts,
            &mut contigs[tid],
            &mut scratch,
            &path_buf,
            &mut multi_sv,
        )?;
    }
    for c in &mut contigs {
        c.sort_atoms();
    }
    let mut warnings = Vec::new();
    if opts.check_overlaps {
        if let Some(w) = overlap_warning(path, genome, &contigs) {
            warnings.push(w);
        }
    }
    if multi_sv > 0 {
        warnings.push(format!(
            "{}: {multi_sv} multi-allelic SV record(s) left out of SV matching (truvari refuses \
             them): split them with `bcftools norm -m-`",
            path.display()
        ));
    }
    if off_contig.0 > 0 {
        warnings.push(format!(
            "{}: {} record(s) on contigs the truth's header does not list (first: {}) left out",
            path.display(),
            off_contig.0,
            off_contig.1
        ));
    }
    Ok(Side {
        path: path.to_path_buf(),
        sample: sample_name,
        contigs,
        n_records: rec_no as usize,
        warnings,
    })
}

/// Records whose variants overlap on the reference where both cannot hold: one of them
/// hom-alt (it takes both haplotypes). They are kept (both count); the warning names the first
/// such pair and how many there are.
fn overlap_warning(path: &Path, genome: &Genome, contigs: &[ContigVars]) -> Option<String> {
    let mut n = 0u64;
    let mut first = None;
    for (tid, c) in contigs.iter().enumerate() {
        for w in c.atoms.windows(2) {
            let (a, b) = (&w[0], &w[1]);
            let overlap = b.pos < a.pos + a.ref_len as u64
                || (b.pos == a.pos && a.ref_len == 0 && b.ref_len == 0);
            if a.rec != b.rec && overlap && (a.zyg == Zyg::HomAlt || b.zyg == Zyg::HomAlt) {
                n += 1;
                first.get_or_insert((tid, a.pos + 1, b.pos + 1));
            }
        }
    }
    let (tid, p, q) = first?;
    let chrom = &genome.contigs[tid].0;
    Some(format!(
        "{}: {n} pair(s) of overlapping records cannot both hold (a hom-alt variant overlaps \
         another; first: {chrom}:{p} and {chrom}:{q}); both are counted",
        path.display()
    ))
}

/// Whether an ALT allele is symbolic (`<DEL>`), a breakend, or the spanning deletion `*`.
pub fn is_symbolic(alt: &[u8]) -> bool {
    alt.first() == Some(&b'<') || alt.contains(&b'[') || alt.contains(&b']') || alt == b"*"
}

#[allow(clippy::too_many_arguments)]
fn read_record(
    r: &Record<'_>,
    no: u32,
    sample: Option<usize>,
    contig_len: u64,
    seq: &mut dyn FnMut() -> Result<Arc<Vec<u8>>>,
    opts: &ReadOptions,
    out: &mut ContigVars,
    scratch: &mut Vec<u8>,
    path: &Path,
    multi_sv: &mut u64,
) -> Result<()> {
    let gt = sample.and_then(|s| r.genotype(s));
    let alts: Vec<&[u8]> = r.alts().collect();
    let reference = r.reference();
    let pos0 = r.pos().map_err(|m| rec_err(path, r, m))?.saturating_sub(1);
    if pos0 >= contig_len {
        return Err(rec_err(
            path,
            r,
            format!(
                "position is past the end of the contig in the reference ({contig_len} bp): a VCF for another assembly?"
            ),
        ));
    }
    let score = opts.score.value(r, sample);
    // Structural (truvari's view of ALT[0]): symbolic, a breakend, or a size of sv_min or
    // more. Every such record goes to SV matching, whatever its genotype and filter (truvari's
    // defaults; its options filter there).
    if let Some(s) = super::sv::SvRec::from_record(r, no, pos0, gt.as_ref(), score) {
        if s.symbolic || s.is_bnd || s.size >= opts.sv_min as u64 {
            if s.multi {
                *multi_sv += 1;
            }
            out.svs.push(s);
        }
    }
    // Small variants: sequence alleles whose length changes stay under small_max; a record
    // carrying one of the sample's ALT alleles with FILTER PASS or `.` (hap.py's PASS rows,
    // score_small.py).
    let small = !alts.is_empty()
        && alts.iter().all(|a| !is_symbolic(a) || *a == b"*")
        && alts.iter().all(|a| {
            (a.len() as i64 - reference.len() as i64).unsigned_abs() < opts.small_max as u64
        });
    if !small || !r.passes() {
        return Ok(());
    }
    let called: Vec<u32> = gt
        .as_ref()
        .map(|g| g.alleles.iter().flatten().copied().collect())
        .unwrap_or_default();
    // Which ALT alleles the sample carries (all of them in a sites-only file).
    let present = |k: u32| gt.is_none() || called.contains(&k);
    if !(1..=alts.len() as u32).any(present) {
        return Ok(());
    }
    // The contig's bases, read when its first small variant comes.
    let seq_arc = seq()?;
    let seq: &[u8] = &seq_arc;
    // The REF must be the reference's bases (N and IUPAC codes on either side pass).
    let end = pos0 + reference.len() as u64;
    scratch.clear();
    scratch.extend(reference.iter().map(u8::to_ascii_uppercase));
    if seq.is_empty() {
        // No reference: nothing to check against.
    } else if end > seq.len() as u64 {
        return Err(rec_err(
            path,
            r,
            "REF runs past the end of the contig in the reference: a VCF for another assembly?",
        ));
    } else if let Some(i) = (0..scratch.len()).find(|&i| {
        let (a, b) = (scratch[i], seq[pos0 as usize + i]);
        a != b && is_base(a) && is_base(b)
    }) {
        return Err(rec_err(
            path,
            r,
            format!(
                "REF '{}' does not match the reference ({} at {}): a VCF for another assembly?",
                String::from_utf8_lossy(reference),
                seq[pos0 as usize + i] as char,
                pos0 + i as u64 + 1
            ),
        ));
    }
    let vaf = r.info_f64("VAF").map_or(f32::NAN, |v| v as f32);
    let ploidy = called.len();
    let distinct_alts = {
        let mut v: Vec<u32> = called.iter().copied().filter(|&a| a > 0).collect();
        v.sort_unstable();
        v.dedup();
        v.len()
    };
    for (i, alt) in alts.iter().enumerate() {
        let k = i as u32 + 1;
        if !present(k) || is_symbolic(alt) || alt.is_empty() || *alt == b"." {
            continue;
        }
        let zyg = if gt.is_none() || ploidy == 0 {
            Zyg::Unknown
        } else if called.iter().all(|&a| a == k) {
            Zyg::HomAlt
        } else if distinct_alts > 1 {
            Zyg::HetAlt
        } else {
            Zyg::Het
        };
        let alt_up: Vec<u8> = alt.iter().map(u8::to_ascii_uppercase).collect();
        for (p, rl, a) in atomize(seq, pos0, scratch, &alt_up) {
            let off = out.arena.len() as u32;
            out.arena.extend_from_slice(&a);
            out.atoms.push(Atom {
                pos: p,
                ref_len: rl,
                alt_off: off,
                alt_len: a.len() as u32,
                rec: no,
                zyg,
                score,
                vaf,
            });
        }
    }
    Ok(())
}

fn is_base(b: u8) -> bool {
    matches!(b, b'A' | b'C' | b'G' | b'T')
}

/// One allele as primitive variants: the common suffix and prefix trimmed; equal lengths give
/// an SNV per differing base; a pure insertion or deletion is left-aligned; a complex allele
/// gives SNVs for its aligned start and one indel for the rest (left-aligned no further than
/// its last SNV). Returns (0-based position, reference bases replaced, ALT bases).
pub fn atomize(seq: &[u8], pos: u64, r: &[u8], a: &[u8]) -> Vec<(u64, u32, Vec<u8>)> {
    let (mut r, mut a, mut pos) = (r, a, pos);
    while !r.is_empty() && !a.is_empty() && r[r.len() - 1] == a[a.len() - 1] {
        r = &r[..r.len() - 1];
        a = &a[..a.len() - 1];
    }
    while !r.is_empty() && !a.is_empty() && r[0] == a[0] {
        r = &r[1..];
        a = &a[1..];
        pos += 1;
    }
    let mut out = Vec::new();
    let m = r.len().min(a.len());
    let mut floor = 0u64;
    for i in 0..m {
        if r[i] != a[i] {
            out.push((pos + i as u64, 1, vec![a[i]]));
            floor = pos + i as u64 + 1;
        }
    }
    if r.len() != a.len() {
        let p = pos + m as u64;
        let (rl, ins) = (r.len() - m, a[m..].to_vec());
        out.push(left_align(seq, p, rl as u32, ins, floor));
    }
    out
}

/// Moves an insertion or deletion left while the reference allows it (not before `floor`).
pub fn left_align(
    seq: &[u8],
    pos: u64,
    ref_len: u32,
    mut ins: Vec<u8>,
    floor: u64,
) -> (u64, u32, Vec<u8>) {
    let mut p = pos as usize;
    let floor = floor as usize;
    if ref_len > 0 && ins.is_empty() {
        let l = ref_len as usize;
        while p > floor && p + l <= seq.len() && seq[p - 1] == seq[p + l - 1] && is_base(seq[p - 1])
        {
            p -= 1;
        }
    } else if ref_len == 0 && !ins.is_empty() {
        while p > floor && p <= seq.len() && Some(&seq[p - 1]) == ins.last() && is_base(seq[p - 1])
        {
            ins.rotate_right(1);
            p -= 1;
        }
    }
    (p as u64, ref_len, ins)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atoms_are_trimmed_split_and_left_aligned() {
        //          0123456789
        let seq = b"GATTTTACGT";
        // MNP -> two SNVs.
        assert_eq!(
            atomize(seq, 6, b"ACG", b"TCA"),
            vec![(6, 1, b"T".to_vec()), (8, 1, b"A".to_vec())]
        );
        // A deletion of one T, written at the end of the run: moves to the run's start.
        assert_eq!(atomize(seq, 4, b"TT", b"T"), vec![(2, 1, vec![])]);
        // An insertion of T at the end of the run: moves to before the run.
        assert_eq!(atomize(seq, 5, b"T", b"TT"), vec![(2, 0, b"T".to_vec())]);
        // Insertion of TA after "TTTTA" repeats rotates: ATTTTA... "TA" inserted before pos 6.
        assert_eq!(atomize(seq, 5, b"T", b"TTA").len(), 1);
        // Complex: SNV then deletion, the deletion not moved before the SNV.
        assert_eq!(
            atomize(seq, 6, b"ACGT", b"G"),
            vec![(6, 1, b"G".to_vec()), (7, 3, vec![])]
        );
    }
}
