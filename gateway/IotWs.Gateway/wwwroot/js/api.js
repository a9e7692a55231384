// HTTP access to the gateway's API with the operator's key.
// The key lives in sessionStorage: it survives a reload of the tab but is gone when
// the tab closes, so a shared household PC does not keep someone's key around.

const KEY_NAME = 'iotws.apiKey';

export const session = {
  get key() { return sessionStorage.getItem(KEY_NAME); },
  set key(value) {
    if (value) sessionStorage.setItem(KEY_NAME, value);
    else sessionStorage.removeItem(KEY_NAME);
  },
};

/** Thrown for an answer the caller did not expect; `status` 0 means no answer at all. */
export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

// app.js sets this: a 401 anywhere sends the operator back to the login form.
let onUnauthorized = () => {};
export function whenUnauthorized(handler) { onUnauthorized = handler; }

/**
 * Calls the API and returns the parsed JSON (or text for CSV).
 * `accept` lists statuses besides 2xx whose body is a normal answer (e.g. 504 for an RPC
 * that timed out); the result is then { status, body }.
 */
export async function api(path, { method = 'GET', body, key = session.key, accept } = {}) {
  const headers = { Authorization: `Bearer ${key}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let response;
  try {
    response = await fetch(path, {
      method, headers, cache: 'no-store',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, 'The gateway did not answer. Is it running and reachable?');
  }
  if (response.status === 401) {
    // A key being tried on the login form is not a session that ended.
    if (key === session.key) onUnauthorized('Your key is no longer accepted (it may have been revoked). Please log in again.');
    throw new ApiError(401, 'Not authorized');
  }
  const ok = response.ok || (accept && accept.includes(response.status));
  const text = await response.text();
  const type = response.headers.get('Content-Type') || '';
  let parsed = text;
  if (type.includes('json') && text) {
    try { parsed = JSON.parse(text); } catch { /* keep the text */ }
  }
  if (!ok) {
    const reason = (parsed && (parsed.detail || parsed.message || parsed.error || parsed.title)) || response.statusText;
    throw new ApiError(response.status, `${response.status} ${reason}`, parsed);
  }
  return accept ? { status: response.status, body: parsed } : parsed;
}

export const enc = encodeURIComponent;
