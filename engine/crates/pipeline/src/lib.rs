//! Pipeline files (parse, check, plan, run, gather, verify, export) and the one table of options per
//! analysis that the CLI, the pipeline parser and `kasane schema` all read.

pub use kasane_analyses::{call, coverage, eval, qc, readtype, sv};
pub use kasane_backend::backend;
pub use kasane_core::{error, progress, rng, shard, Error, Result, VERSION};
pub use kasane_formats::{input, io, threads};

pub mod options;
pub mod pipeline;
