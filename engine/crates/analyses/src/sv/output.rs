//! VCF records for SV calls: sequence-resolved REF/ALT for deletions and insertions, symbolic
//! `<DUP>` and `<INV>`, breakend notation with `MATEID` for junctions between contigs.

use std::fmt::Write as _;

use crate::error::Result;
use crate::io::fasta::FastaReader;
use crate::io::vcf::VcfHeader;
use crate::io::Header;
use crate::sv::cluster::Cluster;
use crate::sv::genotype::Genotype;
use crate::sv::signatures::SvKind;
use crate::sv::{adaptive_support, CallParams};

/// Deletions longer than this are written with a symbolic `<DEL>` instead of their bases.
const MAX_RESOLVED_DEL: i64 = 100_000;

/// One VCF data line and what orders it.
pub struct Record {
    pub kind: SvKind,
    pub line: String,
    pub sort_key: (i64, SvKind, i64, String),
}

pub fn header(h: &Header, samples: &[String], cmd: &str, cp: &CallParams) -> VcfHeader {
    let mut v = VcfHeader::new(h.refs.iter().map(|r| (r.name.clone(), r.len)));
    v.command(cmd);
    v.filter(
        "LowSupport",
        "No sample has the minimum number of supporting reads for its depth",
    )
    .filter(
        "LowAF",
        &format!(
            "Fraction of supporting reads below {} in every sample",
            cp.min_af
        ),
    )
    .alt("DEL", "Deletion")
    .alt("INS", "Insertion")
    .alt("DUP", "Tandem duplication")
    .alt("INV", "Inversion")
    .info("PRECISE", "0", "Flag", "Breakpoints agree between reads")
    .info("IMPRECISE", "0", "Flag", "Breakpoints or length vary between reads")
    .info("SVTYPE", "1", "String", "Type of structural variant")
    .info("SVLEN", "1", "Integer", "Length of the SV (negative for deletions)")
    .info("END", "1", "Integer", "End position of the SV on the reference")
    .info("CHR2", "1", "String", "Contig of the mate breakend (BND)")
    .info("MATEID", "1", "String", "ID of the mate breakend record (BND)")
    .info("SUPPORT", "1", "Integer", "Reads supporting the ALT allele (all samples)")
    .info(
        "COVERAGE",
        "1",
        "Integer",
        "Reads informative at the breakpoints (supporting or not; all samples)",
    )
    .info("STDEV_POS", "1", "Float", "Standard deviation of breakpoint positions across reads")
    .info("STDEV_LEN", "1", "Float", "Standard deviation of SV lengths across reads")
    .info("AF", "1", "Float", "Fraction of informative reads that support the ALT allele")
    .info(
        "ALLELES_AT_SITE",
        "1",
        "Integer",
        "Distinct ALT alleles called at this site; when 2, each is genotyped against reads of the reference and of the other",
    )
    .info(
        "CLIPPED",
        "0",
        "Flag",
        "Insertion seen only as soft clips (longer than the reads' aligned parts): SVLEN is a lower bound and ALT holds the longest clipped sequence",
    )
    .format("GT", "1", "String", "Genotype")
    .format("GQ", "1", "Integer", "Genotype quality (phred)")
    .format(
        "DR",
        "1",
        "Integer",
        "Reads at the breakpoints not supporting this ALT allele (reference or another allele at the site)",
    )
    .format("DV", "1", "Integer", "Reads supporting this ALT allele");
    for s in samples {
        v.sample(s.clone());
    }
    v
}

/// How far an event is shifted left at most when normalising.
const MAX_SHIFT: i64 = 10_000;

/// Leftmost position of a deletion of `len` bases starting at 1-based-before `pos` (the
/// first deleted base is 0-based `pos`) with the same result, as `bcftools norm` places it.
fn left_align_del(fasta: &FastaReader, contig: &str, pos: i64, len: i64) -> Result<i64> {
    let lo = (pos - MAX_SHIFT).max(1);
    let win = fasta.fetch(contig, (lo - 1) as u64, (pos + len) as u64)?;
    // win[i] is 0-based base lo - 1 + i.
    let at = |p: i64| win.get((p - (lo - 1)) as usize).copied();
    let mut p = pos;
    while p > lo {
        match (at(p - 1), at(p - 1 + len)) {
            (Some(a), Some(b)) if a == b && a != b'N' => p -= 1,
            _ => break,
        }
    }
    Ok(p)
}

/// Leftmost placement of an insertion of `seq` before 0-based `pos`, rotating the sequence.
fn left_align_ins(
    fasta: &FastaReader,
    contig: &str,
    pos: i64,
    seq: &[u8],
) -> Result<(i64, Vec<u8>)> {
    let lo = (pos - MAX_SHIFT).max(1);
    let win = fasta.fetch(contig, (lo - 1) as u64, pos as u64)?;
    let mut s: std::collections::VecDeque<u8> = seq.iter().copied().collect();
    let mut p = pos;
    while p > lo {
        let r = win[(p - 1 - (lo - 1)) as usize];
        if s.back() == Some(&r) && r != b'N' {
            s.rotate_right(1);
            p -= 1;
        } else {
            break;
        }
    }
    Ok((p, s.into_iter().collect()))
}

fn base_at(fasta: &FastaReader, contig: &str, pos0: i64) -> Result<u8> {
    let b = fasta.fetch(contig, pos0.max(0) as u64, pos0.max(0) as u64 + 1)?;
    Ok(b.first().copied().unwrap_or(b'N'))
}

/// Formats one call; `None` when it cannot be placed (e.g. outside the contig).
#[allow(clippy::too_many_arguments)]
pub fn format_record(
    contig: &str,
    c: &Cluster,
    gts: &[Genotype],
    cov: &[f64],
    cp: &CallParams,
    header: &Header,
    fasta: &FastaReader,
    no_seq: &mut u64,
) -> Result<Option<Record>> {
    let clen = header.tid(contig).map_or(0, |t| header.refs[t].len as i64);
    // VCF POS is 1-based and names the base before the event.
    let mut pos = c.pos.max(1);
    let mut seq = std::borrow::Cow::Borrowed(&c.seq[..]);
    if !c.clip_only {
        match c.kind {
            SvKind::Del if c.len <= MAX_RESOLVED_DEL => {
                pos = left_align_del(fasta, contig, pos, c.len)?;
            }
            SvKind::Ins if !c.seq.is_empty() => {
                let (p, s) = left_align_ins(fasta, contig, pos, &c.seq)?;
                pos = p;
                seq = std::borrow::Cow::Owned(s);
            }
            _ => {}
        }
    }
    if pos > clen {
        return Ok(None);
    }
    let (reff, mut alt, mut end, mut svlen);
    alt = String::new();
    end = pos;
    svlen = c.len;
    let id;
    let mut extra = String::new();
    match c.kind {
        SvKind::Del => {
            let e = (pos + c.len).min(clen);
            svlen = -(e - pos);
            end = e;
            if c.len <= MAX_RESOLVED_DEL {
                let bases = fasta.fetch(contig, (pos - 1) as u64, e as u64)?;
                reff = String::from_utf8_lossy(&bases).into_owned();
                alt = (bases.first().copied().unwrap_or(b'N') as char).to_string();
            } else {
                reff = (base_at(fasta, contig, pos - 1)? as char).to_string();
                alt = "<DEL>".into();
            }
            id = format!("kasane.DEL.{contig}.{pos}.{}", -svlen);
        }
        SvKind::Ins => {
            let b = base_at(fasta, contig, pos - 1)? as char;
            reff = b.to_string();
            if seq.is_empty() {
                alt = "<INS>".into();
                *no_seq += 1;
            } else {
                alt.push(b);
                alt.push_str(&String::from_utf8_lossy(&seq));
            }
            if c.clip_only {
                extra.push_str(";CLIPPED");
            }
            id = format!("kasane.INS.{contig}.{pos}.{svlen}");
        }
        SvKind::Dup | SvKind::Inv => {
            reff = (base_at(fasta, contig, pos - 1)? as char).to_string();
            alt = format!("<{}>", c.kind.name());
            end = (pos + c.len).min(clen);
            svlen = end - pos;
            id = format!("kasane.{}.{contig}.{pos}.{svlen}", c.kind.name());
        }
        SvKind::Bnd => {
            // Breakend positions: the last base kept when the local piece lies to the left,
            // the first base when it lies to the right.
            let lpos = c.pos + 1;
            let rpos = c.mate_pos + 1;
            let mate = &header.refs[c.mate_tid as usize].name;
            let t = base_at(fasta, contig, c.pos)? as char;
            reff = t.to_string();
            alt = match (c.local_right, c.mate_right) {
                (false, true) => format!("{t}[{mate}:{rpos}["),
                (false, false) => format!("{t}]{mate}:{rpos}]"),
                (true, false) => format!("]{mate}:{rpos}]{t}"),
                (true, true) => format!("[{mate}:{rpos}[{t}"),
            };
            let dir = |r: bool| if r { 'R' } else { 'L' };
            id = format!(
                "kasane.BND.{contig}:{lpos}{}-{mate}:{rpos}{}",
                dir(c.local_right),
                dir(c.mate_right)
            );
            let mate_id = format!(
                "kasane.BND.{mate}:{rpos}{}-{contig}:{lpos}{}",
                dir(c.mate_right),
                dir(c.local_right)
            );
            let _ = write!(extra, ";CHR2={mate};MATEID={mate_id}");
            return Ok(Some(finish(
                contig, lpos, id, reff, alt, None, 0, c, gts, cov, cp, extra,
            )));
        }
    }
    Ok(Some(finish(
        contig,
        pos,
        id,
        reff,
        alt,
        Some(end),
        svlen,
        c,
        gts,
        cov,
        cp,
        extra,
    )))
}

#[allow(clippy::too_many_arguments)]
fn finish(
    contig: &str,
    pos: i64,
    id: String,
    reff: String,
    alt: String,
    end: Option<i64>,
    svlen: i64,
    c: &Cluster,
    gts: &[Genotype],
    cov: &[f64],
    cp: &CallParams,
    extra: String,
) -> Record {
    let dv: u32 = gts.iter().map(|g| g.dv).sum();
    let dr: u32 = gts.iter().map(|g| g.dr).sum();
    let af = if dv + dr > 0 {
        dv as f64 / (dv + dr) as f64
    } else {
        0.0
    };
    let qual: f64 = gts.iter().map(|g| g.qual).sum::<f64>().min(999.0);
    let supported = gts
        .iter()
        .zip(cov)
        .any(|(g, &cv)| g.dv >= adaptive_support(cv, cp));
    let af_ok = gts
        .iter()
        .any(|g| g.dv + g.dr > 0 && g.dv as f64 / (g.dv + g.dr) as f64 >= cp.min_af);
    let filter = match (supported, af_ok) {
        (true, true) => "PASS",
        (false, true) => "LowSupport",
        (true, false) => "LowAF",
        (false, false) => "LowSupport;LowAF",
    };
    let precise =
        !c.clip_only && c.stdev_pos <= 25.0 && c.stdev_len <= 0.05 * c.len.abs() as f64 + 15.0;
    let mut info = String::with_capacity(160);
    info.push_str(if precise { "PRECISE" } else { "IMPRECISE" });
    let _ = write!(info, ";SVTYPE={}", c.kind.name());
    if let Some(e) = end {
        let _ = write!(info, ";SVLEN={svlen};END={e}");
    }
    let _ = write!(
        info,
        ";SUPPORT={dv};COVERAGE={};STDEV_POS={:.1};STDEV_LEN={:.1};AF={:.3}",
        dv + dr,
        c.stdev_pos,
        c.stdev_len,
        af
    );
    if c.alleles_at_site > 1 {
        let _ = write!(info, ";ALLELES_AT_SITE={}", c.alleles_at_site);
    }
    info.push_str(&extra);
    let mut line = format!(
        "{contig}\t{pos}\t{id}\t{reff}\t{alt}\t{}\t{filter}\t{info}\tGT:GQ:DR:DV",
        qual.round() as i64
    );
    for g in gts {
        let _ = write!(line, "\t{}:{}:{}:{}", g.gt, g.gq, g.dr, g.dv);
    }
    Record {
        kind: c.kind,
        sort_key: (pos, c.kind, svlen, alt),
        line,
    }
}
