// Form parts shared by the endpoint pages.

import { h, KINDS } from './util.js';

// field is a labelled input, with a hint under it if given.
export function field(label, input, hint) {
  const hintEl = hint ? h('p', { class: 'hint', id: `${input.id}-hint` }, hint) : null;
  if (hintEl) input.setAttribute('aria-describedby', hintEl.id);
  return h('div', { class: 'field' }, h('label', { for: input.id }, label), input, hintEl);
}

// kindsFieldset is a checkbox per event kind; none checked means all.
export function kindsFieldset(prefix, legend, checked) {
  return h('fieldset', { class: 'kinds' },
    h('legend', {}, legend),
    h('div', { class: 'checks' }, KINDS.map((k) => h('label', { class: 'check' },
      h('input', { type: 'checkbox', name: 'events', value: k, id: `${prefix}-${k}`, checked: checked.includes(k) }),
      ' ', k))));
}

// profileFieldset chooses the payload profile.
export function profileFieldset(prefix, current) {
  return h('fieldset', { class: 'profile' },
    h('legend', {}, 'Payload'),
    h('label', { class: 'check' }, h('input', { type: 'radio', name: 'payload', value: 'standard', id: `${prefix}-standard`, checked: current !== 'extended' }),
      ' standard ', h('span', { class: 'muted small' }, '— exactly the fields of the specification')),
    h('label', { class: 'check' }, h('input', { type: 'radio', name: 'payload', value: 'extended', id: `${prefix}-extended`, checked: current === 'extended' }),
      ' extended ', h('span', { class: 'muted small' }, '— plus event_id, sequence, direction, hangup details…')));
}

// formError shows an API error in a form, and marks the field it names.
export function showFormError(form, box, err) {
  for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
  box.replaceChildren(err.message);
  box.hidden = false;
  const name = (err.field || '').replace(/\[\d+\]$/, '');
  const input = name && form.querySelector(`[name="${CSS.escape(name)}"]`);
  if (input) {
    input.setAttribute('aria-invalid', 'true');
    input.focus();
  } else {
    box.focus();
  }
}

// errorSlot is where a form's error goes.
export function errorSlot() {
  return h('p', { class: 'alert error', role: 'alert', tabindex: '-1', hidden: true });
}
