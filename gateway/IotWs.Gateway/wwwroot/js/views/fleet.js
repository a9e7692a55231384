// Fleet view: one card per device with status, live values and last sign of life.
// Cards are built once and then updated in place, so keyboard focus and screen reader
// position survive a stream of readings.

import { h, fill, fixed1, agoTime, setAgo, setStatusBadge, statusBadge } from '../dom.js';
import { store, sortedDevices, activeAlerts } from '../store.js';

/** "Sensor OK · WiFi -61 dBm"; the sensor part is flagged when reads have failed. */
export function sensorHealth(device) {
  const hb = device.heartbeat;
  if (!hb) return [h('span', {}, 'Sensor: no report yet')];
  const parts = [];
  if (typeof hb.sensorErrors === 'number') {
    parts.push(hb.sensorErrors === 0
      ? h('span', {}, 'Sensor OK')
      : h('span', { class: 'warn' }, h('span', { 'aria-hidden': 'true' }, '⚠ '),
        `Sensor: ${hb.sensorErrors} failed read${hb.sensorErrors === 1 ? '' : 's'}`));
  }
  if (typeof hb.rssi === 'number') parts.push(h('span', {}, `WiFi ${hb.rssi} dBm`));
  if (parts.length === 0) return [h('span', {}, 'Sensor: no report yet')];
  return parts.flatMap((p, i) => (i ? [' · ', p] : [p]));
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
      health: h('p', { class: 'health', 'data-testid': `device-health-${id}` }),
    };
    const card = h('a', { class: 'card', href: `#/device/${encodeURIComponent(id)}`, 'data-testid': `device-card-${id}` },
      h('div', { class: 'card-head' }, refs.name, refs.status),
      refs.meta,
      h('p', { class: 'values' },
        h('span', { class: 'metric' }, refs.temp, h('span', { class: 'unit' }, ' °C')),
        h('span', { class: 'metric' }, refs.hum, h('span', { class: 'unit' }, ' %RH'))),
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
    card.className = `card status-${d.status || 'unknown'}`;
    refs.temp.textContent = fixed1(d.lastReading?.temperature);
    refs.hum.textContent = fixed1(d.lastReading?.humidity);
    if (refs.seen.dataset.iso !== (d.lastSeen || '')) setAgo(refs.seen, d.lastSeen);
    fill(refs.health, sensorHealth(d));
    card.setAttribute('aria-label',
      `${d.name || d.deviceId}: ${d.status || 'unknown'}, ${fixed1(d.lastReading?.temperature)} °C, ${fixed1(d.lastReading?.humidity)} %RH`);
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
    if (kind === 'devices') renderAll();
    else if (kind === 'device' || kind === 'reading' || kind === 'status') {
      const d = store.devices.get(detail.deviceId);
      if (d) updateCard(d);
      if (kind === 'status') updateSummary();
    } else if (kind === 'alerts') updateAlerts();
  });

  return { show() { renderAll(); updateAlerts(); }, hide() {} };
}
