// Alerts feed: active alerts first, then the cleared ones, newest first.

import { h, fill, agoTime, localDateTime } from '../dom.js';
import { store, sortedAlerts } from '../store.js';

export function alertItem(a) {
  const device = a.deviceId ? store.devices.get(a.deviceId) : null;
  return h('li', { class: `alert ${a.state === 'active' ? 'active' : 'cleared'}`, 'data-testid': `alert-${a.id}` },
    h('div', { class: 'alert-head' },
      h('span', { class: `sev sev-${a.severity}` }, a.severity || 'info'),
      ' ',
      h('span', { class: 'state', 'data-testid': 'alert-state' }, a.state === 'active' ? 'active' : 'cleared'),
      ' ',
      a.deviceId ? h('a', { href: `#/device/${encodeURIComponent(a.deviceId)}` }, device?.name || a.deviceId) : null),
    h('p', {}, a.message || a.rule,
      a.value !== undefined && a.value !== null ? h('span', { class: 'muted' }, ` (value ${a.value})`) : null),
    h('p', { class: 'muted' },
      'Raised ', agoTime(a.raisedAt), ` (${localDateTime(a.raisedAt)})`,
      a.clearedAt ? ` · cleared ${localDateTime(a.clearedAt)}` : ''));
}

export function createAlertsView(root) {
  const list = h('ol', { class: 'alerts', 'data-testid': 'alerts-list' });
  fill(root, h('h2', {}, 'Alerts'), list);

  function render() {
    const alerts = sortedAlerts();
    fill(list, alerts.length === 0 ? h('li', { class: 'muted' }, 'No alerts. All quiet.') : alerts.map(alertItem));
  }

  store.listen((kind) => { if (kind === 'alerts' && !root.hidden) render(); });
  return { show: render, hide() {} };
}
