// @ts-check
// New schedule and Edit: a form whose cron field is explained as the user types (the API's
// preview, debounced: description, next fire times, DST notes, or why it is invalid), and whose
// fields show the API's own message when a save is refused.

import { ApiError, call } from "./api.js";
import { h, replace } from "./dom.js";
import { fromLocalInput, localTime, toLocalInput, viewerZone, zonedTime } from "./format.js";
import { oncePicker, whenText } from "./once.js";
import { calendarChoice, chosenCalendars } from "./calendars.js";
import { labelLines, parseLabelLines } from "./labels.js";
import { allWorkflows } from "./schedules.js";
import { showError, showNotice } from "./widgets.js";

/** @typedef {import("./types.js").ScheduleDetail} ScheduleDetail */
/** @typedef {import("./types.js").ScheduleView} ScheduleView */
/** @typedef {import("./types.js").ScheduleCreate} ScheduleCreate */
/** @typedef {import("./types.js").ScheduleUpdate} ScheduleUpdate */
/** @typedef {import("./types.js").CronPreview} CronPreview */
/** @typedef {import("./types.js").CronPreviewRequest} CronPreviewRequest */

const PREVIEW_DELAY_MS = 300;
const DEFAULT_DST_POLICY = { springForward: "skip", fallBack: "first" };

/**
 * A labelled field with a hint and a place for the API's message about it.
 * @param {string} name the API's field name (camelCase), also the input's id suffix
 * @param {string} label
 * @param {HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement} input
 * @param {string} [hint]
 */
function field(name, label, input, hint) {
  const id = `field-${name}`;
  input.id = id;
  input.name = name;
  const described = [hint ? `${id}-hint` : null, `${id}-error`].filter(Boolean).join(" ");
  input.setAttribute("aria-describedby", described);
  return h(
    "div",
    { class: "field" },
    h("label", { for: id }, label),
    hint ? h("p", { class: "hint", id: `${id}-hint` }, hint) : null,
    input,
    h("p", { class: "field-error", id: `${id}-error` }),
  );
}

/**
 * A <select> of (value, label) options with `selected` chosen.
 * @param {string} selected
 * @param {Array<[string, string]>} options
 * @returns {HTMLSelectElement}
 */
function choice(selected, options) {
  return /** @type {HTMLSelectElement} */ (
    h(
      "select",
      {},
      options.map(([value, label]) => h("option", value === selected ? { value, selected: true } : { value }, label)),
    )
  );
}

/**
 * Put the API's message about `name` under its field (or clear it).
 * @param {HTMLFormElement} form
 * @param {string} name
 * @param {string | null} message
 */
function setFieldError(form, name, message) {
  const input = form.querySelector(`#field-${name}`);
  const error = form.querySelector(`#field-${name}-error`);
  if (!input || !error) return;
  error.textContent = message ?? "";
  if (message) input.setAttribute("aria-invalid", "true");
  else input.removeAttribute("aria-invalid");
}

/**
 * Render the form into `main`: a new schedule (no `id`) or schedule `id`'s edit.
 * @param {HTMLElement} main
 * @param {string | null} id
 */
export async function renderForm(main, id) {
  /** @type {ScheduleDetail | null} */
  const current = id ? await call("GET", `schedules/${encodeURIComponent(id)}`) : null;
  const workflows = current ? [] : await allWorkflows();

  const cron = h("input", {
    type: "text",
    value: current?.cron ?? "",
    required: true,
    autocomplete: "off",
    spellcheck: "false",
    placeholder: "0 7 * * MON-FRI",
  });
  const timezone = h("input", {
    type: "text",
    value: current?.timezone ?? "UTC",
    required: true,
    list: "timezones",
    autocomplete: "off",
  });
  const zones = h(
    "datalist",
    { id: "timezones" },
    (typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : ["UTC"]).map(
      (zone) => h("option", { value: zone }),
    ),
  );
  const workflow = h(
    "select",
    { required: true },
    workflows.map((item) => h("option", { value: item.id }, item.name)),
  );
  const enabled = h("input", { type: "checkbox", checked: current ? current.enabled : true });
  const startAt = h("input", { type: "datetime-local", value: toLocalInput(current?.startAt) });
  const endAt = h("input", { type: "datetime-local", value: toLocalInput(current?.endAt) });
  const flexible = h("input", {
    type: "number",
    min: "0",
    max: "1440",
    step: "1",
    inputmode: "numeric",
    value: String(current?.flexibleWindowMinutes ?? 0),
  });
  const note = h("input", { type: "text", maxlength: "500", value: current?.note ?? "" });
  const labels = h("textarea", { rows: "3", spellcheck: "false", autocomplete: "off" });
  labels.value = labelLines(current?.labels);
  const excludeCalendars = await calendarChoice(current?.excludeCalendars);
  const catchup = choice(current?.catchupPolicy ?? "skip", [
    ["skip", "Skip: record them missed"],
    ["latest", "Latest: run the most recent one"],
    ["all", "All: run each, oldest first"],
  ]);
  const catchupWindow = h("input", {
    type: "number",
    min: "60",
    max: "604800",
    step: "1",
    inputmode: "numeric",
    value: String(current?.catchupWindowSeconds ?? 3600),
  });
  // The DST policy: what the cron does with wall times a DST change skips or repeats.
  const springForward = choice(current?.dstPolicy?.springForward ?? "skip", [
    ["skip", "Skip: it does not run that day"],
    ["shift", "Shift: run at the first time after the gap"],
  ]);
  const fallBack = choice(current?.dstPolicy?.fallBack ?? "first", [
    ["first", "First: run once, at the first occurrence"],
    ["last", "Last: run once, at the second occurrence"],
    ["both", "Both: run at each occurrence"],
  ]);
  const overlap = choice(current?.overlapPolicy ?? "skip", [
    ["skip", "Skip the new run"],
    ["buffer_one", "Keep one waiting, run it next"],
  ]);
  const preview = h("div", { class: "preview", id: "cron-preview", "aria-live": "polite" });
  const once = oncePicker(current);
  const formError = h("div", { class: "form-error", role: "alert" });

  const form = h(
    "form",
    { class: "schedule-form", novalidate: true, "aria-labelledby": "form-heading" },
    current
      ? null
      : field("workflowId", "Workflow", workflow, workflows.length ? undefined : "You have no workflows."),
    field("kind", "Kind of schedule", once.kind),
    field("cron", "Cron expression", cron, "Five fields: minute hour day-of-month month day-of-week, e.g. 0 7 * * MON-FRI"),
    preview,
    field("at", "Once at", once.at, "A date and time on the schedule's clock (its timezone, below)"),
    field("timezone", "Timezone", timezone, "An IANA zone, e.g. Europe/Berlin"),
    zones,
    field("springForward", "A time the clocks skip (spring)", springForward, "02:30 on the night clocks jump from 02:00 to 03:00"),
    field("fallBack", "A time the clocks repeat (autumn)", fallBack, "02:30 on the night clocks go back from 03:00 to 02:00"),
    h(
      "div",
      { class: "field checkbox" },
      enabled,
      h("label", { for: "field-enabled" }, "Enabled (fires at its times)"),
    ),
    field("startAt", "Start (optional)", startAt, `Fire only from then on; in ${viewerZone()}`),
    field("endAt", "End (optional)", endAt, `Fire only until then; in ${viewerZone()}`),
    field("flexibleWindowMinutes", "Flexible window (minutes)", flexible, "0: on time; N: EventBridge may start up to N minutes late"),
    field("note", "Note (optional)", note, "Why it is paused, who owns it"),
    field("labels", "Labels (optional)", labels, "One key=value a line, e.g. team=billing; the table filters by them"),
    field("excludeCalendars", "Excluded calendars (optional)", excludeCalendars, "No fire on these calendars' dates (Calendars)"),
    field("catchupPolicy", "Missed fire times", catchup, "Fire times that did not run (an outage, a throttle)"),
    field("catchupWindowSeconds", "Catch-up window (seconds)", catchupWindow, "Older missed fire times are only recorded"),
    field("overlapPolicy", "When a run is still running", overlap, "What a fire does while the workflow runs"),
    formError,
    h(
      "div",
      { class: "actions" },
      h("button", { type: "submit", class: "primary" }, current ? "Save changes" : "Create schedule"),
      h("a", { href: current ? `#/schedules/${current.id}` : "#/" }, "Cancel"),
    ),
  );
  /** The two selects as the API's dstPolicy. */
  function dstPolicy() {
    return {
      springForward: /** @type {"skip" | "shift"} */ (springForward.value),
      fallBack: /** @type {"first" | "last" | "both"} */ (fallBack.value),
    };
  }
  enabled.id = "field-enabled";
  enabled.name = "enabled";
  once.kind.addEventListener("change", () => once.apply(form));
  once.apply(form);

  // The live preview: one request once the user pauses typing; a later answer replaces it.
  let previewTimer = 0;
  let previewSeq = 0;
  const refreshPreview = () => {
    window.clearTimeout(previewTimer);
    previewTimer = window.setTimeout(async () => {
      const seq = (previewSeq += 1);
      if (!cron.value.trim() || once.isOnce()) {
        replace(preview);
        setFieldError(form, "cron", null);
        return;
      }
      /** @type {CronPreviewRequest} */
      const request = {
        cron: cron.value,
        timezone: timezone.value || "UTC",
        dstPolicy: dstPolicy(),
      };
      const start = fromLocalInput(startAt.value);
      const end = fromLocalInput(endAt.value);
      if (start) request.startAt = start;
      if (end) request.endAt = end;
      try {
        /** @type {CronPreview} */
        const answer = await call("POST", "cron/preview", request);
        const zoneRefused = !answer.valid && (await refusesTimezone(request.timezone ?? "UTC"));
        if (seq !== previewSeq) return;
        if (zoneRefused) {
          replace(preview);
          setFieldError(form, "cron", null);
          setFieldError(form, "timezone", answer.error ?? "invalid");
          return;
        }
        setFieldError(form, "timezone", null);
        showPreview(form, preview, answer);
      } catch (error) {
        if (seq !== previewSeq) return;
        if (error instanceof ApiError && error.signedOut) throw error;
        replace(preview);
        const zoneMessage = error instanceof ApiError ? error.fieldMessage("timezone") : null;
        setFieldError(form, "timezone", zoneMessage);
        setFieldError(
          form,
          "cron",
          zoneMessage
            ? null
            : error instanceof ApiError
              ? (error.fieldMessage("cron") ?? error.message)
              : String(error),
        );
      }
    }, PREVIEW_DELAY_MS);
  };
  for (const input of [cron, timezone, startAt, endAt]) input.addEventListener("input", refreshPreview);
  for (const select of [springForward, fallBack]) select.addEventListener("change", refreshPreview);

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    formError.textContent = "";
    for (const name of [
      "workflowId",
      "cron",
      "at",
      "timezone",
      "startAt",
      "endAt",
      "flexibleWindowMinutes",
      "note",
      "labels",
      "excludeCalendars",
      "catchupPolicy",
      "catchupWindowSeconds",
      "overlapPolicy",
      "springForward",
      "fallBack",
    ]) {
      setFieldError(form, name, null);
    }
    /** @type {Record<string, string>} */
    let labelValues;
    try {
      labelValues = parseLabelLines(labels.value);
    } catch (error) {
      setFieldError(form, "labels", error instanceof Error ? error.message : String(error));
      return;
    }
    /** @type {Record<string, unknown>} */
    const values = {
      cron: cron.value.trim(),
      timezone: timezone.value.trim(),
      enabled: enabled.checked,
      startAt: fromLocalInput(startAt.value),
      endAt: fromLocalInput(endAt.value),
      flexibleWindowMinutes: flexible.value === "" ? 0 : Number(flexible.value),
      note: note.value.trim() || null,
      catchupPolicy: catchup.value,
      catchupWindowSeconds: catchupWindow.value === "" ? 3600 : Number(catchupWindow.value),
      overlapPolicy: overlap.value,
      labels: labelValues,
      excludeCalendars: chosenCalendars(excludeCalendars),
      dstPolicy: dstPolicy(),
    };
    if (once.isOnce()) {
      // One-time: `at` instead of the cron, and no window (null clears a stored one).
      delete values.cron;
      Object.assign(values, { startAt: null, endAt: null });
      if (!once.unchanged(/** @type {string} */ (values.timezone))) values.at = once.value();
    }
    try {
      /** @type {ScheduleView} */
      let saved;
      if (current) {
        saved = await call("PATCH", `schedules/${encodeURIComponent(current.id)}`, changes(current, values));
        showNotice("Saved.");
      } else {
        /** @type {Record<string, unknown>} */
        const body = { workflowId: workflow.value };
        for (const [name, value] of Object.entries(values)) if (value !== null) body[name] = value;
        saved = await call("POST", "schedules", /** @type {ScheduleCreate} */ (body));
        showNotice(`Created the schedule ${whenText(saved)}.`);
      }
      showError("");
      location.hash = `#/schedules/${saved.id}`;
    } catch (error) {
      if (error instanceof ApiError && error.signedOut) throw error;
      const message = error instanceof Error ? error.message : String(error);
      formError.textContent = message;
      if (error instanceof ApiError) {
        for (const name of Object.keys(values).concat("workflowId")) {
          setFieldError(form, name, error.fieldMessage(name));
        }
        setFieldError(form, "springForward", error.fieldMessage("dstPolicy"));
      }
    }
  });

  replace(
    main,
    h("p", {}, h("a", { href: current ? `#/schedules/${current.id}` : "#/" }, current ? "← Back to the schedule" : "← All schedules")),
    h("h2", { id: "form-heading" }, current ? "Edit schedule" : "New schedule"),
    form,
  );
  refreshPreview();
  (current ? cron : workflows.length ? workflow : cron).focus();
}

/**
 * Whether the preview refuses `timezone` itself: its answer names no field, so a cron valid in
 * every zone asks. (An invalid cron is answered first, so this is asked only when needed.)
 * @param {string} timezone
 */
async function refusesTimezone(timezone) {
  /** @type {CronPreview} */
  const probe = await call("POST", "cron/preview", { cron: "0 0 * * *", timezone });
  return !probe.valid;
}

/**
 * What the form changes of `current`: only those fields (PATCH needs at least one).
 * @param {ScheduleView} current
 * @param {Record<string, unknown>} values
 * @returns {ScheduleUpdate}
 */
function changes(current, values) {
  /** @type {Record<string, unknown>} */
  const changed = {};
  const stored = /** @type {Record<string, unknown>} */ (/** @type {unknown} */ (current));
  for (const [name, value] of Object.entries(values)) {
    const before = stored[name] ?? null;
    const same =
      (name === "startAt" || name === "endAt") && before && value
        ? new Date(String(before)).getTime() === new Date(String(value)).getTime()
        : name === "excludeCalendars"
          ? JSON.stringify(before ?? []) === JSON.stringify(value)
          : name === "labels"
          ? labelLines(/** @type {Record<string, string>} */ (before ?? {})) ===
            labelLines(/** @type {Record<string, string>} */ (value))
          : name === "dstPolicy"
            ? JSON.stringify(before ?? DEFAULT_DST_POLICY) === JSON.stringify(value)
            : before === value;
    if (!same) changed[name] = value;
  }
  // Nothing changed: send the cron (or a one-time schedule's note) as it is: a no-op change.
  if (Object.keys(changed).length === 0) {
    if (current.cron) changed.cron = current.cron;
    else changed.note = current.note ?? null;
  }
  return /** @type {ScheduleUpdate} */ (changed);
}

/**
 * @param {HTMLFormElement} form
 * @param {HTMLElement} preview
 * @param {CronPreview} answer
 */
function showPreview(form, preview, answer) {
  if (!answer.valid) {
    replace(preview);
    setFieldError(form, "cron", answer.error ?? "invalid");
    return;
  }
  setFieldError(form, "cron", null);
  replace(
    preview,
    h("p", { class: "description" }, answer.description ?? ""),
    h("p", { class: "hint" }, "EventBridge: ", (answer.eventbridgeExpressions ?? []).map((expr) => h("code", {}, `${expr} `))),
    answer.nextRunTimes?.length
      ? h(
          "div",
          {},
          h("h3", {}, "Next fire times"),
          h(
            "ol",
            { class: "plain" },
            answer.nextRunTimes.map((when) =>
              h("li", {}, h("time", { datetime: when }, localTime(when)), " · ", zonedTime(when, answer.timezone)),
            ),
          ),
        )
      : h("p", { class: "muted" }, "No fire time in the window."),
    answer.dstNotes?.length
      ? h("div", {}, h("h3", {}, "Daylight saving time"), h("ul", {}, answer.dstNotes.map((dst) => h("li", {}, dst.note))))
      : null,
  );
}
