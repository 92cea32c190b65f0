"""The live dashboard: one self-contained HTML page (inline CSS, JS and SVG; nothing fetched from elsewhere).

It reads ``/api/state`` every few seconds (same origin, the browser's credentials) and shows the charge points,
the open sessions, the grid event with its target and baseline, and a chart of the metered load so far, the plan
ahead, the event's target and its baseline.  Each number it shows carries an ``id`` or ``data-`` attribute so
that a test can read the rendered DOM.
"""

from __future__ import annotations

__all__ = ["DASHBOARD_HTML"]

DASHBOARD_HTML = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>vgi live</title>
<link rel="icon" href="data:,">
<style>
 body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
 h1 { font-size: 1.3em; margin: 0 0 .3em; } h2 { font-size: 1.05em; margin: 1.2em 0 .4em; }
 table { border-collapse: collapse; } td, th { padding: .2em .7em; border-bottom: 1px solid #ddd; text-align: left; }
 td.num { text-align: right; font-variant-numeric: tabular-nums; }
 .cards { display: flex; gap: 1em; flex-wrap: wrap; }
 .card { border: 1px solid #ccc; border-radius: 6px; padding: .5em 1em; min-width: 9em; }
 .card b { display: block; font-size: 1.4em; }
 .muted { color: #777; } .on { color: #16803c; } .off { color: #b42318; }
 svg text { font-size: 11px; fill: #555; }
</style>
</head>
<body>
<h1>vgi live aggregator</h1>
<div class="muted">as of <span id="now">-</span>; <span id="status">loading</span>; this process
 <span id="process">-</span> (<span id="role">-</span>), the loop's leader <span id="leader">-</span></div>
<div class="cards">
 <div class="card">charge points connected<b><span id="cp-connected">-</span> / <span id="cp-count">-</span></b></div>
 <div class="card">open sessions<b id="session-count">-</b></div>
 <div class="card">energy so far, kWh<b id="energy-total">-</b></div>
 <div class="card">plan now, kW<b id="plan-now">-</b></div>
 <div class="card">metered last step, kW<b id="metered-last">-</b></div>
</div>
<h2>Grid event</h2>
<div id="event">no event</div>
<h2>Load, target and baseline (kW)</h2>
<svg id="chart" viewBox="0 0 900 260" style="width: 100%; max-width: 900px; height: auto" role="img"
 aria-label="load chart"></svg>
<div class="muted"><span style="color:#1f6feb">&#9632;</span> metered
 <span style="color:#8250df">&#9632;</span> plan
 <span style="color:#b42318">&#9632;</span> event target (limit)
 <span style="color:#9a6700">&#9632;</span> baseline</div>
<h2>Charge points</h2>
<table id="charge-points"><thead><tr><th>id</th><th>site</th><th>connection</th><th>status</th>
 <th>profile</th></tr></thead><tbody></tbody></table>
<h2>Open sessions</h2>
<table id="sessions"><thead><tr><th>charge point</th><th>EVSE</th><th>transaction</th><th>since</th>
 <th>departure</th><th>kWh so far</th></tr></thead><tbody></tbody></table>
<h2>Settlements</h2>
<table id="settlements"><thead><tr><th>event</th><th>programme</th><th>delivered kWh</th><th>payment</th>
 <th>penalty</th></tr></thead><tbody></tbody></table>
<script>
"use strict";
const fmt = (x, d = 2) => (x === null || x === undefined || Number.isNaN(x)) ? "-" : Number(x).toFixed(d);
const el = (tag, text, cls) => { const e = document.createElement(tag); e.textContent = text;
  if (cls) e.className = cls; return e; };
function rows(id, items, cells) {
  const body = document.querySelector("#" + id + " tbody");
  body.replaceChildren(...items.map(item => { const tr = document.createElement("tr");
    cells(item).forEach(([text, cls]) => tr.appendChild(el("td", text, cls))); return tr; }));
}
function series(points, x, y, color, dash) {
  const ok = points.filter(p => p[1] !== null && Number.isFinite(p[1]));
  if (!ok.length) return "";
  const d = ok.map((p, i) => (i ? "L" : "M") + x(p[0]).toFixed(1) + " " + y(p[1]).toFixed(1)).join(" ");
  return '<path d="' + d + '" fill="none" stroke="' + color + '" stroke-width="2"' +
    (dash ? ' stroke-dasharray="5 4"' : "") + "/>";
}
function steps(start, stepS, values) {  // step series as corner points
  const out = []; const t0 = Date.parse(start);
  values.forEach((v, i) => { out.push([t0 + i * stepS * 1000, v]); out.push([t0 + (i + 1) * stepS * 1000, v]); });
  return out;
}
function chart(s) {
  const lines = [];
  if (s.metered) lines.push([steps(s.metered.start, s.metered.step_s, s.metered.power_kw), "#1f6feb"]);
  if (s.plan) lines.push([steps(s.plan.grid_start_at, s.plan.step_s, s.plan.aggregate_kw), "#8250df", true]);
  if (s.event && s.event.target_kw) lines.push([steps(s.event.start, s.step_minutes * 60, s.event.target_kw),
                                                  "#b42318"]);
  if (s.event && s.event.baseline_kw) lines.push([steps(s.event.baseline_start, s.step_minutes * 60,
                                                          s.event.baseline_kw), "#9a6700", true]);
  const all = lines.flatMap(l => l[0]);
  const svg = document.getElementById("chart");
  if (!all.length) { svg.innerHTML = '<text x="10" y="20">nothing to draw yet</text>'; return; }
  const xs = all.map(p => p[0]), ys = all.map(p => p[1]).filter(Number.isFinite);
  const x0 = Math.min(...xs), x1 = Math.max(...xs), y0 = Math.min(0, ...ys), y1 = Math.max(1, ...ys) * 1.1;
  const x = t => 50 + (t - x0) / Math.max(x1 - x0, 1) * 830, y = v => 230 - (v - y0) / (y1 - y0) * 210;
  const now = Date.parse(s.now);
  let out = '<line x1="50" x2="880" y1="' + y(0) + '" y2="' + y(0) + '" stroke="#999"/>';
  out += '<text x="5" y="' + (y(y1) + 10) + '">' + fmt(y1, 1) + '</text><text x="5" y="' + y(0) + '">0</text>';
  if (now >= x0 && now <= x1) out += '<line x1="' + x(now) + '" x2="' + x(now) + '" y1="20" y2="230" stroke="#bbb"/>';
  out += '<text x="50" y="250">' + new Date(x0).toISOString().slice(0, 16) + 'Z</text>';
  out += '<text x="760" y="250">' + new Date(x1).toISOString().slice(0, 16) + 'Z</text>';
  lines.forEach(([pts, color, dash]) => { out += series(pts, x, y, color, dash); });
  svg.innerHTML = out;
}
function render(s) {
  document.getElementById("now").textContent = s.now;
  document.getElementById("process").textContent = s.process;
  document.getElementById("role").textContent = s.leader ? "leader" : "standing by";
  document.getElementById("leader").textContent = s.leader_process || "none";
  document.getElementById("cp-count").textContent = s.charge_points.length;
  document.getElementById("cp-connected").textContent = s.charge_points.filter(c => c.connected).length;
  document.getElementById("session-count").textContent = s.sessions.length;
  document.getElementById("energy-total").textContent = fmt(s.sessions.reduce((a, x) => a + x.energy_kwh, 0));
  document.getElementById("plan-now").textContent = s.plan ? fmt(s.plan.now_kw) : "-";
  const m = s.metered ? s.metered.power_kw.filter(Number.isFinite) : [];
  document.getElementById("metered-last").textContent = m.length ? fmt(m[m.length - 1]) : "-";
  rows("charge-points", s.charge_points, c => [[c.id], [c.site || ""], [c.connected ? "connected" : "offline",
       c.connected ? "on" : "off"], [c.statuses.map(x => x.evse_id + ": " + x.status).join(", ")],
       [c.profiles.map(x => x.evse_id + ": " + x.status).join(", ")]]);
  rows("sessions", s.sessions, x => [[x.charge_point_id], [String(x.evse_id)], [x.transaction_id], [x.started_at],
       [x.departure_at || "(assumed)"], [fmt(x.energy_kwh), "num"]]);
  rows("settlements", s.settlements, x => [[x.event_id], [x.programme_id], [fmt(x.delivered_kwh), "num"],
       [fmt(x.payment) + " " + (x.currency || ""), "num"], [fmt(x.penalty), "num"]]);
  const ev = document.getElementById("event");
  if (!s.event) { ev.textContent = "no event"; }
  else {
    const e = s.event;
    ev.innerHTML = "";
    ev.append(el("span", e.event_id, ""), " (" + e.event_type + ") ", el("span", e.start + " to " + (e.end || "open")),
      e.active ? el("b", " active", "off") : el("span", " upcoming", "muted"));
    const p = document.createElement("div");
    p.append("target (import limit) kW: ", Object.assign(el("b", fmt(e.target_now_kw)), {id: "event-target"}),
      "; baseline kW: ", Object.assign(el("b", fmt(e.baseline_now_kw)), {id: "event-baseline"}));
    ev.appendChild(p);
    ev.firstChild.id = "event-id";
  }
  chart(s);
  document.getElementById("status").textContent = "live";
}
async function refresh() {
  try {
    const r = await fetch("api/state", {credentials: "same-origin", cache: "no-store"});
    if (!r.ok) throw new Error("HTTP " + r.status);
    render(await r.json());
  } catch (err) { document.getElementById("status").textContent = "not updated: " + err.message; }
}
refresh();
setInterval(refresh, 5000);
</script>
</body>
</html>
"""
