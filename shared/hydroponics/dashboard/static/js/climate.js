// Climate: AC units with mode, setpoint, last acknowledged state and reachability; their command
// history with interlock refusals; sending a command (the ac_control function applies the interlocks).
import { api, explain, redraw } from "./api.js";
import { $, h, replace } from "./dom.js";
import { ago, at, parse, now } from "./time.js";

const FINAL = new Set(["acknowledged", "failed", "rejected"]);
const FOLLOW_SECONDS = 60;   // how long the page follows a command it sent
const outcomes = new Map();  // unit id -> the last command sent from this page, as followed

function reachability(unit, openAlerts) {
  if (openAlerts.some((a) => a.ac_unit_id === unit.id)) return ["unreachable", "unreachable (alert open)"];
  if (!unit.state_updated_at) return ["unknown", "has not reported yet"];
  const stale = unit.safety?.state_stale_seconds;
  const age = now().diff(parse(unit.state_updated_at), "seconds").seconds;
  if (stale && age > stale) return ["stale", `state stale: reported ${ago(unit.state_updated_at)}`];
  return ["reachable", `reachable: reported ${ago(unit.state_updated_at)}`];
}

function select(name, label, options) {
  return h("label", {}, label, h("select", { name }, h("option", { value: "" }, "unchanged"),
    options.map((o) => h("option", { value: o }, o))));
}

function commandForm(unit) {
  const caps = unit.capabilities || {};
  const form = h("form", { class: "command", "aria-label": `Send a command to ${unit.name}` },
    select("power", "Power", ["on", "off"]),
    select("mode", "Mode", caps.modes || []),
    h("label", {}, "Setpoint °C", h("input", { name: "setpoint", type: "number", step: "0.5", min: caps.setpoint_min, max: caps.setpoint_max,
                                               inputmode: "decimal" })),
    select("fan", "Fan", caps.fan_speeds || []),
    h("button", { type: "submit" }, "Send command"),
    h("p", { class: "outcome", role: "status", "aria-live": "polite" }, outcomes.get(unit.id) || ""));
  form.addEventListener("submit", (event) => send(event, unit));
  return form;
}

function say(unit, form, text) {
  outcomes.set(unit.id, text);
  form.querySelector(".outcome").textContent = text;
}

function describe(command) {
  const status = command.status;
  if (status === "rejected") return `Refused by an interlock: ${command.reason}`;
  if (status === "failed") return `Failed: ${command.reason || "the unit did not answer"}`;
  if (status === "acknowledged") return "Acknowledged by the unit.";
  return `Command ${status}…`;
}

async function send(event, unit) {
  event.preventDefault();
  const form = event.target;
  const fields = new FormData(form);
  const command = {};
  for (const name of ["power", "mode", "fan"]) if (fields.get(name)) command[name] = fields.get(name);
  if (fields.get("setpoint") !== "") command.setpoint = Number(fields.get("setpoint"));
  if (!Object.keys(command).length) {
    say(unit, form, "Choose at least one setting to change.");
    return;
  }
  let sent;
  try {
    sent = await api("api/ac/control", { method: "POST", body: { ac_unit_id: unit.id, command } });
  } catch (error) {
    say(unit, form, `Not sent: ${explain(error)}`);
    return;
  }
  say(unit, form, describe(sent));
  const deadline = Date.now() + FOLLOW_SECONDS * 1000;
  let followed = sent;
  while (!FINAL.has(followed.status) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    try {
      followed = await api(`api/ac/commands/${sent.id}`);
    } catch (error) {
      continue;  // a failed poll is asked again; the command itself is safe in its queue
    }
    say(unit, document.querySelector(`[data-unit-id="${unit.id}"] form.command`) || form, describe(followed));
  }
  await redraw(render, true);
}

function history(commands) {
  if (!commands.length) return h("p", { class: "empty" }, "No commands yet.");
  return h("div", { class: "scroll" }, h("table", { class: "commands" },
    h("thead", {}, h("tr", {}, ["When", "Command", "From", "Status", "Reason"].map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, commands.map((c) => h("tr", { class: c.status, dataset: { commandId: c.id } },
      h("td", { title: at(c.created_at) }, ago(c.created_at)),
      h("td", {}, Object.entries(c.command).map(([k, v]) => `${k} ${v}`).join(", ")),
      h("td", {}, c.source === "rule" ? "rule" : c.requested_by || c.source),
      h("td", {}, h("span", { class: `status ${c.status}` }, c.status)),
      h("td", { class: "reason" }, c.reason || ""))))));
}

function card(unit, commands, openAlerts) {
  const [kind, text] = reachability(unit, openAlerts);
  const state = unit.state || {};
  return h("article", { class: "unit-card", dataset: { unitId: unit.id } },
    h("header", {}, h("h3", {}, unit.name), h("span", { class: `reach ${kind}` }, text)),
    h("p", { class: "sub" }, `${unit.location} · ${unit.driver}`),
    h("dl", { class: "facts" },
      h("dt", {}, "Power"), h("dd", {}, state.power ?? "—"),
      h("dt", {}, "Mode"), h("dd", {}, state.mode ?? "—"),
      h("dt", {}, "Setpoint"), h("dd", {}, state.setpoint != null ? `${state.setpoint} °C` : "—"),
      h("dt", {}, "Fan"), h("dd", {}, state.fan ?? "—"),
      h("dt", {}, "Last acknowledged state"), h("dd", {}, unit.state_updated_at ? at(unit.state_updated_at) : "never")),
    commandForm(unit),
    h("h4", {}, "Command history"), history(commands));
}

export async function render(force = false) {
  const [units, openAlerts] = await Promise.all([
    api("api/ac/units"), api("api/alerts", { params: { status: "open", limit: 200 } }).then((p) => p.items)]);
  const histories = await Promise.all(units.map((u) => api(`api/ac/units/${u.id}/commands`, { params: { limit: 20 } }).then((p) => p.items)));
  // A form being filled in is not replaced under the operator's fingers.
  const editing = document.activeElement?.closest?.("form.command");
  if (editing && !force) return;
  replace($("#unit-list"), units.length ? units.map((u, i) => card(u, histories[i], openAlerts))
    : h("p", { class: "empty" }, "No AC units registered."));
}
