// @ts-check
// "Pause all matching…" / "Resume all matching…" on the schedules list: a bulk change of every
// schedule the list's filter (the address's parameters) matches. A dry run first says how many
// would change; the dialog asks for the note (required to pause) and a confirmation; the answer
// (changed, EventBridge updates still pending) is shown. The API: POST /api/schedules/bulk-pause
// and /bulk-resume (docs/api.md).

import { call } from "./api.js";
import { h } from "./dom.js";

/** @typedef {import("./types.js").BulkChangeResult} BulkChangeResult */

// The most one request may change (the API's own bound: BULK_MAX_LIMIT).
const MAX_LIMIT = 10000;
// The list's filter parameters, as the address carries them (label may repeat).
const SINGLE = ["workflowId", "externalId", "q", "lastRunStatus"];

/**
 * The bulk request's filter from the list's address parameters.
 * @param {URLSearchParams} address
 * @returns {Record<string, unknown>}
 */
export function filterFromAddress(address) {
  /** @type {Record<string, unknown>} */
  const filter = {};
  for (const name of SINGLE) {
    const value = address.get(name);
    if (value) filter[name] = value;
  }
  const enabled = address.get("enabled");
  if (enabled === "true" || enabled === "false") filter.enabled = enabled === "true";
  const labels = address.getAll("label").filter(Boolean);
  if (labels.length) filter.label = labels;
  return filter;
}

/**
 * The two buttons, each opening its dialog; `done` shows the list again after a change.
 * @param {URLSearchParams} address
 * @param {() => void} done
 */
export function bulkActions(address, done) {
  const filter = filterFromAddress(address);
  // The dialog opens inside it, in the page's main: the list's auto-refresh waits while it is
  // open (refresh.js).
  const actions = h("div", { class: "bulk-actions" });
  actions.append(
    h("button", { type: "button", onclick: () => openDialog(actions, "pause", filter, done) }, "Pause all matching…"),
    h("button", { type: "button", onclick: () => openDialog(actions, "resume", filter, done) }, "Resume all matching…"),
  );
  return actions;
}

/**
 * @param {HTMLElement} container
 * @param {"pause" | "resume"} action
 * @param {Record<string, unknown>} filter
 * @param {() => void} done
 */
async function openDialog(container, action, filter, done) {
  const verb = action === "pause" ? "Pause" : "Resume";
  const path = `schedules/bulk-${action}`;
  const summary = h("p", { id: "bulk-summary", role: "status" }, "Counting the matching schedules…");
  const error = h("p", { class: "field-error", role: "alert" });
  const note = h("input", {
    id: "bulk-note",
    name: "note",
    maxlength: "500",
    required: action === "pause",
    "aria-describedby": "bulk-note-hint",
  });
  const confirm = h("button", { type: "submit", class: action === "pause" ? "danger" : "primary", disabled: true }, verb);
  const cancel = h("button", { type: "button", onclick: () => dialog.close() }, "Cancel");
  /** @type {BulkChangeResult | null} */
  let planned = null;
  const form = h(
    "form",
    {
      method: "dialog",
      onsubmit: async (/** @type {Event} */ event) => {
        event.preventDefault();
        if (!planned) return;
        const text = note.value.trim();
        if (action === "pause" && !text) {
          error.textContent = "Say why (the incident): the note is shown on every paused schedule.";
          return;
        }
        confirm.disabled = true;
        error.textContent = "";
        try {
          /** @type {Record<string, unknown>} */
          const body = { filter, limit: Math.max(planned.matched, 1) };
          if (text) body.note = text;
          /** @type {BulkChangeResult} */
          const result = await call("POST", path, body);
          showResult(action, result);
          note.disabled = true;
          cancel.textContent = "Close";
          dialog.addEventListener("close", done, { once: true });
        } catch (failure) {
          error.textContent = failure instanceof Error ? failure.message : String(failure);
          confirm.disabled = false;
        }
      },
    },
    h("h3", { id: "bulk-heading" }, `${verb} all matching schedules?`),
    summary,
    h(
      "div",
      { class: "field" },
      h("label", { for: "bulk-note" }, action === "pause" ? "Note (why; required)" : "Note (optional)"),
      note,
    ),
    h(
      "p",
      { class: "hint", id: "bulk-note-hint" },
      action === "pause"
        ? "Set on every schedule this pauses (one already paused keeps its own)."
        : "Replaces the note of every schedule this resumes; leave it empty to keep their notes.",
    ),
    error,
    h("div", { class: "actions" }, confirm, cancel),
  );
  const dialog = h("dialog", { "aria-labelledby": "bulk-heading", class: "bulk-dialog" }, form);
  dialog.addEventListener("close", () => dialog.remove());
  container.append(dialog);
  dialog.showModal();

  /**
   * @param {"pause" | "resume"} doneAction
   * @param {BulkChangeResult} result
   */
  function showResult(doneAction, result) {
    const changed = `${doneAction === "pause" ? "Paused" : "Resumed"} ${count(result.changed)}`;
    const state = doneAction === "pause" ? "paused" : "resumed";
    const pending = result.eventbridgePending
      ? ` EventBridge updates still pending: ${result.eventbridgePending} (made within minutes; the schedules are already ${state}).`
      : "";
    const left = result.skipped?.length ?? 0;
    const skipped = left ? ` ${count(left)} left paused: cron or timezone no longer valid.` : "";
    summary.textContent = `${changed}.${skipped}${pending}`;
    confirm.hidden = true;
  }

  try {
    /** @type {BulkChangeResult} */
    const plan = await call("POST", path, { filter, limit: MAX_LIMIT, dryRun: true });
    planned = plan;
    const skipped = plan.skipped?.length ?? 0;
    const already = plan.matched - plan.changed - skipped;
    summary.textContent =
      `${count(plan.matched)} ${plan.matched === 1 ? "matches" : "match"} the filter: ` +
      `${count(plan.changed)} will be ` +
      `${action === "pause" ? "paused" : "resumed"}` +
      (already ? `, ${already} already ${action === "pause" ? "paused" : "enabled"}` : "") +
      (skipped ? `, ${skipped} cannot be resumed (invalid cron or timezone)` : "") +
      ".";
    confirm.textContent = `${verb} ${count(plan.changed)}`;
    confirm.disabled = plan.changed === 0;
    note.focus();
  } catch (failure) {
    summary.textContent = "";
    error.textContent = failure instanceof Error ? failure.message : String(failure);
  }
}

/** @param {number} n */
function count(n) {
  return n === 1 ? "1 schedule" : `${n} schedules`;
}
