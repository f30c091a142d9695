//! Paths the pipeline names and writes, held to what a hostile file or folder cannot abuse:
//! names that stay under the output folder, folders kasane made itself (no links followed
//! inside the output folder), inputs that are regular files (a FIFO or a device would hang).

use std::io::ErrorKind;
use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result};

/// Why `id` cannot be a file or folder name, if it cannot: empty, a path separator, a leading
/// `.` (`.`, `..`, hidden files, `.kasane`), or a control character (newlines break logs and
/// generated code).
pub fn bad_name(id: &str) -> bool {
    id.is_empty()
        || id.contains(['/', '\\'])
        || id.starts_with('.')
        || id.chars().any(char::is_control)
}

/// Whether `rel` is relative and, taken lexically, stays below the folder it is joined to.
pub fn stays_under(rel: &Path) -> bool {
    !rel.as_os_str().is_empty() && rel.components().all(|c| matches!(c, Component::Normal(_)))
}

fn usage(msg: String) -> Error {
    Error::Usage(msg)
}

/// The one wording for "a folder was expected here", shared with the writers' errors.
fn not_a_folder(path: &Path, m: &std::fs::Metadata) -> Error {
    usage(format!(
        "{}: exists and is {}, not a folder",
        path.display(),
        crate::error::file_kind(&m.file_type())
    ))
}

/// An output folder must be a folder (or not exist yet).
pub fn check_root(out: &Path) -> Result<()> {
    match std::fs::metadata(out) {
        Ok(m) if !m.is_dir() => Err(not_a_folder(out, &m)),
        _ => Ok(()),
    }
}

/// Creates the output folder (the user's path: a link to a folder is fine there).
pub fn make_root(out: &Path) -> Result<()> {
    check_root(out)?;
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))
}

/// `root/rel` as a folder, each component below `root` checked and made as needed: a link
/// there (which kasane never makes) or a file in the way is an error, so nothing is written
/// outside `root`.
pub fn dir_under(root: &Path, rel: &Path) -> Result<PathBuf> {
    if rel.as_os_str().is_empty() {
        make_root(root)?;
        return Ok(root.to_path_buf());
    }
    if !stays_under(rel) {
        return Err(usage(format!(
            "{}: {} is not a path inside the output folder",
            root.display(),
            rel.display()
        )));
    }
    make_root(root)?;
    let mut at = root.to_path_buf();
    for c in rel.components() {
        at.push(c);
        match std::fs::symlink_metadata(&at) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(usage(format!(
                    "{}: is a symbolic link inside the output folder, which kasane did not \
                     make; remove it",
                    at.display()
                )))
            }
            Ok(m) if !m.is_dir() => return Err(not_a_folder(&at, &m)),
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => match std::fs::create_dir(&at) {
                Ok(()) => {}
                // Another job made it a moment ago.
                Err(e) if e.kind() == ErrorKind::AlreadyExists && !is_link(&at) && at.is_dir() => {}
                Err(e) => return Err(Error::io(&at, e)),
            },
            Err(e) => return Err(Error::io(&at, e)),
        }
    }
    Ok(at)
}

fn is_link(p: &Path) -> bool {
    std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_symlink())
}

/// `root/rel` for a file kasane is about to write: its folders checked and made by
/// [`dir_under`], and whatever link or leftover sits at the name removed (writes then create a
/// fresh file instead of following a link).
pub fn file_under(root: &Path, rel: &Path) -> Result<PathBuf> {
    if !stays_under(rel) {
        return Err(usage(format!(
            "{}: {} is not a path inside the output folder",
            root.display(),
            rel.display()
        )));
    }
    let parent = rel.parent().unwrap_or(Path::new(""));
    let dir = dir_under(root, parent)?;
    let name = rel.file_name().unwrap_or_default();
    Ok(dir.join(name))
}

/// Whether every component of `rel` below `root` exists without a link (for reading back
/// what a run wrote: a link planted there is not the run's file).
pub fn no_links_under(root: &Path, rel: &Path) -> bool {
    if !stays_under(rel) {
        return false;
    }
    let mut at = root.to_path_buf();
    rel.components().all(|c| {
        at.push(c);
        !is_link(&at)
    })
}

/// Removes a link or file at `path` so that it can be created afresh.
pub fn clear(path: &Path) -> Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => Err(usage(format!(
            "{}: is a folder where kasane writes a file",
            path.display()
        ))),
        Ok(_) => std::fs::remove_file(path).map_err(|e| Error::io(path, e)),
        Err(_) => Ok(()),
    }
}

/// What kind of thing a non-regular path is, for messages.
pub fn kind_of(m: &std::fs::Metadata) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let t = m.file_type();
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    if m.is_dir() {
        "a folder"
    } else {
        "not a regular file"
    }
}

/// Why an input path cannot be read as a file, if it cannot: missing, unreadable (a link loop
/// says so), or not a regular file.
pub fn input_problem(p: &Path) -> Option<String> {
    match std::fs::metadata(p) {
        Ok(m) if m.is_file() => None,
        Ok(m) => Some(format!(
            "{} is {}, not a regular file",
            p.display(),
            kind_of(&m)
        )),
        Err(e) if e.kind() == ErrorKind::NotFound && !is_link(p) => {
            Some(format!("{} does not exist", p.display()))
        }
        Err(e) if e.kind() == ErrorKind::NotFound => Some(format!(
            "{} is a symbolic link to nothing (does not exist)",
            p.display()
        )),
        Err(e) => Some(format!("{}: {}", p.display(), lower_first(&e.to_string()))),
    }
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

/// The record, log and lock name of a job: `STEP__SAMPLE`, with an id escaped (`%XX` for each
/// byte outside `A-Za-z0-9._-`) when it has other characters, `__`, or `_` at an end, so that
/// two jobs never share a name; plain ids keep the names earlier versions wrote.
pub fn job_key(step: &str, sample: &str) -> String {
    format!("{}__{}", escape_id(step), escape_id(sample))
}

fn escape_id(id: &str) -> String {
    let plain = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_');
    if id.bytes().all(plain) && !id.contains("__") && !id.starts_with('_') && !id.ends_with('_') {
        return id.to_string();
    }
    let mut o = String::with_capacity(id.len() * 3);
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-') {
            o.push(b as char);
        } else {
            o.push_str(&format!("%{b:02X}"));
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_keys_never_collide() {
        assert_eq!(job_key("depth", "mother"), "depth__mother");
        assert_eq!(job_key("a_b", "s-1.x"), "a_b__s-1.x");
        assert_ne!(job_key("a", "b__s1"), job_key("a__b", "s1"));
        assert_ne!(job_key("a_", "x"), job_key("a", "_x"));
        assert_ne!(job_key("a%5F", "x"), job_key("a_", "x"));
        assert_eq!(job_key("c{x}", "s"), "c%7Bx%7D__s");
    }

    #[test]
    fn only_plain_relative_paths_stay_under() {
        assert!(stays_under(Path::new("a/b.txt")));
        for p in ["", "/x", "../x", "a/../../x", "./a", ".."] {
            assert!(!stays_under(Path::new(p)), "{p}");
        }
    }
}
