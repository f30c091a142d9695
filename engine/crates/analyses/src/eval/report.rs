//! `report.html`: the evaluation on one page (self-contained), drawn from `summary.json`'s
//! object: a summary table, precision and recall per stratum and per subset (call sets side by
//! side), and precision-recall curves over the score with the best-F1 threshold.

/// The page for the run's summary object.
pub fn html(summary: &serde_json::Value) -> String {
    crate::html::page("kasane eval", summary, EVAL_JS)
}

const EVAL_JS: &str = r##"
var TYPES = ["SNV", "INDEL", "SV"];
function svCounts(cs) {
  // truvari's fields as the small-variant cells' shape.
  var s = cs.SV;
  if (!s || (!s["base cnt"] && !s["comp cnt"])) return null;
  return {allele: {"TRUTH.TOTAL": s["base cnt"], "TRUTH.TP": s["TP-base"], "TRUTH.FN": s.FN, "QUERY.TOTAL": s["comp cnt"], "QUERY.TP": s["TP-comp"], "QUERY.FP": s.FP, precision: s.precision, recall: s.recall, f1: s.f1},
          genotype: {"TRUTH.TOTAL": s["base cnt"], "TRUTH.TP": s["TP-base_TP-gt"], "QUERY.TOTAL": s["comp cnt"], "QUERY.TP": s["TP-comp_TP-gt"], precision: s["comp cnt"] ? s["TP-comp_TP-gt"] / s["comp cnt"] : null, recall: s["base cnt"] ? s["TP-base_TP-gt"] / s["base cnt"] : null, f1: null}};
}
function cell(cs, t) { return t === "SV" ? svCounts(cs) : cs[t]; }
function summaryTable() {
  var sec = section("Summary", "Allele level: a call matches when its alleles spell the truth's haplotype (genotype ignored). Genotype level: the genotype must match too (hap.py's TRUTH.TP). SVs: truvari bench's rules (" + JSON.stringify(DATA.sv_params) + ").");
  var t = h("table", null, h("div", null, sec, "scroll"));
  var tr = h("tr", null, t);
  ["call set", "type", "truth", "TP (truth)", "FN", "calls", "TP (calls)", "FP", "precision", "recall", "F1", "F1 (genotype)"].forEach(function (c, k) { h("th", c, tr, k < 2 ? "l" : ""); });
  DATA.callsets.forEach(function (cs) {
    TYPES.forEach(function (ty) {
      var c = cell(cs, ty);
      if (!c || (!c.allele["TRUTH.TOTAL"] && !c.allele["QUERY.TOTAL"])) return;
      var a = c.allele, g = c.genotype;
      var r = h("tr", null, t);
      [cs.name, ty].forEach(function (v) { h("td", v, r, "l"); });
      [a["TRUTH.TOTAL"], a["TRUTH.TP"], a["TRUTH.FN"], a["QUERY.TOTAL"], a["QUERY.TP"], a["QUERY.FP"], a.precision, a.recall, a.f1, g.f1].forEach(function (v) { h("td", fmt(v, 4), r); });
    });
  });
}
// Grouped bars: categories on x, one bar per series; values in [0, 1].
function bars(parent, cats, series, opts) {
  var n = cats.length, m = series.length;
  var L = 52, R = 12, T = 24, B = 110, bw = Math.max(4, Math.min(22, 300 / Math.max(1, n * m)));
  var gw = bw * m + 8, W = Math.max(360, L + R + n * gw), H = 320;
  var box = h("div", null, parent);
  var svg = el("svg", {width: W, height: H, viewBox: "0 0 " + W + " " + H, role: "img"}, box);
  el("text", {x: L, y: 15, "font-weight": "600", "font-size": 13}, svg).textContent = opts.title;
  function Y(v) { return H - B - v * (H - T - B); }
  var ax = el("g", {"class": "axis"}, svg);
  el("line", {x1: L, y1: H - B, x2: W - R, y2: H - B}, ax);
  el("line", {x1: L, y1: T, x2: L, y2: H - B}, ax);
  [0, 0.25, 0.5, 0.75, 1].forEach(function (t) {
    el("line", {x1: L, y1: Y(t), x2: W - R, y2: Y(t), stroke: "#eee"}, ax);
    el("text", {x: L - 6, y: Y(t) + 4, "text-anchor": "end"}, svg).textContent = fmt(t, 2);
  });
  cats.forEach(function (c, i) {
    var x0 = L + 4 + i * gw;
    series.forEach(function (s, j) {
      var v = s.values[i];
      if (v === null || v === undefined || !isFinite(v)) return;
      var r = el("rect", {x: x0 + j * bw, y: Y(v), width: bw - 1, height: Math.max(0, H - B - Y(v)), fill: s.color || color(j)}, svg);
      el("title", {}, r).textContent = s.name + " · " + c + ": " + fmt(v, 4);
    });
    var tx = x0 + gw / 2 - 4, ty = H - B + 10;
    el("text", {x: tx, y: ty, transform: "rotate(50 " + tx + " " + ty + ")"}, svg).textContent = c;
  });
  var lg = h("div", null, box, "legend");
  series.forEach(function (s, i) { var sp = h("span", null, lg); var b = h("i", null, sp); b.style.background = s.color || color(i); sp.appendChild(document.createTextNode(s.name)); });
  PLOTS++;
}
function strataPlots() {
  if (DATA.strata.length < 2) return;
  var sec = section("By stratum", "Precision and recall (allele level) in each stratum: variants whose reference span lies inside one of its regions.");
  var box = h("div", null, sec, "plots");
  TYPES.forEach(function (ty) {
    ["recall", "precision"].forEach(function (metric) {
      var series = DATA.callsets.map(function (cs, i) {
        return {name: cs.name, color: color(i), values: cs.strata.map(function (s) {
          var t = s.types[ty]; var c = t && t["*"];
          return c ? c.allele[metric] : null;
        })};
      });
      if (series.every(function (s) { return s.values.every(function (v) { return v === null; }); })) return;
      bars(box, DATA.strata, series, {title: ty + " " + metric + " by stratum"});
    });
  });
}
function subsetPlots() {
  var sec = section("By genotype, length and size", "Recall and precision (allele level) per subset of the whole evaluation: genotype class, indel length (insertions and deletions), SV size and type, and the truth's allele fraction (INFO VAF) where given.");
  var box = h("div", null, sec, "plots");
  var any = false;
  TYPES.forEach(function (ty) {
    var subs = DATA.subsets.filter(function (k) {
      return k !== "*" && DATA.callsets.some(function (cs) { var t = cs.strata[0].types[ty]; return t && t[k]; });
    });
    if (!subs.length) return;
    ["recall", "precision"].forEach(function (metric) {
      var series = DATA.callsets.map(function (cs, i) {
        return {name: cs.name, color: color(i), values: subs.map(function (k) { var t = cs.strata[0].types[ty]; var c = t && t[k]; return c ? c.allele[metric] : null; })};
      });
      if (series.every(function (s) { return s.values.every(function (v) { return v === null; }); })) return;
      any = true;
      bars(box, subs, series, {title: ty + " " + metric + " by subset"});
    });
  });
  if (!any) sec.parentNode.removeChild(sec);
}
function curves() {
  var sec = section("Precision-recall over " + DATA.score, "Calls kept when their score is at least a threshold; the dot marks the threshold with the best F1 (listed below). Calls without a score count only at the lowest threshold.");
  var box = h("div", null, sec, "plots");
  var rows = [];
  TYPES.forEach(function (ty) {
    var series = [], dots = [];
    DATA.callsets.forEach(function (cs, i) {
      var c = cs.curves[ty];
      if (!c) return;
      series.push({name: cs.name, color: color(i), points: c.points.map(function (p) { return [p.recall, p.precision]; })});
      if (c.best) { dots.push({name: cs.name + " best F1", color: color(i), points: [[c.best.recall, c.best.precision]]}); rows.push([cs.name, ty, c.best]); }
    });
    if (!series.length) return;
    var svg = chart(box, series, {title: ty + ": precision against recall", xlabel: "recall", ylabel: "precision", xmin: 0, xmax: 1, ymin: 0, ymax: 1});
    dots.forEach(function (d) {
      var p = d.points[0];
      var W = +svg.getAttribute("width"), H = +svg.getAttribute("height");
      var x = 58 + p[0] * (W - 58 - 14), y = H - 42 - p[1] * (H - 24 - 42);
      var c = el("circle", {cx: x, cy: y, r: 5, fill: d.color, stroke: "#000"}, svg);
      el("title", {}, c).textContent = d.name + ": recall " + fmt(p[0], 4) + ", precision " + fmt(p[1], 4);
    });
  });
  if (!rows.length) { sec.parentNode.removeChild(sec); return; }
  var t = h("table", null, h("div", null, sec, "scroll"));
  var tr = h("tr", null, t);
  ["call set", "type", "threshold", "precision", "recall", "F1", "TP", "FP"].forEach(function (c, k) { h("th", c, tr, k < 2 ? "l" : ""); });
  rows.forEach(function (r) {
    var x = h("tr", null, t);
    h("td", r[0], x, "l"); h("td", r[1], x, "l");
    [r[2].threshold, r[2].precision, r[2].recall, r[2].f1, r[2].query_tp, r[2].query_fp].forEach(function (v) { h("td", fmt(v, 4), x); });
  });
}
function main() {
  document.getElementById("meta").textContent = "kasane " + DATA.kasane_version + " · truth " + DATA.truth + " · " + DATA.callsets.length + " call set(s) · " + DATA.strata.length + " strata";
  summaryTable();
  curves();
  strataPlots();
  subsetPlots();
  document.body.setAttribute("data-plots", String(PLOTS));
  if (document.body.getAttribute("data-status") !== "error") document.body.setAttribute("data-status", "ok");
}
main();
"##;
