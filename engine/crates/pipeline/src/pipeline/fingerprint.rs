//! Checksums of outputs and fingerprints of inputs.
//!
//! Outputs are hashed whole (BLAKE3). Inputs up to [`FULL_HASH_LIMIT`] are hashed whole too;
//! larger ones (whole-genome BAMs of tens of gigabytes, re-read at every resume) get a cheaper
//! fingerprint: their size, modification time, and BLAKE3 over the first and last 4 MiB and
//! 16 evenly spaced 64 KiB samples. A changed BGZF file almost always changes its last blocks
//! (the index and EOF follow the data) and its size.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::UNIX_EPOCH;

use serde_json::json;

pub const FULL_HASH_LIMIT: u64 = 256 << 20;
const EDGE: u64 = 4 << 20;
const SAMPLE: u64 = 64 << 10;
const SAMPLES: u64 = 16;

/// An error unless `path` is a regular file: opening a FIFO blocks, and a device never ends.
fn regular(path: &Path) -> std::io::Result<std::fs::Metadata> {
    let m = std::fs::metadata(path)?;
    if m.is_file() {
        Ok(m)
    } else {
        Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("is {}, not a regular file", super::safe::kind_of(&m)),
        ))
    }
}

/// BLAKE3 of a whole file, in hex.
pub fn checksum(path: &Path) -> std::io::Result<String> {
    regular(path)?;
    let mut h = blake3::Hasher::new();
    h.update_reader(File::open(path)?)?;
    Ok(h.finalize().to_hex().to_string())
}

/// Size and modification time (ns), the cheap check that an input did not change.
pub fn stamp(path: &Path) -> std::io::Result<(u64, u128)> {
    let m = std::fs::metadata(path)?;
    let t = m
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    Ok((m.len(), t))
}

type Seen = HashMap<PathBuf, ((u64, u128), serde_json::Value)>;

/// Fingerprints already taken by this process, by path and stamp: a reference or a BAM that
/// many jobs read is hashed once, not once per job.
fn seen() -> &'static Mutex<Seen> {
    static SEEN: OnceLock<Mutex<Seen>> = OnceLock::new();
    SEEN.get_or_init(|| Mutex::new(HashMap::new()))
}

/// An input's fingerprint as recorded in `run.json`.
pub fn input(path: &Path) -> std::io::Result<serde_json::Value> {
    regular(path)?;
    let st = stamp(path)?;
    if let Ok(m) = seen().lock() {
        if let Some((s, v)) = m.get(path) {
            if *s == st {
                return Ok(v.clone());
            }
        }
    }
    let v = input_uncached(path, st)?;
    if let Ok(mut m) = seen().lock() {
        m.insert(path.to_path_buf(), (st, v.clone()));
    }
    Ok(v)
}

fn input_uncached(path: &Path, (size, mtime): (u64, u128)) -> std::io::Result<serde_json::Value> {
    if size <= FULL_HASH_LIMIT {
        return Ok(json!({
            "path": path.display().to_string(),
            "size": size,
            "blake3": checksum(path)?,
        }));
    }
    let mut f = File::open(path)?;
    let mut h = blake3::Hasher::new();
    h.update(&size.to_le_bytes());
    let mut buf = Vec::new();
    let mut take = |f: &mut File, at: u64, n: u64, h: &mut blake3::Hasher| -> std::io::Result<()> {
        f.seek(SeekFrom::Start(at))?;
        buf.clear();
        f.take(n).read_to_end(&mut buf)?;
        h.update(&buf);
        Ok(())
    };
    take(&mut f, 0, EDGE, &mut h)?;
    for i in 1..=SAMPLES {
        take(&mut f, size / (SAMPLES + 1) * i, SAMPLE, &mut h)?;
    }
    take(&mut f, size.saturating_sub(EDGE), EDGE, &mut h)?;
    Ok(json!({
        "path": path.display().to_string(),
        "size": size,
        "mtime_ns": mtime.to_string(),
        "fingerprint": h.finalize().to_hex().to_string(),
        "fingerprint_method": "blake3(size, first and last 4 MiB, 16 x 64 KiB samples)",
    }))
}
