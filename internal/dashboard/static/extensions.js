// Extensions: every extension of the PBX with its name, its state, the
// phones registered for it and where its calls are forwarded.

import { api } from './api.js';
import { subscribe } from './stream.js';
import { h, badge, fmtIn, empty, errorBox } from './util.js';

const STATE_CLASS = { in_call: 'answered', ringing: 'ringing', idle: 'routed', unregistered: 'neutral' };

export async function render(page) {
  const list = h('div', { id: 'extension-list' }, h('p', { class: 'muted' }, 'Loading…'));
  page.main.append(
    page.title('Extensions'),
    h('p', { class: 'muted' }, 'The extensions of the config file, the phones registered for each and where their calls go. Registrations are kept across restarts.'),
    h('section', { class: 'card', 'aria-labelledby': 'ext-h' }, h('h2', { id: 'ext-h', class: 'visually-hidden' }, 'Extensions'), list));

  let drawn = '';
  async function load() {
    const exts = await api('GET', '/v1/extensions', undefined, page.signal);
    if (!page.alive) return;
    const key = JSON.stringify(exts);
    if (key === drawn) return;
    drawn = key;
    list.replaceChildren(extensionTable(exts));
  }
  page.every(() => load().catch(() => {}), 5000);
  page.onLeave(subscribe(() => load().catch(() => {})));
  try {
    await load();
  } catch (err) {
    if (err.name !== 'AbortError') list.replaceChildren(errorBox(err));
  }
}

function forwardText(f) {
  const parts = [];
  for (const [k, label] of [['unconditional', 'always'], ['user_busy', 'busy'], ['no_answer', 'no answer'], ['unavailable', 'unavailable']]) {
    if (f[k]) parts.push(`${label} → ${f[k]}${k === 'no_answer' && f.no_answer_after ? ` after ${f.no_answer_after}` : ''}`);
  }
  return parts.length ? parts.join(', ') : '';
}

function extensionTable(exts) {
  if (!exts.length) return empty('The PBX has no extensions.');
  return h('table', { class: 'table cards' },
    h('thead', {}, h('tr', {}, ['Extension', 'State', 'Phones', 'Forwarding'].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, exts.map((e) => h('tr', { 'data-extension': e.number, 'data-state': e.state },
      h('td', { 'data-label': 'Extension' }, h('strong', { class: 'num' }, e.number), e.name ? h('div', { class: 'muted small' }, e.name) : null),
      h('td', { 'data-label': 'State' }, badge(e.state.replace('_', ' '), `state ${STATE_CLASS[e.state] || 'neutral'}`)),
      h('td', { 'data-label': 'Phones' }, e.contacts.length
        ? h('ul', { class: 'legs' }, e.contacts.map((c) => h('li', {},
          h('span', { class: 'mono small' }, c.source), ' ', h('span', { class: 'muted small' }, `${(c.transport || '').toUpperCase()} ${c.user_agent || ''}`),
          ' ', h('span', { class: 'muted small', title: c.expires_at }, `expires ${fmtIn(c.expires_at)}`))))
        : h('span', { class: 'muted' }, 'none registered')),
      h('td', { 'data-label': 'Forwarding' }, forwardText(e.forward)
        ? h('a', { href: `/forwarding?edit=${encodeURIComponent(e.number)}` }, forwardText(e.forward))
        : h('a', { href: `/forwarding?edit=${encodeURIComponent(e.number)}`, class: 'muted' }, 'none')),
    ))));
}
