//! kasane: a genome analysis engine. This crate is the command line (`src/main.rs`) and the
//! one name the crates below are used by (tests, benches): formats and input
//! (`kasane_formats`), backends (`kasane_backend`), analyses (`kasane_analyses`) and
//! pipelines (`kasane_pipeline`), over a shared base (`kasane_core`).

pub use kasane_analyses::{call, coverage, eval, qc, sv};
pub use kasane_backend::backend;
pub use kasane_core::{error, progress, rng, shard, Error, Result, VERSION};
pub use kasane_formats::{input, io, threads};
pub use kasane_pipeline::{options, pipeline};
