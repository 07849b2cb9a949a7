// Queues: each call queue live, its waiting callers in the order they will
// be served and its agents' states, with pause and unpause per agent.

import { api } from './api.js';
import { h, badge, fmtDuration, empty, errorBox, toast } from './util.js';

const stateLabel = {
  idle: 'idle', ringing: 'ringing', on_call: 'on a call', wrapup: 'wrap-up', paused: 'paused', unregistered: 'unregistered',
};

export async function render(page) {
  const body = h('div', { id: 'queues' }, h('p', { class: 'muted' }, 'Loading…'));
  page.main.append(page.title('Queues'), body);

  let drawn = '';
  let fetched = 0;
  let queues = [];
  async function load() {
    const qs = await api('GET', '/v1/queues', undefined, page.signal);
    if (!page.alive) return;
    queues = qs;
    fetched = Date.now();
    draw();
  }
  // draw redraws when something changed, or each second while callers
  // wait, so that their waits count up between polls.
  function draw() {
    const waiting = queues.some((q) => q.callers.length);
    const key = JSON.stringify(queues);
    if (key === drawn && !waiting) return;
    drawn = key;
    const focused = document.activeElement && document.activeElement.dataset.agent
      ? `${document.activeElement.dataset.queue}/${document.activeElement.dataset.agent}` : '';
    body.replaceChildren(queues.length
      ? h('div', {}, queues.map((q) => queueCard(q, Date.now() - fetched, toggle)))
      : empty('No queues. Declare them under queues: in the config file.'));
    if (focused) {
      const [qn, ext] = focused.split('/');
      const b = body.querySelector(`button[data-queue="${CSS.escape(qn)}"][data-agent="${CSS.escape(ext)}"]`);
      if (b) b.focus();
    }
  }
  async function toggle(q, a, btn) {
    btn.disabled = true;
    const verb = a.paused ? 'unpause' : 'pause';
    try {
      await api('POST', `/v1/queues/${encodeURIComponent(q.number)}/agents/${encodeURIComponent(a.extension)}/${verb}`, undefined, page.signal);
      toast(`${a.extension} ${verb}d in queue ${q.number}`);
      await load();
    } catch (err) {
      if (err.name === 'AbortError') return;
      toast(err.message, 'error');
      btn.disabled = false;
    }
  }
  try {
    await load();
  } catch (err) {
    if (err.name !== 'AbortError') body.replaceChildren(errorBox(err));
  }
  page.every(() => load().catch(() => {}), 2000);
  page.every(draw, 1000);
}

function queueCard(q, age, toggle) {
  const id = `queue-${q.number}`;
  return h('section', { class: 'card queue', 'aria-labelledby': `${id}-h`, 'data-queue': q.number },
    h('div', { class: 'card-head' },
      h('h2', { id: `${id}-h` }, q.name ? `${q.number} · ${q.name}` : q.number),
      h('span', { class: 'muted small' }, q.strategy.replace('_', ' '))),
    h('ul', { class: 'tiles' },
      tile('Waiting', String(q.callers.length)),
      tile('Answered', String(q.answered)),
      tile('Abandoned', String(q.abandoned)),
      tile('Overflow', String(q.overflow))),
    h('div', { class: 'grid2' },
      h('div', {}, h('h3', {}, 'Callers waiting'), callerTable(q, age)),
      h('div', {}, h('h3', {}, 'Agents'), agentTable(q, toggle))));
}

function tile(label, value) {
  return h('li', { class: 'tile' }, h('span', { class: 'tile-label' }, label), h('strong', { class: 'tile-value' }, value));
}

function callerTable(q, age) {
  if (!q.callers.length) return empty('Nobody is waiting.');
  return h('table', { class: 'table cards callers' },
    h('thead', {}, h('tr', {}, ['#', 'Caller', 'Waiting', 'Ringing'].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, q.callers.map((c) => h('tr', { 'data-call-uuid': c.call_uuid },
      h('td', { 'data-label': '#' }, String(c.position)),
      h('td', { 'data-label': 'Caller' }, h('a', { href: `/calls/${encodeURIComponent(c.call_uuid)}` }, c.caller_id_number || 'unknown')),
      h('td', { 'data-label': 'Waiting', class: 'mono' }, fmtDuration(c.wait * 1000 + age)),
      h('td', { 'data-label': 'Ringing' }, c.ringing.length ? c.ringing.join(', ') : h('span', { class: 'muted' }, '–'))))));
}

function agentTable(q, toggle) {
  return h('table', { class: 'table cards agents' },
    h('thead', {}, h('tr', {}, ['Agent', 'State', ''].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, q.agents.map((a) => {
      const btn = h('button', {
        type: 'button', class: 'small', 'data-queue': q.number, 'data-agent': a.extension,
        'aria-label': `${a.paused ? 'Unpause' : 'Pause'} ${a.extension} in queue ${q.number}`,
      }, a.paused ? 'Unpause' : 'Pause');
      btn.addEventListener('click', () => toggle(q, a, btn));
      return h('tr', { 'data-agent': a.extension },
        h('td', { 'data-label': 'Agent' }, a.extension),
        h('td', { 'data-label': 'State' }, badge(stateLabel[a.state] || a.state, `agent-state ${a.state.replace('_', '-')}`),
          a.paused && a.state !== 'paused' ? [' ', badge('paused', 'agent-state paused')] : null),
        h('td', { 'data-label': '' }, btn));
    })));
}
