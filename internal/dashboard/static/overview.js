// Overview: the last hour at a glance, and the endpoints that fail first.

import { api } from './api.js';
import { chart } from './chart.js';
import { h, badge, fmtRate, fmtMS, fmtTime, empty } from './util.js';

export async function render(page) {
  const body = h('div', { id: 'overview' }, h('p', { class: 'muted' }, 'Loading…'));
  page.main.append(page.title('Overview'), body);

  let drawn = '';
  async function load() {
    const ov = await api('GET', '/v1/overview', undefined, page.signal);
    const key = JSON.stringify(ov);
    if (!page.alive || key === drawn) return;
    drawn = key;
    const since = new Date(ov.since);
    const events = ov.events.reduce((n, m) => n + m.events, 0);
    body.replaceChildren(
      h('ul', { class: 'tiles' },
        tile('Events', String(events), 'last hour'),
        tile('Attempts', String(ov.attempts), `${ov.failures} failed`),
        tile('Success rate', fmtRate(ov.success_rate), 'of attempts'),
        tile('Latency p50', fmtMS(ov.p50_ms), `p99 ${fmtMS(ov.p99_ms)}`),
        tile('Pending', String(ov.pending), 'deliveries queued')),
      h('div', { class: 'grid2' },
        h('section', { class: 'card' }, chart({
          title: 'Events per minute',
          points: ov.events,
          series: [{ key: 'events', label: 'Events', kind: 'bar', cls: 'events' }],
          since,
          summary: `${events} events in the last hour`,
        })),
        h('section', { class: 'card' }, chart({
          title: 'Delivery latency per minute',
          points: ov.deliveries,
          series: [{ key: 'p50_ms', label: 'p50', kind: 'line', cls: 'p50' }, { key: 'p99_ms', label: 'p99', kind: 'line', cls: 'p99' }],
          since,
          format: fmtMS,
          summary: `Delivery latency p50 ${fmtMS(ov.p50_ms)}, p99 ${fmtMS(ov.p99_ms)} over the last hour`,
        }))),
      since > new Date(ov.events[0].at)
        ? h('p', { class: 'muted small' }, `Counted by this server process since ${fmtTime(since)}, when it started; the grey part is before.`) : null,
      h('section', { class: 'card', 'aria-labelledby': 'eps-h' }, h('h2', { id: 'eps-h' }, 'Endpoints, failing first'), endpointTable(ov.endpoints)));
  }
  await load();
  page.every(() => load().catch(() => {}), 10000);
}

function tile(label, value, note) {
  return h('li', { class: 'tile' }, h('span', { class: 'tile-label' }, label), h('strong', { class: 'tile-value' }, value), h('span', { class: 'muted small' }, note));
}

function endpointTable(eps) {
  if (!eps.length) return empty('No endpoints yet.');
  return h('table', { class: 'table cards' },
    h('thead', {}, h('tr', {}, ['Endpoint', 'Circuit', 'Failures in a row', 'Success', 'p50 / p99', 'Attempts'].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, eps.map((e) => h('tr', { 'data-endpoint-id': e.endpoint_id },
      h('td', { 'data-label': 'Endpoint', class: 'wrap' }, h('a', { href: `/endpoints/${e.endpoint_id}` }, e.description || e.url),
        e.disabled ? [' ', badge('disabled', 'status failed')] : null,
        e.disabled_reason ? h('div', { class: 'muted small' }, e.disabled_reason) : null),
      h('td', { 'data-label': 'Circuit' }, badge(e.circuit.state.replace('_', '-'), e.circuit.state === 'closed' ? 'status succeeded' : 'status failed')),
      h('td', { 'data-label': 'Failures in a row' }, String(e.circuit.consecutive_failures)),
      h('td', { 'data-label': 'Success' }, fmtRate(e.success_rate)),
      h('td', { 'data-label': 'p50 / p99', class: 'mono' }, `${fmtMS(e.p50_ms)} / ${fmtMS(e.p99_ms)}`),
      h('td', { 'data-label': 'Attempts' }, `${e.attempts}`, e.failures ? h('span', { class: 'muted' }, ` (${e.failures} failed)`) : null),
    ))));
}
