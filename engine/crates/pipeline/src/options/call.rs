//! `kasane call`'s options: the table, the option struct from parsed values, and the files a
//! run writes.

use super::coverage::SHARD_HELP;
use super::{OptDef, ParamKind, Ty, Values, VcfIndex};
use crate::backend::BackendKind;
use crate::call::CallOptions;
use crate::error::Result;

/// Every option of `kasane call`, in `--help` order.
pub const OPTIONS: &[OptDef] = &[
    OptDef::new(
        "fasta",
        "fasta",
        Ty::Path,
        "FASTA",
        "Reference FASTA (indexed with .fai, or indexed in memory)",
    )
    .short('f')
    .required(),
    OptDef::new(
        "output",
        "output",
        Ty::Path,
        "OUTPUT",
        "Output VCF (bgzipped; the index is written next to it)",
    )
    .short('o')
    .required(),
    OptDef::new(
        "region",
        "region",
        Ty::Str,
        "REGION",
        "Call only this region: CHROM or CHROM:START-END (1-based, inclusive). Needs indexes",
    )
    .short('r'),
    OptDef::new(
        "regions",
        "regions",
        Ty::Path,
        "REGIONS",
        "Call only the regions of this BED file. Needs indexes",
    )
    .short('R'),
    OptDef::new("threads", "threads", Ty::Usize, "THREADS", "Threads")
        .short('t')
        .default("1"),
    OptDef::new(
        "backend",
        "backend",
        Ty::Backend,
        "BACKEND",
        "Compute backend of the read x haplotype likelihoods (results are identical on all)",
    )
    .default("auto"),
    OptDef::new(
        "min_mapq",
        "min-mapq",
        Ty::U8,
        "MIN_MAPQ",
        "Reads with a lower mapping quality are left out",
    )
    .default("20")
    .param(
        ParamKind::Int,
        "reads with a lower mapping quality are left out",
    ),
    OptDef::new(
        "min_base_qual",
        "min-base-qual",
        Ty::U8,
        "MIN_BASE_QUAL",
        "Mismatches with a lower base quality do not count towards candidates",
    )
    .default("10")
    .param(
        ParamKind::Int,
        "bases with a lower quality are not counted as mismatch evidence",
    ),
    OptDef::new(
        "read_type",
        "read-type",
        Ty::Str,
        "READ_TYPE",
        "Read type of every input: auto (detect each file's from its first reads and @RG PL, and log it), short, hifi or ont",
    )
    .default("auto")
    .param(
        ParamKind::Str,
        "auto, short, hifi or ont: short reads keep their base qualities, long reads' error rates are measured",
    ),
    OptDef::switch("quiet", "quiet", "QUIET",
        "No progress line (it is shown only when stderr is a terminal anyway; `KASANE_QUIET` does the same)",
    ),
    OptDef::new("shard", "shard", Ty::Str, "i/N", SHARD_HELP).hide(),
    OptDef::positional(
        "inputs",
        Ty::Paths,
        "INPUTS",
        "Alignment files (BAM or CRAM), one sample each, called jointly",
    ),
];

/// The option struct of a call run. A shard (`--shard i/N`) is resolved against the
/// reference's contigs by the input layer's plan.
pub fn to_options(v: &Values) -> Result<CallOptions> {
    let mut o = CallOptions::new(
        v.need_path("fasta")?,
        v.need_path("output")?,
        v.paths("inputs"),
    );
    o.region = v.string("region");
    o.regions_bed = v.path("regions");
    o.threads = v.uint_as::<usize>("threads")?.unwrap_or(1).max(1);
    o.backend = v.backend("backend").unwrap_or(BackendKind::Auto);
    if let Some(q) = v.uint_as("min_mapq")? {
        o.min_mapq = q;
    }
    if let Some(q) = v.uint_as("min_base_qual")? {
        o.min_base_qual = q;
    }
    if let Some(t) = v.string("read_type") {
        o.read_type = crate::readtype::ReadType::parse_choice(&t)?;
    }
    if let Some(s) = v.string("shard") {
        o.shard = Some(crate::shard::Shard::parse(&s)?);
    }
    Ok(o)
}

/// The files a call run writes for `prefix`: the VCF and its index.
pub fn outputs(prefix: &str, index: VcfIndex) -> Vec<String> {
    super::vcf_outputs(prefix, index)
}
