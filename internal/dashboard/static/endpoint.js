// An endpoint's page: its health over the last hour, a test event and its
// attempt, the signing secret, its settings, a replay, and its recent
// deliveries.

import { api, query } from './api.js';
import { navigate } from './nav.js';
import { chart } from './chart.js';
import { h, badge, kindBadge, timeEl, fmtTime, fmtRate, fmtMS, fromInput, toInput, timeInput, dl, empty, errorBox, toast, copyText, selectText, zoneName, KINDS } from './util.js';
import { field, kindsFieldset, profileFieldset, showFormError, errorSlot } from './forms.js';
import { statusBadges } from './endpoints.js';
import { deliveryView } from './deliveries.js';

const TEST_WAIT_POLLS = 30;

export async function render(page, [id]) {
  const path = `/v1/endpoints/${encodeURIComponent(id)}`;
  let ep = await api('GET', path, undefined, page.signal);
  if (!page.alive) return;

  const heading = page.title(ep.description || ep.url);
  const badges = h('p', { class: 'badges' });
  const head = h('div', {}, heading, badges, h('p', { class: 'mono muted small wrap' }, ep.url, ' · ', ep.id));
  const healthBox = h('div', { id: 'endpoint-health' }, h('p', { class: 'muted' }, 'Loading…'));
  const deliveriesBox = h('div', { id: 'endpoint-deliveries' }, h('p', { class: 'muted' }, 'Loading…'));
  const label = () => ep.description || ep.url;

  function drawHead() {
    badges.replaceChildren(...statusBadges(ep));
  }
  drawHead();

  page.main.append(head,
    section('health', 'Health, last hour', healthBox, 'wide'),
    h('div', { class: 'grid2' },
      section('test', 'Send a test event', testPanel()),
      section('secret', 'Signing secret', secretPanel())),
    h('div', { class: 'grid2' },
      section('settings', 'Settings', settingsForm()),
      section('replay', 'Replay', replayForm())),
    section('deliveries', 'Recent deliveries', deliveriesBox, 'wide'),
    section('danger', 'Disable or delete', dangerPanel(), 'wide'));

  // The loads redraw only when something changed, so that polling leaves
  // the reader's focus alone.
  let healthDrawn = '';
  let deliveriesDrawn = '';

  async function loadHealth() {
    const hl = await api('GET', `${path}/health`, undefined, page.signal);
    const key = JSON.stringify(hl);
    if (!page.alive || key === healthDrawn) return;
    healthDrawn = key;
    const since = new Date(hl.since);
    healthBox.replaceChildren(
      dl([
        ['Success rate', fmtRate(hl.success_rate)],
        ['Attempts', `${hl.attempts} (${hl.failures} failed)`],
        ['Latency p50', fmtMS(hl.p50_ms)],
        ['Latency p99', fmtMS(hl.p99_ms)],
        ['Failures in a row', String(hl.circuit.consecutive_failures)],
        ['Circuit', [badge(hl.circuit.state.replace('_', '-'), hl.circuit.state === 'closed' ? 'status succeeded' : 'status failed'),
          hl.circuit.paused_until ? h('span', { class: 'muted small' }, ' paused until ', timeEl(hl.circuit.paused_until)) : null]],
      ], 'stats'),
      h('div', { class: 'charts' },
        chart({
          title: 'Attempts per minute',
          points: hl.minutes.map((m) => ({ ...m, ok: m.attempts - m.failures })),
          series: [{ key: 'attempts', label: 'Accepted', kind: 'bar', cls: 'ok' }, { key: 'failures', label: 'Failed', kind: 'bar', cls: 'bad' }],
          since,
          summary: `${hl.attempts} attempts, ${hl.failures} failed, in the last hour`,
        }),
        chart({
          title: 'Latency per minute',
          points: hl.minutes,
          series: [{ key: 'p50_ms', label: 'p50', kind: 'line', cls: 'p50' }, { key: 'p99_ms', label: 'p99', kind: 'line', cls: 'p99' }],
          since,
          format: fmtMS,
          summary: `Latency p50 ${fmtMS(hl.p50_ms)}, p99 ${fmtMS(hl.p99_ms)} over the last hour`,
        })),
      since > new Date(hl.minutes[0].at) ? h('p', { class: 'muted small' }, `Counted by this server process since ${fmtTime(since)}, when it started.`) : null);
  }

  async function loadDeliveries() {
    const ds = await api('GET', `/v1/deliveries${query({ endpoint_id: ep.id, limit: 20 })}`, undefined, page.signal);
    const key = JSON.stringify(ds);
    if (!page.alive || key === deliveriesDrawn) return;
    deliveriesDrawn = key;
    if (!ds.length) {
      deliveriesBox.replaceChildren(empty('Nothing sent to this endpoint yet.'));
      return;
    }
    deliveriesBox.replaceChildren(h('table', { class: 'table cards' },
      h('thead', {}, h('tr', {}, ['Created', 'Event', 'Call', 'Status', 'Attempts', 'Last error', ''].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, ds.map((d) => h('tr', { 'data-delivery-id': d.id, 'data-status': d.status },
        h('td', { 'data-label': 'Created' }, timeEl(d.created_at)),
        h('td', { 'data-label': 'Event' }, kindBadge(d.event)),
        h('td', { 'data-label': 'Call', class: 'mono small' }, h('a', { href: `/calls/${d.call_uuid}` }, d.call_uuid.slice(0, 8))),
        h('td', { 'data-label': 'Status' }, badge(d.status, `status ${d.status}`)),
        h('td', { 'data-label': 'Attempts' }, String(d.attempt_count)),
        h('td', { 'data-label': 'Last error', class: 'error-text wrap small' }, d.last_error),
        h('td', { 'data-label': '' }, retryButton(d)),
      )))));
  }

  function retryButton(d) {
    const b = h('button', { type: 'button', class: 'small', 'aria-label': `Retry delivery ${d.id}` }, 'Retry');
    b.addEventListener('click', async () => {
      b.disabled = true;
      try {
        await api('POST', `/v1/deliveries/${d.id}/retry`);
        toast(`Delivery ${d.id} will be sent again now.`);
        await loadDeliveries();
      } catch (err) {
        toast(`Retry failed: ${err.message}`, 'error');
        b.disabled = false;
      }
    });
    return b;
  }

  function testPanel() {
    const kind = h('select', { id: 'test-kind', name: 'event' }, KINDS.map((k) => h('option', { value: k, selected: k === (ep.events[0] || 'CALL_ROUTED') }, k)));
    const out = h('div', { id: 'test-result', 'aria-live': 'polite' });
    const button = h('button', { type: 'submit', class: 'primary' }, 'Send test event');
    const form = h('form', { class: 'inline-form' }, field('Event', kind), h('div', { class: 'actions' }, button));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      button.disabled = true;
      try {
        const sent = await api('POST', `${path}/test`, { event: kind.value });
        out.replaceChildren(h('p', { class: 'small' }, `Sent ${kind.value} `, h('span', { class: 'mono' }, sent.event_id), '. Waiting for the attempt…'));
        await followTest(sent, out);
      } catch (err) {
        if (err.name !== 'AbortError') out.replaceChildren(errorBox(err));
      } finally {
        button.disabled = false;
      }
    });
    return [h('p', { class: 'muted small' }, 'A made-up call event between 1001 and 1002, sent to this endpoint only, signed and retried like a real one.'), form, out];
  }

  // followTest shows the test event's delivery once it has an attempt,
  // and keeps it current while it is pending.
  async function followTest(sent, out) {
    const draw = async () => {
      const ds = await api('GET', `/v1/deliveries${query({ event_id: sent.event_id })}`, undefined, page.signal);
      if (!ds.length) return null;
      const d = await api('GET', `/v1/deliveries/${ds[0].id}`, undefined, page.signal);
      if (!page.alive || !d.attempts) return d;
      out.replaceChildren(
        deliveryView(d, label(), () => followTest(sent, out).catch(() => {})),
        h('p', { class: 'small' }, h('a', { href: `/calls/${sent.call_uuid}` }, 'Open the test event\'s timeline')));
      return d;
    };
    for (let i = 0; i < TEST_WAIT_POLLS && page.alive; i++) {
      const d = await draw();
      if (d && d.attempts && d.status !== 'pending') break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    loadDeliveries().catch(() => {});
    loadHealth().catch(() => {});
  }

  function secretPanel() {
    const code = h('code', { id: 'secret', class: 'secret wrap' });
    const reveal = h('button', { type: 'button', id: 'secret-reveal', 'aria-pressed': 'false', 'aria-controls': 'secret' }, 'Reveal');
    const copy = h('button', { type: 'button', id: 'secret-copy' }, 'Copy');
    const previous = h('div', { id: 'secret-previous' });
    let shown = false;
    const drawSecret = () => {
      code.textContent = shown ? ep.secret : `whsec_${'•'.repeat(24)}`;
      reveal.textContent = shown ? 'Hide' : 'Reveal';
      reveal.setAttribute('aria-pressed', String(shown));
      previous.replaceChildren(...(ep.previous_secrets || []).map((p) => h('p', { class: 'small muted' },
        'The previous secret still signs until ', timeEl(p.expires_at), shown ? [': ', h('code', { class: 'wrap' }, p.secret)] : '.')));
    };
    drawSecret();
    reveal.addEventListener('click', () => {
      shown = !shown;
      drawSecret();
    });
    copy.addEventListener('click', async () => {
      if (await copyText(ep.secret)) {
        toast('Secret copied.');
        return;
      }
      shown = true;
      drawSecret();
      selectText(code);
      toast('Copying was refused by the browser: the secret is selected, copy it with Ctrl+C.', 'error');
    });
    const grace = h('select', { id: 'rotate-grace', name: 'grace' },
      h('option', { value: '' }, 'the server default'),
      h('option', { value: '1h' }, '1 hour'),
      h('option', { value: '0s' }, 'no time: stop at once'));
    const rotate = h('button', { type: 'submit' }, 'Rotate secret');
    const form = h('form', { class: 'inline-form' }, field('Keep signing with the old secret for', grace), h('div', { class: 'actions' }, rotate));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      rotate.disabled = true;
      try {
        ep = await api('POST', `${path}/rotate-secret`, grace.value ? { grace: grace.value } : {});
        shown = true;
        drawSecret();
        toast('Secret rotated. Give the new one to the receiver.');
      } catch (err) {
        toast(`Rotation failed: ${err.message}`, 'error');
      } finally {
        rotate.disabled = false;
      }
    });
    return [h('p', { class: 'muted small' }, 'Receivers verify the webhook-signature header with it (Standard Webhooks).'),
      h('div', { class: 'secret-row' }, code, h('div', { class: 'actions' }, reveal, copy)), previous, form];
  }

  function settingsForm() {
    const err = errorSlot();
    const form = h('form', { id: 'settings-form', novalidate: true },
      err,
      h('fieldset', { disabled: ep.from_config, class: 'plain' },
        ep.from_config ? h('p', { class: 'alert' }, 'This endpoint is declared in the config file: change it there.') : null,
        field('URL', h('input', { id: 'edit-url', name: 'url', type: 'url', required: true, value: ep.url, spellcheck: 'false' })),
        field('Description', h('input', { id: 'edit-description', name: 'description', type: 'text', value: ep.description })),
        kindsFieldset('edit', 'Events (none checked: all seven)', ep.events),
        profileFieldset('edit', ep.payload),
        h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Save changes'))));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const fd = new FormData(form);
      try {
        const updated = await api('PATCH', path, {
          url: String(fd.get('url') || '').trim(),
          description: String(fd.get('description') || ''),
          events: fd.getAll('events'),
          payload: fd.get('payload'),
        });
        ep = { ...ep, ...updated, secret: ep.secret, previous_secrets: ep.previous_secrets };
        err.hidden = true;
        heading.textContent = label();
        drawHead();
        toast('Saved.');
      } catch (error) {
        showFormError(form, err, error);
      }
    });
    return form;
  }

  function replayForm() {
    const err = errorSlot();
    const since = timeInput({ id: 'replay-since', name: 'since', required: true, value: toInput(new Date(Date.now() - 3600e3)) });
    const until = timeInput({ id: 'replay-until', name: 'until' });
    const out = h('p', { id: 'replay-result', 'aria-live': 'polite', class: 'small' });
    const form = h('form', { id: 'replay-form', novalidate: true },
      h('p', { class: 'muted small' }, 'Send the events of a time range to this endpoint again, in order.'),
      err,
      h('div', { class: 'fields' }, field('From', since, `In ${zoneName()}.`), field('To', until, 'Empty: now.')),
      kindsFieldset('replay', 'Events (none checked: all this endpoint receives)', []),
      h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Replay')),
      out);
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const body = { since: fromInput(since.value), events: new FormData(form).getAll('events') };
      if (until.value) body.until = fromInput(until.value);
      for (const [input, key] of [[since, 'since'], [until, 'until']]) {
        if (input.value && !body[key]) {
          showFormError(form, err, { message: `${input.value} is not a time like 2026-01-27 14:05 (24-hour, ${zoneName()})`, field: key });
          return;
        }
      }
      try {
        const r = await api('POST', `${path}/replay`, body);
        err.hidden = true;
        out.textContent = `${r.deliveries} ${r.deliveries === 1 ? 'delivery' : 'deliveries'} queued.`;
        loadDeliveries().catch(() => {});
      } catch (error) {
        showFormError(form, err, error);
      }
    });
    return form;
  }

  function dangerPanel() {
    const toggle = h('button', { type: 'button', id: 'toggle-disabled' });
    const del = h('button', { type: 'button', class: 'danger', id: 'delete-endpoint' }, 'Delete endpoint…');
    const confirmBox = h('div', { class: 'confirm', hidden: true, role: 'group', 'aria-label': 'Confirm deletion' },
      h('p', {}, 'Delete this endpoint? Its pending deliveries are dropped; this cannot be undone.'),
      h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'danger', id: 'delete-confirm' }, 'Delete'),
        h('button', { type: 'button', id: 'delete-cancel' }, 'Cancel')));
    const drawToggle = () => {
      toggle.textContent = ep.disabled ? 'Enable endpoint' : 'Disable endpoint';
    };
    drawToggle();
    toggle.disabled = del.disabled = ep.from_config;
    toggle.addEventListener('click', async () => {
      try {
        const updated = await api('PATCH', path, { disabled: !ep.disabled });
        ep = { ...ep, ...updated, secret: ep.secret, previous_secrets: ep.previous_secrets };
        drawToggle();
        drawHead();
        toast(ep.disabled ? 'Endpoint disabled: events wait for it.' : 'Endpoint enabled.');
      } catch (err) {
        toast(err.message, 'error');
      }
    });
    del.addEventListener('click', () => {
      confirmBox.hidden = false;
      confirmBox.querySelector('#delete-cancel').focus();
    });
    confirmBox.querySelector('#delete-cancel').addEventListener('click', () => {
      confirmBox.hidden = true;
      del.focus();
    });
    confirmBox.querySelector('#delete-confirm').addEventListener('click', async () => {
      try {
        await api('DELETE', path);
        toast('Endpoint deleted.');
        navigate('/endpoints', true);
      } catch (err) {
        toast(err.message, 'error');
      }
    });
    return [
      ep.from_config ? h('p', { class: 'muted small' }, 'Declared in the config file: disable or remove it there.') : null,
      h('p', { class: 'muted small' }, 'A disabled endpoint keeps its events; they are sent when it is enabled again.'),
      h('div', { class: 'actions' }, toggle, del), confirmBox];
  }

  await Promise.all([
    loadHealth().catch((err) => healthBox.replaceChildren(errorBox(err))),
    loadDeliveries().catch((err) => deliveriesBox.replaceChildren(errorBox(err))),
  ]);
  page.every(() => loadHealth().catch(() => {}), 10000);
  page.every(() => loadDeliveries().catch(() => {}), 5000);
}

function section(id, title, body, cls) {
  return h('section', { class: ['card', cls], id: `section-${id}`, 'aria-labelledby': `${id}-h` },
    h('h2', { id: `${id}-h` }, title), body);
}
