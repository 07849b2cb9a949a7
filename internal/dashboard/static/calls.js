// Calls: search the recorded calls by number, call UUID, time range and
// event.

import { api, query } from './api.js';
import { navigate } from './nav.js';
import { h, badge, timeEl, fmtDuration, fromInput, toInput, timeInput, empty, errorBox, zoneName, KINDS } from './util.js';

const LIMIT = 50;

export async function render(page, _params, q) {
  const number = q.get('number') || '';
  const event = q.get('event') || '';
  const since = q.get('since') || '';
  const until = q.get('until') || '';

  const form = h('form', { class: 'card search', role: 'search', 'aria-label': 'Search calls' },
    h('div', { class: 'fields' },
      field('Number', h('input', { id: 'q-number', name: 'number', type: 'search', value: number, placeholder: 'caller or destination', autocomplete: 'off', inputmode: 'tel' })),
      field('Call UUID', h('input', { id: 'q-uuid', name: 'call_uuid', type: 'search', placeholder: 'go straight to a call', autocomplete: 'off', spellcheck: 'false' })),
      field('From', timeInput({ id: 'q-since', name: 'since', value: toInput(since) })),
      field('To', timeInput({ id: 'q-until', name: 'until', value: toInput(until) })),
      field('Event', h('select', { id: 'q-event', name: 'event' },
        h('option', { value: '' }, 'Any'),
        KINDS.map((k) => h('option', { value: k, selected: k === event }, k))))),
    h('p', { class: 'hint' }, `Times are in ${zoneName()}. A call matches a number it was from or to.`),
    h('div', { class: 'actions' },
      h('button', { type: 'submit', class: 'primary' }, 'Search'),
      h('a', { href: '/calls', class: 'button' }, 'Clear')));
  const results = h('div', { id: 'call-results' }, h('p', { class: 'muted' }, 'Loading…'));
  page.main.append(page.title('Calls'), form, h('section', { class: 'card', 'aria-labelledby': 'results-h' },
    h('h2', { id: 'results-h', class: 'visually-hidden' }, 'Results'), results));

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const fd = new FormData(form);
    const uuid = String(fd.get('call_uuid') || '').trim();
    if (uuid) {
      navigate(`/calls/${encodeURIComponent(uuid)}`);
      return;
    }
    navigate('/calls' + query({
      number: String(fd.get('number') || '').trim(),
      event: fd.get('event'),
      since: fromInput(fd.get('since')),
      until: fromInput(fd.get('until')),
    }));
  });

  try {
    const list = await api('GET', '/v1/calls' + query({ number, event, since, until, limit: LIMIT }), undefined, page.signal);
    if (!page.alive) return;
    results.replaceChildren(...callTable(list, { number, event, since, until }));
  } catch (err) {
    if (err.name === 'AbortError') return;
    results.replaceChildren(errorBox(err));
  }
}

function field(label, input) {
  return h('div', { class: 'field' }, h('label', { for: input.id }, label), input);
}

function callTable(list, filters) {
  if (!list.length) return [empty('No calls match.')];
  const now = Date.now();
  const rows = list.map((c) => {
    let status;
    if (!c.ended_at) status = badge('live', 'state ringing');
    else if (c.answered_at) status = badge('answered', 'state answered');
    else status = badge('not answered', 'state routed');
    const end = c.ended_at ? new Date(c.ended_at) : now;
    return h('tr', { 'data-call-uuid': c.call_uuid },
      h('td', { 'data-label': 'Started' }, h('a', { href: `/calls/${c.call_uuid}` }, timeEl(c.started_at))),
      h('td', { 'data-label': 'Caller', class: 'num' }, c.caller_id_number),
      h('td', { 'data-label': 'Destination', class: 'num' }, c.destination_number,
        c.answered_by && c.answered_by !== c.destination_number ? h('span', { class: 'muted' }, ` (answered by ${c.answered_by})`) : null),
      h('td', { 'data-label': 'Status' }, status, c.hangup_cause ? h('div', { class: 'muted small' }, c.hangup_cause) : null),
      h('td', { 'data-label': 'Duration', class: 'mono' }, fmtDuration(end - new Date(c.started_at))),
      h('td', { 'data-label': 'Source' }, c.source),
    );
  });
  const out = [h('table', { class: 'table cards' },
    h('thead', {}, h('tr', {}, ['Started', 'Caller', 'Destination', 'Status', 'Duration', 'Source'].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, rows))];
  if (list.length === LIMIT) {
    // The API lists newest first: older calls are those before the last.
    const older = '/calls' + query({ ...filters, until: list[list.length - 1].started_at });
    out.push(h('p', { class: 'more' }, h('a', { href: older, class: 'button' }, 'Older calls')));
  }
  return out;
}
