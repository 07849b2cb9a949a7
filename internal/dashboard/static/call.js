// A call's page: what is known of it, and its timeline: each event with
// its payload and, under it, every endpoint's delivery and attempts.

import { api } from './api.js';
import { subscribe } from './stream.js';
import { h, badge, kindBadge, timeEl, fmtDuration, dl, empty } from './util.js';
import { deliveryView, endpointLabels } from './deliveries.js';

const POLL_MS = 1500;

export async function render(page, [uuid]) {
  const heading = page.title('Call');
  const summary = h('section', { class: 'card', 'aria-labelledby': 'summary-h' }, h('h2', { id: 'summary-h', class: 'visually-hidden' }, 'Summary'));
  const timeline = h('ol', { class: 'timeline', id: 'timeline' });
  // A call that moved (transfer, forwarding, pickup) shows where it went,
  // and the other calls of its session (a consultation call, the call a
  // caller's transfer left behind) are a click away.
  const moves = h('section', { class: 'card', id: 'moves', 'aria-labelledby': 'moves-h', hidden: true });
  const session = h('section', { class: 'card', id: 'session-calls', 'aria-labelledby': 'session-h', hidden: true });
  page.main.append(heading, h('p', { class: 'mono muted small wrap' }, uuid), summary, moves, session,
    h('section', { 'aria-labelledby': 'timeline-h' }, h('h2', { id: 'timeline-h' }, 'Timeline'), timeline));

  let labels = new Map();
  let detail = null;
  let drawn = '';

  async function load() {
    const [d, l] = await Promise.all([
      api('GET', `/v1/calls/${encodeURIComponent(uuid)}`, undefined, page.signal),
      endpointLabels(page.signal),
    ]);
    if (!page.alive) return;
    detail = d;
    labels = l;
    // Redraw only what changed, so that polling leaves the reader's place
    // and focus alone.
    const key = JSON.stringify([d, [...l]]);
    if (key !== drawn) {
      drawn = key;
      draw();
    }
  }

  function draw() {
    const c = detail.call;
    const first = detail.events[0];
    if (c) {
      heading.replaceChildren(`Call ${c.caller_id_number} → ${c.destination_number}`);
      document.title = `${heading.textContent} · switchhook`;
      const end = c.ended_at ? new Date(c.ended_at) : Date.now();
      summary.replaceChildren(summary.firstChild, dl([
        ['Status', c.ended_at ? badge('ended', 'state routed') : badge('live', 'state ringing')],
        ['Started', timeEl(c.started_at)],
        ['Answered', c.answered_at ? [timeEl(c.answered_at), c.answered_by ? ` by ${c.answered_by}` : ''] : 'no'],
        ['Ended', c.ended_at ? timeEl(c.ended_at) : ''],
        ['Duration', h('span', { id: 'call-duration' }, fmtDuration(end - new Date(c.started_at)))],
        ['Hangup cause', c.hangup_cause],
        ['Direction', c.direction],
        ['Source', c.source],
        ['Session', c.call_session_uuid !== c.call_uuid ? h('a', { href: `/calls/${c.call_session_uuid}`, class: 'mono' }, c.call_session_uuid) : ''],
      ]));
    } else if (first) {
      heading.replaceChildren(`Test event ${first.caller_id_number} → ${first.destination_number}`);
      summary.replaceChildren(summary.firstChild, h('p', { class: 'muted' }, 'A test event sent to one endpoint from its page; it belongs to no real call.'));
    }
    drawMoves();
    // Group the deliveries by event, keeping the endpoints' order.
    const byEvent = new Map();
    for (const ep of detail.endpoints) {
      for (const d of ep.deliveries) {
        if (!byEvent.has(d.event_id)) byEvent.set(d.event_id, []);
        byEvent.get(d.event_id).push(d);
      }
    }
    const open = new Set([...timeline.querySelectorAll('details[open][data-event-id]')].map((el) => el.dataset.eventId));
    const openAttempts = new Set([...timeline.querySelectorAll('details.attempts-of[open]')].map((el) => el.dataset.deliveryId));
    const focused = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.retry : undefined;
    timeline.replaceChildren(...detail.events.map((ev) => eventView(ev, byEvent.get(ev.event_id) || [], open.has(ev.event_id), openAttempts)));
    if (focused) {
      const again = timeline.querySelector(`[data-retry="${focused}"]`);
      if (again) again.focus();
    }
    if (!detail.events.length) timeline.replaceChildren(empty('No events recorded.'));
  }

  function drawMoves() {
    const ms = detail.moves || [];
    moves.hidden = !ms.length;
    moves.replaceChildren(h('h2', { id: 'moves-h' }, 'Moves'),
      h('ol', { class: 'moves' }, ms.map((m) => h('li', { 'data-reason': m.reason },
        timeEl(m.at), ' ', h('span', { class: 'mono' }, m.from), ' → ', h('span', { class: 'mono' }, m.to), ' ',
        badge(m.reason.replace(/_/g, ' '), 'neutral')))));
    const others = detail.session_calls || [];
    session.hidden = others.length < 2;
    session.replaceChildren(h('h2', { id: 'session-h' }, 'Calls of this session'),
      h('ol', { class: 'session-calls' }, others.map((c) => h('li', { 'data-call-uuid': c.call_uuid },
        c.call_uuid === uuid
          ? h('span', { 'aria-current': 'page' }, `${c.caller_id_number} → ${c.destination_number} (this call)`)
          : h('a', { href: `/calls/${c.call_uuid}` }, `${c.caller_id_number} → ${c.destination_number}`),
        ' ', timeEl(c.started_at), c.hangup_cause ? h('span', { class: 'muted small' }, ` ${c.hangup_cause}`) : null))));
  }

  function eventView(ev, deliveries, open, openAttempts) {
    const facts = [];
    if (ev.routed_to) facts.push(`routed to ${ev.routed_to.type} ${ev.routed_to.target}`);
    if (ev.diversion_reason) facts.push(`${ev.diversion_reason.replace(/_/g, ' ')} from ${ev.diverted_from}`);
    if (ev.digit) facts.push(`digit ${ev.digit} (${ev.digit_duration} ms)`);
    if (ev.caller_id_name && ev.sequence === 1) facts.push(`caller ${ev.caller_id_name}`);
    if (ev.party) facts.push(`by the ${ev.party}`);
    if (ev.hangup_cause) facts.push(`${ev.hangup_cause}, SIP ${ev.sip_code}, by the ${ev.hangup_by}`);
    if (ev.event === 'CALL_HANGUP') facts.push(`duration ${ev.duration || 0} s, billed ${ev.billsec || 0} s`);
    return h('li', { class: 'event card', 'data-event': ev.event, 'data-event-id': ev.event_id },
      h('div', { class: 'event-head' },
        h('span', { class: 'seq', title: 'sequence' }, `#${ev.sequence}`), ' ', kindBadge(ev.event), ' ',
        timeEl(ev.occurred_at), ' ',
        h('span', { class: 'muted' }, `destination ${ev.destination_number}`)),
      facts.length ? h('p', { class: 'small' }, facts.join(' · ')) : null,
      h('details', { 'data-event-id': ev.event_id, open },
        h('summary', {}, 'Payload'),
        h('pre', { class: 'payload' }, JSON.stringify(ev, null, 2))),
      h('div', { class: 'deliveries' },
        deliveries.length
          ? deliveries.map((d) => deliveryView(d, labels.get(d.endpoint_id) || d.endpoint_id, () => load().catch(() => {}), openAttempts.has(String(d.id))))
          : h('p', { class: 'muted small' }, 'No endpoint receives this event.')));
  }

  // A live call's duration moves on.
  page.every(() => {
    const el = document.getElementById('call-duration');
    if (el && detail && detail.call && !detail.call.ended_at) el.textContent = fmtDuration(Date.now() - new Date(detail.call.started_at));
  }, 1000);
  // While the call is up or a delivery is pending, keep the page current.
  page.every(() => {
    if (!detail) return;
    const pending = detail.endpoints.some((ep) => ep.deliveries.some((d) => d.status === 'pending'));
    if (pending || (detail.call && !detail.call.ended_at)) load().catch(() => {});
  }, POLL_MS);
  page.onLeave(subscribe((msg) => {
    if (msg.event.call_uuid === uuid) load().catch(() => {});
  }));
  await load();
}
