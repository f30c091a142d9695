//! Outputs are written under a temporary name and renamed only when the whole job succeeded, so
//! an interrupted or failed run never leaves a file that looks finished.
//!
//! A destination is checked when its output is created and again, for every file of a set,
//! before the first rename: only a missing path or a regular file is replaced. A directory,
//! FIFO, device or socket is refused (renaming over `/dev/null` would replace the device for
//! everyone), and so is a symbolic link: rename replaces the link, not its target, which is
//! never what a user who made the link meant, so kasane asks for the target's path instead.

use std::fs::{File, OpenOptions};
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::error::{file_kind, Error, Result};

/// Temporary files not yet committed or dropped: removed by [`remove_pending`] when the process
/// ends on a path where destructors do not run (a panic in a detached worker).
static PENDING: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn register(p: &Path) {
    if let Ok(mut v) = PENDING.lock() {
        v.push(p.to_path_buf());
    }
}

fn unregister(p: &Path) {
    if let Ok(mut v) = PENDING.lock() {
        if let Some(i) = v.iter().position(|x| x == p) {
            v.swap_remove(i);
        }
    }
}

/// Removes every temporary output still pending (before a fatal exit).
pub fn remove_pending() {
    // A poisoned lock still holds the list: a panic elsewhere must not keep files behind.
    let v = match PENDING.lock() {
        Ok(mut v) => std::mem::take(&mut *v),
        Err(p) => std::mem::take(&mut *p.into_inner()),
    };
    for p in v {
        let _ = std::fs::remove_file(p);
    }
}

/// Checks that `path` may receive an output: it does not exist (and its folder does), or it is
/// a regular file. The error says what is there instead.
pub fn check_destination(path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_file() => Ok(()),
        Ok(m) => {
            let t = m.file_type();
            let msg = if t.is_symlink() {
                let to = std::fs::read_link(path)
                    .map(|t| format!(" to {}", t.display()))
                    .unwrap_or_default();
                format!(
                    "exists and is a symbolic link{to}; outputs are renamed into place, which \
                     would replace the link, not write to its target: give the target's path or \
                     remove the link"
                )
            } else {
                format!(
                    "exists and is {}, not a regular file; refusing to replace it",
                    file_kind(&t)
                )
            };
            Err(Error::Output {
                path: path.to_path_buf(),
                msg,
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::create(path, e)),
    }
}

/// Opens `tmp` fresh. A leftover from a killed run is removed first; `create_new` never
/// follows a symbolic link or opens a FIFO planted under that name.
fn open_tmp(tmp: &Path) -> std::io::Result<File> {
    let open = || OpenOptions::new().write(true).create_new(true).open(tmp);
    match open() {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            if std::fs::symlink_metadata(tmp).is_ok_and(|m| m.is_dir()) {
                return Err(e);
            }
            std::fs::remove_file(tmp)?;
            open()
        }
        r => r,
    }
}

/// A file being written under `<final>.kasane-tmp`.
pub struct PendingFile {
    final_path: PathBuf,
    tmp_path: PathBuf,
    committed: bool,
}

impl PendingFile {
    pub fn create(final_path: impl Into<PathBuf>) -> Result<(Self, BufWriter<File>)> {
        let final_path = final_path.into();
        check_destination(&final_path)?;
        let mut tmp = final_path.clone().into_os_string();
        tmp.push(".kasane-tmp");
        let tmp_path = PathBuf::from(tmp);
        let f = open_tmp(&tmp_path).map_err(|e| Error::create(&final_path, e))?;
        register(&tmp_path);
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

    /// Where the file is written until it is committed (to read it back once written).
    pub fn tmp_path(&self) -> &Path {
        &self.tmp_path
    }

    /// Renames the finished file into place.
    pub fn commit(self) -> Result<()> {
        check_destination(&self.final_path)?;
        self.rename()
    }

    fn rename(mut self) -> Result<()> {
        std::fs::rename(&self.tmp_path, &self.final_path)
            .map_err(|e| Error::io(&self.final_path, e))?;
        self.committed = true;
        unregister(&self.tmp_path);
        Ok(())
    }
}

impl Drop for PendingFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.tmp_path);
            unregister(&self.tmp_path);
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
        // Every destination is checked before the first rename: one that became a directory
        // (say) during the work would otherwise fail after the others were in place.
        for f in &self.files {
            check_destination(&f.final_path)?;
        }
        let mut renamed: Vec<PathBuf> = Vec::new();
        for f in self.files {
            let path = f.final_path.clone();
            if let Err(e) = f.rename() {
                // Still all or none: what this set already put in place goes again.
                for p in renamed {
                    let _ = std::fs::remove_file(p);
                }
                return Err(e);
            }
            renamed.push(path);
        }
        Ok(())
    }
}

/// Checks that an output folder exists (creating it) and takes files, before any reading: an
/// analysis that writes a folder of files (qc, eval) calls this first.
pub fn prepare_output_dir(dir: &Path) -> Result<()> {
    if dir.exists() && !dir.is_dir() {
        return Err(Error::Output {
            path: dir.to_path_buf(),
            msg: "exists and is not a folder".into(),
        });
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::create(dir, e))?;
    let probe = dir.join(".kasane-write-check");
    std::fs::write(&probe, b"").map_err(|e| Error::create(dir, e))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// Runs `f`, which writes into the output folder `dir`; when it fails, a folder that did not
/// exist before is removed again (its files are committed only on success, so it is empty).
pub fn in_output_dir<T>(dir: &Path, f: impl FnOnce() -> Result<T>) -> Result<T> {
    let made = !dir.exists();
    let r = f();
    if r.is_err() && made {
        let _ = std::fs::remove_dir(dir);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn stale_temporary_symlink_is_removed_not_followed() {
        let d = tempfile::tempdir().unwrap();
        let victim = d.path().join("victim");
        std::fs::write(&victim, "keep").unwrap();
        let out = d.path().join("out.txt");
        std::os::unix::fs::symlink(&victim, d.path().join("out.txt.kasane-tmp")).unwrap();
        let (f, mut w) = PendingFile::create(&out).unwrap();
        w.write_all(b"new").unwrap();
        drop(w);
        f.commit().unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "new");
    }

    #[test]
    fn set_renames_nothing_when_a_destination_became_a_directory() {
        let d = tempfile::tempdir().unwrap();
        let mut set = OutputSet::default();
        for name in ["a", "b"] {
            let (f, w) = PendingFile::create(d.path().join(name)).unwrap();
            drop(w);
            set.add(f);
        }
        std::fs::create_dir(d.path().join("b")).unwrap();
        let e = set.commit().unwrap_err();
        assert!(e.to_string().contains("is a directory"), "{e}");
        let mut left: Vec<_> = std::fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, ["b"]);
    }
}
