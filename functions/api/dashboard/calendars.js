// @ts-check
// Exclusion calendars (docs: Exclusion calendars): the list, a calendar's form (its dates one
// range a line) with what it removes from the schedules that use it, its delete (refused while
// schedules use it: the answer names them and offers to detach them), the schedule form's
// choice of calendars, and a schedule page's upcoming excluded fires.
//
//   #/calendars            the list
//   #/calendars/new        New calendar
//   #/calendars/<id>       a calendar: edit, preview, delete

import { ApiError, call } from "./api.js";
import { h, replace } from "./dom.js";
import { localTime, viewerZone, zonedTime } from "./format.js";
import { showError, showNotice } from "./widgets.js";

/** @typedef {import("./types.js").Calendar} Calendar */
/** @typedef {import("./types.js").CalendarPage} CalendarPage */
/** @typedef {import("./types.js").CalendarPreview} CalendarPreview */
/** @typedef {import("./types.js").ScheduleDetail} ScheduleDetail */
/** @typedef {{start: string, end?: string | null}} DateRange */

/** Every calendar of the user (at most 100 per owner: two pages). */
async function allCalendars() {
  /** @type {Calendar[]} */
  const items = [];
  let cursor = "";
  do {
    /** @type {CalendarPage} */
    const page = await call("GET", `calendars?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    items.push(...page.items);
    cursor = page.nextCursor ?? "";
  } while (cursor);
  return items;
}

/**
 * A range as a line: "2026-12-24" or "2026-12-24..2026-12-26".
 * @param {DateRange} range
 */
function rangeText(range) {
  return range.end && range.end !== range.start ? `${range.start}..${range.end}` : range.start;
}

/**
 * The lines of the dates box as ranges; Error naming the first line that is not one.
 * @param {string} text
 * @returns {DateRange[]}
 */
function parseRanges(text) {
  /** @type {DateRange[]} */
  const ranges = [];
  for (const [index, raw] of text.split("\n").entries()) {
    const line = raw.trim();
    if (!line) continue;
    const match = line.match(/^(\d{4}-\d{2}-\d{2})(?:\s*\.\.\s*(\d{4}-\d{2}-\d{2}))?$/);
    if (!match) throw new Error(`Line ${index + 1}: write a date (2026-12-24) or a range (2026-12-24..2026-12-26)`);
    ranges.push(match[2] ? { start: match[1], end: match[2] } : { start: match[1] });
  }
  return ranges;
}

/** @param {Calendar} calendar */
function datesSummary(calendar) {
  const shown = calendar.dates.slice(0, 3).map(rangeText).join(", ");
  const more = calendar.dates.length - 3;
  return more > 0 ? `${shown} and ${more} more` : shown || "no dates";
}

/**
 * The calendars table.
 * @param {HTMLElement} main
 */
export async function renderCalendars(main) {
  const calendars = await allCalendars();
  replace(
    main,
    h("h2", {}, "Calendars"),
    h("p", { class: "lead" }, "Dates your schedules do not fire on (holidays, freeze windows)."),
    h("p", {}, h("a", { href: "#/calendars/new", class: "button" }, "New calendar")),
    calendars.length
      ? h(
          "table",
          { "aria-label": "Calendars" },
          h("thead", {}, h("tr", {}, ["Name", "Timezone", "Dates", "Used by"].map((t) => h("th", { scope: "col" }, t)))),
          h(
            "tbody",
            {},
            calendars.map((calendar) =>
              h(
                "tr",
                {},
                h("td", {}, h("a", { href: `#/calendars/${calendar.id}` }, calendar.name)),
                h("td", {}, calendar.timezone),
                h("td", {}, datesSummary(calendar)),
                h("td", {}, `${calendar.scheduleCount ?? 0} schedule(s)`),
              ),
            ),
          ),
        )
      : h("p", { class: "muted" }, "No calendars yet."),
  );
}

/**
 * A calendar's form (new when `id` is null), with its preview and delete.
 * @param {HTMLElement} main
 * @param {string | null} id
 */
export async function renderCalendar(main, id) {
  const path = id ? `calendars/${encodeURIComponent(id)}` : null;
  /** @type {Calendar | null} */
  const current = path ? await call("GET", path) : null;
  /** @type {CalendarPreview | null} */
  const preview = path ? await call("GET", `${path}/preview`) : null;

  const name = h("input", { id: "calendar-name", type: "text", required: true, maxlength: "100", value: current?.name ?? "" });
  const timezone = h("input", { id: "calendar-timezone", type: "text", required: true, value: current?.timezone ?? "UTC" });
  const note = h("input", { id: "calendar-note", type: "text", maxlength: "1000", value: current?.note ?? "" });
  const dates = h("textarea", { id: "calendar-dates", rows: "8", spellcheck: "false", autocomplete: "off" });
  dates.value = (current?.dates ?? []).map(rangeText).join("\n");
  const formError = h("div", { class: "form-error", role: "alert" });
  const inUse = h("div", { class: "in-use", role: "alert" });

  /**
   * @param {string} label
   * @param {HTMLElement} input
   * @param {string} [hint]
   */
  const field = (label, input, hint) =>
    h("div", { class: "field" }, h("label", { for: input.id }, label), hint ? h("p", { class: "hint" }, hint) : null, input);

  const form = h(
    "form",
    {
      class: "schedule-form",
      novalidate: true,
      onsubmit: async (/** @type {Event} */ event) => {
        event.preventDefault();
        formError.textContent = "";
        /** @type {DateRange[]} */
        let ranges;
        try {
          ranges = parseRanges(dates.value);
        } catch (error) {
          formError.textContent = error instanceof Error ? error.message : String(error);
          return;
        }
        const body = { name: name.value.trim(), timezone: timezone.value.trim(), note: note.value.trim() || null, dates: ranges };
        try {
          /** @type {Calendar} */
          const saved = path ? await call("PATCH", path, body) : await call("POST", "calendars", body);
          showError("");
          showNotice(path ? "Saved: fires claimed from now on follow it." : `Created the calendar ${saved.name}.`);
          location.hash = `#/calendars/${saved.id}`;
          if (path) await renderCalendar(main, saved.id);
        } catch (error) {
          if (error instanceof ApiError && error.signedOut) throw error;
          formError.textContent = error instanceof Error ? error.message : String(error);
        }
      },
    },
    field("Name", name),
    field("Timezone", timezone, "The dates are days on this zone's clock, e.g. America/New_York"),
    field("Note (optional)", note),
    field("Dates", dates, "One a line: a day (2026-12-24) or a range (2026-12-24..2026-12-26)"),
    formError,
    h(
      "div",
      { class: "actions" },
      h("button", { type: "submit", class: "primary" }, current ? "Save calendar" : "Create calendar"),
      current ? h("button", { type: "button", class: "danger", onclick: () => remove(false) }, "Delete calendar") : null,
    ),
    inUse,
  );

  /** @param {boolean} detach */
  const remove = async (detach) => {
    if (!path || !current) return;
    try {
      await call("DELETE", `${path}${detach ? "?detach=true" : ""}`);
    } catch (error) {
      if (error instanceof ApiError && error.code === "calendar_in_use") {
        const names = (error.details ?? []).map((d) => String(d.name ?? d.scheduleId));
        replace(
          inUse,
          h("p", {}, error.message),
          h("ul", {}, names.map((n) => h("li", {}, n))),
          h("button", { type: "button", class: "danger", onclick: () => remove(true) }, "Detach from them and delete"),
        );
        return;
      }
      throw error;
    }
    showNotice(`Deleted the calendar ${current.name}.`);
    location.hash = "#/calendars";
  };

  replace(
    main,
    h("p", {}, h("a", { href: "#/calendars" }, "← All calendars")),
    h("h2", {}, current ? `Calendar ${current.name}` : "New calendar"),
    form,
    preview ? previewSection(preview) : null,
  );
  name.focus();
}

/** @param {CalendarPreview} preview */
function previewSection(preview) {
  return h(
    "section",
    { "aria-labelledby": "removes-heading" },
    h("h3", { id: "removes-heading" }, "Fires it removes"),
    preview.schedules.length
      ? h(
          "ul",
          { "aria-label": "Fires it removes" },
          preview.schedules.map((item) =>
            h(
              "li",
              {},
              h("a", { href: `#/schedules/${item.scheduleId}` }, item.scheduleName ?? item.scheduleId),
              ": ",
              item.excludedRunTimes.length ? item.excludedRunTimes.map((t) => localTime(t)).join(", ") : "none in the next year",
            ),
          ),
        )
      : h("p", { class: "muted" }, "No schedule uses it."),
  );
}

/**
 * The schedule form's choice of calendars: a multiple <select> of the user's calendars.
 * @param {string[] | undefined} selected
 * @returns {Promise<HTMLSelectElement>}
 */
export async function calendarChoice(selected) {
  const chosen = new Set(selected ?? []);
  const calendars = await allCalendars();
  return /** @type {HTMLSelectElement} */ (
    h(
      "select",
      { multiple: true, size: String(Math.min(Math.max(calendars.length, 2), 6)) },
      calendars.map((c) => h("option", chosen.has(c.id) ? { value: c.id, selected: true } : { value: c.id }, c.name)),
    )
  );
}

/**
 * The ids chosen in calendarChoice's <select>.
 * @param {HTMLSelectElement} select
 */
export function chosenCalendars(select) {
  return Array.from(select.selectedOptions, (option) => option.value);
}

/**
 * A schedule page's upcoming fires its calendars remove (none: nothing shown).
 * @param {ScheduleDetail} schedule
 */
export function excludedFires(schedule) {
  const excluded = schedule.excludedRunTimes ?? [];
  if (!excluded.length) return null;
  return h(
    "section",
    { "aria-labelledby": "excluded-heading" },
    h("h3", { id: "excluded-heading" }, "Excluded fire times"),
    h(
      "ol",
      { class: "plain", "aria-label": "Excluded fire times" },
      excluded.map((fire) =>
        h(
          "li",
          {},
          h("time", { datetime: fire.time }, localTime(fire.time)),
          ` (${viewerZone()}) · ${zonedTime(fire.time, schedule.timezone)} · skipped by calendar ${fire.calendar}`,
        ),
      ),
    ),
  );
}
