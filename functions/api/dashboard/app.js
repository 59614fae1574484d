// @ts-check
// The dashboard's entry: sign-in, the hash routes, and one place where every failure becomes
// a message on the page (the API's own), never a blank page.
//
//   #/                     the schedules table (#/?workflowId=<id>&enabled=false: filtered)
//   #/new                  New schedule
//   #/schedules/<id>       a schedule's page
//   #/schedules/<id>/edit  Edit
//   #/calendars[/<id>|/new] exclusion calendars (calendars.js)

import { ApiError } from "./api.js";
import { renderCalendar, renderCalendars } from "./calendars.js";
import { byId, h, replace } from "./dom.js";
import { renderForm } from "./form.js";
import { keepCurrent } from "./refresh.js";
import { renderSchedule } from "./schedule.js";
import { renderSchedules } from "./schedules.js";
import { adoptTokenFromFragment, clearToken, getToken, setToken } from "./session.js";
import { clearMessages, showError, showNotice } from "./widgets.js";

const main = byId("main", HTMLElement);
const signOut = byId("sign-out", HTMLButtonElement);

/**
 * The sign-in form, with why it is shown (signed out, token refused).
 * @param {string} [reason]
 */
function renderSignIn(reason = "") {
  keepCurrent(null);
  signOut.hidden = true;
  const token = h("input", {
    id: "token",
    name: "token",
    type: "password",
    required: true,
    autocomplete: "off",
    spellcheck: "false",
    "aria-describedby": "token-hint",
  });
  const form = h(
    "form",
    {
      class: "sign-in",
      "aria-labelledby": "sign-in-heading",
      onsubmit: (/** @type {Event} */ event) => {
        event.preventDefault();
        if (!token.value.trim()) {
          showError("Paste an access token first.");
          return;
        }
        setToken(token.value);
        clearMessages();
        location.hash = "#/";
        route();
      },
    },
    h("h2", { id: "sign-in-heading" }, "Sign in"),
    reason ? h("p", { class: "warning", role: "alert" }, reason) : null,
    h("div", { class: "field" }, h("label", { for: "token" }, "Access token"), token),
    h(
      "p",
      { class: "hint", id: "token-hint" },
      "Your Supabase access token (a signed-in session's access_token). It is kept in this tab " +
        "only and sent only to this API. `make run` prints links that sign you in.",
    ),
    h("button", { type: "submit", class: "primary" }, "Sign in"),
  );
  replace(main, form);
  token.focus();
}

/** The view the hash names. */
async function route() {
  if (!getToken()) {
    renderSignIn();
    return;
  }
  signOut.hidden = false;
  // The table's filters follow a "?" (#/?enabled=false): a link, a reload, Back keep them.
  const [path, search = ""] = (location.hash.replace(/^#/, "") || "/").split("?", 2);
  const schedule = path.match(/^\/schedules\/([^/]+)$/);
  const edit = path.match(/^\/schedules\/([^/]+)\/edit$/);
  // The table and a schedule's page are kept current (refresh.js); the forms are not.
  const calendar = path.match(/^\/calendars(?:\/([^/]+))?$/);
  const refreshed = !(path === "/new" || edit || calendar);
  main.setAttribute("aria-busy", "true");
  try {
    if (path === "/new") await renderForm(main, null);
    else if (edit) await renderForm(main, decodeURIComponent(edit[1]));
    else if (schedule) await renderSchedule(main, decodeURIComponent(schedule[1]));
    else if (calendar && !calendar[1]) await renderCalendars(main);
    else if (calendar) await renderCalendar(main, calendar[1] === "new" ? null : decodeURIComponent(calendar[1]));
    else await renderSchedules(main, new URLSearchParams(search));
    document.title = `${main.querySelector("h2")?.textContent ?? "Schedules"} · Workflow Scheduler`;
  } catch (error) {
    failed(error);
  } finally {
    main.removeAttribute("aria-busy");
    // A failed refresh (the API unreachable a moment) is tried again; a sign-out is not.
    keepCurrent(refreshed && getToken() ? route : null);
  }
}

/**
 * Whatever went wrong: a refused token returns to sign-in, anything else is shown as the
 * API's message with a way back.
 * @param {unknown} error
 */
function failed(error) {
  if (error instanceof ApiError && error.signedOut) {
    clearToken();
    renderSignIn(`Please sign in again: the API refused your access token (${error.message}).`);
    return;
  }
  const message = error instanceof Error ? error.message : String(error);
  showError(message);
  if (!main.firstChild) {
    replace(main, h("p", {}, h("a", { href: "#/" }, "Back to the schedules")));
  }
}

// The skip link moves focus without touching the hash, which names the view.
document.querySelector(".skip-link")?.addEventListener("click", (event) => {
  event.preventDefault();
  main.focus();
});
signOut.addEventListener("click", () => {
  clearToken();
  clearMessages();
  renderSignIn("You are signed out.");
});
window.addEventListener("hashchange", () => {
  showError("");
  route();
});
// An action's failure outside a render (a button's handler) lands here.
window.addEventListener("unhandledrejection", (event) => {
  event.preventDefault();
  failed(event.reason);
});

if (adoptTokenFromFragment()) showNotice("Signed in.");
route();
