// @ts-check
// The signed-in user's access token: from the URL fragment (#access_token=..., as a sign-in
// redirect or `make run`'s link hands it over) or pasted into the sign-in form. It lives in
// sessionStorage only: gone with the tab, never sent anywhere but the API's Authorization header.

const KEY = "workflow-scheduler.accessToken";

/**
 * Take a token from the fragment, if there is one, and remove it from the URL at once (so it is
 * neither in the history nor in a copied link).
 * @returns {boolean} whether the fragment carried a token
 */
export function adoptTokenFromFragment() {
  const fragment = new URLSearchParams(location.hash.replace(/^#/, ""));
  const token = fragment.get("access_token");
  if (!token) return false;
  setToken(token);
  history.replaceState(null, "", `${location.pathname}${location.search}#/`);
  return true;
}

/** @returns {string | null} */
export function getToken() {
  return sessionStorage.getItem(KEY);
}

/** @param {string} token */
export function setToken(token) {
  sessionStorage.setItem(KEY, token.trim().replace(/^Bearer\s+/i, ""));
}

export function clearToken() {
  sessionStorage.removeItem(KEY);
}
