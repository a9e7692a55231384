// What the page knows about the fleet, shared by the views. The API fills it, the
// WebSocket keeps it current; views listen for changes instead of polling.

const listeners = new Set();

export const store = {
  me: null,                 // { name, role }
  devices: new Map(),       // deviceId → device object from /api/devices
  alerts: [],               // alert objects, newest first
  // Sensor health judged by the gateway over a window (GET /api/alerts/sensors).
  sensors: { windowSeconds: 0, failureRate: 0.05, byDevice: new Map() },

  /** kind: 'devices' | 'device' | 'reading' | 'status' | 'alerts' | 'sensors'; detail depends on kind. */
  emit(kind, detail) { for (const fn of listeners) fn(kind, detail); },
  listen(fn) { listeners.add(fn); },

  clear() {
    this.me = null;
    this.devices.clear();
    this.alerts = [];
    this.sensors = { windowSeconds: 0, failureRate: 0.05, byDevice: new Map() };
  },
};

const RANK = { viewer: 1, technician: 2, admin: 3 };

/** True when the logged-in role is at least `role` (viewer < technician < admin). */
export function hasRole(role) {
  return (RANK[store.me?.role] || 0) >= RANK[role];
}

export function sortedDevices() {
  return [...store.devices.values()].sort((a, b) =>
    (a.name || a.deviceId).localeCompare(b.name || b.deviceId));
}

export function activeAlerts() {
  return store.alerts.filter((a) => a.state === 'active');
}

/** Active alerts nobody has acknowledged yet: what the badge counts. */
export function unacknowledgedAlerts() {
  return activeAlerts().filter((a) => !a.acknowledgedBy);
}

/** Active first, then newest first: what needs attention is on top. */
export function sortedAlerts() {
  return [...store.alerts].sort((a, b) =>
    (a.state === 'active' ? 0 : 1) - (b.state === 'active' ? 0 : 1)
    || String(b.raisedAt).localeCompare(String(a.raisedAt)));
}
