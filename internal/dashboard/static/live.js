// Live: the calls up right now, the registered phones, and the events as
// they are recorded.

import { api } from './api.js';
import { subscribe, onStatus } from './stream.js';
import { h, badge, kindBadge, timeEl, fmtClock, fmtDuration, fmtIn, empty, errorBox } from './util.js';

const MAX_EVENTS = 50;
const STATE_OF = {
  CALL_ROUTED: 'routed', CALL_RINGING: 'ringing', CALL_ANSWER: 'answered', CALL_HOLD: 'held', CALL_UNHOLD: 'answered',
};

// applyEvent moves a call's state on by one of its events.
function applyEvent(c, ev) {
  const next = STATE_OF[ev.event];
  // Ringing after an answer is another destination ringing (a ring group):
  // the call stays answered.
  if (next && !(next === 'ringing' && (c.state === 'answered' || c.state === 'held'))) c.state = next;
  if (ev.event === 'CALL_ANSWER' && !c.answeredAt) c.answeredAt = ev.occurred_at;
  if (!c.callee || ev.event === 'CALL_RINGING' || ev.event === 'CALL_ANSWER') c.callee = ev.destination_number;
  c.caller = ev.caller_id_number;
  if (!c.started) c.started = ev.occurred_at;
  c.stateKnown = true;
}

export async function render(page) {
  const callsBox = h('div', { id: 'live-calls' }, h('p', { class: 'muted' }, 'Loading…'));
  const callCount = h('span', { class: 'count' });
  const regsBox = h('div', { id: 'live-registrations' }, h('p', { class: 'muted' }, 'Loading…'));
  const regCount = h('span', { class: 'count' });
  // Not a live region: on a busy PBX a screen reader would never stop.
  const eventsList = h('ol', { class: 'event-feed', id: 'live-events' });
  const feedEmpty = empty('Waiting for events…');
  const status = h('span', { class: 'stream-status', role: 'status' });
  page.main.append(
    page.title('Live'),
    h('section', { class: 'card', 'aria-labelledby': 'calls-h' },
      h('h2', { id: 'calls-h' }, 'Active calls ', callCount), callsBox),
    h('div', { class: 'columns' },
      h('section', { class: 'card', 'aria-labelledby': 'events-h' },
        h('div', { class: 'card-head' }, h('h2', { id: 'events-h' }, 'Events'), status),
        feedEmpty, eventsList),
      h('section', { class: 'card', 'aria-labelledby': 'regs-h' },
        h('h2', { id: 'regs-h' }, 'Registered extensions ', regCount), regsBox)),
  );

  // calls holds the live calls by call_uuid; ended remembers hangups so a
  // list fetched before one cannot bring its call back.
  const calls = new Map();
  const ended = new Set();
  let channels = [];

  // drawCalls redraws the list when what it shows changed, keeping the
  // focus on the call it was on.
  let drawn = '';
  function drawCalls() {
    const list = [...calls.values()].sort((a, b) => String(a.started).localeCompare(String(b.started)));
    const key = JSON.stringify([list, channels]);
    if (key === drawn) return;
    drawn = key;
    callCount.textContent = String(list.length);
    if (!list.length) {
      callsBox.replaceChildren(empty('No calls right now.'));
      return;
    }
    const focused = document.activeElement && callsBox.contains(document.activeElement)
      ? document.activeElement.closest('tr[data-call-uuid]') : null;
    const now = Date.now();
    const legsOf = new Map();
    for (const ch of channels) {
      if (!legsOf.has(ch.call_uuid)) legsOf.set(ch.call_uuid, []);
      legsOf.get(ch.call_uuid).push(ch);
    }
    callsBox.replaceChildren(h('table', { class: 'table cards' },
      h('thead', {}, h('tr', {}, ['Call', 'State', 'Duration', 'Started', 'Legs'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, list.map((c) => h('tr', { 'data-call-uuid': c.uuid, 'data-state': c.state },
        h('td', { 'data-label': 'Call' }, h('a', { href: `/calls/${c.uuid}` }, h('span', { class: 'num' }, c.caller || '?'), ' → ', h('span', { class: 'num' }, c.callee || '?'))),
        h('td', { 'data-label': 'State' }, badge(c.state, `state ${c.state}`)),
        h('td', { 'data-label': 'Duration', class: 'mono', 'data-started': c.started || '' }, c.started ? fmtDuration(now - new Date(c.started)) : ''),
        h('td', { 'data-label': 'Started' }, timeEl(c.started, fmtClock)),
        h('td', { 'data-label': 'Legs' }, legsView(legsOf.get(c.uuid))),
      ))),
    ));
    if (focused) {
      const again = callsBox.querySelector(`tr[data-call-uuid="${focused.dataset.callUuid}"] a`);
      if (again) again.focus();
    }
  }

  // tick moves the durations on.
  function tick() {
    const now = Date.now();
    for (const td of callsBox.querySelectorAll('td[data-started]')) {
      if (td.dataset.started) td.textContent = fmtDuration(now - new Date(td.dataset.started));
    }
  }

  function drawRegistrations(regs) {
    regCount.textContent = String(regs.length);
    if (!regs.length) {
      regsBox.replaceChildren(empty('No phones registered.'));
      return;
    }
    regs.sort((a, b) => String(a.extension).localeCompare(String(b.extension)));
    regsBox.replaceChildren(h('table', { class: 'table cards' },
      h('thead', {}, h('tr', {}, ['Extension', 'Contact', 'Transport', 'Expires'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, regs.map((r) => h('tr', { 'data-extension': r.extension },
        h('td', { 'data-label': 'Extension' }, h('strong', { class: 'num' }, r.extension),
          r.user_agent ? h('div', { class: 'muted small' }, r.user_agent) : null),
        h('td', { 'data-label': 'Contact', class: 'mono wrap' }, r.contact),
        h('td', { 'data-label': 'Transport' }, (r.transport || '').toUpperCase()),
        h('td', { 'data-label': 'Expires' }, h('span', { title: r.expires_at }, fmtIn(r.expires_at))),
      ))),
    ));
  }

  // seen keeps the feed from showing an event twice: the last ones are
  // read at load while the stream may already bring them.
  const seen = new Set();
  function addEvent(msg) {
    const ev = msg.event;
    if (seen.has(ev.event_id)) return;
    seen.add(ev.event_id);
    feedEmpty.remove();
    const detail = [];
    if (ev.digit) detail.push(`digit ${ev.digit}`);
    if (ev.hangup_cause) detail.push(ev.hangup_cause);
    if (ev.party) detail.push(ev.party);
    const li = h('li', { 'data-event': ev.event, 'data-call-uuid': ev.call_uuid },
      timeEl(ev.occurred_at, fmtClock), ' ', kindBadge(ev.event), ' ',
      h('a', { href: `/calls/${ev.call_uuid}` }, h('span', { class: 'num' }, ev.caller_id_number), ' → ', h('span', { class: 'num' }, ev.destination_number)),
      detail.length ? h('span', { class: 'muted' }, ` · ${detail.join(' · ')}`) : null,
      msg.source === 'test' ? h('span', { class: 'muted' }, ' · test event') : null);
    eventsList.prepend(li);
    while (eventsList.children.length > MAX_EVENTS) eventsList.lastChild.remove();
  }

  // onEvent keeps the calls up to date between refreshes.
  function onEvent(msg) {
    addEvent(msg);
    if (msg.source === 'test') return; // a test event's call was never up
    const ev = msg.event;
    if (ev.event === 'CALL_HANGUP') {
      ended.add(ev.call_uuid);
      calls.delete(ev.call_uuid);
    } else if (!ended.has(ev.call_uuid)) {
      const c = calls.get(ev.call_uuid) || { uuid: ev.call_uuid };
      applyEvent(c, ev);
      c.seen = Date.now();
      calls.set(c.uuid, c);
    }
    drawCalls();
    soon();
  }

  // refresh reads the lists again: the calls the store has open, the PBX's
  // channels and its registrations.
  let refreshing = false;
  async function refresh() {
    if (refreshing) return;
    refreshing = true;
    const asked = Date.now();
    try {
      const [chans, recent, regs] = await Promise.all([
        api('GET', '/v1/channels', undefined, page.signal),
        api('GET', '/v1/calls?limit=100', undefined, page.signal),
        api('GET', '/v1/registrations', undefined, page.signal),
      ]);
      if (!page.alive) return;
      channels = chans;
      const open = new Set();
      for (const rc of recent) {
        if (rc.ended_at || ended.has(rc.call_uuid)) continue;
        open.add(rc.call_uuid);
        const c = calls.get(rc.call_uuid) || { uuid: rc.call_uuid, state: rc.answered_at ? 'answered' : 'routed' };
        c.caller = c.caller || rc.caller_id_number;
        c.callee = c.callee || rc.answered_by || rc.destination_number;
        c.started = rc.started_at;
        c.answeredAt = c.answeredAt || rc.answered_at;
        calls.set(c.uuid, c);
      }
      for (const ch of chans) {
        if (ended.has(ch.call_uuid)) continue;
        open.add(ch.call_uuid);
        const c = calls.get(ch.call_uuid) || { uuid: ch.call_uuid, state: 'routed', started: ch.created_at };
        if (ch.party === 'caller') {
          c.caller = c.caller || ch.number;
          c.state = ch.state;
          c.stateKnown = true;
        } else if (!c.callee) {
          c.callee = ch.number;
        }
        calls.set(c.uuid, c);
      }
      // A call is held while either party holds it; the leg that holds says so.
      for (const ch of chans) {
        const c = calls.get(ch.call_uuid);
        if (c && ch.state === 'held') c.state = 'held';
      }
      // A call neither list has, and no event touched since they were
      // asked for, is over (its hangup was missed).
      for (const [id, c] of calls) {
        if (!open.has(id) && !(c.seen > asked)) calls.delete(id);
      }
      await learnStates();
      drawCalls();
      drawRegistrations(regs);
    } catch (err) {
      if (err.name !== 'AbortError' && page.alive) callsBox.replaceChildren(errorBox(err));
    } finally {
      refreshing = false;
    }
  }

  // learnStates reads the events of open calls whose state no event or
  // channel told, a few at a time.
  async function learnStates() {
    const unknown = [...calls.values()].filter((c) => !c.stateKnown).slice(0, 20);
    await Promise.all(unknown.map(async (c) => {
      const evs = await api('GET', `/v1/events?call_uuid=${encodeURIComponent(c.uuid)}&limit=1000`, undefined, page.signal);
      for (const ev of evs) applyEvent(c, ev);
      c.stateKnown = true;
    }));
  }

  // soon refreshes shortly after a burst of events, once.
  let soonTimer = 0;
  function soon() {
    clearTimeout(soonTimer);
    soonTimer = setTimeout(refresh, 500);
  }
  page.onLeave(() => clearTimeout(soonTimer));
  page.onLeave(subscribe(onEvent));
  page.onLeave(onStatus((st) => {
    status.className = `stream-status ${st}`;
    status.textContent = { live: 'Live', connecting: 'Connecting…', reconnecting: 'Reconnecting…' }[st] || st;
  }));
  page.every(tick, 1000);
  page.every(refresh, 5000);
  await Promise.all([refresh(), recentEvents()]);

  // recentEvents starts the feed with the last events recorded, oldest
  // first so that the newest ends on top.
  async function recentEvents() {
    try {
      const evs = await api('GET', `/v1/events?limit=${MAX_EVENTS}&newest=true`, undefined, page.signal);
      if (!page.alive) return;
      evs.sort((a, b) => String(a.occurred_at).localeCompare(String(b.occurred_at)) || a.sequence - b.sequence);
      const live = [...eventsList.children];
      for (const ev of evs) addEvent({ event: ev, source: ev.source || '' });
      // Events the stream brought while these were read stay on top.
      for (const li of live.reverse()) eventsList.prepend(li);
    } catch (err) {
      if (err.name !== 'AbortError' && page.alive) eventsList.replaceChildren(errorBox(err));
    }
  }
}

function legsView(legs) {
  if (!legs || !legs.length) return '';
  return h('ul', { class: 'legs' }, legs.map((l) => h('li', {},
    h('span', { class: 'num' }, l.number), ' ', h('span', { class: 'muted' }, l.party), ' ', badge(l.state, `state ${l.state}`),
    l.remote ? h('span', { class: 'muted mono small remote' }, ` ${l.remote}`) : null)));
}
