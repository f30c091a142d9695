//! kasane's analyses. Each reads through the input layer (`kasane_formats`), computes on a
//! backend (`kasane_backend`) and writes standard formats. A new analysis is a module here.

pub use kasane_backend::backend;
pub use kasane_core::{error, progress, rng, shard, Error, Result, VERSION};
pub use kasane_formats::{input, io, threads};

pub mod call;
pub mod coverage;
pub mod eval;
pub mod html;
pub mod qc;
pub mod readtype;
pub mod sv;
