// Audit log (technician and admin): who sent which command to which device, and how it
// ended. Read from GET /api/rpc, newest first.

import { h, fill, localDateTime } from '../dom.js';
import { api, enc } from '../api.js';
import { store, sortedDevices } from '../store.js';

export function createAuditView(root) {
  const filter = h('select', { id: 'audit-device', 'data-testid': 'audit-device' });
  const refresh = h('button', { type: 'button', class: 'secondary', 'data-testid': 'audit-refresh' }, 'Refresh');
  const note = h('p', { class: 'muted', role: 'status' });
  const body = h('tbody', { 'data-testid': 'audit-rows' });
  fill(root,
    h('h2', {}, 'Audit log'),
    h('div', { class: 'toolbar' },
      h('label', { for: 'audit-device' }, 'Device '), filter, refresh),
    note,
    h('div', { class: 'table-wrap' },
      h('table', {},
        h('caption', { class: 'visually-hidden' }, 'Commands sent to devices, newest first'),
        h('thead', {}, h('tr', {}, ['Time', 'Who', 'Device', 'Command', 'Status', 'Result'].map((c) => h('th', { scope: 'col' }, c)))),
        body)));

  filter.addEventListener('change', load);
  refresh.addEventListener('click', load);

  function fillFilter() {
    const current = filter.value;
    fill(filter, h('option', { value: '' }, 'All devices'),
      sortedDevices().map((d) => h('option', { value: d.deviceId }, d.name || d.deviceId)));
    filter.value = current;
  }

  async function load() {
    note.textContent = 'Loading…';
    const device = filter.value;
    try {
      const calls = await api(`/api/rpc?limit=200${device ? `&deviceId=${enc(device)}` : ''}`);
      // data-label lets narrow screens show each row as a small card (see app.css).
      fill(body, calls.map((c) => h('tr', {},
        h('td', { 'data-label': 'Time' }, localDateTime(c.createdAt)),
        h('td', { 'data-label': 'Who' }, `${c.caller || '?'} (${c.role || '?'})`),
        h('td', { 'data-label': 'Device' }, store.devices.get(c.deviceId)?.name || c.deviceId),
        h('td', { 'data-label': 'Command' }, c.endpoint),
        h('td', { 'data-label': 'Status' }, h('span', { class: `call-status s-${c.status}` }, c.status)),
        h('td', { 'data-label': 'Result', class: 'result-cell' },
          c.error ? String(c.error) : c.result != null ? JSON.stringify(c.result) : ''))));
      note.textContent = calls.length ? `${calls.length} command${calls.length === 1 ? '' : 's'}.` : 'No commands sent yet.';
    } catch (e) {
      note.textContent = `Could not load the audit log: ${e.message}`;
    }
  }

  return { show() { fillFilter(); load(); }, hide() {} };
}
