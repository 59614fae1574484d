// @ts-check
// A schedule's last 24 hours, expected versus actual (the API's
// GET /api/schedules/{id}/accounting): one cell per fire time the schedule should have had,
// oldest on the left, coloured by its outcome with its time and cause in its title; a legend
// that counts each outcome, and the runs at no fire time (run now, backfill).

import { call } from "./api.js";
import { h } from "./dom.js";
import { localTime } from "./format.js";

/** @typedef {import("./types.js").ScheduleAccounting} ScheduleAccounting */
/** @typedef {import("./types.js").AccountingTotals} AccountingTotals */

/** Each outcome as it reads, in the legend's order (the API's closed set). */
const OUTCOMES = {
  succeeded: "Succeeded",
  failed: "Failed",
  running: "Running",
  buffered: "Waiting",
  skipped: "Skipped",
  missed: "Missed",
  paused: "Paused",
  outsideRetention: "Outside retention",
  upcoming: "Not due yet",
  noRecord: "No record",
};

/**
 * Schedule `id`'s accounting of the last 24 hours (null when it cannot be read: the page shows
 * the rest without it).
 * @param {string} id
 * @returns {Promise<ScheduleAccounting | null>}
 */
export async function loadAccounting(id) {
  try {
    return await call("GET", `schedules/${encodeURIComponent(id)}/accounting`);
  } catch (error) {
    if (error instanceof Error && "signedOut" in error && error.signedOut) throw error;
    return null;
  }
}

/** @param {string} outcome */
function outcomeName(outcome) {
  return /** @type {Record<string, string>} */ (OUTCOMES)[outcome] ?? outcome;
}

/**
 * The section: the strip, the legend with the totals, the other runs' count.
 * @param {ScheduleAccounting | null} accounting
 */
export function accountingStrip(accounting) {
  const section = h(
    "section",
    { "aria-labelledby": "accounting-heading" },
    h("h3", { id: "accounting-heading" }, "Last 24 hours: expected versus actual"),
  );
  if (accounting === null) {
    section.append(h("p", {}, "The expected fire times could not be loaded."));
    return section;
  }
  const totals = /** @type {Record<string, number>} */ (/** @type {unknown} */ (accounting.totals));
  section.append(
    accounting.items.length
      ? h(
          "ol",
          { class: "strip", "aria-label": "Expected fire times, oldest first" },
          accounting.items.map((item) => {
            const text = `${localTime(item.scheduledTime)}: ${outcomeName(item.outcome)}. ${item.cause}`;
            return h("li", { class: `cell outcome-${item.outcome}`, title: text, "aria-label": text, "data-outcome": item.outcome });
          }),
        )
      : h("p", { class: "muted" }, "No fire time was expected in the last 24 hours."),
    h(
      "ul",
      { class: "strip-legend", "aria-label": "Outcomes" },
      Object.keys(OUTCOMES).map((outcome) =>
        h(
          "li",
          { "data-outcome": outcome },
          h("span", { class: `swatch outcome-${outcome}`, "aria-hidden": "true" }),
          ` ${outcomeName(outcome)}: ${totals[outcome] ?? 0}`,
        ),
      ),
    ),
    h(
      "p",
      { class: "muted", id: "accounting-totals" },
      `${accounting.totals.expected} expected fire times; ${accounting.totals.otherRuns} other runs (run now, backfill).`,
    ),
  );
  return section;
}
