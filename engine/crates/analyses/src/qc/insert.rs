//! Picard's `CollectInsertSizeMetrics` (2.27.5, defaults: all reads, `MINIMUM_PCT` 0.05,
//! `DEVIATIONS` 10, duplicates excluded).
//!
//! Picard counts each pair once, from its second mate: paired, mapped, mate mapped, not the
//! first of the pair, primary, not a duplicate, with a non-zero TLEN; the size is |TLEN| and
//! the orientation comes from the 5' ends of the two mates (`SamPairUtil.getPairOrientation`).
//! An orientation with fewer than 5 % of the pairs gets no row.

use std::collections::BTreeMap;
use std::path::Path;

use super::picard::{hist, picard_file, PVal};
use crate::io::Alignment;

pub const MINIMUM_PCT: f64 = 0.05;
pub const DEVIATIONS: f64 = 10.0;

/// The orientations in Picard's order.
pub const ORIENTATIONS: [&str; 3] = ["FR", "TANDEM", "RF"];

/// Insert size → pairs, per orientation.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct InsertSizes {
    pub hist: [BTreeMap<u64, u64>; 3],
}

/// One row of the metrics table.
#[derive(Clone, Debug)]
pub struct Row {
    pub orientation: &'static str,
    pub median: f64,
    pub mode: u64,
    pub mad: f64,
    pub min: u64,
    pub max: u64,
    pub mean: f64,
    pub sd: f64,
    pub pairs: u64,
    /// WIDTH_OF_10_PERCENT .. WIDTH_OF_99_PERCENT.
    pub widths: [u64; 11],
    /// The histogram after trimming (what Picard prints).
    pub trimmed: BTreeMap<u64, u64>,
}

const WIDTH_PCTS: [f64; 11] = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99];

pub const DEFS: &[(&str, &str)] = &[
    (
        "MEDIAN_INSERT_SIZE",
        "Median insert size of the main orientation's pairs (Picard)",
    ),
    ("MODE_INSERT_SIZE", "Most frequent insert size (Picard)"),
    (
        "MEDIAN_ABSOLUTE_DEVIATION",
        "Median absolute deviation of insert sizes (Picard)",
    ),
    (
        "MEAN_INSERT_SIZE",
        "Mean insert size after trimming beyond median + 10 MAD (Picard)",
    ),
    (
        "STANDARD_DEVIATION",
        "Standard deviation of insert sizes after the same trimming (Picard)",
    ),
    (
        "READ_PAIRS",
        "Pairs of the main orientation (Picard counts each pair once)",
    ),
    (
        "WIDTH_OF_95_PERCENT",
        "Width of the insert-size range around the median holding 95 % of pairs",
    ),
    ("PCT_FR_PAIRS", "Fraction of pairs in FR orientation"),
];

impl InsertSizes {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn record<A: Alignment>(&mut self, rec: &A) {
        let flag = rec.flag();
        // Paired, mapped, mate mapped, not first of pair, primary, not a duplicate.
        if flag & 0x1 == 0 || flag & 0x4 != 0 || flag & 0x8 != 0 || flag & 0x40 != 0 {
            return;
        }
        if flag & 0x900 != 0 || flag & 0x400 != 0 {
            return;
        }
        let tlen = rec.template_length();
        if tlen == 0 {
            return;
        }
        let size = tlen.unsigned_abs();
        let rev = flag & 0x10 != 0;
        let mate_rev = flag & 0x20 != 0;
        let o = if rev == mate_rev {
            1
        } else {
            // 1-based positions, as htsjdk.
            let start = rec.pos() + 1;
            let pos5 = if rev { rec.next_pos() + 1 } else { start };
            let neg5 = if rev { rec.end_pos() } else { start + tlen };
            if pos5 < neg5 {
                0
            } else {
                2
            }
        };
        *self.hist[o].entry(size).or_default() += 1;
    }

    pub fn merge(&mut self, o: &InsertSizes) {
        for (a, b) in self.hist.iter_mut().zip(&o.hist) {
            for (&k, &c) in b {
                *a.entry(k).or_default() += c;
            }
        }
    }

    pub fn total(&self) -> u64 {
        self.hist.iter().flat_map(|h| h.values()).sum()
    }

    /// The rows Picard writes, most pairs first... in Picard's orientation order.
    pub fn summary(&self) -> Vec<Row> {
        let total = self.total() as f64;
        let mut rows = Vec::new();
        for (o, h) in self.hist.iter().enumerate() {
            let n = hist::count(h);
            if n == 0.0 || n < total * MINIMUM_PCT {
                continue;
            }
            let median = hist::median(h);
            let mad = hist::mad(h);
            let min = *h.keys().next().unwrap_or(&0);
            let max = *h.keys().next_back().unwrap_or(&0);
            let mode = hist::mode(h);
            // Widths around the median, over the untrimmed histogram.
            let mut widths = [0u64; 11];
            let (mut low, mut high) = (median, median);
            let mut covered = 0f64;
            while low >= min as f64 - 1.0 || high <= max as f64 + 1.0 {
                if low >= 0.0 {
                    if let Some(&c) = h.get(&(low as u64)) {
                        if low.fract() == 0.0 {
                            covered += c as f64;
                        }
                    }
                }
                if low != high && high >= 0.0 {
                    if let Some(&c) = h.get(&(high as u64)) {
                        if high.fract() == 0.0 {
                            covered += c as f64;
                        }
                    }
                }
                let pct = covered / n;
                let distance = (high - low) as u64 + 1;
                for (k, &p) in WIDTH_PCTS.iter().enumerate() {
                    if pct >= p && widths[k] == 0 {
                        widths[k] = distance;
                    }
                }
                low -= 1.0;
                high += 1.0;
            }
            let width = (median + DEVIATIONS * mad) as u64;
            let trimmed: BTreeMap<u64, u64> = h
                .iter()
                .filter(|(&k, _)| k <= width)
                .map(|(&k, &c)| (k, c))
                .collect();
            rows.push(Row {
                orientation: ORIENTATIONS[o],
                median,
                mode,
                mad,
                min,
                max,
                mean: hist::mean(&trimmed),
                sd: hist::sd(&trimmed),
                pairs: n as u64,
                widths,
                trimmed,
            });
        }
        rows
    }

    pub fn picard_text(&self, sample: &str, input: &Path, rows: &[Row]) -> String {
        let keys = [
            "MEDIAN_INSERT_SIZE",
            "MODE_INSERT_SIZE",
            "MEDIAN_ABSOLUTE_DEVIATION",
            "MIN_INSERT_SIZE",
            "MAX_INSERT_SIZE",
            "MEAN_INSERT_SIZE",
            "STANDARD_DEVIATION",
            "READ_PAIRS",
            "PAIR_ORIENTATION",
            "WIDTH_OF_10_PERCENT",
            "WIDTH_OF_20_PERCENT",
            "WIDTH_OF_30_PERCENT",
            "WIDTH_OF_40_PERCENT",
            "WIDTH_OF_50_PERCENT",
            "WIDTH_OF_60_PERCENT",
            "WIDTH_OF_70_PERCENT",
            "WIDTH_OF_80_PERCENT",
            "WIDTH_OF_90_PERCENT",
            "WIDTH_OF_95_PERCENT",
            "WIDTH_OF_99_PERCENT",
            "SAMPLE",
            "LIBRARY",
            "READ_GROUP",
        ];
        let table: Vec<Vec<PVal>> = rows
            .iter()
            .map(|r| {
                let mut v = vec![
                    PVal::Float(r.median),
                    PVal::Int(r.mode as i64),
                    PVal::Float(r.mad),
                    PVal::Int(r.min as i64),
                    PVal::Int(r.max as i64),
                    PVal::Float(r.mean),
                    PVal::Float(r.sd),
                    PVal::Int(r.pairs as i64),
                    PVal::Str(r.orientation.into()),
                ];
                v.extend(r.widths.iter().map(|&w| PVal::Int(w as i64)));
                v.extend([PVal::Empty, PVal::Empty, PVal::Empty]);
                v
            })
            .collect();
        let head: Vec<String> = std::iter::once("insert_size".to_string())
            .chain(
                rows.iter()
                    .map(|r| format!("All_Reads.{}_count", r.orientation.to_lowercase())),
            )
            .collect();
        let sizes: std::collections::BTreeSet<u64> = rows
            .iter()
            .flat_map(|r| r.trimmed.keys().copied())
            .collect();
        let hrows: Vec<Vec<PVal>> = sizes
            .iter()
            .map(|&k| {
                std::iter::once(PVal::Int(k as i64))
                    .chain(
                        rows.iter()
                            .map(|r| PVal::Int(*r.trimmed.get(&k).unwrap_or(&0) as i64)),
                    )
                    .collect()
            })
            .collect();
        let head_refs: Vec<&str> = head.iter().map(String::as_str).collect();
        picard_file(
            "CollectInsertSizeMetrics",
            sample,
            input,
            "picard.analysis.InsertSizeMetrics",
            &keys,
            &table,
            (!rows.is_empty()).then_some((&head_refs[..], &hrows[..])),
        )
    }

    /// (size, pairs of every orientation) for the report.
    pub fn plot_points(&self) -> Vec<[f64; 2]> {
        let mut all: BTreeMap<u64, u64> = BTreeMap::new();
        for h in &self.hist {
            for (&k, &c) in h {
                *all.entry(k).or_default() += c;
            }
        }
        // Up to the 99.5th percentile: a handful of huge inserts would flatten the plot.
        let total: u64 = all.values().sum();
        let mut acc = 0u64;
        let mut out = Vec::new();
        for (&k, &c) in &all {
            out.push([k as f64, c as f64]);
            acc += c;
            if acc as f64 >= total as f64 * 0.995 {
                break;
            }
        }
        out
    }

    pub fn histogram_json(&self) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        for (o, h) in self.hist.iter().enumerate() {
            let v: Vec<[u64; 2]> = h.iter().map(|(&k, &c)| [k, c]).collect();
            m.insert(ORIENTATIONS[o].to_string(), serde_json::json!(v));
        }
        serde_json::Value::Object(m)
    }
}

/// The metric values of [`DEFS`], from the row of the orientation with most pairs.
pub fn values(rows: &[Row]) -> Vec<Option<f64>> {
    let total: u64 = rows.iter().map(|r| r.pairs).sum();
    let fr = rows
        .iter()
        .find(|r| r.orientation == "FR")
        .map_or(0, |r| r.pairs);
    match rows.iter().max_by_key(|r| r.pairs) {
        None => vec![None; DEFS.len()],
        Some(r) => vec![
            Some(r.median),
            Some(r.mode as f64),
            Some(r.mad),
            Some(r.mean),
            Some(r.sd),
            Some(r.pairs as f64),
            Some(r.widths[9] as f64),
            (total > 0).then(|| fr as f64 / total as f64),
        ],
    }
}
