"""The explorer page's HTML, style and script (:mod:`descent.lab.explore` fills in the data).

The script only looks up and draws: it decodes the embedded float32 (x, y, f) triples, picks the path of the
chosen setting by its key, draws it on the surface's contour image and its loss curve beside it, and keeps
the state in the URL fragment (``history.replaceState`` on every control change; a ``hashchange`` redraws).
A value the grid does not hold snaps to the nearest one, and the fragment is rewritten to say so.

>>> page = render('{"steps": 1}')
>>> page.startswith("<!DOCTYPE html>") and '{"steps": 1}' in page and "http" not in page
True
"""

from __future__ import annotations

_HTML = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>descent explorer: optimizers on 2-D loss surfaces</title>
<style>
body { font: 15px/1.45 system-ui, sans-serif; margin: 1.2em auto; max-width: 1040px; padding: 0 1em; color: #222; }
h1 { font-size: 1.4em; margin: 0 0 .3em; } p.lead { margin: 0 0 .8em; color: #555; }
#controls { display: grid; grid-template-columns: repeat(3, 1fr); gap: .4em 1.4em; margin-bottom: .8em; }
#controls label { display: flex; flex-direction: column; font-size: .9em; }
#controls output { font-weight: 600; font-variant-numeric: tabular-nums; }
#controls .off { visibility: hidden; }
#pictures { display: flex; gap: 12px; flex-wrap: wrap; }
canvas { border: 1px solid #ccc; background: #fff; }
#summary { font-size: 1.05em; margin: .6em 0 .2em; } #summary b { font-variant-numeric: tabular-nums; }
pre { background: #f6f8fa; padding: .5em; overflow-x: auto; font-size: .85em; }
</style></head>
<body>
<h1>descent explorer</h1>
<p class="lead">Every path below was computed by descent's own optimizers in Python
(<code>descent.lab.run</code>) and stored in this page; the page only draws them. The link in the address bar
reproduces this view.</p>
<div id="controls">
 <label>surface <select id="function"></select></label>
 <label>start (x, y) <select id="start"></select></label>
 <label>optimizer <select id="optimizer"></select></label>
 <label>learning rate <output id="lr-out"></output><input type="range" id="lr" min="0" step="1"></label>
 <label id="knob-row"><span><span id="knob-name">beta</span> <output id="knob-out"></output></span>
  <input type="range" id="knob" min="0" step="1"></label>
 <label>gradient noise &sigma; <output id="noise-out"></output><input type="range" id="noise" min="0" step="1">
 </label>
</div>
<div id="pictures"><canvas id="surface" width="560" height="400"></canvas>
<canvas id="loss" width="420" height="400"></canvas></div>
<p id="summary"></p>
<pre id="code"></pre>
<script type="application/json" id="data">__DATA__</script>
<script>
__SCRIPT__
</script>
</body></html>
"""

_SCRIPT = r"""
"use strict";
const D = JSON.parse(document.getElementById("data").textContent);
const P = (() => {
  const raw = atob(D.points), bytes = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
  return new Float32Array(bytes.buffer);
})();
const $ = (id) => document.getElementById(id);
const names = { function: Object.keys(D.surfaces), optimizer: Object.keys(D.optimizers) };
const images = {};
const state = {};

function choices(field) {  // the values the grid holds for a field, as the strings of the keys
  if (field === "start") return D.surfaces[state.function].starts;
  if (field === "knob") return D.optimizers[state.optimizer].values;
  if (field === "lr") return D.lrs;
  if (field === "noise") return D.noises;
  return names[field];
}
function nearest(field, text) {  // exact match, else the nearest number (log scale for positive values)
  const list = choices(field);
  if (list.includes(text)) return text;
  const v = Number(text);
  if (!["lr", "knob", "noise"].includes(field) || text === "" || !isFinite(v) || list.length === 0) return null;
  const d = (s) => { const w = parseFloat(s); return v > 0 && w > 0 ? Math.abs(Math.log(w / v)) : Math.abs(w - v); };
  return list.reduce((a, b) => (d(b) < d(a) ? b : a));
}
function fallback(field) {
  const list = choices(field), wish = { function: "quadratic", optimizer: "momentum", lr: "0.03", knob: "0.9",
    noise: "0" }[field];
  return list.includes(wish) ? wish : list[Math.floor((list.length - 1) / 2)] || list[0];
}
function readFragment() {
  const q = new URLSearchParams(location.hash.slice(1));
  for (const field of ["function", "start", "optimizer", "lr", "knob", "noise"]) {
    let name = field;
    if (field === "knob") name = D.optimizers[state.optimizer].knob;
    if (field === "knob" && !name) { state.knob = ""; continue; }
    const got = q.has(name) ? nearest(field, q.get(name)) : null;
    state[field] = got === null ? fallback(field) : got;
  }
}
function fragment() {
  const knob = D.optimizers[state.optimizer].knob;
  const parts = [["function", state.function], ["start", state.start], ["optimizer", state.optimizer],
    ["lr", state.lr]];
  if (knob) parts.push([knob, state.knob]);
  parts.push(["noise", state.noise]);
  return parts.map(([k, v]) => k + "=" + v).join("&");
}
function fillSelect(id, list, value) {
  const el = $(id);
  el.innerHTML = "";
  for (const v of list) { const o = document.createElement("option"); o.value = v; o.textContent = v; el.append(o); }
  el.value = value;
}
function syncControls() {
  fillSelect("function", names.function, state.function);
  fillSelect("start", choices("start").map(String), state.start);
  fillSelect("optimizer", names.optimizer, state.optimizer);
  for (const field of ["lr", "knob", "noise"]) {
    const list = choices(field), el = $(field);
    el.max = Math.max(list.length - 1, 0);
    el.value = Math.max(list.indexOf(state[field]), 0);
    $(field + "-out").textContent = state[field];
  }
  const knob = D.optimizers[state.optimizer].knob;
  $("knob-row").classList.toggle("off", !knob);
  $("knob-name").textContent = knob === "beta1" ? "beta1 (beta2 = " + D.adam_beta2 + ")" : knob || "";
}
function key() {
  return [state.function, state.start, state.optimizer, state.lr, state.knob, state.noise].join("|");
}
function path() {
  const [offset, n, reached, diverged] = D.index[key()];
  const xs = [], ys = [], fs = [];
  for (let i = offset; i < offset + 3 * n; i += 3) { xs.push(P[i]); ys.push(P[i + 1]); fs.push(P[i + 2]); }
  return { xs, ys, fs, reached, diverged };
}
function drawSurface(p) {
  const c = $("surface"), g = c.getContext("2d"), s = D.surfaces[state.function];
  const [[x0, x1], [y0, y1]] = s.domain, span = 10 * Math.max(x1 - x0, y1 - y0);
  const clip = (v) => Math.max(-span, Math.min(span, v));
  const px = (x) => ((clip(x) - x0) / (x1 - x0)) * c.width, py = (y) => (1 - (clip(y) - y0) / (y1 - y0)) * c.height;
  g.clearRect(0, 0, c.width, c.height);
  g.drawImage(images[state.function], 0, 0, c.width, c.height);
  g.strokeStyle = "#d62728"; g.fillStyle = "#d62728"; g.lineWidth = 2;
  g.beginPath();
  p.xs.forEach((x, i) => (i ? g.lineTo(px(x), py(p.ys[i])) : g.moveTo(px(x), py(p.ys[i]))));
  g.stroke();
  p.xs.forEach((x, i) => { g.beginPath(); g.arc(px(x), py(p.ys[i]), 2.2, 0, 2 * Math.PI); g.fill(); });
  g.fillStyle = "#000"; g.beginPath(); g.arc(px(p.xs[0]), py(p.ys[0]), 5, 0, 2 * Math.PI); g.fill();
  g.font = "12px system-ui, sans-serif"; g.fillStyle = "rgba(255, 255, 255, 0.85)";
  g.fillRect(0, c.height - 22, c.width, 22); g.fillStyle = "#333";
  g.fillText("x in [" + x0 + ", " + x1 + "], y in [" + y0 + ", " + y1 + "]   f = " + s.formula, 6, c.height - 6);
}
function drawLoss(p) {
  const c = $("loss"), g = c.getContext("2d"), fmin = D.surfaces[state.function].f_min;
  const logScale = fmin !== null;
  const ys = p.fs.map((f) => (logScale ? Math.log10(Math.max(f - fmin, 1e-16)) : f));
  const L = 58, R = 12, T = 26, B = 40, W = c.width - L - R, H = c.height - T - B;
  let lo = Math.min(...ys), hi = Math.max(...ys);
  if (hi - lo < 1e-9) { lo -= 1; hi += 1; }
  const px = (i) => L + (i / Math.max(D.steps, 1)) * W, py = (v) => T + (1 - (v - lo) / (hi - lo)) * H;
  g.clearRect(0, 0, c.width, c.height);
  g.strokeStyle = "#999"; g.lineWidth = 1; g.strokeRect(L, T, W, H);
  g.font = "12px system-ui, sans-serif"; g.fillStyle = "#333"; g.textAlign = "right";
  const decades = [];
  for (let e = Math.ceil(lo); logScale && e <= hi; e++) decades.push(e);
  const ticks = decades.length >= 2 ? decades.filter((e, i) => i % Math.ceil(decades.length / 6) === 0)
    : [0, 1, 2, 3, 4].map((k) => lo + ((hi - lo) * k) / 4);
  for (const v of ticks) {
    const label = logScale ? Math.pow(10, v).toExponential(decades.length >= 2 ? 0 : 1) : v.toPrecision(3);
    g.fillText(label, L - 4, py(v) + 4);
  }
  g.textAlign = "center";
  for (let k = 0; k <= 4; k++) g.fillText(String(Math.round((D.steps * k) / 4)), px((D.steps * k) / 4), T + H + 16);
  g.fillText("step", L + W / 2, T + H + 32);
  g.fillText(logScale ? "f - f* (log scale)" : "f", L + W / 2, 16);
  g.strokeStyle = "#d62728"; g.lineWidth = 2; g.beginPath();
  ys.forEach((v, i) => (i ? g.lineTo(px(i), py(v)) : g.moveTo(px(i), py(v))));
  g.stroke();
  if (p.reached !== null) {
    g.strokeStyle = "#1a7f37"; g.setLineDash([4, 3]); g.beginPath();
    g.moveTo(px(p.reached), T); g.lineTo(px(p.reached), T + H); g.stroke(); g.setLineDash([]);
  }
}
function describe(p) {
  const s = D.surfaces[state.function], n = p.xs.length - 1, last = (v) => v[v.length - 1];
  let verdict;
  if (s.f_min === null) verdict = "this surface has no minimum (it is unbounded below)";
  else if (p.reached !== null) verdict = "within " + D.tol + " of a global minimum at step <b>" + p.reached + "</b>";
  else verdict = "not within " + D.tol + " of a global minimum in " + D.steps + " steps";
  const end = p.diverged ? "diverged after step " + n : "ends at (" + last(p.xs).toPrecision(4) + ", " +
    last(p.ys).toPrecision(4) + "), f = " + last(p.fs).toPrecision(4);
  $("summary").innerHTML = D.optimizers[state.optimizer].class + ": " + verdict + "; " + end + ".";
  const knob = D.optimizers[state.optimizer].knob;
  const hyper = !knob ? "" : knob === "beta1" ? ", betas=(" + state.knob + ", " + D.adam_beta2 + ")"
    : ", " + knob + "=" + state.knob;
  $("code").textContent = "descent.lab.run(\"" + state.function + "\", \"" + state.optimizer + "\", lr=" + state.lr +
    ", steps=" + D.steps + ", start=(" + state.start + "), noise=" + state.noise + ", seed=" + D.seed + hyper + ")";
}
function render() {
  syncControls();
  const p = path();
  drawSurface(p); drawLoss(p); describe(p);
  const frag = "#" + fragment();
  if (location.hash !== frag) history.replaceState(null, "", frag);
  document.body.dataset.drawn = key();
}
function onControl(field) {
  const el = $(field);
  state[field] = el.tagName === "SELECT" ? el.value : choices(field)[+el.value];
  if (field === "function") state.start = choices("start")[0];
  if (field === "optimizer") state.knob = D.optimizers[state.optimizer].knob ? fallback("knob") : "";
  render();
}
for (const field of ["function", "start", "optimizer", "lr", "knob", "noise"]) {
  $(field).addEventListener($(field).tagName === "SELECT" ? "change" : "input", () => onControl(field));
}
window.addEventListener("hashchange", () => { readFragment(); render(); });
Promise.all(names.function.map((name) => {
  images[name] = new Image();
  images[name].src = D.surfaces[name].image;
  return images[name].decode();
})).then(() => { readFragment(); render(); });
"""

TEMPLATE = _HTML.replace("__SCRIPT__", _SCRIPT.strip())
TEMPLATE_BYTES = len(TEMPLATE.encode())


def render(data_json: str) -> str:
    """The page with ``data_json`` (already escaped for a ``<script>`` element) inside."""
    return TEMPLATE.replace("__DATA__", data_json)
