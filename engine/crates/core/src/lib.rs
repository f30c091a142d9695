//! kasane's base, imported by every other crate: the error type, progress reporting, shard
//! arithmetic (`--shard i/N`) and the one test random generator.

pub mod error;
pub mod progress;
pub mod rng;
pub mod shard;

pub use error::{Error, Result};

/// Version string recorded with outputs.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
