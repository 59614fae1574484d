// @ts-check
// A schedule's labels (key=value) as the dashboard shows and edits them: chips on a row and on
// the schedule's page (a chip filters the table by its label), and the form's "one key=value a
// line" text. The bounds are the API's (docs/api.md, "Labels"); the API's 422 names a label
// that breaks them, shown under the field.

import { h } from "./dom.js";

/**
 * A label as the filter and the chips write it.
 * @param {string} key
 * @param {string} value
 */
export function labelText(key, value) {
  return `${key}=${value}`;
}

/**
 * The table's address filtered by `labels` (and keeping the other filters of `address`).
 * @param {URLSearchParams} address the current filters
 * @param {string[]} labels key=value each
 */
export function addressWithLabels(address, labels) {
  const next = new URLSearchParams(address);
  next.delete("label");
  for (const label of labels) next.append("label", label);
  const text = next.toString();
  return `#/${text ? `?${text}` : ""}`;
}

/**
 * A schedule's labels as chips; each a link to the table filtered by it (added to `address`'s
 * filters), or plain chips when no `address` is given.
 * @param {Record<string, string> | undefined} labels
 * @param {URLSearchParams} [address]
 */
export function labelChips(labels, address) {
  const entries = Object.entries(labels ?? {}).sort(([a], [b]) => a.localeCompare(b));
  if (!entries.length) return null;
  return h(
    "ul",
    { class: "labels", "aria-label": "Labels" },
    entries.map(([key, value]) => {
      const text = labelText(key, value);
      if (!address) return h("li", {}, h("span", { class: "chip" }, text));
      const chosen = address.getAll("label");
      const filtered = chosen.includes(text) ? chosen : [...chosen, text];
      return h(
        "li",
        {},
        h(
          "a",
          { class: "chip", href: addressWithLabels(address, filtered), title: `Show the schedules labelled ${text}` },
          text,
        ),
      );
    }),
  );
}

/**
 * The labels the table is filtered by, each a chip whose button removes it from the filter.
 * @param {URLSearchParams} address
 */
export function activeLabelFilters(address) {
  const chosen = address.getAll("label");
  if (!chosen.length) return null;
  return h(
    "ul",
    { class: "labels active-labels", "aria-label": "Label filters" },
    chosen.map((text) =>
      h(
        "li",
        {},
        h(
          "span",
          { class: "chip" },
          text,
          h(
            "a",
            {
              class: "chip-remove",
              href: addressWithLabels(
                address,
                chosen.filter((other) => other !== text),
              ),
              "aria-label": `Remove the label filter ${text}`,
            },
            "×",
          ),
        ),
      ),
    ),
  );
}

/**
 * The form's text: one key=value a line.
 * @param {Record<string, string> | undefined} labels
 */
export function labelLines(labels) {
  return Object.entries(labels ?? {})
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([key, value]) => labelText(key, value))
    .join("\n");
}

/**
 * The labels the form's text states (blank lines ignored; the first "=" splits key from value);
 * an Error naming the line that has no "=" or repeats a key. The API checks the rest.
 * @param {string} text
 * @returns {Record<string, string>}
 */
export function parseLabelLines(text) {
  /** @type {Record<string, string>} */
  const labels = {};
  for (const [index, raw] of text.split("\n").entries()) {
    const line = raw.trim();
    if (!line) continue;
    const split = line.indexOf("=");
    if (split < 0) throw new Error(`labels: line ${index + 1} (${line}) is not key=value`);
    const key = line.slice(0, split).trim();
    if (key in labels) throw new Error(`labels: ${key} is given twice`);
    labels[key] = line.slice(split + 1).trim();
  }
  return labels;
}

/**
 * `search` (a query string from api.js's query(), "" or "?...") with a `label` parameter for
 * each label: the API takes the parameter repeated, all of them to match.
 * @param {string} search
 * @param {string[]} labels
 */
export function withLabelParams(search, labels) {
  const params = new URLSearchParams(search);
  for (const label of labels) params.append("label", label);
  const text = params.toString();
  return text ? `?${text}` : "";
}
