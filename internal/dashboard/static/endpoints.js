// Endpoints: the list, with each one's health over the last hour, and the
// form that creates one.

import { api } from './api.js';
import { navigate } from './nav.js';
import { h, badge, fmtRate, fmtMS, empty, errorBox, toast } from './util.js';
import { field, kindsFieldset, profileFieldset, showFormError, errorSlot } from './forms.js';

export async function render(page, _params, q) {
  const list = h('div', { id: 'endpoint-list' }, h('p', { class: 'muted' }, 'Loading…'));
  const toggle = h('button', { type: 'button', class: 'primary', id: 'new-endpoint', 'aria-expanded': 'false', 'aria-controls': 'create-form' }, 'New endpoint');
  const form = createForm();
  form.hidden = q.get('new') !== '1';
  toggle.setAttribute('aria-expanded', String(!form.hidden));
  toggle.addEventListener('click', () => {
    form.hidden = !form.hidden;
    toggle.setAttribute('aria-expanded', String(!form.hidden));
    if (!form.hidden) form.querySelector('input').focus();
  });
  page.main.append(
    h('div', { class: 'page-head' }, page.title('Endpoints'), toggle),
    form,
    h('section', { class: 'card', 'aria-labelledby': 'list-h' }, h('h2', { id: 'list-h', class: 'visually-hidden' }, 'All endpoints'), list));

  let drawn = '';
  async function load() {
    const [eps, ov] = await Promise.all([
      api('GET', '/v1/endpoints', undefined, page.signal),
      api('GET', '/v1/overview', undefined, page.signal),
    ]);
    // In the order they were made, as a person added them.
    eps.sort((a, b) => String(a.created_at).localeCompare(String(b.created_at)) || String(a.id).localeCompare(String(b.id)));
    const key = JSON.stringify([eps, ov.endpoints]);
    if (!page.alive || key === drawn) return;
    drawn = key;
    const health = new Map(ov.endpoints.map((e) => [e.endpoint_id, e]));
    list.replaceChildren(endpointTable(eps, health));
  }
  try {
    await load();
  } catch (err) {
    if (err.name !== 'AbortError') list.replaceChildren(errorBox(err));
  }
  page.every(() => load().catch(() => {}), 10000);
}

function endpointTable(eps, health) {
  if (!eps.length) return empty('No endpoints yet. Create one to have call events sent to it.');
  return h('table', { class: 'table cards' },
    h('thead', {}, h('tr', {}, ['Endpoint', 'Status', 'Events', 'Success (1 h)', 'p50 / p99', 'Failures in a row'].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, eps.map((ep) => {
      const hl = health.get(ep.id) || {};
      return h('tr', { 'data-endpoint-id': ep.id },
        h('td', { 'data-label': 'Endpoint', class: 'wrap' },
          h('a', { href: `/endpoints/${ep.id}` }, ep.description || ep.url),
          ep.description ? h('div', { class: 'muted small mono' }, ep.url) : null),
        h('td', { 'data-label': 'Status' }, statusBadges(ep)),
        h('td', { 'data-label': 'Events', class: 'small' }, ep.events.length ? ep.events.map((k) => k.replace('CALL_', '')).join(', ') : 'all', h('div', { class: 'muted small' }, ep.payload)),
        h('td', { 'data-label': 'Success (1 h)' }, fmtRate(hl.success_rate), hl.attempts ? h('div', { class: 'muted small' }, `${hl.attempts} attempt${hl.attempts === 1 ? '' : 's'}`) : null),
        h('td', { 'data-label': 'p50 / p99', class: 'mono' }, `${fmtMS(hl.p50_ms)} / ${fmtMS(hl.p99_ms)}`),
        h('td', { 'data-label': 'Failures in a row' }, String(ep.circuit.consecutive_failures)),
      );
    })));
}

// statusBadges says whether an endpoint is enabled and how its circuit is.
export function statusBadges(ep) {
  const out = [];
  out.push(ep.disabled ? badge('disabled', 'status failed') : badge('enabled', 'status succeeded'));
  if (ep.circuit.state !== 'closed') out.push(' ', badge(`circuit ${ep.circuit.state.replace('_', '-')}`, 'status failed'));
  if (ep.from_config) out.push(' ', badge('config file', 'neutral'));
  if (ep.disabled_reason) out.push(h('div', { class: 'muted small' }, ep.disabled_reason));
  return out;
}

function createForm() {
  const err = errorSlot();
  const form = h('form', { class: 'card', id: 'create-form', 'aria-labelledby': 'create-h', novalidate: true },
    h('h2', { id: 'create-h' }, 'New endpoint'),
    err,
    field('URL', h('input', { id: 'new-url', name: 'url', type: 'url', required: true, placeholder: 'https://your-app/webhooks/calls', autocomplete: 'off', spellcheck: 'false' }),
      'Where the events are POSTed, signed with the endpoint\'s secret.'),
    field('Description', h('input', { id: 'new-description', name: 'description', type: 'text', autocomplete: 'off' })),
    field('Secret', h('input', { id: 'new-secret', name: 'secret', type: 'text', autocomplete: 'off', spellcheck: 'false', placeholder: 'whsec_…' }),
      'Optional: leave empty and switchhook makes one. To bring your own: whsec_ and 24 to 64 bytes in base64.'),
    kindsFieldset('new', 'Events (none checked: all seven)', []),
    profileFieldset('new', 'standard'),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Create endpoint')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const fd = new FormData(form);
    const body = {
      url: String(fd.get('url') || '').trim(),
      description: String(fd.get('description') || ''),
      events: fd.getAll('events'),
      payload: fd.get('payload'),
    };
    const secret = String(fd.get('secret') || '').trim();
    if (secret) body.secret = secret;
    const button = form.querySelector('button[type=submit]');
    button.disabled = true;
    try {
      const ep = await api('POST', '/v1/endpoints', body);
      toast('Endpoint created. Its signing secret is on its page.');
      navigate(`/endpoints/${ep.id}`);
    } catch (error) {
      showFormError(form, err, error);
    } finally {
      button.disabled = false;
    }
  });
  return form;
}
