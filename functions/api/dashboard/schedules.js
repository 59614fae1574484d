// @ts-check
// The schedules table: one row per schedule (cron and what it means, zone, next fire time in
// the viewer's and the schedule's zone, last run, state, note, labels), filtered by workflow,
// state, search text, last run status and labels (chips: labels.js), paged with the API's cursor.

import { call, query } from "./api.js";
import { bulkActions } from "./bulk.js";
import { h, replace } from "./dom.js";
import { viewerZone } from "./format.js";
import { onceBadge, whenText } from "./once.js";
import { activeLabelFilters, addressWithLabels, labelChips, withLabelParams } from "./labels.js";
import { enabledBadge, statusBadge, timePair } from "./widgets.js";

/** @typedef {import("./types.js").SchedulePage} SchedulePage */
/** @typedef {import("./types.js").ScheduleListItem} ScheduleListItem */
/** @typedef {import("./types.js").WorkflowPage} WorkflowPage */
/** @typedef {import("./types.js").Workflow} Workflow */

const PAGE_SIZE = 20;
// The columns after the schedule's own; a narrow window shows each row as a card, each cell
// under its column's name (style.css, from data-label).
const CELLS = ["Workflow", "Timezone", "Next fire time", "Last run", "State", "Note"];

/** What the table shows: its filters (from the address) and where in their pages it is. */
const view = {
  workflowId: "",
  enabled: "",
  q: "",
  lastRunStatus: "",
  labels: "",
  /** @type {(string | null)[]} the cursors of the pages before this one */
  previous: [],
  /** @type {string | null} */
  cursor: null,
};

/**
 * Every workflow of the caller (for the filter and the names in the table).
 * @returns {Promise<Workflow[]>}
 */
export async function allWorkflows() {
  /** @type {Workflow[]} */
  const workflows = [];
  /** @type {string | null | undefined} */
  let cursor = null;
  do {
    /** @type {WorkflowPage} */
    const page = await call("GET", `workflows${query({ limit: 100, cursor })}`);
    workflows.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor);
  return workflows;
}

/**
 * Render the table view into `main`, filtered as the address says (#/?workflowId=&enabled=).
 * @param {HTMLElement} main
 * @param {URLSearchParams} [address] the parameters after the hash's "?"
 */
export async function renderSchedules(main, address = new URLSearchParams()) {
  const workflowId = address.get("workflowId") ?? "";
  const asked = address.get("enabled");
  const enabled = asked === "true" || asked === "false" ? asked : "";
  const q = address.get("q") ?? "";
  const lastRunStatus = address.get("lastRunStatus") ?? "";
  const labels = address.getAll("label");
  const filtersKey = [workflowId, enabled, q, lastRunStatus, labels.join("\n")].join("\n");
  const viewKey = [view.workflowId, view.enabled, view.q, view.lastRunStatus, view.labels].join("\n");
  if (filtersKey !== viewKey) {
    view.workflowId = workflowId;
    view.enabled = enabled;
    view.q = q;
    view.lastRunStatus = lastRunStatus;
    view.labels = labels.join("\n");
    view.previous = [];
    view.cursor = null;
  }
  const [workflows, page] = await Promise.all([
    allWorkflows(),
    /** @type {Promise<SchedulePage>} */ (
      call(
        "GET",
        `schedules${withLabelParams(
          query({
            workflowId: view.workflowId,
            enabled: view.enabled,
            q: view.q,
            lastRunStatus: view.lastRunStatus,
            limit: PAGE_SIZE,
            cursor: view.cursor,
          }),
          labels,
        )}`,
      )
    ),
  ]);
  const names = new Map(workflows.map((workflow) => [workflow.id, workflow.name]));
  const rerender = () => renderSchedules(main, address);

  const workflowFilter = h(
    "select",
    { id: "filter-workflow", name: "workflowId" },
    h("option", { value: "" }, "All workflows"),
    workflows.map((workflow) =>
      h("option", { value: workflow.id, selected: workflow.id === view.workflowId }, workflow.name),
    ),
  );
  const enabledFilter = h(
    "select",
    { id: "filter-enabled", name: "enabled" },
    h("option", { value: "", selected: view.enabled === "" }, "Enabled and paused"),
    h("option", { value: "true", selected: view.enabled === "true" }, "Enabled only"),
    h("option", { value: "false", selected: view.enabled === "false" }, "Paused only"),
  );
  const search = h("input", { type: "search", id: "filter-q", name: "q", value: view.q, maxlength: "200" });
  const lastRunFilter = h(
    "select",
    { id: "filter-last-run", name: "lastRunStatus" },
    [
      ["", "Any last run"],
      ["succeeded", "Succeeded"],
      ["failed", "Failed"],
      ["skipped", "Skipped"],
    ].map(([value, label]) => h("option", { value, selected: view.lastRunStatus === value }, label)),
  );
  const filters = h(
    "form",
    {
      class: "filters",
      "aria-label": "Filter schedules",
      onsubmit: (/** @type {Event} */ event) => {
        event.preventDefault();
        // The address carries the filters; its change shows the table again (app.js).
        const chosen = new URLSearchParams(
          query({
            workflowId: workflowFilter.value,
            enabled: enabledFilter.value,
            q: search.value,
            lastRunStatus: lastRunFilter.value,
          }),
        );
        const hash = addressWithLabels(chosen, labels);
        if (location.hash === hash) rerender();
        else location.hash = hash;
      },
    },
    h("div", { class: "field" }, h("label", { for: "filter-workflow" }, "Workflow"), workflowFilter),
    h("div", { class: "field" }, h("label", { for: "filter-enabled" }, "State"), enabledFilter),
    h("div", { class: "field" }, h("label", { for: "filter-q" }, "Search"), search),
    h("div", { class: "field" }, h("label", { for: "filter-last-run" }, "Last run"), lastRunFilter),
    h("button", { type: "submit" }, "Apply filters"),
  );

  const rows = page.items.map((schedule) => scheduleRow(schedule, names, address));
  const table = h(
    "div",
    { class: "table-scroll", tabindex: "0", role: "region", "aria-labelledby": "schedules-caption" },
    h(
      "table",
      { class: "schedules" },
      h(
        "caption",
        { id: "schedules-caption" },
        `Schedules, newest first (times in ${viewerZone()}, then in each schedule's zone)`,
      ),
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ["Schedule", ...CELLS].map((title) => h("th", { scope: "col" }, title)),
        ),
      ),
      h(
        "tbody",
        {},
        rows.length
          ? rows
          : h("tr", {}, h("td", { colspan: "7" }, "No schedules match. Create one with New schedule.")),
      ),
    ),
  );

  const pager = h(
    "nav",
    { class: "pager", "aria-label": "Pages of schedules" },
    h(
      "button",
      {
        type: "button",
        disabled: view.previous.length === 0,
        onclick: () => {
          view.cursor = view.previous.pop() ?? null;
          rerender();
        },
      },
      "Previous page",
    ),
    h(
      "button",
      {
        type: "button",
        disabled: !page.nextCursor,
        onclick: () => {
          view.previous.push(view.cursor);
          view.cursor = page.nextCursor ?? null;
          rerender();
        },
      },
      "Next page",
    ),
  );

  replace(
    main,
    h(
      "div",
      { class: "heading" },
      h("h2", {}, "Schedules"),
      h(
        "button",
        { type: "button", class: "primary", onclick: () => (location.hash = "#/new") },
        "New schedule",
      ),
    ),
    filters,
    activeLabelFilters(address),
    table,
    pager,
    // below the list: the layout above the table stays as it is
    bulkActions(address, rerender),
  );
}

/**
 * @param {ScheduleListItem} schedule
 * @param {Map<string, string>} names
 * @param {URLSearchParams} address the table's filters (a label chip adds its label to them)
 */
function scheduleRow(schedule, names, address) {
  const [workflow, timezone, next, last, state, note] = CELLS.map((label) => ({ "data-label": label }));
  return h(
    "tr",
    {},
    h(
      "th",
      { scope: "row" },
      h("a", { href: `#/schedules/${schedule.id}` }, h("code", {}, whenText(schedule))),
      onceBadge(schedule),
      h("span", { class: "description" }, schedule.invalidReason ?? schedule.description),
      labelChips(schedule.labels, address),
    ),
    h("td", workflow, names.get(schedule.workflowId) ?? schedule.workflowId),
    h("td", timezone, schedule.timezone),
    h("td", next, timePair(schedule.nextRunAt, schedule.timezone)),
    h(
      "td",
      last,
      schedule.lastRun
        ? [
            statusBadge(schedule.lastRun.status),
            timePair(schedule.lastRun.scheduledTime, schedule.timezone),
            // Why it failed, at a glance: clipped to two lines, the whole text on hover and
            // for assistive technology (the clip is only visual).
            schedule.lastRun.error
              ? h("span", { class: "last-error", title: schedule.lastRun.error }, schedule.lastRun.error)
              : null,
          ]
        : h("span", { class: "muted" }, "Never run"),
    ),
    h("td", state, enabledBadge(schedule.enabled)),
    h("td", note, schedule.note ?? ""),
  );
}
