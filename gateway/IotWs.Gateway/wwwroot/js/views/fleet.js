// Fleet view: one card per device with status, live values and last sign of life.
// Cards are built once and then updated in place, so keyboard focus and screen reader
// position survive a stream of readings.

import { h, fill, fixed1, agoTime, setAgo, setStatusBadge, statusBadge, duration } from '../dom.js';
import { api, enc } from '../api.js';
import { drawSparkline, plural } from '../chart.js';
import { store, sortedDevices, activeAlerts } from '../store.js';

const SPARK_MS = 24 * 3_600_000;
const SPARK_BUCKET_MS = 15 * 60_000; // 96 points: as many as a card's width can show
const SPARK_REFRESH_MS = 5 * 60_000;

/** "the last hour", "the last 30 min": the window the gateway judges sensors over. */
export function sensorWindowWords() {
  const seconds = store.sensors.windowSeconds;
  if (!seconds) return 'the last hour';
  return seconds === 3600 ? 'the last hour' : `the last ${duration(seconds)}`;
}

/**
 * "Sensor OK · WiFi -61 dBm". The sensor is judged by the gateway over a window (the last
 * hour): failed reads against all reads, flagged above a rate. A count since boot would flag
 * every board sooner or later.
 */
export function sensorHealth(device) {
  const hb = device.heartbeat;
  const judged = store.sensors.byDevice.get(device.deviceId);
  const parts = [];
  const window = sensorWindowWords();
  const rule = `Judged over ${window}: flagged when more than ${Math.round((store.sensors.failureRate ?? 0.05) * 100)} % of reads fail.`;
  if (judged && typeof hb?.sensorErrors === 'number') {
    parts.push(judged.flagged
      ? h('span', { class: 'warn', title: rule }, h('span', { 'aria-hidden': 'true' }, '⚠ '),
        `Sensor: ${judged.failedReads} of ${plural(judged.reads, 'read')} failed in ${window}`)
      : h('span', { title: rule }, 'Sensor OK',
        judged.failedReads > 0 ? h('span', { class: 'muted' }, ` (${plural(judged.failedReads, 'failed read')} in ${window})`) : null));
  } else if (typeof hb?.sensorErrors === 'number') {
    parts.push(h('span', { title: rule }, `Sensor: no verdict yet for ${window}`));
  }
  if (typeof hb?.rssi === 'number') parts.push(h('span', {}, `WiFi ${hb.rssi} dBm`));
  if (parts.length === 0) return [h('span', {}, 'Sensor: no report yet')];
  return parts.flatMap((p, i) => (i ? [' · ', p] : [p]));
}

/** Averages rows of one-minute buckets into SPARK_BUCKET_MS points of temperature, each at its rows' mean time. */
function sparkPoints(rows) {
  const sums = new Map();
  for (const r of rows) {
    const v = r.temperatureAvg;
    if (!Number.isFinite(v)) continue;
    const at = Date.parse(r.bucket);
    const key = Math.floor(at / SPARK_BUCKET_MS);
    const acc = sums.get(key) || { n: 0, v: 0, t: 0 };
    acc.n++;
    acc.v += v;
    acc.t += at;
    sums.set(key, acc);
  }
  return [...sums].sort((a, b) => a[0] - b[0]).map(([, acc]) => ({ t: acc.t / acc.n, v: acc.v / acc.n }));
}

export function createFleetView(root) {
  const summary = h('p', { class: 'summary', 'data-testid': 'fleet-summary' });
  const alertStrip = h('div', { class: 'alert-strip' });
  const grid = h('div', { class: 'cards', 'data-testid': 'device-list' });
  const empty = h('p', { class: 'empty-note', hidden: true },
    'No devices yet. Add one on the gateway with ',
    h('code', {}, 'devices add <deviceId>'), ' and flash its token to the board.');
  fill(root, h('h2', {}, 'Devices'), summary, alertStrip, empty, grid);

  const cards = new Map(); // deviceId → { card, refs }

  function buildCard(d) {
    const id = d.deviceId;
    const refs = {
      name: h('h3', {}),
      status: statusBadge(d.status, { 'data-testid': `device-status-${id}` }),
      meta: h('p', { class: 'muted' }),
      temp: h('span', { class: 'value', 'data-testid': `device-temp-${id}` }),
      hum: h('span', { class: 'value', 'data-testid': `device-hum-${id}` }),
      seen: agoTime(d.lastSeen, { 'data-testid': `device-seen-${id}` }),
      lastValue: agoTime(null, { 'data-testid': `device-last-value-${id}` }),
      health: h('p', { class: 'health', 'data-testid': `device-health-${id}` }),
      spark: h('div', { class: 'spark', 'data-testid': `device-spark-${id}` }),
    };
    refs.values = h('p', { class: 'values', 'data-testid': `device-values-${id}` },
      h('span', { class: 'metric' }, refs.temp, h('span', { class: 'unit' }, ' °C')),
      h('span', { class: 'metric' }, refs.hum, h('span', { class: 'unit' }, ' %RH')));
    refs.unavailable = h('p', { class: 'unavailable-note', hidden: true }, 'Unavailable — last value ', refs.lastValue);
    const card = h('a', { class: 'card', href: `#/device/${encodeURIComponent(id)}`, 'data-testid': `device-card-${id}` },
      h('div', { class: 'card-head' }, refs.name, refs.status),
      refs.meta,
      refs.unavailable,
      h('div', { class: 'values-row' }, refs.values, refs.spark),
      h('p', { class: 'seen' }, 'Last seen ', refs.seen),
      refs.health);
    return { card, refs };
  }

  function updateCard(d) {
    let entry = cards.get(d.deviceId);
    if (!entry) {
      entry = buildCard(d);
      cards.set(d.deviceId, entry);
    }
    const { card, refs } = entry;
    refs.name.textContent = d.name || d.deviceId;
    refs.meta.textContent = [d.name && d.name !== d.deviceId ? d.deviceId : null, d.location]
      .filter(Boolean).join(' · ') || '\u00a0';
    setStatusBadge(refs.status, d.status);
    // Offline: greyed, and its values are said to be the last ones, with their age.
    const offline = d.status === 'offline';
    card.className = `card status-${d.status || 'unknown'}${offline ? ' unavailable' : ''}`;
    refs.unavailable.hidden = !offline;
    // Never heard from: there is no last value to date.
    refs.unavailable.firstChild.textContent = d.lastReading ? 'Unavailable — last value ' : 'Unavailable — no reading yet';
    refs.lastValue.hidden = !d.lastReading;
    if (offline && refs.lastValue.dataset.iso !== (d.lastReading?.timestamp || '')) setAgo(refs.lastValue, d.lastReading?.timestamp);
    refs.temp.textContent = fixed1(d.lastReading?.temperature);
    refs.hum.textContent = fixed1(d.lastReading?.humidity);
    if (refs.seen.dataset.iso !== (d.lastSeen || '')) setAgo(refs.seen, d.lastSeen);
    fill(refs.health, sensorHealth(d));
    card.setAttribute('aria-label', `${d.name || d.deviceId}: ${d.status || 'unknown'}, ${offline ? 'last value ' : ''}`
      + `${fixed1(d.lastReading?.temperature)} °C, ${fixed1(d.lastReading?.humidity)} %RH${offline ? `, ${refs.lastValue.textContent}` : ''}`);
  }

  let sparkTimer = null;
  async function loadSparklines() {
    const to = Date.now();
    const from = to - SPARK_MS;
    await Promise.all([...cards].map(async ([id, { refs }]) => {
      try {
        const rows = await api(`/api/devices/${enc(id)}/readings?from=${enc(new Date(from).toISOString())}`
          + `&to=${enc(new Date(to).toISOString())}&resolution=1m&format=json&limit=1440`);
        drawSparkline(refs.spark, { points: sparkPoints(rows), from, to, unit: '°C' });
      } catch { /* the card still shows the live values */ }
    }));
  }

  function updateSummary() {
    const counts = { online: 0, stale: 0, offline: 0, unknown: 0 };
    for (const d of store.devices.values()) counts[counts[d.status] === undefined ? 'unknown' : d.status]++;
    fill(summary, ...['online', 'stale', 'offline', 'unknown']
      .filter((s) => counts[s] > 0 || s !== 'unknown')
      .map((s) => h('span', { class: 'count' }, statusBadge(s), ` ${counts[s]}`)));
    empty.hidden = store.devices.size > 0;
  }

  function updateAlerts() {
    const active = activeAlerts();
    fill(alertStrip, active.length === 0 ? null : h('a', { href: '#/alerts', class: 'alert-link', 'data-testid': 'fleet-alerts' },
      h('span', { 'aria-hidden': 'true' }, '⚠ '),
      `${active.length} active alert${active.length === 1 ? '' : 's'}: `,
      active.slice(0, 2).map((a) => a.message).join('; '),
      active.length > 2 ? ' …' : ''));
  }

  function renderAll() {
    const ids = new Set(store.devices.keys());
    for (const [id, entry] of cards) {
      if (!ids.has(id)) { entry.card.remove(); cards.delete(id); }
    }
    for (const d of sortedDevices()) {
      updateCard(d);
      grid.append(cards.get(d.deviceId).card); // append moves it into sorted order
    }
    updateSummary();
  }

  store.listen((kind, detail) => {
    if (kind === 'devices') {
      const before = cards.size;
      renderAll();
      if (cards.size > before && !root.hidden) loadSparklines();
    } else if (kind === 'sensors') {
      for (const d of store.devices.values()) updateCard(d);
    } else if (kind === 'device' || kind === 'reading' || kind === 'status') {
      const d = store.devices.get(detail.deviceId);
      if (d) updateCard(d);
      if (kind === 'status') updateSummary();
    } else if (kind === 'alerts') updateAlerts();
  });

  return {
    show() {
      renderAll();
      updateAlerts();
      loadSparklines();
      clearInterval(sparkTimer);
      sparkTimer = setInterval(loadSparklines, SPARK_REFRESH_MS);
    },
    hide() { clearInterval(sparkTimer); },
  };
}
