// The page's configuration (written by frontend/views.py with json_script) and the API client.

const element = document.getElementById("gridtwin-config");

/** @type {{tileUrl: string, apiRoot: string, apiUrls: Object<string, ?string>,
 *   basemapStyleUrl: string, bounds: number[], workerUrl: string,
 *   historyUrls: Object<string, string>, adminUrl: ?string, loginUrl: string,
 *   csrfToken: string, user: {username: string, isStaff: boolean}, attribution: string}} */
export const config = element ? JSON.parse(element.textContent) : {};

/** The absolute tile URL template of a layer of the tile service (MapLibre wants absolute). */
export function tileUrl(layer) {
  return location.origin + config.tileUrl.replace("{layer}", encodeURIComponent(layer));
}

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/**
 * GET (or send) JSON to the API with the session cookie; a lost session goes back to login.
 * @param {string} url
 * @param {RequestInit} [options]
 */
export async function api(url, options = {}) {
  const headers = { Accept: "application/json", ...(options.headers || {}) };
  const method = (options.method || "GET").toUpperCase();
  if (method !== "GET" && method !== "HEAD") headers["X-CSRFToken"] = config.csrfToken;
  const response = await fetch(url, { credentials: "same-origin", ...options, headers });
  if (response.status === 401) {
    location.assign(`${config.loginUrl}?next=${encodeURIComponent(location.pathname)}`);
    throw new ApiError(401, "signed out");
  }
  if (!response.ok) {
    let message = response.statusText;
    try {
      message = (await response.json()).message || message;
    } catch {
      /* not JSON */
    }
    throw new ApiError(response.status, message);
  }
  return response.status === 204 ? null : response.json();
}

/** The rows of a paginated API answer (GeoJSON FeatureCollection or DRF ``results``). */
export function rows(page) {
  if (!page) return [];
  return page.features || page.results || (Array.isArray(page) ? page : []);
}
