// The dashboard's entry: learns its session, then shows the page the path
// names, and follows links without reloading.

import { setCSRF, csrfToken, signInAgain } from './api.js';
import { setRouter } from './nav.js';
import { h, setZone, errorBox, toast } from './util.js';
import * as live from './live.js';
import * as calls from './calls.js';
import * as call from './call.js';
import * as endpoints from './endpoints.js';
import * as endpoint from './endpoint.js';
import * as overview from './overview.js';
import * as forwarding from './forwarding.js';
import * as extensions from './extensions.js';
import * as queues from './queues.js';

const routes = [
  [/^\/$/, live, 'live'],
  [/^\/calls$/, calls, 'calls'],
  [/^\/calls\/([^/]+)$/, call, 'calls'],
  [/^\/endpoints$/, endpoints, 'endpoints'],
  [/^\/endpoints\/([^/]+)$/, endpoint, 'endpoints'],
  [/^\/extensions$/, extensions, 'extensions'],
  [/^\/forwarding$/, forwarding, 'forwarding'],
  [/^\/queues$/, queues, 'queues'],
  [/^\/overview$/, overview, 'overview'],
];

// Page is what a page module's render gets: where to draw, and a place to
// register what must stop when the user leaves the page.
class Page {
  constructor(main) {
    this.main = main;
    this.aborter = new AbortController();
    this.cleanups = [];
  }

  get signal() {
    return this.aborter.signal;
  }

  get alive() {
    return !this.aborter.signal.aborted;
  }

  // every runs fn every ms while the page is shown.
  every(fn, ms) {
    const id = setInterval(() => this.alive && fn(), ms);
    this.cleanups.push(() => clearInterval(id));
  }

  // onLeave runs fn when the page is left.
  onLeave(fn) {
    this.cleanups.push(fn);
  }

  // title sets the document's title and returns the page's heading.
  title(text, ...extra) {
    document.title = `${text} · switchhook`;
    return h('h1', { tabindex: '-1' }, text, ...extra);
  }

  close() {
    this.aborter.abort();
    for (const fn of this.cleanups) fn();
  }
}

let current = null;

async function route(focus) {
  if (current) current.close();
  const main = document.getElementById('main');
  const page = new Page(main);
  current = page;
  main.replaceChildren();
  const path = location.pathname;
  for (const [re, mod, nav] of routes) {
    const m = path.match(re);
    if (!m) continue;
    for (const a of document.querySelectorAll('[data-nav]')) {
      if (a.dataset.nav === nav) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
    try {
      await mod.render(page, m.slice(1).map(decodeURIComponent), new URLSearchParams(location.search));
    } catch (err) {
      if (err.name === 'AbortError' || !page.alive) return;
      main.append(errorBox(err));
    }
    if (focus && page.alive) {
      const h1 = main.querySelector('h1');
      if (h1) h1.focus({ preventScroll: true });
    }
    return;
  }
  main.append(page.title('Not found'), h('p', {}, 'No page here. ', h('a', { href: '/' }, 'Go to Live.')));
}

function navigate(url, replace = false) {
  history[replace ? 'replaceState' : 'pushState'](null, '', url);
  route(true);
  window.scrollTo(0, 0);
}

setRouter(navigate);

document.addEventListener('click', (e) => {
  const a = e.target.closest('a[href]');
  if (!a || a.target || a.hasAttribute('download') || e.defaultPrevented) return;
  if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const u = new URL(a.href, location.href);
  if (u.origin !== location.origin || u.pathname.startsWith('/v1/') || u.pathname.startsWith('/assets/')) return;
  if (u.pathname === location.pathname && u.search === location.search && u.hash) return;
  e.preventDefault();
  navigate(u.pathname + u.search);
});

window.addEventListener('popstate', () => route(true));

async function start() {
  const res = await fetch('/session', { credentials: 'same-origin' });
  if (res.status === 401) {
    signInAgain();
    return;
  }
  const info = await res.json();
  setCSRF(info.csrf_token);
  const zone = setZone(info.timezone);
  const zoneEl = document.getElementById('zone');
  zoneEl.textContent = zone;
  zoneEl.title = `Times are shown in ${zone}. switchhook ${info.version}`;
  document.getElementById('signout').addEventListener('click', async () => {
    try {
      await fetch('/signout', { method: 'POST', credentials: 'same-origin', headers: { 'X-CSRF-Token': csrfToken() } });
    } finally {
      location.assign('/signin');
    }
  });
  await route(false);
}

start().catch((err) => {
  toast(`The dashboard could not start: ${err.message}`, 'error');
});
