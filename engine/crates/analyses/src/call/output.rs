//! VCF output of `kasane call`: the header (contigs, INFO/FORMAT/FILTER definitions, samples)
//! and one line per site. The writer itself (BGZF, tabix/CSI, temporary name until success)
//! is [`crate::io::vcf`].

use std::fmt::Write;

use crate::call::genotype::SampleCall;
use crate::io::vcf::VcfHeader;

/// `QUAL` below this is marked `LowQual`: about even odds that no sample carries the
/// variant, so a PASS call is more likely right than wrong.
pub const LOW_QUAL: f64 = 3.0;

pub fn header(contigs: &[(String, u64)], samples: &[String], command: &str) -> VcfHeader {
    let mut h = VcfHeader::new(contigs.iter().cloned());
    h.fileformat("VCFv4.3")
        .command(command)
        .filter(
            "LowQual",
            "QUAL below 3: the site is about as likely homozygous reference in every sample as not",
        )
        .info(
            "DP",
            "1",
            "Integer",
            "Reads overlapping the site, all samples (after read filters)",
        )
        .info(
            "AC",
            "A",
            "Integer",
            "Allele count in called genotypes, per ALT allele",
        )
        .info("AN", "1", "Integer", "Alleles in called genotypes")
        .format("GT", "1", "String", "Genotype")
        .format(
            "GQ",
            "1",
            "Integer",
            "Genotype quality: phred-scaled probability that the genotype is wrong",
        )
        .format("DP", "1", "Integer", "Reads overlapping the site")
        .format(
            "AD",
            "R",
            "Integer",
            "Reads supporting each allele (at least 3 phred better than every other allele)",
        )
        .format(
            "PL",
            "G",
            "Integer",
            "Phred-scaled genotype likelihoods, normalized to the best",
        );
    for s in samples {
        h.sample(s.clone());
    }
    h
}

/// The header line naming a sample's read type and how it was found (what the model of its
/// reads was: see [`crate::readtype`]).
pub fn read_type_line(sample: &str, d: &crate::readtype::Detection) -> String {
    let q = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
    format!(
        "kasaneReadType=<Sample=\"{}\",Type={},Source=\"{}\">",
        q(sample),
        d.read_type.name(),
        q(&d.source)
    )
}

/// One site ready to print.
pub struct SiteLine<'a> {
    pub chrom: &'a str,
    /// 0-based.
    pub pos: i64,
    pub reference: &'a [u8],
    pub alts: &'a [Vec<u8>],
    pub qual: f64,
    pub calls: &'a [SampleCall],
    pub dp: &'a [u32],
    pub ad: &'a [Vec<u32>],
}

pub fn format_line(s: &SiteLine) -> String {
    let mut l = String::with_capacity(128);
    let filter = if s.qual < LOW_QUAL { "LowQual" } else { "PASS" };
    let alts: Vec<&str> = s
        .alts
        .iter()
        .map(|a| std::str::from_utf8(a).unwrap_or("N"))
        .collect();
    let mut ac = vec![0u32; s.alts.len()];
    let mut an = 0;
    for c in s.calls {
        if let Some((a, b)) = c.gt {
            an += 2;
            for x in [a, b] {
                if x > 0 {
                    ac[x - 1] += 1;
                }
            }
        }
    }
    let dp: u32 = s.dp.iter().sum();
    let _ = write!(
        l,
        "{}\t{}\t.\t{}\t{}\t{:.2}\t{}\tDP={};AC={};AN={}\tGT:GQ:DP:AD:PL",
        s.chrom,
        s.pos + 1,
        String::from_utf8_lossy(s.reference),
        alts.join(","),
        s.qual,
        filter,
        dp,
        join(&ac),
        an
    );
    for (i, c) in s.calls.iter().enumerate() {
        let gt = match c.gt {
            Some((a, b)) => format!("{a}/{b}"),
            None => "./.".to_string(),
        };
        let _ = write!(
            l,
            "\t{}:{}:{}:{}:{}",
            gt,
            c.gq,
            s.dp[i],
            join(&s.ad[i]),
            join(&c.pl)
        );
    }
    l
}

fn join(v: &[u32]) -> String {
    let mut s = String::new();
    for (i, x) in v.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let _ = write!(s, "{x}");
    }
    s
}
