//! The formats kasane reads and writes (BGZF, BAM, CRAM, FASTA, BED, VCF, CSI/TBI), the field
//! sets a stage asks a reader for, and the input layer every analysis starts from (`input`).

// The modules below name the base's modules as `crate::error` and so on.
pub use kasane_core::{error, progress, rng, shard, Error, Result, VERSION};

pub mod input;
pub mod io;
pub mod threads;
