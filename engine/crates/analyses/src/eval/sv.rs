//! Structural-variant matching with truvari bench 5.4's rules, parameters and defaults, so that
//! TP/FP/FN counts and `summary.json` fields equal truvari's on the same input.
//!
//! What is copied, and why it matters for equal counts:
//! - a record's end is htslib's (`stop`): REF span, INFO END past POS, or POS + |SVLEN| for
//!   `<DEL>`, `<DUP>`, `<INV>`, `<CNV>` (not `<INS>`); size from SVLEN, else the span of a
//!   symbolic allele, else the REF/ALT lengths; type from the breakend form, SVTYPE, the
//!   lengths or the symbolic allele;
//! - filters: no ALT or `*`, single breakends, `--passonly`, size (`--sizemin` for the truth,
//!   `--sizefilt` for calls, `--sizemax`); reference genotypes stay in (truvari's default)
//!   except under `--pick ac`;
//! - symbolic DEL/INV (and DUP with `--dup-to-ins`) resolved from the reference;
//! - chunks: records within `--chunksize` of the chunk's furthest end, truth before calls at
//!   equal start;
//! - a match's tests (type, `--refdist`, size similarity, reciprocal overlap with insertions
//!   widened, sequence similarity by exact edit distance with truvari's rolling) and score;
//!   breakend matching, with DEL/INV/DUP decomposed into breakends against a BND;
//! - picking within a chunk: numpy's (unstable) quicksort order for ties, and its `argmax`
//!   and `max` rules, because they decide which of two equal matches takes the genotype.

use rayon::prelude::*;
use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::io::vcf::VcfHeader;
use crate::io::vcf_reader::{Genotype, Record};

use super::genotype::Zyg;
use super::tally::Stratum;

/// How many matches a variant may take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pick {
    Single,
    Multi,
    Ac,
}

impl Pick {
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "single" => Ok(Pick::Single),
            "multi" => Ok(Pick::Multi),
            "ac" => Ok(Pick::Ac),
            _ => Err(Error::Usage(format!(
                "--pick {s}: expected single, multi or ac"
            ))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Pick::Single => "single",
            Pick::Multi => "multi",
            Pick::Ac => "ac",
        }
    }
}

/// truvari bench's matching parameters, same names and defaults.
#[derive(Clone, Debug)]
pub struct SvParams {
    pub refdist: u64,
    pub pctseq: f64,
    pub pctsize: f64,
    pub pctovl: f64,
    pub typeignore: bool,
    pub dup_to_ins: bool,
    pub sizemin: u64,
    /// `None`: truvari's default (`sizemin` when below 30, else 30).
    pub sizefilt: Option<u64>,
    /// -1: no maximum.
    pub sizemax: i64,
    pub passonly: bool,
    pub pick: Pick,
    /// -1: breakends are left out.
    pub bnddist: i64,
    pub chunksize: u64,
    pub no_roll: bool,
    /// A BND is compared with the breakends of a DEL, INV or DUP (truvari's default).
    pub decompose: bool,
    /// `--no-ref a|b|c`: records without ALT allele 1 in their genotype are left out, on
    /// both sides (a), the truth (b) or the calls (c).
    pub no_ref: Option<char>,
    /// Calls are read from the truth regions widened by this much each side; an unmatched
    /// call outside the regions themselves is not counted.
    pub extend: u64,
    /// Whether truth regions were given (set by the caller, for the checks).
    pub has_regions: bool,
    /// Symbolic alleles longer than this are not resolved from the reference.
    pub max_resolve: u64,
}

impl Default for SvParams {
    fn default() -> Self {
        SvParams {
            refdist: 500,
            pctseq: 0.7,
            pctsize: 0.7,
            pctovl: 0.0,
            typeignore: false,
            dup_to_ins: false,
            sizemin: 50,
            sizefilt: None,
            sizemax: 50000,
            passonly: false,
            pick: Pick::Single,
            bnddist: 100,
            chunksize: 1000,
            no_roll: false,
            decompose: true,
            no_ref: None,
            extend: 0,
            has_regions: false,
            max_resolve: 25000,
        }
    }
}

impl SvParams {
    pub fn sizefilt(&self) -> u64 {
        self.sizefilt
            .unwrap_or(if self.sizemin < 30 { self.sizemin } else { 30 })
    }

    pub fn check(&self) -> Result<()> {
        if self.extend > 0 && !self.has_regions {
            return Err(Error::Usage(
                "--extend needs --truth-regions (truvari's --includebed)".into(),
            ));
        }
        if self.chunksize < self.refdist {
            return Err(Error::Usage(format!(
                "--chunksize ({}) must be at least --refdist ({}), as truvari requires",
                self.chunksize, self.refdist
            )));
        }
        Ok(())
    }

    pub fn to_json(&self) -> Value {
        json!({
            "refdist": self.refdist, "pctseq": self.pctseq, "pctsize": self.pctsize,
            "pctovl": self.pctovl, "typeignore": self.typeignore, "dup_to_ins": self.dup_to_ins,
            "sizemin": self.sizemin, "sizefilt": self.sizefilt(), "sizemax": self.sizemax,
            "passonly": self.passonly, "pick": self.pick.name(), "bnddist": self.bnddist,
            "chunksize": self.chunksize, "no_roll": self.no_roll, "decompose": self.decompose,
            "no_ref": self.no_ref.map(|c| c.to_string()), "extend": self.extend,
        })
    }
}

/// truvari's SV types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SvType {
    Snp,
    Del,
    Ins,
    Dup,
    Inv,
    Non,
    Bnd,
    Unk,
}

impl SvType {
    fn from_name(s: &[u8]) -> SvType {
        match s {
            b"SNP" => SvType::Snp,
            b"DEL" => SvType::Del,
            b"INS" => SvType::Ins,
            b"DUP" => SvType::Dup,
            b"INV" => SvType::Inv,
            b"NON" => SvType::Non,
            b"BND" => SvType::Bnd,
            _ => SvType::Unk,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            SvType::Snp => "SNP",
            SvType::Del => "DEL",
            SvType::Ins => "INS",
            SvType::Dup => "DUP",
            SvType::Inv => "INV",
            SvType::Non => "NON",
            SvType::Bnd => "BND",
            SvType::Unk => "UNK",
        }
    }
}

/// A breakend's mate and orientation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Breakend {
    pub chr2: String,
    pub pos2: u64,
    /// `[` side (true) or `]` side.
    pub left: bool,
    /// The base comes first (true) or last.
    pub direct: bool,
}

impl Breakend {
    /// Parses a breakend ALT (`N[chr:pos[`, `]chr:pos]N`, ...).
    pub fn parse(alt: &[u8]) -> Option<Breakend> {
        let left = if alt.first() == Some(&b'[') || alt.last() == Some(&b'[') {
            true
        } else if alt.first() == Some(&b']') || alt.last() == Some(&b']') {
            false
        } else {
            return None;
        };
        let direct = if !matches!(alt.first(), Some(b'[' | b']')) {
            true
        } else if !matches!(alt.last(), Some(b'[' | b']')) {
            false
        } else {
            return None;
        };
        // [\[\]]([^\[\]:]+):(\d+)[\[\]], first occurrence.
        let s = std::str::from_utf8(alt).ok()?;
        let b = s.as_bytes();
        for i in 0..b.len() {
            if b[i] != b'[' && b[i] != b']' {
                continue;
            }
            let rest = &s[i + 1..];
            let Some(colon) = rest.find(':') else {
                continue;
            };
            let chr = &rest[..colon];
            if chr.is_empty() || chr.contains(['[', ']']) {
                continue;
            }
            let digits: String = rest[colon + 1..]
                .chars()
                .take_while(|c| c.is_ascii_digit())
                .collect();
            let after = rest[colon + 1 + digits.len()..].chars().next();
            if digits.is_empty() || !matches!(after, Some('[' | ']')) {
                continue;
            }
            return Some(Breakend {
                chr2: chr.to_string(),
                pos2: digits.parse().ok()?,
                left,
                direct,
            });
        }
        None
    }
}

/// One SV record of a side, with truvari's view of it.
#[derive(Clone, Debug)]
pub struct SvRec {
    /// Record number in its file.
    pub rec: u32,
    /// POS (1-based).
    pub pos1: u64,
    /// 0-based start.
    pub start: u64,
    /// htslib's end (`stop`); resolving a DUP as an insertion moves it.
    pub end: u64,
    pub size: u64,
    pub svtype: SvType,
    /// `[` or `]` in the ALT.
    pub is_bnd: bool,
    pub symbolic: bool,
    /// No ALT, or `*`.
    pub monref_star: bool,
    pub multi: bool,
    /// A breakend with `.` first or last.
    pub single_bnd: bool,
    pub ref_seq: Vec<u8>,
    pub alt_seq: Vec<u8>,
    pub resolved: bool,
    /// The sample's genotype; `None` without GT (or a sites-only file).
    pub gt: Option<Vec<Option<u32>>>,
    pub passes: bool,
    /// The second value of INFO CIPOS / CIEND (truvari uses it for both sides).
    pub cipos: Option<i64>,
    pub ciend: Option<i64>,
    pub breakend: Option<Breakend>,
    pub score: f32,
    pub vaf: f32,
    pub zyg: Option<Zyg>,
    /// The sequence compared in uppercase (REF of a deletion, else ALT) where it has
    /// lowercase bases, made by [`SvRec::prepare_seq`]; and the start of its least rotation,
    /// made when first needed. Once per record, not per pair.
    pub seq_upper: Option<Vec<u8>>,
    pub rot: std::sync::OnceLock<usize>,
}

/// htslib's symbolic alleles whose SVLEN extends the record: `<DEL`, `<DUP`, `<INV`, `<CNV`
/// followed by `>` or `:`.
fn svlen_on_ref(alt: &[u8]) -> bool {
    alt.len() >= 5
        && alt[0] == b'<'
        && matches!(&alt[1..4], b"CNV" | b"DEL" | b"DUP" | b"INV")
        && matches!(alt[4], b'>' | b':')
        && alt.last() == Some(&b'>')
}

fn parse_i64(v: &[u8]) -> Option<i64> {
    std::str::from_utf8(v).ok()?.trim().parse().ok()
}

impl SvRec {
    /// truvari's view of a record, or `None` when it is not one truvari could read.
    pub fn from_record(
        r: &Record<'_>,
        rec: u32,
        pos0: u64,
        gt: Option<&Genotype>,
        score: f32,
    ) -> Option<SvRec> {
        let alts: Vec<&[u8]> = r.alts().collect();
        let reference = r.reference();
        let alt0: &[u8] = alts.first().copied().unwrap_or(b".");
        let monref_star = alts.is_empty() || alt0 == b"*";
        let symbolic = alt0.first() == Some(&b'<');
        let is_bnd = alt0.contains(&b'[') || alt0.contains(&b']');
        let single_bnd = alt0.first() == Some(&b'.') || alt0.last() == Some(&b'.');
        // htslib's stop.
        let end_info = r
            .info("END")
            .and_then(parse_i64)
            .filter(|&e| e > 0)
            .map(|e| e as u64);
        let svlen_first = r
            .info("SVLEN")
            .and_then(|v| parse_i64(v.split(|&b| b == b',').next()?));
        let svl = alts
            .iter()
            .enumerate()
            .filter(|(_, a)| svlen_on_ref(a))
            .filter_map(|(i, _)| {
                let v = r.info("SVLEN")?.split(|&b| b == b',').nth(i)?;
                parse_i64(v).map(|x| x.unsigned_abs())
            })
            .max()
            .unwrap_or(0);
        let l = if svl == 0 {
            match end_info {
                Some(e) if e > pos0 => e - pos0 - 1,
                _ => 0,
            }
        } else {
            svl
        };
        let end_svlen = pos0 + l + 1;
        let end_fmt = match end_info {
            Some(e) if e > pos0 => e,
            _ => pos0,
        };
        let hpos = end_info.unwrap_or(0).max(end_svlen).max(end_fmt);
        let end = pos0 + (hpos - pos0).max(reference.len() as u64);
        // Type: breakend form, SVTYPE, lengths, symbolic name.
        let htslib_bnd = !symbolic
            && (matches!(alt0.first(), Some(b'[' | b']'))
                || matches!(alt0.last(), Some(b'[' | b']')));
        let resolved = !monref_star && !symbolic && !is_bnd;
        let svtype = if htslib_bnd {
            SvType::Bnd
        } else if let Some(t) = r.info("SVTYPE") {
            SvType::from_name(t.split(|&b| b == b',').next().unwrap_or(b""))
        } else if resolved {
            match reference.len().cmp(&alt0.len()) {
                std::cmp::Ordering::Less => SvType::Ins,
                std::cmp::Ordering::Greater => SvType::Del,
                std::cmp::Ordering::Equal if reference.len() == 1 => SvType::Snp,
                std::cmp::Ordering::Equal => SvType::Unk,
            }
        } else if symbolic {
            let inner = alt0[1..].split(|&b| b == b'>').next().unwrap_or(b"");
            SvType::from_name(inner.split(|&b| b == b':').next().unwrap_or(b""))
        } else {
            SvType::Unk
        };
        // Size: SVLEN, else a symbolic allele's span, else the lengths.
        let size = if let Some(v) = svlen_first {
            v.unsigned_abs()
        } else if !resolved && alt0.contains(&b'<') {
            end - pos0
        } else {
            let (rl, al) = (reference.len() as u64, alt0.len() as u64);
            if rl == al {
                if rl == 1 {
                    0
                } else {
                    rl
                }
            } else {
                rl.abs_diff(al)
            }
        };
        let passes = {
            let f = r.filter();
            f == b"." || f.split(|&b| b == b';').any(|x| x == b"PASS")
        };
        let ci = |key: &str| {
            r.info(key)
                .and_then(|v| v.split(|&b| b == b',').nth(1).and_then(parse_i64))
        };
        let gtv = gt.map(|g| g.alleles.clone());
        let zyg = gt.and_then(|g| {
            let called: Vec<u32> = g.alleles.iter().flatten().copied().collect();
            let alts_in: Vec<u32> = called.iter().copied().filter(|&a| a > 0).collect();
            if alts_in.is_empty() {
                None
            } else if alts_in.len() == called.len() {
                let mut d = alts_in.clone();
                d.dedup();
                Some(if d.len() > 1 {
                    Zyg::HetAlt
                } else {
                    Zyg::HomAlt
                })
            } else {
                Some(Zyg::Het)
            }
        });
        Some(SvRec {
            rec,
            pos1: pos0 + 1,
            start: pos0,
            end,
            size,
            svtype,
            is_bnd,
            symbolic,
            monref_star,
            multi: alts.len() > 1,
            single_bnd,
            ref_seq: reference.to_vec(),
            alt_seq: alt0.to_vec(),
            resolved,
            gt: gtv,
            passes,
            cipos: ci("CIPOS"),
            ciend: ci("CIEND"),
            breakend: if is_bnd { Breakend::parse(alt0) } else { None },
            score,
            vaf: r.info_f64("VAF").map_or(f32::NAN, |v| v as f32),
            zyg,
            seq_upper: None,
            rot: std::sync::OnceLock::new(),
        })
    }

    /// The span counted in strata.
    pub fn span(&self) -> (u64, u64) {
        (self.start, self.end.max(self.start + 1))
    }

    /// Allele 1 copies in the genotype (truvari's allele count).
    fn gt_count(&self) -> u32 {
        self.gt
            .as_ref()
            .map_or(0, |g| g.iter().filter(|a| **a == Some(1)).count() as u32)
    }

    fn has_allele1(&self) -> bool {
        self.gt_count() > 0
    }

    fn type_for_match(&self, dup_to_ins: bool) -> SvType {
        if dup_to_ins && self.svtype == SvType::Dup {
            SvType::Ins
        } else {
            self.svtype
        }
    }

    /// Start and end, with an insertion widened by half its size each side (for overlap).
    fn boundaries(&self, inflate: bool) -> (i64, i64) {
        let (s, e) = (self.start as i64, self.end as i64);
        if inflate && self.svtype == SvType::Ins {
            let h = (self.size / 2) as i64;
            (s - h, e + h)
        } else {
            (s, e)
        }
    }

    /// Resolves a symbolic DEL, INV (or DUP as an insertion) from the reference: `fetch`
    /// gives bases `[start, end)` of a contig of length `len`.
    fn seq_raw(&self) -> &[u8] {
        if self.svtype == SvType::Del {
            &self.ref_seq
        } else {
            &self.alt_seq
        }
    }

    /// Fills `seq_upper` (after [`SvRec::resolve`]).
    fn prepare_seq(&mut self) {
        let s = self.seq_raw();
        self.seq_upper = s
            .iter()
            .any(|b| b.is_ascii_lowercase())
            .then(|| s.to_ascii_uppercase());
        self.rot = std::sync::OnceLock::new();
    }

    /// The sequence compared, uppercase.
    fn seq(&self) -> &[u8] {
        self.seq_upper.as_deref().unwrap_or_else(|| self.seq_raw())
    }

    /// The start of the least rotation of [`SvRec::seq`], under 500 bases.
    fn rotation(&self) -> Option<usize> {
        let s = self.seq();
        (s.len() < 500).then(|| *self.rot.get_or_init(|| min_rotation_start(s)))
    }

    fn resolve(&mut self, fetch: &Fetch<'_>, len: u64, p: &SvParams) {
        if !self.symbolic || self.monref_star || self.start > len || self.size > p.max_resolve {
            return;
        }
        let (s, e) = (self.start, self.end.min(len));
        if s >= e {
            return;
        }
        let Some(bases) = fetch(s, e).filter(|b| !b.is_empty()) else {
            return;
        };
        match self.svtype {
            SvType::Del => {
                self.ref_seq = bases.to_vec();
                self.alt_seq = vec![bases[0]];
            }
            SvType::Inv => {
                self.ref_seq = bases.to_vec();
                self.alt_seq = bases
                    .iter()
                    .rev()
                    .map(|&b| match b {
                        b'A' => b'T',
                        b'T' => b'A',
                        b'C' => b'G',
                        b'G' => b'C',
                        x => x,
                    })
                    .collect();
            }
            SvType::Dup if p.dup_to_ins => {
                self.ref_seq = vec![bases[0]];
                self.alt_seq = bases.to_vec();
                self.end = self.start + 1;
            }
            _ => return,
        }
        self.resolved = true;
    }

    /// DEL, INV and DUP as the breakends they make (for matching against a BND).
    fn decompose(&self, chrom: &str) -> Vec<Piece> {
        let (pos, end) = (self.pos1, self.end);
        let piece = |p: u64, pos2: u64, left: bool, direct: bool| Piece {
            pos: p,
            bnd: Breakend {
                chr2: chrom.to_string(),
                pos2,
                left,
                direct,
            },
        };
        match self.svtype {
            // N]chr:END]  [chr:END+1[N  N]chr:POS]  [chr:POS+1[N
            SvType::Inv => vec![
                piece(pos, end, false, true),
                piece(pos + 1, end + 1, true, false),
                piece(end, pos, false, true),
                piece(end + 1, pos + 1, true, false),
            ],
            // N[chr:END+1[  ]chr:POS]N
            SvType::Del => vec![
                piece(pos, end + 1, true, true),
                piece(end + 1, pos, false, false),
            ],
            // ]chr:END]N  N[chr:POS+1[
            SvType::Dup => vec![
                piece(pos + 1, end, false, false),
                piece(end, pos + 1, true, true),
            ],
            _ => Vec::new(),
        }
    }
}

/// A breakend at `pos` (1-based): a BND record or a piece of a decomposed SV.
#[derive(Clone, Debug)]
struct Piece {
    pos: u64,
    bnd: Breakend,
}

/// One comparison's result (truvari's MatchResult).
#[derive(Clone, Debug, Default)]
pub struct MatchResult {
    pub state: bool,
    pub seqsim: Option<f64>,
    pub sizesim: Option<f64>,
    pub ovlpct: Option<f64>,
    pub sizediff: Option<i64>,
    pub st_dist: Option<i64>,
    pub ed_dist: Option<i64>,
    pub gt_match: Option<u32>,
    pub score: Option<f64>,
    pub multi: Option<bool>,
    /// Base and comp indexes in the chunk (`None`: that side absent).
    pub base: Option<usize>,
    pub comp: Option<usize>,
    pub chunk: u64,
    /// The cell's indexes in the chunk, for MatchId.
    pub bid: Option<usize>,
    pub cid: Option<usize>,
    /// The sequence comparison was skipped (the pair had failed already).
    pub seq_skipped: bool,
}

fn s_abs(v: Option<i64>) -> f64 {
    v.map_or(f64::NEG_INFINITY, |x| -(x.unsigned_abs() as f64))
}

impl MatchResult {
    /// truvari's `<`: (state, score or 0, -|start distance|, -|end distance|).
    fn lt(&self, o: &MatchResult) -> bool {
        let a = (
            self.score.unwrap_or(0.0),
            s_abs(self.st_dist),
            s_abs(self.ed_dist),
        );
        let b = (o.score.unwrap_or(0.0), s_abs(o.st_dist), s_abs(o.ed_dist));
        if self.state != o.state {
            return !self.state;
        }
        // Python tuple order on floats (no NaNs here).
        if a.0 != b.0 {
            return a.0 < b.0;
        }
        if a.1 != b.1 {
            return a.1 < b.1;
        }
        a.2 < b.2
    }

    /// truvari's `==`: state and score (None equals None only).
    fn eq(&self, o: &MatchResult) -> bool {
        self.state == o.state && self.score == o.score
    }

    /// `>` as functools.total_ordering derives it.
    fn gt(&self, o: &MatchResult) -> bool {
        !self.lt(o) && !self.eq(o)
    }
}

/// What an annotated record carries (truvari's INFO fields).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MatchInfo {
    pub seqsim: Option<f64>,
    pub sizesim: Option<f64>,
    pub ovlpct: Option<f64>,
    pub sizediff: Option<i64>,
    pub st_dist: Option<i64>,
    pub ed_dist: Option<i64>,
    pub gt_match: Option<u32>,
    pub score: Option<f64>,
    pub match_id: String,
    pub multi: bool,
}

/// htslib's `%g` with 6 significant digits for float32 INFO values.
fn g6(x: f64) -> String {
    let x = x as f32 as f64;
    if x == 0.0 {
        return "0".into();
    }
    // Whole numbers below a million print as integers (sizes, distances).
    if x.fract() == 0.0 && x.abs() < 1e6 {
        return format!("{}", x as i64);
    }
    let exp = x.abs().log10().floor() as i32;
    if !(-5..6).contains(&exp) {
        let s = format!("{x:.5e}");
        // Rust: 1.23450e5 -> trim zeros of the mantissa, exponent as e+05.
        let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
        let m = if m.contains('.') {
            m.trim_end_matches('0').trim_end_matches('.')
        } else {
            m
        };
        let e: i32 = e.parse().unwrap_or(0);
        return format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs());
    }
    let decimals = (5 - exp).max(0) as usize;
    let s = format!("{x:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

impl MatchInfo {
    /// The INFO fields, in truvari's order.
    pub fn info_fields(&self) -> String {
        use std::fmt::Write;
        let mut v = String::with_capacity(160);
        let r4 = |x: f64| (x * 10000.0).round() / 10000.0;
        // One buffer per record, each field but MatchId followed by ';' (this runs for every
        // record of the annotated VCFs).
        if let Some(x) = self.seqsim {
            let _ = write!(v, "PctSeqSimilarity={};", g6(r4(x)));
        }
        if let Some(x) = self.sizesim {
            let _ = write!(v, "PctSizeSimilarity={};", g6(r4(x)));
        }
        if let Some(x) = self.ovlpct {
            let _ = write!(v, "PctRecOverlap={};", g6(r4(x)));
        }
        if let Some(x) = self.sizediff {
            let _ = write!(v, "SizeDiff={};", g6(x as f64));
        }
        if let Some(x) = self.st_dist {
            let _ = write!(v, "StartDistance={x};");
        }
        if let Some(x) = self.ed_dist {
            let _ = write!(v, "EndDistance={x};");
        }
        if let Some(x) = self.gt_match {
            let _ = write!(v, "GTMatch={x};");
        }
        if let Some(x) = self.score {
            let _ = write!(v, "TruScore={};", x.trunc() as i64);
        }
        let _ = write!(v, "MatchId={}", self.match_id);
        if self.multi {
            v.push_str(";Multi");
        }
        v
    }
}

/// Declares truvari's INFO fields in an annotated VCF's header.
pub fn declare_info(h: &mut VcfHeader) {
    h.info(
        "TruScore",
        "1",
        "Integer",
        "Truvari score for similarity of match",
    );
    h.info(
        "PctSeqSimilarity",
        "1",
        "Float",
        "Pct sequence similarity between this variant and its closest match",
    );
    h.info(
        "PctSizeSimilarity",
        "1",
        "Float",
        "Pct size similarity between this variant and its closest match",
    );
    h.info(
        "PctRecOverlap",
        "1",
        "Float",
        "Percent reciprocal overlap percent of the two calls' coordinates",
    );
    h.info(
        "StartDistance",
        "1",
        "Integer",
        "Distance of the base call's end from comparison call's start",
    );
    h.info(
        "EndDistance",
        "1",
        "Integer",
        "Distance of the base call's end from comparison call's end",
    );
    h.info(
        "SizeDiff",
        "1",
        "Float",
        "Difference in size of base and comp calls",
    );
    h.info(
        "GTMatch",
        "1",
        "Integer",
        "Base/Comparison genotypes AC difference",
    );
    h.info(
        "MatchId",
        ".",
        "String",
        "Tuple of base and comparison call ids which were matched",
    );
    h.info(
        "Multi",
        "0",
        "Flag",
        "Call is false due to non-multimatching",
    );
}

/// truvari's summary.json counts.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Summary {
    pub tp_base: u64,
    pub tp_comp: u64,
    pub fp: u64,
    pub fn_: u64,
    pub base_cnt: u64,
    pub comp_cnt: u64,
    pub tp_comp_tp_gt: u64,
    pub tp_comp_fp_gt: u64,
    pub tp_base_tp_gt: u64,
    pub tp_base_fp_gt: u64,
    /// (base genotype, comp genotype) -> TP-base count, in first-seen order.
    pub gt_matrix: Vec<(String, String, u64)>,
    pub precision: Option<f64>,
    pub recall: Option<f64>,
    pub f1: Option<f64>,
}

impl Summary {
    pub fn add(&mut self, o: &Summary) {
        self.tp_base += o.tp_base;
        self.tp_comp += o.tp_comp;
        self.fp += o.fp;
        self.fn_ += o.fn_;
        self.base_cnt += o.base_cnt;
        self.comp_cnt += o.comp_cnt;
        self.tp_comp_tp_gt += o.tp_comp_tp_gt;
        self.tp_comp_fp_gt += o.tp_comp_fp_gt;
        self.tp_base_tp_gt += o.tp_base_tp_gt;
        self.tp_base_fp_gt += o.tp_base_fp_gt;
        for (b, c, n) in &o.gt_matrix {
            self.gt(b, c, *n);
        }
    }

    fn gt(&mut self, b: &str, c: &str, n: u64) {
        match self.gt_matrix.iter_mut().find(|x| x.0 == b && x.1 == c) {
            Some(x) => x.2 += n,
            None => self.gt_matrix.push((b.to_string(), c.to_string(), n)),
        }
    }

    /// Precision, recall and F1 as truvari computes them (all null without base or comp).
    pub fn finish(&mut self) {
        if self.tp_base + self.fn_ == 0 || self.tp_comp + self.fp == 0 {
            self.precision = None;
            self.recall = None;
            self.f1 = None;
            return;
        }
        let p = self.tp_comp as f64 / (self.tp_comp + self.fp) as f64;
        let r = self.tp_base as f64 / (self.tp_base + self.fn_) as f64;
        self.precision = Some(p);
        self.recall = Some(r);
        self.f1 = (p + r > 0.0).then(|| 2.0 * ((r * p) / (r + p)));
    }

    /// truvari's summary.json object (same keys, same order).
    pub fn to_json(&self) -> Value {
        let mut m = serde_json::Map::new();
        let f = |x: Option<f64>| x.map_or(Value::Null, |v| json!(v));
        m.insert("TP-base".into(), json!(self.tp_base));
        m.insert("TP-comp".into(), json!(self.tp_comp));
        m.insert("FP".into(), json!(self.fp));
        m.insert("FN".into(), json!(self.fn_));
        m.insert("precision".into(), f(self.precision));
        m.insert("recall".into(), f(self.recall));
        m.insert("f1".into(), f(self.f1));
        m.insert("base cnt".into(), json!(self.base_cnt));
        m.insert("comp cnt".into(), json!(self.comp_cnt));
        m.insert("TP-comp_TP-gt".into(), json!(self.tp_comp_tp_gt));
        m.insert("TP-comp_FP-gt".into(), json!(self.tp_comp_fp_gt));
        m.insert("TP-base_TP-gt".into(), json!(self.tp_base_tp_gt));
        m.insert("TP-base_FP-gt".into(), json!(self.tp_base_fp_gt));
        let d = self.tp_comp_tp_gt + self.tp_comp_fp_gt;
        m.insert(
            "gt_concordance".into(),
            if d == 0 {
                json!(0)
            } else {
                json!(self.tp_comp_tp_gt as f64 / d as f64)
            },
        );
        let mut gm = serde_json::Map::new();
        for (b, c, n) in &self.gt_matrix {
            let e = gm.entry(b.clone()).or_insert_with(|| json!({}));
            if let Some(o) = e.as_object_mut() {
                o.insert(c.clone(), json!(n));
            }
        }
        m.insert("gt_matrix".into(), Value::Object(gm));
        Value::Object(m)
    }
}

/// Per record of a side, after matching.
#[derive(Clone, Debug, Default)]
pub struct SvState {
    /// Counted (base cnt / comp cnt).
    pub counted: bool,
    pub tp: bool,
    /// The genotype's allele count matches too.
    pub gt: bool,
    /// A truth record's score: its match's call score.
    pub match_score: f32,
    /// The annotation, for records written (counted, or a matched call under sizemin).
    pub info: Option<MatchInfo>,
}

/// One contig's matching.
#[derive(Debug, Default)]
pub struct ContigMatch {
    pub base: Vec<SvState>,
    pub comp: Vec<SvState>,
    pub summary: Summary,
    /// Chunks made (MatchIds are numbered within the contig).
    pub chunks: u64,
}

/// Python's `str(tuple)` of a genotype, as truvari's gt_matrix keys.
fn gt_key(g: &Option<Vec<Option<u32>>>) -> String {
    match g {
        None => "None".into(),
        Some(v) => {
            let parts: Vec<String> = v
                .iter()
                .map(|a| a.map_or("None".into(), |x| x.to_string()))
                .collect();
            if parts.len() == 1 {
                format!("({},)", parts[0])
            } else {
                format!("({})", parts.join(", "))
            }
        }
    }
}

/// Edit (Levenshtein) distance within a bound, `None` above it (rapidfuzz's bit-parallel
/// algorithm then works in a band; it also trims the common prefix and suffix first).
fn distance(x: &[u8], y: &[u8], k: usize) -> Option<usize> {
    use rapidfuzz::distance::levenshtein::{distance_with_args, Args};
    // The hint skips rapidfuzz's own doubling from 31: the bounds here are close.
    distance_with_args(
        x.iter().copied(),
        y.iter().copied(),
        &Args::default().score_cutoff(k).score_hint(k),
    )
}

/// The same from one sequence to several others: its bit patterns are built once (building
/// them takes as long as a close comparison).
struct Comparator(rapidfuzz::distance::levenshtein::BatchComparator<u8>);

impl Comparator {
    fn new(x: &[u8]) -> Self {
        Comparator(rapidfuzz::distance::levenshtein::BatchComparator::new(
            x.iter().copied(),
        ))
    }

    /// The edit distance to `y` when at most `k`.
    fn within(&self, y: &[u8], k: usize) -> Option<usize> {
        use rapidfuzz::distance::levenshtein::Args;
        self.0.distance_with_args(
            y.iter().copied(),
            &Args::default().score_cutoff(k).score_hint(k),
        )
    }
}

/// Where the lexicographically smallest rotation starts, by the two-pointer search of the
/// minimum representation: linear (the naive search is quadratic on tandem repeats, which
/// insertions often are).
fn min_rotation_start(s: &[u8]) -> usize {
    let n = s.len();
    if n == 0 {
        return 0;
    }
    let d: Vec<u8> = s.iter().chain(s).copied().collect();
    // i and j: two candidate starts, k: the length they agree on; a start that loses is
    // skipped past the compared stretch (no start inside it can be least).
    let (mut i, mut j, mut k) = (0usize, 1usize, 0usize);
    while i < n && j < n && k < n {
        let (a, b) = (d[i + k], d[j + k]);
        if a == b {
            k += 1;
            continue;
        }
        if a > b {
            i += k + 1;
        } else {
            j += k + 1;
        }
        if i == j {
            j += 1;
        }
        k = 0;
    }
    i.min(j)
}

/// `s` rotated to start at `k`.
fn rotated(s: &[u8], k: usize) -> Vec<u8> {
    let mut r = s[k..].to_vec();
    r.extend_from_slice(&s[..k]);
    r
}

/// `y` rotated as truvari's unroll does for offset `p`.
fn unrolled(y: &[u8], p: i64) -> Vec<u8> {
    let n = y.len() as i64;
    if n == 0 {
        return Vec::new();
    }
    let f = p.rem_euclid(n) as usize;
    let cut = y.len() - f;
    let mut r = y[cut..].to_vec();
    r.extend_from_slice(&y[..cut]);
    r
}

/// truvari's best_seqsim: the best of the plain comparison, the rolled one (smallest
/// rotations, under 500 bp) and the four unrolled ones. Every candidate has the same total
/// length, so the best is the smallest distance, found exactly with cutoffs (the
/// bit-parallel algorithm then works in a band): each candidate within a bound `c` (and below
/// the best so far); when none is, again with `c` four times larger. A candidate over `c`
/// when the best is at most `c` cannot be better, so the result is exact.
///
/// With `limit`, distances above it are not looked for: `None` then says the similarity is
/// below what the limit stands for (`--pctseq`).
fn best_seqsim(
    a: &[u8],
    b: &[u8],
    st: i64,
    limit: Option<usize>,
    rots: Option<(usize, usize)>,
) -> Option<f64> {
    let t = a.len() + b.len();
    if t == 0 {
        return Some(1.0);
    }
    let floor = a.len().abs_diff(b.len());
    let lim = limit.unwrap_or(t);
    if floor > lim {
        return None;
    }
    // Candidates: (x, y, whose pattern x is). The pattern of `a` and of `b` is built once for
    // the candidates that share it (building one takes as long as a close comparison).
    use std::borrow::Cow::{self, Borrowed, Owned};
    #[derive(Clone, Copy)]
    enum Pat {
        A,
        B,
        Own,
    }
    type Cand<'s> = (Cow<'s, [u8]>, Cow<'s, [u8]>, Pat);
    let mut cands: Vec<Cand> = Vec::with_capacity(6);
    cands.push((Borrowed(a), Owned(unrolled(b, st)), Pat::A));
    cands.push((Borrowed(a), Owned(unrolled(b, -st)), Pat::A));
    cands.push((Borrowed(b), Owned(unrolled(a, st)), Pat::B));
    cands.push((Borrowed(b), Owned(unrolled(a, -st)), Pat::B));
    if let Some((ra, rb)) = rots {
        cands.push((Owned(rotated(a, ra)), Owned(rotated(b, rb)), Pat::Own));
    }
    cands.push((Borrowed(a), Borrowed(b), Pat::A));
    // The candidate whose ends line up best first: it is usually the closest, and once the
    // best is known the others are computed within it (and give up early when out of line).
    let ends = |x: &[u8], y: &[u8]| {
        let w = 32.min(x.len()).min(y.len());
        let head = x[..w].iter().zip(&y[..w]).filter(|(p, q)| p != q).count();
        let (xt, yt) = (&x[x.len() - w..], &y[y.len() - w..]);
        head + xt.iter().zip(yt).filter(|(p, q)| p != q).count()
    };
    cands.sort_by_cached_key(|(x, y, _)| ends(x, y));
    let pats = [
        std::cell::OnceCell::<Comparator>::new(),
        std::cell::OnceCell::new(),
    ];
    let dist = |(x, y, pat): &Cand, cut: usize| -> Option<usize> {
        match pat {
            Pat::Own => distance(x, y, cut),
            Pat::A => pats[0].get_or_init(|| Comparator::new(a)).within(y, cut),
            Pat::B => pats[1].get_or_init(|| Comparator::new(b)).within(y, cut),
        }
    };
    // Equal lengths: the Hamming distance of a candidate bounds its edit distance, so the
    // least Hamming distance bounds the best, often tightly (a shifted insertion unrolled
    // back lines up base for base); no search needs to go past it.
    let hamming = |x: &[u8], y: &[u8]| x.iter().zip(y).filter(|(p, q)| p != q).count();
    let cap = if a.len() == b.len() {
        cands
            .iter()
            .map(|(x, y, _)| hamming(x, y))
            .min()
            .unwrap_or(t)
            .min(lim)
    } else {
        lim
    };
    // Widening bands (see `bands`); within one, each candidate only below the best so far.
    for c in bands(floor, cap) {
        let mut best: Option<usize> = None;
        for cand in &cands {
            if best == Some(floor) {
                break;
            }
            let cut = best.map_or(c, |b| b.saturating_sub(1).min(c));
            if let Some(d) = dist(cand, cut) {
                best = Some(best.map_or(d, |b| b.min(d)));
            }
        }
        if let Some(d) = best {
            return Some((t - d) as f64 / t as f64);
        }
    }
    // Nothing within the cap: every distance is above the limit (a Hamming bound within it
    // is always reached).
    None
}

/// The largest edit distance between sequences of total length `t` whose similarity
/// (t - d) / t still reaches `pct` (computed as the comparison is, in floating point).
fn limit_for(t: usize, pct: f64) -> usize {
    let ok = |d: usize| (t - d) as f64 / t as f64 >= pct;
    let mut d = (((1.0 - pct) * t as f64).floor().max(0.0) as usize).min(t);
    while d > 0 && !ok(d) {
        d -= 1;
    }
    while d < t && ok(d + 1) {
        d += 1;
    }
    d
}

/// truvari's sequence similarity, (|x| + |y| - distance) / (|x| + |y|), of uppercase
/// sequences, within a limit on the distance (`None` above it).
fn seqsim_within(x: &[u8], y: &[u8], limit: Option<usize>) -> Option<f64> {
    let t = x.len() + y.len();
    if t == 0 {
        return Some(1.0);
    }
    let floor = x.len().abs_diff(y.len());
    let lim = limit.unwrap_or(t);
    if floor > lim {
        return None;
    }
    // Searched in widening bands (a band as wide as --pctseq allows costs as much as the
    // whole matrix), capped by the Hamming distance when the lengths are equal.
    let cap = if x.len() == y.len() {
        x.iter().zip(y).filter(|(p, q)| p != q).count().min(lim)
    } else {
        lim
    };
    let d = bands(floor, cap).find_map(|c| distance(x, y, c))?;
    Some((t - d) as f64 / t as f64)
}

/// The bounds a distance search tries in turn: 31 over the least possible distance (a narrow
/// band, fast for the close pairs matched calls usually are), then 4 times wider, up to `cap`
/// (the last one tried).
fn bands(floor: usize, cap: usize) -> impl Iterator<Item = usize> {
    let mut slack = Some(31usize);
    std::iter::from_fn(move || {
        let s = slack?;
        let c = (floor + s).min(cap);
        slack = (c < cap).then(|| s.saturating_mul(4));
        Some(c)
    })
}

fn overlaps(s1: i64, e1: i64, s2: i64, e2: i64) -> bool {
    s1.max(s2) < e1.min(e2)
}

fn reciprocal_overlap(a0: i64, a1: i64, b0: i64, b1: i64) -> f64 {
    let (s, e) = (a0.max(b0), a1.min(b1));
    if s < e {
        (e - s) as f64 / (a1 - a0).max(b1 - b0) as f64
    } else {
        0.0
    }
}

fn sizesim(a: u64, b: u64) -> (f64, i64) {
    let (mut a, mut b) = (a, b);
    if a == 0 || b == 0 {
        if a == b {
            return (1.0, 0);
        }
        a = a.max(1);
        b = b.max(1);
    }
    (a.min(b) as f64 / a.max(b) as f64, a as i64 - b as i64)
}

struct Matcher<'a> {
    p: &'a SvParams,
    skip_gt: bool,
    chrom: &'a str,
}

impl Matcher<'_> {
    fn compare_gts(&self, b: &SvRec, c: &SvRec, m: &mut MatchResult) {
        if self.skip_gt {
            return;
        }
        m.gt_match = Some(b.gt_count().abs_diff(c.gt_count()));
    }

    /// truvari's var_match. Unless `full`, a pair that already failed a test skips the
    /// sequence comparison (see [`compare_chunk`] for when that cannot change a count).
    fn var_match(&self, b: &SvRec, c: &SvRec, full: bool) -> MatchResult {
        let p = self.p;
        let mut m = MatchResult {
            state: true,
            ..Default::default()
        };
        if !p.typeignore && b.type_for_match(p.dup_to_ins) != c.type_for_match(p.dup_to_ins) {
            m.state = false;
        }
        let (bs, be) = b.boundaries(false);
        let (cs, ce) = c.boundaries(false);
        let rd = p.refdist as i64;
        if !overlaps(bs - rd, be + rd, cs, ce) {
            m.state = false;
        }
        let (ss, sd) = sizesim(b.size, c.size);
        m.sizesim = Some(ss);
        m.sizediff = Some(sd);
        if ss < p.pctsize {
            m.state = false;
        }
        self.compare_gts(b, c, &mut m);
        let (b0, b1) = b.boundaries(true);
        let (c0, c1) = c.boundaries(true);
        let ov = reciprocal_overlap(b0, b1, c0, c1);
        m.ovlpct = Some(ov);
        if ov < p.pctovl {
            m.state = false;
        }
        if p.pctseq > 0.0 && b.resolved && c.resolved && (m.state || full) {
            match self.rec_seqsim(b, c, full) {
                Some(s) => {
                    m.seqsim = Some(s);
                    if s < p.pctseq {
                        m.state = false;
                    }
                }
                // Below --pctseq: unmatched, its exact similarity left for when it matters.
                None => {
                    m.state = false;
                    m.seqsim = None;
                    m.seq_skipped = true;
                }
            }
        } else if p.pctseq > 0.0 && b.resolved && c.resolved {
            m.seqsim = None;
            m.seq_skipped = true;
        } else {
            m.seqsim = Some(0.0);
        }
        m.st_dist = Some(bs - cs);
        m.ed_dist = Some(be - ce);
        m.score = m.seqsim.map(|sq| (sq + ss + ov) / 3.0 * 100.0);
        m
    }

    /// truvari's sequence similarity of two records; with `full` false, `None` when it is
    /// below `--pctseq` (distances past that are not looked for).
    fn rec_seqsim(&self, b: &SvRec, c: &SvRec, full: bool) -> Option<f64> {
        if b.ref_seq == c.ref_seq && b.alt_seq == c.alt_seq {
            return Some(1.0);
        }
        let limit = |t: usize| (!full && t > 0).then(|| limit_for(t, self.p.pctseq));
        let (a, bb) = (b.seq(), c.seq());
        let lim = limit(a.len() + bb.len());
        if b.svtype == SvType::Inv && c.svtype == SvType::Inv {
            return seqsim_within(a, bb, lim);
        }
        let st = b.start as i64 - c.start as i64;
        let ed = b.end as i64 - c.end as i64;
        if self.p.no_roll || st == 0 || ed == 0 {
            seqsim_within(a, bb, lim)
        } else {
            let rots = b.rotation().and_then(|x| Some((x, c.rotation()?)));
            best_seqsim(a, bb, st, lim, rots)
        }
    }

    fn bounds(&self, ci: Option<i64>, pos: i64) -> (i64, i64) {
        let d = self.p.bnddist;
        let (mut s, mut e) = (pos - d, pos + d);
        if let Some(x) = ci {
            s -= x.abs();
            e += x.abs();
        }
        (s, e)
    }

    /// truvari's bnd_match of breakend `b` (at `bpos`, record `br`) and `c`.
    fn bnd_match(&self, br: &SvRec, bp: &Piece, cr: &SvRec, cp: &Piece) -> MatchResult {
        let mut m = MatchResult {
            st_dist: Some(bp.pos as i64 - cp.pos as i64),
            ..Default::default()
        };
        let (a0, a1) = self.bounds(br.cipos, bp.pos as i64);
        let (b0, b1) = self.bounds(cr.cipos, cp.pos as i64);
        if !overlaps(a0, a1, b0, b1) {
            return m;
        }
        if bp.bnd.chr2 != cp.bnd.chr2 {
            return m;
        }
        m.ed_dist = Some(bp.bnd.pos2 as i64 - cp.bnd.pos2 as i64);
        let (a0, a1) = self.bounds(br.ciend, bp.bnd.pos2 as i64);
        let (b0, b1) = self.bounds(cr.ciend, cp.bnd.pos2 as i64);
        if !overlaps(a0, a1, b0, b1) {
            return m;
        }
        if (bp.bnd.left, bp.bnd.direct) != (cp.bnd.left, cp.bnd.direct) {
            return m;
        }
        self.compare_gts(br, cr, &mut m);
        let d = self.p.bnddist;
        m.score = Some(if d > 0 {
            let st = m.st_dist.unwrap_or(0).unsigned_abs() as f64;
            let ed = m.ed_dist.unwrap_or(0).unsigned_abs() as f64;
            ((1.0 - ((st + ed) / 2.0) / (d as f64 * 2.0)) * 100.0).max(0.0)
        } else {
            0.0
        });
        m.state = true;
        m
    }

    fn as_piece(r: &SvRec) -> Option<Piece> {
        r.breakend.clone().map(|bnd| Piece { pos: r.pos1, bnd })
    }

    fn compare(&self, b: &SvRec, c: &SvRec, full: bool) -> MatchResult {
        match (b.is_bnd, c.is_bnd) {
            (false, false) => self.var_match(b, c, full),
            (true, true) => match (Self::as_piece(b), Self::as_piece(c)) {
                (Some(bp), Some(cp)) => self.bnd_match(b, &bp, c, &cp),
                _ => MatchResult::default(),
            },
            _ if !self.p.decompose => MatchResult::default(),
            _ => {
                // One side a BND: the other decomposed into breakends; the best (last of
                // equal maxima, Python's stable sort) wins.
                let ms: Vec<MatchResult> = if b.is_bnd {
                    let Some(bp) = Self::as_piece(b) else {
                        return MatchResult::default();
                    };
                    c.decompose(self.chrom)
                        .iter()
                        .map(|d| self.bnd_match(b, &bp, c, d))
                        .collect()
                } else {
                    let Some(cp) = Self::as_piece(c) else {
                        return MatchResult::default();
                    };
                    b.decompose(self.chrom)
                        .iter()
                        .map(|d| self.bnd_match(b, d, c, &cp))
                        .collect()
                };
                let mut best: Option<MatchResult> = None;
                for m in ms {
                    match &best {
                        Some(x) if m.lt(x) => {}
                        _ => best = Some(m),
                    }
                }
                best.unwrap_or_default()
            }
        }
    }
}

/// numpy's argsort of an object array (introsort; insertion sort up to 16 elements), which
/// decides the order of equal matches.
fn np_argsort(v: &[MatchResult]) -> Vec<usize> {
    let n = v.len();
    let mut t: Vec<usize> = (0..n).collect();
    if n == 0 {
        return t;
    }
    let lt = |a: usize, b: usize| v[a].lt(&v[b]);
    let msb = |mut x: usize| {
        let mut d = 0i64;
        while x > 1 {
            x >>= 1;
            d += 1;
        }
        d
    };
    let (mut pl, mut pr) = (0usize, n - 1);
    let mut stack: Vec<(usize, usize, i64)> = Vec::new();
    let mut cdepth = msb(n) * 2;
    loop {
        let mut skip_insertion = false;
        if cdepth < 0 {
            heapsort(v, &mut t, pl, pr - pl + 1);
            skip_insertion = true;
        } else {
            while pr - pl > 15 {
                let pm = pl + ((pr - pl) >> 1);
                if lt(t[pm], t[pl]) {
                    t.swap(pm, pl);
                }
                if lt(t[pr], t[pm]) {
                    t.swap(pr, pm);
                }
                if lt(t[pm], t[pl]) {
                    t.swap(pm, pl);
                }
                let vp = t[pm];
                let (mut pi, mut pj) = (pl, pr - 1);
                t.swap(pm, pj);
                loop {
                    pi += 1;
                    while lt(t[pi], vp) && pi < pj {
                        pi += 1;
                    }
                    pj -= 1;
                    while lt(vp, t[pj]) && pi < pj {
                        pj -= 1;
                    }
                    if pi >= pj {
                        break;
                    }
                    t.swap(pi, pj);
                }
                t.swap(pi, pr - 1);
                cdepth -= 1;
                if pi - pl < pr - pi {
                    stack.push((pi + 1, pr, cdepth));
                    pr = pi - 1;
                } else {
                    stack.push((pl, pi - 1, cdepth));
                    pl = pi + 1;
                }
            }
        }
        if !skip_insertion {
            for pi in pl + 1..=pr {
                let vi = t[pi];
                let mut pj = pi;
                while pj > pl && lt(vi, t[pj - 1]) {
                    t[pj] = t[pj - 1];
                    pj -= 1;
                }
                t[pj] = vi;
            }
        }
        match stack.pop() {
            Some((a, b, d)) => {
                pl = a;
                pr = b;
                cdepth = d;
            }
            None => break,
        }
    }
    t
}

/// numpy's npy_aheapsort on `t[lo..lo + n]`.
fn heapsort(v: &[MatchResult], t: &mut [usize], lo: usize, n: usize) {
    let lt = |a: usize, b: usize| v[a].lt(&v[b]);
    // a[k] == t[lo + k - 1]
    let mut n = n;
    let mut l = n >> 1;
    while l > 0 {
        let tmp = t[lo + l - 1];
        let (mut i, mut j) = (l, l << 1);
        while j <= n {
            if j < n && lt(t[lo + j - 1], t[lo + j]) {
                j += 1;
            }
            if lt(tmp, t[lo + j - 1]) {
                t[lo + i - 1] = t[lo + j - 1];
                i = j;
                j += j;
            } else {
                break;
            }
        }
        t[lo + i - 1] = tmp;
        l -= 1;
    }
    while n > 1 {
        let tmp = t[lo + n - 1];
        t[lo + n - 1] = t[lo];
        n -= 1;
        let (mut i, mut j) = (1usize, 2usize);
        while j <= n {
            if j < n && lt(t[lo + j - 1], t[lo + j]) {
                j += 1;
            }
            if lt(tmp, t[lo + j - 1]) {
                t[lo + i - 1] = t[lo + j - 1];
                i = j;
                j += j;
            } else {
                break;
            }
        }
        t[lo + i - 1] = tmp;
    }
}

/// One emitted result: base and/or comp index (in the contig's record lists) and the match.
struct Emit {
    m: MatchResult,
    base: Option<usize>,
    comp: Option<usize>,
}

/// Reference bases `[start, end)` of the contig being matched (`None` when unreadable).
pub type Fetch<'a> = dyn Fn(u64, u64) -> Option<Vec<u8>> + Sync + 'a;

/// The contig a matching runs on.
pub struct Contig<'a> {
    pub tid: usize,
    pub name: &'a str,
    pub len: u64,
    /// Its bases, to resolve symbolic alleles (`None` without a reference).
    pub seq: Option<&'a Fetch<'a>>,
    /// The truth regions (truvari's `--includebed`).
    pub conf: Option<&'a Stratum>,
    /// Either side has no genotypes (truvari's skip_gt).
    pub skip_gt: bool,
}

/// Matches one contig's SV records (base = truth, comp = calls) as truvari bench does.
pub fn match_contig(base: &[SvRec], comp: &[SvRec], p: &SvParams, ctg: &Contig<'_>) -> ContigMatch {
    let Contig {
        tid,
        name: chrom,
        len,
        seq,
        conf,
        skip_gt,
    } = *ctg;
    let mut out = ContigMatch {
        base: vec![SvState::default(); base.len()],
        comp: vec![SvState::default(); comp.len()],
        ..Default::default()
    };
    // truvari's coords_within for one region [rs, re] (BED start and end).
    let test = |r: &SvRec, rs: u64, re: u64| {
        let (s, e) = (r.start, r.end);
        if (s + 1 == rs || s == rs) && e == re {
            return true;
        }
        s >= rs
            && if r.svtype == SvType::Ins {
                e < re
            } else {
                e <= re
            }
    };
    // Calls are read from the regions widened by --extend (merged again).
    let widened: Option<Vec<(u64, u64)>> = conf.filter(|_| p.extend > 0).map(|c| {
        let mut v: Vec<(u64, u64)> = Vec::new();
        for &(b, e) in &c.by_contig[tid] {
            let (b, e) = (b.saturating_sub(p.extend), e + p.extend);
            match v.last_mut() {
                Some(l) if b <= l.1 => l.1 = l.1.max(e),
                _ => v.push((b, e)),
            }
        }
        v
    });
    let within = |r: &SvRec, is_base: bool| -> bool {
        let iv: &[(u64, u64)] = match (conf, &widened) {
            (Some(_), Some(w)) if !is_base => w,
            (Some(c), _) => &c.by_contig[tid],
            (None, _) => return test(r, 0, len),
        };
        // Regions are disjoint and sorted: those near the start.
        let k = iv.partition_point(|x| x.1 < r.start);
        iv[k.saturating_sub(1)..iv.len().min(k + 2)]
            .iter()
            .any(|&(rs, re)| test(r, rs, re))
    };
    // truvari's within_tree: overlapping exactly one original region, and within it.
    let within_tree = |r: &SvRec| -> bool {
        let Some(c) = conf else { return true };
        let iv = &c.by_contig[tid];
        let hits: Vec<&(u64, u64)> = iv
            .iter()
            .filter(|&&(b, e)| b < r.end.max(r.start + 1) && e + 1 > r.start)
            .collect();
        hits.len() == 1 && test(r, hits[0].0, hits[0].1)
    };
    // Records that take part, after truvari's filters, with symbolic alleles resolved.
    let keep = |r: &SvRec, is_base: bool| -> bool {
        if !within(r, is_base) || r.monref_star || r.multi {
            return false;
        }
        if p.passonly && !r.passes {
            return false;
        }
        let side = if is_base { 'b' } else { 'c' };
        let need_alt = p.no_ref == Some('a') || p.no_ref == Some(side) || p.pick == Pick::Ac;
        if need_alt && !r.has_allele1() {
            return false;
        }
        if r.single_bnd {
            return false;
        }
        if r.is_bnd {
            return p.bnddist != -1;
        }
        let too_big = p.sizemax != -1 && r.size as i64 > p.sizemax;
        let too_small = if is_base {
            r.size < p.sizemin
        } else {
            r.size < p.sizefilt()
        };
        !(too_big || too_small)
    };
    let prep = |v: &[SvRec], is_base: bool| -> Vec<(usize, SvRec)> {
        v.iter()
            .enumerate()
            .filter(|(_, r)| keep(r, is_base))
            .map(|(i, r)| {
                let mut r = r.clone();
                if let Some(f) = seq {
                    if r.symbolic {
                        r.resolve(f, len, p);
                    }
                }
                if r.resolved && p.pctseq > 0.0 {
                    r.prepare_seq();
                }
                (i, r)
            })
            .collect()
    };
    let bs = prep(base, true);
    let cs = prep(comp, false);
    // Zip by start, truth first at equal starts; chunk while within chunksize of the end.
    let mut order: Vec<(bool, usize)> = Vec::with_capacity(bs.len() + cs.len());
    let (mut i, mut j) = (0, 0);
    while i < bs.len() || j < cs.len() {
        let take_base = j >= cs.len() || (i < bs.len() && bs[i].1.start <= cs[j].1.start);
        if take_base {
            order.push((true, i));
            i += 1;
        } else {
            order.push((false, j));
            j += 1;
        }
    }
    let m = Matcher { p, skip_gt, chrom };
    // Chunks first, then compared in parallel (each chunk is independent), in order.
    let mut chunks: Vec<(Vec<usize>, Vec<usize>)> = Vec::new();
    let mut chunk: (Vec<usize>, Vec<usize>) = (Vec::new(), Vec::new());
    let mut cur_end = 0u64;
    for (is_base, k) in order {
        let r = if is_base { &bs[k].1 } else { &cs[k].1 };
        if cur_end != 0 && cur_end + p.chunksize < r.start {
            chunks.push(std::mem::take(&mut chunk));
            cur_end = 0;
        }
        cur_end = cur_end.max(r.end);
        if is_base {
            chunk.0.push(k);
        } else {
            chunk.1.push(k);
        }
    }
    chunks.push(chunk);
    let chunk_id = chunks.len() as u64;
    let emits: Vec<(u64, Emit)> = chunks
        .par_iter()
        .enumerate()
        .map(|(i, (b, c))| {
            compare_chunk(&m, &bs, &cs, b, c)
                .into_iter()
                .map(move |e| (i as u64 + 1, e))
                .collect::<Vec<_>>()
        })
        .flatten_iter()
        .collect();
    out.chunks = chunk_id;
    // Counting (truvari's write_match).
    let s = &mut out.summary;
    for (cid, e) in emits {
        let mm = &e.m;
        let info = |rec_multi: bool| MatchInfo {
            seqsim: mm.seqsim,
            sizesim: mm.sizesim,
            ovlpct: mm.ovlpct,
            sizediff: mm.sizediff,
            st_dist: mm.st_dist,
            ed_dist: mm.ed_dist,
            gt_match: mm.gt_match,
            score: mm.score,
            match_id: format!(
                "{},{}",
                mm.bid.map_or(String::new(), |b| format!("{cid}.{b}")),
                mm.cid.map_or(String::new(), |c| format!("{cid}.{c}"))
            ),
            multi: rec_multi,
        };
        let multi = mm.multi == Some(true);
        if let Some(bi) = e.base {
            let (orig, r) = (&bs[bi].0, &bs[bi].1);
            s.base_cnt += 1;
            let st = &mut out.base[*orig];
            st.counted = true;
            st.info = Some(info(multi));
            if mm.state {
                let c = e.comp.or(mm.comp).map(|ci| &cs[ci].1);
                s.gt(
                    &gt_key(&r.gt),
                    &c.map_or("None".into(), |c| gt_key(&c.gt)),
                    1,
                );
                s.tp_base += 1;
                st.tp = true;
                st.match_score = c.map_or(f32::NAN, |c| c.score);
                if mm.gt_match == Some(0) {
                    s.tp_base_tp_gt += 1;
                    st.gt = true;
                } else {
                    s.tp_base_fp_gt += 1;
                }
            } else {
                s.fn_ += 1;
            }
        }
        if let Some(ci) = e.comp {
            let (orig, r) = (&cs[ci].0, &cs[ci].1);
            // --extend: an unmatched call outside the regions themselves does not count.
            if p.extend > 0 && !mm.state && !within_tree(r) {
                continue;
            }
            let st = &mut out.comp[*orig];
            if mm.state {
                s.comp_cnt += 1;
                s.tp_comp += 1;
                st.counted = true;
                st.tp = true;
                st.info = Some(info(multi));
                if mm.gt_match == Some(0) {
                    s.tp_comp_tp_gt += 1;
                    st.gt = true;
                } else {
                    s.tp_comp_fp_gt += 1;
                }
            } else if r.size >= p.sizemin || r.is_bnd {
                s.comp_cnt += 1;
                s.fp += 1;
                st.counted = true;
                st.info = Some(info(multi));
            }
        }
    }
    out
}

/// truvari's compare_calls and pickers for one chunk. Indexes are into `bs`/`cs`.
fn compare_chunk(
    m: &Matcher<'_>,
    bs: &[(usize, SvRec)],
    cs: &[(usize, SvRec)],
    bchunk: &[usize],
    cchunk: &[usize],
) -> Vec<Emit> {
    let (nb, nc) = (bchunk.len(), cchunk.len());
    let mut out = Vec::new();
    if nb == 0 {
        for (cid, &c) in cchunk.iter().enumerate() {
            out.push(Emit {
                m: MatchResult {
                    cid: Some(cid),
                    ..Default::default()
                },
                base: None,
                comp: Some(c),
            });
        }
        return out;
    }
    if nc == 0 {
        for (bid, &b) in bchunk.iter().enumerate() {
            out.push(Emit {
                m: MatchResult {
                    bid: Some(bid),
                    ..Default::default()
                },
                base: Some(b),
                comp: None,
            });
        }
        return out;
    }
    let mut mat: Vec<MatchResult> = Vec::with_capacity(nb * nc);
    // (`mut` for the second pass below.)
    for (bid, &b) in bchunk.iter().enumerate() {
        for (cid, &c) in cchunk.iter().enumerate() {
            let mut r = m.compare(&bs[b].1, &cs[c].1, false);
            r.bid = Some(bid);
            r.cid = Some(cid);
            r.base = Some(b);
            r.comp = Some(c);
            mat.push(r);
        }
    }
    // Unmatched pairs skipped the costly sequence comparison: their scores only rank them
    // among themselves, which changes no count... except through numpy's quicksort, which is
    // not stable past 16 elements: where two matched pairs tie, the order it leaves them in
    // depends on every element, so then every score is computed as truvari does.
    if m.p.pick != Pick::Multi && mat.len() > 16 && mat.iter().any(|x| x.seq_skipped) {
        let trues: Vec<&MatchResult> = mat.iter().filter(|x| x.state).collect();
        let tie = trues
            .iter()
            .enumerate()
            .any(|(i, a)| trues[i + 1..].iter().any(|b| !a.lt(b) && !b.lt(a)));
        if tie {
            for x in mat.iter_mut().filter(|x| x.seq_skipped) {
                let (b, c) = (x.base.unwrap_or(0), x.comp.unwrap_or(0));
                let mut r = m.compare(&bs[b].1, &cs[c].1, true);
                (r.bid, r.cid, r.base, r.comp) = (x.bid, x.cid, x.base, x.comp);
                *x = r;
            }
        }
    }
    let cell = |k: usize| &mat[k];
    match m.p.pick {
        Pick::Multi => {
            for (bid, &b) in bchunk.iter().enumerate() {
                // ndarray.max: the first maximum by `<`.
                let mut best = bid * nc;
                for cid in 1..nc {
                    if cell(best).lt(cell(bid * nc + cid)) {
                        best = bid * nc + cid;
                    }
                }
                out.push(Emit {
                    base: Some(b),
                    comp: None,
                    m: mat[best].clone(),
                });
            }
            for (cid, &c) in cchunk.iter().enumerate() {
                let mut best = cid;
                for bid in 1..nb {
                    if cell(best).lt(cell(bid * nc + cid)) {
                        best = bid * nc + cid;
                    }
                }
                out.push(Emit {
                    base: None,
                    comp: Some(c),
                    m: mat[best].clone(),
                });
            }
        }
        Pick::Single => {
            let order = np_argsort(&mat);
            let (mut brow, mut ccol) = (vec![true; nb], vec![true; nc]);
            let (mut bleft, mut cleft) = (nb, nc);
            for &k in order.iter().rev() {
                if bleft == 0 || cleft == 0 {
                    break;
                }
                let (bi, ci) = (k / nc, k % nc);
                if brow[bi] && ccol[ci] {
                    brow[bi] = false;
                    ccol[ci] = false;
                    bleft -= 1;
                    cleft -= 1;
                    out.push(Emit {
                        base: Some(bchunk[bi]),
                        comp: Some(cchunk[ci]),
                        m: mat[k].clone(),
                    });
                }
            }
            // Unused rows and columns: their best cell (numpy argmax: first of equal
            // state and score), unmatched.
            for bi in 0..nb {
                if !brow[bi] {
                    continue;
                }
                let mut best = bi * nc;
                for ci in 1..nc {
                    if cell(bi * nc + ci).gt(cell(best)) {
                        best = bi * nc + ci;
                    }
                }
                let mut r = mat[best].clone();
                r.multi = Some(r.state);
                r.state = false;
                out.push(Emit {
                    base: Some(bchunk[bi]),
                    comp: None,
                    m: r,
                });
            }
            for ci in 0..nc {
                if !ccol[ci] {
                    continue;
                }
                let mut best = ci;
                for bi in 1..nb {
                    if cell(bi * nc + ci).gt(cell(best)) {
                        best = bi * nc + ci;
                    }
                }
                let mut r = mat[best].clone();
                r.multi = Some(r.state);
                r.state = false;
                out.push(Emit {
                    base: None,
                    comp: Some(cchunk[ci]),
                    m: r,
                });
            }
        }
        Pick::Ac => {
            let order = np_argsort(&mat);
            let bcount: Vec<u32> = bchunk.iter().map(|&b| bs[b].1.gt_count()).collect();
            let ccount: Vec<u32> = cchunk.iter().map(|&c| cs[c].1.gt_count()).collect();
            let (mut used_b, mut used_c) = (vec![0u32; nb], vec![0u32; nc]);
            let (mut wrote_b, mut wrote_c) = (vec![false; nb], vec![false; nc]);
            // The sorted copy is mutated in place (state, multi) by pass 1.
            let mut sorted: Vec<MatchResult> = order.iter().map(|&k| mat[k].clone()).collect();
            // The call's copy, then the truth record's, each the first time it comes.
            let write_once = |out: &mut Vec<Emit>,
                              wrote_c: &mut [bool],
                              wrote_b: &mut [bool],
                              (bi, ci): (usize, usize),
                              m: &MatchResult| {
                if !wrote_c[ci] {
                    wrote_c[ci] = true;
                    out.push(Emit {
                        base: None,
                        comp: Some(cchunk[ci]),
                        m: m.clone(),
                    });
                }
                if !wrote_b[bi] {
                    wrote_b[bi] = true;
                    out.push(Emit {
                        base: Some(bchunk[bi]),
                        comp: None,
                        m: m.clone(),
                    });
                }
            };
            for k in (0..sorted.len()).rev() {
                if !sorted[k].state {
                    continue;
                }
                let (bi, ci) = (sorted[k].bid.unwrap_or(0), sorted[k].cid.unwrap_or(0));
                if used_b[bi] >= bcount[bi] || used_c[ci] >= ccount[ci] {
                    sorted[k].state = false;
                    sorted[k].multi = Some(true);
                    continue;
                }
                used_c[ci] += bcount[bi];
                used_b[bi] += ccount[ci];
                write_once(&mut out, &mut wrote_c, &mut wrote_b, (bi, ci), &sorted[k]);
            }
            for k in (0..sorted.len()).rev() {
                let (bi, ci) = (sorted[k].bid.unwrap_or(0), sorted[k].cid.unwrap_or(0));
                if sorted[k].state {
                    continue;
                }
                write_once(&mut out, &mut wrote_c, &mut wrote_b, (bi, ci), &sorted[k]);
                if wrote_c.iter().all(|&w| w) && wrote_b.iter().all(|&w| w) {
                    break;
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_rotation_is_the_least_rotation() {
        let naive = |s: &[u8]| -> Vec<u8> {
            (0..s.len())
                .map(|i| s[i..].iter().chain(&s[..i]).copied().collect::<Vec<u8>>())
                .min()
                .unwrap_or_default()
        };
        let mut x = 12345u64;
        let mut next = || {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 33) as usize
        };
        for case in 0..400 {
            let n = next() % 40;
            // Small alphabets and repeated units, where rotations tie.
            let alpha = 1 + case % 4;
            let unit: Vec<u8> = (0..1 + next() % 5)
                .map(|_| b"ACGT"[next() % alpha])
                .collect();
            let s: Vec<u8> = if case % 2 == 0 {
                (0..n).map(|_| b"ACGT"[next() % alpha]).collect()
            } else {
                unit.iter().cycle().take(n).copied().collect()
            };
            let got = rotated(&s, min_rotation_start(&s));
            assert_eq!(got, naive(&s), "{}", String::from_utf8_lossy(&s));
        }
    }

    #[test]
    fn similarity_helpers() {
        assert_eq!(sizesim(100, 50), (0.5, 50));
        assert_eq!(sizesim(0, 0), (1.0, 0));
        assert_eq!(sizesim(0, 4), (0.25, -3));
        assert_eq!(seqsim_within(b"ACGT", b"ACGT", None), Some(1.0));
        // The best rotation: ACGTT against TACGT is one rotation away from equal.
        assert_eq!(
            best_seqsim(b"ACGTT", b"TACGT", 1, None, Some((0, 1))),
            Some(1.0)
        );
        assert!(best_seqsim(b"AAAAAA", b"CCCC", 2, None, Some((0, 0))).unwrap() < 0.5);
        assert_eq!(
            best_seqsim(b"AAAAAA", b"CCCC", 2, Some(limit_for(10, 0.7)), None),
            None
        );
        // The limit is the last distance whose similarity reaches the threshold.
        assert_eq!(limit_for(10, 0.7), 3);
        assert_eq!(limit_for(7, 0.7), 2);
        assert_eq!(seqsim_within(b"ACGT", b"ACGA", None), Some(0.875));
        assert_eq!(bands(10, 500).collect::<Vec<_>>(), [41, 134, 500]);
        assert_eq!(bands(0, 0).collect::<Vec<_>>(), [0]);
        // Past the first bands: 300 bases against their reverse, equal and unequal lengths.
        let mut r = 7u64;
        let x: Vec<u8> = (0..300)
            .map(|_| {
                r = r
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                b"ACGT"[(r >> 62) as usize]
            })
            .collect();
        let y: Vec<u8> = x.iter().rev().copied().collect();
        for y in [&y[..], &y[..250]] {
            let d =
                rapidfuzz::distance::levenshtein::distance(x.iter().copied(), y.iter().copied());
            assert!(d > 31 + x.len() - y.len(), "{d}");
            let t = x.len() + y.len();
            assert_eq!(seqsim_within(&x, y, None), Some((t - d) as f64 / t as f64));
            assert_eq!(
                seqsim_within(&x, y, Some(d)),
                Some((t - d) as f64 / t as f64)
            );
            assert_eq!(seqsim_within(&x, y, Some(d - 1)), None);
        }
        let min_rotation = |s: &[u8]| rotated(s, min_rotation_start(s));
        assert_eq!(min_rotation(b"CAB"), b"ABC".to_vec());
        assert_eq!(min_rotation(b"BAA"), b"AAB".to_vec());
        assert_eq!(reciprocal_overlap(0, 100, 50, 150), 0.5);
        assert_eq!(g6(0.99419999), "0.9942");
        assert_eq!(g6(1.0), "1");
        assert_eq!(g6(-35.0), "-35");
        assert_eq!(g6(999999.0), "999999");
        assert_eq!(g6(1e6), "1e+06");
        assert_eq!(g6(0.5), "0.5");
        assert_eq!(g6(-227341000.0), "-2.27341e+08");
    }

    #[test]
    fn breakends_parse() {
        let b = Breakend::parse(b"N]chr2:500]").unwrap();
        assert_eq!(
            (b.chr2.as_str(), b.pos2, b.left, b.direct),
            ("chr2", 500, false, true)
        );
        let b = Breakend::parse(b"[chr1:7[N").unwrap();
        assert_eq!((b.pos2, b.left, b.direct), (7, true, false));
        assert!(Breakend::parse(b"N.").is_none());
    }

    #[test]
    fn argsort_is_numpys_for_small_and_large() {
        // Ascending by state then score; ties kept in order for n <= 16 (insertion sort).
        let mk = |state: bool, score: f64| MatchResult {
            state,
            score: Some(score),
            ..Default::default()
        };
        let v: Vec<MatchResult> = (0..40).map(|i| mk(i % 3 == 0, (i % 5) as f64)).collect();
        let t = np_argsort(&v);
        for w in t.windows(2) {
            assert!(!v[w[1]].lt(&v[w[0]]));
        }
        let small: Vec<MatchResult> = (0..6).map(|_| mk(true, 1.0)).collect();
        assert_eq!(np_argsort(&small), vec![0, 1, 2, 3, 4, 5]);
    }
}
