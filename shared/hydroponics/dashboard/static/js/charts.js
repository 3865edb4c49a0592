// Time-series charts with uPlot (vendored): a bay's sensors of one type, optionally overlaid with the
// other bays', the crop's stage band behind the line, min/max envelopes on aggregated windows.
import uPlot from "../vendor/uplot-1.6.32/uPlot.esm.js";
import { api, redraw } from "./api.js";
import { $, h, replace } from "./dom.js";
import * as overview from "./overview.js";
import { RANGES, rangeBounds, seconds } from "./time.js";

const COLOURS = ["#1f5fbf", "#b54708", "#0f7b55", "#7a2fb8", "#a3123b", "#4b5563"];
const BAND_FILL = "rgba(22, 163, 74, 0.14)";
const HEIGHT = 340;
const MAX_POINTS = 20000;  // per chart: several pages of /api/data/query at most

let plot = null;
let shape = "";    // the series layout the plot was built for; a new layout builds a new plot
let zoomed = false;

function hashParams() {
  return new URLSearchParams(window.location.hash.split("?")[1] || "");
}

function selection() {
  return { location: $("#chart-location").value, type: $("#chart-type").value,
           range: document.querySelector('input[name="range"]:checked').value, overlay: $("#chart-overlay").checked };
}

async function series(sel) {
  const { start, end } = rangeBounds(sel.range);
  const window_ = RANGES[sel.range].window;
  const params = { sensor_type: sel.type, window: window_, start, end, limit: 10000,
                   location: sel.overlay ? undefined : sel.location };
  const points = [];
  let cursor;
  do {
    const page = await api("api/data/query", { params: { ...params, cursor } });
    points.push(...page.points);
    cursor = page.next_cursor;
  } while (cursor && points.length < MAX_POINTS);
  return { window: window_, points, start, end };
}

// The band in force at each moment: the crop's stage then (its targets for this sensor type).
function bandAt(stages, type) {
  const spans = (stages || []).filter((s) => s.targets && s.targets[type]).map((s) => ({
    from: seconds(s.started_at), to: s.completed_at ? seconds(s.completed_at) : Infinity, target: s.targets[type] }));
  return (x) => {
    const span = spans.find((s) => x >= s.from && x < s.to);
    return span ? span.target : null;
  };
}

function build(sel, fetched) {
  const aggregated = fetched.window !== "raw";
  const bySensor = new Map();
  for (const p of fetched.points) {
    if (!bySensor.has(p.sensor)) bySensor.set(p.sensor, { sensor: p.sensor, location: p.location, points: [] });
    bySensor.get(p.sensor).points.push(p);
  }
  const sensors = [...bySensor.values()].sort((a, b) =>
    (a.location === sel.location ? -1 : 0) - (b.location === sel.location ? -1 : 0) || a.location.localeCompare(b.location));
  const tables = sensors.map((s) => aggregated
    ? [s.points.map((p) => seconds(p.bucket_start)), s.points.map((p) => p.avg), s.points.map((p) => p.min), s.points.map((p) => p.max)]
    : [s.points.map((p) => seconds(p.recorded_at)), s.points.map((p) => p.value)]);
  const joined = tables.length ? uPlot.join(tables) : [[]];
  const opts = [{}];
  const bands = [];
  sensors.forEach((s, i) => {
    const colour = COLOURS[i % COLOURS.length];
    const name = sensors.filter((o) => o.location === s.location).length > 1 ? `${s.location} (${s.sensor})` : s.location;
    opts.push({ label: name, stroke: colour, width: 2, points: { show: false } });
    if (aggregated) {
      const base = opts.length;
      opts.push({ label: `${name} min`, stroke: `${colour}55`, width: 1, points: { show: false } });
      opts.push({ label: `${name} max`, stroke: `${colour}55`, width: 1, points: { show: false } });
      bands.push({ series: [base + 1, base], fill: `${colour}22` });
    }
  });
  const bay = (overview.last()?.locations || []).find((b) => b.location === sel.location);
  const target = bandAt(bay?.crop?.stages, sel.type);
  const xs = joined[0];
  const lows = xs.map((x) => target(x)?.min ?? null);
  const highs = xs.map((x) => target(x)?.max ?? null);
  const data = [...joined];
  if (lows.some((v) => v !== null) || highs.some((v) => v !== null)) {
    const base = opts.length;
    const dashed = { width: 1, dash: [6, 4], points: { show: false }, stroke: "#15803d" };
    opts.push({ ...dashed, label: `target min (${sel.location})` }, { ...dashed, label: `target max (${sel.location})` });
    data.push(lows, highs);
    if (lows.some((v) => v !== null) && highs.some((v) => v !== null)) bands.push({ series: [base + 1, base], fill: BAND_FILL });
  }
  return { data, series: opts, bands, sensors: sensors.length };
}

function makePlot(built, sel) {
  const container = $("#chart");
  if (plot) plot.destroy();
  zoomed = false;
  const unit = (overview.last()?.locations || []).flatMap((b) => b.sensors).find((s) => s.sensor_type === sel.type)?.unit || "";
  plot = new uPlot({
    width: Math.max(280, container.clientWidth), height: HEIGHT,
    series: built.series, bands: built.bands,
    scales: { x: { time: true } },
    axes: [{ stroke: "#1f2937", grid: { stroke: "#e5e7eb" } },
           { stroke: "#1f2937", grid: { stroke: "#e5e7eb" }, label: unit, size: 56 }],
    cursor: { drag: { x: true, y: false } },
    hooks: { setSelect: [() => { zoomed = true; }] },
  }, built.data, container);
  container.uplot = plot;  // the browser tests read the drawn data from here
}

async function draw() {
  const sel = selection();
  const note = $("#chart-note");
  if (!sel.type || !sel.location) {
    note.textContent = "No sensors yet.";
    return;
  }
  const fetched = await series(sel);
  const built = build(sel, fetched);
  Object.assign($("#chart").dataset, { start: fetched.start, end: fetched.end, window: fetched.window });
  const layout = JSON.stringify([sel, built.series.map((s) => s.label)]);
  if (plot && layout === shape) {
    if (!zoomed) plot.setData(built.data);
  } else {
    makePlot(built, sel);
    shape = layout;
  }
  const label = overview.LABELS[sel.type] || sel.type;
  note.textContent = `${label}, last ${sel.range}: ${fetched.points.length} ${fetched.window === "raw" ? "readings" : `${fetched.window} buckets (line: average, faint: min/max)`} from ${built.sensors} sensor${built.sensors === 1 ? "" : "s"}.`;
}

function fillControls() {
  const bays = overview.last()?.locations || [];
  const wanted = hashParams();
  const location = wanted.get("location") || $("#chart-location").value || bays[0]?.location;
  const types = [...new Set(bays.flatMap((b) => b.sensors.map((s) => s.sensor_type)))];
  const type = wanted.get("type") || $("#chart-type").value || (types.includes("ph") ? "ph" : types[0]);
  replace($("#chart-location"), bays.map((b) => h("option", { value: b.location, selected: b.location === location }, b.location)));
  replace($("#chart-type"), types.map((t) => h("option", { value: t, selected: t === type }, overview.LABELS[t] || t)));
  const range = wanted.get("range");
  if (range && RANGES[range]) document.querySelector(`input[name="range"][value="${range}"]`).checked = true;
}

function pan(direction) {
  if (!plot) return;
  const { min, max } = plot.scales.x;
  const step = ((max - min) / 2) * direction;
  zoomed = true;
  plot.setScale("x", { min: min + step, max: max + step });
}

let wired = false;
function wire() {
  if (wired) return;
  wired = true;
  $("#chart-controls").addEventListener("change", () => redraw(draw));
  $("#pan-earlier").addEventListener("click", () => pan(-1));
  $("#pan-later").addEventListener("click", () => pan(1));
  $("#zoom-reset").addEventListener("click", () => {
    zoomed = false;
    if (plot) plot.setData(plot.data);
  });
  new ResizeObserver(() => { if (plot) plot.setSize({ width: Math.max(280, $("#chart").clientWidth), height: HEIGHT }); })
    .observe($("#chart"));
}

export async function render(entering) {
  wire();
  if (entering || !overview.last()) {
    await overview.load();
    fillControls();
  }
  await draw();
}
