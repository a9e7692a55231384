// Device view: live values and chart, history for a chosen range with CSV download,
// presence history, and (technician and up) the command panel.

import { h, fill, fixed1, agoTime, setAgo, statusBadge, setStatusBadge, localDateTime } from '../dom.js';
import { api, enc } from '../api.js';
import { drawChart, clearChart, plural } from '../chart.js';
import { store, hasRole } from '../store.js';
import { sensorHealth } from './fleet.js';
import { createRpcPanel } from './rpc.js';

const LIVE_WINDOW_MS = 15 * 60_000;
const LIVE_MAX_POINTS = 2000;
const HOUR = 3_600_000;
const MAX_ROWS = 9_000; // below the gateway's 10,000-row cap per answer
const BUCKET_MS = { '1m': 60_000, '1h': HOUR };

// Resolution follows the range so a chart never has to draw more than ~10,000 points.
export const RANGES = [
  { key: '1h', label: '1 hour', words: 'last hour', ms: HOUR },
  { key: '24h', label: '24 hours', words: 'last 24 hours', ms: 24 * HOUR },
  { key: '7d', label: '7 days', words: 'last 7 days', ms: 7 * 24 * HOUR },
  { key: '30d', label: '30 days', words: 'last 30 days', ms: 30 * 24 * HOUR },
];

export function resolutionFor(ms) {
  if (ms <= 6 * HOUR) return 'raw';
  if (ms <= 7 * 24 * HOUR) return '1m';
  return '1h';
}

function readingPoint(r, metric) {
  return { t: Date.parse(r.timestamp), v: r[metric] };
}

function bucketPoint(b, metric) {
  return { t: Date.parse(b.bucket), v: b[`${metric}Avg`], min: b[`${metric}Min`], max: b[`${metric}Max`] };
}

export function createDeviceView(root, live) {
  let deviceId = null;
  let liveReadings = [];     // raw readings for the live chart, oldest first
  let range = RANGES[0];
  let historyRequest = 0;    // ignores answers to ranges the operator already left
  let slideTimer = null;
  let rpc = null;

  const refs = {
    title: h('h2', { 'data-testid': 'device-title' }),
    status: statusBadge('unknown', { 'data-testid': 'device-view-status' }),
    meta: h('p', { class: 'muted', 'data-testid': 'device-meta' }),
    seen: agoTime(null, { 'data-testid': 'device-view-seen' }),
    lastValue: agoTime(null, { 'data-testid': 'device-view-last-value' }),
    temp: h('span', { class: 'value big', 'data-testid': 'device-view-temp' }),
    hum: h('span', { class: 'value big', 'data-testid': 'device-view-hum' }),
    health: h('p', { class: 'health' }),
    liveTemp: h('figure', { class: 'chart', 'data-testid': 'live-chart-temperature' }),
    liveHum: h('figure', { class: 'chart', 'data-testid': 'live-chart-humidity' }),
    histTemp: h('figure', { class: 'chart', 'data-testid': 'history-chart-temperature' }),
    histHum: h('figure', { class: 'chart', 'data-testid': 'history-chart-humidity' }),
    histNote: h('p', { class: 'muted', role: 'status', 'data-testid': 'history-note' }),
    ranges: h('div', { class: 'toggle', role: 'group', 'aria-label': 'History range' }),
    csv: h('button', { type: 'button', class: 'secondary', 'data-testid': 'csv-download' }, 'Download CSV'),
    presence: h('ol', { class: 'presence', 'data-testid': 'presence-history' }),
    rpcSlot: h('div'),
  };
  refs.history = h('div', { class: 'charts', 'data-testid': 'history-chart' }, refs.histTemp, refs.histHum);

  for (const r of RANGES) {
    refs.ranges.append(h('button', {
      type: 'button', 'data-testid': `range-${r.key}`, 'aria-pressed': r === range ? 'true' : 'false',
      onclick: () => selectRange(r),
    }, r.label));
  }
  refs.csv.addEventListener('click', downloadCsv);

  refs.unavailable = h('p', { class: 'unavailable-note', 'data-testid': 'device-view-unavailable', hidden: true },
    'Unavailable — last value ', refs.lastValue);
  refs.now = h('div', { class: 'now', 'data-testid': 'device-view-now' },
    h('div', { class: 'metric' }, h('span', { class: 'label' }, 'Temperature'),
      h('span', {}, refs.temp, h('span', { class: 'unit' }, ' °C'))),
    h('div', { class: 'metric' }, h('span', { class: 'label' }, 'Humidity'),
      h('span', {}, refs.hum, h('span', { class: 'unit' }, ' %RH'))));
  // Everything that belongs to one known device: hidden for an id the gateway does not know.
  refs.body = h('div', { 'data-testid': 'device-view-body' },
    h('p', { class: 'seen' }, 'Last seen ', refs.seen),
    refs.unavailable,
    refs.now,
    refs.health,
    h('section', { 'aria-labelledby': 'live-h' },
      h('h3', { id: 'live-h' }, 'Live — last 15 minutes'),
      h('div', { class: 'charts' }, refs.liveTemp, refs.liveHum)),
    h('section', { 'aria-labelledby': 'hist-h' },
      h('h3', { id: 'hist-h' }, 'History'),
      h('div', { class: 'toolbar' }, refs.ranges, refs.csv),
      refs.histNote,
      refs.history),
    refs.rpcSlot,
    h('section', { 'aria-labelledby': 'presence-h' },
      h('h3', { id: 'presence-h' }, 'Presence history'),
      refs.presence));
  fill(root,
    h('p', {}, h('a', { href: '#/', class: 'back' }, '← All devices')),
    h('div', { class: 'device-head' }, refs.title, refs.status),
    refs.meta,
    refs.body);

  function device() { return store.devices.get(deviceId); }

  /** Shows nothing of any device but the id asked for: what is on screen never belongs to another one. */
  function renderBlank(id) {
    refs.title.textContent = id;
    setStatusBadge(refs.status, 'unknown');
    refs.meta.textContent = '';
    setAgo(refs.seen, null);
    setAgo(refs.lastValue, null);
    refs.temp.textContent = fixed1(undefined);
    refs.hum.textContent = fixed1(undefined);
    refs.now.classList.remove('unavailable');
    refs.unavailable.hidden = true;
    fill(refs.health);
    fill(refs.presence);
    fill(refs.rpcSlot);
    refs.histNote.textContent = '';
    const now = Date.now();
    for (const [figure, title, unit] of [[refs.liveTemp, 'Temperature', '°C'], [refs.liveHum, 'Humidity', '%RH'],
      [refs.histTemp, 'Temperature', '°C'], [refs.histHum, 'Humidity', '%RH']]) {
      clearChart(figure, { title, unit, from: now - range.ms, to: now });
    }
  }

  function renderHeader() {
    const d = device();
    if (!d) return;
    refs.title.textContent = d.name || d.deviceId;
    setStatusBadge(refs.status, d.status);
    refs.meta.textContent = [
      `Device ${d.deviceId}`, d.location,
      d.statusSince ? `${d.status} since ${localDateTime(d.statusSince)}` : null,
      d.bootId != null ? `boot #${d.bootId}` : null,
    ].filter(Boolean).join(' · ');
    if (refs.seen.dataset.iso !== (d.lastSeen || '')) setAgo(refs.seen, d.lastSeen);
    refs.temp.textContent = fixed1(d.lastReading?.temperature);
    refs.hum.textContent = fixed1(d.lastReading?.humidity);
    // Offline: the values are what it last said, not what the room is now.
    const offline = d.status === 'offline';
    refs.now.classList.toggle('unavailable', offline);
    refs.unavailable.hidden = !offline;
    // Never heard from: there is no last value to date.
    refs.unavailable.firstChild.textContent = d.lastReading ? 'Unavailable — last value ' : 'Unavailable — no reading yet';
    refs.lastValue.hidden = !d.lastReading;
    if (offline && refs.lastValue.dataset.iso !== (d.lastReading?.timestamp || '')) setAgo(refs.lastValue, d.lastReading?.timestamp);
    fill(refs.health, sensorHealth(d));
  }

  function renderPresence(history) {
    fill(refs.presence, history.length === 0 ? h('li', { class: 'muted' }, 'No changes recorded yet.') : null,
      history.map((p) => h('li', {},
        statusBadge(p.status), ' ',
        h('time', { datetime: p.at }, localDateTime(p.at)),
        p.reason ? h('span', { class: 'muted' }, ` — ${p.reason}`) : null)));
  }

  function drawLive() {
    const now = Date.now();
    const from = now - LIVE_WINDOW_MS;
    drawChart(refs.liveTemp, { title: 'Temperature', unit: '°C', period: 'last 15 minutes', from, to: now,
      points: liveReadings.map((r) => readingPoint(r, 'temperature')) });
    drawChart(refs.liveHum, { title: 'Humidity', unit: '%RH', period: 'last 15 minutes', from, to: now,
      points: liveReadings.map((r) => readingPoint(r, 'humidity')) });
  }

  function addLive(reading) {
    if (liveReadings.some((r) => r.insertId === reading.insertId)) return;
    liveReadings.push(reading);
    liveReadings.sort((a, b) => Date.parse(a.timestamp) - Date.parse(b.timestamp));
    const cutoff = Date.now() - LIVE_WINDOW_MS;
    liveReadings = liveReadings.filter((r) => Date.parse(r.timestamp) >= cutoff).slice(-LIVE_MAX_POINTS);
    drawLive();
  }

  async function loadLive(id) {
    const to = new Date();
    const from = new Date(to.getTime() - LIVE_WINDOW_MS);
    try {
      const [rows] = await fetchRange(id, from.getTime(), to.getTime(), 'raw', 'json');
      if (id !== deviceId) return;
      for (const r of rows) addLive(r);
    } catch { /* the live stream still fills the chart */ }
    drawLive();
  }

  /**
   * Reads a range from the API in pieces of at most MAX_ROWS buckets: the gateway caps one
   * answer at 10,000 rows (newest kept), and 7 days of minutes are 10,080.
   * Returns one array per piece, oldest piece first (JSON rows or CSV text).
   */
  async function fetchRange(id, from, to, resolution, format) {
    const bucket = BUCKET_MS[resolution];
    const span = bucket ? bucket * MAX_ROWS : to - from + 1;
    const pieces = [];
    // 'from' and 'to' are both inclusive on the gateway, so pieces meet without overlap.
    for (let start = from; start <= to; start += span) pieces.push([start, Math.min(to, start + span - 1)]);
    return Promise.all(pieces.map(([a, b]) => api(`/api/devices/${enc(id)}/readings?from=${enc(new Date(a).toISOString())}`
      + `&to=${enc(new Date(b).toISOString())}&resolution=${resolution}&format=${format}&limit=${MAX_ROWS}`)));
  }

  async function loadHistory() {
    const ticket = ++historyRequest;
    const resolution = resolutionFor(range.ms);
    refs.histNote.textContent = 'Loading…';
    refs.history.setAttribute('aria-busy', 'true');
    const to = Date.now();
    const from = to - range.ms;
    try {
      const rows = (await fetchRange(deviceId, from, to, resolution, 'json')).flat();
      if (ticket !== historyRequest) return;
      const toPoint = resolution === 'raw' ? readingPoint : bucketPoint;
      const temps = rows.map((r) => toPoint(r, 'temperature'));
      const hums = rows.map((r) => toPoint(r, 'humidity'));
      drawChart(refs.histTemp, { title: 'Temperature', unit: '°C', period: range.words, from, to, points: temps });
      drawChart(refs.histHum, { title: 'Humidity', unit: '%RH', period: range.words, from, to, points: hums });
      refs.history.dataset.points = refs.histTemp.dataset.points;
      refs.histNote.textContent = resolution === 'raw'
        ? `${plural(rows.length, 'reading')}, every reading shown.`
        : `${resolution === '1m' ? plural(rows.length, 'one-minute average') : plural(rows.length, 'one-hour average')}; the shaded band is each period's min–max.`;
    } catch (e) {
      if (ticket !== historyRequest) return;
      refs.histNote.textContent = `Could not load history: ${e.message}`;
    } finally {
      if (ticket === historyRequest) refs.history.removeAttribute('aria-busy');
    }
  }

  function selectRange(r) {
    range = r;
    for (const b of refs.ranges.children) b.setAttribute('aria-pressed', b.dataset.testid === `range-${r.key}` ? 'true' : 'false');
    loadHistory();
  }

  async function downloadCsv() {
    refs.csv.disabled = true;
    try {
      // A plain link cannot carry the bearer header, so fetch the text and hand over a Blob.
      const to = Date.now();
      const resolution = resolutionFor(range.ms);
      const pieces = await fetchRange(deviceId, to - range.ms, to, resolution, 'csv');
      const text = pieces.map((csv, i) => (i === 0 ? csv : csv.slice(csv.indexOf('\n') + 1))).join('');
      const url = URL.createObjectURL(new Blob([text], { type: 'text/csv' }));
      const a = h('a', { href: url, download: `${deviceId}-${range.key}-${resolution}.csv`, hidden: true });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    } catch (e) {
      refs.histNote.textContent = `Could not download CSV: ${e.message}`;
    } finally {
      refs.csv.disabled = false;
    }
  }

  async function loadDetail(id) {
    try {
      const d = await api(`/api/devices/${enc(id)}`);
      if (id !== deviceId) return;
      const { presenceHistory, ...rest } = d;
      store.devices.set(id, { ...store.devices.get(id), ...rest });
      renderHeader();
      renderPresence(presenceHistory || []);
    } catch (e) {
      if (id !== deviceId) return;
      refs.title.textContent = id;
      if (e.status === 404) {
        if (rpc) rpc.dispose();
        rpc = null;
        renderBlank(id);
        refs.body.hidden = true;
      }
      refs.meta.textContent = e.status === 404 ? 'This device is not known to the gateway.' : `Could not load the device: ${e.message}`;
    }
  }

  store.listen((kind, detail) => {
    if (kind === 'sensors' && deviceId && device()) fill(refs.health, sensorHealth(device()));
    if (!deviceId || detail?.deviceId !== deviceId) return;
    if (kind === 'reading' || kind === 'device') renderHeader();
    if (kind === 'status') {
      renderHeader();
      // A reconnect may come with a new boot; the detail has it and the full presence history.
      loadDetail(deviceId);
    }
  });

  return {
    show(id) {
      if (deviceId !== id) this.hide();
      deviceId = id;
      liveReadings = [];
      refs.body.hidden = false;
      renderBlank(id);
      renderHeader();
      live.subscribe(`devices/${id}/readings`);
      loadDetail(id);
      loadLive(id);
      loadHistory();
      if (hasRole('technician')) {
        rpc = createRpcPanel(id, () => loadDetail(id));
        fill(refs.rpcSlot, rpc.element);
      } else {
        fill(refs.rpcSlot);
      }
      // Slide the live window even when the device is quiet.
      slideTimer = setInterval(drawLive, 5000);
    },
    hide() {
      if (!deviceId) return;
      live.unsubscribe(`devices/${deviceId}/readings`);
      clearInterval(slideTimer);
      if (rpc) rpc.dispose();
      rpc = null;
      deviceId = null;
      historyRequest++;
    },
    onReading(topic, reading) {
      if (deviceId && topic === `devices/${deviceId}/readings`) addLive(reading);
    },
  };
}
