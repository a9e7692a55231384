// Alerts feed: active alerts first, then the cleared ones, newest first. A cleared alert
// keeps what was wrong and adds how it ended and how long it lasted; technicians can
// acknowledge an alert (who and when is kept by the gateway and shown to everyone).

import { h, fill, agoTime, localDateTime, duration } from '../dom.js';
import { api } from '../api.js';
import { store, sortedAlerts, hasRole } from '../store.js';

/** "4 min", "2 h 5 min", "45 s": how long the problem lasted (or has lasted so far). */
export function lasted(a, now = Date.now()) {
  const start = Date.parse(a.startedAt || a.raisedAt);
  const end = a.clearedAt ? Date.parse(a.clearedAt) : now;
  const seconds = Math.max(0, Math.round((end - start) / 1000));
  return seconds < 60 ? `${seconds} s` : duration(seconds);
}

async function acknowledge(a, button) {
  button.disabled = true;
  try {
    const updated = await api(`/api/alerts/${a.id}/ack`, { method: 'POST' });
    store.alerts = store.alerts.map((x) => (x.id === updated.id ? updated : x));
    store.emit('alerts');
  } catch (e) {
    button.disabled = false;
    button.title = `Could not acknowledge: ${e.message}`;
  }
}

export function alertItem(a) {
  const device = a.deviceId ? store.devices.get(a.deviceId) : null;
  const active = a.state === 'active';
  const ackButton = active && !a.acknowledgedBy && hasRole('technician')
    ? h('button', { type: 'button', class: 'secondary small', 'data-testid': 'alert-ack' }, 'Acknowledge') : null;
  if (ackButton) ackButton.addEventListener('click', () => acknowledge(a, ackButton));
  return h('li', { class: `alert ${active ? 'active' : 'cleared'}${a.acknowledgedBy ? ' acknowledged' : ''}`, 'data-testid': `alert-${a.id}` },
    h('div', { class: 'alert-head' },
      h('span', { class: `sev sev-${a.severity}` }, a.severity || 'info'),
      ' ',
      h('span', { class: 'state', 'data-testid': 'alert-state' }, active ? 'active' : 'cleared'),
      ' ',
      a.deviceId ? h('a', { href: `#/device/${encodeURIComponent(a.deviceId)}` }, device?.name || a.deviceId) : null,
      ackButton),
    h('p', { 'data-testid': 'alert-message' }, a.message || a.rule,
      a.value !== undefined && a.value !== null ? h('span', { class: 'muted' }, ` (value ${a.value})`) : null),
    a.occurrences > 1 ? h('p', { class: 'muted', 'data-testid': 'alert-occurrences' }, `${a.occurrences} disconnects counted in this alert`) : null,
    a.resolution ? h('p', { 'data-testid': 'alert-resolution' }, h('span', { 'aria-hidden': 'true' }, '✓ '), `Cleared: ${a.resolution}`) : null,
    h('p', { class: 'muted', 'data-testid': 'alert-times' },
      'Raised ', agoTime(a.raisedAt), ` (${localDateTime(a.raisedAt)})`,
      active ? ` · ongoing for ${lasted(a)}` : ` · cleared ${localDateTime(a.clearedAt)} · lasted ${lasted(a)}`),
    a.acknowledgedBy ? h('p', { class: 'muted', 'data-testid': 'alert-acknowledged' },
      `Acknowledged by ${a.acknowledgedBy}, ${localDateTime(a.acknowledgedAt)}`) : null);
}

export function createAlertsView(root) {
  const list = h('ol', { class: 'alerts', 'data-testid': 'alerts-list' });
  fill(root, h('h2', {}, 'Alerts'),
    h('p', { class: 'muted' }, 'A device is reported offline after a grace period, not for every WiFi blip; a reboot a technician asked for raises nothing once the device is back; a device that keeps dropping out gets one “unstable” alert.'),
    list);

  function render() {
    const alerts = sortedAlerts();
    fill(list, alerts.length === 0 ? h('li', { class: 'muted' }, 'No alerts. All quiet.') : alerts.map(alertItem));
  }

  store.listen((kind) => { if (kind === 'alerts' && !root.hidden) render(); });
  return { show: render, hide() {} };
}
