// @ts-check
// Small pieces the views share: status badges (a symbol and a word besides the colour), time
// pairs, the page's message areas.

import { byId, h, replace } from "./dom.js";
import { localTime, statusOf, zonedTime } from "./format.js";

/**
 * A run status: colour, symbol and word.
 * @param {string} status
 */
export function statusBadge(status) {
  const { label, symbol, known } = statusOf(status);
  return h(
    "span",
    { class: `badge status-${known ? status : "unknown"}` },
    h("span", { class: "symbol", "aria-hidden": "true" }, symbol),
    ` ${label}`,
  );
}

/** @param {boolean} enabled */
export function enabledBadge(enabled) {
  return h(
    "span",
    { class: `badge ${enabled ? "state-enabled" : "state-paused"}` },
    h("span", { class: "symbol", "aria-hidden": "true" }, enabled ? "●" : "❚❚"),
    enabled ? " Enabled" : " Paused",
  );
}

/**
 * A fire time in the viewer's zone, then in the schedule's.
 * @param {string | null | undefined} when
 * @param {string} timeZone
 */
export function timePair(when, timeZone) {
  if (!when) return h("span", {}, "—");
  return h(
    "span",
    { class: "time-pair" },
    h("time", { datetime: when }, localTime(when)),
    h("span", { class: "zoned" }, zonedTime(when, timeZone)),
  );
}

/**
 * Show an error (the API's message) at the top of the page, for assistive technology at once.
 * @param {string} message
 */
export function showError(message) {
  replace(byId("alert", HTMLElement), message ? h("p", {}, message) : null);
}

// A notice says that something happened: read, it has nothing more to say.
const NOTICE_MS = 6000;
let noticeTimer = 0;

/**
 * Show a passing notice ("Signed in.", "Paused.", "Run requested ..."): it goes by itself after
 * NOTICE_MS, or with its Dismiss button.
 * @param {string} message
 */
export function showNotice(message) {
  const notice = byId("notice", HTMLElement);
  window.clearTimeout(noticeTimer);
  if (!message) {
    replace(notice);
    return;
  }
  replace(
    notice,
    h(
      "p",
      {},
      message,
      " ",
      h(
        "button",
        { type: "button", class: "dismiss", "aria-label": "Dismiss", onclick: () => showNotice("") },
        "×",
      ),
    ),
  );
  noticeTimer = window.setTimeout(() => showNotice(""), NOTICE_MS);
}

export function clearMessages() {
  showError("");
  showNotice("");
}
