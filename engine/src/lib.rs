//! kasane: a genome analysis engine. Stages read alignments (`io`), compute on a backend
//! (`backend`), and write standard formats; each analysis is a module (`coverage`, ...).

pub mod backend;
pub mod call;
pub mod coverage;
pub mod error;
pub mod input;
pub mod io;
pub mod options;
pub mod pipeline;
pub mod progress;
pub mod rng;
pub mod shard;
pub mod sv;
pub mod threads;

pub use error::{Error, Result};

/// Version string recorded with outputs.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
