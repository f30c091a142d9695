//! Reading a pipeline file: TOML with positions, checked against the schema, every problem
//! collected with its line and column before any work starts.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::{safe, Diagnostic, Param, Pipeline, Sample, Step, StepKind};
use crate::options::{self, OptDef, ParamKind, Value};

/// The option table of a step kind; its entries marked as pipeline parameters are the step's
/// `params` (by their names).
pub fn options_for(kind: StepKind) -> &'static [OptDef] {
    match kind {
        StepKind::Coverage => options::coverage::OPTIONS,
        StepKind::Sv => options::sv::OPTIONS,
        StepKind::Call => options::call::OPTIONS,
        StepKind::Qc => options::qc::OPTIONS,
        StepKind::Eval => options::eval::OPTIONS,
    }
}

/// A parameter's default as a step value: the CLI's default (a switch is off).
pub fn default_param(d: &OptDef) -> Option<Param> {
    let kind = d.param?.kind;
    match (kind, d.default_value()?) {
        (ParamKind::Bool, Value::Bool(b)) => Some(Param::Bool(b)),
        (ParamKind::Int, Value::Int(n)) => Some(Param::Int(n)),
        (ParamKind::Int, Value::Uint(n)) => i64::try_from(n).ok().map(Param::Int),
        // Only switches and numbers have defaults among the parameters.
        _ => None,
    }
}

const TOP_KEYS: [&str; 8] = [
    "name",
    "reference",
    "output",
    "regions",
    "sample_sheet",
    "engine",
    "samples",
    "steps",
];
const ENGINE_KEYS: [&str; 2] = ["backend", "threads"];
const SAMPLE_KEYS: [&str; 3] = ["id", "path", "meta"];
const STEP_KEYS: [&str; 4] = ["id", "kind", "params", "depends_on"];
const KINDS: [&str; 5] = ["coverage", "call", "sv", "qc", "eval"];
const BACKENDS: [&str; 4] = ["auto", "cuda", "wgpu", "cpu"];

const NAME_RULE: &str =
    "cannot name a file (not empty, no `/` or `\\`, no leading `.`, no control characters)";

/// An id as a message shows it: control characters escaped, so a diagnostic stays one line.
fn shown(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Line and column (1-based) of a byte offset.
fn position(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rfind('\n')
        .map_or(before.chars().count(), |i| before[i + 1..].chars().count())
        + 1;
    (line, col)
}

/// The closest known name, when close enough to be a likely typo.
fn suggest<'a>(word: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (strsim::damerau_levenshtein(word, k), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 3))
        .min()
        .map(|(_, k)| k)
}

fn type_name(v: &DeValue) -> &'static str {
    match v {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

fn int_of(v: &DeValue) -> Option<i64> {
    match v {
        DeValue::Integer(i) => {
            let s = i.as_str().replace('_', "");
            let s = s.trim_start_matches('+');
            let (neg, digits) = match s.strip_prefix('-') {
                Some(d) => (true, d),
                None => (false, s),
            };
            let digits = if i.radix() == 10 {
                digits
            } else {
                digits.get(2..).unwrap_or("")
            };
            let n = i64::from_str_radix(digits, i.radix()).ok()?;
            Some(if neg { -n } else { n })
        }
        _ => None,
    }
}

struct Checker<'t> {
    file: PathBuf,
    text: &'t str,
    base: PathBuf,
    diags: Vec<Diagnostic>,
}

impl Checker<'_> {
    fn at(&mut self, span: std::ops::Range<usize>, msg: impl Into<String>) {
        let (line, col) = position(self.text, span.start);
        self.diags.push(Diagnostic {
            file: self.file.clone(),
            line,
            col,
            msg: msg.into(),
        });
    }

    fn unknown_keys(&mut self, table: &DeTable, known: &[&str], what: &str) {
        for (k, _) in table.iter() {
            let name = k.get_ref().as_ref();
            if !known.contains(&name) {
                let hint = match suggest(name, known) {
                    Some(s) => format!(" (did you mean `{s}`?)"),
                    None => format!(" (expected one of: {})", known.join(", ")),
                };
                self.at(k.span(), format!("unknown key `{name}` in {what}{hint}"));
            }
        }
    }

    fn get<'a, 'i>(table: &'a DeTable<'i>, key: &str) -> Option<&'a Spanned<DeValue<'i>>> {
        table
            .iter()
            .find(|(k, _)| k.get_ref().as_ref() == key)
            .map(|(_, v)| v)
    }

    fn string(&mut self, table: &DeTable, key: &str, what: &str) -> Option<(String, usize)> {
        let v = Self::get(table, key)?;
        match v.get_ref() {
            DeValue::String(s) => Some((s.to_string(), v.span().start)),
            other => {
                self.at(
                    v.span(),
                    format!(
                        "`{key}` in {what} must be a string, not {}",
                        type_name(other)
                    ),
                );
                None
            }
        }
    }

    /// A path relative to the pipeline file; `must_exist` checks it is there.
    fn path(
        &mut self,
        table: &DeTable,
        key: &str,
        what: &str,
        must_exist: bool,
    ) -> Option<PathBuf> {
        let (s, at) = self.string(table, key, what)?;
        let p = self.base.join(&s);
        if must_exist {
            // A FIFO or a device would hang whatever reads it; a folder is not an input.
            if let Some(problem) = safe::input_problem(&p) {
                self.at(at..at, format!("`{key}` in {what}: {problem}"));
            }
        }
        Some(p)
    }
}

/// Reads and checks a pipeline file. All problems come back at once.
pub fn load(file: &Path) -> Result<Pipeline, Vec<Diagnostic>> {
    // Reading a FIFO or /dev/zero would never end.
    if let Some(problem) = safe::input_problem(file) {
        return Err(vec![Diagnostic {
            file: file.to_path_buf(),
            line: 1,
            col: 1,
            msg: format!("cannot read: {problem}"),
        }]);
    }
    let text = std::fs::read_to_string(file).map_err(|e| {
        vec![Diagnostic {
            file: file.to_path_buf(),
            line: 1,
            col: 1,
            msg: format!("cannot read: {e}"),
        }]
    })?;
    parse_str(file, &text)
}

/// Checks pipeline text as if read from `file` (whose folder resolves relative paths).
pub fn parse_str(file: &Path, text: &str) -> Result<Pipeline, Vec<Diagnostic>> {
    let base = file
        .parent()
        .map(Path::to_path_buf)
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| PathBuf::from("."));
    let mut c = Checker {
        file: file.to_path_buf(),
        text,
        base,
        diags: Vec::new(),
    };
    let (root, errors) = DeTable::parse_recoverable(text);
    for e in &errors {
        let span = e.span().unwrap_or(0..0);
        c.at(span, format!("invalid TOML: {}", e.message().trim()));
    }
    if !errors.is_empty() {
        return Err(c.diags);
    }
    let root = root.get_ref();
    c.unknown_keys(root, &TOP_KEYS, "the pipeline file");

    let name = c
        .string(root, "name", "the pipeline file")
        .map_or_else(|| "pipeline".to_string(), |s| s.0);
    let reference = c.path(root, "reference", "the pipeline file", true);
    let output = c
        .path(root, "output", "the pipeline file", false)
        .unwrap_or_default();
    let regions = c.path(root, "regions", "the pipeline file", true);

    // [engine]
    let mut backend = "auto".to_string();
    let mut threads = 0usize;
    if let Some(e) = Checker::get(root, "engine") {
        match e.get_ref() {
            DeValue::Table(t) => {
                c.unknown_keys(t, &ENGINE_KEYS, "[engine]");
                if let Some((b, at)) = c.string(t, "backend", "[engine]") {
                    if BACKENDS.contains(&b.as_str()) {
                        backend = b;
                    } else {
                        c.at(
                            at..at,
                            format!(
                                "unknown backend `{b}` (expected one of: {})",
                                BACKENDS.join(", ")
                            ),
                        );
                    }
                }
                if let Some(v) = Checker::get(t, "threads") {
                    match int_of(v.get_ref()) {
                        Some(n) if n >= 0 => threads = n as usize,
                        _ => c.at(
                            v.span(),
                            "`threads` in [engine] must be a non-negative integer",
                        ),
                    }
                }
            }
            other => c.at(
                e.span(),
                format!("`engine` must be a table, not {}", type_name(other)),
            ),
        }
    }

    // Samples: inline, or a sample sheet.
    let mut samples = Vec::new();
    let mut sample_spans = Vec::new();
    if let Some(v) = Checker::get(root, "samples") {
        match v.get_ref() {
            DeValue::Array(items) => {
                for item in items.iter() {
                    let DeValue::Table(t) = item.get_ref() else {
                        c.at(item.span(), "each of `samples` must be a table");
                        continue;
                    };
                    c.unknown_keys(t, &SAMPLE_KEYS, "a sample");
                    let id = c.string(t, "id", "a sample");
                    let path = c.path(t, "path", "a sample", true);
                    if id.is_none() {
                        c.at(item.span(), "a sample needs an `id`");
                    }
                    if path.is_none() && Checker::get(t, "path").is_none() {
                        c.at(item.span(), "a sample needs a `path` (BAM or CRAM)");
                    }
                    let mut meta = BTreeMap::new();
                    if let Some(m) = Checker::get(t, "meta") {
                        match m.get_ref() {
                            DeValue::Table(mt) => {
                                for (k, v) in mt.iter() {
                                    let val = match v.get_ref() {
                                        DeValue::String(s) => s.to_string(),
                                        DeValue::Integer(i) => i.as_str().to_string(),
                                        DeValue::Boolean(b) => b.to_string(),
                                        other => {
                                            c.at(
                                                v.span(),
                                                format!(
                                                    "sample metadata must be strings, numbers or booleans, not {}",
                                                    type_name(other)
                                                ),
                                            );
                                            continue;
                                        }
                                    };
                                    meta.insert(k.get_ref().to_string(), val);
                                }
                            }
                            other => c.at(
                                m.span(),
                                format!("`meta` must be a table, not {}", type_name(other)),
                            ),
                        }
                    }
                    if let (Some((id, at)), Some(path)) = (id, path) {
                        samples.push(Sample { id, path, meta });
                        sample_spans.push(at);
                    }
                }
            }
            other => c.at(
                v.span(),
                format!(
                    "`samples` must be an array of tables ([[samples]]), not {}",
                    type_name(other)
                ),
            ),
        }
    }
    if let Some(sheet) = c.path(root, "sample_sheet", "the pipeline file", true) {
        let at = Checker::get(root, "sample_sheet").map_or(0, |v| v.span().start);
        if safe::input_problem(&sheet).is_none() {
            read_sheet(&mut c, &sheet, at, &mut samples, &mut sample_spans);
        }
    }
    if samples.is_empty() && !c.diags.iter().any(|d| d.msg.contains("sample")) {
        c.at(
            0..0,
            "no samples: add [[samples]] tables or a `sample_sheet`",
        );
    }
    let mut seen = HashSet::new();
    for (s, &at) in samples.iter().zip(&sample_spans) {
        if !seen.insert(s.id.clone()) {
            c.at(at..at, format!("sample `{}` is listed twice", s.id));
        }
        if safe::bad_name(&s.id) {
            c.at(at..at, format!("sample id `{}` {NAME_RULE}", shown(&s.id)));
        }
    }

    // Steps.
    let mut steps: Vec<StepAt> = Vec::new();
    match Checker::get(root, "steps").map(|v| (v.span(), v.get_ref())) {
        None => c.at(0..0, "no steps: add [[steps]] tables"),
        Some((_, DeValue::Array(items))) => {
            for item in items.iter() {
                let DeValue::Table(t) = item.get_ref() else {
                    c.at(item.span(), "each of `steps` must be a table");
                    continue;
                };
                if let Some(s) = step(
                    &mut c,
                    t,
                    item.span().start,
                    regions.is_some(),
                    Checker::get(root, "reference").is_some(),
                ) {
                    steps.push(s);
                }
            }
        }
        Some((span, other)) => c.at(
            span,
            format!(
                "`steps` must be an array of tables ([[steps]]), not {}",
                type_name(other)
            ),
        ),
    }
    let ids: Vec<String> = steps.iter().map(|s| s.0.id.clone()).collect();
    // An eval step evaluates the VCF of a call or sv step it depends on (`calls`).
    for (s, at, _) in &steps {
        if s.kind != StepKind::Eval {
            continue;
        }
        match s.params.get("calls") {
            Some(Param::Str(from)) => {
                let kind = steps.iter().find(|x| &x.0.id == from).map(|x| x.0.kind);
                if !matches!(kind, Some(StepKind::Call | StepKind::Sv)) {
                    c.at(
                        *at..*at,
                        format!(
                            "step `{}`: `calls` must name a call or sv step, not `{from}`",
                            s.id
                        ),
                    );
                } else if !s.depends_on.contains(from) {
                    c.at(
                        *at..*at,
                        format!(
                            "step `{}` must depend on `{from}`, whose VCF it evaluates",
                            s.id
                        ),
                    );
                }
            }
            _ => c.at(
                *at..*at,
                format!(
                    "step `{}` (eval) needs `calls`: the call or sv step whose VCF it evaluates",
                    s.id
                ),
            ),
        }
        if !s.params.contains_key("truth") {
            c.at(
                *at..*at,
                format!("step `{}` (eval) needs `truth`: the truth VCF ({{sample}} is replaced by the sample id)", s.id),
            );
        }
    }
    let mut seen = HashSet::new();
    for (s, at, deps) in &steps {
        if !seen.insert(s.id.clone()) {
            c.at(*at..*at, format!("step `{}` is defined twice", s.id));
        }
        // Step ids name the output folders, so they follow the sample ids' rule.
        if safe::bad_name(&s.id) {
            c.at(*at..*at, format!("step id `{}` {NAME_RULE}", shown(&s.id)));
        }
        for (d, dat) in deps {
            if !ids.contains(d) {
                let known: Vec<&str> = ids.iter().map(String::as_str).collect();
                let hint = suggest(d, &known)
                    .map(|k| format!(" (did you mean `{k}`?)"))
                    .unwrap_or_default();
                c.at(
                    *dat..*dat,
                    format!("step `{}` depends on unknown step `{d}`{hint}", s.id),
                );
            }
        }
    }
    let ordered = match order(&steps) {
        Ok(o) => o,
        Err((cycle, at)) => {
            c.at(
                at..at,
                format!(
                    "steps depend on each other in a cycle: {}",
                    cycle.join(" → ")
                ),
            );
            Vec::new()
        }
    };
    if !c.diags.is_empty() {
        c.diags.sort_by_key(|d| (d.line, d.col));
        c.diags.dedup();
        return Err(c.diags);
    }
    Ok(Pipeline {
        file: file.to_path_buf(),
        name,
        reference,
        output,
        regions,
        backend,
        threads,
        samples,
        steps: ordered.into_iter().map(|i| steps[i].0.clone()).collect(),
    })
}

/// A tab-separated sample sheet with a header: `id`, `path` (relative to the sheet), and any
/// other columns as metadata.
fn read_sheet(
    c: &mut Checker,
    sheet: &Path,
    at: usize,
    samples: &mut Vec<Sample>,
    spans: &mut Vec<usize>,
) {
    let Ok(text) = std::fs::read_to_string(sheet) else {
        return;
    };
    let dir = sheet.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let Some((_, header)) = lines.next() else {
        c.at(at..at, format!("sample sheet {} is empty", sheet.display()));
        return;
    };
    let cols: Vec<&str> = header.split('\t').map(str::trim).collect();
    let (Some(ic), Some(pc)) = (
        cols.iter().position(|&h| h == "id"),
        cols.iter().position(|&h| h == "path"),
    ) else {
        c.at(
            at..at,
            format!(
                "sample sheet {}: the header needs `id` and `path` columns",
                sheet.display()
            ),
        );
        return;
    };
    for (n, line) in lines {
        let f: Vec<&str> = line.split('\t').map(str::trim).collect();
        if f.len() != cols.len() {
            c.at(
                at..at,
                format!(
                    "sample sheet {}:{}: {} columns, the header has {}",
                    sheet.display(),
                    n + 1,
                    f.len(),
                    cols.len()
                ),
            );
            continue;
        }
        let path = dir.join(f[pc]);
        if let Some(problem) = safe::input_problem(&path) {
            c.at(
                at..at,
                format!("sample sheet {}:{}: {problem}", sheet.display(), n + 1),
            );
        }
        let meta = cols
            .iter()
            .zip(&f)
            .enumerate()
            .filter(|(i, _)| *i != ic && *i != pc)
            .map(|(_, (k, v))| (k.to_string(), v.to_string()))
            .collect();
        samples.push(Sample {
            id: f[ic].to_string(),
            path,
            meta,
        });
        spans.push(at);
    }
}

type StepAt = (Step, usize, Vec<(String, usize)>);

fn step(
    c: &mut Checker,
    t: &DeTable,
    at: usize,
    has_regions: bool,
    has_reference: bool,
) -> Option<StepAt> {
    c.unknown_keys(t, &STEP_KEYS, "a step");
    let id = c.string(t, "id", "a step");
    if id.is_none() && Checker::get(t, "id").is_none() {
        c.at(at..at, "a step needs an `id`");
    }
    let kind = match c.string(t, "kind", "a step") {
        Some((k, _)) if k == "coverage" => Some(StepKind::Coverage),
        Some((k, _)) if k == "qc" => Some(StepKind::Qc),
        Some((k, _)) if k == "eval" => Some(StepKind::Eval),
        Some((k, kat)) if k == "sv" || k == "call" => {
            if !has_reference {
                c.at(
                    kat..kat,
                    format!("step kind `{k}` needs the file's `reference`"),
                );
            }
            Some(if k == "sv" {
                StepKind::Sv
            } else {
                StepKind::Call
            })
        }
        Some((k, kat)) => {
            let hint = suggest(&k, &KINDS)
                .map(|s| format!(" (did you mean `{s}`?)"))
                .unwrap_or_else(|| format!(" (expected one of: {})", KINDS.join(", ")));
            c.at(kat..kat, format!("unknown step kind `{k}`{hint}"));
            None
        }
        None => {
            if Checker::get(t, "kind").is_none() {
                c.at(at..at, "a step needs a `kind`");
            }
            None
        }
    };
    let mut deps = Vec::new();
    if let Some(v) = Checker::get(t, "depends_on") {
        match v.get_ref() {
            DeValue::Array(a) => {
                for d in a.iter() {
                    match d.get_ref() {
                        DeValue::String(s) => deps.push((s.to_string(), d.span().start)),
                        other => c.at(
                            d.span(),
                            format!(
                                "`depends_on` lists step ids (strings), not {}",
                                type_name(other)
                            ),
                        ),
                    }
                }
            }
            DeValue::String(s) => deps.push((s.to_string(), v.span().start)),
            other => c.at(
                v.span(),
                format!(
                    "`depends_on` must be an array of step ids, not {}",
                    type_name(other)
                ),
            ),
        }
    }
    let specs: Vec<&OptDef> =
        options::params(options_for(kind.unwrap_or(StepKind::Coverage))).collect();
    let mut params: BTreeMap<String, Param> = specs
        .iter()
        .filter_map(|s| default_param(s).map(|d| (s.name.to_string(), d)))
        .collect();
    if let Some(v) = Checker::get(t, "params") {
        match v.get_ref() {
            DeValue::Table(pt) => {
                let names: Vec<&str> = specs.iter().map(|s| s.name).collect();
                let what = format!(
                    "the params of step `{}`",
                    id.as_ref().map_or("?", |s| s.0.as_str())
                );
                c.unknown_keys(pt, &names, &what);
                for (k, pv) in pt.iter() {
                    let Some(spec) = specs.iter().find(|s| s.name == k.get_ref().as_ref()) else {
                        continue;
                    };
                    if let Some(p) = param(c, spec, pv, has_regions) {
                        params.insert(spec.name.to_string(), p);
                    }
                }
            }
            other => c.at(
                v.span(),
                format!("`params` must be a table, not {}", type_name(other)),
            ),
        }
    }
    if kind == Some(StepKind::Coverage)
        && params.contains_key("thresholds")
        && !params.contains_key("by")
    {
        c.at(
            at..at,
            "`thresholds` needs `by` (thresholds are counted per region)",
        );
    }
    let (id, _) = id?;
    Some((
        Step {
            id,
            kind: kind?,
            params,
            depends_on: deps.iter().map(|d| d.0.clone()).collect(),
        },
        at,
        deps,
    ))
}

fn param(c: &mut Checker, spec: &OptDef, v: &Spanned<DeValue>, has_regions: bool) -> Option<Param> {
    let wrong = |c: &mut Checker, want: &str| {
        c.at(
            v.span(),
            format!(
                "parameter `{}` must be {want}, not {}",
                spec.name,
                type_name(v.get_ref())
            ),
        );
        None
    };
    let kind = spec.param.map(|p| p.kind)?;
    match (kind, v.get_ref()) {
        (ParamKind::Bool, DeValue::Boolean(b)) => Some(Param::Bool(*b)),
        (ParamKind::Bool, _) => wrong(c, "a boolean"),
        (ParamKind::Int, x @ DeValue::Integer(_)) => int_of(x).map(Param::Int),
        (ParamKind::Int, _) => wrong(c, "an integer"),
        (ParamKind::Path, DeValue::String(s)) => {
            let p = c.base.join(s.as_ref());
            // A path with `{sample}` names one file per sample: checked when the job runs.
            if s.contains("{sample}") {
                return Some(Param::Str(p.display().to_string()));
            }
            if let Some(problem) = safe::input_problem(&p) {
                c.at(v.span(), format!("parameter `{}`: {problem}", spec.name));
            }
            Some(Param::Str(p.display().to_string()))
        }
        (ParamKind::Str, DeValue::String(s)) => Some(Param::Str(s.to_string())),
        (ParamKind::Str | ParamKind::Path, _) => wrong(c, "a string"),
        (ParamKind::BedOrWindow, x @ DeValue::Integer(_)) => {
            int_of(x).map(|n| Param::Str(n.to_string()))
        }
        (ParamKind::BedOrWindow, DeValue::String(s)) => {
            if s.as_ref() == "regions" {
                if !has_regions {
                    c.at(
                        v.span(),
                        "`by = \"regions\"` needs a top-level `regions` BED file",
                    );
                    return None;
                }
                return Some(Param::Str("regions".into()));
            }
            if s.parse::<u64>().is_err() {
                let p = c.base.join(s.as_ref());
                if let Some(problem) = safe::input_problem(&p) {
                    c.at(v.span(), format!("parameter `{}`: {problem}", spec.name));
                }
                return Some(Param::Str(p.display().to_string()));
            }
            Some(Param::Str(s.to_string()))
        }
        (ParamKind::BedOrWindow, _) => wrong(c, "a BED path or a window size"),
        (ParamKind::IntList, DeValue::Array(a)) => {
            let mut out = Vec::new();
            for x in a.iter() {
                match int_of(x.get_ref()) {
                    Some(n) if n >= 0 => out.push(n.to_string()),
                    _ => {
                        c.at(
                            x.span(),
                            format!("`{}` lists non-negative integers", spec.name),
                        );
                        return None;
                    }
                }
            }
            Some(Param::List(out))
        }
        (ParamKind::IntList, DeValue::String(s)) => {
            let parts: Vec<String> = s.split(',').map(|p| p.trim().to_string()).collect();
            if parts.iter().any(|p| p.parse::<u64>().is_err()) {
                c.at(
                    v.span(),
                    format!("`{}` lists non-negative integers", spec.name),
                );
                return None;
            }
            Some(Param::List(parts))
        }
        (ParamKind::IntList, _) => wrong(c, "a list of integers"),
    }
}

/// Step indexes in dependency order (file order among independent steps), or a cycle.
fn order(steps: &[StepAt]) -> Result<Vec<usize>, (Vec<String>, usize)> {
    let index: HashMap<&str, usize> = steps
        .iter()
        .enumerate()
        .map(|(i, s)| (s.0.id.as_str(), i))
        .collect();
    let mut state = vec![0u8; steps.len()]; // 0 new, 1 on the path, 2 done
    let mut out = Vec::new();
    fn visit(
        i: usize,
        steps: &[StepAt],
        index: &HashMap<&str, usize>,
        state: &mut [u8],
        path: &mut Vec<usize>,
        out: &mut Vec<usize>,
    ) -> Result<(), (Vec<String>, usize)> {
        if state[i] == 2 {
            return Ok(());
        }
        if state[i] == 1 {
            let from = path.iter().position(|&p| p == i).unwrap_or(0);
            let mut cycle: Vec<String> = path[from..]
                .iter()
                .map(|&p| steps[p].0.id.clone())
                .collect();
            cycle.push(steps[i].0.id.clone());
            return Err((cycle, steps[i].1));
        }
        state[i] = 1;
        path.push(i);
        for d in &steps[i].0.depends_on {
            if let Some(&j) = index.get(d.as_str()) {
                visit(j, steps, index, state, path, out)?;
            }
        }
        path.pop();
        state[i] = 2;
        out.push(i);
        Ok(())
    }
    for i in 0..steps.len() {
        visit(i, steps, &index, &mut state, &mut Vec::new(), &mut out)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errs(text: &str) -> Vec<String> {
        match parse_str(Path::new("p.toml"), text) {
            Ok(_) => Vec::new(),
            Err(d) => d.iter().map(|d| d.to_string()).collect(),
        }
    }

    #[test]
    fn positions_are_one_based() {
        assert_eq!(position("a\nbc\n", 0), (1, 1));
        assert_eq!(position("a\nbc\n", 3), (2, 2));
    }

    #[test]
    fn every_problem_is_listed_with_its_place() {
        let e = errs(
            "outptu = \"x\"\n[engine]\nthreads = \"four\"\n[[samples]]\nid = \"a\"\npath = \"missing.bam\"\n[[steps]]\nid = \"s1\"\nkind = \"coverag\"\n[[steps]]\nid = \"s2\"\nkind = \"coverage\"\ndepends_on = [\"s3\"]\n[steps.params]\nmapq = \"high\"\nbye = 5\n",
        );
        let all = e.join("\n");
        assert!(all.contains("p.toml:1:1: unknown key `outptu`"), "{all}");
        assert!(all.contains("did you mean `output`?"), "{all}");
        assert!(all.contains("p.toml:3:11: `threads`"), "{all}");
        assert!(all.contains("missing.bam does not exist"), "{all}");
        assert!(
            all.contains("unknown step kind `coverag` (did you mean `coverage`?)"),
            "{all}"
        );
        assert!(all.contains("unknown step `s3`"), "{all}");
        assert!(
            all.contains("parameter `mapq` must be an integer, not a string"),
            "{all}"
        );
        assert!(all.contains("unknown key `bye`"), "{all}");
        assert!(all.contains("did you mean `by`?"), "{all}");
        assert!(e.len() >= 7, "{all}");
    }

    #[test]
    fn cycles_are_found() {
        let e = errs(
            "[[samples]]\nid = \"a\"\npath = \"p.toml\"\n[[steps]]\nid = \"a\"\nkind = \"coverage\"\ndepends_on = [\"b\"]\n[[steps]]\nid = \"b\"\nkind = \"coverage\"\ndepends_on = [\"a\"]\n",
        );
        assert!(e.iter().any(|m| m.contains("cycle: a → b → a")), "{e:?}");
    }

    #[test]
    fn invalid_toml_is_reported_with_position() {
        let e = errs("name = \"x\"\n[[steps]\n");
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].starts_with("p.toml:2:"), "{e:?}");
    }
}
