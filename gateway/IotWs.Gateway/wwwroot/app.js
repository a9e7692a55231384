// IotWs dashboard: login, routing between views, and the wiring between the API, the
// WebSocket and the views. Plain ES modules served by the gateway; nothing to build.

import { byId, fill, h, tickAgo, bytes, duration } from './js/dom.js';
import { api, session, whenUnauthorized, ApiError } from './js/api.js';
import { LiveConnection } from './js/live.js';
import { store, hasRole, unacknowledgedAlerts } from './js/store.js';
import { createFleetView } from './js/views/fleet.js';
import { createDeviceView } from './js/views/device.js';
import { createAlertsView } from './js/views/alerts.js';
import { createAuditView } from './js/views/audit.js';

const REFRESH_MS = 15_000; // heartbeat details (sensor errors, RSSI) come only through the API

const live = new LiveConnection({
  token: () => session.key,
  onPublish,
  onState: showConnection,
  onAuthFailed: () => logout('The gateway refused your key on the live connection. Please log in again.'),
  onReady: () => { loadDevices(); loadAlerts(); },
});

const views = {
  fleet: createFleetView(byId('fleet-view')),
  device: createDeviceView(byId('device-view'), live),
  alerts: createAlertsView(byId('alerts-view')),
  audit: createAuditView(byId('audit-view')),
};
let current = null;
let timers = [];

// ---- login / logout -------------------------------------------------------------

byId('login-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const key = byId('login-key').value.trim();
  if (!key) return showLoginMessage('Enter your API key.');
  byId('login-submit').disabled = true;
  try {
    const me = await api('/api/me', { key });
    session.key = key;
    byId('login-key').value = '';
    start(me);
  } catch (e) {
    showLoginMessage(e instanceof ApiError && e.status === 401
      ? 'This key was not accepted. Check it (keys are shown once by "keys add") and try again.'
      : `Could not log in: ${e.message}`);
  } finally {
    byId('login-submit').disabled = false;
  }
});

byId('logout').addEventListener('click', () => logout('You are logged out. The key was removed from this tab.'));
whenUnauthorized((message) => logout(message));

function showLoginMessage(text) {
  const el = byId('login-message');
  el.textContent = text;
  el.hidden = !text;
}

function start(me) {
  store.me = me;
  fill(byId('who'), h('span', { 'data-testid': 'who-name' }, me.name), ' ',
    h('span', { class: 'role', 'data-testid': 'who-role' }, me.role));
  document.body.dataset.role = me.role;
  for (const el of document.querySelectorAll('[data-min-role]')) el.hidden = !hasRole(el.dataset.minRole);
  byId('login-view').hidden = true;
  byId('app-bar').hidden = false;
  byId('status-bar').hidden = false;
  showLoginMessage('');
  live.subscribe('sensor_updates');
  live.subscribe('device_status');
  live.subscribe('system_alerts');
  live.start();
  loadDevices().then(route);
  loadAlerts();
  loadStatus();
  loadSensors();
  timers = [
    setInterval(tickAgo, 1000),
    setInterval(loadDevices, REFRESH_MS),
    setInterval(loadSensors, REFRESH_MS),
    setInterval(loadStatus, REFRESH_MS),
  ];
}

function logout(message) {
  if (!store.me && !session.key) return showLoginMessage(message);
  // A session from a login link is ended on the gateway too (its WebSocket closes); a pasted key stays valid.
  if (session.key?.startsWith('iws_')) api('/api/session', { method: 'DELETE' }).catch(() => {});
  session.key = null;
  live.stop();
  for (const t of timers) clearInterval(t);
  timers = [];
  if (current) views[current].hide();
  current = null;
  store.clear();
  store.emit('devices');
  store.emit('alerts');
  for (const v of document.querySelectorAll('main > section')) v.hidden = true;
  byId('app-bar').hidden = true;
  byId('status-bar').hidden = true;
  byId('login-view').hidden = false;
  showLoginMessage(message);
  byId('login-key').focus();
}

// ---- routing: #/ · #/device/{id} · #/alerts · #/audit ----------------------------

function route() {
  if (!store.me) return;
  const [, page, arg] = location.hash.split('/');
  let name = { device: 'device', alerts: 'alerts', audit: 'audit' }[page] || 'fleet';
  if (name === 'device' && !arg) name = 'fleet';
  if (name === 'audit' && !hasRole('technician')) name = 'fleet';
  if (current) views[current].hide();
  for (const v of Object.keys(views)) byId(`${v}-view`).hidden = v !== name;
  for (const a of document.querySelectorAll('#nav a')) {
    if (a.dataset.view === name || (name === 'device' && a.dataset.view === 'fleet')) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  current = name;
  views[name].show(arg ? decodeURIComponent(arg) : undefined);
  // Move focus to the new view's heading so keyboard and screen reader users land there.
  const heading = byId(`${name}-view`).querySelector('h2');
  if (heading && document.activeElement?.closest('main')) { heading.tabIndex = -1; heading.focus(); }
}
window.addEventListener('hashchange', route);

// ---- data -------------------------------------------------------------------------

async function loadDevices() {
  try {
    const list = await api('/api/devices');
    const seen = new Set();
    for (const d of list) {
      seen.add(d.deviceId);
      const known = store.devices.get(d.deviceId);
      const merged = { ...known, ...d };
      // A list fetched before a live reading can arrive after it: keep the newer reading.
      if ((known?.lastReading?.insertId ?? 0) > (d.lastReading?.insertId ?? 0)) merged.lastReading = known.lastReading;
      // The same for a status change heard live (both carry the gateway's time of the change): a list made before a
      // device connected must not turn it back to offline.
      if (known?.statusSince && (!d.statusSince || Date.parse(known.statusSince) > Date.parse(d.statusSince))) {
        merged.status = known.status;
        merged.statusSince = known.statusSince;
      }
      store.devices.set(d.deviceId, merged);
    }
    for (const id of [...store.devices.keys()]) if (!seen.has(id)) store.devices.delete(id);
    store.emit('devices');
  } catch { /* a failed refresh leaves the last known state; the indicator shows connectivity */ }
}

async function loadAlerts() {
  try {
    store.alerts = await api('/api/alerts');
    store.emit('alerts');
  } catch { /* keep the last known alerts */ }
}

async function loadSensors() {
  try {
    const judged = await api('/api/alerts/sensors');
    store.sensors = {
      windowSeconds: judged.windowSeconds,
      failureRate: judged.failureRate,
      byDevice: new Map(judged.devices.map((d) => [d.deviceId, d])),
    };
    store.emit('sensors');
  } catch { /* keep the last judgement */ }
}

async function loadStatus() {
  const bar = byId('status-bar');
  try {
    const st = await api('/api/status');
    fill(bar, [
      `Gateway up ${duration(st.uptimeSeconds)}`,
      `${st.connections?.total ?? '–'} connections`,
      `${(st.messageRates?.inPerSecond ?? 0).toFixed(1)} msg/s in`,
      `database ${bytes(st.database?.sizeBytes)}`,
      `${(st.readings?.total ?? 0).toLocaleString()} readings stored`,
    ].join(' · '));
  } catch {
    fill(bar, 'Gateway status unavailable.');
  }
}

let refetchSoon = null;

function onPublish(topic, data) {
  if (!data) return;
  if (topic === 'sensor_updates') {
    const d = store.devices.get(data.deviceId);
    if (!d) {
      // A device we have not listed yet: fetch the list once, not per reading.
      clearTimeout(refetchSoon);
      refetchSoon = setTimeout(loadDevices, 500);
      return;
    }
    d.lastReading = { temperature: data.temperature, humidity: data.humidity, timestamp: data.timestamp, insertId: data.insertId };
    // The gateway has just heard from it; its own clock stamps the next device list.
    d.lastSeen = new Date().toISOString();
    store.emit('reading', data);
  } else if (topic === 'device_status') {
    const d = store.devices.get(data.deviceId);
    if (!d) { loadDevices(); return; }
    d.status = data.status;
    d.statusSince = data.at;
    store.emit('status', data);
  } else if (topic === 'system_alerts') {
    if (!data.id) return;
    store.alerts = [data, ...store.alerts.filter((a) => a.id !== data.id)];
    store.emit('alerts');
  } else if (topic.startsWith('devices/')) {
    views.device.onReading(topic, data);
  }
}

function showConnection(state, detail) {
  const el = byId('conn-indicator');
  const words = {
    connecting: 'Connecting…',
    connected: 'Connected',
    reconnecting: `Reconnecting…${detail ? ` (${detail})` : ''}`,
    stopped: 'Not connected',
  };
  el.className = `conn conn-${state}`;
  el.dataset.state = state;
  fill(el, h('span', { class: 'dot', 'aria-hidden': 'true' }), ' ', words[state] || state);
}

store.listen((kind) => {
  if (kind !== 'alerts') return;
  const n = unacknowledgedAlerts().length;
  const badge = byId('alert-count');
  badge.textContent = n ? String(n) : '';
  badge.hidden = n === 0;
});

// ---- boot: resume a session of this tab, or ask for a key -------------------------

(async () => {
  // A login link (keys login-link): #/login/<one-time code> is exchanged for a session token.
  const link = location.hash.match(/^#\/login\/([\w-]+)$/);
  if (link) {
    history.replaceState(null, '', location.pathname + '#/');
    try {
      const response = await fetch('/api/session', {
        method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ code: link[1] }),
      });
      const body = await response.json();
      if (!response.ok) return logout(`${body.title || 'This login link did not work'}. ${body.detail || ''}`);
      session.key = body.token;
    } catch {
      return logout('The gateway did not answer the login link. Is it running and reachable?');
    }
  }
  if (!session.key) return logout('');
  try {
    start(await api('/api/me'));
  } catch (e) {
    if (e.status !== 401) logout(`Could not reach the gateway: ${e.message}`);
  }
})();
