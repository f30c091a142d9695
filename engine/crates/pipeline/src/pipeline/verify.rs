//! `kasane verify OUT/`: recomputes every output's checksum from `run.json` and says whether
//! the folder is what the run wrote (nothing missing, changed or added).

use std::path::{Path, PathBuf};

use super::{fingerprint, safe};
use crate::error::{Error, Result};

/// Problems found; empty when the folder is exactly what the run wrote.
pub struct Verified {
    pub checked: usize,
    pub problems: Vec<String>,
}

pub fn verify(dir: &Path) -> Result<Verified> {
    let rj = dir.join("run.json");
    let text = std::fs::read_to_string(&rj).map_err(|e| Error::io(&rj, e))?;
    let v: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| Error::format(&rj, format!("not a kasane run.json: {e}")))?;
    let jobs = v["jobs"]
        .as_array()
        .ok_or_else(|| Error::format(&rj, "not a kasane run.json: no `jobs`"))?;
    let mut expected = std::collections::BTreeSet::new();
    let mut problems = Vec::new();
    let mut checked = 0;
    for j in jobs {
        for o in j["outputs"].as_array().into_iter().flatten() {
            let (Some(rel), Some(want)) = (o["path"].as_str(), o["blake3"].as_str()) else {
                return Err(Error::format(&rj, "an output without `path` or `blake3`"));
            };
            expected.insert(PathBuf::from(rel));
            checked += 1;
            // A run.json can be edited: never follow it outside the folder, nor through a link.
            if !safe::stays_under(Path::new(rel)) {
                problems.push(format!(
                    "{rel}: not a path inside the folder (run.json names it; not read)"
                ));
                continue;
            }
            if !safe::no_links_under(dir, Path::new(rel)) {
                problems.push(format!(
                    "{rel}: a symbolic link where the run wrote a file (not followed)"
                ));
                continue;
            }
            match fingerprint::checksum(&dir.join(rel)) {
                Ok(got) if got == want => {}
                Ok(_) => problems.push(format!("{rel}: changed since the run wrote it")),
                Err(e) => problems.push(format!("{rel}: missing ({e})")),
            }
        }
    }
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let rd = std::fs::read_dir(&d).map_err(|e| Error::io(&d, e))?;
        for e in rd.flatten() {
            let p = e.path();
            let rel = p.strip_prefix(dir).unwrap_or(&p).to_path_buf();
            if rel == Path::new("run.json") || rel.starts_with(".kasane") {
                continue;
            }
            // Links are not followed (one to / would walk the whole file system).
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(p);
            } else if !expected.contains(&rel) {
                problems.push(format!("{}: not written by the run", rel.display()));
            }
        }
    }
    problems.sort();
    Ok(Verified { checked, problems })
}
