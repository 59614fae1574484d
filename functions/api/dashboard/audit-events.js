// @ts-check
// A schedule's audit log on its page: who changed what and when, newest first (the API's
// GET /api/schedules/{id}/events), each changed field as "before → after". The newest
// AUDIT_EVENTS; the API pages the rest (nextCursor), "Older changes" loads them, and what it
// loaded stays while the page is shown again (the 20 s refresh), as the timeline's runs do.

import { call, query } from "./api.js";
import { h } from "./dom.js";
import { localTime } from "./format.js";

/** @typedef {import("./types.js").AuditEvent} AuditEvent */
/** @typedef {import("./types.js").AuditEventPage} AuditEventPage */

const AUDIT_EVENTS = 20;
// The API's largest page (scheduler.store.pagination.MAX_LIMIT).
const MAX_PAGE = 100;

/**
 * The older pages loaded on the schedule's page: their events and the cursor of the page
 * before them (null: none).
 * @type {{scheduleId: string, older: AuditEvent[], cursor: string | null}}
 */
const loaded = { scheduleId: "", older: [], cursor: null };

/** How each action reads. */
const ACTIONS = {
  created: "Created",
  updated: "Changed",
  paused: "Paused",
  resumed: "Resumed",
  deleted: "Deleted",
  run_now: "Run now",
  backfill: "Backfill",
  bulk_paused: "Paused (bulk)",
  bulk_resumed: "Resumed (bulk)",
  auto_paused: "Paused after failures",
  disabled: "Disabled by the runner",
  exception_added: "Exception added",
  exception_removed: "Exception removed",
};

/**
 * The first page of schedule `id`'s audit log (null when it cannot be read: the page shows
 * the rest without it).
 * @param {string} id
 * @returns {Promise<AuditEventPage | null>}
 */
export async function loadAuditEvents(id) {
  if (loaded.scheduleId !== id) {
    loaded.scheduleId = id;
    loaded.older = [];
    loaded.cursor = null;
  }
  // As many as were shown (in one page while the API allows): events made since push the
  // oldest shown into the next page, whose cursor then follows the last one shown now.
  const shown = Math.min(MAX_PAGE, AUDIT_EVENTS + loaded.older.length);
  /** @type {AuditEventPage} */
  let newest;
  try {
    newest = await call("GET", `schedules/${encodeURIComponent(id)}/events${query({ limit: shown })}`);
  } catch (error) {
    if (error instanceof Error && "signedOut" in error && error.signedOut) throw error;
    return null;
  }
  if (AUDIT_EVENTS + loaded.older.length <= MAX_PAGE) {
    loaded.older = newest.items.slice(AUDIT_EVENTS);
    loaded.cursor = newest.nextCursor ?? null;
    return newest;
  }
  // more than one page's worth shown: the older ones as loaded, after the newest
  const seen = new Set(newest.items.map((event) => event.id));
  return { items: [...newest.items, ...loaded.older.filter((event) => !seen.has(event.id))], nextCursor: loaded.cursor };
}

/**
 * The section: one row per event, "Older changes" while there are more.
 * @param {string} id
 * @param {AuditEventPage | null} page
 */
export function auditEvents(id, page) {
  const body = h("tbody", {});
  const more = h("button", { type: "button" }, "Older changes");
  /** @param {AuditEventPage} part */
  const show = (part) => {
    for (const event of part.items) body.append(eventRow(event));
    const cursor = part.nextCursor ?? null;
    more.hidden = cursor === null;
    more.onclick = async () => {
      more.disabled = true;
      try {
        /** @type {AuditEventPage} */
        const next = await call(
          "GET",
          `schedules/${encodeURIComponent(id)}/events${query({ limit: AUDIT_EVENTS, cursor })}`,
        );
        loaded.older.push(...next.items);
        loaded.cursor = next.nextCursor ?? null;
        show(next);
      } finally {
        more.disabled = false;
      }
    };
  };
  const section = h(
    "section",
    { "aria-labelledby": "audit-heading" },
    h("h3", { id: "audit-heading" }, "Changes"),
  );
  if (page === null) {
    section.append(h("p", {}, "The changes could not be loaded."));
    return section;
  }
  if (!page.items.length) {
    section.append(h("p", {}, "No changes recorded."));
    return section;
  }
  section.append(
    h(
      "table",
      { class: "audit", "aria-label": "Changes" },
      h("thead", {}, h("tr", {}, h("th", {}, "When"), h("th", {}, "Who"), h("th", {}, "What"), h("th", {}, "Changes"))),
      body,
    ),
    more,
  );
  show(page);
  return section;
}

/** @param {AuditEvent} event */
function eventRow(event) {
  const action = /** @type {Record<string, string>} */ (ACTIONS)[event.action] ?? event.action;
  return h(
    "tr",
    {},
    h("td", {}, localTime(event.occurredAt)),
    h("td", {}, h("code", {}, event.actor)),
    h("td", {}, action, event.detail?.note ? ` (${String(event.detail.note)})` : ""),
    h("td", {}, changeList(event)),
  );
}

/** @param {AuditEvent} event */
function changeList(event) {
  const detail = event.detail ?? {};
  if (event.action.startsWith("exception_") && typeof detail.occurrence === "string") {
    // the exception itself (exceptions.js): skip or move of one fire time
    const moveTo = typeof detail.moveTo === "string" ? ` → ${localTime(detail.moveTo)}` : "";
    return `${String(detail.action)} ${localTime(detail.occurrence)}${moveTo}`;
  }
  const entries = Object.entries(event.changes ?? {});
  if (!entries.length) return "—";
  return h(
    "ul",
    { class: "plain" },
    entries.map(([field, change]) => {
      const { before, after } = /** @type {{before?: unknown, after?: unknown}} */ (change ?? {});
      return h("li", {}, h("code", {}, field), ": ", shown(before), " → ", shown(after));
    }),
  );
}

/**
 * A recorded value as it reads: a text as itself, nothing as "—", anything else as JSON.
 * @param {unknown} value
 */
function shown(value) {
  if (value === null || value === undefined) return "—";
  if (typeof value === "string") return value;
  return JSON.stringify(value);
}
