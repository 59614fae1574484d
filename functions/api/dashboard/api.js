// @ts-check
// Every data call of the dashboard: the API on this origin, with the user's bearer token.

import { getToken } from "./session.js";

/** @typedef {import("./types.js").ErrorBody} ErrorBody */

// The API beside the dashboard: /api next to /dashboard, under whatever stage path serves both.
const API_BASE = new URL("../api/", import.meta.url);

/** An answer other than 2xx, with the API's own message (error.message). */
export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {string} code
   * @param {string} message
   * @param {ErrorBody["error"]["details"]} [details]
   */
  constructor(status, code, message, details) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.details = details ?? null;
  }

  /** The token is missing, invalid or expired: the user must sign in (again). */
  get signedOut() {
    // 401 from the gateway or the API; 403 without the API's error body is the gateway
    // refusing the token (invalid, expired), not a credential forbidden one action.
    return this.status === 401 || (this.status === 403 && this.code === "gateway");
  }

  /**
   * What the API said about one request field (`loc` ends with it), if anything.
   * @param {string} field
   * @returns {string | null}
   */
  fieldMessage(field) {
    for (const detail of this.details ?? []) {
      const loc = /** @type {unknown[]} */ (detail.loc ?? []);
      if (loc[loc.length - 1] === field || (loc[0] === "body" && loc.length === 1)) {
        return String(detail.msg ?? "").replace(/^Value error, /, "");
      }
    }
    return null;
  }
}

/**
 * Call the API; the parsed JSON answer (null for 204), or ApiError.
 * @param {"GET" | "POST" | "PATCH" | "DELETE"} method
 * @param {string} path relative to /api/, e.g. "schedules?limit=20"
 * @param {unknown} [body]
 * @returns {Promise<any>}
 */
export async function call(method, path, body) {
  /** @type {Record<string, string>} */
  const headers = { Accept: "application/json" };
  const token = getToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(new URL(path, API_BASE), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit",
      cache: "no-store",
    });
  } catch {
    throw new ApiError(0, "network", "The API cannot be reached: check your connection and try again.");
  }
  const text = await response.text();
  /** @type {any} */
  let parsed = null;
  if (text) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = null;
    }
  }
  if (response.ok) return parsed;
  if (parsed && typeof parsed.error === "object" && parsed.error) {
    const error = parsed.error;
    throw new ApiError(response.status, String(error.code), String(error.message), error.details);
  }
  // API Gateway's own answers ({"message": "Unauthorized"}), or something else entirely.
  const message = parsed && typeof parsed.message === "string" ? parsed.message : response.statusText;
  throw new ApiError(response.status, "gateway", `${message || "Error"} (HTTP ${response.status})`);
}

/**
 * A query string of the given parameters that are set.
 * @param {Record<string, string | number | boolean | null | undefined>} params
 */
export function query(params) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== "") search.set(name, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}
