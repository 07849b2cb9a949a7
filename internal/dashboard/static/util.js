// DOM building and formatting shared by the pages. Elements are built with
// h() rather than innerHTML, so text from the server is never parsed as HTML.

const SVG_NS = 'http://www.w3.org/2000/svg';

function build(el, attrs, children) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') {
      el.addEventListener(k.slice(2), v);
    } else if (k === 'class') {
      el.setAttribute('class', Array.isArray(v) ? v.filter(Boolean).join(' ') : v);
    } else if (k === 'value' && 'value' in el) {
      el.value = v;
    } else if (k === 'checked' || k === 'selected') {
      el[k] = Boolean(v);
    } else {
      el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

// h makes an HTML element: h('a', {href: '/calls'}, 'Calls').
export function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

// s makes an SVG element.
export function s(tag, attrs, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

// The zone times are shown in: the server's configured one.
let zone = 'UTC';

// zoneName is the zone times are shown and entered in.
export function zoneName() {
  return zone;
}
let partsFmt = null;

export function setZone(z) {
  try {
    partsFmt = new Intl.DateTimeFormat('en-GB', {
      timeZone: z, year: 'numeric', month: '2-digit', day: '2-digit',
      hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23',
    });
    zone = z;
  } catch {
    // A zone the browser does not know (such as "Local"): show the
    // browser's own, and say so in the header.
    partsFmt = new Intl.DateTimeFormat('en-GB', {
      year: 'numeric', month: '2-digit', day: '2-digit',
      hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23',
    });
    zone = partsFmt.resolvedOptions().timeZone;
  }
  return zone;
}

setZone('UTC');

function parts(date) {
  const p = {};
  for (const { type, value } of partsFmt.formatToParts(date)) p[type] = value;
  return p;
}

function toDate(t) {
  return t instanceof Date ? t : new Date(t);
}

// fmtTime shows a time as the payloads' timestamp does: 2026-01-27 12:02:30.
export function fmtTime(t) {
  if (!t) return '';
  const p = parts(toDate(t));
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second}`;
}

// fmtClock shows only the time of day: 12:02:30.
export function fmtClock(t) {
  if (!t) return '';
  const p = parts(toDate(t));
  return `${p.hour}:${p.minute}:${p.second}`;
}

// fmtHM shows hours and minutes: 12:02.
export function fmtHM(t) {
  const p = parts(toDate(t));
  return `${p.hour}:${p.minute}`;
}

// timeEl is a <time> showing t in the zone, with the instant in datetime.
export function timeEl(t, fmt = fmtTime) {
  if (!t) return '';
  const d = toDate(t);
  return h('time', { datetime: d.toISOString(), title: d.toISOString() }, fmt(d));
}

// fmtDuration shows milliseconds as m:ss or h:mm:ss.
export function fmtDuration(ms) {
  const total = Math.max(0, Math.floor(ms / 1000));
  const hh = Math.floor(total / 3600);
  const mm = Math.floor((total % 3600) / 60);
  const ss = String(total % 60).padStart(2, '0');
  return hh > 0 ? `${hh}:${String(mm).padStart(2, '0')}:${ss}` : `${mm}:${ss}`;
}

// fmtMS shows a latency in milliseconds.
export function fmtMS(ms) {
  if (ms === null || ms === undefined) return '–';
  if (ms === 0) return '0 ms';
  if (ms >= 1000) return `${(ms / 1000).toFixed(ms >= 10000 ? 0 : 2)} s`;
  if (ms >= 10) return `${Math.round(ms)} ms`;
  return `${ms.toFixed(1)} ms`;
}

// fmtRate shows a success rate from 0 to 1 as a percentage.
export function fmtRate(r) {
  if (r === null || r === undefined) return '–';
  const pct = r * 100;
  return `${pct === 100 || pct === 0 ? pct.toFixed(0) : pct.toFixed(1)}%`;
}

// fmtIn says how long until t, roughly: "in 4 min".
export function fmtIn(t) {
  const sec = Math.round((toDate(t) - Date.now()) / 1000);
  if (sec <= 0) return 'now';
  if (sec < 90) return `in ${sec} s`;
  if (sec < 5400) return `in ${Math.round(sec / 60)} min`;
  return `in ${Math.round(sec / 3600)} h`;
}

// zoneOffset is how far the zone's wall clock is ahead of UTC at t, in ms.
function zoneOffset(t) {
  const p = parts(new Date(t));
  const wall = Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour, +p.minute, +p.second);
  return wall - Math.floor(t / 1000) * 1000;
}

// fromInput reads a datetime-local value as a wall-clock time in the zone
// and returns it as an RFC 3339 UTC string ('' for '').
export function fromInput(v) {
  if (!v) return '';
  const m = String(v).trim().match(/^(\d{4})-(\d{2})-(\d{2})[T ](\d{1,2}):(\d{2})(?::(\d{2}))?$/);
  if (!m) return '';
  const wall = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +(m[6] || 0));
  // The offset depends on the instant; a second pass settles DST edges.
  let t = wall - zoneOffset(wall);
  t = wall - zoneOffset(t);
  return new Date(t).toISOString().replace('.000Z', 'Z');
}

// toInput shows an instant as timeInput takes it, in the zone.
export function toInput(t) {
  if (!t) return '';
  const p = parts(toDate(t));
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}`;
}

// timeInput is a field for a time in the zone, written as every time is
// shown (2026-01-27 14:05, 24-hour): a datetime-local field would follow
// the browser's locale, 12-hour in many.
export function timeInput(attrs) {
  return h('input', {
    type: 'text', inputmode: 'numeric', autocomplete: 'off', spellcheck: 'false',
    placeholder: 'YYYY-MM-DD HH:MM', pattern: '\\d{4}-\\d{2}-\\d{2} \\d{1,2}:\\d{2}(:\\d{2})?', ...attrs,
  });
}

// badge is a small label whose colour says what it is.
export function badge(text, kind) {
  return h('span', { class: `badge ${kind || String(text).toLowerCase().replace(/[^a-z0-9]+/g, '-')}` }, text);
}

// toast says something briefly, to screen readers too.
let toastTimer = 0;
export function toast(msg, kind = 'ok') {
  const el = document.getElementById('toast');
  if (!el) return;
  el.className = `toast ${kind} shown`;
  el.textContent = msg;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.className = 'toast'; }, 4000);
}

// errorBox shows a failure where the content would be.
export function errorBox(err) {
  return h('p', { class: 'alert error', role: 'alert' }, err && err.message ? err.message : String(err));
}

// empty is the text shown in place of an empty list.
export function empty(text) {
  return h('p', { class: 'empty muted' }, text);
}

// dl makes a description list of [term, value] pairs, skipping empty values.
export function dl(pairs, cls = 'facts') {
  return h('dl', { class: cls }, pairs.filter(([, v]) => v !== '' && v !== null && v !== undefined)
    .map(([k, v]) => h('div', {}, h('dt', {}, k), h('dd', {}, v))));
}

// The seven event kinds, in the specification's order.
export const KINDS = ['CALL_ROUTED', 'CALL_RINGING', 'CALL_ANSWER', 'CALL_HANGUP', 'CALL_INPUT', 'CALL_HOLD', 'CALL_UNHOLD'];

// kindBadge shows an event kind.
export function kindBadge(kind) {
  return badge(kind.replace('CALL_', ''), `kind ${kind.toLowerCase().replace('_', '-')}`);
}

// copyText copies text to the clipboard and reports whether it could. The
// clipboard API needs a secure context and may never answer without the
// page's focus, so it gets a moment, then the older copy command is tried.
export async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await Promise.race([
        navigator.clipboard.writeText(text),
        new Promise((_, reject) => setTimeout(() => reject(new Error('no answer')), 1500)),
      ]);
      return true;
    } catch {
      // try the copy command
    }
  }
  const area = h('textarea', { class: 'visually-hidden', 'aria-hidden': 'true', readonly: true });
  area.value = text;
  document.body.append(area);
  area.select();
  let ok = false;
  try {
    ok = document.execCommand('copy');
  } catch {
    ok = false;
  }
  area.remove();
  return ok;
}

// selectText selects the text of el, for the user to copy.
export function selectText(el) {
  const range = document.createRange();
  range.selectNodeContents(el);
  const sel = window.getSelection();
  sel.removeAllRanges();
  sel.addRange(range);
}
