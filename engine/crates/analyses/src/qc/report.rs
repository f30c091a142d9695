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

/// Escapes text for HTML.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The page for `data` (the run's report object).
pub fn html(title: &str, data: &serde_json::Value) -> String {
    // JSON inside <script> must not close the element.
    let json = serde_json::to_string(data)
        .unwrap_or_else(|_| "{}".into())
        .replace("</", "<\\/")
        .replace("<!--", "<\\!--");
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<meta name=\"viewport\" \
         content=\"width=device-width, initial-scale=1\">\n<title>{title}</title>\n<style>{CSS}</style>\n\
         </head>\n<body data-status=\"loading\">\n<header><h1>{title}</h1><p id=\"meta\"></p></header>\n\
         <main id=\"main\"><noscript>This report draws its plots with JavaScript.</noscript></main>\n\
         <div id=\"errors\"></div>\n<script type=\"application/json\" id=\"data\">{json}</script>\n\
         <script>{JS}</script>\n</body></html>\n",
        title = esc(title)
    )
}

const CSS: &str = r##"
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#23395d;color:#fff;padding:12px 24px}header h1{margin:0;font-size:22px}
header p{margin:4px 0 0;font-size:13px;opacity:.85}
main{padding:12px 24px;max-width:1400px}
section{background:#fff;border:1px solid #ddd;border-radius:6px;margin:14px 0;padding:10px 16px}
section h2{font-size:17px;margin:4px 0 8px}section p.note{font-size:12px;color:#555;margin:2px 0 8px}
table{border-collapse:collapse;font-size:13px}th,td{border-bottom:1px solid #e4e4e4;padding:4px 8px;text-align:right}
th{background:#f0f3f8;position:sticky;top:0}td.l,th.l{text-align:left}
.PASS{color:#176d2c;font-weight:600}.FAIL{color:#b3141b;font-weight:600}
.plots{display:flex;flex-wrap:wrap;gap:12px}
svg{background:#fff;font-size:11px}svg .axis line,svg .axis path{stroke:#888}
svg text{fill:#333}.legend{font-size:12px;margin:4px 0}.legend span{margin-right:12px;white-space:nowrap}
.legend i{display:inline-block;width:10px;height:10px;margin-right:4px;vertical-align:middle}
#errors{color:#b3141b;font-family:monospace;padding:0 24px}
.scroll{overflow-x:auto}
"##;

const JS: &str = r##"
"use strict";
var PLOTS = 0;
window.onerror = function (msg, src, line) {
  document.body.setAttribute("data-status", "error");
  var e = document.getElementById("errors");
  e.textContent += "script error: " + msg + " (line " + line + ")\n";
  return false;
};
var DATA = JSON.parse(document.getElementById("data").textContent);
var COLORS = ["#1f77b4","#d62728","#2ca02c","#ff7f0e","#9467bd","#8c564b","#e377c2","#7f7f7f","#bcbd22","#17becf"];
function color(i) { return COLORS[i % COLORS.length]; }
var NS = "http://www.w3.org/2000/svg";
function el(tag, attrs, parent) {
  var e = document.createElementNS(NS, tag);
  for (var k in attrs) e.setAttribute(k, attrs[k]);
  if (parent) parent.appendChild(e);
  return e;
}
function h(tag, text, parent, cls) {
  var e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = text;
  if (cls) e.className = cls;
  if (parent) parent.appendChild(e);
  return e;
}
function fmt(v, d) {
  if (v === null || v === undefined || (typeof v === "number" && !isFinite(v))) return "–";
  if (typeof v !== "number") return String(v);
  if (Math.abs(v) >= 1e6 && Number.isInteger(v)) return v.toLocaleString("en");
  return Number.isInteger(v) ? String(v) : v.toFixed(d === undefined ? 3 : d);
}
function ticks(lo, hi, n) {
  if (!(hi > lo)) { hi = lo + 1; }
  var step = Math.pow(10, Math.floor(Math.log10((hi - lo) / n)));
  var err = (hi - lo) / n / step;
  if (err >= 7.5) step *= 10; else if (err >= 3.5) step *= 5; else if (err >= 1.5) step *= 2;
  var out = [];
  for (var t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) out.push(+t.toPrecision(12));
  return out;
}
// series: [{name, points:[[x,y],...], color}]; opts: {title, xlabel, ylabel, xmax, ymax, ymin, bars, log}
function chart(parent, series, opts) {
  var W = opts.width || 520, H = opts.height || 300, L = 58, R = 14, T = 24, B = 42;
  var box = h("div", null, parent);
  var svg = el("svg", {width: W, height: H, viewBox: "0 0 " + W + " " + H, role: "img"}, box);
  el("text", {x: L, y: 15, "font-weight": "600", "font-size": 13}, svg).textContent = opts.title;
  var xs = [], ys = [];
  series.forEach(function (s) { s.points.forEach(function (p) { if (isFinite(p[0]) && isFinite(p[1])) { xs.push(p[0]); ys.push(p[1]); } }); });
  // Loops, not Math.min.apply: long reads give arrays too long for an argument list.
  function lo(v, d) { var m = Infinity; for (var i = 0; i < v.length; i++) if (v[i] < m) m = v[i]; return v.length ? Math.min(m, d) : d; }
  function hi(v, d) { var m = -Infinity; for (var i = 0; i < v.length; i++) if (v[i] > m) m = v[i]; return v.length ? m : d; }
  var x0 = opts.xmin !== undefined ? opts.xmin : lo(xs, 0);
  var x1 = opts.xmax !== undefined ? opts.xmax : hi(xs, 1);
  var y0 = opts.ymin !== undefined ? opts.ymin : lo(ys, 0);
  var y1 = opts.ymax !== undefined ? opts.ymax : hi(ys, 1);
  if (!(x1 > x0)) x1 = x0 + 1;
  if (!(y1 > y0)) y1 = y0 + 1;
  function X(v) { return L + (v - x0) / (x1 - x0) * (W - L - R); }
  function Y(v) { return H - B - (v - y0) / (y1 - y0) * (H - T - B); }
  var ax = el("g", {"class": "axis"}, svg);
  el("line", {x1: L, y1: H - B, x2: W - R, y2: H - B}, ax);
  el("line", {x1: L, y1: T, x2: L, y2: H - B}, ax);
  ticks(x0, x1, 6).forEach(function (t) {
    el("line", {x1: X(t), y1: H - B, x2: X(t), y2: H - B + 4}, ax);
    el("text", {x: X(t), y: H - B + 15, "text-anchor": "middle"}, svg).textContent = fmt(t, 2);
  });
  ticks(y0, y1, 5).forEach(function (t) {
    el("line", {x1: L - 4, y1: Y(t), x2: L, y2: Y(t)}, ax);
    el("line", {x1: L, y1: Y(t), x2: W - R, y2: Y(t), stroke: "#eee"}, ax);
    el("text", {x: L - 6, y: Y(t) + 4, "text-anchor": "end"}, svg).textContent = fmt(t, 2);
  });
  el("text", {x: (L + W - R) / 2, y: H - 6, "text-anchor": "middle"}, svg).textContent = opts.xlabel || "";
  el("text", {x: 12, y: (T + H - B) / 2, transform: "rotate(-90 12 " + (T + H - B) / 2 + ")", "text-anchor": "middle"}, svg).textContent = opts.ylabel || "";
  series.forEach(function (s, i) {
    var c = s.color || color(i);
    var pts = s.points.filter(function (p) { return isFinite(p[0]) && isFinite(p[1]) && p[0] >= x0 && p[0] <= x1; });
    if (opts.scatter) {
      pts.forEach(function (p) {
        var dot = el("circle", {cx: X(p[0]), cy: Y(Math.min(p[1], y1)), r: 5, fill: c, "fill-opacity": 0.8}, svg);
        el("title", {}, dot).textContent = s.name + ": " + fmt(p[0]) + ", " + fmt(p[1]);
      });
    } else if (opts.bars) {
      var bw = Math.max(1, (W - L - R) / Math.max(1, (x1 - x0)) * 0.9 / series.length);
      pts.forEach(function (p) {
        var y = Y(Math.min(p[1], y1));
        el("rect", {x: X(p[0]) + i * bw - bw * series.length / 2, y: y, width: bw, height: Math.max(0, H - B - y), fill: c}, svg);
      });
    } else if (pts.length) {
      var d = pts.map(function (p, k) { return (k ? "L" : "M") + X(p[0]).toFixed(1) + " " + Y(Math.min(Math.max(p[1], y0), y1)).toFixed(1); }).join("");
      el("path", {d: d, fill: "none", stroke: c, "stroke-width": 1.6}, svg);
    }
  });
  (opts.refs || []).forEach(function (r) {
    el("line", {x1: X(r.x !== undefined ? r.x : x0), y1: Y(r.y !== undefined ? r.y : y0), x2: X(r.x !== undefined ? r.x : x1), y2: Y(r.y !== undefined ? r.y : y1), stroke: "#999", "stroke-dasharray": "4 3"}, svg);
  });
  var lg = h("div", null, box, "legend");
  series.forEach(function (s, i) { var sp = h("span", null, lg); var b = h("i", null, sp); b.style.background = s.color || color(i); sp.appendChild(document.createTextNode(s.name)); });
  PLOTS++;
  return svg;
}
function heatmap(parent, names, matrix, title) {
  var n = names.length, cell = Math.max(18, Math.min(48, 360 / Math.max(1, n))), L = 130, T = 30;
  var W = L + n * cell + 20, H = T + n * cell + 110;
  var svg = el("svg", {width: W, height: H, role: "img"}, h("div", null, parent));
  el("text", {x: 4, y: 16, "font-weight": "600", "font-size": 13}, svg).textContent = title;
  for (var i = 0; i < n; i++) {
    el("text", {x: L - 6, y: T + i * cell + cell / 2 + 4, "text-anchor": "end"}, svg).textContent = names[i];
    var tx = L + i * cell + cell / 2, ty = T + n * cell + 8;
    el("text", {x: tx, y: ty, transform: "rotate(60 " + tx + " " + ty + ")"}, svg).textContent = names[i];
    for (var j = 0; j < n; j++) {
      var v = matrix[i][j];
      var k = (v === null || !isFinite(v)) ? 0 : Math.max(0, Math.min(1, v / 0.5));
      var fill = (v === null || !isFinite(v)) ? "#eee" : "rgb(" + Math.round(255 - 220 * k) + "," + Math.round(255 - 170 * k) + "," + Math.round(255 - 60 * k) + ")";
      var r = el("rect", {x: L + j * cell, y: T + i * cell, width: cell - 1, height: cell - 1, fill: fill}, svg);
      el("title", {}, r).textContent = names[i] + " / " + names[j] + ": kinship " + fmt(v);
    }
  }
  PLOTS++;
}
function section(title, note) {
  var s = h("section", null, document.getElementById("main"));
  h("h2", title, s);
  if (note) h("p", note, s, "note");
  return s;
}
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

    #[test]
    fn embedded_json_cannot_close_the_script() {
        let page = html("t", &serde_json::json!({"x": "</script><script>alert(1)"}));
        assert!(!page.contains("</script><script>alert"));
    }
}
