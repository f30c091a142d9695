//! The `kasane` command line: a thin layer over the library.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};

use kasane::backend::BackendKind;
use kasane::coverage::{self, depth::ReadFilter, stats, By, CoverageOptions};
use kasane::progress::Progress;

#[derive(Parser)]
#[command(
    name = "kasane",
    version,
    about = "High-performance genome analysis: coverage, small variants, structural variants",
    long_about = None,
    propagate_version = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Depth of coverage, a drop-in for mosdepth: same options, same files.
    ///
    /// Writes {prefix}.mosdepth.global.dist.txt, {prefix}.mosdepth.summary.txt,
    /// {prefix}.per-base.bed.gz (unless -n), {prefix}.regions.bed.gz and
    /// {prefix}.mosdepth.region.dist.txt (with -b), {prefix}.quantized.bed.gz (with -q) and
    /// {prefix}.thresholds.bed.gz (with -T), each .bed.gz with a .csi index. Environment:
    /// MOSDEPTH_PRECISION (decimals, default 2), MOSDEPTH_Q0, MOSDEPTH_Q1, ... (quantize labels).
    Coverage(Box<CoverageArgs>),
    /// Structural variants (>= 50 bp) from long-read alignments (PacBio HiFi, ONT).
    ///
    /// Writes OUT.vcf.gz (sorted, bgzipped) with its .tbi index (.csi when a contig is 2^29 bp
    /// or longer) and OUT.kasane.json (provenance). Several inputs are called jointly: one
    /// sample column each (named by @RG SM).
    Sv(Box<SvArgs>),
    /// Germline SNVs and indels (diploid), one sample or several jointly, from short or long
    /// reads. Writes a bgzipped VCF 4.3 and its tabix index (.tbi).
    Call(Box<CallArgs>),
    /// List the compute backends this machine offers, and why any is unavailable.
    Backends,
    /// Run a pipeline file: every step for every sample, skipping what an earlier run finished;
    /// writes OUT/run.json (provenance) last.
    Run(RunArgs),
    /// Export a pipeline to a workflow engine: `kasane export snakemake FILE -o DIR`.
    #[command(subcommand)]
    Export(ExportCommand),
    /// Join the shards of `kasane run FILE --shard i/N` (every i) into the files an unsharded
    /// run writes, byte for byte; writes OUT/run.json.
    Gather(GatherArgs),
    /// Check a pipeline file and list every problem (file:line:col) without running anything.
    Validate {
        /// Pipeline file (TOML).
        file: PathBuf,
    },
    /// Show the jobs a pipeline file makes, in order: command, inputs, outputs, and whether an
    /// earlier run already finished each (skipped).
    Plan {
        /// Pipeline file (TOML).
        file: PathBuf,
        /// Output folder (overrides the file's `output`).
        #[arg(short = 'o', long)]
        output: Option<PathBuf>,
    },
    /// Recompute the checksums recorded in DIR/run.json: is the folder what the run wrote?
    Verify {
        /// A `kasane run` output folder.
        dir: PathBuf,
    },
    /// Print the JSON Schema of pipeline files (for editors).
    Schema,
}

#[derive(Args)]
struct RunArgs {
    /// Pipeline file (TOML).
    file: PathBuf,
    /// Output folder (overrides the file's `output`).
    #[arg(short = 'o', long)]
    output: Option<PathBuf>,
    /// Threads for the whole run (0: the file's `[engine] threads`, else every core).
    #[arg(short = 't', long, default_value_t = 0)]
    threads: usize,
    /// Compute backend (overrides the file's `[engine] backend`).
    #[arg(long, value_enum)]
    backend: Option<BackendKind>,
    /// No log lines.
    #[arg(long)]
    quiet: bool,
    /// Run one of N shards (runs of whole contigs balanced by length) into
    /// OUT/.kasane/shards/i-of-N/; `kasane gather FILE` joins them into the unsharded files.
    #[arg(long, value_name = "i/N")]
    shard: Option<String>,
    /// Run only this job (STEP/SAMPLE, as `kasane plan` lists them), and write no run.json:
    /// for workflow engines that schedule each job themselves.
    #[arg(long, value_name = "STEP/SAMPLE")]
    job: Option<String>,
}

#[derive(Subcommand)]
enum ExportCommand {
    /// A Snakemake workflow: per sample x shard x step a job (`kasane run --shard --job`), per
    /// sample x step a gather job whose outputs are `kasane run`'s files, and run.json last.
    /// Writes DIR/Snakefile, DIR/config.yaml (executable, paths, per-job threads, memory,
    /// run time, GPUs) and DIR/profiles/slurm/config.yaml (Slurm executor profile).
    Snakemake(ExportArgs),
}

#[derive(Args)]
struct ExportArgs {
    /// Pipeline file (TOML).
    file: PathBuf,
    /// Folder for the workflow.
    #[arg(short = 'o', long)]
    output: PathBuf,
    /// Results folder (default: the pipeline file's `output`).
    #[arg(long, value_name = "DIR")]
    results: Option<PathBuf>,
    /// Shards per job (at most the number of contigs). Default: enough that each shard job
    /// reads about 2 GiB of the largest input, but no more than the genome length divided by
    /// its longest contig.
    #[arg(long)]
    shards: Option<usize>,
    /// Threads per shard job.
    #[arg(long, default_value_t = 2)]
    threads_per_job: usize,
    /// Memory per job, MB (declared to the scheduler).
    #[arg(long, default_value_t = 2000)]
    mem_mb: u64,
}

#[derive(Args)]
struct GatherArgs {
    /// Pipeline file (TOML).
    file: PathBuf,
    /// Output folder (overrides the file's `output`).
    #[arg(short = 'o', long)]
    output: Option<PathBuf>,
    /// Gather only this job (STEP/SAMPLE), and write no run.json.
    #[arg(long, value_name = "STEP/SAMPLE")]
    job: Option<String>,
    /// No log lines.
    #[arg(long)]
    quiet: bool,
}

/// Loads a pipeline file, or fails with every problem listed (one per line).
fn load_pipeline(file: &std::path::Path) -> Result<kasane::pipeline::Pipeline> {
    match kasane::pipeline::parse::load(file) {
        Ok(p) => Ok(p),
        Err(diags) => {
            for d in &diags {
                eprintln!("{d}");
            }
            bail!(
                "{}: {} problem(s), nothing was run",
                file.display(),
                diags.len()
            )
        }
    }
}

#[derive(Args)]
struct CallArgs {
    /// Reference FASTA (indexed with .fai, or indexed in memory).
    #[arg(short = 'f', long = "fasta")]
    fasta: PathBuf,
    /// Output VCF (bgzipped; the index is written next to it).
    #[arg(short = 'o', long)]
    output: PathBuf,
    /// Call only this region: CHROM or CHROM:START-END (1-based, inclusive). Needs indexes.
    #[arg(short = 'r', long)]
    region: Option<String>,
    /// Call only the regions of this BED file. Needs indexes.
    #[arg(short = 'R', long = "regions")]
    regions: Option<PathBuf>,
    /// Threads.
    #[arg(short = 't', long, default_value_t = 1)]
    threads: usize,
    /// Compute backend of the read x haplotype likelihoods (results are identical on all).
    #[arg(long, value_enum, default_value_t = BackendKind::Auto)]
    backend: BackendKind,
    /// Reads with a lower mapping quality are left out.
    #[arg(long, default_value_t = 20)]
    min_mapq: u8,
    /// Mismatches with a lower base quality do not count towards candidates.
    #[arg(long, default_value_t = 10)]
    min_base_qual: u8,
    /// No progress line (it is shown only when stderr is a terminal anyway; `KASANE_QUIET`
    /// does the same).
    #[arg(long)]
    quiet: bool,
    /// One of N shards of whole contigs (used by `kasane run --shard`; `kasane gather` joins
    /// the shards).
    #[arg(long, value_name = "i/N", hide = true)]
    shard: Option<String>,
    /// Alignment files (BAM or CRAM), one sample each, called jointly.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
}

#[derive(Args)]
struct CoverageArgs {
    /// Output prefix.
    prefix: String,
    /// Alignments: BAM or CRAM, sorted by coordinate.
    #[arg(value_name = "BAM-or-CRAM")]
    input: PathBuf,
    /// Worker threads for decompression and computation (0 counts as 1).
    #[arg(short = 't', long, default_value_t = 0)]
    threads: usize,
    /// Restrict to one chromosome (CHROM or CHROM:START-END; only the name is used, as in
    /// mosdepth). Needs the index.
    #[arg(short = 'c', long)]
    chrom: Option<String>,
    /// BED file of regions, or a window size in bases, for region statistics.
    #[arg(short = 'b', long, value_name = "bed|window")]
    by: Option<String>,
    /// Do not write per-base depth (faster).
    #[arg(short = 'n', long)]
    no_per_base: bool,
    /// Reference FASTA (with .fai) for CRAM input.
    #[arg(short = 'f', long, env = "REF_PATH")]
    fasta: Option<PathBuf>,
    /// Exclude reads with any of these flag bits set.
    #[arg(short = 'F', long, default_value = "1796", value_parser = parse_flag)]
    flag: u16,
    /// Only include reads with any of these flag bits set (0: no requirement).
    #[arg(short = 'i', long, default_value = "0", value_parser = parse_flag)]
    include_flag: u16,
    /// Count each read over its whole span: no CIGAR walk, no mate-overlap correction.
    #[arg(short = 'x', long)]
    fast_mode: bool,
    /// Count the full fragment of proper pairs (from read 1), insert included.
    #[arg(short = 'a', long)]
    fragment_mode: bool,
    /// Ignore reads whose absolute insert size is below this (-1: no limit).
    #[arg(short = 'l', long, default_value_t = -1, allow_negative_numbers = true)]
    min_frag_len: i64,
    /// Ignore reads whose absolute insert size is above this (-1: no limit).
    #[arg(short = 'u', long, default_value_t = -1, allow_negative_numbers = true)]
    max_frag_len: i64,
    /// Write quantized depth: bin edges like 0:1:4:10: (a trailing colon is open-ended).
    #[arg(short = 'q', long, value_name = "segments")]
    quantize: Option<String>,
    /// Mapping-quality threshold: reads below it are ignored.
    #[arg(short = 'Q', long, default_value_t = 0)]
    mapq: u8,
    /// For each region in --by, count bases covered at least at each of these depths (comma-separated).
    #[arg(short = 'T', long)]
    thresholds: Option<String>,
    /// Report the median of each region instead of the mean.
    #[arg(short = 'm', long)]
    use_median: bool,
    /// Only count reads of these comma-separated read-group IDs.
    #[arg(short = 'R', long)]
    read_groups: Option<String>,
    /// Compute backend. Every backend writes byte-identical files; auto takes CUDA, else wgpu
    /// on a real GPU, else the CPU, and keeps inputs under KASANE_GPU_MIN_BYTES (default 4 GiB)
    /// on the CPU. `kasane backends` lists what this machine offers.
    #[arg(long, value_enum, default_value_t = BackendKind::Auto)]
    backend: BackendKind,
    /// No progress display.
    #[arg(long)]
    quiet: bool,
    /// One of N shards of whole contigs (used by `kasane run --shard`; `kasane gather` joins
    /// the shards).
    #[arg(long, value_name = "i/N", hide = true)]
    shard: Option<String>,
}

#[derive(Args)]
struct SvArgs {
    /// Alignments: BAM or CRAM files, sorted by coordinate (one sample each).
    #[arg(value_name = "BAM-or-CRAM", required = true)]
    inputs: Vec<PathBuf>,
    /// Reference FASTA (a .fai index is used when present).
    #[arg(short = 'f', long)]
    fasta: PathBuf,
    /// Output VCF, bgzipped: must end in .vcf.gz.
    #[arg(short = 'o', long)]
    output: PathBuf,
    /// Worker threads (0 counts as 1). The output does not depend on it.
    #[arg(short = 't', long, default_value_t = 0)]
    threads: usize,
    /// Compute backend (SV calling runs on the CPU; recorded in provenance).
    #[arg(long, value_enum, default_value_t = BackendKind::Auto)]
    backend: BackendKind,
    /// BED of tandem repeats: events inside one are clustered over the whole repeat.
    #[arg(long, value_name = "BED")]
    tandem_repeats: Option<PathBuf>,
    /// Only call on these contigs (comma-separated); inputs must be indexed.
    #[arg(long, value_delimiter = ',')]
    contigs: Option<Vec<String>>,
    /// One of N shards of whole contigs (used by `kasane run --shard`; `kasane gather` joins
    /// the shards).
    #[arg(long, value_name = "i/N", hide = true)]
    shard: Option<String>,
    /// Smallest SV length reported.
    #[arg(long, default_value_t = 50)]
    min_svlen: i64,
    /// Reads with a lower mapping quality are ignored.
    #[arg(long, default_value_t = 20)]
    min_mapq: u8,
    /// Minimum supporting reads (default: adapts to each contig's depth).
    #[arg(long)]
    min_support: Option<u32>,
    /// Also report low-fraction (mosaic/somatic) events: allele fraction down to 3%.
    #[arg(long)]
    mosaic: bool,
    /// No progress display.
    #[arg(long)]
    quiet: bool,
}

fn parse_flag(s: &str) -> Result<u16, String> {
    let v = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u16::from_str_radix(h, 16)
    } else {
        s.parse::<u16>()
    };
    v.map_err(|_| format!("'{s}' is not a flag value (0-65535, decimal or 0x hex)"))
}

fn coverage_options(a: CoverageArgs) -> Result<(CoverageOptions, bool)> {
    let precision = std::env::var("MOSDEPTH_PRECISION")
        .ok()
        .and_then(|s| s.trim().parse::<usize>().ok())
        .unwrap_or(2)
        .min(32);
    let by = match a.by {
        None => None,
        Some(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            let w: u64 = s.parse().context("window size is too large")?;
            if w == 0 {
                bail!("window size for --by must be positive");
            }
            Some(By::Windows(w))
        }
        Some(s) => Some(By::Bed(PathBuf::from(s))),
    };
    let thresholds = match a.thresholds {
        None => Vec::new(),
        Some(s) => {
            let mut v = s
                .split(',')
                .map(|x| x.trim().parse::<u64>())
                .collect::<Result<Vec<_>, _>>()
                .with_context(|| {
                    format!("invalid --thresholds '{s}': expected comma-separated integers")
                })?;
            v.sort_unstable();
            v
        }
    };
    let quantize = match &a.quantize {
        None => None,
        Some(s) => Some(stats::parse_quantize(s).with_context(|| {
            format!("invalid --quantize '{s}': expected integers separated by ':'")
        })?),
    };
    let labels = quantize
        .as_ref()
        .map(|q| stats::quantize_labels(q, &|k| std::env::var(k).ok()))
        .unwrap_or_default();
    let min_frag = (a.min_frag_len >= 0).then_some(a.min_frag_len as u64);
    let max_frag = (a.max_frag_len >= 0).then_some(a.max_frag_len as u64);
    if let (Some(lo), Some(hi)) = (min_frag, max_frag) {
        if hi < lo {
            bail!("--max-frag-len ({hi}) is lower than --min-frag-len ({lo})");
        }
    }
    let read_groups = a
        .read_groups
        .map(|s| s.split(',').map(|g| g.as_bytes().to_vec()).collect())
        .unwrap_or_default();
    Ok((
        CoverageOptions {
            prefix: a.prefix,
            input: a.input,
            threads: a.threads,
            chrom: a.chrom,
            by,
            no_per_base: a.no_per_base,
            fasta: a.fasta.filter(|p| !p.as_os_str().is_empty()),
            filter: ReadFilter {
                min_mapq: a.mapq,
                exclude_flags: a.flag,
                include_flags: a.include_flag,
                read_groups,
                fast_mode: a.fast_mode,
                fragment_mode: a.fragment_mode,
                min_frag_len: min_frag,
                max_frag_len: max_frag,
            },
            quantize,
            quantize_labels: labels,
            thresholds,
            use_median: a.use_median,
            precision,
            backend: a.backend,
            command_line: std::env::args().collect(),
            shard: a
                .shard
                .as_deref()
                .map(kasane::shard::Shard::parse)
                .transpose()?,
        },
        a.quiet,
    ))
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Coverage(a) => {
            let (opts, quiet) = coverage_options(*a)?;
            let progress = Progress::new(quiet);
            let report = coverage::run(&opts, &progress)?;
            for w in &report.warnings {
                eprintln!("kasane: warning: {w}");
            }
            Ok(())
        }
        Command::Sv(a) => {
            let a = *a;
            let mut opts = kasane::sv::SvOptions::new(a.inputs, a.fasta, a.output);
            opts.threads = a.threads;
            opts.backend = a.backend;
            opts.tandem_repeats = a.tandem_repeats;
            opts.contigs = a.contigs;
            opts.shard = a
                .shard
                .as_deref()
                .map(kasane::shard::Shard::parse)
                .transpose()?;
            opts.min_svlen = a.min_svlen;
            opts.min_mapq = a.min_mapq;
            opts.min_support = a.min_support;
            opts.mosaic = a.mosaic;
            opts.command_line = std::env::args().collect();
            let progress = Progress::new(a.quiet);
            let report = kasane::sv::run(&opts, &progress)?;
            for w in &report.warnings {
                eprintln!("kasane: warning: {w}");
            }
            Ok(())
        }
        Command::Call(a) => {
            let mut o = kasane::call::CallOptions::new(a.fasta, a.output, a.inputs);
            o.region = a.region;
            o.regions_bed = a.regions;
            o.threads = a.threads.max(1);
            o.backend = a.backend;
            o.min_mapq = a.min_mapq;
            o.min_base_qual = a.min_base_qual;
            let progress = Progress::new(a.quiet);
            if let Some(s) = a.shard.as_deref() {
                let shard = kasane::shard::Shard::parse(s)?;
                let fa = kasane::io::fasta::FastaReader::open(&o.reference)?;
                let lengths: Vec<u64> = fa.contigs().iter().map(|c| c.len).collect();
                let range = shard
                    .contigs(&lengths)
                    .with_context(|| o.reference.display().to_string())?;
                o.contigs = Some(fa.contigs()[range].iter().map(|c| c.name.clone()).collect());
            }
            kasane::call::run(&o, &progress)?;
            Ok(())
        }
        Command::Validate { file } => {
            let p = load_pipeline(&file)?;
            println!(
                "{}: ok ({} sample(s), {} step(s), {} job(s))",
                file.display(),
                p.samples.len(),
                p.steps.len(),
                p.samples.len() * p.steps.len()
            );
            Ok(())
        }
        Command::Plan { file, output } => {
            let p = load_pipeline(&file)?;
            let out = kasane::pipeline::run::output_dir(&p, output.as_deref())?;
            println!("# output folder: {}", out.display());
            for (n, j) in kasane::pipeline::plan::jobs(&p).iter().enumerate() {
                let key = kasane::pipeline::plan::job_key(j)
                    .with_context(|| format!("reading the inputs of {}", j.id))?;
                let state = if kasane::pipeline::plan::up_to_date(&out, j, &key) {
                    "up to date: skipped"
                } else {
                    "will run"
                };
                println!("{}. {} [{state}]", n + 1, j.id);
                println!(
                    "   kasane {} {} {}",
                    j.kind.name(),
                    j.args.join(" "),
                    kasane::pipeline::plan::tail_args(j, &out.join(&j.prefix)).join(" ")
                );
                let reads: Vec<String> = j.reads.iter().map(|r| r.display().to_string()).collect();
                println!("   reads: {}", reads.join(", "));
                println!("   writes: {}", j.writes.join(", "));
            }
            Ok(())
        }
        Command::Run(a) => {
            let mut p = load_pipeline(&a.file)?;
            p.threads = kasane::threads::cap(p.threads);
            let opts = kasane::pipeline::run::RunOptions {
                out: a.output,
                threads: kasane::threads::cap(a.threads),
                backend: a.backend.map(|b| b.to_string()),
                exe: std::env::current_exe().context("locating the kasane executable")?,
                quiet: a.quiet,
                shard: a
                    .shard
                    .as_deref()
                    .map(kasane::shard::Shard::parse)
                    .transpose()?,
                job: a.job,
            };
            kasane::pipeline::run::run(&p, &opts)?;
            Ok(())
        }
        Command::Export(ExportCommand::Snakemake(a)) => {
            let p = load_pipeline(&a.file)?;
            let opts = kasane::pipeline::export::ExportOptions {
                dir: a.output,
                results: a.results,
                shards: a.shards,
                exe: std::env::current_exe().context("locating the kasane executable")?,
                threads: a.threads_per_job,
                mem_mb: a.mem_mb,
            };
            let e = kasane::pipeline::export::snakemake(&p, &opts)?;
            eprintln!(
                "[kasane] {}: {} job(s) x {} shard(s); run with `snakemake -s {} --cores N`",
                e.snakefile.display(),
                e.jobs,
                e.shards,
                e.snakefile.display()
            );
            Ok(())
        }
        Command::Gather(a) => {
            // As `run` records it, so that run.json is the same either way.
            let mut p = load_pipeline(&a.file)?;
            p.threads = kasane::threads::cap(p.threads);
            let opts = kasane::pipeline::gather::GatherOptions {
                out: a.output,
                job: a.job,
                quiet: a.quiet,
            };
            kasane::pipeline::gather::gather(&p, &opts)?;
            Ok(())
        }
        Command::Verify { dir } => {
            let v = kasane::pipeline::verify::verify(&dir)?;
            for p in &v.problems {
                println!("{}: {p}", dir.display());
            }
            if !v.problems.is_empty() {
                bail!(
                    "{}: {} problem(s) among {} output(s)",
                    dir.display(),
                    v.problems.len(),
                    v.checked
                );
            }
            println!(
                "{}: ok, {} output(s) as the run wrote them",
                dir.display(),
                v.checked
            );
            Ok(())
        }
        Command::Schema => {
            let s = serde_json::to_string_pretty(&kasane::pipeline::schema::schema())?;
            println!("{s}");
            Ok(())
        }
        Command::Backends => {
            let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
            println!("backend\tstatus\tdevice\tmemory\tdriver");
            for info in kasane::backend::probe_all(threads) {
                match info.status {
                    Ok(d) => println!(
                        "{}\tavailable\t{}{}\t{}\t{}",
                        info.kind,
                        d.device,
                        if d.is_gpu || info.kind == BackendKind::Cpu {
                            ""
                        } else {
                            " (CPU emulation: auto skips it)"
                        },
                        d.memory.map_or("-".to_string(), |m| format!(
                            "{:.1} GiB",
                            m as f64 / (1u64 << 30) as f64
                        )),
                        d.driver
                    ),
                    Err(why) => println!("{}\tunavailable\t-\t-\t{why}", info.kind),
                }
            }
            let auto = kasane::backend::open(BackendKind::Auto, threads, None)?;
            println!(
                "# auto picks {} for inputs of at least {} bytes (KASANE_GPU_MIN_BYTES), the CPU below",
                auto.name(),
                kasane::backend::gpu_min_bytes()
            );
            Ok(())
        }
    }
}

/// The input files a command reads, for the internal-error line.
fn inputs_of(c: &Command) -> Option<String> {
    let join = |v: &[PathBuf]| {
        v.iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match c {
        Command::Coverage(a) => Some(a.input.display().to_string()),
        Command::Sv(a) => Some(join(&a.inputs)),
        Command::Call(a) => Some(join(&a.inputs)),
        Command::Run(a) => Some(a.file.display().to_string()),
        Command::Gather(a) => Some(a.file.display().to_string()),
        Command::Export(ExportCommand::Snakemake(a)) => Some(a.file.display().to_string()),
        Command::Validate { file } | Command::Plan { file, .. } => Some(file.display().to_string()),
        Command::Verify { dir } => Some(dir.display().to_string()),
        Command::Backends | Command::Schema => None,
    }
}

fn main() -> ExitCode {
    // Before anything can panic: a panic becomes one line, not a dump (see kasane::threads).
    kasane::threads::install_panic_hook();
    let cli = Cli::parse();
    if let Some(what) = inputs_of(&cli.command) {
        kasane::threads::set_context(what);
    }
    // Work on rayon's global pool (outside kasane's own pools) gets the same cap and the same
    // panic handling; an error only means it was already built.
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(kasane::threads::available())
        .panic_handler(kasane::threads::worker_panicked)
        .build_global();
    // Unwinding out of `run` drops every PendingFile, whose Drop removes its temporary file.
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(cli)));
    let result = match result {
        Ok(r) => r,
        Err(payload) => {
            kasane::threads::report_panic(payload.as_ref());
            return ExitCode::FAILURE;
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line: the library's errors already name the file and the problem.
            let mut msg = e.to_string();
            for cause in e.chain().skip(1) {
                let c = cause.to_string();
                if !msg.contains(&c) {
                    msg.push_str(": ");
                    msg.push_str(&c);
                }
            }
            kasane::threads::print_error_once(&format!("kasane: error: {msg}"));
            ExitCode::FAILURE
        }
    }
}
