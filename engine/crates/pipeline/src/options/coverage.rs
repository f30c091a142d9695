//! `kasane coverage`'s options: the table, the option struct from parsed values, and the files
//! a run writes.

use super::{OptDef, ParamKind, Ty, Values};
use crate::coverage::{depth::ReadFilter, stats, By, CoverageOptions};
use crate::error::{Error, Result};

/// The help line of the hidden `--shard` of every analysis.
pub(super) const SHARD_HELP: &str = "One of N shards of whole contigs (used by `kasane run --shard`; `kasane gather` joins the shards)";

/// Every option of `kasane coverage`, in `--help` order.
pub const OPTIONS: &[OptDef] = &[
    OptDef::positional("prefix", Ty::Str, "PREFIX", "Output prefix"),
    OptDef::positional(
        "input",
        Ty::Path,
        "BAM-or-CRAM",
        "Alignments: BAM or CRAM, sorted by coordinate",
    ),
    OptDef::new(
        "threads",
        "threads",
        Ty::Usize,
        "THREADS",
        "Worker threads for decompression and computation (0 counts as 1)",
    )
    .short('t')
    .default("0"),
    OptDef::new(
        "chrom",
        "chrom",
        Ty::Str,
        "CHROM",
        "Restrict to one chromosome (CHROM or CHROM:START-END; only the name is used, as in mosdepth). Needs the index",
    )
    .short('c')
    .param(ParamKind::Str, "restrict to one chromosome (-c)"),
    OptDef::new(
        "by",
        "by",
        Ty::Str,
        "bed|window",
        "BED file of regions, or a window size in bases, for region statistics",
    )
    .short('b')
    .param(
        ParamKind::BedOrWindow,
        "BED file, window size, or \"regions\" for the pipeline's regions (-b)",
    ),
    OptDef::switch("no_per_base", "no-per-base", "NO_PER_BASE",
        "Do not write per-base depth (faster)",
    )
    .short('n')
    .param(ParamKind::Bool, "do not write per-base depth (-n)"),
    OptDef::new(
        "fasta",
        "fasta",
        Ty::Path,
        "FASTA",
        "Reference FASTA (with .fai) for CRAM input",
    )
    .short('f')
    .env("REF_PATH"),
    OptDef::new(
        "flag",
        "flag",
        Ty::Flag16,
        "FLAG",
        "Exclude reads with any of these flag bits set",
    )
    .short('F')
    .default("1796")
    .param(ParamKind::Int, "exclude reads with any of these flag bits (-F)"),
    OptDef::new(
        "include_flag",
        "include-flag",
        Ty::Flag16,
        "INCLUDE_FLAG",
        "Only include reads with any of these flag bits set (0: no requirement)",
    )
    .short('i')
    .default("0")
    .param(ParamKind::Int, "only reads with all of these flag bits (-i)"),
    OptDef::switch("fast_mode", "fast-mode", "FAST_MODE",
        "Count each read over its whole span: no CIGAR walk, no mate-overlap correction",
    )
    .short('x')
    .param(
        ParamKind::Bool,
        "count deletions, skip mate-overlap correction (-x)",
    ),
    OptDef::switch("fragment_mode", "fragment-mode", "FRAGMENT_MODE",
        "Count the full fragment of proper pairs (from read 1), insert included",
    )
    .short('a')
    .param(ParamKind::Bool, "count whole fragments of proper pairs (-a)"),
    OptDef::new(
        "min_frag_len",
        "min-frag-len",
        Ty::I64,
        "MIN_FRAG_LEN",
        "Ignore reads whose absolute insert size is below this (-1: no limit)",
    )
    .short('l')
    .default("-1")
    .negative()
    .param(ParamKind::Int, "shortest fragment counted (-l)"),
    OptDef::new(
        "max_frag_len",
        "max-frag-len",
        Ty::I64,
        "MAX_FRAG_LEN",
        "Ignore reads whose absolute insert size is above this (-1: no limit)",
    )
    .short('u')
    .default("-1")
    .negative()
    .param(ParamKind::Int, "longest fragment counted (-u)"),
    OptDef::new(
        "quantize",
        "quantize",
        Ty::Str,
        "segments",
        "Write quantized depth: bin edges like 0:1:4:10: (a trailing colon is open-ended)",
    )
    .short('q')
    .param(ParamKind::Str, "quantize bins, e.g. \"0:1:5:\" (-q)"),
    OptDef::new(
        "mapq",
        "mapq",
        Ty::U8,
        "MAPQ",
        "Mapping-quality threshold: reads below it are ignored",
    )
    .short('Q')
    .default("0")
    .param(ParamKind::Int, "minimum mapping quality (-Q)"),
    OptDef::new(
        "thresholds",
        "thresholds",
        Ty::Str,
        "THRESHOLDS",
        "For each region in --by, count bases covered at least at each of these depths (comma-separated)",
    )
    .short('T')
    .param(
        ParamKind::IntList,
        "depths to count bases at or above, per region (-T)",
    ),
    OptDef::switch("use_median", "use-median", "USE_MEDIAN",
        "Report the median of each region instead of the mean",
    )
    .short('m')
    .param(ParamKind::Bool, "median instead of mean per region (-m)"),
    OptDef::new(
        "read_groups",
        "read-groups",
        Ty::Str,
        "READ_GROUPS",
        "Only count reads of these comma-separated read-group IDs",
    )
    .short('R')
    .param(ParamKind::Str, "only these read groups (-R)"),
    OptDef::new(
        "backend",
        "backend",
        Ty::Backend,
        "BACKEND",
        "Compute backend. Every backend writes byte-identical files; auto takes CUDA, else wgpu on a real GPU, else the CPU, and keeps inputs under KASANE_GPU_MIN_BYTES (default 4 GiB) on the CPU. `kasane backends` lists what this machine offers",
    )
    .default("auto"),
    OptDef::switch("quiet", "quiet", "QUIET", "No progress display"),
    OptDef::new("shard", "shard", Ty::Str, "i/N", SHARD_HELP).hide(),
];

/// The option struct of a coverage run. `env` reads the environment (`MOSDEPTH_PRECISION`,
/// `MOSDEPTH_Q0`, ...); `command_line` is recorded in the provenance file.
pub fn to_options(
    v: &Values,
    env: &dyn Fn(&str) -> Option<String>,
    command_line: Vec<String>,
) -> Result<CoverageOptions> {
    let precision = env("MOSDEPTH_PRECISION")
        .and_then(|s| s.trim().parse::<usize>().ok())
        .unwrap_or(2)
        .min(32);
    let by = v.string("by").as_deref().map(By::parse).transpose()?;
    let thresholds = match v.string("thresholds") {
        None => Vec::new(),
        Some(s) => {
            let mut t = s
                .split(',')
                .map(|x| x.trim().parse::<u64>())
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| {
                    Error::Usage(format!(
                        "invalid --thresholds '{s}': expected comma-separated integers: {e}"
                    ))
                })?;
            t.sort_unstable();
            t
        }
    };
    let quantize = match v.string("quantize") {
        None => None,
        Some(s) => Some(stats::parse_quantize(&s).ok_or_else(|| {
            Error::Usage(format!(
                "invalid --quantize '{s}': expected integers separated by ':'"
            ))
        })?),
    };
    let labels = quantize
        .as_ref()
        .map(|q| stats::quantize_labels(q, env))
        .unwrap_or_default();
    let frag = |name| {
        v.int(name)
            .filter(|n| *n >= 0)
            .and_then(|n| u64::try_from(n).ok())
    };
    let min_frag = frag("min_frag_len");
    let max_frag = frag("max_frag_len");
    if let (Some(lo), Some(hi)) = (min_frag, max_frag) {
        if hi < lo {
            return Err(Error::Usage(format!(
                "--max-frag-len ({hi}) is lower than --min-frag-len ({lo})"
            )));
        }
    }
    let read_groups = v
        .string("read_groups")
        .map(|s| s.split(',').map(|g| g.as_bytes().to_vec()).collect())
        .unwrap_or_default();
    Ok(CoverageOptions {
        prefix: v.need_string("prefix")?,
        input: v.need_path("input")?,
        threads: v.uint_as("threads")?.unwrap_or(0),
        chrom: v.string("chrom"),
        by,
        no_per_base: v.flag("no_per_base"),
        fasta: v.path("fasta").filter(|p| !p.as_os_str().is_empty()),
        filter: ReadFilter {
            min_mapq: v.uint_as("mapq")?.unwrap_or(0),
            exclude_flags: v.uint_as("flag")?.unwrap_or(1796),
            include_flags: v.uint_as("include_flag")?.unwrap_or(0),
            read_groups,
            fast_mode: v.flag("fast_mode"),
            fragment_mode: v.flag("fragment_mode"),
            min_frag_len: min_frag,
            max_frag_len: max_frag,
        },
        quantize,
        quantize_labels: labels,
        thresholds,
        use_median: v.flag("use_median"),
        precision,
        backend: v
            .backend("backend")
            .unwrap_or(crate::backend::BackendKind::Auto),
        command_line,
        shard: v
            .string("shard")
            .as_deref()
            .map(crate::shard::Shard::parse)
            .transpose()?,
    })
}

/// The files a coverage run writes for `prefix` (sorted), given which options are on: a
/// switch counts when true, any other option when it has a value.
pub fn outputs(prefix: &str, on: &dyn Fn(&str) -> bool) -> Vec<String> {
    let mut w = vec![
        format!("{prefix}.mosdepth.global.dist.txt"),
        format!("{prefix}.mosdepth.summary.txt"),
    ];
    let mut bed = |name: &str| {
        w.push(format!("{prefix}.{name}.bed.gz"));
        w.push(format!("{prefix}.{name}.bed.gz.csi"));
    };
    if !on("no_per_base") {
        bed("per-base");
    }
    if on("by") {
        bed("regions");
    }
    if on("quantize") {
        bed("quantized");
    }
    if on("thresholds") {
        bed("thresholds");
    }
    if on("by") {
        w.push(format!("{prefix}.mosdepth.region.dist.txt"));
    }
    w.sort();
    w
}
