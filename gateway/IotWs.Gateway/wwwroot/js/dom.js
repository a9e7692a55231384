// Small DOM and formatting helpers shared by the views.
// Elements are built with h() and textContent, never innerHTML, so a device name
// or alert message can never inject markup into the page.

/** Creates an element: h('p', { class: 'x', dataset: { testid: 'y' } }, 'text', child). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (key === 'text') el.textContent = value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
}

/** Replaces all children of an element. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export const byId = (id) => document.getElementById(id);

/** One decimal, like the sensor itself reports: 21.5 °C, 45.0 %RH. */
export function fixed1(value) {
  return typeof value === 'number' && Number.isFinite(value) ? value.toFixed(1) : '–';
}

/** "12 s ago", "3 min ago"… Used for every "last seen" so they all read alike. */
export function ago(iso, now = Date.now()) {
  if (!iso) return 'never';
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return 'unknown';
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

/** A <time> element whose text the page-wide ticker refreshes every second. */
export function agoTime(iso, attrs = {}) {
  const el = h('time', { class: 'ago', ...attrs });
  setAgo(el, iso);
  return el;
}

export function setAgo(el, iso) {
  el.dataset.iso = iso || '';
  if (iso) {
    el.setAttribute('datetime', iso);
    el.title = localDateTime(iso);
  } else {
    el.removeAttribute('datetime');
    el.removeAttribute('title');
  }
  el.textContent = ago(iso);
}

/** Refreshes every "… ago" on the page; called once a second. */
export function tickAgo() {
  const now = Date.now();
  for (const el of document.querySelectorAll('time.ago')) {
    const text = ago(el.dataset.iso, now);
    if (el.textContent !== text) el.textContent = text;
  }
}

export function localDateTime(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleString([], {
    year: 'numeric', month: 'short', day: 'numeric',
    hour: '2-digit', minute: '2-digit', second: '2-digit',
  });
}

export function localTime(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? '' : d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

/** The status word always travels with its colour and a shape, never colour alone. */
const STATUS_SHAPES = { online: '●', stale: '◐', offline: '○', unknown: '?' };

export function statusBadge(status, attrs = {}) {
  const s = STATUS_SHAPES[status] ? status : 'unknown';
  return h('span', { class: `badge status-${s}`, ...attrs },
    h('span', { 'aria-hidden': 'true' }, STATUS_SHAPES[s]), ' ', s);
}

export function setStatusBadge(el, status) {
  const s = STATUS_SHAPES[status] ? status : 'unknown';
  el.className = `badge status-${s}`;
  fill(el, h('span', { 'aria-hidden': 'true' }, STATUS_SHAPES[s]), ' ', s);
}

export function bytes(n) {
  if (typeof n !== 'number') return '–';
  const units = ['B', 'KB', 'MB', 'GB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

export function duration(seconds) {
  if (typeof seconds !== 'number') return '–';
  const d = Math.floor(seconds / 86400);
  const hrs = Math.floor((seconds % 86400) / 3600);
  const min = Math.floor((seconds % 3600) / 60);
  if (d > 0) return `${d} d ${hrs} h`;
  if (hrs > 0) return `${hrs} h ${min} min`;
  return `${min} min`;
}

/** A random id for idempotency keys; crypto.randomUUID needs https, the Pi serves http. */
export function randomId() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}
