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
    /// A folder on the way to `path` is not a folder (a regular file, say): the OS only says
    /// "Not a directory", without which one.
    #[error("{path}: cannot create: {ancestor} is {kind}, not a folder")]
    NotAFolder {
        path: PathBuf,
        ancestor: PathBuf,
        kind: &'static str,
    },
    /// An output's final path exists and is not something kasane may replace.
    #[error("{path}: {msg}")]
    Output { path: PathBuf, msg: String },
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
        let path = path.as_ref().to_path_buf();
        match not_a_folder(&path, &source) {
            Some((ancestor, kind)) => Error::NotAFolder {
                path,
                ancestor,
                kind,
            },
            None => Error::Io { path, source },
        }
    }
    /// An output that could not be created (the OS error names the cause).
    pub fn create(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        let path = path.as_ref().to_path_buf();
        match not_a_folder(&path, &source) {
            Some((ancestor, kind)) => Error::NotAFolder {
                path,
                ancestor,
                kind,
            },
            None => Error::Create { path, source },
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

/// For an ENOTDIR error on `path`: the first ancestor that exists but is not a folder, and
/// what it is.
fn not_a_folder(path: &Path, e: &std::io::Error) -> Option<(PathBuf, &'static str)> {
    if e.kind() == std::io::ErrorKind::AlreadyExists {
        // create_dir_all on a path that is a file.
        let m = std::fs::metadata(path).ok()?;
        return (!m.is_dir()).then(|| (path.to_path_buf(), file_kind(&m.file_type())));
    }
    if e.kind() != std::io::ErrorKind::NotADirectory {
        return None;
    }
    path.ancestors()
        .skip(1)
        .filter(|a| !a.as_os_str().is_empty())
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .find_map(|a| {
            let m = std::fs::metadata(a).ok()?;
            (!m.is_dir()).then(|| (a.to_path_buf(), file_kind(&m.file_type())))
        })
}

/// What a file is, in words ("a regular file", "a FIFO (named pipe)", ...).
pub fn file_kind(t: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if t.is_file() {
        "a regular file"
    } else if t.is_dir() {
        "a directory"
    } else if t.is_symlink() {
        "a symbolic link"
    } else if t.is_fifo() {
        "a FIFO (named pipe)"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

/// Why `path` cannot be opened as an input, in the OS's words ("No such file or directory",
/// "Too many levels of symbolic links", "Permission denied"), or `None` when it can be
/// looked up. `Path::exists` answers false for all of these alike.
pub fn missing_reason(path: &Path) -> Option<String> {
    std::fs::metadata(path).err().map(|e| e.to_string())
}
