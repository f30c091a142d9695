//! The run's HTML report (one self-contained file: data, script and styles inline, nothing
//! fetched) and the PED reader for declared sex and expected relationships.
//!
//! The page draws its plots as SVG from the JSON it embeds. When it has drawn everything it
//! sets `data-status="ok"` on `<body>` (with `data-plots`, the count); a script error sets
//! `data-status="error"` and lists the message on the page, which is how the tests (headless
//! Chromium) tell a page that renders from one that does not.

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::{Error, Result};

/// One line of a PED file.
#[derive(Clone, Debug, PartialEq)]
pub struct PedRow {
    pub family: String,
    pub father: Option<String>,
    pub mother: Option<String>,
    /// `male`, `female`, or `None` (0 or other).
    pub sex: Option<&'static str>,
}

/// Samples by id (PED's second column, matched against sample names).
#[derive(Clone, Debug, Default)]
pub struct Pedigree {
    pub rows: BTreeMap<String, PedRow>,
}

impl Pedigree {
    pub fn read(path: &Path) -> Result<Pedigree> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let mut rows = BTreeMap::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 5 {
                return Err(Error::format(
                    path,
                    format!(
                        "line {}: a PED line has 6 columns (family, sample, father, mother, sex, \
                         phenotype); found {}",
                        n + 1,
                        f.len()
                    ),
                ));
            }
            let parent = |s: &str| (s != "0" && s != ".").then(|| s.to_string());
            let sex = match f[4] {
                "1" | "M" | "m" | "male" => Some("male"),
                "2" | "F" | "f" | "female" => Some("female"),
                _ => None,
            };
            rows.insert(
                f[1].to_string(),
                PedRow {
                    family: f[0].to_string(),
                    father: parent(f[2]),
                    mother: parent(f[3]),
                    sex,
                },
            );
        }
        Ok(Pedigree { rows })
    }

    /// The degree of relationship the pedigree declares between two samples: 1 for parent and
    /// child or full siblings, 2 for grandparents, half siblings, aunts and uncles, and 4
    /// (unrelated) for samples of different families; `None` where it cannot say (a sample not
    /// in the file, or a relationship further than these within one family).
    pub fn expected_degree(&self, a: &str, b: &str) -> Option<u8> {
        let (ra, rb) = (self.rows.get(a)?, self.rows.get(b)?);
        if ra.family != rb.family {
            return Some(4);
        }
        let parents = |r: &PedRow| [r.father.clone(), r.mother.clone()];
        let is_parent = |p: &str, r: &PedRow| parents(r).iter().flatten().any(|x| x == p);
        if is_parent(a, rb) || is_parent(b, ra) {
            return Some(1);
        }
        let pa: Vec<String> = parents(ra).into_iter().flatten().collect();
        let pb: Vec<String> = parents(rb).into_iter().flatten().collect();
        let shared = pa.iter().filter(|p| pb.contains(p)).count();
        if shared == 2 {
            return Some(1);
        }
        if shared == 1 {
            return Some(2);
        }
        // Grandparent: a parent of one is the other's child.
        let grand = |x: &str, r: &PedRow| {
            parents(r)
                .iter()
                .flatten()
                .filter_map(|p| self.rows.get(p))
                .any(|pr| is_parent(x, pr))
        };
        if grand(a, rb) || grand(b, ra) {
            return Some(2);
        }
        // Founders of one family with no declared link: expected unrelated (spouses).
        if pa.is_empty() && pb.is_empty() {
            return Some(4);
        }
        None
    }
}

/// The page for `data` (the run's report object).
pub fn html(title: &str, data: &serde_json::Value) -> String {
    crate::html::page(title, data, QC_JS)
}

const QC_JS: &str = r##"
function perSample(title, note, key, opts) {
  var series = [];
  DATA.samples.forEach(function (s, i) {
    var pts = s.plots[key];
    if (pts && pts.length) series.push({name: s.sample, points: pts, color: color(i)});
  });
  if (!series.length) return;
  var sec = section(title, note);
  var box = h("div", null, sec, "plots");
  chart(box, series, opts);
}
function summary() {
  var sec = section("Summary", "PASS or FAIL per sample, with the reasons. Thresholds: " + (DATA.thresholds || "none given") + ".");
  var wrap = h("div", null, sec, "scroll");
  var t = h("table", null, wrap);
  var cols = DATA.columns;
  var tr = h("tr", null, t);
  h("th", "sample", tr, "l"); h("th", "status", tr, "l");
  cols.forEach(function (c) { var th = h("th", c[1], tr); th.title = c[0]; });
  h("th", "reasons", tr, "l");
  DATA.samples.forEach(function (s) {
    var r = h("tr", null, t);
    h("td", s.sample, r, "l");
    h("td", s.status, r, "l " + s.status);
    cols.forEach(function (c) { var v = s.metrics[c[0]]; h("td", fmt(v === undefined ? null : v, c[2]), r); });
    h("td", s.reasons.join("; "), r, "l");
  });
}
function identity() {
  var id = DATA.identity;
  if (!id) return;
  var sec = section("Identity and sex", "Kinship (KING-robust) from genotypes at " + id.panel + ". Degrees: > 0.354 duplicate, > 0.177 first, > 0.088 second, > 0.044 third.");
  var box = h("div", null, sec, "plots");
  if (DATA.samples.length > 1) heatmap(box, id.names, id.kinship, "Kinship between samples");
  var pts = DATA.samples.map(function (s, i) { return {name: s.sample + " (" + s.sex + ")", points: [[s.metrics.x_ratio, s.metrics.y_ratio]], color: color(i)}; });
  chart(box, pts, {title: "Sex: X and Y depth over autosomal depth", xlabel: "X / autosomes", ylabel: "Y / autosomes", scatter: true, xmin: 0, xmax: 1.4, ymin: 0, ymax: 1.2, refs: [{x: 0.75}, {y: 0.1}]});
  if (id.pairs.length) {
    var t = h("table", null, h("div", null, sec, "scroll"));
    var tr = h("tr", null, t);
    ["sample", "sample", "kinship", "IBS0", "sites", "relationship", "expected", "flag"].forEach(function (c) { h("th", c, tr, "l"); });
    id.pairs.forEach(function (p) {
      var r = h("tr", null, t);
      [p.a, p.b, fmt(p.kinship), fmt(p.ibs0), p.sites, p.relationship, p.expected || "–", p.flag || ""].forEach(function (v, k) { h("td", v, r, k === 7 && v ? "l FAIL" : "l"); });
    });
  }
}
function main() {
  document.getElementById("meta").textContent = "kasane " + DATA.version + " · " + DATA.samples.length + " sample(s) · panel: " + (DATA.identity ? DATA.identity.panel : "-");
  summary();
  perSample("Coverage distribution", "Fraction of the territory at each depth (Picard's high-quality depth: MAPQ ≥ 20, base quality ≥ 20, duplicates and overlapping mates excluded, capped at 250).", "coverage", {title: "Coverage histogram", xlabel: "depth", ylabel: "fraction of bases"});
  perSample("Cumulative coverage", "Fraction of the territory at or above each depth.", "cumulative", {title: "Cumulative coverage", xlabel: "depth", ylabel: "fraction ≥ depth", ymax: 1});
  perSample("Depth along the genome", "Mean depth per window over the sample's mean, contigs end to end.", "track", {title: "Normalised depth", xlabel: "genome position (Mb)", ylabel: "depth / mean", ymin: 0, ymax: 2.5, refs: [{y: 1}]});
  perSample("Insert sizes", "Pairs per insert size (Picard's CollectInsertSizeMetrics: second mates, duplicates excluded).", "insert", {title: "Insert size histogram", xlabel: "insert size (bp)", ylabel: "pairs"});
  perSample("GC bias", "Normalised coverage by the GC content of 100 bp windows (Picard's CollectGcBiasMetrics).", "gc", {title: "GC bias", xlabel: "GC %", ylabel: "normalised coverage", xmin: 0, xmax: 100, refs: [{y: 1}]});
  perSample("Base quality by cycle", "Mean base quality at each cycle, first and last fragments.", "quality", {title: "Mean quality by cycle", xlabel: "cycle", ylabel: "quality", ymin: 0});
  perSample("Read lengths", "Primary reads by length (hard clips included).", "lengths", {title: "Read length distribution", xlabel: "length (bp)", ylabel: "reads"});
  identity();
  document.body.setAttribute("data-plots", String(PLOTS));
  if (document.body.getAttribute("data-status") !== "error") document.body.setAttribute("data-status", "ok");
}
main();
"##;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pedigree_degrees() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f.ped");
        std::fs::write(
            &p,
            "f1 dad 0 0 1 0\nf1 mum 0 0 2 0\nf1 kid dad mum 2 0\nf1 kid2 dad mum 1 0\nf2 x 0 0 0 0\n",
        )
        .unwrap();
        let ped = Pedigree::read(&p).unwrap();
        assert_eq!(ped.expected_degree("dad", "kid"), Some(1));
        assert_eq!(ped.expected_degree("kid", "kid2"), Some(1));
        assert_eq!(ped.expected_degree("dad", "mum"), Some(4));
        assert_eq!(ped.expected_degree("dad", "x"), Some(4));
        assert_eq!(ped.expected_degree("dad", "nobody"), None);
        assert_eq!(ped.rows["kid"].sex, Some("female"));
        std::fs::write(&p, "f1 dad 0\n").unwrap();
        assert!(Pedigree::read(&p).is_err());
    }
}
