// The health strip: queue depths, dead letters with a link to the failed tasks (operators), and
// the last run of each scheduled job.
import { api } from "./api.js";
import { $, h, replace } from "./dom.js";
import { ago } from "./time.js";

const shortName = (queue) => queue.replace(/^hydroponics-[a-z0-9]+-/, "").replace(/\.fifo$/, "");

export async function render() {
  const status = await api("api/dashboard/status");
  const work = status.queues.filter((q) => !q.dead_letter);
  const dead = status.queues.filter((q) => q.dead_letter);
  const deadCount = dead.reduce((sum, q) => sum + (q.visible || 0) + (q.in_flight || 0), 0);
  const items = work.map((q) => h("span", { class: `item${q.reachable ? "" : " bad"}`, dataset: { queue: shortName(q.queue) } },
    `${shortName(q.queue)}: ${q.reachable ? `${q.visible} waiting, ${q.in_flight} in flight` : "unreachable"}`));
  const failed = status.failed_tasks;
  items.push(h("span", { class: `item${deadCount || failed ? " bad" : ""}`, dataset: { queue: "dead-letters" } },
    `dead letters: ${deadCount} queued`,
    failed === null ? null : [", ", h("a", { href: "#failed" }, `${failed} failed task${failed === 1 ? "" : "s"}`)]));
  for (const job of status.jobs) {
    items.push(h("span", { class: `item${job.overdue ? " bad" : ""}`, dataset: { job: job.job } },
      `${job.job.replaceAll("_", " ")}: ${job.last_run ? ago(job.last_run) : "not run yet"}${job.overdue ? " (overdue)" : ""}`));
  }
  replace($("#health"), h("h2", { class: "visually-hidden" }, "Platform health"), items);
}
