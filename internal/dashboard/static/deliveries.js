// A delivery with its attempts and a Retry button, as the call page and
// the endpoint page show it.

import { api } from './api.js';
import { h, badge, timeEl, fmtMS, toast } from './util.js';

// deliveryView shows d (with d.attempts). onRetried runs after a retry
// was accepted, to redraw.
export function deliveryView(d, endpointLabel, onRetried) {
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
  const head = h('div', { class: 'delivery-head' },
    h('span', { class: 'endpoint-name' }, endpointLabel), ' ',
    badge(d.status, `status ${d.status}`), ' ',
    h('span', { class: 'muted small' }, `${d.attempt_count} attempt${d.attempt_count === 1 ? '' : 's'}`),
    d.status === 'pending' && d.next_attempt_at ? h('span', { class: 'muted small' }, ' · next ', timeEl(d.next_attempt_at)) : null,
    ' ', retry);
  return h('div', { class: `delivery ${d.status}`, 'data-delivery-id': d.id, 'data-status': d.status },
    head,
    attemptsTable(d.attempts || []));
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
