// Crops: variety, stage, days in stage and to the next, progress through the profile, harvests,
// and each crop's out-of-range report.
import { api, explain } from "./api.js";
import { $, h, replace } from "./dom.js";
import { at, daysBetween, now } from "./time.js";

const open = new Set();  // crops whose report is unfolded (kept across refreshes)

function progress(crop, variety) {
  const stages = variety ? variety.stages : [];
  const current = crop.current_stage;
  return h("ol", { class: "stages", "aria-label": "growth stages" }, stages.map((stage) => {
    const state = !current ? "future" : stage.stage_order < current.stage_order ? "done"
      : stage.stage_order === current.stage_order ? (current.completed_at ? "done" : "current") : "future";
    return h("li", { class: state }, h("span", {}, stage.name), h("span", { class: "sub" }, `${stage.duration_days} d`));
  }));
}

function facts(crop) {
  const stage = crop.current_stage;
  if (!stage) return h("p", {}, "no stage recorded");
  const toNext = stage.completed_at ? null : daysBetween(now().toISO(), stage.due_at);
  return h("dl", { class: "facts" },
    h("dt", {}, "Stage"), h("dd", {}, stage.name),
    h("dt", {}, "Days in stage"), h("dd", {}, String(stage.days_in_stage)),
    h("dt", {}, crop.awaiting_harvest ? "Profile" : "Next stage in"),
    h("dd", {}, crop.awaiting_harvest ? "complete: awaiting harvest" : `${toNext} days (${at(stage.due_at)})`),
    h("dt", {}, "Planted"), h("dd", {}, at(crop.planted_at)));
}

function hours(value) { return value.toFixed(1); }

function report(body) {
  return h("div", { class: "report" }, body.stages.map((stage) =>
    h("section", {}, h("h4", {}, `${stage.name} (${at(stage.started_at)} – ${stage.completed_at ? at(stage.completed_at) : "now"})`),
      stage.metrics.length ? h("div", { class: "scroll" }, h("table", {},
        h("thead", {}, h("tr", {}, ["Metric", "Band", "Sensors", "Hours measured", "below", "above", "outside"].map((c) => h("th", { scope: "col" }, c)))),
        h("tbody", {}, stage.metrics.map((m) => h("tr", { class: m.hours_outside > 0 ? "outside" : "" },
          h("td", {}, m.metric), h("td", {}, `${m.min ?? "—"}–${m.max ?? "—"}`), h("td", { class: "num" }, String(m.sensors)),
          h("td", { class: "num" }, hours(m.hours_measured)), h("td", { class: "num" }, hours(m.hours_below)),
          h("td", { class: "num" }, hours(m.hours_above)), h("td", { class: "num" }, hours(m.hours_outside)))))))
        : h("p", { class: "empty" }, "no targets in this stage"))));
}

async function toggleReport(crop, holder, button) {
  if (open.has(crop.id)) {
    open.delete(crop.id);
    replace(holder);
    button.setAttribute("aria-expanded", "false");
    return;
  }
  open.add(crop.id);
  button.setAttribute("aria-expanded", "true");
  await showReport(crop, holder);
}

async function showReport(crop, holder) {
  try {
    replace(holder, report(await api(`api/crops/${crop.id}/report`)));
  } catch (error) {
    replace(holder, h("p", { class: "error" }, `Report unavailable: ${explain(error)}`));
  }
}

function card(crop, variety) {
  const holder = h("div", { class: "report-holder" });
  const button = h("button", { type: "button", "aria-expanded": "false" }, "Out-of-range report");
  button.addEventListener("click", () => toggleReport(crop, holder, button));
  if (open.has(crop.id)) {
    button.setAttribute("aria-expanded", "true");
    showReport(crop, holder);
  }
  return h("article", { class: "crop-card", dataset: { cropId: crop.id } },
    h("h3", {}, `${crop.batch_code} · ${crop.variety_name}`, h("span", { class: "sub" }, ` at ${crop.location}`)),
    facts(crop), progress(crop, variety), button, holder);
}

function harvests(crops) {
  if (!crops.length) return h("p", { class: "empty" }, "No harvests recorded yet.");
  return h("div", { class: "scroll" }, h("table", {},
    h("thead", {}, h("tr", {}, ["Batch", "Variety", "Location", "Harvested", "Yield", "Grade", "Notes"].map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, crops.map((c) => h("tr", {},
      h("td", {}, c.batch_code), h("td", {}, c.variety_name), h("td", {}, c.location),
      h("td", {}, at(c.harvest?.harvested_at || c.closed_at)),
      h("td", { class: "num" }, c.harvest?.yield_amount != null ? `${c.harvest.yield_amount} ${c.harvest.yield_unit || ""}` : "—"),
      h("td", {}, c.harvest?.quality_grade || "—"), h("td", {}, c.harvest?.notes || ""))))));
}

export async function render() {
  const [active, varieties, harvested] = await Promise.all([
    api("api/crops", { params: { status: "active", limit: 200 } }).then((p) => p.items),
    api("api/varieties", { params: { limit: 200 } }).then((p) => p.items),
    api("api/crops", { params: { status: "harvested", limit: 10 } }).then((p) => p.items),
  ]);
  // The list has no harvest records; the ten latest harvested crops are read one by one.
  const detailed = await Promise.all(harvested.map((c) => api(`api/crops/${c.id}`)));
  const byId = new Map(varieties.map((v) => [v.id, v]));
  replace($("#crop-list"),
    h("section", { "aria-label": "Growing" }, h("h3", {}, `Growing (${active.length})`),
      active.length ? h("div", { class: "cards" }, active.map((c) => card(c, byId.get(c.variety_id)))) : h("p", { class: "empty" }, "No active crops.")),
    h("section", { "aria-label": "Harvests" }, h("h3", {}, "Recent harvests"), harvests(detailed)));
}
