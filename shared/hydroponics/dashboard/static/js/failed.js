// Failed tasks (platform operators): messages that ended on a dead-letter queue; retry or discard.
import { api, explain, redraw } from "./api.js";
import { $, h, replace } from "./dom.js";
import { ago, at } from "./time.js";

async function act(task, verb) {
  try {
    await api(`admin/failed-tasks/${task.id}/${verb}`, { method: "POST" });
    $("#updated").textContent = `Failed task ${verb === "retry" ? "sent back to its queue" : "discarded"}.`;
  } catch (error) {
    $("#updated").textContent = `Could not ${verb} the task: ${explain(error)}`;
  }
  await redraw(render);
}

export async function render() {
  const tasks = (await api("admin/failed-tasks", { params: { status: "failed", limit: 100 } })).items;
  replace($("#failed-list"), tasks.length ? h("div", { class: "scroll" }, h("table", {},
    h("thead", {}, h("tr", {}, ["Failed", "Queue", "Error", "Message", ""].map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, tasks.map((t) => h("tr", { dataset: { taskId: t.id } },
      h("td", { title: at(t.failed_at) }, ago(t.failed_at)),
      h("td", {}, t.source_queue.split("/").pop()),
      h("td", {}, t.error || "—"),
      h("td", { class: "body" }, t.body.length > 160 ? `${t.body.slice(0, 160)}…` : t.body),
      h("td", { class: "actions" },
        h("button", { type: "button", onclick: () => act(t, "retry") }, "Retry"),
        h("button", { type: "button", onclick: () => act(t, "discard") }, "Discard")))))))
    : h("p", { class: "empty" }, "No failed tasks: every dead-lettered message has been dealt with."));
}
