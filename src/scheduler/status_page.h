// The /status page: one self-contained HTML document (CSS and plain JavaScript inline, no CDN,
// no external assets) that polls the JSON API every 500 ms. docs/dashboard.md describes it.
#pragma once

namespace tessera::scheduler::detail {

inline constexpr const char kStatusPage[] = R"HTML(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Tessera dashboard</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
  body { font: 13px/1.4 system-ui, sans-serif; margin: 0; background: #f6f7f9; color: #1d2330; }
  header { background: #1d2330; color: #fff; padding: 8px 16px; display: flex; gap: 24px;
           align-items: baseline; flex-wrap: wrap; }
  header h1 { font-size: 16px; margin: 0; }
  header .total b { font-size: 15px; }
  #conn { margin-left: auto; font-size: 12px; }
  #conn.down { color: #ff8a80; }
  main { padding: 12px 16px; display: grid; gap: 14px; }
  section { background: #fff; border: 1px solid #dde1e7; border-radius: 6px; padding: 10px 12px; }
  h2 { font-size: 13px; margin: 0 0 8px; text-transform: uppercase; letter-spacing: .05em;
       color: #5a6372; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: right; padding: 3px 8px; border-bottom: 1px solid #eef0f3;
           white-space: nowrap; }
  th:first-child, td:first-child, th:nth-child(2), td:nth-child(2) { text-align: left; }
  th { font-weight: 600; color: #5a6372; }
  .mem { display: inline-block; width: 80px; height: 8px; background: #eef0f3;
         vertical-align: middle; margin-right: 6px; }
  .mem > i { display: block; height: 100%; background: #4c9be8; }
  .group { display: grid; grid-template-columns: 220px 1fr 170px; gap: 8px; align-items: center;
           margin: 3px 0; }
  .group .name { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
  .bar { height: 14px; background: #eef0f3; border-radius: 3px; overflow: hidden;
         display: flex; }
  .bar > i { display: block; height: 100%; }
  .bar > i.done { background: #3fa66b; } .bar > i.proc { background: #f0b43c; }
  .bar > i.err { background: #d9534f; }
  .muted { color: #8a93a3; }
  canvas { width: 100%; height: 260px; display: block; }
</style>
</head>
<body>
<header>
  <h1>Tessera</h1>
  <span class="total">workers <b id="t-workers">-</b></span>
  <span class="total">threads <b id="t-threads">-</b></span>
  <span class="total">memory <b id="t-memory">-</b></span>
  <span class="total">processing <b id="t-processing">-</b></span>
  <span class="total">completed <b id="t-completed">-</b></span>
  <span class="total">erred <b id="t-erred">-</b></span>
  <span id="conn" class="muted">connecting</span>
</header>
<main>
<section>
  <h2>Workers</h2>
  <table id="workers">
    <thead><tr><th>Name</th><th>Address</th><th>Kind</th><th>Device</th><th>Threads</th>
      <th>Memory</th><th>Device memory</th><th>Spilled</th><th>Executing</th><th>Ready</th>
      <th>In memory</th><th>Last seen</th></tr></thead>
    <tbody></tbody>
  </table>
</section>
<section>
  <h2>Workers over time <span class="muted">(solid: connected, dashed: recommended; last 15
    minutes) &middot; <span id="desired"></span></span></h2>
  <canvas id="scaling" width="1200" height="120"></canvas>
</section>
<section>
  <h2>Progress</h2>
  <div id="groups"><span class="muted">no tasks yet</span></div>
</section>
<section>
  <h2>Task stream <span class="muted">(last minute, one lane per worker thread)</span></h2>
  <canvas id="stream" width="1200" height="260"></canvas>
</section>
</main>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
function bytes(n) {
  if (!n) return "0 B";
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + " " + u[i];
}
function esc(s) {
  return String(s).replace(/[&<>"]/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;",
                                                 '"': "&quot;"}[c]));
}
function color(name) {
  let h = 0;
  for (const c of name.replace(/-[0-9a-f]+$/, "")) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return "hsl(" + (h % 360) + ",60%,52%)";
}
function memCell(used, limit) {
  if (!limit) return used ? bytes(used) : "-";
  const pct = Math.min(100, 100 * used / limit);
  return '<span class="mem"><i style="width:' + pct.toFixed(1) + '%"></i></span>' +
         bytes(used) + " / " + bytes(limit);
}
let events = [];
let since = 0;
let serverNow = 0;
function renderInfo(info) {
  $("t-workers").textContent = info.workers;
  $("t-threads").textContent = info.threads;
  $("t-memory").textContent = bytes(info.memory_used) + " / " + bytes(info.memory_limit);
  $("t-processing").textContent = info.tasks.processing;
  $("t-completed").textContent = info.tasks_completed_total;
  $("t-erred").textContent = info.tasks_erred_total;
}
function renderWorkers(doc) {
  const rows = doc.workers.map((w) => "<tr data-worker=\"" + esc(w.name) + "\"><td>" +
      esc(w.name) + (w.paused ? " <span class=\"muted\">(paused)</span>" : "") + "</td><td>" +
      esc(w.address) + "</td><td>" + esc(w.kind) + "</td><td>" +
      (w.device ? esc(w.device) : "-") + "</td><td>" + w.nthreads + "</td><td>" +
      memCell(w.memory_used, w.memory_limit) + "</td><td>" +
      memCell(w.device_memory_used, w.device_memory_limit) + "</td><td>" +
      bytes(w.spilled_bytes) + "</td><td>" + w.tasks_executing + "</td><td>" + w.tasks_ready +
      "</td><td>" + w.tasks_in_memory + "</td><td>" + w.last_seen_ago.toFixed(1) + " s ago</td></tr>");
  document.querySelector("#workers tbody").innerHTML =
      rows.join("") || '<tr><td class="muted" colspan="12">no workers</td></tr>';
}
function renderGroups(doc) {
  if (!doc.groups.length) return;
  $("groups").innerHTML = doc.groups.slice(-40).map((g) => {
    const t = Math.max(1, g.total);
    const done = 100 * g.done / t, proc = 100 * g.states.processing / t, err = 100 * g.erred / t;
    const pct = Math.floor(done);
    return '<div class="group" data-group="' + esc(g.name) + '" data-percent="' + pct +
        '"><span class="name" title="' + esc(g.name) + '"><i style="color:' + color(g.name) +
        '">&#9632;</i> ' + esc(g.name) + '</span><span class="bar"><i class="done" style="width:' +
        done + '%"></i><i class="proc" style="width:' + proc + '%"></i><i class="err" style="width:' +
        err + '%"></i></span><span>' + pct + "% &middot; " + g.done + "/" + g.total +
        (g.erred ? ' &middot; <b style="color:#d9534f">' + g.erred + " erred</b>" : "") +
        "</span></div>";
  }).join("");
}
function renderStream() {
  const canvas = $("stream");
  const w = canvas.clientWidth || 1200, h = canvas.clientHeight || 260;
  if (canvas.width !== w) canvas.width = w;
  if (canvas.height !== h) canvas.height = h;
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, w, h);
  const now = serverNow || Date.now() / 1000, left = now - 60;
  events = events.filter((e) => e.stop >= left);
  const lanes = [...new Set(events.map((e) => e.worker + " #" + e.thread))].sort();
  const label = 110, laneH = Math.max(4, Math.min(24, (h - 16) / Math.max(1, lanes.length)));
  const x = (t) => label + (w - label) * (t - left) / 60;
  ctx.font = "11px system-ui, sans-serif";
  ctx.fillStyle = "#8a93a3";
  for (let s = 0; s <= 60; s += 10) ctx.fillText("-" + (60 - s) + "s", x(left + s) - 10, h - 2);
  lanes.forEach((lane, i) => {
    ctx.fillStyle = "#5a6372";
    ctx.fillText(lane, 2, i * laneH + laneH * 0.7);
  });
  const index = new Map(lanes.map((l, i) => [l, i]));
  for (const e of events) {
    const i = index.get(e.worker + " #" + e.thread);
    ctx.fillStyle = e.status === "erred" ? "#d9534f" : color(e.group);
    const x0 = x(Math.max(left, e.start));
    ctx.fillRect(x0, i * laneH + 1, Math.max(1, x(e.stop) - x0), laneH - 2);
  }
}
function renderScaling(doc) {
  const d = doc.desired_workers || {};
  $("desired").textContent = Object.keys(d).map((k) => k + ": " + d[k].workers + " of " +
      d[k].desired + " recommended").join(", ") + " \u00b7 " + doc.scale_events_total +
      " scale events";
  const canvas = $("scaling");
  const w = canvas.clientWidth || 1200, h = canvas.clientHeight || 120;
  if (canvas.width !== w) canvas.width = w;
  if (canvas.height !== h) canvas.height = h;
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, w, h);
  const pts = doc.history || [];
  if (!pts.length) return;
  const kinds = [...new Set(pts.flatMap((p) => Object.keys(p.workers).concat(Object.keys(p.desired))))];
  let top = 1;
  for (const p of pts) for (const k of kinds) top = Math.max(top, p.workers[k] || 0, p.desired[k] || 0);
  const left = doc.now - 900, label = 40;
  const x = (t) => label + (w - label) * (t - left) / 900;
  const y = (n) => h - 14 - (h - 24) * n / top;
  ctx.font = "11px system-ui, sans-serif";
  ctx.fillStyle = "#8a93a3";
  ctx.fillText(String(top), 2, y(top) + 4);
  ctx.fillText("0", 2, y(0) + 4);
  for (let m = 0; m <= 15; m += 5) ctx.fillText("-" + (15 - m) + "m", x(left + 60 * m) - 10, h - 2);
  kinds.forEach((k) => {
    for (const [field, dash] of [["workers", []], ["desired", [4, 3]]]) {
      ctx.strokeStyle = k === "cuda" ? "#76b900" : "#3b7dd8";
      ctx.setLineDash(dash);
      ctx.beginPath();
      pts.forEach((p, i) => {
        const v = p[field][k] || 0;
        if (i === 0) ctx.moveTo(x(p.time), y(v)); else ctx.lineTo(x(p.time), y(v));
      });
      ctx.stroke();
    }
  });
  ctx.setLineDash([]);
}
async function get(path) {
  const r = await fetch(path, {cache: "no-store"});
  if (!r.ok) throw new Error(path + ": " + r.status);
  return r.json();
}
async function tick() {
  try {
    const [info, workers, tasks, stream, scaling] = await Promise.all([
      get("api/v1/info"), get("api/v1/workers"), get("api/v1/tasks"),
      get("api/v1/task-stream?since=" + (since || Math.max(0, Date.now() / 1000 - 60))),
      get("api/v1/scaling")]);
    serverNow = stream.now;
    since = stream.now - 2;  // a little overlap for late batches; duplicates are dropped below
    const seen = new Set(events.map((e) => e.key + "@" + e.stop));
    for (const e of stream.events) if (!seen.has(e.key + "@" + e.stop)) events.push(e);
    renderInfo(info);
    renderWorkers(workers);
    renderGroups(tasks);
    renderStream();
    renderScaling(scaling);
    $("conn").textContent = "live \u00b7 " + info.id;
    $("conn").className = "muted";
  } catch (err) {
    $("conn").textContent = "scheduler unreachable";
    $("conn").className = "down";
  }
  setTimeout(tick, 500);
}
tick();
</script>
</body>
</html>
)HTML";

}  // namespace tessera::scheduler::detail
