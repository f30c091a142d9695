//! Library errors. Each variant names the file it concerns so the CLI can print one clear line.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// An output file could not be created.
    #[error("{path}: cannot create: {source}")]
    Create {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A compressed container (BGZF) is damaged or cut short.
    #[error("{path}: {msg}")]
    Bgzf { path: PathBuf, msg: String },
    /// An alignment file (BAM/CRAM) has an invalid header or record.
    #[error("{path}: {msg}")]
    Format { path: PathBuf, msg: String },
    /// A BED or region file has a line that cannot be read.
    #[error("{path}:{line}: {msg}")]
    Bed {
        path: PathBuf,
        line: usize,
        msg: String,
    },
    /// The user's arguments cannot be satisfied.
    #[error("{0}")]
    Usage(String),
    /// A compute backend failed.
    #[error("backend {backend}: {msg}")]
    Backend { backend: String, msg: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.as_ref().to_path_buf(),
            source,
        }
    }
    pub fn format(path: impl AsRef<Path>, msg: impl Into<String>) -> Self {
        Error::Format {
            path: path.as_ref().to_path_buf(),
            msg: msg.into(),
        }
    }
    pub fn bgzf(path: impl AsRef<Path>, msg: impl Into<String>) -> Self {
        Error::Bgzf {
            path: path.as_ref().to_path_buf(),
            msg: msg.into(),
        }
    }
}
