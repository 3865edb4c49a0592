// The page's entry point: sign-in, the client picker, the views (by #hash) and the refresh loop.
import { allPages, api, ApiError, explain, session, whenUnauthorized } from "./api.js";
import { $, h, replace } from "./dom.js";
import { at } from "./time.js";
import * as health from "./health.js";

// Each view's module (and uPlot with the charts) loads when the view is first shown: fewer files on
// the first load, which a cold API (a fresh execution environment per parallel request) pays for.
const VIEWS = { overview: () => import("./overview.js"), charts: () => import("./charts.js"),
                alerts: () => import("./alerts.js"), crops: () => import("./crops.js"),
                climate: () => import("./climate.js"), failed: () => import("./failed.js") };
const REFRESH_SECONDS = 15;  // readings arrive every few seconds; alerts are judged within a minute
let timer = null;
let current = null;

function showSignIn(message = "") {
  clearInterval(timer);
  timer = null;
  $("#sign-in").hidden = false;
  $("#who").hidden = $("#tabs").hidden = $("#health").hidden = true;
  for (const section of document.querySelectorAll(".view")) section.hidden = true;
  $("#sign-in-error").textContent = message;
  $("#api-key").focus();
}

async function signIn(key) {
  const caller = await api("api/dashboard/caller", { key });
  session.signIn(key);
  return caller;
}

async function pickClient(caller) {
  const picker = $("#client-picker");
  $("#client-picker-label").hidden = !caller.is_admin;
  document.querySelector('[data-view="failed"]').hidden = !caller.is_admin;  // the API allows operators only
  if (!caller.is_admin) {
    $("#who-label").textContent = `key ${caller.key_prefix}…`;
    return true;
  }
  $("#who-label").textContent = `operator key ${caller.key_prefix}…`;
  const clients = await allPages("api/clients", {}, 5000);
  replace(picker, h("option", { value: "" }, "choose a client"),
    clients.map((c) => h("option", { value: c.id, selected: c.id === session.clientId() }, c.name)));
  return Boolean(session.clientId());
}

function viewName() {
  const name = window.location.hash.replace(/^#/, "").split("?")[0];
  return VIEWS[name] ? name : "overview";
}

async function refresh() {
  const name = viewName();
  try {
    const view = await VIEWS[name]();
    await Promise.all([view.render(name !== current), health.render()]);
    current = name;
    $("#updated").textContent = `Updated ${at(new Date().toISOString())}`;
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return;
    $("#updated").textContent = `Could not refresh: ${explain(error)}`;
  }
}

function show() {
  const name = viewName();
  for (const view of Object.keys(VIEWS)) {
    $(`#view-${view}`).hidden = view !== name;
    const link = document.querySelector(`[data-view="${view}"]`);
    if (view === name) link.setAttribute("aria-current", "page"); else link.removeAttribute("aria-current");
  }
  current = null;
  refresh();
}

async function start() {
  const caller = await api("api/dashboard/caller");
  $("#sign-in").hidden = true;
  $("#who").hidden = false;
  if (!(await pickClient(caller))) {
    $("#tabs").hidden = true;
    $("#client-picker").focus();
    return;
  }
  $("#tabs").hidden = $("#health").hidden = false;
  show();
  clearInterval(timer);
  // Polling, not server-sent events: Lambda behind API Gateway cannot hold a stream open.
  timer = setInterval(() => { if (!document.hidden) refresh(); }, REFRESH_SECONDS * 1000);
}

whenUnauthorized(() => { session.signOut(); showSignIn("Your API key was refused (revoked or expired). Sign in again."); });

$("#sign-in-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = $("#api-key");
  $("#sign-in-error").textContent = "";
  try {
    await signIn(input.value.trim());
    input.value = "";
    await start();
  } catch (error) {
    input.select();
    $("#sign-in-error").textContent = error instanceof ApiError && error.status === 401
      ? "That API key was refused: check it and try again." : `Sign-in failed: ${explain(error)}`;
  }
});

$("#sign-out").addEventListener("click", () => { session.signOut(); showSignIn(); });
$("#client-picker").addEventListener("change", (event) => {
  if (!event.target.value) return;
  session.choose(event.target.value);
  start();
});
window.addEventListener("hashchange", () => { if (session.key() && !$("#tabs").hidden) show(); });

if (session.key()) start().catch(() => showSignIn()); else showSignIn();
