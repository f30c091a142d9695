//! The `kasane` command line: a thin layer over the library.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};

use kasane::backend::BackendKind;
use kasane::coverage;
use kasane::options::{self, Values};
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
    Coverage(CoverageArgs),
    /// Structural variants (>= 50 bp) from long-read alignments (PacBio HiFi, ONT).
    ///
    /// Writes OUT.vcf.gz (sorted, bgzipped) with its .tbi index (.csi when a contig is 2^29 bp
    /// or longer) and OUT.kasane.json (provenance). Several inputs are called jointly: one
    /// sample column each (named by @RG SM).
    Sv(SvArgs),
    /// Germline SNVs and indels (diploid), one sample or several jointly, from short or long
    /// reads. Writes a bgzipped VCF 4.3 and its tabix index (.tbi).
    Call(CallArgs),
    /// Quality control: Picard-exact coverage, insert-size and GC metrics, samtools stats,
    /// identity (fingerprints, relatedness, sex, contamination), pass/fail, one HTML report.
    ///
    /// Reads each input once. Writes into the output folder, per sample: SAMPLE.qc.json (every
    /// metric with its definition), SAMPLE.wgs_metrics, SAMPLE.insert_size_metrics,
    /// SAMPLE.gc_bias.summary_metrics and .detail_metrics (with -f), SAMPLE.stats (samtools
    /// stats format), SAMPLE.fingerprint.tsv; per run: qc.tsv, relatedness.tsv, qc.html and
    /// qc.kasane.json. Exit status: 0 when every sample passes, 3 when one fails, 1 on error.
    Qc(QcArgs),
    /// Benchmark call sets against a truth set: small variants matched by haplotype (as
    /// vcfeval), SVs by truvari bench's rules, every metric per stratum and subset.
    ///
    /// Writes into the output folder: summary.json (every count and metric; SVs with truvari's
    /// summary.json fields), summary.csv (hap.py's columns), strata.tsv (per stratum, type,
    /// subset and level), report.html (plots, precision-recall curves), and per call set
    /// NAME.tp-base, NAME.fn, NAME.tp-comp and NAME.fp .vcf.gz (indexed, annotated); and
    /// eval.kasane.json (provenance).
    Eval(EvalArgs),
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

/// An analysis's options, parsed from its table in `kasane::options` (one definition feeds the
/// command line, the pipeline checker and the schema).
macro_rules! analysis_args {
    ($name:ident, $table:path) => {
        #[derive(Clone, Debug)]
        struct $name(Values);

        impl clap::FromArgMatches for $name {
            fn from_arg_matches(m: &clap::ArgMatches) -> Result<Self, clap::Error> {
                Ok($name(options::values(m, $table)))
            }
            fn update_from_arg_matches(&mut self, m: &clap::ArgMatches) -> Result<(), clap::Error> {
                self.0 = options::values(m, $table);
                Ok(())
            }
        }

        impl Args for $name {
            fn augment_args(cmd: clap::Command) -> clap::Command {
                options::command(cmd, $table)
            }
            fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
                options::command(cmd, $table)
            }
        }
    };
}

analysis_args!(CoverageArgs, options::coverage::OPTIONS);
analysis_args!(SvArgs, options::sv::OPTIONS);
analysis_args!(CallArgs, options::call::OPTIONS);
analysis_args!(QcArgs, options::qc::OPTIONS);
analysis_args!(EvalArgs, options::eval::OPTIONS);

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Coverage(CoverageArgs(v)) => {
            let env = |k: &str| std::env::var(k).ok();
            let opts = options::coverage::to_options(&v, &env, std::env::args().collect())?;
            let progress = Progress::new(v.flag("quiet"));
            let report = coverage::run(&opts, &progress)?;
            for w in &report.warnings {
                eprintln!("kasane: warning: {w}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Sv(SvArgs(v)) => {
            let opts = options::sv::to_options(&v, std::env::args().collect())?;
            let progress = Progress::new(v.flag("quiet"));
            let report = kasane::sv::run(&opts, &progress)?;
            for w in &report.warnings {
                eprintln!("kasane: warning: {w}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Call(CallArgs(v)) => {
            let progress = Progress::new(v.flag("quiet"));
            let o = options::call::to_options(&v)?;
            kasane::call::run(&o, &progress)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Qc(QcArgs(v)) => {
            let opts = options::qc::to_options(&v, std::env::args().collect())?;
            let progress = Progress::new(v.flag("quiet"));
            let report = kasane::qc::run(&opts, &progress)?;
            for w in &report.warnings {
                eprintln!("kasane: warning: {w}");
            }
            for (s, ok, why) in &report.samples {
                if *ok {
                    eprintln!("[kasane] {s}: PASS");
                } else {
                    eprintln!("[kasane] {s}: FAIL: {}", why.join("; "));
                }
            }
            if !report.all_passed() {
                return Ok(ExitCode::from(kasane::qc::EXIT_FAILED_QC));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Eval(EvalArgs(v)) => {
            let opts = options::eval::to_options(&v, std::env::args().collect())?;
            let progress = Progress::new(v.flag("quiet"));
            let report = kasane::eval::run(&opts, &progress)?;
            for w in &report.warnings {
                eprintln!("kasane: warning: {w}");
            }
            for line in kasane::eval::headline(&report) {
                eprintln!("[kasane] {line}");
            }
            Ok(ExitCode::SUCCESS)
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
            Ok(ExitCode::SUCCESS)
        }
        Command::Plan { file, output } => {
            let p = load_pipeline(&file)?;
            let out = kasane::pipeline::run::output_dir(&p, output.as_deref())?;
            println!("# output folder: {}", out.display());
            for (n, j) in kasane::pipeline::plan::jobs(&p).iter().enumerate() {
                let state = match kasane::pipeline::plan::job_key(j, &out) {
                    Ok(key) if kasane::pipeline::plan::up_to_date(&out, j, &key) => {
                        "up to date: skipped"
                    }
                    Ok(_) => "will run",
                    // What an earlier job writes may not be there yet.
                    Err(_) if !j.reads_out.is_empty() => "will run (after the jobs it reads from)",
                    Err(e) => {
                        return Err(e).with_context(|| format!("reading the inputs of {}", j.id))
                    }
                };
                println!("{}. {} [{state}]", n + 1, j.id);
                println!(
                    "   kasane {} {} {}",
                    j.kind.name(),
                    j.args.join(" "),
                    kasane::pipeline::plan::tail_args(j, &out.join(&j.prefix)).join(" ")
                );
                let reads: Vec<String> = j
                    .reads
                    .iter()
                    .map(|r| r.display().to_string())
                    .chain(
                        j.reads_out
                            .iter()
                            .map(|r| out.join(r).display().to_string()),
                    )
                    .collect();
                println!("   reads: {}", reads.join(", "));
                println!("   writes: {}", j.writes.join(", "));
            }
            Ok(ExitCode::SUCCESS)
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
            Ok(ExitCode::SUCCESS)
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
            Ok(ExitCode::SUCCESS)
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
            Ok(ExitCode::SUCCESS)
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
            Ok(ExitCode::SUCCESS)
        }
        Command::Schema => {
            let s = serde_json::to_string_pretty(&kasane::pipeline::schema::schema())?;
            println!("{s}");
            Ok(ExitCode::SUCCESS)
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
            Ok(ExitCode::SUCCESS)
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
        Command::Coverage(CoverageArgs(v)) => v.path("input").map(|p| p.display().to_string()),
        Command::Sv(SvArgs(v)) | Command::Call(CallArgs(v)) | Command::Qc(QcArgs(v)) => {
            Some(join(&v.paths("inputs")))
        }
        Command::Eval(EvalArgs(v)) => {
            let mut p: Vec<PathBuf> = v.path("truth").into_iter().collect();
            p.extend(v.paths("calls"));
            Some(join(&p))
        }
        Command::Run(a) => Some(a.file.display().to_string()),
        Command::Gather(a) => Some(a.file.display().to_string()),
        Command::Export(ExportCommand::Snakemake(a)) => Some(a.file.display().to_string()),
        Command::Validate { file } | Command::Plan { file, .. } => Some(file.display().to_string()),
        Command::Verify { dir } => Some(dir.display().to_string()),
        Command::Backends | Command::Schema => None,
    }
}

/// Whether a panic is `println!` finding standard output closed (Rust ignores SIGPIPE, so a
/// closed pipe is an error on write, which `print!` turns into a panic).
fn stdout_closed(payload: &(dyn std::any::Any + Send)) -> bool {
    let text = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("");
    text.contains("failed printing to stdout") && text.contains("Broken pipe")
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
        Err(payload) if stdout_closed(payload.as_ref()) => {
            // `kasane plan FILE | head`: the reader left; quiet, with the status a shell gives
            // a process that SIGPIPE ended (128 + 13), temporaries removed.
            kasane::io::atomic::remove_pending();
            return ExitCode::from(141);
        }
        Err(payload) => {
            kasane::threads::report_panic(payload.as_ref());
            return ExitCode::FAILURE;
        }
    };
    match result {
        Ok(code) => code,
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// Each analysis subcommand has exactly its table's options, in the table's order, and the
    /// whole command line is well formed.
    #[test]
    fn analysis_flags_are_the_tables() {
        let cli = Cli::command();
        cli.clone().debug_assert();
        for (name, defs) in [
            ("coverage", options::coverage::OPTIONS),
            ("sv", options::sv::OPTIONS),
            ("call", options::call::OPTIONS),
            ("qc", options::qc::OPTIONS),
            ("eval", options::eval::OPTIONS),
        ] {
            let sub = cli.find_subcommand(name).expect(name);
            let ids: Vec<&str> = sub
                .get_arguments()
                .map(|a| a.get_id().as_str())
                .filter(|id| *id != "help" && *id != "version")
                .collect();
            let names: Vec<&str> = defs.iter().map(|d| d.name).collect();
            assert_eq!(ids, names, "{name}");
            for d in defs {
                let a = sub
                    .get_arguments()
                    .find(|a| a.get_id() == d.name)
                    .expect(d.name);
                assert_eq!(
                    a.get_long(),
                    (!d.positional).then_some(d.long),
                    "{}",
                    d.name
                );
                assert_eq!(a.get_short(), d.short, "{}", d.name);
            }
        }
    }
}
