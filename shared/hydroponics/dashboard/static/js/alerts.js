// Alerts: open, acknowledged and recently resolved; acknowledge, resolve and silence from the page.
import { api, explain, redraw } from "./api.js";
import { $, h, reading, replace } from "./dom.js";
import { ago, at, isoIn } from "./time.js";

const RECENT = 20;
let silencing = null;  // the alert the silence dialog is for

function actions(alert) {
  const buttons = [];
  if (alert.status === "open") buttons.push(h("button", { type: "button", onclick: () => act(alert, "acknowledge") }, "Acknowledge"));
  if (alert.status !== "resolved") {
    buttons.push(h("button", { type: "button", onclick: () => act(alert, "resolve") }, "Resolve"));
    if (alert.sensor_id || alert.rule_id) buttons.push(h("button", { type: "button", onclick: () => openSilence(alert) }, "Silence…"));
  }
  return h("td", { class: "actions" }, buttons);
}

const COLUMNS = ["Severity", "Rule", "Sensor", "Value", "Opened", "Repeats", "Status", ""];

function row(alert) {
  const sensor = alert.sensor_type ? `${alert.sensor_type} @ ${alert.location}` : alert.location || "—";
  const cells = [
    h("td", {}, h("span", { class: `severity ${alert.severity}` }, alert.severity)),
    h("td", {}, alert.rule_name || (alert.ac_unit_id ? "AC unit unreachable" : "—"), h("div", { class: "message" }, alert.message)),
    h("td", {}, sensor, alert.sensor_external_id ? h("div", { class: "sub" }, alert.sensor_external_id) : null),
    h("td", { class: "num" }, reading(alert.value)),
    h("td", { title: at(alert.opened_at) }, ago(alert.opened_at)),
    h("td", { class: "num" }, String(alert.repeat_count)),
    h("td", { class: "status" }, alert.status,
      alert.silence_id ? h("div", { class: "sub" }, "silenced") : null,
      alert.acknowledged_by ? h("div", { class: "sub" }, `ack ${alert.acknowledged_by}`) : null,
      alert.resolved_at ? h("div", { class: "sub" }, `resolved ${ago(alert.resolved_at)} by ${alert.resolved_by || "—"}`) : null),
    actions(alert)];
  // The labels let a phone show each row as a card (see app.css).
  cells.forEach((cell, i) => { if (COLUMNS[i]) cell.dataset.label = COLUMNS[i]; });
  return h("tr", { class: `alert ${alert.severity} ${alert.status}`, dataset: { alertId: alert.id } }, cells);
}

function table(title, alerts, empty) {
  return h("section", { class: "alert-list", "aria-label": title },
    h("h3", {}, `${title} (${alerts.length})`),
    alerts.length ? h("div", { class: "scroll" }, h("table", {},
      h("thead", {}, h("tr", {}, COLUMNS.map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, alerts.map(row)))) : h("p", { class: "empty" }, empty));
}

async function act(alert, verb) {
  try {
    await api(`api/alerts/${alert.id}/${verb}`, { method: "POST" });
    $("#updated").textContent = `Alert ${verb === "acknowledge" ? "acknowledged" : "resolved"}: ${alert.rule_name || alert.message}`;
  } catch (error) {
    $("#updated").textContent = `Could not ${verb} the alert: ${explain(error)}`;
  }
  await redraw(render);
}

function openSilence(alert) {
  silencing = alert;
  const form = $("#silence-form");
  form.reset();
  form.querySelector('input[value="sensor"]').disabled = !alert.sensor_id;
  form.querySelector('input[value="rule"]').disabled = !alert.rule_id;
  form.querySelector(`input[value="${alert.sensor_id ? "sensor" : "rule"}"]`).checked = true;
  $("#silence-what").textContent = `${alert.rule_name || alert.message} — ${alert.sensor_type || ""} @ ${alert.location || ""}`;
  $("#silence-error").textContent = "";
  $("#silence-dialog").showModal();
}

async function silence(event) {
  event.preventDefault();
  const form = new FormData(event.target);
  const scope = form.get("scope");
  const body = { ends_at: isoIn(Number(form.get("minutes"))), reason: form.get("reason").trim() };
  if (scope === "sensor") body.sensor_id = silencing.sensor_id; else body.rule_id = silencing.rule_id;
  try {
    const made = await api("api/silences", { method: "POST", body });
    $("#silence-dialog").close();
    $("#updated").textContent = `Silenced until ${at(made.ends_at)}: ${made.reason}`;
    await redraw(render);
  } catch (error) {
    $("#silence-error").textContent = explain(error);
  }
}

let wired = false;
export async function render() {
  if (!wired) {
    wired = true;
    $("#silence-form").addEventListener("submit", silence);
    $("#silence-cancel").addEventListener("click", () => $("#silence-dialog").close());
  }
  const [open, acknowledged, resolved] = await Promise.all(["open", "acknowledged", "resolved"].map((status) =>
    api("api/alerts", { params: { status, limit: status === "resolved" ? RECENT : 200 } }).then((p) => p.items)));
  $("#alert-count").textContent = open.length ? String(open.length) : "";
  replace($("#alert-lists"),
    table("Open", open, "No open alerts."),
    table("Acknowledged", acknowledged, "None acknowledged and still unresolved."),
    table("Recently resolved", resolved, "None resolved yet."));
}
