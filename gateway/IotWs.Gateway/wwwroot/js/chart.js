// A small SVG line chart of one metric over time: axes with nice ticks, local time
// labels, an optional min–max band (for rollups), gaps where the device was silent,
// min/max in the caption, the value and time under the pointer, and drag-to-zoom with a
// reset button. Its <figure> carries data-points = values in view, so tests and curious
// operators can tell how much data is on screen.
//
// Why our own and not a library: the line and band are thinned to what the pixels can show
// (first, min, max and last value of each 2-pixel column) and painted on a <canvas> under
// the SVG; axes, labels, markers and the hover marks stay SVG, plain DOM that CSS themes
// (dark mode) and tests can read. 10,000 points redraw within one or two frames
// (measured in Chromium against uPlot and our earlier all-SVG chart: ChartTests prints the figures).

const SVG = 'http://www.w3.org/2000/svg';
const HEIGHT = 200;
const PAD = { top: 12, right: 14, bottom: 26, left: 44 };
const MAX_MARKERS = 400; // beyond this a circle per point is clutter, the line says it all
const MIN_DRAG_PX = 8;   // a shorter drag is a tap, not a zoom
const PX_PER_COLUMN = 2; // the line is thinned to 4 points per 2 px: finer is invisible and costs paint time

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const TIME_STEPS = [MINUTE, 5 * MINUTE, 10 * MINUTE, 15 * MINUTE, 30 * MINUTE,
  HOUR, 2 * HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, DAY, 2 * DAY, 7 * DAY];

let nextId = 0;

export const plural = (n, word, words = `${word}s`) => `${n} ${n === 1 ? word : words}`;

// figure → { o, pts, gapLimit, zoom, width, ... }: the chart's data and view, so a resize,
// a zoom or new data redraws without the caller.
const charts = new WeakMap();
const resized = new ResizeObserver((entries) => {
  for (const { target } of entries) {
    const state = charts.get(target);
    const width = innerWidth(target);
    if (state && width > 0 && Math.abs(width - state.measured) > 2) render(target, state);
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

function pointTime(t) {
  return new Date(t).toLocaleString([], { day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

/** Silence far longer than the usual spacing breaks the line. */
function gapLimitOf(points) {
  if (points.length < 2) return Infinity;
  const gaps = new Float64Array(points.length - 1);
  for (let i = 1; i < points.length; i++) gaps[i - 1] = points[i].t - points[i - 1].t;
  gaps.sort();
  return Math.max(gaps[Math.floor(gaps.length / 2)] * 3, 5000);
}

/** First index with t >= value (points sorted by t). */
function lowerBound(points, value) {
  let lo = 0;
  let hi = points.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (points[mid].t < value) lo = mid + 1; else hi = mid;
  }
  return lo;
}

/**
 * Draws (or redraws) a chart into `figure`.
 * @param {HTMLElement} figure  a <figure class="chart">
 * @param {object} o
 * @param {string} o.title      e.g. "Temperature"
 * @param {string} o.unit       e.g. "°C"
 * @param {{t:number, v:number, min?:number, max?:number}[]} o.points  sorted by t
 * @param {number} o.from       start of the time axis (ms)
 * @param {number} o.to         end of the time axis (ms)
 * @param {string} [o.period]   words for the range, e.g. "last 24 hours"
 */
export function drawChart(figure, o) {
  let state = charts.get(figure);
  if (!state) {
    state = { id: `chart${nextId++}`, zoom: null, measured: 0 };
    charts.set(figure, state);
    build(figure, state);
    resized.observe(figure);
    shown.add(figure);
  }
  state.o = o;
  state.pts = o.points.filter((p) => Number.isFinite(p.v));
  state.gapLimit = gapLimitOf(state.pts);
  render(figure, state);
}

/** Forgets a chart's data and zoom (another device is shown in the same figure). */
export function clearChart(figure, o) {
  const state = charts.get(figure);
  if (state) state.zoom = null;
  drawChart(figure, { ...o, points: [] });
}

/** The parts that stay: caption, reset button, plot box with its SVG and tooltip, and the pointer handlers. */
function build(figure, state) {
  state.name = document.createElement('strong');
  state.stats = document.createElement('span');
  state.stats.className = 'muted';
  state.reset = document.createElement('button');
  Object.assign(state.reset, { type: 'button', className: 'secondary chart-reset', hidden: true, textContent: 'Reset zoom' });
  state.reset.dataset.testid = 'chart-reset';
  state.reset.addEventListener('click', () => { state.zoom = null; render(figure, state); });
  const caption = document.createElement('figcaption');
  caption.append(state.name, ' ', state.stats, state.reset);

  state.plot = document.createElement('div');
  state.plot.className = 'chart-plot';
  state.tip = document.createElement('div');
  state.tip.className = 'chart-tip';
  state.tip.dataset.testid = 'chart-tip';
  state.tip.hidden = true;
  state.tip.setAttribute('aria-hidden', 'true'); // the caption and <desc> carry the figures for screen readers
  state.svg = s('svg', { role: 'img', class: 'chart-svg' });
  state.canvas = document.createElement('canvas');
  state.canvas.className = 'chart-canvas';
  state.canvas.setAttribute('aria-hidden', 'true');
  state.plot.append(state.canvas, state.svg, state.tip);
  figure.replaceChildren(caption, state.plot);

  let drag = null;
  const localX = (event) => event.clientX - state.svg.getBoundingClientRect().left;
  state.svg.addEventListener('pointerdown', (event) => {
    if (event.button !== 0 || !state.view) return;
    const x = localX(event);
    if (x < PAD.left || x > state.width - PAD.right) return;
    drag = { x0: x, x1: x };
    try { state.svg.setPointerCapture(event.pointerId); } catch { /* a synthetic pointer cannot be captured */ }
  });
  state.svg.addEventListener('pointermove', (event) => {
    const x = localX(event);
    if (drag) {
      drag.x1 = Math.min(Math.max(x, PAD.left), state.width - PAD.right);
      const [a, b] = [Math.min(drag.x0, drag.x1), Math.max(drag.x0, drag.x1)];
      setAttrs(state.selection, { x: a, width: b - a, visibility: 'visible' });
    }
    hover(state, x);
  });
  const finish = (event) => {
    if (!drag) return;
    const x0 = drag.x0;
    const x1 = Math.min(Math.max(localX(event), PAD.left), state.width - PAD.right);
    drag = null;
    state.selection.setAttribute('visibility', 'hidden');
    if (Math.abs(x1 - x0) < MIN_DRAG_PX) return;
    const from = state.timeAt(Math.min(x0, x1));
    const to = state.timeAt(Math.max(x0, x1));
    state.zoom = { from, to };
    render(figure, state);
  };
  state.svg.addEventListener('pointerup', finish);
  state.svg.addEventListener('pointercancel', () => { drag = null; state.selection.setAttribute('visibility', 'hidden'); });
  state.svg.addEventListener('pointerleave', () => { if (!drag) hover(state, null); });
}

function setAttrs(el, attrs) {
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
}

function render(figure, state) {
  const { o, pts, id } = state;
  const view = state.zoom || { from: o.from, to: o.to };
  state.view = view;
  const measured = innerWidth(figure);
  const width = Math.max(260, Math.round(measured > 0 ? measured : 600));
  state.measured = measured > 0 ? measured : width;
  state.width = width;
  const plotW = width - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;

  const i0 = lowerBound(pts, view.from);
  const i1 = lowerBound(pts, view.to + 1); // exclusive
  const count = i1 - i0;
  let minV = Infinity; let maxV = -Infinity; let lo = Infinity; let hi = -Infinity;
  for (let i = i0; i < i1; i++) {
    const p = pts[i];
    if (p.v < minV) minV = p.v;
    if (p.v > maxV) maxV = p.v;
    const l = Number.isFinite(p.min) ? p.min : p.v;
    const u = Number.isFinite(p.max) ? p.max : p.v;
    if (l < lo) lo = l;
    if (u > hi) hi = u;
  }
  if (!count) { lo = 0; hi = 1; }
  if (hi - lo < 0.5) { lo -= 0.5; hi += 0.5; }
  const step = niceStep(hi - lo, 4);
  lo = Math.floor(lo / step) * step;
  hi = Math.ceil(hi / step) * step;

  const span = view.to - view.from || 1;
  const x = (t) => PAD.left + ((t - view.from) / span) * plotW;
  const y = (v) => PAD.top + (1 - (v - lo) / (hi - lo)) * plotH;
  state.x = x;
  state.y = y;
  state.timeAt = (px) => view.from + ((px - PAD.left) / plotW) * span;
  state.range = [i0, i1];

  const svg = state.svg;
  setAttrs(svg, { width, height: HEIGHT, viewBox: `0 0 ${width} ${HEIGHT}`, 'aria-labelledby': `${id}-t ${id}-d` });
  const zoomed = Boolean(state.zoom);
  const words = zoomed ? `${pointTime(view.from)} – ${pointTime(view.to)}` : o.period;
  const summary = count
    ? `${plural(count, 'point')}, min ${minV.toFixed(1)} ${o.unit}, max ${maxV.toFixed(1)} ${o.unit}`
    : 'no readings';
  const parts = [
    s('title', { id: `${id}-t` }, `${o.title} (${o.unit})${words ? `, ${words}` : ''}`),
    s('desc', { id: `${id}-d` }, summary),
  ];

  // Horizontal grid and value labels.
  const axis = s('g', { class: 'axis' });
  for (let v = lo; v <= hi + step / 2; v += step) {
    const yy = y(v);
    axis.append(s('line', { x1: PAD.left, x2: width - PAD.right, y1: yy, y2: yy, class: 'grid' }));
    axis.append(s('text', { x: PAD.left - 6, y: yy + 4, 'text-anchor': 'end' }, v.toFixed(step < 1 ? 1 : 0)));
  }
  // Time labels aligned to local clock boundaries (…:00, :15, midnight).
  const maxLabels = Math.max(2, Math.floor(plotW / 80));
  const tStep = TIME_STEPS.find((st) => span / st <= maxLabels) || 30 * DAY;
  const offset = -new Date(view.from).getTimezoneOffset() * MINUTE;
  const timeLabels = [];
  for (let t = Math.ceil((view.from + offset) / tStep) * tStep - offset; t <= view.to; t += tStep) {
    const xx = x(t);
    axis.append(s('line', { x1: xx, x2: xx, y1: PAD.top + plotH, y2: PAD.top + plotH + 4 }));
    const label = s('text', { x: xx, y: HEIGHT - 8, 'text-anchor': 'middle', class: 'time' }, timeLabel(t, tStep));
    timeLabels.push(label);
    axis.append(label);
  }
  axis.append(s('rect', { x: PAD.left, y: PAD.top, width: plotW, height: plotH, class: 'frame' }));
  parts.push(axis);

  if (!count) {
    parts.push(s('text', { x: PAD.left + plotW / 2, y: PAD.top + plotH / 2, 'text-anchor': 'middle', class: 'empty' },
      'No readings in this period'));
  }

  const { line, band } = paths(pts, i0, i1, x, y, plotW, state.gapLimit, view.from, span);
  paintSeries(figure, state, { line, band, width, plotW, plotH });

  if (count && count <= MAX_MARKERS) {
    const marks = s('g', { class: 'points' });
    for (let i = i0; i < i1; i++) marks.append(s('circle', { cx: x(pts[i].t).toFixed(1), cy: y(pts[i].v).toFixed(1), r: 2.5 }));
    parts.push(marks);
  }

  // Hover marks, the zoom selection and the surface that receives the pointer, on top.
  state.guide = s('line', { class: 'guide', y1: PAD.top, y2: PAD.top + plotH, visibility: 'hidden' });
  state.dot = s('circle', { class: 'dot', r: 4, visibility: 'hidden' });
  state.selection = s('rect', { class: 'selection', y: PAD.top, height: plotH, x: 0, width: 0, visibility: 'hidden' });
  parts.push(state.guide, state.dot, state.selection);
  svg.replaceChildren(...parts);
  fitTimeLabels(timeLabels, width);
  state.tip.hidden = true;

  state.name.textContent = `${o.title} (${o.unit})`;
  state.stats.textContent = count
    ? `min ${minV.toFixed(1)} · max ${maxV.toFixed(1)} · ${plural(count, 'point')}${zoomed ? ' (zoomed)' : ''}`
    : 'no readings';
  state.reset.hidden = !zoomed;
  figure.dataset.points = String(count);
  figure.dataset.zoomed = String(zoomed);
  figure.dataset.viewFrom = new Date(view.from).toISOString();
  figure.dataset.viewTo = new Date(view.to).toISOString();
}

/** Paints the thinned line and band on the canvas under the SVG, in the colours CSS gives this chart (light or dark). */
function paintSeries(figure, state, { line, band, width, plotW, plotH }) {
  const canvas = state.canvas;
  const dpr = window.devicePixelRatio || 1;
  canvas.width = Math.round(width * dpr);
  canvas.height = Math.round(HEIGHT * dpr);
  canvas.style.width = `${width}px`;
  canvas.style.height = `${HEIGHT}px`;
  const style = getComputedStyle(figure);
  const stroke = style.getPropertyValue('--series').trim() || '#1d4ed8';
  const fill = style.getPropertyValue('--series-band').trim() || 'rgb(29 78 216 / 0.15)';
  canvas.dataset.stroke = stroke;
  canvas.dataset.band = band ? 'true' : 'false';
  const ctx = canvas.getContext('2d');
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, width, HEIGHT);
  ctx.save();
  ctx.beginPath();
  ctx.rect(PAD.left, PAD.top, plotW, plotH);
  ctx.clip();
  if (band) {
    ctx.fillStyle = fill;
    ctx.fill(new Path2D(band));
  }
  if (line) {
    ctx.strokeStyle = stroke;
    ctx.lineWidth = 2;
    ctx.lineJoin = 'round';
    ctx.stroke(new Path2D(line));
  }
  ctx.restore();
}

// A change of colour scheme repaints every chart on the page in its new colours.
const shown = new Set();
matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => {
  for (const figure of shown) {
    if (!figure.isConnected) { shown.delete(figure); continue; }
    const state = charts.get(figure);
    if (state) render(figure, state);
  }
});

/**
 * The line and band as path data, thinned to what the pixels can show: per pixel column
 * the first, lowest, highest and last point, in time order (the line looks the same as
 * with every point). A silence longer than gapLimit starts a new piece of line.
 */
function paths(pts, i0, i1, x, y, plotW, gapLimit, from, span) {
  let line = '';
  let band = '';
  let top = []; let bottom = [];
  let col = -1; let first = -1; let last = -1; let iMin = -1; let iMax = -1; let lo = Infinity; let hi = -Infinity;
  let pieceStart = true;
  let prev = -1;
  const hasBand = i1 > i0 && pts.slice(i0, Math.min(i1, i0 + 50)).some((p) => Number.isFinite(p.min) && Number.isFinite(p.max));

  const flushColumn = () => {
    if (first < 0) return;
    // first ≤ min, max ≤ last: only min and max can come in either order.
    const a = Math.min(iMin, iMax);
    const b = Math.max(iMin, iMax);
    for (const i of [first, a, b, last]) {
      if (i === prev) continue;
      line += (pieceStart ? 'M' : 'L') + round1(x(pts[i].t)) + ',' + round1(y(pts[i].v));
      pieceStart = false;
      prev = i;
    }
    if (hasBand) {
      const cx = x((pts[first].t + pts[last].t) / 2).toFixed(1);
      top.push(`${cx},${y(hi).toFixed(1)}`);
      bottom.push(`${cx},${y(lo).toFixed(1)}`);
    }
    first = -1;
  };
  const flushPiece = () => {
    flushColumn();
    if (hasBand && top.length) band += `M${top.join('L')}L${bottom.reverse().join('L')}Z`;
    top = []; bottom = [];
    pieceStart = true;
  };

  for (let i = i0; i < i1; i++) {
    const p = pts[i];
    if (i > i0 && p.t - pts[i - 1].t > gapLimit) flushPiece();
    const c = Math.floor(((p.t - from) / span) * plotW / PX_PER_COLUMN);
    if (c !== col) { flushColumn(); col = c; }
    if (first < 0) { first = i; iMin = i; iMax = i; lo = Infinity; hi = -Infinity; }
    last = i;
    if (p.v < pts[iMin].v) iMin = i;
    if (p.v > pts[iMax].v) iMax = i;
    const l = Number.isFinite(p.min) ? p.min : p.v;
    const u = Number.isFinite(p.max) ? p.max : p.v;
    if (l < lo) lo = l;
    if (u > hi) hi = u;
  }
  flushPiece();
  return { line, band };
}

const round1 = (n) => Math.round(n * 10) / 10;

/** Keeps every time label inside the chart (a label at the right edge is moved in, not cut) and drops one that would overlap. */
function fitTimeLabels(labels, width) {
  let rightOfPrevious = -Infinity;
  for (const label of labels) {
    const w = label.getComputedTextLength();
    const tick = Number(label.getAttribute('x'));
    const centre = Math.min(Math.max(tick, w / 2 + 1), width - w / 2 - 1);
    if (centre - w / 2 < rightOfPrevious + 4) { label.remove(); continue; }
    label.setAttribute('x', centre.toFixed(1));
    rightOfPrevious = centre + w / 2;
  }
}

function hover(state, px) {
  const [i0, i1] = state.range || [0, 0];
  if (px === null || i1 <= i0 || px < PAD.left || px > state.width - PAD.right) {
    state.guide.setAttribute('visibility', 'hidden');
    state.dot.setAttribute('visibility', 'hidden');
    state.tip.hidden = true;
    return;
  }
  const t = state.timeAt(px);
  let i = Math.min(Math.max(lowerBound(state.pts, t), i0), i1 - 1);
  if (i > i0 && Math.abs(state.pts[i - 1].t - t) < Math.abs(state.pts[i].t - t)) i--;
  const p = state.pts[i];
  const xx = state.x(p.t);
  const yy = state.y(p.v);
  setAttrs(state.guide, { x1: xx, x2: xx, visibility: 'visible' });
  setAttrs(state.dot, { cx: xx, cy: yy, visibility: 'visible' });
  const { unit } = state.o;
  const band = Number.isFinite(p.min) && Number.isFinite(p.max) ? ` (${p.min.toFixed(1)}–${p.max.toFixed(1)})` : '';
  state.tip.textContent = `${p.v.toFixed(1)} ${unit}${band} · ${pointTime(p.t)}`;
  state.tip.hidden = false;
  const tipW = state.tip.offsetWidth;
  state.tip.style.left = `${Math.min(Math.max(xx - tipW / 2, 0), state.width - tipW)}px`;
  state.tip.style.top = `${Math.max(0, yy - 34)}px`;
}

/**
 * A small line of one metric over a period, for a device card: no axes, its range in
 * the title (and for screen readers in the card's label). data-points = values drawn.
 */
export function drawSparkline(el, { points, from, to, unit }) {
  const pts = points.filter((p) => Number.isFinite(p.v) && p.t >= from && p.t <= to);
  const width = 120;
  const height = 28;
  const svg = s('svg', { viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: 'none', 'aria-hidden': 'true', class: 'spark-svg' });
  if (pts.length) {
    let lo = Infinity; let hi = -Infinity;
    for (const p of pts) { if (p.v < lo) lo = p.v; if (p.v > hi) hi = p.v; }
    if (hi - lo < 0.5) { lo -= 0.25; hi += 0.25; }
    const x = (t) => ((t - from) / (to - from)) * width;
    const y = (v) => 2 + (1 - (v - lo) / (hi - lo)) * (height - 4);
    const limit = gapLimitOf(pts);
    let d = '';
    pts.forEach((p, i) => {
      const jump = i === 0 || p.t - pts[i - 1].t > limit;
      d += `${jump ? 'M' : 'L'}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`;
    });
    // A lone point would be an invisible line: a short dash shows it.
    if (pts.length === 1) d += `h2`;
    svg.append(s('path', { d, class: 'spark-line', 'vector-effect': 'non-scaling-stroke' }));
    const min = Math.min(...pts.map((p) => p.v));
    const max = Math.max(...pts.map((p) => p.v));
    el.title = `Last 24 hours: ${min.toFixed(1)}–${max.toFixed(1)} ${unit}`;
  } else {
    el.title = 'No readings in the last 24 hours';
  }
  el.replaceChildren(svg);
  el.dataset.points = String(pts.length);
}
