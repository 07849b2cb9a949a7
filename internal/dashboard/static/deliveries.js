// A delivery with its attempts and a Retry button, as the call page and
// the endpoint page show it.

import { api } from './api.js';
import { h, badge, timeEl, fmtMS, toast } from './util.js';

// deliveryView shows d (with d.attempts) on one line: the endpoint, the
// status, the last attempt and a Retry button; the attempts open on demand
// (open says whether they are, across a redraw). onRetried runs after a
// retry was accepted, to redraw.
export function deliveryView(d, endpointLabel, onRetried, open = false) {
  const retry = h('button', { type: 'button', class: 'small', 'data-retry': d.id, 'aria-label': `Retry delivery ${d.id} to ${endpointLabel}` }, 'Retry');
  retry.addEventListener('click', async () => {
    retry.disabled = true;
    try {
      await api('POST', `/v1/deliveries/${d.id}/retry`);
      toast(`Delivery ${d.id} will be sent again now.`);
      if (onRetried) onRetried(d.id);
    } catch (err) {
      toast(`Retry failed: ${err.message}`, 'error');
      retry.disabled = false;
    }
  });
  const attempts = d.attempts || [];
  const last = attempts[attempts.length - 1];
  const head = h('div', { class: 'delivery-head' },
    h('span', { class: 'endpoint-name' }, endpointLabel), ' ',
    badge(d.status, `status ${d.status}`), ' ',
    last ? h('span', { class: 'muted small last-attempt' },
      last.status_code ? `${last.status_code}` : 'no response', ` in ${fmtMS(last.latency_ms)}`,
      last.error ? h('span', { class: 'error-text' }, ` · ${last.error}`) : null) : h('span', { class: 'muted small' }, 'not attempted yet'),
    d.status === 'pending' && d.next_attempt_at ? h('span', { class: 'muted small' }, ' · next ', timeEl(d.next_attempt_at)) : null,
    // On the same line; opened, it takes a line of its own below.
    attempts.length ? h('details', { class: 'attempts-of', 'data-delivery-id': d.id, open },
      h('summary', { class: 'small' }, `${d.attempt_count} attempt${d.attempt_count === 1 ? '' : 's'}`),
      attemptsTable(attempts)) : null,
    ' ', retry);
  return h('div', { class: `delivery ${d.status}`, 'data-delivery-id': d.id, 'data-status': d.status }, head);
}

// attemptsTable lists attempts, oldest first.
export function attemptsTable(attempts) {
  if (!attempts.length) return h('p', { class: 'muted small' }, 'Not attempted yet.');
  return h('table', { class: 'table attempts cards' },
    h('thead', {}, h('tr', {}, ['#', 'At', 'Status', 'Latency', 'Error', 'Response'].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, attempts.map((a, i) => h('tr', { 'data-status-code': a.status_code },
      h('td', { 'data-label': '#' }, String(i + 1)),
      h('td', { 'data-label': 'At' }, timeEl(a.at)),
      h('td', { 'data-label': 'Status' }, a.status_code ? badge(String(a.status_code), a.status_code < 300 ? 'status succeeded' : 'status failed') : badge('no response', 'status failed')),
      h('td', { 'data-label': 'Latency', class: 'mono' }, fmtMS(a.latency_ms)),
      h('td', { 'data-label': 'Error', class: 'error-text wrap' }, a.error || ''),
      h('td', { 'data-label': 'Response', class: 'wrap' }, a.response ? h('code', { class: 'excerpt' }, excerpt(a.response)) : ''),
    ))));
}

function excerpt(s) {
  const one = s.replace(/\s+/g, ' ').trim();
  return one.length > 200 ? one.slice(0, 200) + '…' : one;
}

// endpointLabels maps endpoint ids to what to call them: the description,
// or the URL.
export async function endpointLabels(signal) {
  const eps = await api('GET', '/v1/endpoints', undefined, signal);
  const m = new Map();
  for (const ep of eps) m.set(ep.id, ep.description || ep.url);
  return m;
}
