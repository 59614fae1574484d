// @ts-check
// One-time schedules (`at`) in the dashboard: the form's choice between a cron and "Once at" (a
// date and time on the schedule's own clock: the API reads a wall time without offset in the
// schedule's timezone), and what the table and the schedule page show instead of a cron.

import { h } from "./dom.js";

/** @typedef {import("./types.js").ScheduleView} ScheduleView */
/** @typedef {import("./types.js").ScheduleListItem} ScheduleListItem */

/**
 * The wall time an `at` names on its schedule's clock, as a datetime-local value: the API shows
 * `at` with the zone's offset then ("2026-12-11T17:00:00+01:00"), so its first 16 characters.
 * @param {string | null | undefined} at
 */
export function atInputValue(at) {
  return at ? at.slice(0, 16) : "";
}

/**
 * What names a schedule where its cron goes: the cron, or "once at 2026-12-11 17:00".
 * @param {{ cron?: string | null, at?: string | null }} schedule
 */
export function whenText(schedule) {
  return schedule.at ? `once at ${atInputValue(schedule.at).replace("T", " ")}` : (schedule.cron ?? "");
}

/**
 * A one-time schedule's state: pending until its fire time; then its run's outcome ("ran",
 * "missed", "running") when the newest run is the one of its `at`, else "due" (EventBridge's
 * delivery, or the missed-fire check, is still to come). Null for a cron schedule.
 * @param {ScheduleListItem} schedule
 * @returns {"pending" | "ran" | "missed" | "running" | "due" | null}
 */
export function onceState(schedule) {
  if (!schedule.at) return null;
  if (schedule.nextRunAt) return "pending";
  const run = schedule.lastRun;
  if (!run || new Date(run.scheduledTime).getTime() !== new Date(schedule.at).getTime()) return "due";
  if (run.status === "missed") return "missed";
  if (run.status === "running" || run.status === "buffered") return "running";
  return "ran";
}

/**
 * The badge of onceState (nothing for a cron schedule).
 * @param {ScheduleListItem} schedule
 */
export function onceBadge(schedule) {
  const state = onceState(schedule);
  return state ? h("span", { class: `badge once-${state}`, "data-once": state }, state) : null;
}

/**
 * The form's choice of kind and its "Once at" input. `apply` shows the fields of the chosen
 * kind and hides the others (a one-time schedule has no cron and no window).
 * @param {ScheduleView | null} current
 */
export function oncePicker(current) {
  const kind = /** @type {HTMLSelectElement} */ (
    h(
      "select",
      { id: "field-kind", name: "kind" },
      h("option", current?.at ? { value: "cron" } : { value: "cron", selected: true }, "Repeat on a cron"),
      h("option", current?.at ? { value: "once", selected: true } : { value: "once" }, "Once at"),
    )
  );
  const at = /** @type {HTMLInputElement} */ (h("input", { type: "datetime-local", value: atInputValue(current?.at) }));
  return {
    kind,
    at,
    /** True when the form makes a one-time schedule. */
    isOnce: () => kind.value === "once",
    /**
     * `at` as the API takes it: the wall time in the schedule's timezone ("…T17:00:00").
     * @returns {string | null}
     */
    value: () => (at.value ? `${at.value.slice(0, 16)}:00` : null),
    /**
     * Whether the form's `at` is the stored one: a schedule read back unchanged is no change
     * (its `at` may be past: sending it again would be refused).
     * @param {string | null} timezone
     */
    unchanged: (timezone) =>
      Boolean(current?.at) && atInputValue(current?.at) === at.value && timezone === current?.timezone,
    /**
     * Show the fields of the chosen kind, hide the others.
     * @param {HTMLFormElement} form
     */
    apply(form) {
      const once = kind.value === "once";
      // Inline display, not `hidden`: the stylesheet's `.field` display would override it.
      /** @param {Element | null | undefined} element @param {boolean} shown */
      const show = (element, shown) => {
        if (element instanceof HTMLElement) element.style.display = shown ? "" : "none";
      };
      for (const name of ["cron", "startAt", "endAt"]) {
        show(form.querySelector(`#field-${name}`)?.closest(".field"), !once);
      }
      show(form.querySelector("#cron-preview"), !once);
      show(at.closest(".field"), once);
      const cron = form.querySelector("#field-cron");
      if (cron instanceof HTMLInputElement) cron.required = !once;
      at.required = once;
    },
  };
}
