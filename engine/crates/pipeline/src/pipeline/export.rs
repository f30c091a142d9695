//! `kasane export snakemake FILE -o DIR`: the pipeline as a Snakemake workflow, so a cohort can
//! run on the engine an HPC site already uses. Each job of the pipeline becomes N shard jobs
//! (`kasane run FILE --shard i/N --job STEP/SAMPLE`) and one gather job (`kasane gather FILE
//! --job STEP/SAMPLE`) whose outputs are the files `kasane run` writes; a last local job writes
//! `run.json`. kasane's own job records are the shard jobs' outputs, so Snakemake and kasane
//! agree on what is finished, and a job that failed can be re-run alone.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::plan;
use super::run::output_dir;
use super::Pipeline;
use crate::error::{Error, Result};
use crate::input::Input;
use crate::shard::{Groups, GROUPS};

/// Alignment bytes one shard job should read, when the shard count is chosen automatically:
/// a few minutes of work, so scheduling overhead stays small and a failed job is cheap to redo.
pub const BYTES_PER_SHARD: u64 = 2 << 30;

pub struct ExportOptions {
    /// Folder for the workflow (Snakefile, config.yaml, profiles/).
    pub dir: PathBuf,
    /// Results folder (default: the pipeline's `output`).
    pub results: Option<PathBuf>,
    /// Shard count; `None` chooses one from the reference and the inputs.
    pub shards: Option<usize>,
    /// The `kasane` executable the jobs run.
    pub exe: PathBuf,
    /// Threads per job.
    pub threads: usize,
    /// Memory per job, MB.
    pub mem_mb: u64,
}

/// What was written, for the CLI to report.
pub struct Exported {
    pub snakefile: PathBuf,
    pub shards: usize,
    pub jobs: usize,
}

fn abs(p: &Path) -> Result<PathBuf> {
    std::path::absolute(p).map_err(|e| Error::io(p, e))
}

/// The path without `..` and links where it exists, else made absolute.
fn real(p: &Path) -> Result<PathBuf> {
    match std::fs::canonicalize(p) {
        Ok(r) => Ok(r),
        Err(_) => abs(p),
    }
}

/// Contig lengths of each sample's alignments (its header).
fn sample_contigs(p: &Pipeline) -> Result<Vec<(String, Vec<u64>)>> {
    let pool = Arc::new(
        rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .map_err(|e| Error::Usage(format!("cannot start a thread: {e}")))?,
    );
    let mut out = Vec::with_capacity(p.samples.len());
    // A file that several samples name is opened once (opening starts inflating its start).
    let mut seen: HashMap<&Path, Vec<u64>> = HashMap::new();
    for s in &p.samples {
        let lengths = match seen.get(s.path.as_path()) {
            Some(l) => l.clone(),
            None => {
                let r = Input::open(&s.path, p.reference.as_deref(), pool.clone())?;
                let l: Vec<u64> = r.header.refs.iter().map(|c| c.len).collect();
                seen.insert(s.path.as_path(), l.clone());
                l
            }
        };
        out.push((s.id.clone(), lengths));
    }
    Ok(out)
}

/// The shard count: asked for, or as many shards as the largest input needs at
/// [`BYTES_PER_SHARD`] each, but no more than the contig groups allow, nor more than the genome
/// divided by its longest contig (beyond that the longest contig's shard sets the pace).
pub fn choose_shards(p: &Pipeline, asked: Option<usize>) -> Result<usize> {
    let contigs = sample_contigs(p)?;
    // Shards are made of whole groups of contigs (tiny contigs are kept together).
    let fewest = contigs
        .iter()
        .map(|(id, l)| (id.clone(), l.len(), Groups::new(l).len()))
        .min_by_key(|&(_, _, g)| g)
        .unwrap_or_default();
    if let Some(n) = asked {
        if n == 0 {
            return Err(Error::Usage("--shards must be at least 1".into()));
        }
        if n > fewest.2 {
            let what = if fewest.1 == fewest.2 {
                format!("{} contig(s) and a shard holds whole contigs", fewest.1)
            } else {
                format!(
                    "{} contigs in {} groups (a shard holds whole contigs, and contigs shorter \
                     than 1/{GROUPS} of the genome are kept with their neighbours)",
                    fewest.1, fewest.2
                )
            };
            return Err(Error::Usage(format!(
                "--shards {n}: sample {} has {what}, so at most {} shards are possible",
                fewest.0, fewest.2
            )));
        }
        return Ok(n);
    }
    let largest = p
        .samples
        .iter()
        .map(|s| std::fs::metadata(&s.path).map_or(0, |m| m.len()))
        .max()
        .unwrap_or(0);
    let by_size = largest.div_ceil(BYTES_PER_SHARD).max(1) as usize;
    let balanced = contigs
        .iter()
        .map(|(_, l)| {
            let total: u64 = l.iter().sum();
            let longest = l.iter().copied().max().unwrap_or(1).max(1);
            (total / longest).max(1) as usize
        })
        .min()
        .unwrap_or(1);
    Ok(by_size.min(balanced).min(fewest.2.max(1)).max(1))
}

/// Characters escaped in generated text: controls (a newline ends a comment or a literal) and
/// the Unicode line and paragraph separators and byte-order mark.
fn unprintable(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}'
        )
}

/// `\xXX`, `\uXXXX` or `\UXXXXXXXX`: an escape Python and YAML double quotes both read.
fn push_escape(o: &mut String, c: char) {
    let n = c as u32;
    let _ = match n {
        0..=0xff => write!(o, "\\x{n:02x}"),
        0x100..=0xffff => write!(o, "\\u{n:04x}"),
        _ => write!(o, "\\U{n:08x}"),
    };
}

/// A Python string literal: no value can end it, nor reach the code around it.
fn py(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '\\' => o.push_str("\\\\"),
            '"' => o.push_str("\\\""),
            '\n' => o.push_str("\\n"),
            c if unprintable(c) => push_escape(&mut o, c),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// A YAML double-quoted scalar (as serde_json writes ASCII text, and every other unprintable
/// character escaped, which YAML requires).
fn yaml(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '\\' => o.push_str("\\\\"),
            '"' => o.push_str("\\\""),
            '\n' => o.push_str("\\n"),
            '\t' => o.push_str("\\t"),
            '\r' => o.push_str("\\r"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c if unprintable(c) => push_escape(&mut o, c),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// Text for a `#` comment: on one line whatever it holds.
fn comment(s: &str) -> String {
    let mut o = String::new();
    for c in s.chars() {
        if unprintable(c) {
            push_escape(&mut o, c);
        } else {
            o.push(c);
        }
    }
    o
}

/// Whether Snakemake would read part of `s` as a wildcard (`{name}` or `{name,regex}`, its
/// WILDCARD_REGEX): such a file name cannot be written in a Snakefile, as braces have no
/// escape there. Other braces are plain characters to Snakemake.
fn looks_like_wildcard(s: &str) -> bool {
    let c: Vec<char> = s.chars().collect();
    let word = |ch: char| ch.is_alphanumeric() || ch == '_' || ch == '.';
    for (i, &ch) in c.iter().enumerate() {
        if ch != '{' {
            continue;
        }
        let mut k = i + 1;
        while k < c.len() && c[k].is_whitespace() {
            k += 1;
        }
        let name = k;
        while k < c.len() && word(c[k]) {
            k += 1;
        }
        if k == name {
            continue;
        }
        while k < c.len() && c[k].is_whitespace() {
            k += 1;
        }
        match c.get(k) {
            Some('}') => return true,
            // A constraint: count it as a wildcard if anything closes it.
            Some(',') if c[k..].contains(&'}') => return true,
            _ => {}
        }
    }
    false
}

/// A path as text for the workflow: UTF-8 (a lossy rendering would name another file) and
/// free of what Snakemake reads as a wildcard.
fn text_of(p: &Path, what: &str) -> Result<String> {
    let Some(s) = p.to_str() else {
        return Err(Error::Usage(format!(
            "{}: {what} is not UTF-8, which a Snakefile cannot name",
            p.display()
        )));
    };
    if looks_like_wildcard(s) {
        return Err(Error::Usage(format!(
            "{}: {what} has `{{name}}` in it, which Snakemake reads as a wildcard",
            comment(s)
        )));
    }
    Ok(s.to_string())
}

/// A folder the export writes into must be one (or not exist yet).
fn check_folder(d: &Path) -> Result<()> {
    super::safe::check_root(d)
}

fn py_list(items: impl IntoIterator<Item = String>) -> String {
    let v: Vec<String> = items.into_iter().map(|s| py(&s)).collect();
    format!("[{}]", v.join(", "))
}

/// Writes the workflow; refuses (before writing anything) what it cannot express.
pub fn snakemake(p: &Pipeline, opts: &ExportOptions) -> Result<Exported> {
    // Every folder it writes into, and the results folder, before anything is read or written.
    for d in [
        opts.dir.clone(),
        opts.dir.join("profiles"),
        opts.dir.join("profiles/slurm"),
    ] {
        check_folder(&d)?;
    }
    if let Some(r) = &opts.results {
        check_folder(r)?;
    }
    let n = choose_shards(p, opts.shards)?;
    let results = abs(&match &opts.results {
        Some(r) => r.clone(),
        None => output_dir(p, None)?,
    })?;
    let file = real(&p.file)?;
    let jobs = plan::jobs(p);
    super::run::check_jobs(p, &jobs)?;
    let results_text = text_of(&results, "the results folder")?;
    let file_text = text_of(&file, "the pipeline file")?;
    let exe = abs(&opts.exe)?;
    let exe_text = text_of(&exe, "the kasane executable")?;
    let dir_abs = abs(&opts.dir)?;
    // Many jobs read the same reference: resolve each path once.
    let mut resolved: HashMap<&Path, String> = HashMap::new();
    let gpu = matches!(p.backend.as_str(), "cuda" | "wgpu");
    let mut sf = String::new();
    let _ = writeln!(
        sf,
        "# Generated by kasane {} from {}.\n# Re-export after changing the pipeline file: \
         `kasane export snakemake FILE -o DIR`.\n\
         # Local: snakemake -s {dir}/Snakefile --cores 8\n\
         # Slurm: snakemake -s {dir}/Snakefile --workflow-profile {dir}/profiles/slurm\n",
        crate::VERSION,
        comment(&file_text),
        dir = comment(&dir_abs.display().to_string())
    );
    sf.push_str("import re\n\nconfigfile: workflow.basedir + \"/config.yaml\"\n\n");
    sf.push_str("KASANE = config[\"kasane\"]\nPIPELINE = config[\"pipeline\"]\n");
    sf.push_str("OUT = config[\"output\"]\n");
    let _ = writeln!(
        sf,
        "N = {n}  # shards: runs of whole contigs, balanced by length"
    );
    sf.push_str("\n# Each pipeline job: its kasane id, the files it reads, the earlier jobs' files it reads (after),\n# the jobs it waits for (deps), and its final files.\nJOBS = {\n");
    for j in &jobs {
        let key = plan::record_name(j);
        let mut reads = Vec::with_capacity(j.reads.len());
        for r in &j.reads {
            if let Some(t) = resolved.get(r.as_path()) {
                reads.push(t.clone());
                continue;
            }
            let t = text_of(&real(r)?, "an input")?;
            resolved.insert(r.as_path(), t.clone());
            reads.push(t);
        }
        for w in &j.writes {
            text_of(Path::new(w), "an output name")?;
        }
        for r in &j.reads_out {
            text_of(Path::new(r), "an output name")?;
        }
        let _ = writeln!(
            sf,
            "    {}: {{\"id\": {}, \"reads\": {}, \"after\": {}, \"deps\": {}, \"writes\": {}}},",
            py(&key),
            py(&j.id),
            py_list(reads),
            py_list(j.reads_out.iter().cloned()),
            py_list(j.after.iter().map(|&a| plan::record_name(&jobs[a]))),
            py_list(j.writes.iter().cloned())
        );
    }
    sf.push_str("}\n\n");
    sf.push_str(
        r#"wildcard_constraints:
    # Job keys are made of these characters (kasane escapes any other as %XX); a class, not
    # an alternation of every key, keeps matching linear in the number of jobs.
    job=r"[A-Za-z0-9._%-]+",
    i=r"\d+",

localrules: all, provenance


# Every final file, so that one removed or damaged is made again by its job's gather.
rule all:
    input:
        OUT + "/run.json",
        [f"{OUT}/{w}" for j in JOBS.values() for w in j["writes"]],


# kasane's record of each finished job; its key covers kasane's version, the parameters and the
# inputs' fingerprints.
def shard_record(i, job):
    return f"{OUT}/.kasane/shards/{i}-of-{N}/.kasane/jobs/{job}.json"


rule shard:
    input:
        # An eval shard reads the same shard of the step it evaluates.
        lambda w: JOBS[w.job]["reads"] + [shard_record(w.i, d) for d in JOBS[w.job]["deps"]],
    output:
        f"{OUT}/.kasane/shards/{{i}}-of-{N}/.kasane/jobs/{{job}}.json",
    log:
        f"{OUT}/.kasane/logs/snakemake/{{job}}.{{i}}-of-{N}.log",
    threads: config["threads"]
    resources:
        mem_mb=config["mem_mb"],
        runtime=config["runtime_min"],
"#,
    );
    if gpu {
        sf.push_str("        gpu=config[\"gpus\"],\n");
    }
    sf.push_str(
        r#"    params:
        id=lambda w: JOBS[w.job]["id"],
        shard=lambda w: f"{w.i}/{N}",
    shell:
        "{KASANE:q} run {PIPELINE:q} -o {OUT:q} --shard {params.shard} --job {params.id:q} "
        "-t {threads} --quiet 2> {log:q}"


"#,
    );
    let mut rules = HashSet::with_capacity(jobs.len());
    for j in &jobs {
        let key = plan::record_name(j);
        let base = format!(
            "gather_{}",
            key.chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect::<String>()
        );
        // Keys are unique but their rule names need not be (`a-b`, `a.b`): number the rest.
        let mut rule = base.clone();
        let mut n = 1;
        while !rules.insert(rule.clone()) {
            n += 1;
            rule = format!("{base}_{n}");
        }
        // Values only as Python literals, joined by `+`: nothing of an id reaches an f-string.
        // A gather also waits for the gathered files its job reads (an eval step's call set):
        // their fingerprints are part of the job's key.
        let _ = writeln!(
            sf,
            "rule {rule}:\n    input:\n        [shard_record(i, {k}) for i in range(1, N + 1)]\n        \
             + [OUT + \"/\" + r for r in JOBS[{k}][\"after\"]],\n    \
             output:\n        [OUT + \"/\" + w for w in JOBS[{k}][\"writes\"]],\n        \
             record=OUT + {record},\n    \
             log:\n        OUT + {log},\n    \
             threads: 1\n    resources:\n        mem_mb=config[\"mem_mb\"],\n        \
             runtime=config[\"runtime_min\"],\n    params:\n        id={id},\n    shell:\n        \
             \"{{KASANE:q}} gather {{PIPELINE:q}} -o {{OUT:q}} --job {{params.id:q}} --quiet 2> {{log:q}}\"\n\n",
            k = py(&key),
            record = py(&format!("/.kasane/jobs/{key}.json")),
            log = py(&format!("/.kasane/logs/snakemake/{key}.gather.log")),
            id = py(&j.id),
        );
    }
    sf.push_str(
        r#"# run.json: every job is gathered, so this only writes the provenance.
rule provenance:
    input:
        [f"{OUT}/.kasane/jobs/{job}.json" for job in JOBS],
    output:
        OUT + "/run.json",
    shell:
        "{KASANE:q} gather {PIPELINE:q} -o {OUT:q} --quiet"
"#,
    );
    let yaml_str = yaml;
    let config = format!(
        "# Settings of the exported workflow (kasane export snakemake).\n\
         kasane: {}\npipeline: {}\noutput: {}\n\
         # Per shard job: threads, memory (MB), run-time limit (minutes) and GPUs.\n\
         threads: {}\nmem_mb: {}\nruntime_min: 120\ngpus: {}\n",
        yaml_str(&exe_text),
        yaml_str(&file_text),
        yaml_str(&results_text),
        opts.threads.max(1),
        opts.mem_mb,
        u8::from(gpu)
    );
    let gres = if gpu {
        "\n  slurm_extra: \"'--gres=gpu:1'\""
    } else {
        ""
    };
    let profile = format!(
        "# Snakemake profile for a Slurm cluster (snakemake-executor-plugin-slurm):\n\
         #   snakemake -s {dir}/Snakefile --workflow-profile {dir}/profiles/slurm\n\
         # Set the partition (and account, if the site needs one) here.\n\
         # Resource strings are quoted twice: Snakemake reads resource values as Python.\n\
         executor: slurm\njobs: 100\nlatency-wait: 60\nretries: 1\nrerun-incomplete: true\n\
         slurm-init-seconds-before-status-checks: 10\n\
         default-resources:\n  slurm_partition: \"'debug'\"{gres}\n",
        dir = comment(&dir_abs.display().to_string())
    );
    let files = [
        (opts.dir.join("Snakefile"), sf),
        (opts.dir.join("config.yaml"), config),
        (opts.dir.join("profiles/slurm/config.yaml"), profile),
    ];
    for (path, text) in &files {
        if let Some(d) = path.parent() {
            std::fs::create_dir_all(d).map_err(|e| Error::io(d, e))?;
        }
        super::run::write_atomic(path, text)?;
    }
    Ok(Exported {
        snakefile: opts.dir.join("Snakefile"),
        shards: n,
        jobs: jobs.len(),
    })
}
