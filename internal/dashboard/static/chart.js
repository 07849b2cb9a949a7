// Small charts of the last hour, drawn as inline SVG at the width of their
// box (and again when it changes), so text stays readable on a phone.

import { s, h, fmtHM } from './util.js';

const HEIGHT = 150;
const PAD = { top: 14, right: 10, bottom: 22, left: 56 };

// niceMax rounds a maximum up to 1, 2 or 5 times a power of ten; for
// counts, to 2, 4 or 10 times one (at least 2), so that half of it is a
// whole number too.
function niceMax(v, counts) {
  const steps = counts ? [2, 4, 10] : [1, 2, 5, 10];
  if (!(v > 0)) return counts ? 2 : 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of steps) if (v <= m * p) return Math.max(m * p, counts ? 2 : 0);
  return 10 * p;
}

// chart draws points (one per minute, oldest first: {at, ...}) as bars
// and lines. series: [{key, label, kind: 'bar' | 'line', cls, stackOn}];
// a bar series with stackOn is drawn over the bars of that key (failures
// over attempts). since greys out the minutes before counting began.
// format shows a y value; without one, the values are counts. It returns
// a <figure> that redraws itself on resize.
export function chart({ title, points, series, since, format, summary }) {
  const box = h('div', { class: 'chart-box' });
  const legend = h('ul', { class: 'legend' }, series.map((se) =>
    h('li', {}, h('span', { class: `swatch ${se.cls}`, 'aria-hidden': 'true' }), se.label)));
  const fig = h('figure', { class: 'chart' }, h('figcaption', {}, title), box, legend);
  const draw = () => {
    const width = Math.max(260, Math.floor(box.clientWidth || 600));
    box.replaceChildren(svgChart(width, { points, series, since, format, summary: summary || title }));
  };
  let lastWidth = 0;
  const ro = new ResizeObserver(() => {
    const w = Math.floor(box.clientWidth);
    if (w && w !== lastWidth) {
      lastWidth = w;
      draw();
    }
  });
  ro.observe(box);
  requestAnimationFrame(draw);
  return fig;
}

function svgChart(width, { points, series, since, format, summary }) {
  const counts = !format;
  const show = format || ((v) => String(v));
  const n = points.length;
  const iw = width - PAD.left - PAD.right;
  const ih = HEIGHT - PAD.top - PAD.bottom;
  let max = 0;
  for (const p of points) for (const se of series) max = Math.max(max, +p[se.key] || 0);
  max = niceMax(max, counts);
  const x = (i) => PAD.left + (i * iw) / n;
  const y = (v) => PAD.top + ih - (Math.min(v, max) / max) * ih;
  const bw = Math.max(1, iw / n - 1);

  const svg = s('svg', {
    width, height: HEIGHT, viewBox: `0 0 ${width} ${HEIGHT}`, role: 'img', 'aria-label': summary,
  }, s('title', {}, summary));

  // Minutes before counting began are unknown, not idle.
  if (since && n) {
    const first = new Date(points[0].at).getTime();
    // The minute counting began in is known, if only in part.
    const k = Math.min(n, Math.max(0, Math.floor((new Date(since).getTime() - first) / 60000)));
    if (k > 0) {
      svg.append(s('rect', { class: 'unknown', x: PAD.left, y: PAD.top, width: (k * iw) / n, height: ih },
        s('title', {}, 'Not counted: before this process started')));
    }
  }
  // Grid and y labels at 0, half and max.
  for (const v of [0, max / 2, max]) {
    svg.append(
      s('line', { class: 'grid', x1: PAD.left, x2: width - PAD.right, y1: y(v), y2: y(v) }),
      s('text', { class: 'axis', x: PAD.left - 6, y: y(v) + 4, 'text-anchor': 'end' }, show(v)),
    );
  }
  // x labels: an hour ago, half an hour ago, now.
  if (n) {
    for (const [i, anchor] of [[0, 'start'], [Math.floor(n / 2), 'middle'], [n - 1, 'end']]) {
      svg.append(s('text', { class: 'axis', x: anchor === 'end' ? width - PAD.right : x(i) + (anchor === 'middle' ? bw / 2 : 0), y: HEIGHT - 6, 'text-anchor': anchor }, fmtHM(points[i].at)));
    }
  }
  for (const se of series) {
    if (se.kind === 'bar') {
      points.forEach((p, i) => {
        const v = +p[se.key] || 0;
        if (!v) return;
        svg.append(s('rect', { class: `bar ${se.cls}`, x: x(i) + 0.5, y: y(v), width: bw, height: PAD.top + ih - y(v) },
          s('title', {}, `${fmtHM(p.at)}: ${show(v)} ${se.label.toLowerCase()}`)));
      });
    } else {
      // A line breaks where a minute has no value.
      let d = '';
      let pen = false;
      points.forEach((p, i) => {
        const v = p[se.key];
        if (v === null || v === undefined) {
          pen = false;
          return;
        }
        d += `${pen ? 'L' : 'M'}${(x(i) + bw / 2).toFixed(1)},${y(v).toFixed(1)}`;
        pen = true;
      });
      if (d) svg.append(s('path', { class: `line ${se.cls}`, d }));
      points.forEach((p, i) => {
        const v = p[se.key];
        if (v === null || v === undefined) return;
        svg.append(s('circle', { class: `dot ${se.cls}`, cx: x(i) + bw / 2, cy: y(v), r: 2.5 },
          s('title', {}, `${fmtHM(p.at)}: ${se.label} ${show(v)}`)));
      });
    }
  }
  return svg;
}
