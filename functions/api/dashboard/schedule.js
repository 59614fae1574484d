// @ts-check
// One schedule's page: what it is, its run history (timeline.js: a mark per fire time, by
// status; a failed run's error on selection), its next fire times, EventBridge expression(s) and
// DST notes, and the actions: Pause / Resume, Run now, Edit, Delete; skip or move one fire
// time (exceptions.js).

import { accountingStrip, loadAccounting } from "./accounting.js";
import { call, query } from "./api.js";
import { auditEvents, loadAuditEvents } from "./audit-events.js";
import { excludedFires } from "./calendars.js";
import { h, replace } from "./dom.js";
import { upcomingFires } from "./exceptions.js";
import { localTime } from "./format.js";
import { onceBadge, whenText } from "./once.js";
import { labelChips } from "./labels.js";
import { loadRuns, timeline } from "./timeline.js";
import { enabledBadge, showError, showNotice, statusBadge, timePair } from "./widgets.js";

const CATCHUP = { skip: "recorded missed", latest: "the latest one runs", all: "each runs, oldest first" };
const OVERLAP = { skip: "a new fire is skipped", buffer_one: "one fire waits and runs next" };

/** @typedef {import("./types.js").ScheduleDetail} ScheduleDetail */
/** @typedef {import("./types.js").ScheduleView} ScheduleView */
/** @typedef {import("./types.js").RunPage} RunPage */
/** @typedef {import("./types.js").Run} Run */
/** @typedef {import("./types.js").RunAccepted} RunAccepted */
/** @typedef {import("./types.js").Workflow} Workflow */

// After Run now: how often and how long the page looks for the run's outcome.
const RUN_POLL_MS = 1000;
const RUN_POLL_TRIES = 60;

/** The run selected on a schedule's page: kept while the page is shown again (a refresh). */
/** @type {{scheduleId: string, runId: string | null}} */
const selection = { scheduleId: "", runId: null };

/**
 * Render schedule `id`'s page into `main`.
 * @param {HTMLElement} main
 * @param {string} id
 * @param {{selectedRun?: string | null}} [state]
 */
export async function renderSchedule(main, id, state = {}) {
  if (state.selectedRun !== undefined || selection.scheduleId !== id) {
    selection.scheduleId = id;
    selection.runId = state.selectedRun ?? null;
  }
  const path = `schedules/${encodeURIComponent(id)}`;
  /** @type {[ScheduleDetail, Awaited<ReturnType<typeof loadRuns>>, Awaited<ReturnType<typeof loadAuditEvents>>, Awaited<ReturnType<typeof loadAccounting>>]} */
  const [schedule, history, changes, accounting] = await Promise.all([
    call("GET", path),
    loadRuns(id),
    loadAuditEvents(id),
    loadAccounting(id),
  ]);
  /** @type {Workflow | null} */
  let workflow = null;
  try {
    workflow = await call("GET", `workflows/${encodeURIComponent(schedule.workflowId)}`);
  } catch {
    workflow = null; // the name is a nicety; the id is shown instead
  }
  const rerender = (/** @type {{selectedRun?: string | null}} */ next = {}) =>
    renderSchedule(main, id, next);

  /**
   * Run a change, then show the page again with `notice`; the API's message when it fails.
   * @param {() => Promise<unknown>} change
   * @param {string} notice
   */
  const act = async (change, notice) => {
    try {
      await change();
    } catch (error) {
      if (error instanceof Error && "signedOut" in error && error.signedOut) throw error;
      showError(error instanceof Error ? error.message : String(error));
      return;
    }
    showError("");
    showNotice(notice);
    await rerender();
  };

  const confirmDelete = deleteDialog(async () => {
    await call("DELETE", path);
    showNotice(`Deleted the schedule ${whenText(schedule)}.`);
    location.hash = "#/";
  });

  const actions = h(
    "div",
    { class: "actions", role: "group", "aria-label": "Schedule actions" },
    schedule.enabled
      ? h(
          "button",
          { type: "button", onclick: () => act(() => call("PATCH", path, { enabled: false }), "Paused.") },
          "Pause",
        )
      : h(
          "button",
          { type: "button", onclick: () => act(() => call("PATCH", path, { enabled: true }), "Resumed.") },
          "Resume",
        ),
    h(
      "button",
      {
        type: "button",
        onclick: async () => {
          try {
            /** @type {RunAccepted} */
            const accepted = await call("POST", `${path}/run`);
            showError("");
            showNotice(`Run requested for ${localTime(accepted.scheduledTime)}; its mark appears below.`);
            await waitForRun(main, id, accepted.scheduledTime);
          } catch (error) {
            if (error instanceof Error && "signedOut" in error && error.signedOut) throw error;
            showError(error instanceof Error ? error.message : String(error));
          }
        },
      },
      "Run now",
    ),
    h("button", { type: "button", onclick: () => (location.hash = `#/schedules/${id}/edit`) }, "Edit"),
    h("button", { type: "button", class: "danger", onclick: () => confirmDelete.showModal() }, "Delete"),
  );

  replace(
    main,
    h("p", {}, h("a", { href: "#/" }, "← All schedules")),
    h(
      "div",
      { class: "heading" },
      h("h2", {}, "Schedule ", h("code", {}, whenText(schedule))),
      enabledBadge(schedule.enabled),
      onceBadge(schedule),
    ),
    h("p", { class: "lead" }, schedule.description),
    schedule.invalidReason
      ? h("p", { class: "warning" }, `This schedule cannot fire: ${schedule.invalidReason}`)
      : null,
    actions,
    facts(schedule, workflow),
    timeline(schedule, history, selection.runId, (runId) => rerender({ selectedRun: runId })),
    accountingStrip(accounting),
    upcomingFires(schedule, path, act),
    excludedFires(schedule),
    dstNotes(schedule),
    auditEvents(id, changes),
    confirmDelete,
  );
}

/**
 * @param {ScheduleDetail} schedule
 * @param {Workflow | null} workflow
 */
function facts(schedule, workflow) {
  /** @type {[string, Node | string][]} */
  const rows = [
    ["Workflow", workflow ? workflow.name : schedule.workflowId],
    ["Timezone", schedule.timezone],
    ["Next fire time", timePair(schedule.nextRunAt, schedule.timezone)],
    ["Last run", schedule.lastRun ? statusBadge(schedule.lastRun.status) : "Never run"],
    ["Last success", timePair(schedule.lastRunAt, schedule.timezone)],
    [
      "Failed in a row",
      `${schedule.consecutiveFailures ?? 0}` +
        (schedule.pauseAfterFailures ? ` (paused at ${schedule.pauseAfterFailures})` : ""),
    ],
    ["Window", windowText(schedule)],
    [
      "Flexible window",
      schedule.flexibleWindowMinutes ? `up to ${schedule.flexibleWindowMinutes} min late` : "off",
    ],
    ["Note", schedule.note ?? "—"],
    // a label's chip opens the table filtered by it
    ["Labels", labelChips(schedule.labels, new URLSearchParams()) ?? "—"],
    [
      "Missed fire times",
      `${CATCHUP[schedule.catchupPolicy ?? "skip"]} (within ${schedule.catchupWindowSeconds ?? 3600} s)`,
    ],
    ["While it runs", OVERLAP[schedule.overlapPolicy ?? "skip"]],
    ["Daylight saving time", dstPolicyText(schedule)],
    [
      "EventBridge",
      h(
        "ul",
        { class: "plain" },
        schedule.eventbridgeExpressions.map((expression) => h("li", {}, h("code", {}, expression))),
      ),
    ],
  ];
  if (schedule.disabledReason) rows.push(["Disabled because", schedule.disabledReason]);
  return h(
    "section",
    { "aria-labelledby": "facts-heading" },
    h("h3", { id: "facts-heading" }, "Details"),
    h(
      "dl",
      { class: "facts" },
      rows.map(([term, value]) => h("div", {}, h("dt", {}, term), h("dd", {}, value))),
    ),
  );
}

/** @param {ScheduleView} schedule */
function windowText(schedule) {
  if (!schedule.startAt && !schedule.endAt) return "always";
  const from = schedule.startAt ? `from ${localTime(schedule.startAt)}` : "";
  const to = schedule.endAt ? `until ${localTime(schedule.endAt)}` : "";
  return [from, to].filter(Boolean).join(" ");
}

/** @param {ScheduleDetail} schedule */
function dstPolicyText(schedule) {
  const policy = schedule.dstPolicy ?? { springForward: "skip", fallBack: "first" };
  const spring = policy.springForward === "shift" ? "a skipped time runs after the gap" : "a skipped time does not run";
  const fall = {
    first: "a repeated time runs once, at its first occurrence",
    last: "a repeated time runs once, at its second occurrence",
    both: "a repeated time runs at both occurrences",
  }[policy.fallBack ?? "first"];
  return `${spring}; ${fall}`;
}

/**
 * @param {ScheduleDetail} schedule
 */
function dstNotes(schedule) {
  if (!schedule.dstNotes?.length) return null;
  return h(
    "section",
    { "aria-labelledby": "dst-heading" },
    h("h3", { id: "dst-heading" }, "Daylight saving time"),
    h("ul", {}, schedule.dstNotes.map((note) => h("li", {}, note.note))),
  );
}

/**
 * The confirmation of Delete: a modal dialog, Escape or Cancel to keep the schedule.
 * @param {() => Promise<void>} remove
 */
function deleteDialog(remove) {
  const error = h("p", { class: "field-error", role: "alert" });
  const dialog = h(
    "dialog",
    { "aria-labelledby": "delete-heading" },
    h("h3", { id: "delete-heading" }, "Delete this schedule?"),
    h("p", {}, "Its EventBridge schedule(s) and its run history are deleted. This cannot be undone."),
    error,
    h(
      "div",
      { class: "actions" },
      h(
        "button",
        {
          type: "button",
          class: "danger",
          onclick: async () => {
            try {
              await remove();
              dialog.close();
            } catch (failure) {
              if (failure instanceof Error && "signedOut" in failure && failure.signedOut) {
                dialog.close();
                throw failure;
              }
              error.textContent = failure instanceof Error ? failure.message : String(failure);
            }
          },
        },
        "Delete schedule",
      ),
      h("button", { type: "button", onclick: () => dialog.close() }, "Cancel"),
    ),
  );
  return dialog;
}

/**
 * After Run now: show the page again until the run of `scheduledTime` is there and done.
 * @param {HTMLElement} main
 * @param {string} id
 * @param {string} scheduledTime
 */
async function waitForRun(main, id, scheduledTime) {
  const due = new Date(scheduledTime).getTime();
  const page = location.hash;
  for (let attempt = 0; attempt < RUN_POLL_TRIES; attempt += 1) {
    if (location.hash !== page) return; // the user went elsewhere meanwhile
    /** @type {RunPage} */
    const runs = await call("GET", `schedules/${encodeURIComponent(id)}/runs${query({ limit: 5 })}`);
    const run = runs.items.find((item) => new Date(item.scheduledTime).getTime() === due);
    if (run && run.status !== "running") {
      await renderSchedule(main, id, { selectedRun: run.id });
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, RUN_POLL_MS));
  }
  await renderSchedule(main, id);
}
