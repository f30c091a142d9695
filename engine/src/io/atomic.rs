//! Outputs are written under a temporary name and renamed only when the whole job succeeded, so
//! an interrupted or failed run never leaves a file that looks finished.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// A file being written under `<final>.kasane-tmp`.
pub struct PendingFile {
    final_path: PathBuf,
    tmp_path: PathBuf,
    committed: bool,
}

impl PendingFile {
    pub fn create(final_path: impl Into<PathBuf>) -> Result<(Self, BufWriter<File>)> {
        let final_path = final_path.into();
        let mut tmp = final_path.clone().into_os_string();
        tmp.push(".kasane-tmp");
        let tmp_path = PathBuf::from(tmp);
        let f = File::create(&tmp_path).map_err(|source| Error::Create {
            path: final_path.clone(),
            source,
        })?;
        Ok((
            PendingFile {
                final_path,
                tmp_path,
                committed: false,
            },
            BufWriter::with_capacity(1 << 20, f),
        ))
    }

    pub fn final_path(&self) -> &Path {
        &self.final_path
    }

    /// Renames the finished file into place.
    pub fn commit(mut self) -> Result<()> {
        std::fs::rename(&self.tmp_path, &self.final_path)
            .map_err(|e| Error::io(&self.final_path, e))?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for PendingFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.tmp_path);
        }
    }
}

/// A set of outputs committed together: all appear, or none do.
#[derive(Default)]
pub struct OutputSet {
    files: Vec<PendingFile>,
}

impl OutputSet {
    pub fn add(&mut self, f: PendingFile) {
        self.files.push(f);
    }

    pub fn commit(self) -> Result<()> {
        for f in self.files {
            f.commit()?;
        }
        Ok(())
    }
}
