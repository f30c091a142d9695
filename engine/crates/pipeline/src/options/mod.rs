//! Each analysis's options, defined once: a table of [`OptDef`]s per analysis (`coverage`,
//! `call`, `sv`) that the command line ([`command`], [`values`]), the pipeline file checker,
//! `kasane schema` and the pipeline planner all read, and one `to_options` per analysis that
//! turns parsed [`Values`] into the analysis's option struct. Output file names and index rules
//! live here too (`outputs`), so the planner names what the analyses write.
//!
//! This module does not know about pipelines (`pipeline` builds on it).

pub mod call;
pub mod coverage;
pub mod eval;
pub mod qc;
pub mod sv;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::{value_parser, Arg, ArgAction, ArgMatches, ValueEnum};

use crate::backend::BackendKind;
use crate::error::{Error, Result};

/// What an option holds, which decides its parser on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ty {
    /// A switch: present or not.
    Switch,
    Usize,
    U8,
    U32,
    I64,
    /// SAM flag bits, decimal or 0x hex (`parse_flag`).
    Flag16,
    Str,
    Path,
    Backend,
    /// Comma-separated strings.
    StrList,
    /// A string given once per value (values keep their commas and may start with `-`).
    StrEach,
    /// Several paths (a positional list).
    Paths,
}

/// How a pipeline step parameter is written in a pipeline file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamKind {
    Bool,
    Int,
    Str,
    /// A file path, relative to the pipeline file.
    Path,
    /// A BED path or a window size (a string or an integer).
    BedOrWindow,
    /// A list of integers (or a comma-separated string of them).
    IntList,
}

/// An option that is also a pipeline step parameter (by its `name`).
#[derive(Clone, Copy, Debug)]
pub struct PipelineParam {
    pub kind: ParamKind,
    /// The parameter's own short help, for `kasane schema`.
    pub help: &'static str,
}

/// One option of an analysis: everything the CLI, the pipeline checker and the schema know of it.
#[derive(Clone, Copy, Debug)]
pub struct OptDef {
    /// Id, field name and pipeline parameter name (snake_case).
    pub name: &'static str,
    /// Long flag (kebab-case of `name`); unused for positionals.
    pub long: &'static str,
    pub short: Option<char>,
    pub ty: Ty,
    /// The default, as the command line writes it.
    pub default: Option<&'static str>,
    /// The CLI help line.
    pub help: &'static str,
    /// The placeholder in usage and help (`--threads <THREADS>`).
    pub value_name: Option<&'static str>,
    /// An argument without a flag (in table order).
    pub positional: bool,
    pub required: bool,
    /// An environment variable that supplies the value when the flag is absent.
    pub env: Option<&'static str>,
    /// Left out of `--help` (internal use).
    pub hide: bool,
    /// Values may start with `-` (negative numbers).
    pub negative: bool,
    pub param: Option<PipelineParam>,
}

impl OptDef {
    /// An option `--long <VALUE>` of type `ty`.
    pub const fn new(
        name: &'static str,
        long: &'static str,
        ty: Ty,
        value_name: &'static str,
        help: &'static str,
    ) -> Self {
        OptDef {
            name,
            long,
            short: None,
            ty,
            default: None,
            help,
            value_name: Some(value_name),
            positional: false,
            required: false,
            env: None,
            hide: false,
            negative: false,
            param: None,
        }
    }

    /// A switch `--long`.
    /// (`value_name` is not shown, as a switch takes no value, but clap keeps it as derive set
    /// it: the field name in capitals.)
    pub const fn switch(
        name: &'static str,
        long: &'static str,
        value_name: &'static str,
        help: &'static str,
    ) -> Self {
        Self::new(name, long, Ty::Switch, value_name, help)
    }

    /// A positional argument (required).
    pub const fn positional(
        name: &'static str,
        ty: Ty,
        value_name: &'static str,
        help: &'static str,
    ) -> Self {
        let mut d = Self::new(name, "", ty, value_name, help);
        d.positional = true;
        d.required = true;
        d
    }

    pub const fn short(mut self, c: char) -> Self {
        self.short = Some(c);
        self
    }

    pub const fn default(mut self, v: &'static str) -> Self {
        self.default = Some(v);
        self
    }

    pub const fn required(mut self) -> Self {
        self.required = true;
        self
    }

    pub const fn env(mut self, var: &'static str) -> Self {
        self.env = Some(var);
        self
    }

    pub const fn hide(mut self) -> Self {
        self.hide = true;
        self
    }

    pub const fn negative(mut self) -> Self {
        self.negative = true;
        self
    }

    /// Also a pipeline step parameter, with its schema help.
    pub const fn param(mut self, kind: ParamKind, help: &'static str) -> Self {
        self.param = Some(PipelineParam { kind, help });
        self
    }

    /// The clap argument, as `#[derive(Args)]` made it for the same field.
    pub fn arg(&self) -> Arg {
        let mut a = Arg::new(self.name).help(self.help);
        if !self.positional {
            a = a.long(self.long);
        }
        if let Some(c) = self.short {
            a = a.short(c);
        }
        if let Some(v) = self.value_name {
            a = a.value_name(v);
        }
        if self.required {
            a = a.required(true);
        }
        if let Some(d) = self.default {
            a = a.default_value(d);
        }
        if let Some(e) = self.env {
            a = a.env(e);
        }
        if self.hide {
            a = a.hide(true);
        }
        if self.negative {
            a = a.allow_negative_numbers(true);
        }
        match self.ty {
            Ty::Switch => a
                .value_parser(value_parser!(bool))
                .action(ArgAction::SetTrue),
            Ty::Usize => a.value_parser(value_parser!(usize)).action(ArgAction::Set),
            Ty::U8 => a.value_parser(value_parser!(u8)).action(ArgAction::Set),
            Ty::U32 => a.value_parser(value_parser!(u32)).action(ArgAction::Set),
            Ty::I64 => a.value_parser(value_parser!(i64)).action(ArgAction::Set),
            Ty::Flag16 => a.value_parser(parse_flag).action(ArgAction::Set),
            Ty::Str => a.value_parser(value_parser!(String)).action(ArgAction::Set),
            Ty::Path => a
                .value_parser(value_parser!(PathBuf))
                .action(ArgAction::Set),
            Ty::Backend => a
                .value_parser(value_parser!(BackendKind))
                .action(ArgAction::Set),
            Ty::StrList => a
                .value_parser(value_parser!(String))
                .action(ArgAction::Append)
                .value_delimiter(','),
            Ty::Paths => a
                .value_parser(value_parser!(PathBuf))
                .action(ArgAction::Append)
                .num_args(1..),
            Ty::StrEach => a
                .value_parser(value_parser!(String))
                .action(ArgAction::Append)
                .allow_hyphen_values(true),
        }
    }

    /// The default as a value.
    pub fn default_value(&self) -> Option<Value> {
        if self.ty == Ty::Switch {
            return Some(Value::Bool(false));
        }
        self.default.and_then(|d| parse_value(self.ty, d).ok())
    }
}

/// `-t/--threads` of the analyses whose output does not depend on the thread count.
pub const THREADS: OptDef = OptDef::new(
    "threads",
    "threads",
    Ty::Usize,
    "THREADS",
    "Worker threads (0 counts as 1). The output does not depend on it",
)
.short('t')
.default("0");

/// SAM flag bits: decimal or `0x` hex.
pub fn parse_flag(s: &str) -> std::result::Result<u16, String> {
    let v = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u16::from_str_radix(h, 16)
    } else {
        s.parse::<u16>()
    };
    v.map_err(|_| format!("'{s}' is not a flag value (0-65535, decimal or 0x hex)"))
}

/// One option's value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Bool(bool),
    /// Unsigned integers (usize, u8, u16, u32).
    Uint(u64),
    Int(i64),
    Str(String),
    Path(PathBuf),
    Strs(Vec<String>),
    Paths(Vec<PathBuf>),
    Backend(BackendKind),
}

/// A value of type `ty` from its command-line text.
pub fn parse_value(ty: Ty, s: &str) -> std::result::Result<Value, String> {
    let bad = |e: &dyn std::fmt::Display| e.to_string();
    Ok(match ty {
        Ty::Switch => Value::Bool(s.parse::<bool>().map_err(|e| bad(&e))?),
        Ty::Usize => Value::Uint(s.parse::<usize>().map_err(|e| bad(&e))? as u64),
        Ty::U8 => Value::Uint(s.parse::<u8>().map_err(|e| bad(&e))?.into()),
        Ty::U32 => Value::Uint(s.parse::<u32>().map_err(|e| bad(&e))?.into()),
        Ty::I64 => Value::Int(s.parse::<i64>().map_err(|e| bad(&e))?),
        Ty::Flag16 => Value::Uint(parse_flag(s)?.into()),
        Ty::Str => Value::Str(s.to_string()),
        Ty::Path => Value::Path(PathBuf::from(s)),
        Ty::Backend => Value::Backend(BackendKind::from_str(s, false)?),
        Ty::StrList => Value::Strs(s.split(',').map(str::to_string).collect()),
        Ty::Paths => Value::Paths(vec![PathBuf::from(s)]),
        Ty::StrEach => Value::Strs(vec![s.to_string()]),
    })
}

/// Parsed options of one analysis, by option name. An option without a value (and without a
/// default) is absent.
#[derive(Clone, Debug, Default)]
pub struct Values {
    map: BTreeMap<String, Value>,
    defs: &'static [OptDef],
}

impl Values {
    /// Every default of `defs`.
    pub fn defaults(defs: &'static [OptDef]) -> Self {
        let map = defs
            .iter()
            .filter_map(|d| d.default_value().map(|v| (d.name.to_string(), v)))
            .collect();
        Values { map, defs }
    }

    /// Sets an option's value (from the command line, or a pipeline step parameter).
    pub fn set(&mut self, name: &str, v: Value) {
        self.map.insert(name.to_string(), v);
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.map.get(name)
    }

    fn missing(&self, name: &str) -> Error {
        let flag = self
            .defs
            .iter()
            .find(|d| d.name == name)
            .map_or(name.to_string(), |d| format!("--{}", d.long));
        Error::Usage(format!("{flag} is required"))
    }

    pub fn flag(&self, name: &str) -> bool {
        matches!(self.get(name), Some(Value::Bool(true)))
    }

    pub fn uint(&self, name: &str) -> Option<u64> {
        match self.get(name) {
            Some(Value::Uint(n)) => Some(*n),
            Some(Value::Int(n)) => u64::try_from(*n).ok(),
            _ => None,
        }
    }

    pub fn int(&self, name: &str) -> Option<i64> {
        match self.get(name) {
            Some(Value::Int(n)) => Some(*n),
            Some(Value::Uint(n)) => i64::try_from(*n).ok(),
            _ => None,
        }
    }

    /// An unsigned option that must fit `T` (the command line already checked the range).
    pub fn uint_as<T: TryFrom<u64>>(&self, name: &str) -> Result<Option<T>> {
        match self.uint(name) {
            None => Ok(None),
            Some(n) => T::try_from(n).map(Some).map_err(|_| {
                Error::Usage(format!(
                    "{n} is out of range for --{}",
                    name.replace('_', "-")
                ))
            }),
        }
    }

    pub fn string(&self, name: &str) -> Option<String> {
        match self.get(name) {
            Some(Value::Str(s)) => Some(s.clone()),
            Some(Value::Path(p)) => Some(p.display().to_string()),
            Some(Value::Int(n)) => Some(n.to_string()),
            Some(Value::Uint(n)) => Some(n.to_string()),
            _ => None,
        }
    }

    pub fn path(&self, name: &str) -> Option<PathBuf> {
        match self.get(name) {
            Some(Value::Path(p)) => Some(p.clone()),
            Some(Value::Str(s)) => Some(PathBuf::from(s)),
            _ => None,
        }
    }

    /// A required path.
    pub fn need_path(&self, name: &str) -> Result<PathBuf> {
        self.path(name).ok_or_else(|| self.missing(name))
    }

    /// A required string.
    pub fn need_string(&self, name: &str) -> Result<String> {
        self.string(name).ok_or_else(|| self.missing(name))
    }

    pub fn strings(&self, name: &str) -> Option<Vec<String>> {
        match self.get(name) {
            Some(Value::Strs(v)) => Some(v.clone()),
            Some(Value::Str(s)) => Some(s.split(',').map(str::to_string).collect()),
            _ => None,
        }
    }

    pub fn paths(&self, name: &str) -> Vec<PathBuf> {
        match self.get(name) {
            Some(Value::Paths(v)) => v.clone(),
            Some(Value::Path(p)) => vec![p.clone()],
            _ => Vec::new(),
        }
    }

    pub fn backend(&self, name: &str) -> Option<BackendKind> {
        match self.get(name) {
            Some(Value::Backend(b)) => Some(*b),
            _ => None,
        }
    }
}

/// Adds the options of `defs` to a (sub)command, in table order (which is the help's order).
pub fn command(cmd: clap::Command, defs: &[OptDef]) -> clap::Command {
    defs.iter().fold(cmd, |c, d| c.arg(d.arg()))
}

/// The values of a pipeline job's command line (the arguments after `kasane NAME`), and that
/// command line as provenance records it.
pub fn job_values(
    name: &'static str,
    defs: &'static [OptDef],
    args: &[String],
) -> crate::error::Result<(Values, Vec<String>)> {
    let m = command(clap::Command::new(name).no_binary_name(true), defs)
        .try_get_matches_from(args)
        .map_err(|e| {
            crate::error::Error::Usage(e.to_string().lines().next().unwrap_or("").to_string())
        })?;
    let mut line = vec!["kasane".to_string(), name.to_string()];
    line.extend(args.iter().cloned());
    Ok((values(&m, defs), line))
}

/// The values of `defs` that `m` holds (defaults included, as clap fills them in).
pub fn values(m: &ArgMatches, defs: &'static [OptDef]) -> Values {
    let mut v = Values {
        map: BTreeMap::new(),
        defs,
    };
    for d in defs {
        let n = d.name;
        let got = match d.ty {
            Ty::Switch => Some(Value::Bool(m.get_flag(n))),
            Ty::Usize => m.get_one::<usize>(n).map(|x| Value::Uint(*x as u64)),
            Ty::U8 => m.get_one::<u8>(n).map(|x| Value::Uint((*x).into())),
            Ty::U32 => m.get_one::<u32>(n).map(|x| Value::Uint((*x).into())),
            Ty::Flag16 => m.get_one::<u16>(n).map(|x| Value::Uint((*x).into())),
            Ty::I64 => m.get_one::<i64>(n).map(|x| Value::Int(*x)),
            Ty::Str => m.get_one::<String>(n).map(|x| Value::Str(x.clone())),
            Ty::Path => m.get_one::<PathBuf>(n).map(|x| Value::Path(x.clone())),
            Ty::Backend => m.get_one::<BackendKind>(n).map(|x| Value::Backend(*x)),
            Ty::StrList | Ty::StrEach => m
                .get_many::<String>(n)
                .map(|x| Value::Strs(x.cloned().collect())),
            Ty::Paths => m
                .get_many::<PathBuf>(n)
                .map(|x| Value::Paths(x.cloned().collect())),
        };
        if let Some(x) = got {
            v.map.insert(n.to_string(), x);
        }
    }
    v
}

/// The options of `defs` that are pipeline step parameters, in table order.
pub fn params(defs: &'static [OptDef]) -> impl Iterator<Item = &'static OptDef> {
    defs.iter().filter(|d| d.param.is_some())
}

/// The index a VCF gets: `.tbi`, or `.csi` when a contig is too long for tabix (as the VCF
/// writer chooses).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VcfIndex {
    Tbi,
    Csi,
}

impl VcfIndex {
    /// The index for contigs of these lengths.
    pub fn for_lengths(mut lengths: impl Iterator<Item = u64>) -> Self {
        if lengths.any(|l| l >= crate::io::vcf::TBI_MAX_LEN) {
            VcfIndex::Csi
        } else {
            VcfIndex::Tbi
        }
    }

    /// The index for a reference, from its `.fai` (tabix when it has none, or one that cannot
    /// be read).
    pub fn for_reference(reference: Option<&Path>) -> Self {
        let entries = reference
            .and_then(|r| crate::io::fasta::read_fai_of(r).ok())
            .unwrap_or_default();
        Self::for_lengths(entries.iter().map(|e| e.len))
    }

    pub fn ext(self) -> &'static str {
        match self {
            VcfIndex::Tbi => "tbi",
            VcfIndex::Csi => "csi",
        }
    }
}

/// The VCF `kasane sv` and `kasane call` write for `prefix` (their `--output`).
pub fn vcf_path(prefix: &str) -> String {
    format!("{prefix}.vcf.gz")
}

/// A VCF and its index, as `kasane sv` and `kasane call` write them for `prefix`.
pub fn vcf_outputs(prefix: &str, index: VcfIndex) -> Vec<String> {
    let vcf = vcf_path(prefix);
    let idx = format!("{vcf}.{}", index.ext());
    vec![vcf, idx]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every table: names unique, long flags the kebab-case of the names, defaults parse.
    #[test]
    fn tables_are_consistent() {
        for defs in [coverage::OPTIONS, call::OPTIONS, sv::OPTIONS] {
            let mut seen = std::collections::HashSet::new();
            for d in defs {
                assert!(seen.insert(d.name), "{} twice", d.name);
                if !d.positional {
                    assert_eq!(d.long, d.name.replace('_', "-"), "{}", d.name);
                }
                if let Some(x) = d.default {
                    assert!(parse_value(d.ty, x).is_ok(), "default of {}", d.name);
                }
                assert!(d.value_name.is_some(), "{}", d.name);
            }
        }
    }
}

#[cfg(test)]
mod defaults {
    use super::*;
    use std::path::Path;

    fn cli(defs: &'static [OptDef], args: &[&str]) -> Values {
        let m = command(clap::Command::new("x"), defs)
            .try_get_matches_from(std::iter::once("x").chain(args.iter().copied()))
            .unwrap_or_else(|e| panic!("{args:?}: {e}"));
        values(&m, defs)
    }

    #[test]
    fn table_defaults_are_the_option_structs_defaults() {
        // CallOptions::new keeps the CPU backend; the CLI's default is auto.
        let mut c = crate::call::CallOptions::new("r.fa".into(), "o.vcf.gz".into(), vec![]);
        c.backend = BackendKind::Auto;
        let got = call::to_options(&cli(call::OPTIONS, &["-f", "r.fa", "-o", "o.vcf.gz", "a"]))
            .expect("call options");
        c.inputs = vec!["a".into()];
        assert_eq!(format!("{got:?}"), format!("{c:?}"));

        // SvOptions::new has one thread; the CLI's default is 0 (counted as 1).
        let mut s = crate::sv::SvOptions::new(vec!["a".into()], "r.fa".into(), "o.vcf.gz".into());
        s.threads = 0;
        let got = sv::to_options(
            &cli(sv::OPTIONS, &["-f", "r.fa", "-o", "o.vcf.gz", "a"]),
            vec![],
        )
        .expect("sv options");
        assert_eq!(format!("{got:?}"), format!("{s:?}"));

        // Coverage has no constructor: mosdepth's defaults.
        let got = coverage::to_options(&cli(coverage::OPTIONS, &["p", "a.bam"]), &|_| None, vec![])
            .expect("coverage options");
        let f = &got.filter;
        assert_eq!((f.exclude_flags, f.include_flags, f.min_mapq), (1796, 0, 0));
        assert_eq!((f.min_frag_len, f.max_frag_len), (None, None));
        assert!(!f.fast_mode && !f.fragment_mode && !got.no_per_base && !got.use_median);
        assert_eq!((got.threads, got.precision), (0, 2));
        assert_eq!(got.backend, BackendKind::Auto);
        assert!(got.by.is_none() && got.quantize.is_none() && got.thresholds.is_empty());
    }

    /// Values that start from the table's defaults build the same struct as a command line
    /// that gives no options.
    #[test]
    fn defaults_alone_equal_an_empty_command_line() {
        let mut v = Values::defaults(call::OPTIONS);
        v.set("fasta", Value::Path("r.fa".into()));
        v.set("output", Value::Path("o.vcf.gz".into()));
        v.set("inputs", Value::Paths(vec!["a".into()]));
        let a = call::to_options(&v).expect("from defaults");
        let b = call::to_options(&cli(call::OPTIONS, &["-f", "r.fa", "-o", "o.vcf.gz", "a"]))
            .expect("from the CLI");
        assert_eq!(format!("{a:?}"), format!("{b:?}"));
    }

    #[test]
    fn parse_errors_keep_their_words() {
        let e = |args: &[&str]| {
            coverage::to_options(&cli(coverage::OPTIONS, args), &|_| None, vec![])
                .expect_err("an error")
                .to_string()
        };
        assert_eq!(
            e(&["-b", "0", "p", "a"]),
            "window size for --by must be positive"
        );
        assert_eq!(
            e(&["-T", "1,x", "-b", "5", "p", "a"]),
            "invalid --thresholds '1,x': expected comma-separated integers: invalid digit found in string"
        );
        assert_eq!(
            e(&["-l", "10", "-u", "5", "p", "a"]),
            "--max-frag-len (5) is lower than --min-frag-len (10)"
        );
    }

    #[test]
    fn vcf_index_follows_the_longest_contig() {
        assert_eq!(VcfIndex::for_lengths([1u64, 5].into_iter()), VcfIndex::Tbi);
        assert_eq!(
            VcfIndex::for_lengths([1u64 << 29].into_iter()),
            VcfIndex::Csi
        );
        assert_eq!(
            VcfIndex::for_reference(Some(Path::new("/nonexistent.fa"))),
            VcfIndex::Tbi
        );
        assert_eq!(
            vcf_outputs("s/a", VcfIndex::Csi),
            vec!["s/a.vcf.gz".to_string(), "s/a.vcf.gz.csi".to_string()]
        );
    }
}
