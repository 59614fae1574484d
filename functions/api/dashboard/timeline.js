// @ts-check
// A schedule's run history as a timeline (a mark per fire time, oldest on the left, the
// selected run's details below), paged with the API's cursor: the newest TIMELINE_RUNS first,
// "Older runs" for the page before them, and always a word on whether older runs exist.

import { call, query } from "./api.js";
import { h } from "./dom.js";
import { localTime, STATUS_NAMES, statusOf } from "./format.js";
import { runDetails } from "./run-details.js";
import { statusBadge } from "./widgets.js";

/** @typedef {import("./types.js").ScheduleDetail} ScheduleDetail */
/** @typedef {import("./types.js").RunPage} RunPage */
/** @typedef {import("./types.js").Run} Run */

const TIMELINE_RUNS = 50;

/**
 * The older pages loaded on the schedule's page (kept while it is shown again): their runs and
 * the cursor of the page before them (null: none).
 * @type {{scheduleId: string, older: Run[], cursor: string | null}}
 */
const loaded = { scheduleId: "", older: [], cursor: null };

/**
 * The newest runs of schedule `id`, with the older pages loaded before, newest first, and the
 * cursor of the next older page (null: these are all).
 * @param {string} id
 * @returns {Promise<{runs: Run[], olderCursor: string | null}>}
 */
export async function loadRuns(id) {
  /** @type {RunPage} */
  const newest = await call("GET", `schedules/${encodeURIComponent(id)}/runs${query({ limit: TIMELINE_RUNS })}`);
  if (loaded.scheduleId !== id) {
    loaded.scheduleId = id;
    loaded.older = [];
    loaded.cursor = null;
  }
  if (!loaded.older.length) return { runs: newest.items, olderCursor: newest.nextCursor ?? null };
  // A run may have moved from the newest page to the older ones since they were loaded.
  const shown = new Set(newest.items.map((run) => run.id));
  return {
    runs: [...newest.items, ...loaded.older.filter((run) => !shown.has(run.id))],
    olderCursor: loaded.cursor,
  };
}

/**
 * Load the page of runs before `cursor` into the history kept for schedule `id`.
 * @param {string} id
 * @param {string} cursor
 */
async function loadOlder(id, cursor) {
  /** @type {RunPage} */
  const page = await call(
    "GET",
    `schedules/${encodeURIComponent(id)}/runs${query({ limit: TIMELINE_RUNS, cursor })}`,
  );
  loaded.scheduleId = id;
  loaded.older.push(...page.items);
  loaded.cursor = page.nextCursor ?? null;
}

/**
 * The run history, oldest to newest left to right: one mark per fire time.
 * @param {ScheduleDetail} schedule
 * @param {{runs: Run[], olderCursor: string | null}} history newest first, as the API lists them
 * @param {string | null} selected
 * @param {(runId: string | null) => Promise<void>} show the page again (with this run selected)
 */
export function timeline(schedule, history, selected, show) {
  const ordered = [...history.runs].reverse();
  const chosen = ordered.find((run) => run.id === selected) ?? null;
  const cursor = history.olderCursor;
  return h(
    "section",
    { "aria-labelledby": "timeline-heading", class: "timeline-section" },
    h("h3", { id: "timeline-heading" }, "Run history"),
    h(
      "p",
      { class: "legend" },
      "Each mark is one fire time, oldest on the left. Select one for its details. ",
      STATUS_NAMES.map((status) => statusBadge(status)),
    ),
    ordered.length
      ? h(
          "p",
          { class: "history-extent", id: "history-extent" },
          cursor
            ? `The newest ${ordered.length} runs; older runs exist. `
            : ordered.length === 1
              ? "The only run kept. "
              : `All ${ordered.length} runs kept. `,
          cursor
            ? h(
                "button",
                {
                  type: "button",
                  onclick: async () => {
                    await loadOlder(schedule.id, cursor);
                    await show(selected);
                  },
                },
                "Older runs",
              )
            : null,
        )
      : null,
    ordered.length
      ? h(
          "ol",
          { class: "timeline", "aria-label": "Runs, oldest first", "aria-describedby": "history-extent" },
          ordered.map((run) =>
            h(
              "li",
              {},
              h(
                "button",
                {
                  type: "button",
                  class: `mark status-${run.status}`,
                  "aria-pressed": run.id === selected ? "true" : "false",
                  "aria-label": `${statusOf(run.status).label} run, ${localTime(run.scheduledTime)}${run.trigger === "manual" ? ", run now" : ""}`,
                  "data-status": run.status,
                  onclick: () => show(run.id),
                },
                statusBadge(run.status),
                h("time", { datetime: run.scheduledTime }, localTime(run.scheduledTime)),
              ),
            ),
          ),
        )
      : h("p", { class: "muted" }, "No runs yet."),
    chosen ? runDetails(schedule, chosen) : null,
  );
}
