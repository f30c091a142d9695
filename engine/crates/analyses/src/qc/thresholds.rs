//! Pass/fail: thresholds on any metric of `SAMPLE.qc.json`'s `metrics`, from a small TOML file
//! (or a pipeline `qc` step's `thresholds` parameter, the same file):
//!
//! ```toml
//! [min]
//! MEAN_COVERAGE = 30
//! PCT_20X = 0.9
//! [max]
//! contamination = 0.02
//! PCT_EXC_DUPE = 0.15
//! ```
//!
//! Names are matched without regard to case; an unknown name is an error that suggests the
//! nearest known one.

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::{Error, Result};

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Thresholds {
    /// One rule per line of the file, the metric under its canonical name.
    pub rules: Vec<Rule>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    pub metric: String,
    pub bound: f64,
    pub min: bool,
}

/// Levenshtein distance, case-insensitive.
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.to_lowercase().chars().collect();
    let b: Vec<char> = b.to_lowercase().chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + (ca != cb) as usize)
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The known name nearest to `name`.
pub fn nearest<'a>(name: &str, known: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    known.min_by_key(|k| (distance(name, k), k.len()))
}

impl Thresholds {
    /// Reads a thresholds file; every name must be one of `known` (metric names).
    pub fn read(path: &Path, known: &[&str]) -> Result<Thresholds> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::parse(&text, known).map_err(|msg| Error::format(path, msg))
    }

    pub fn parse(text: &str, known: &[&str]) -> std::result::Result<Thresholds, String> {
        let doc: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            e.message().lines().next().unwrap_or("not TOML").to_string()
        })?;
        let mut rules = Vec::new();
        for (section, v) in &doc {
            let min = match section.as_str() {
                "min" => true,
                "max" => false,
                other => {
                    return Err(format!(
                        "unknown table [{other}]: thresholds go in [min] and [max]"
                    ))
                }
            };
            let Some(t) = v.as_table() else {
                return Err(format!("'{section}' must be a table: [{section}]"));
            };
            for (name, bound) in t {
                let canonical = known
                    .iter()
                    .find(|k| k.eq_ignore_ascii_case(name))
                    .ok_or_else(|| {
                        let hint = nearest(name, known.iter().copied())
                            .map(|n| format!(" (did you mean '{n}'?)"))
                            .unwrap_or_default();
                        format!("[{section}] {name}: unknown metric{hint}")
                    })?;
                let bound = match bound {
                    toml::Value::Integer(i) => *i as f64,
                    toml::Value::Float(f) => *f,
                    _ => return Err(format!("[{section}] {name}: the bound must be a number")),
                };
                rules.push(Rule {
                    metric: canonical.to_string(),
                    bound,
                    min,
                });
            }
        }
        Ok(Thresholds { rules })
    }

    /// The reasons `metrics` fail, empty when every rule holds. A metric without a value (not
    /// measured for this sample, e.g. insert sizes of single-end reads) fails its rule: a
    /// threshold someone set must be checked.
    pub fn check(&self, metrics: &BTreeMap<String, Option<f64>>) -> Vec<String> {
        let mut out = Vec::new();
        for r in &self.rules {
            let v = metrics.get(&r.metric).copied().flatten();
            let (op, ok) = match v {
                Some(v) if r.min => ("<", v >= r.bound),
                Some(v) => (">", v <= r.bound),
                None => ("", false),
            };
            if !ok {
                out.push(match v {
                    Some(v) => format!(
                        "{} {} {op} {}",
                        r.metric,
                        fmt_num(v, 4),
                        fmt_num(r.bound, 4)
                    ),
                    None => format!(
                        "{} not measured (threshold {})",
                        r.metric,
                        fmt_num(r.bound, 4)
                    ),
                });
            }
        }
        out
    }
}

/// `v` with at most `decimals` decimals, trailing zeros dropped (whole numbers as integers).
pub fn fmt_num(v: f64, decimals: usize) -> String {
    if v == v.trunc() && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v:.decimals$}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KNOWN: &[&str] = &["MEAN_COVERAGE", "PCT_20X", "contamination"];

    #[test]
    fn rules_apply_and_explain() {
        let t = Thresholds::parse(
            "[min]\nmean_coverage = 30\n[max]\ncontamination = 0.02\n",
            KNOWN,
        )
        .unwrap();
        let mut m = BTreeMap::new();
        m.insert("MEAN_COVERAGE".to_string(), Some(25.5));
        m.insert("contamination".to_string(), Some(0.01));
        assert_eq!(t.check(&m), vec!["MEAN_COVERAGE 25.5 < 30".to_string()]);
        m.insert("MEAN_COVERAGE".to_string(), Some(31.0));
        assert!(t.check(&m).is_empty());
        m.insert("contamination".to_string(), None);
        assert_eq!(t.check(&m).len(), 1);
    }

    #[test]
    fn unknown_names_suggest_the_nearest() {
        let e = Thresholds::parse("[min]\nMEAN_COVERGE = 30\n", KNOWN).unwrap_err();
        assert!(e.contains("did you mean 'MEAN_COVERAGE'"), "{e}");
        let e = Thresholds::parse("[above]\nPCT_20X = 1\n", KNOWN).unwrap_err();
        assert!(e.contains("[min] and [max]"), "{e}");
        let e = Thresholds::parse("[min]\nPCT_20X = 'high'\n", KNOWN).unwrap_err();
        assert!(e.contains("must be a number"), "{e}");
    }
}
