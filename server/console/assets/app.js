// The mqflux console: three views over the server's JSON endpoints, kept
// live by /v1/stream. Hash routes keep it one page with no server routing:
// #/ (fleet), #/device/NAME, #/pipeline, #/journal.
import uPlot from "./vendor/uplot/uPlot.esm.js";
import { el, ago, withUnit, getJSON } from "./util.js";
import { pipelineCharts } from "./pipelinecharts.js";

const main = document.getElementById("main");
const live = document.getElementById("live");
const state = { devices: new Map(), alerts: [], sort: "device", dir: 1, filter: "", stateFilter: "", listeners: new Set(), notice: "" };
let timer = null;
let cleanup = () => {};

// One stream for every view: readings update the fleet and the charts.
function connect() {
  const es = new EventSource("v1/stream");
  es.addEventListener("open", () => { live.textContent = "live"; });
  es.addEventListener("error", () => { live.textContent = "reconnecting…"; });
  es.addEventListener("reading", (ev) => {
    const r = JSON.parse(ev.data);
    let d = state.devices.get(r.device);
    if (!d) {
      d = { device: r.device, state: "online", firing: [], latest: {} };
      state.devices.set(r.device, d);
    }
    d.latest[r.measurement] = { time: r.time, fields: r.fields };
    d.last_seen = r.received;
    d.state = "online";
    for (const f of state.listeners) f(r);
  });
}

async function refreshFleet() {
  const [devs, alerts] = await Promise.all([getJSON("v1/devices"), getJSON("v1/alerts")]);
  state.devices = new Map(devs.devices.map((d) => [d.device, d]));
  state.alerts = alerts.active;
}

function every(ms, fn) {
  clearInterval(timer);
  const run = () => fn().catch((e) => { live.textContent = "error: " + e.message; });
  run();
  timer = setInterval(run, ms);
}

function fleetView() {
  const notice = state.notice;
  state.notice = "";
  main.replaceChildren(
    el("h1", {}, "Fleet"),
    notice ? el("p", { id: "notice", role: "status" }, notice) : null,
    el("div", { class: "toolbar" },
      el("label", {}, "Filter ", el("input", { id: "filter", type: "search", value: state.filter, placeholder: "device or value",
        oninput: (e) => { state.filter = e.target.value; draw(); } })),
      el("label", {}, "State ", el("select", { id: "state-filter", onchange: (e) => { state.stateFilter = e.target.value; draw(); } },
        ...["", "online", "silent", "offline"].map((s) => el("option", { value: s, selected: s === state.stateFilter }, s || "all"))))),
    el("table", { id: "fleet" },
      el("thead", {}, el("tr", {}, ...[["device", "Device"], ["state", "State"], ["last_seen", "Last seen"], ["", "Latest values"], ["alerts", "Alerts"]]
        .map(([k, label]) => el("th", { scope: "col" }, k ? el("button", { onclick: () => sortBy(k) }, label) : label)))),
      el("tbody", {})));
  const draw = () => drawFleet(main.querySelector("#fleet tbody"));
  const onReading = () => draw();
  state.listeners.add(onReading);
  cleanup = () => state.listeners.delete(onReading);
  every(5000, async () => { await refreshFleet(); draw(); });
}

function sortBy(k) {
  state.dir = state.sort === k ? -state.dir : 1;
  state.sort = k;
  drawFleet(main.querySelector("#fleet tbody"));
}

function valuesOf(d) {
  const out = [];
  for (const [m, l] of Object.entries(d.latest || {}).sort()) {
    for (const [f, v] of Object.entries(l.fields || {}).sort()) out.push([m, f, v]);
  }
  return out;
}

function drawFleet(tbody) {
  const q = state.filter.toLowerCase();
  const alertsOf = (name) => state.alerts.filter((a) => a.device === name).map((a) => a.rule);
  let rows = [...state.devices.values()].filter((d) =>
    (!state.stateFilter || d.state === state.stateFilter) &&
    (!q || (d.device + " " + valuesOf(d).map((x) => x.join(" ")).join(" ")).toLowerCase().includes(q)));
  const key = { device: (d) => d.device, state: (d) => d.state, last_seen: (d) => d.last_seen || "", alerts: (d) => alertsOf(d.device).length }[state.sort];
  rows.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0) * state.dir);
  tbody.replaceChildren(...rows.map((d) => el("tr", { "data-device": d.device },
    el("td", { "data-label": "Device" }, el("a", { href: "#/device/" + encodeURIComponent(d.device) }, d.device)),
    el("td", { "data-label": "State", class: "state state-" + d.state }, d.state),
    el("td", { "data-label": "Last seen", title: d.last_seen || "" }, d.last_seen ? ago(d.last_seen) : "never"),
    el("td", { "data-label": "Latest", class: "values" }, ...valuesOf(d).map(([m, f, v]) =>
      el("span", { "data-field": m + "." + f }, el("span", { class: "muted" }, (f === "value" ? m : m + "." + f) + " "), withUnit(m, f, v)))),
    el("td", { "data-label": "Alerts", class: "alert" }, alertsOf(d.device).join(", ")))));
  if (!rows.length) tbody.replaceChildren(el("tr", {}, el("td", { colspan: 5, class: "muted" }, "No devices yet: publish a reading.")));
}

// The ranges a device's charts offer: name (as /v1/history takes it),
// label, seconds.
const ranges = [["15m", "last 15 minutes", 900], ["1h", "last hour", 3600], ["6h", "last 6 hours", 21600],
  ["24h", "last day", 86400], ["7d", "last week", 604800], ["30d", "last 30 days", 2592000]];

async function deviceView(name) {
  let range = "1h";
  main.replaceChildren(el("p", {}, el("a", { href: "#/" }, "← Fleet")), el("h1", {}, name),
    el("div", { class: "toolbar" }, el("label", {}, "Range ", el("select", { id: "range", onchange: (e) => { range = e.target.value; draw(); } },
      ...ranges.map(([r, label]) => el("option", { value: r, selected: r === range }, label))))),
    el("p", { id: "device-state", class: "muted" }),
    el("div", { id: "charts" }),
    forgetPanel(name));
  const charts = new Map(); // "measurement.field" -> chart (see chartOf)
  let drawing = null;
  const onReading = (r) => {
    if (r.device !== name) return;
    for (const [f, v] of Object.entries(r.fields)) {
      if (typeof v !== "number") continue;
      const c = charts.get(r.measurement + "." + f);
      // A field with no chart yet (or an empty one) gets one from the server.
      if (!c || c.empty) { if (!drawing) draw(); return; }
      c.add(Date.parse(r.time), v);
    }
  };
  state.listeners.add(onReading);
  const ro = new ResizeObserver(() => { for (const c of charts.values()) c.resize(); });
  cleanup = () => { state.listeners.delete(onReading); ro.disconnect(); for (const c of charts.values()) c.destroy(); };
  function draw() {
    drawing = (drawing || Promise.resolve()).then(redraw).finally(() => { drawing = null; });
    return drawing;
  }
  async function redraw() {
    const devs = await getJSON("v1/devices?device=" + encodeURIComponent(name.replace(/[*?[\\]/g, "\\$&")));
    const d = devs.devices.find((x) => x.device === name);
    main.querySelector("#device-state").textContent = d ? `${d.state}, last seen ${ago(d.last_seen)}` : "unknown device";
    const box = main.querySelector("#charts");
    const secs = ranges.find(([r]) => r === range)[2];
    const fields = (d ? valuesOf(d) : []).filter(([, , v]) => typeof v === "number");
    const answers = await Promise.all(fields.map(([m, f]) =>
      getJSON(`v1/history?device=${encodeURIComponent(name)}&measurement=${encodeURIComponent(m)}&field=${encodeURIComponent(f)}&range=${range}`)));
    for (const c of charts.values()) c.destroy();
    charts.clear();
    box.replaceChildren();
    fields.forEach(([m, f], i) => {
      const c = chartOf(box, m, f, answers[i], secs);
      charts.set(m + "." + f, c);
      if (!c.empty) ro.observe(c.div);
    });
    if (!charts.size) box.append(el("p", { class: "muted" }, "No numeric readings to chart."));
  }
  clearInterval(timer);
  await draw();
}

const fmtTime = (ms) => new Date(ms).toLocaleString();

// chartOf draws one field's answer from /v1/history into box: a chart
// whose time axis starts at the device's first reading when that falls
// inside the range (the whole range otherwise), at least a minute wide,
// points drawn as dots where they are few, the range's min, mean, max and
// last under it; or, for an empty range, when the last reading was.
function chartOf(box, m, f, h, secs) {
  const key = m + "." + f;
  const div = el("div", { class: "chart", "data-series": key, "data-points": String(h.points.length), "data-raw": String(h.raw) });
  box.append(el("h2", {}, key), div);
  const chart = { div, empty: !h.points.length, resize() {}, destroy() {}, add() {} };
  if (chart.empty) {
    div.classList.add("empty");
    div.append(el("p", { class: "no-readings muted" }, "no readings in this range",
      h.last ? `; the last one ${ago(new Date(h.last[0]).toISOString())} (${fmtTime(h.last[0])}): ${withUnit(m, f, h.last[1])}` : "; none ever"));
    return chart;
  }
  const first = h.first ? h.first[0] / 1000 : null;
  const xRange = () => {
    const data = plot ? plot.data[0] : [];
    const to = Math.max(Date.now() / 1000, data.length ? data[data.length - 1] : 0);
    let from = to - secs;
    if (first !== null && first > from) {
      from = first;
      // A little room so that the first point is not cut by the edge.
      from -= Math.max(to - from, 60) * 0.02;
    }
    if (to - from < 60) from = to - 60; // a single fresh reading: a minute, not a zero-wide axis
    return [from, to];
  };
  const yRange = (u, min, max) => {
    if (min === null || max === null) return [0, 1];
    const pad = min === max ? Math.abs(min) * 0.1 || 1 : (max - min) * 0.1;
    return [min - pad, max + pad];
  };
  const size = () => ({ width: Math.max(div.clientWidth - 16, 200), height: 220 });
  const data = [h.points.map((p) => p[0] / 1000), h.points.map((p) => p[1])];
  const grid = { stroke: "rgba(128,128,128,.2)" };
  let plot = null;
  plot = new uPlot({
    ...size(),
    scales: { x: { time: true, range: xRange }, y: { range: yRange } },
    series: [{ label: "time", value: "{YYYY}-{MM}-{DD} {HH}:{mm}:{ss}" },
      { label: withUnit(m, f, null), stroke: "#3b82f6", width: 2, value: (u, v) => (v === null ? "–" : withUnit(m, f, v)),
        points: { show: (u, si, i0, i1) => i1 - i0 < 120, size: 6, fill: "#3b82f6" } }],
    axes: [{ stroke: "currentColor", grid }, { stroke: "currentColor", grid }],
    hooks: { setScale: [(u, k) => { if (k === "x") { div.dataset.xMin = String(Math.round(u.scales.x.min * 1000)); div.dataset.xMax = String(Math.round(u.scales.x.max * 1000)); } }] },
  }, data, div);
  const st = { ...h.stats };
  const statsEl = el("dl", { class: "stats", "data-stats": key });
  const drawStats = () => statsEl.replaceChildren(
    ...[["min", st.min], ["mean", st.mean], ["max", st.max], ["last", st.last[1]]].map(([k, v]) =>
      el("div", { "data-stat": k }, el("dt", {}, k), el("dd", { title: k === "last" ? fmtTime(st.last[0]) : "" }, withUnit(m, f, v)))),
    el("div", { "data-stat": "count" }, el("dt", {}, h.raw ? "readings" : "readings (means per " + h.interval + " drawn)"), el("dd", {}, String(st.count))));
  drawStats();
  div.after(statsEl);
  chart.plot = plot;
  chart.resize = () => plot.setSize(size());
  chart.destroy = () => plot.destroy();
  chart.add = (ms, v) => {
    data[0].push(ms / 1000);
    data[1].push(v);
    plot.setData(data);
    div.dataset.points = String(data[0].length);
    st.count++;
    st.min = Math.min(st.min, v);
    st.max = Math.max(st.max, v);
    st.mean += (v - st.mean) / st.count;
    if (ms >= st.last[0]) st.last = [ms, v];
    drawStats();
  };
  return chart;
}

// forgetPanel is the device view's Forget button: a first confirmation,
// and a second one when its data is to be deleted too. The server decides
// who may (an admin beyond loopback) and says why not.
function forgetPanel(name) {
  const box = el("section", { id: "forget", class: "forget", "aria-label": "Forget this device" });
  const cancel = () => el("button", { id: "forget-cancel", type: "button", onclick: start }, "Cancel");
  const start = () => box.replaceChildren(
    el("button", { id: "forget-start", type: "button", class: "danger" }, "Forget this device…"));
  const first = () => {
    const withData = el("input", { type: "checkbox", id: "forget-data" });
    box.replaceChildren(
      el("p", {}, `Forget ${name}? It leaves the fleet and the latest readings, and its firing alerts resolve (reason "forgotten"). If it publishes again it comes back as a new device.`),
      el("p", {}, el("label", {}, withData, " also delete its data (every reading stored in the first output)")),
      el("button", { id: "forget-confirm", type: "button", class: "danger", onclick: () => (withData.checked ? second() : send(false)) }, "Forget"),
      " ", cancel());
  };
  const second = () => box.replaceChildren(
    el("p", { class: "alert" }, `Delete every stored reading of ${name} for good? This cannot be undone.`),
    el("button", { id: "forget-data-confirm", type: "button", class: "danger", onclick: () => send(true) }, "Delete its data and forget it"),
    " ", cancel());
  const send = async (data) => {
    box.replaceChildren(el("p", { role: "status" }, "Forgetting…"));
    const r = await fetch(`v1/devices/${encodeURIComponent(name)}${data ? "?data=true" : ""}`, { method: "DELETE", credentials: "same-origin" });
    const body = await r.json().catch(() => ({}));
    if (r.status === 401) { location.href = "login"; return; }
    if (!r.ok) {
      box.replaceChildren(el("p", { id: "forget-error", class: "alert", role: "alert" }, `Not forgotten: ${body.error || r.status}`), cancel());
      return;
    }
    state.devices.delete(name);
    state.notice = `${name} forgotten` + (body.data_deleted ? ", its data deleted" : "") +
      (body.resolved && body.resolved.length ? `; resolved: ${body.resolved.join(", ")}` : "");
    location.hash = "#/";
  };
  box.addEventListener("click", (e) => { if (e.target.id === "forget-start") first(); });
  start();
  return box;
}

// journalView pages through the log lines devices publish (GET /v1/logs),
// newest first, filtered by device, unit, level and message text.
function journalView() {
  const f = { device: "", unit: "", level: "", message: "", since: "24h" };
  const spans = [["15m", 900], ["1h", 3600], ["6h", 21600], ["24h", 86400], ["7d", 604800], ["30d", 2592000]];
  const input = (k, label) => el("label", {}, label + " ", el("input", { id: "journal-" + k, type: "search",
    oninput: (e) => { f[k] = e.target.value; schedule(); } }));
  const tbody = el("tbody", {});
  const more = el("button", { id: "journal-older", type: "button", hidden: true }, "Older lines");
  const status = el("p", { id: "journal-status", class: "muted", role: "status" });
  main.replaceChildren(el("h1", {}, "Journal"),
    el("div", { class: "toolbar" }, input("device", "Device"), input("unit", "Unit"), input("level", "Level"), input("message", "Message"),
      el("label", {}, "Since ", el("select", { id: "journal-since", onchange: (e) => { f.since = e.target.value; load(); } },
        ...spans.map(([s]) => el("option", { value: s, selected: s === f.since }, s))))),
    el("table", { id: "journal" }, el("thead", {}, el("tr", {}, ...["Time", "Device", "Unit", "Level", "Message"].map((h) => el("th", { scope: "col" }, h)))), tbody),
    more, status);
  let next = "", seq = 0, wait = null;
  const schedule = () => { clearTimeout(wait); wait = setTimeout(load, 300); };
  const query = (cursor) => {
    const q = new URLSearchParams({ limit: "100", from: new Date(Date.now() - spans.find(([s]) => s === f.since)[1] * 1000).toISOString() });
    for (const k of ["device", "unit", "level", "message"]) if (f[k]) q.set(k, f[k]);
    if (cursor) q.set("cursor", cursor);
    return "v1/logs?" + q;
  };
  const rows = (entries) => entries.map((e) => el("tr", { class: "level-" + (e.level || "") },
    el("td", { "data-label": "Time", title: e.time }, fmtTime(Date.parse(e.time))), el("td", { "data-label": "Device" }, e.device),
    el("td", { "data-label": "Unit" }, (e.unit || "") + (e.pid ? `[${e.pid}]` : "")), el("td", { "data-label": "Level" }, e.level || ""),
    el("td", { "data-label": "Message" }, el("pre", {}, e.message))));
  async function load(cursor = "") {
    const mine = ++seq;
    let p;
    try { p = await getJSON(query(cursor)); } catch (e) { status.textContent = "error: " + e.message; return; }
    if (mine !== seq) return; // a newer filter's answer wins
    if (!cursor) tbody.replaceChildren();
    tbody.append(...rows(p.entries));
    next = p.next || "";
    more.hidden = !next;
    status.textContent = tbody.children.length ? `${tbody.children.length} lines` : "No log lines match.";
  }
  more.addEventListener("click", () => load(next));
  cleanup = () => { clearTimeout(wait); seq++; };
  load();
}

function pipelineView() {
  main.replaceChildren(el("h1", {}, "Pipeline"), el("div", { class: "cards", id: "cards" }),
    el("h2", {}, "Last 15 minutes"), el("div", { class: "minicharts", id: "pipeline-charts" }),
    el("h2", {}, "Outputs"), el("table", { id: "outputs" }),
    el("h2", {}, "Rejected readings by reason"), el("table", { id: "rejected" }),
    el("h2", {}, "Recent dead letters"), el("table", { id: "dead" }));
  let prev = null;
  const card = (label, value, cls = "") => el("div", { class: "card" }, el("div", { class: "muted" }, label), el("div", { class: "big " + cls }, value));
  const charts = pipelineCharts(main.querySelector("#pipeline-charts"));
  cleanup = () => charts.destroy();
  every(2000, async () => {
    const [p, h] = await Promise.all([getJSON("v1/pipeline"), getJSON("v1/pipeline/history")]);
    charts.update(h);
    const dt = prev ? (Date.parse(p.time) - Date.parse(prev.time)) / 1000 : 0;
    const rate = (k) => (prev && dt > 0 ? ((p[k] - prev[k]) / dt).toFixed(1) : "…");
    const retries = Object.entries(p.influx.retries).map(([k, v]) => `${k}: ${v}`).join(", ");
    main.querySelector("#cards").replaceChildren(
      card("Readings in / s", rate("received")), card("Written / s", rate("written")),
      card("Spool", `${p.spool.records} readings`), card("Oldest in the spool", p.spool.records ? `${p.spool.oldest_age_seconds.toFixed(1)} s` : "empty"), card("Spool on disk", `${(p.spool.bytes / 1024).toFixed(0)} KiB`),
      card("InfluxDB", p.influx.up ? "up" : "down", p.influx.up ? "state-online" : "state-offline"),
      card("InfluxDB failed attempts", retries || "none"),
      card("InfluxDB last error", p.influx.last_error ? `${p.influx.last_error} (${ago(p.influx.last_error_at)})` : "none"),
      ...mqttCards(p, prev, dt, card));
    main.querySelector("#outputs").replaceChildren(...outputsTable(p, prev, dt));
    const rej = Object.entries(p.rejected);
    main.querySelector("#rejected").replaceChildren(el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Reason"), el("th", { scope: "col" }, "Readings"))),
      el("tbody", {}, ...(rej.length ? rej.map(([k, v]) => el("tr", {}, el("td", { "data-label": "Reason" }, k), el("td", { "data-label": "Readings" }, String(v))))
        : [el("tr", {}, el("td", { colspan: 2, class: "muted" }, "None since start."))])));
    main.querySelector("#dead").replaceChildren(el("thead", {}, el("tr", {}, ...["When", "Source", "Device", "Reason", "Payload"].map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, ...(p.dead_letters.length ? p.dead_letters.map((d) => el("tr", {},
        el("td", { "data-label": "When", title: d.time }, ago(d.time)), el("td", { "data-label": "Source" }, d.source),
        el("td", { "data-label": "Device" }, d.device || ""), el("td", { "data-label": "Reason" }, d.reason + (d.detail ? ": " + d.detail : "")),
        el("td", { "data-label": "Payload" }, el("pre", {}, d.payload))))
        : [el("tr", {}, el("td", { colspan: 5, class: "muted" }, "No dead letters."))])));
    prev = p;
  });
}

// mqttCards show the embedded broker's numbers (none for mqflux bridge);
// rates come from two answers dt apart.
function mqttCards(p, prev, dt, card) {
  const m = p.mqtt;
  if (!m) return [];
  const rate = (k) => (prev && prev.mqtt && dt > 0 ? ((m[k] - prev.mqtt[k]) / dt).toFixed(1) : "…");
  const sum = (o) => Object.values(o || {}).reduce((a, b) => a + b, 0);
  return [card("MQTT clients", String(m.clients_connected)), card("Subscriptions", String(m.subscriptions)),
    card("MQTT in / s", rate("messages_received")), card("MQTT out / s", rate("messages_sent")),
    card("Deliveries dropped", String(sum(m.dropped))), card("Publishes pushed back", String(sum(m.publish_refused))),
    card("Retained", `${m.retained} (${(m.retained_bytes / 1024).toFixed(0)} KiB)`)];
}

// outputsTable shows each output with its state, how far it is behind
// the spool and what it skipped; rates come from two answers dt apart.
function outputsTable(p, prev, dt) {
  const cols = ["Output", "Kind", "Target", "State", "Behind", "Oldest behind", "Skipped", "Written / s", "Last error"];
  const before = (name) => prev && (prev.outputs || []).find((o) => o.name === name);
  const rows = (p.outputs || []).map((o) => {
    const b = before(o.name);
    const rate = b && dt > 0 ? ((o.written - b.written) / dt).toFixed(1) : "…";
    const state = (o.up ? "up" : "down") + (o.required ? "" : " (optional)");
    return el("tr", { "data-output": o.name, "data-up": String(o.up) },
      el("td", { "data-label": "Output" }, o.name), el("td", { "data-label": "Kind" }, o.kind),
      el("td", { "data-label": "Target", "data-field": "target" }, describeOutput(o)),
      el("td", { "data-label": "State", class: o.up ? "state-online" : "state-offline" }, state),
      el("td", { "data-label": "Behind", "data-field": "lag" }, `${o.lag_records} readings, ${(o.lag_bytes / 1024).toFixed(0)} KiB`),
      el("td", { "data-label": "Oldest behind" }, o.lag_records ? `${o.lag_seconds.toFixed(1)} s` : "up to date"),
      el("td", { "data-label": "Skipped", "data-field": "skipped" }, String(o.skipped)),
      el("td", { "data-label": "Written / s" }, rate),
      el("td", { "data-label": "Last error" }, o.last_error ? `${o.last_error} (${ago(o.last_error_at)})` : "none"));
  });
  return [el("thead", {}, el("tr", {}, ...cols.map((h) => el("th", { scope: "col" }, h)))), el("tbody", {}, ...rows)];
}

// describeOutput prints what an output's kind says of it: its target and
// its details (api, bucket, ...), whatever the kind.
function describeOutput(o) {
  const details = Object.entries(o.details || {}).sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k} ${v}`);
  return [o.target || "", ...details].filter((s) => s).join(" · ");
}

function route() {
  cleanup();
  cleanup = () => {};
  clearInterval(timer);
  const h = location.hash.slice(1) || "/";
  const view = h.startsWith("/device/") ? "fleet" : h === "/pipeline" ? "pipeline" : h === "/journal" ? "journal" : "fleet";
  for (const a of document.querySelectorAll("nav a")) {
    if (a.dataset.view === view && !h.startsWith("/device/")) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  if (h.startsWith("/device/")) deviceView(decodeURIComponent(h.slice(8))).catch((e) => { live.textContent = "error: " + e.message; });
  else if (h === "/pipeline") pipelineView();
  else if (h === "/journal") journalView();
  else fleetView();
  main.focus({ preventScroll: true });
}

async function session() {
  const s = await getJSON("v1/session");
  if (s.open) return;
  const f = document.getElementById("logout");
  f.hidden = false;
  f.elements.csrf.value = s.csrf;
  f.querySelector(".user").textContent = "(" + s.user + ")";
}

window.addEventListener("hashchange", route);
session().catch(() => {});
connect();
route();
