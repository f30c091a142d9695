//! Declarative pipeline files: one TOML file names the reference, the samples, optional regions,
//! the engine settings and the steps; `kasane run` runs every step for every sample, skipping
//! what an earlier run finished, and records provenance in `run.json`.
//!
//! Stages, one module each: [`parse`] (TOML with positions → a checked [`Pipeline`], every
//! problem listed at once), [`plan`] (jobs in dependency order, their inputs and outputs, and
//! which are up to date), [`run`] (jobs as `kasane` subprocesses within the thread budget, state
//! for resuming, `run.json`), [`verify`] (checksums against `run.json`), [`schema`] (the JSON
//! Schema of the file).

pub mod export;
pub mod fingerprint;
pub mod gather;
pub mod parse;
pub mod plan;
pub mod run;
pub mod safe;
pub mod schema;
pub mod verify;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

/// One problem in a pipeline file, with its position (1-based line and column).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: PathBuf,
    pub line: usize,
    pub col: usize,
    pub msg: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file.display(),
            self.line,
            self.col,
            self.msg
        )
    }
}

/// Step kinds: one per compute command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepKind {
    Coverage,
    Sv,
    Call,
    Qc,
    /// Evaluates another step's VCF against a truth set (`kasane eval`).
    Eval,
}

impl StepKind {
    pub fn name(self) -> &'static str {
        match self {
            StepKind::Coverage => "coverage",
            StepKind::Sv => "sv",
            StepKind::Call => "call",
            StepKind::Qc => "qc",
            StepKind::Eval => "eval",
        }
    }
}

/// A parameter value, already checked against the step kind's parameter table.
#[derive(Clone, Debug, PartialEq)]
pub enum Param {
    Bool(bool),
    Int(i64),
    Str(String),
    List(Vec<String>),
}

#[derive(Clone, Debug)]
pub struct Sample {
    pub id: String,
    /// BAM or CRAM.
    pub path: PathBuf,
    pub meta: BTreeMap<String, String>,
}

#[derive(Clone, Debug)]
pub struct Step {
    pub id: String,
    pub kind: StepKind,
    /// Every parameter of the kind, defaults included, by CLI option name.
    pub params: BTreeMap<String, Param>,
    pub depends_on: Vec<String>,
}

/// A checked pipeline file. Paths are resolved against the file's folder.
#[derive(Clone, Debug)]
pub struct Pipeline {
    pub file: PathBuf,
    pub name: String,
    pub reference: Option<PathBuf>,
    pub output: PathBuf,
    pub regions: Option<PathBuf>,
    pub backend: String,
    pub threads: usize,
    pub samples: Vec<Sample>,
    /// In dependency order (each step after those it depends on; file order otherwise).
    pub steps: Vec<Step>,
}
