// @ts-check
// Keeping a view current: the schedules table and a schedule's page are shown again every
// REFRESH_MS (the next fire times move on, new runs appear), paused while the tab is hidden,
// with "Updated hh:mm:ss" and a Refresh button. `?refresh=<seconds>` in the page's address sets
// another interval (the browser tests use a short one).

import { byId } from "./dom.js";

const DEFAULT_REFRESH_S = 20;

/** The interval in milliseconds: the address's `?refresh=<seconds>` (at least 1) or the default. */
function intervalMs() {
  const asked = Number(new URLSearchParams(location.search).get("refresh"));
  return (Number.isFinite(asked) && asked >= 1 ? asked : DEFAULT_REFRESH_S) * 1000;
}

const bar = byId("refresh", HTMLElement);
const updated = byId("updated", HTMLElement);
const button = byId("refresh-now", HTMLButtonElement);

/** @type {(() => Promise<void>) | null} what shows the current view again; null: not refreshed */
let current = null;
let timer = 0;

/**
 * Keep the view `show` renders current (null: the view is not refreshed, e.g. a form).
 * Call it after each render of a view.
 * @param {(() => Promise<void>) | null} show
 */
export function keepCurrent(show) {
  current = show;
  bar.hidden = show === null;
  window.clearTimeout(timer);
  if (!show) return;
  updated.textContent = `Updated ${new Date().toLocaleTimeString(undefined, { hour12: false })}`;
  updated.setAttribute("datetime", new Date().toISOString());
  if (!document.hidden) timer = window.setTimeout(refresh, intervalMs());
}

/** Show the view again, unless the user is in the middle of something on it. */
async function refresh() {
  const show = current;
  if (!show) return;
  if (busy()) {
    timer = window.setTimeout(refresh, intervalMs());
    return;
  }
  const focused = focusKey(document.activeElement);
  await show();
  if (focused) restoreFocus(focused);
}

/**
 * What names a focused control of the view across a render (which replaces every node): its
 * tag, id, accessible label and text. Null outside the view.
 * @param {Element | null} element
 */
function focusKey(element) {
  const main = byId("main", HTMLElement);
  if (!element || element === main || !main.contains(element)) return null;
  return [element.tagName, element.id, element.getAttribute("aria-label"), element.textContent].join("|");
}

/**
 * Focus the control of the new render that `key` names, so a keyboard user keeps their place.
 * @param {string} key
 */
function restoreFocus(key) {
  const main = byId("main", HTMLElement);
  const tag = key.slice(0, key.indexOf("|"));
  for (const element of main.querySelectorAll(tag)) {
    if (focusKey(element) === key && element instanceof HTMLElement) {
      element.focus();
      return;
    }
  }
}

/**
 * Whether showing the view again now would take something from the user: a dialog open, a
 * field being edited, a render already under way.
 */
function busy() {
  const main = byId("main", HTMLElement);
  const focused = document.activeElement;
  return (
    main.hasAttribute("aria-busy") ||
    main.querySelector("dialog[open]") !== null ||
    (focused instanceof HTMLInputElement || focused instanceof HTMLSelectElement
      ? main.contains(focused)
      : false)
  );
}

button.addEventListener("click", () => {
  const show = current;
  if (show) show();
});

// Hidden: no requests for a tab nobody looks at. Visible again: current at once.
document.addEventListener("visibilitychange", () => {
  window.clearTimeout(timer);
  if (!document.hidden && current) refresh();
});
