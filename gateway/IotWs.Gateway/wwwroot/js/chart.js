// A small SVG line chart of one metric over time: axes with nice ticks, local time
// labels, an optional min–max band (for rollups), gaps where the device was silent,
// and min/max in the caption. Its <figure> carries data-points = values drawn, so tests
// and curious operators can tell how much data is on screen.

const SVG = 'http://www.w3.org/2000/svg';
const HEIGHT = 200;
const PAD = { top: 12, right: 14, bottom: 26, left: 44 };
const MAX_MARKERS = 400; // beyond this a circle per point is clutter, the line says it all

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const TIME_STEPS = [MINUTE, 5 * MINUTE, 10 * MINUTE, 15 * MINUTE, 30 * MINUTE,
  HOUR, 2 * HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, DAY, 2 * DAY, 7 * DAY];

let nextId = 0;

const plural = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`;

// The chart is drawn in real pixels (so text stays readable on a phone) and redrawn from
// its last data when its box changes width: rotation, window resize, layout switch.
const drawn = new WeakMap(); // figure → { o, width }
const resized = new ResizeObserver((entries) => {
  for (const { target } of entries) {
    const last = drawn.get(target);
    const width = innerWidth(target);
    if (last && width > 0 && Math.abs(width - last.width) > 2) drawChart(target, last.o);
  }
});

function innerWidth(figure) {
  const style = getComputedStyle(figure);
  return figure.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
}

function s(tag, attrs = {}, text) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

/** A step of 1, 2 or 5 × 10^n giving about `count` intervals over `span`. */
function niceStep(span, count) {
  const raw = span / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const n = raw / mag;
  return (n < 1.5 ? 1 : n < 3 ? 2 : n < 7 ? 5 : 10) * mag;
}

function timeLabel(t, step) {
  const d = new Date(t);
  return step >= DAY
    ? d.toLocaleDateString([], { day: 'numeric', month: 'short' })
    : d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

/** Splits the points where the gap is far longer than the usual spacing. */
function segments(points) {
  if (points.length < 2) return [points];
  const gaps = [];
  for (let i = 1; i < points.length; i++) gaps.push(points[i].t - points[i - 1].t);
  const sorted = [...gaps].sort((a, b) => a - b);
  const limit = Math.max(sorted[Math.floor(sorted.length / 2)] * 3, 5000);
  const out = [[points[0]]];
  for (let i = 1; i < points.length; i++) {
    if (gaps[i - 1] > limit) out.push([]);
    out[out.length - 1].push(points[i]);
  }
  return out;
}

/**
 * Draws (or redraws) a chart into `figure`.
 * @param {HTMLElement} figure  a <figure>; its content is replaced
 * @param {object} o
 * @param {string} o.title      e.g. "Temperature"
 * @param {string} o.unit       e.g. "°C"
 * @param {{t:number, v:number, min?:number, max?:number}[]} o.points  sorted by t
 * @param {number} o.from       start of the time axis (ms)
 * @param {number} o.to         end of the time axis (ms)
 * @param {string} [o.period]   words for the range, e.g. "last 24 hours"
 */
export function drawChart(figure, o) {
  const id = `chart${nextId++}`;
  const pts = o.points.filter((p) => Number.isFinite(p.v) && p.t >= o.from && p.t <= o.to);
  const measured = innerWidth(figure);
  const width = Math.max(260, Math.round(measured > 0 ? measured : 600));
  const plotW = width - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;

  const lows = pts.map((p) => (Number.isFinite(p.min) ? p.min : p.v));
  const highs = pts.map((p) => (Number.isFinite(p.max) ? p.max : p.v));
  const minV = pts.length ? Math.min(...pts.map((p) => p.v)) : NaN;
  const maxV = pts.length ? Math.max(...pts.map((p) => p.v)) : NaN;
  let lo = pts.length ? Math.min(...lows) : 0;
  let hi = pts.length ? Math.max(...highs) : 1;
  if (hi - lo < 0.5) { lo -= 0.5; hi += 0.5; }
  const step = niceStep(hi - lo, 4);
  lo = Math.floor(lo / step) * step;
  hi = Math.ceil(hi / step) * step;

  const x = (t) => PAD.left + ((t - o.from) / (o.to - o.from)) * plotW;
  const y = (v) => PAD.top + (1 - (v - lo) / (hi - lo)) * plotH;

  const summary = pts.length
    ? `${plural(pts.length, 'point')}, min ${minV.toFixed(1)} ${o.unit}, max ${maxV.toFixed(1)} ${o.unit}`
    : 'no readings';
  const svg = s('svg', {
    width, height: HEIGHT, viewBox: `0 0 ${width} ${HEIGHT}`, role: 'img',
    'aria-labelledby': `${id}-t ${id}-d`,
  });
  svg.append(s('title', { id: `${id}-t` }, `${o.title} (${o.unit})${o.period ? `, ${o.period}` : ''}`));
  svg.append(s('desc', { id: `${id}-d` }, summary));

  // Horizontal grid and value labels.
  const axis = s('g', { class: 'axis' });
  for (let v = lo; v <= hi + step / 2; v += step) {
    const yy = y(v);
    axis.append(s('line', { x1: PAD.left, x2: width - PAD.right, y1: yy, y2: yy, class: 'grid' }));
    axis.append(s('text', { x: PAD.left - 6, y: yy + 4, 'text-anchor': 'end' },
      v.toFixed(step < 1 ? 1 : 0)));
  }
  // Time labels aligned to local clock boundaries (…:00, :15, midnight).
  const span = o.to - o.from;
  const maxLabels = Math.max(2, Math.floor(plotW / 80));
  const tStep = TIME_STEPS.find((st) => span / st <= maxLabels) || 30 * DAY;
  const offset = -new Date(o.from).getTimezoneOffset() * MINUTE;
  for (let t = Math.ceil((o.from + offset) / tStep) * tStep - offset; t <= o.to; t += tStep) {
    const xx = x(t);
    axis.append(s('line', { x1: xx, x2: xx, y1: PAD.top + plotH, y2: PAD.top + plotH + 4 }));
    axis.append(s('text', { x: xx, y: HEIGHT - 8, 'text-anchor': 'middle' }, timeLabel(t, tStep)));
  }
  axis.append(s('rect', { x: PAD.left, y: PAD.top, width: plotW, height: plotH, class: 'frame' }));
  svg.append(axis);

  if (!pts.length) {
    svg.append(s('text', { x: PAD.left + plotW / 2, y: PAD.top + plotH / 2, 'text-anchor': 'middle', class: 'empty' },
      'No readings in this period'));
  }

  for (const seg of segments(pts)) {
    if (!seg.length) continue;
    if (seg.some((p) => Number.isFinite(p.min) && Number.isFinite(p.max))) {
      const top = seg.map((p) => `${x(p.t).toFixed(1)},${y(p.max ?? p.v).toFixed(1)}`);
      const bottom = seg.map((p) => `${x(p.t).toFixed(1)},${y(p.min ?? p.v).toFixed(1)}`).reverse();
      svg.append(s('polygon', { class: 'band', points: [...top, ...bottom].join(' ') }));
    }
    const d = seg.map((p, i) => `${i ? 'L' : 'M'}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join('');
    svg.append(s('path', { class: 'line', d }));
  }

  if (pts.length <= MAX_MARKERS) {
    const marks = s('g', { class: 'points' });
    for (const p of pts) marks.append(s('circle', { cx: x(p.t).toFixed(1), cy: y(p.v).toFixed(1), r: 2.5 }));
    svg.append(marks);
  }

  const caption = document.createElement('figcaption');
  const name = document.createElement('strong');
  name.textContent = `${o.title} (${o.unit})`;
  const stats = document.createElement('span');
  stats.className = 'muted';
  stats.textContent = pts.length
    ? `min ${minV.toFixed(1)} · max ${maxV.toFixed(1)} · ${plural(pts.length, 'point')}`
    : 'no readings';
  caption.append(name, ' ', stats);

  figure.replaceChildren(caption, svg);
  figure.dataset.points = String(pts.length);
  drawn.set(figure, { o, width: measured > 0 ? measured : width });
  resized.observe(figure);
}
