// @ts-check
// A schedule's upcoming fire times with their exceptions (issue #26): each fire time gets
// "Skip" and "Move…" (skip or move that one occurrence, without pausing the schedule); a moved
// one is shown at its new time; the exceptions still to come are listed with "Remove".

import { call } from "./api.js";
import { h } from "./dom.js";
import { fromLocalInput, localTime, toLocalInput, viewerZone, zonedTime } from "./format.js";

/** @typedef {import("./types.js").ScheduleDetail} ScheduleDetail */
/** @typedef {import("./types.js").ScheduleException} ScheduleException */

/**
 * The "Next fire times" section, with the exception actions and list.
 * @param {ScheduleDetail} schedule
 * @param {string} path the schedule's API path (schedules/<id>)
 * @param {(change: () => Promise<unknown>, notice: string) => Promise<void>} act run a change,
 *   then show the page again with the notice (the API's message when it fails)
 */
export function upcomingFires(schedule, path, act) {
  const exceptions = schedule.exceptions ?? [];
  const movedTo = new Map(
    exceptions.filter((e) => e.action === "move" && e.moveTo).map((e) => [time(e.moveTo), e]),
  );
  const fires = schedule.nextRunTimes ?? [];
  return h(
    "section",
    { "aria-labelledby": "next-heading" },
    h("h3", { id: "next-heading" }, "Next fire times"),
    fires.length
      ? h(
          "ol",
          { class: "plain fires" },
          fires.map((when) => fireItem(schedule, path, act, when, movedTo.get(time(when)) ?? null)),
        )
      : h("p", { class: "muted" }, schedule.enabled ? "None: the schedule does not fire again." : "None while paused."),
    exceptionList(schedule, path, act, exceptions),
  );
}

/**
 * One upcoming fire time: when, and Skip / Move… (none for a moved one: remove its move).
 * @param {ScheduleDetail} schedule
 * @param {string} path
 * @param {(change: () => Promise<unknown>, notice: string) => Promise<void>} act
 * @param {string} when
 * @param {ScheduleException | null} moved the move that brings an occurrence here
 */
function fireItem(schedule, path, act, when, moved) {
  const label = localTime(when);
  const shown = [
    h("time", { datetime: when }, label),
    ` (${viewerZone()}) · `,
    zonedTime(when, schedule.timezone),
  ];
  if (moved) {
    return h("li", {}, shown, h("span", { class: "muted" }, ` · moved from ${localTime(moved.occurrence)}`));
  }
  // a one-time schedule's only fire is changed with Edit (its `at`), not with an exception
  if (!schedule.cron) return h("li", {}, shown);
  const input = h("input", {
    type: "datetime-local",
    value: toLocalInput(when),
    "aria-label": `New time for ${label}`,
  });
  const mover = h(
    "form",
    {
      class: "inline",
      hidden: true,
      onsubmit: (/** @type {Event} */ event) => {
        event.preventDefault();
        const moveTo = fromLocalInput(input.value);
        if (!moveTo) return;
        act(
          () => call("POST", `${path}/exceptions`, { occurrence: when, action: "move", moveTo }),
          `Moved ${label} to ${localTime(moveTo)}.`,
        );
      },
    },
    input,
    h("button", { type: "submit" }, "Move"),
  );
  return h(
    "li",
    {},
    shown,
    " ",
    h(
      "button",
      {
        type: "button",
        class: "small",
        "aria-label": `Skip ${label}`,
        onclick: () =>
          act(() => call("POST", `${path}/exceptions`, { occurrence: when, action: "skip" }), `Skipped ${label}.`),
      },
      "Skip",
    ),
    " ",
    h(
      "button",
      {
        type: "button",
        class: "small",
        "aria-label": `Move ${label}`,
        onclick: () => {
          mover.hidden = !mover.hidden;
          if (!mover.hidden) input.focus();
        },
      },
      "Move…",
    ),
    mover,
  );
}

/**
 * The exceptions still to come, each with Remove.
 * @param {ScheduleDetail} schedule
 * @param {string} path
 * @param {(change: () => Promise<unknown>, notice: string) => Promise<void>} act
 * @param {ScheduleException[]} exceptions
 */
function exceptionList(schedule, path, act, exceptions) {
  if (!exceptions.length) return null;
  return h(
    "div",
    { class: "exceptions" },
    h("h4", { id: "exceptions-heading" }, "Exceptions"),
    h(
      "ul",
      { class: "plain", "aria-labelledby": "exceptions-heading" },
      exceptions.map((exception) => {
        const what =
          exception.action === "skip"
            ? `Skipped: ${localTime(exception.occurrence)}`
            : `Moved: ${localTime(exception.occurrence)} → ${localTime(exception.moveTo ?? "")}`;
        return h(
          "li",
          {},
          what,
          exception.note ? h("span", { class: "muted" }, ` (${exception.note})`) : null,
          " ",
          h(
            "button",
            {
              type: "button",
              class: "small",
              "aria-label": `Remove the exception of ${localTime(exception.occurrence)}`,
              onclick: () =>
                act(
                  () => call("DELETE", `${path}/exceptions/${encodeURIComponent(exception.id)}`),
                  `Removed the exception of ${localTime(exception.occurrence)}: it fires as ${schedule.cron} says.`,
                ),
            },
            "Remove",
          ),
        );
      }),
    ),
  );
}

/** @param {string | null | undefined} when */
function time(when) {
  return when ? new Date(when).getTime() : NaN;
}
