// @ts-check
// The selected run of a schedule's page: its status, fire time, trigger, start and end to the
// second, duration, error, and each step of the workflow as the runner recorded it (the run's
// `output.steps`: type, status, duration; its response or error when expanded).

import { h } from "./dom.js";
import { durationText, localTime, localTimeWithSeconds } from "./format.js";
import { statusBadge, timePair } from "./widgets.js";

/** @typedef {import("./types.js").ScheduleDetail} ScheduleDetail */
/** @typedef {import("./types.js").Run} Run */
/**
 * One step's record in a run's output (scheduler.steps.engine.WorkflowResult.output).
 * @typedef {{index: number, type: string, status: string, durationMs: number,
 *   detail?: Record<string, unknown>, error?: string}} StepRecord
 */

/** @type {Record<string, string>} */
const TRIGGERS = { schedule: "Schedule", manual: "Run now", catchup: "Catch-up", backfill: "Backfill" };

/**
 * @param {ScheduleDetail} schedule
 * @param {Run} run
 */
export function runDetails(schedule, run) {
  const steps = stepsOf(run);
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
      h("div", {}, h("dt", {}, "Started"), h("dd", {}, timeWithSeconds(run.startedAt))),
      h("div", {}, h("dt", {}, "Finished"), h("dd", {}, timeWithSeconds(run.finishedAt))),
      h("div", {}, h("dt", {}, "Duration"), h("dd", {}, runDuration(run))),
      h("div", {}, h("dt", {}, "Attempt"), h("dd", {}, String(run.attempt))),
    ),
    run.error ? h("div", { class: "run-error" }, h("h5", {}, "Error"), h("pre", {}, run.error)) : null,
    steps.length
      ? h(
          "div",
          { class: "run-steps" },
          h("h5", {}, "Steps"),
          h("ol", { class: "steps", "aria-label": "Steps of the run" }, steps.map(stepRow)),
        )
      : null,
  );
}

/** @param {string | null | undefined} when */
function timeWithSeconds(when) {
  return when ? h("time", { datetime: when }, localTimeWithSeconds(when)) : "—";
}

/** @param {Run} run */
function runDuration(run) {
  if (!run.finishedAt) return run.status === "running" ? "still running" : "—";
  return durationText(new Date(run.finishedAt).getTime() - new Date(run.startedAt).getTime());
}

/**
 * The run's step records, if its output has them (a skipped or missed run has none).
 * @param {Run} run
 * @returns {StepRecord[]}
 */
function stepsOf(run) {
  const output = /** @type {unknown} */ (run.output);
  if (!output || typeof output !== "object" || !("steps" in output) || !Array.isArray(output.steps)) {
    return [];
  }
  return output.steps.filter((step) => step && typeof step === "object");
}

/**
 * One step: its summary in a row, its response (or error) when expanded.
 * @param {StepRecord} step
 */
function stepRow(step) {
  return h(
    "li",
    {},
    h(
      "details",
      {},
      h(
        "summary",
        {},
        `Step ${step.index} · ${step.type} · `,
        statusBadge(step.status),
        ` · ${typeof step.durationMs === "number" ? durationText(step.durationMs) : "—"}`,
      ),
      step.error ? h("pre", { class: "step-error" }, step.error) : null,
      step.detail ? response(step.detail) : null,
    ),
  );
}

/**
 * A step's response: the http step's {status, body}, the lambda step's {statusCode, response}.
 * @param {Record<string, unknown>} detail
 */
function response(detail) {
  const status = detail.status ?? detail.statusCode;
  const body = "body" in detail ? detail.body : detail.response;
  return h(
    "div",
    { class: "step-response" },
    status !== undefined ? h("p", {}, `Response status ${String(status)}`) : null,
    body !== undefined && body !== null && body !== ""
      ? h("pre", {}, typeof body === "string" ? body : JSON.stringify(body, null, 2))
      : h("p", { class: "muted" }, "No response body."),
  );
}
