// The pipeline view's charts: the last 15 minutes of readings in per
// second, readings written per second by each output, and the spool's
// depth, from GET /v1/pipeline/history (a sample a second, kept by the
// server). Drawn like the device view's charts, smaller.
import uPlot from "./vendor/uplot/uPlot.esm.js";
import { el } from "./util.js";

// Colours of the series: the device charts' blue first, then one per
// further output.
const colors = ["#3b82f6", "#10b981", "#f59e0b", "#ef4444", "#8b5cf6", "#06b6d4"];
const grid = { stroke: "rgba(128,128,128,.2)" };

// pipelineCharts draws into box and returns the charts' handle: update
// with an answer of /v1/pipeline/history, resize, destroy.
export function pipelineCharts(box) {
  const defs = [
    { key: "received", title: "Readings in / s", series: () => [["in / s", (h) => h.received]] },
    { key: "written", title: "Written / s", series: (h) => h.outputs.map((o, i) => [o.name, (x) => x.outputs[i].written]) },
    { key: "spool", title: "Spool (readings)", series: () => [["spool", (h) => h.spool_records]] },
  ];
  const charts = defs.map((d) => ({ ...d, div: el("div", { class: "chart mini", "data-series": "pipeline-" + d.key, "data-points": "0" }), plot: null }));
  box.replaceChildren(...charts.map((c) => el("figure", { class: "minichart" }, el("figcaption", {}, c.title), c.div)));
  const ro = new ResizeObserver(() => { for (const c of charts) if (c.plot) c.plot.setSize(size(c.div)); });
  for (const c of charts) ro.observe(c.div);
  let destroyed = false;
  return {
    // An answer that arrives after the view was left draws nothing.
    update(h) {
      if (!destroyed) for (const c of charts) draw(c, h);
    },
    destroy() {
      destroyed = true;
      ro.disconnect();
      for (const c of charts) if (c.plot) c.plot.destroy();
    },
  };
}

const size = (div) => ({ width: Math.max(div.clientWidth - 16, 160), height: 140 });

// draw sets a chart's data, making its plot the first time (the series,
// one per output, are known only then).
function draw(c, h) {
  const series = c.series(h);
  const data = [h.time, ...series.map(([, pick]) => pick(h))];
  const values = data.slice(1).flat();
  c.div.dataset.points = String(h.time.length);
  c.div.dataset.nonzero = String(values.filter((v) => v > 0).length);
  c.div.dataset.last = String(h.time.length ? Math.max(...data.slice(1).map((s) => s[s.length - 1])) : 0);
  if (!c.plot) {
    c.plot = new uPlot({
      ...size(c.div),
      // The written chart names each output; the others have one series.
      legend: { show: c.key === "written" },
      scales: {
        // The whole span even while the server has run less long: the
        // samples fill it from the right.
        x: { time: true, range: (u, min, max) => { const to = Math.max(Date.now() / 1000, max || 0); return [to - h.span_seconds, to]; } },
        y: { range: (u, min, max) => [0, max > 0 ? max * 1.1 : 1] },
      },
      series: [{ label: "time", value: "{HH}:{mm}:{ss}" },
        ...series.map(([label], i) => ({ label, stroke: colors[i % colors.length], width: 2, value: (u, v) => (v === null ? "–" : fmt(v)) }))],
      axes: [{ stroke: "currentColor", grid }, { stroke: "currentColor", grid, size: 50 }],
    }, data, c.div);
    return;
  }
  c.plot.setData(data);
}

const fmt = (v) => (Number.isInteger(v) ? String(v) : v.toFixed(1));
