//! The read type of an alignment file (short reads, PacBio HiFi, Oxford Nanopore), found from
//! the file's first reads and its `@RG PL`, or forced (`--read-type`).
//!
//! The lengths decide short against long (nothing in a header can make a 15 kb read short);
//! among long reads the declared platform decides, else the reads' measured error rate and
//! base qualities. Detection reads the first [`DETECT_READS`] primary reads of the file from
//! its start, whatever the region or shard asked for, so every run over one file sees the
//! same type and the same rates.

use std::path::Path;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::input::{Input, Reach, Sink};
use crate::io::bam::{FLAG_SECONDARY, FLAG_SUPPLEMENTARY, FLAG_UNMAPPED};
use crate::io::{Alignment, CigarOp, Fields};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReadType {
    Short,
    Hifi,
    Ont,
}

impl ReadType {
    pub const ALL: [ReadType; 3] = [ReadType::Short, ReadType::Hifi, ReadType::Ont];

    /// The name `--read-type` takes and the VCF header writes.
    pub fn name(self) -> &'static str {
        match self {
            ReadType::Short => "short",
            ReadType::Hifi => "hifi",
            ReadType::Ont => "ont",
        }
    }

    /// `short`, `hifi` or `ont` (any case); `auto` is `None` (detect).
    pub fn parse_choice(s: &str) -> Result<Option<ReadType>> {
        let l = s.to_ascii_lowercase();
        if l == "auto" {
            return Ok(None);
        }
        ReadType::ALL
            .into_iter()
            .find(|t| t.name() == l)
            .map(Some)
            .ok_or_else(|| {
                Error::Usage(format!(
                    "--read-type: unknown read type '{s}' (auto, short, hifi or ont)"
                ))
            })
    }

    /// Long reads: their error rates are measured per read ([`measure_errors`]).
    pub fn is_long(self) -> bool {
        self != ReadType::Short
    }
}

/// A long read's own error rates, measured on its alignment (`NM` and the CIGAR), as phred;
/// 0 where unknown. Long-read base qualities lump substitutions and indels together (and
/// indels dominate), so a long read's mismatches cost at least its measured substitution
/// rate and its gaps open at its measured indel rate. Short reads are too short to measure:
/// they keep their base qualities.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReadErrors {
    pub mismatch: u8,
    pub gap_open: u8,
}

/// Aligned bases a read needs for its error rates to be measured.
pub const MIN_MEASURED: u64 = 1000;

/// A rate of `events` in `bases` as phred (clamped to 10-45).
pub fn phred_rate(events: u64, bases: u64) -> u8 {
    let p = (events as f64 + 1.0) / (bases as f64 + 1.0);
    (-10.0 * p.log10()).round().clamp(10.0, 45.0) as u8
}

/// Aligned bases, indel events and indel bases of a CIGAR.
fn cigar_counts(cigar: &[CigarOp]) -> (u64, u64, u64) {
    let (mut aligned, mut gaps, mut gap_bases) = (0u64, 0u64, 0u64);
    for c in cigar {
        match c.op {
            b'M' | b'=' | b'X' => aligned += c.len as u64,
            b'I' | b'D' => {
                gaps += 1;
                gap_bases += c.len as u64;
            }
            _ => {}
        }
    }
    (aligned, gaps, gap_bases)
}

/// [`ReadErrors`] from a CIGAR and the `NM` tag.
pub fn measure_errors(cigar: &[CigarOp], nm: Option<i64>) -> ReadErrors {
    let (aligned, gaps, gap_bases) = cigar_counts(cigar);
    if aligned < MIN_MEASURED {
        return ReadErrors::default();
    }
    let mismatch = match nm {
        Some(nm) if nm >= 0 => phred_rate((nm as u64).saturating_sub(gap_bases), aligned),
        _ => 0,
    };
    ReadErrors {
        mismatch,
        gap_open: phred_rate(gaps, aligned),
    }
}

/// Primary reads looked at from the start of a file.
pub const DETECT_READS: u64 = 2000;
/// ...or fewer, once they hold this many bases (long reads).
pub const DETECT_BASES: u64 = 4_000_000;
/// Reads whose N50 length reaches this are long.
pub const LONG_N50: u64 = 1000;
/// Long reads erring (substitutions and indel events per aligned base) at least this often
/// are ONT's: HiFi reads err well under 1 %, ONT R9 reads 5-10 %, R10.4.1 2-5 %.
pub const ONT_ERROR_PPM: u64 = 20_000;
/// Long reads of a lower mean base quality are ONT's where the rate alone does not say
/// (R10.4.1 reads at Q20+): HiFi qualities average Q30 and above.
pub const HIFI_MIN_MEAN_QUAL: u64 = 30;

/// What a detection saw, and what it decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Detection {
    pub read_type: ReadType,
    /// Why: `--read-type`, the `@RG PL` value, or the reads' figures.
    pub source: String,
    /// Primary reads looked at.
    pub reads: u64,
    /// N50 of their stored lengths.
    pub n50: u64,
    /// Mean base quality, where stored.
    pub mean_qual: Option<u64>,
    /// Substitutions, indel events and aligned bases of the reads whose rates could be
    /// measured (as [`measure_errors`] measures one read's).
    pub errors: (u64, u64, u64),
    /// The measured reads' pooled rates, for long reads too short to measure on their own:
    /// zero (not measured) for short reads.
    pub typical: ReadErrors,
}

impl Detection {
    /// The pooled error rate in parts per million, where measured.
    pub fn error_ppm(&self) -> Option<u64> {
        ppm(self.errors)
    }

    /// One line for the log.
    pub fn describe(&self) -> String {
        let mut s = format!(
            "{} reads ({}; {} reads seen, N50 {} bp",
            self.read_type.name(),
            self.source,
            self.reads,
            self.n50
        );
        if let Some(q) = self.mean_qual {
            s += &format!(", mean quality {q}");
        }
        if let Some(p) = self.error_ppm() {
            s += &format!(", {:.2} % errors", p as f64 / 1e4);
        }
        s + ")"
    }
}

/// Substitutions and indel events per million aligned bases, where any were measured.
fn ppm((subs, gaps, aligned): (u64, u64, u64)) -> Option<u64> {
    (aligned > 0).then(|| (subs + gaps) * 1_000_000 / aligned)
}

/// The platform an `@RG PL` value names, where kasane knows it.
fn platform(pl: &str) -> Option<ReadType> {
    match pl.to_ascii_uppercase().as_str() {
        "ONT" | "NANOPORE" | "OXFORDNANOPORE" => Some(ReadType::Ont),
        "PACBIO" => Some(ReadType::Hifi),
        "ILLUMINA" | "BGI" | "MGI" | "DNBSEQ" | "ELEMENT" | "ULTIMA" | "IONTORRENT" | "SOLID"
        | "LS454" | "HELICOS" | "CAPILLARY" | "SINGULAR" => Some(ReadType::Short),
        _ => None,
    }
}

/// The first `@RG` line's `PL` value of a SAM header text.
pub fn header_platform(text: &str) -> Option<String> {
    text.lines()
        .filter(|l| l.starts_with("@RG\t"))
        .flat_map(|l| l.split('\t'))
        .find_map(|f| f.strip_prefix("PL:"))
        .map(str::to_string)
}

/// The figures of a file's first reads.
#[derive(Default)]
struct Tally {
    reads: u64,
    bases: u64,
    lengths: Vec<u64>,
    qual_sum: u64,
    qual_n: u64,
    subs: u64,
    gaps: u64,
    aligned: u64,
    qual: Vec<u8>,
}

impl Sink for Tally {
    fn record<A: Alignment>(&mut self, _tid: usize, rec: &A) -> Result<bool> {
        if rec.flag() & (FLAG_UNMAPPED | FLAG_SECONDARY | FLAG_SUPPLEMENTARY) != 0 {
            return Ok(true);
        }
        let len = rec.seq_len() as u64;
        if len == 0 {
            return Ok(true);
        }
        self.reads += 1;
        self.bases += len;
        self.lengths.push(len);
        self.qual.clear();
        rec.qual_into(&mut self.qual);
        if self.qual.first().is_some_and(|&q| q != 0xff) {
            self.qual_sum += self.qual.iter().map(|&q| q as u64).sum::<u64>();
            self.qual_n += self.qual.len() as u64;
        }
        let mut cigar = Vec::with_capacity(rec.n_cigar());
        rec.for_each_cigar(|c| cigar.push(c));
        let (aligned, gaps, gap_bases) = cigar_counts(&cigar);
        if let Some(nm) = rec.aux_int(*b"NM").filter(|&nm| nm >= 0) {
            if aligned >= MIN_MEASURED {
                self.subs += (nm as u64).saturating_sub(gap_bases);
                self.gaps += gaps;
                self.aligned += aligned;
            }
        }
        Ok(self.reads < DETECT_READS && self.bases < DETECT_BASES)
    }
}

/// N50 of `lengths` (sorted in place).
fn n50(lengths: &mut [u64]) -> u64 {
    lengths.sort_unstable_by(|a, b| b.cmp(a));
    let half = lengths.iter().sum::<u64>().div_ceil(2);
    let mut acc = 0;
    for &l in lengths.iter() {
        acc += l;
        if acc >= half {
            return l;
        }
    }
    0
}

/// Decides from a tally and the header's platform; `forced` overrides both.
fn decide(mut t: Tally, pl: Option<String>, forced: Option<ReadType>) -> Detection {
    let n50 = n50(&mut t.lengths);
    let mean_qual = (t.qual_n > 0).then(|| t.qual_sum / t.qual_n);
    let errors = (t.subs, t.gaps, t.aligned);
    let error_ppm = ppm(errors);
    let (read_type, source) = if let Some(f) = forced {
        (f, "--read-type".to_string())
    } else if t.reads == 0 {
        // Nothing to see (an empty file): the platform if declared, else short reads,
        // whose model needs nothing measured.
        match pl.as_deref().and_then(platform) {
            Some(p) => (p, format!("@RG PL:{}", pl.unwrap_or_default())),
            None => (ReadType::Short, "no reads".to_string()),
        }
    } else if n50 < LONG_N50 {
        (ReadType::Short, "read lengths".to_string())
    } else {
        match pl.as_deref().and_then(platform) {
            Some(p @ (ReadType::Hifi | ReadType::Ont)) => {
                (p, format!("@RG PL:{}", pl.unwrap_or_default()))
            }
            _ => {
                let noisy = error_ppm.is_some_and(|e| e >= ONT_ERROR_PPM);
                let low_qual = mean_qual.is_some_and(|q| q < HIFI_MIN_MEAN_QUAL);
                let why = if noisy {
                    "error rate"
                } else if low_qual {
                    "base qualities"
                } else {
                    "error rate and base qualities"
                };
                let t = if noisy || low_qual {
                    ReadType::Ont
                } else {
                    ReadType::Hifi
                };
                (t, format!("read lengths, {why}"))
            }
        }
    };
    let typical = if read_type.is_long() && t.aligned >= MIN_MEASURED {
        ReadErrors {
            mismatch: phred_rate(t.subs, t.aligned),
            gap_open: phred_rate(t.gaps, t.aligned),
        }
    } else {
        ReadErrors::default()
    };
    Detection {
        read_type,
        source,
        reads: t.reads,
        n50,
        mean_qual,
        errors,
        typical,
    }
}

/// Detects the read type of the file at `path` (or takes `forced`), reading its first reads
/// from the start.
pub fn detect(
    path: &Path,
    reference: Option<&Path>,
    pool: Arc<rayon::ThreadPool>,
    forced: Option<ReadType>,
) -> Result<Detection> {
    let mut input = Input::open(path, reference, pool)?;
    let pl = header_platform(&input.header.text);
    let mut t = Tally::default();
    input.read(Reach::All, Fields::Full, &mut t, None)?;
    Ok(decide(t, pl, forced))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tally(len: u64, n: u64, qual: u64, events: u64, aligned: u64) -> Tally {
        Tally {
            reads: n,
            bases: len * n,
            lengths: vec![len; n as usize],
            qual_sum: qual * len * n,
            qual_n: len * n,
            subs: events / 2,
            gaps: events - events / 2,
            aligned,
            qual: Vec::new(),
        }
    }

    #[test]
    fn lengths_then_platform_then_errors_decide() {
        let short = decide(tally(150, 100, 35, 0, 0), Some("ONT".into()), None);
        assert_eq!(short.read_type, ReadType::Short);
        assert_eq!(short.typical, ReadErrors::default());
        let declared = decide(
            tally(15000, 100, 40, 1, 1_000_000),
            Some("ONT".into()),
            None,
        );
        assert_eq!(declared.read_type, ReadType::Ont);
        assert_eq!(declared.source, "@RG PL:ONT");
        let noisy = decide(tally(15000, 100, 40, 50_000, 1_000_000), None, None);
        assert_eq!(noisy.read_type, ReadType::Ont);
        assert_eq!(noisy.error_ppm(), Some(50_000));
        let low_qual = decide(tally(15000, 100, 20, 5_000, 1_000_000), None, None);
        assert_eq!(low_qual.read_type, ReadType::Ont);
        let hifi = decide(
            tally(15000, 100, 40, 5_000, 1_000_000),
            Some("x".into()),
            None,
        );
        assert_eq!(hifi.read_type, ReadType::Hifi);
        assert!(hifi.typical.gap_open > 0);
        let forced = decide(
            tally(15000, 100, 40, 5_000, 1_000_000),
            None,
            Some(ReadType::Short),
        );
        assert_eq!(forced.read_type, ReadType::Short);
        assert_eq!(forced.typical, ReadErrors::default());
    }

    #[test]
    fn choices_parse() {
        assert_eq!(ReadType::parse_choice("ONT").unwrap(), Some(ReadType::Ont));
        assert_eq!(ReadType::parse_choice("auto").unwrap(), None);
        assert!(ReadType::parse_choice("clr").is_err());
        assert_eq!(
            header_platform("@HD\tVN:1.6\n@RG\tID:a\tSM:s\tPL:PACBIO\n"),
            Some("PACBIO".into())
        );
    }
}
