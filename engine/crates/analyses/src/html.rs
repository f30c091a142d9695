//! Self-contained HTML reports (no network: styles, scripts and data inline) with SVG plots
//! drawn by a small script: the page frame, styles and plotting functions every report
//! shares. Each report adds its own script (`page_js`) that reads `DATA` and draws.
//!
//! A report sets `data-status="ok"` on `<body>` when it has drawn, `"error"` (and a line in
//! `#errors`) on a script error, and `data-plots` to the number of plots: what the headless
//! browser tests read.

/// Escapes text for HTML.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The page for `data` (the report's object, as JSON) drawn by `page_js`.
pub fn page(title: &str, data: &serde_json::Value, page_js: &str) -> String {
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
         <script>{LIB_JS}{page_js}</script>\n</body></html>\n",
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

const LIB_JS: &str = r##"
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
"##;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_json_cannot_close_the_script() {
        let p = page(
            "t",
            &serde_json::json!({"x": "</script><script>alert(1)"}),
            "",
        );
        assert!(!p.contains("</script><script>alert"));
    }
}
