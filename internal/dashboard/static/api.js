// The management API, called with the session cookie. Requests that change
// state carry the session's CSRF token, which the API requires of them.

let csrf = '';

export function setCSRF(token) {
  csrf = token;
}

export function csrfToken() {
  return csrf;
}

// APIError is an answer other than 2xx, with the API's message and the
// field it names.
export class APIError extends Error {
  constructor(message, status, field) {
    super(message);
    this.status = status;
    this.field = field || '';
  }
}

// signInAgain sends the browser to the sign-in page, back here after.
export function signInAgain() {
  const next = location.pathname + location.search;
  location.assign('/signin?next=' + encodeURIComponent(next));
}

// api calls the API and returns its JSON answer (null for 204).
export async function api(method, path, body, signal) {
  const opts = { method, headers: { Accept: 'application/json' }, credentials: 'same-origin', signal };
  if (body !== undefined) {
    opts.headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body);
  }
  if (method !== 'GET') opts.headers['X-CSRF-Token'] = csrf;
  let res;
  try {
    res = await fetch(path, opts);
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    throw new APIError(`The server did not answer (${err.message}). Is switchhook running?`, 0);
  }
  if (res.status === 204) return null;
  let data = null;
  try {
    data = await res.json();
  } catch {
    // not JSON: the status says enough
  }
  if (res.status === 401) {
    signInAgain();
  }
  if (!res.ok) {
    throw new APIError((data && data.error) || `${res.status} ${res.statusText}`, res.status, data && data.field);
  }
  return data;
}

// query builds a query string of the set values.
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== '' && v !== null && v !== undefined) q.set(k, v);
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}
