//! `kasane sv`'s options: the table, the option struct from parsed values, and the files a run
//! writes.

use super::coverage::SHARD_HELP;
use super::{OptDef, ParamKind, Ty, Values, VcfIndex};
use crate::backend::BackendKind;
use crate::error::Result;
use crate::sv::SvOptions;

/// Every option of `kasane sv`, in `--help` order.
pub const OPTIONS: &[OptDef] = &[
    OptDef::positional(
        "inputs",
        Ty::Paths,
        "BAM-or-CRAM",
        "Alignments: BAM or CRAM files, sorted by coordinate (one sample each)",
    ),
    OptDef::new(
        "fasta",
        "fasta",
        Ty::Path,
        "FASTA",
        "Reference FASTA (a .fai index is used when present)",
    )
    .short('f')
    .required(),
    OptDef::new(
        "output",
        "output",
        Ty::Path,
        "OUTPUT",
        "Output VCF, bgzipped: must end in .vcf.gz",
    )
    .short('o')
    .required(),
    super::THREADS,
    OptDef::new(
        "backend",
        "backend",
        Ty::Backend,
        "BACKEND",
        "Compute backend (SV calling runs on the CPU; recorded in provenance)",
    )
    .default("auto"),
    OptDef::new(
        "tandem_repeats",
        "tandem-repeats",
        Ty::Path,
        "BED",
        "BED of tandem repeats: events inside one are clustered over the whole repeat",
    )
    .param(
        ParamKind::Path,
        "BED of tandem repeats: events inside one cluster over the whole repeat",
    ),
    OptDef::new(
        "contigs",
        "contigs",
        Ty::StrList,
        "CONTIGS",
        "Only call on these contigs (comma-separated); inputs must be indexed",
    ),
    OptDef::new("shard", "shard", Ty::Str, "i/N", SHARD_HELP).hide(),
    OptDef::new(
        "min_svlen",
        "min-svlen",
        Ty::I64,
        "MIN_SVLEN",
        "Smallest SV length reported",
    )
    .default("50")
    .param(ParamKind::Int, "smallest SV length reported"),
    OptDef::new(
        "min_mapq",
        "min-mapq",
        Ty::U8,
        "MIN_MAPQ",
        "Reads with a lower mapping quality are ignored",
    )
    .default("20")
    .param(
        ParamKind::Int,
        "reads with a lower mapping quality are ignored",
    ),
    OptDef::new(
        "min_support",
        "min-support",
        Ty::U32,
        "MIN_SUPPORT",
        "Minimum supporting reads (default: adapts to each contig's depth)",
    )
    .param(
        ParamKind::Int,
        "minimum supporting reads (default: adapts to each contig's depth)",
    ),
    OptDef::switch(
        "mosaic",
        "mosaic",
        "MOSAIC",
        "Also report low-fraction (mosaic/somatic) events: allele fraction down to 3%",
    )
    .param(
        ParamKind::Bool,
        "also report low-fraction (mosaic/somatic) events",
    ),
    OptDef::switch("quiet", "quiet", "QUIET", "No progress display"),
];

/// The option struct of an SV run; `command_line` is recorded in the VCF header and the
/// provenance file.
pub fn to_options(v: &Values, command_line: Vec<String>) -> Result<SvOptions> {
    let mut o = SvOptions::new(
        v.paths("inputs"),
        v.need_path("fasta")?,
        v.need_path("output")?,
    );
    o.threads = v.uint_as::<usize>("threads")?.unwrap_or(0);
    o.backend = v.backend("backend").unwrap_or(BackendKind::Auto);
    o.tandem_repeats = v.path("tandem_repeats");
    o.contigs = v.strings("contigs");
    o.shard = v
        .string("shard")
        .as_deref()
        .map(crate::shard::Shard::parse)
        .transpose()?;
    if let Some(n) = v.int("min_svlen") {
        o.min_svlen = n;
    }
    if let Some(q) = v.uint_as("min_mapq")? {
        o.min_mapq = q;
    }
    o.min_support = v.uint_as("min_support")?;
    o.mosaic = v.flag("mosaic");
    o.command_line = command_line;
    Ok(o)
}

/// The files an SV run writes for `prefix`: the VCF and its index.
pub fn outputs(prefix: &str, index: VcfIndex) -> Vec<String> {
    super::vcf_outputs(prefix, index)
}
