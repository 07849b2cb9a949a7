// One Server-Sent Events connection to /v1/stream shared by every page.
// The browser reconnects by itself after a dropped connection; a refused
// one (the session ended) is checked and sent to sign in.

import { signInAgain } from './api.js';

const listeners = new Set();
const statusListeners = new Set();
let source = null;
let status = 'connecting';
let retryTimer = 0;

function setStatus(s) {
  status = s;
  for (const fn of statusListeners) fn(s);
}

function connect() {
  source = new EventSource('/v1/stream');
  source.onopen = () => setStatus('live');
  source.onmessage = (e) => {
    let msg;
    try {
      msg = JSON.parse(e.data);
    } catch {
      return;
    }
    for (const fn of listeners) fn(msg);
  };
  source.onerror = async () => {
    if (source.readyState !== EventSource.CLOSED) {
      setStatus('reconnecting');
      return;
    }
    // Closed for good: refused, or the server is gone. Find out which.
    setStatus('reconnecting');
    source = null;
    try {
      const res = await fetch('/session', { credentials: 'same-origin' });
      if (res.status === 401) {
        signInAgain();
        return;
      }
    } catch {
      // the server is down; try again below
    }
    clearTimeout(retryTimer);
    retryTimer = setTimeout(() => {
      retryTimer = 0;
      connect();
    }, 3000);
  };
}

// subscribe calls fn with every StreamEvent; it returns the unsubscribe.
export function subscribe(fn) {
  listeners.add(fn);
  if (!source && !retryTimer) connect();
  return () => listeners.delete(fn);
}

// onStatus calls fn with the connection's status now and on each change:
// connecting, live or reconnecting. It returns the unsubscribe.
export function onStatus(fn) {
  statusListeners.add(fn);
  fn(status);
  return () => statusListeners.delete(fn);
}
