// @ts-check
// How times and statuses read: a fire time in the viewer's zone and in the schedule's; a run
// status as a word and a symbol besides its colour (never colour alone).

/** @type {Record<string, {label: string, symbol: string}>} */
const STATUSES = {
  succeeded: { label: "Succeeded", symbol: "✓" },
  failed: { label: "Failed", symbol: "✕" },
  skipped: { label: "Skipped", symbol: "↷" },
  missed: { label: "Missed", symbol: "!" },
  buffered: { label: "Buffered", symbol: "…" },
  running: { label: "Running", symbol: "▶" },
};

/**
 * @param {string} status
 * @returns {{label: string, symbol: string, known: boolean}}
 */
export function statusOf(status) {
  const known = STATUSES[status];
  return known ? { ...known, known: true } : { label: status, symbol: "?", known: false };
}

export const STATUS_NAMES = Object.keys(STATUSES);

/**
 * `when` in the viewer's own zone.
 * @param {string | null | undefined} when ISO 8601
 */
export function localTime(when) {
  if (!when) return "—";
  return new Intl.DateTimeFormat(undefined, {
    dateStyle: "medium",
    timeStyle: "short",
  }).format(new Date(when));
}

/**
 * `when` in the viewer's own zone, to the second (a run's start and end).
 * @param {string | null | undefined} when ISO 8601
 */
export function localTimeWithSeconds(when) {
  if (!when) return "—";
  return new Intl.DateTimeFormat(undefined, {
    dateStyle: "medium",
    timeStyle: "medium",
  }).format(new Date(when));
}

/**
 * A duration as it reads best: "850 ms", "4.2 s", "3 min 5 s".
 * @param {number} ms
 */
export function durationText(ms) {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const seconds = Math.round(ms / 1000);
  return `${Math.floor(seconds / 60)} min ${seconds % 60} s`;
}

/**
 * `when` in the IANA zone `timeZone`, naming it (UTC when the browser does not know it).
 * @param {string | null | undefined} when
 * @param {string} timeZone
 */
export function zonedTime(when, timeZone) {
  if (!when) return "—";
  const options = /** @type {Intl.DateTimeFormatOptions} */ ({
    year: "numeric",
    month: "short",
    day: "numeric",
    hour: "2-digit",
    minute: "2-digit",
    timeZoneName: "short",
  });
  try {
    return new Intl.DateTimeFormat(undefined, { ...options, timeZone }).format(new Date(when));
  } catch {
    return new Intl.DateTimeFormat(undefined, { ...options, timeZone: "UTC" }).format(new Date(when));
  }
}

/** The viewer's own IANA zone, for labels. */
export function viewerZone() {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || "local time";
}

/**
 * An ISO instant as the value of an <input type="datetime-local"> (the viewer's wall time).
 * @param {string | null | undefined} when
 */
export function toLocalInput(when) {
  if (!when) return "";
  const date = new Date(when);
  const shifted = new Date(date.getTime() - date.getTimezoneOffset() * 60_000);
  return shifted.toISOString().slice(0, 16);
}

/**
 * The value of an <input type="datetime-local"> (the viewer's wall time) as an ISO instant.
 * @param {string} value
 * @returns {string | null}
 */
export function fromLocalInput(value) {
  return value ? new Date(value).toISOString() : null;
}
