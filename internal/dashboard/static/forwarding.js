// Forwarding: every extension's call forwarding in effect, and a form that
// changes one (kept across restarts, winning over the config file's) or
// gives it back to the config file.

import { api } from './api.js';
import { h, badge, timeEl, empty, errorBox, toast } from './util.js';
import { field, showFormError, errorSlot } from './forms.js';

const CONDITIONS = [
  ['unconditional', 'Always', 'Every call goes here; the extension does not ring.'],
  ['user_busy', 'When busy', 'Calls that find the extension on a call.'],
  ['no_answer', 'When not answered', 'Calls the extension does not answer in time.'],
  ['unavailable', 'When unavailable', 'Calls while no phone of the extension is registered.'],
];

export async function render(page, _params, q) {
  const list = h('div', { id: 'forward-list' }, h('p', { class: 'muted' }, 'Loading…'));
  const editor = h('div', { id: 'forward-editor' });
  page.main.append(
    page.title('Forwarding'),
    h('p', { class: 'muted' }, 'Where each extension\'s calls go instead. A number is dialled as the extension would dial it: another extension, a ring group, an IVR or an outside number.'),
    h('section', { class: 'card', 'aria-labelledby': 'forward-list-h' }, h('h2', { id: 'forward-list-h', class: 'visually-hidden' }, 'Extensions'), list),
    editor);

  let forwards = [];
  async function load() {
    forwards = await api('GET', '/v1/forwards', undefined, page.signal);
    if (!page.alive) return;
    list.replaceChildren(forwardTable(forwards, edit));
  }

  function edit(number) {
    const f = forwards.find((x) => x.number === number);
    if (!f) return;
    editor.replaceChildren(editForm(f, async () => {
      await load();
      editor.replaceChildren();
      const again = list.querySelector(`[data-edit="${CSS.escape(number)}"]`);
      if (again) again.focus();
    }));
    editor.querySelector('input').focus();
  }

  try {
    await load();
  } catch (err) {
    if (err.name !== 'AbortError') list.replaceChildren(errorBox(err));
    return;
  }
  if (q.get('edit')) edit(q.get('edit'));
}

function target(v) {
  return v ? h('span', { class: 'mono' }, v) : h('span', { class: 'muted' }, '—');
}

function forwardTable(forwards, edit) {
  if (!forwards.length) return empty('The PBX has no extensions.');
  return h('table', { class: 'table cards' },
    h('thead', {}, h('tr', {}, ['Extension', ...CONDITIONS.map((c) => c[1]), 'Set by', ''].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, forwards.map((f) => h('tr', { 'data-number': f.number },
      h('th', { scope: 'row', 'data-label': 'Extension', class: 'mono' }, f.number),
      ...CONDITIONS.map(([key, label]) => h('td', { 'data-label': label, 'data-key': key },
        target(f[key]), key === 'no_answer' && f.no_answer ? h('span', { class: 'muted small' }, ` after ${f.no_answer_after}`) : null)),
      h('td', { 'data-label': 'Set by' }, f.source === 'api'
        ? [badge('API', 'neutral'), ' ', h('span', { class: 'muted small' }, timeEl(f.updated_at))]
        : badge('config file', 'neutral')),
      h('td', {}, h('button', { type: 'button', 'data-edit': f.number, 'aria-label': `Edit the forwarding of ${f.number}`, onclick: () => edit(f.number) }, 'Edit'))))));
}

function editForm(f, done) {
  const err = errorSlot();
  const form = h('form', { class: 'card', id: 'forward-form', 'aria-labelledby': 'forward-form-h', novalidate: true },
    h('h2', { id: 'forward-form-h' }, `Forwarding of ${f.number}`),
    err,
    ...CONDITIONS.map(([key, label, hint]) => field(label,
      h('input', { id: `fw-${key}`, name: key, type: 'text', inputmode: 'tel', autocomplete: 'off', spellcheck: 'false', value: f[key] || '', placeholder: 'no forwarding' }), hint)),
    field('Ring for', h('input', { id: 'fw-no_answer_after', name: 'no_answer_after', type: 'text', autocomplete: 'off', value: f.no_answer_after || '', placeholder: '20s' }),
      'How long the extension rings before a call goes to the no-answer number, like 15s.'),
    h('div', { class: 'actions' },
      h('button', { type: 'submit', class: 'primary' }, 'Save'),
      f.source === 'api' ? h('button', { type: 'button', id: 'fw-reset' }, 'Use the config file\'s') : null,
      h('button', { type: 'button', id: 'fw-cancel', onclick: () => form.remove() }, 'Cancel')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const fd = new FormData(form);
    const body = {};
    for (const [key] of CONDITIONS) body[key] = String(fd.get(key) || '').trim();
    const after = String(fd.get('no_answer_after') || '').trim();
    if (after && body.no_answer) body.no_answer_after = after;
    await act(form, err, () => api('PUT', `/v1/extensions/${encodeURIComponent(f.number)}/forward`, body), `Forwarding of ${f.number} saved.`, done);
  });
  const reset = form.querySelector('#fw-reset');
  if (reset) {
    reset.addEventListener('click', () => act(form, err, () => api('DELETE', `/v1/extensions/${encodeURIComponent(f.number)}/forward`),
      `Forwarding of ${f.number} is the config file's again.`, done));
  }
  return form;
}

async function act(form, err, call, message, done) {
  const buttons = form.querySelectorAll('button');
  for (const b of buttons) b.disabled = true;
  try {
    await call();
    toast(message);
    await done();
  } catch (error) {
    showFormError(form, err, error);
  } finally {
    for (const b of buttons) b.disabled = false;
  }
}
