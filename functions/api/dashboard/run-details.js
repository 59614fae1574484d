// @ts-check
// The selected run of a schedule's page: its status, fire time, trigger, times and error.

import { h } from "./dom.js";
import { localTime } from "./format.js";
import { statusBadge, timePair } from "./widgets.js";

/** @typedef {import("./types.js").ScheduleDetail} ScheduleDetail */
/** @typedef {import("./types.js").Run} Run */

/** @type {Record<string, string>} */
const TRIGGERS = { schedule: "Schedule", manual: "Run now", catchup: "Catch-up", backfill: "Backfill" };

/**
 * @param {ScheduleDetail} schedule
 * @param {Run} run
 */
export function runDetails(schedule, run) {
  return h(
    "div",
    { class: "run-details", role: "region", "aria-label": "Selected run" },
    h("h4", {}, "Run of ", localTime(run.scheduledTime)),
    h(
      "dl",
      { class: "facts" },
      h("div", {}, h("dt", {}, "Status"), h("dd", {}, statusBadge(run.status))),
      h("div", {}, h("dt", {}, "Fire time"), h("dd", {}, timePair(run.scheduledTime, schedule.timezone))),
      h("div", {}, h("dt", {}, "Trigger"), h("dd", {}, TRIGGERS[run.trigger] ?? run.trigger)),
      h("div", {}, h("dt", {}, "Started"), h("dd", {}, localTime(run.startedAt))),
      h("div", {}, h("dt", {}, "Finished"), h("dd", {}, localTime(run.finishedAt))),
      h("div", {}, h("dt", {}, "Attempt"), h("dd", {}, String(run.attempt))),
    ),
    run.error ? h("div", { class: "run-error" }, h("h5", {}, "Error"), h("pre", {}, run.error)) : null,
  );
}
