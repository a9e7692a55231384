// Command panel on the device view (technician and admin only): sends a command to the
// device and follows the call through its statuses until it is final.

import { h, fill, localTime, randomId, byId } from '../dom.js';
import { api, enc } from '../api.js';
import { store } from '../store.js';

export const FINAL = new Set(['succeeded', 'failed', 'timeout', 'expired', 'confirmed', 'unconfirmed']);

/** What each status means, in words for someone who is not a programmer. */
export const MEANING = {
  queued: 'waiting until the device is connected',
  sent: 'sent, waiting for the device to answer',
  succeeded: 'the device answered',
  failed: 'the device answered with an error',
  timeout: 'the device did not answer in time',
  expired: 'the device did not come back before the command expired',
  rebooting: 'the device is restarting',
  confirmed: 'the device restarted and is back',
  unconfirmed: 'the device did not come back with a new boot in time',
};

/**
 * A failed call whose error is the gateway's own never reached the device, or lost its
 * answer: the headline says that instead of "the device answered with an error".
 */
const FAILED_BECAUSE = {
  device_offline: 'not sent: the device is not connected',
  device_disconnected: 'the device disconnected before it answered',
  gateway_restarted: 'the gateway restarted while the command was in flight',
};

/** What to do next, for the same reader (the headline already says what happened). */
const ERRORS = {
  device_offline: 'To send it when the device is back, tick “keep the command” and try again.',
  device_disconnected: 'The command was not repeated.',
  gateway_restarted: 'Its answer was lost; send it again if it is still needed.',
  timeout: 'No answer within 5 seconds.',
};

/** The headline's words for a call: what happened, once. */
export function meaningOf(call) {
  if (call.status === 'failed' && FAILED_BECAUSE[call.error]) return FAILED_BECAUSE[call.error];
  return MEANING[call.status] || '';
}

const COMMANDS = [
  { endpoint: 'reboot', label: 'Reboot', confirm: true },
  { endpoint: 'get_sensor_status', label: 'Get sensor status' },
  { endpoint: 'ping', label: 'Ping' },
  { endpoint: 'identify', label: 'Identify (blink LED)' },
];

const POLL_MS = 1000;
const POLL_LIMIT_MS = 15 * 60_000;

/** onSettled(call) runs when a call reaches a final status (a reboot changes the device's boot). */
export function createRpcPanel(deviceId, onSettled = () => {}) {
  const timers = new Set();
  let disposed = false;
  const calls = h('ol', { class: 'calls', 'data-testid': 'rpc-calls', 'aria-live': 'polite' });
  const queue = h('input', { type: 'checkbox', id: 'rpc-persistent', 'data-testid': 'rpc-persistent' });
  const message = h('p', { class: 'muted', role: 'status' });

  const buttons = COMMANDS.map((c) => h('button', {
    type: 'button', 'data-testid': `rpc-${c.endpoint === 'get_sensor_status' ? 'sensor-status' : c.endpoint}`,
    class: c.confirm ? 'danger' : 'secondary',
    onclick: () => (c.confirm ? confirmReboot() : send(c.endpoint)),
  }, c.label));

  const element = h('section', { class: 'rpc', 'aria-labelledby': 'rpc-h', 'data-testid': 'rpc-panel' },
    h('h3', { id: 'rpc-h' }, 'Device commands'),
    h('div', { class: 'toolbar' }, buttons),
    h('p', { class: 'check' }, queue,
      h('label', { for: 'rpc-persistent' }, ' If the device is offline, keep the command for 5 minutes and send it when it is back')),
    message,
    calls);

  function confirmReboot() {
    const dialog = byId('reboot-dialog');
    const d = store.devices.get(deviceId);
    byId('reboot-dialog-name').textContent = d?.name || deviceId;
    dialog.returnValue = '';
    dialog.onclose = () => {
      if (dialog.returnValue === 'reboot') send('reboot');
    };
    dialog.showModal();
  }

  async function send(endpoint) {
    const persistent = queue.checked;
    message.textContent = `Sending ${endpoint}…`;
    try {
      const { body } = await api(`/api/devices/${enc(deviceId)}/rpc`, {
        method: 'POST',
        accept: [202, 504],
        body: { endpoint, data: {}, timeoutMs: 5000, persistent, ttlSeconds: 300, idempotencyKey: randomId() },
      });
      if (disposed) return;
      if (!body || !body.id) {
        message.textContent = `The gateway gave no call for ${endpoint}.`;
        return;
      }
      message.textContent = '';
      track(body);
    } catch (e) {
      message.textContent = e.status === 403 ? 'Your role may not send commands.' : `Could not send ${endpoint}: ${e.message}`;
    }
  }

  function track(call) {
    const item = h('li', { 'data-testid': 'rpc-call', 'data-call-id': call.id });
    calls.prepend(item);
    render(item, call);
    if (FINAL.has(call.status)) {
      onSettled(call);
      return;
    }
    const started = Date.now();
    const timer = setInterval(async () => {
      try {
        const next = await api(`/api/rpc/${enc(call.id)}`);
        render(item, next);
        if (FINAL.has(next.status)) onSettled(next);
        if (FINAL.has(next.status) || Date.now() - started > POLL_LIMIT_MS) stop();
      } catch (e) {
        if (e.status === 401 || e.status === 404) stop();
      }
    }, POLL_MS);
    timers.add(timer);
    function stop() { clearInterval(timer); timers.delete(timer); }
  }

  function render(item, call) {
    const steps = (call.history && call.history.length ? call.history : [{ status: call.status, at: call.updatedAt }]);
    fill(item,
      h('div', { class: 'call-head' },
        h('strong', {}, call.endpoint), ' ',
        h('span', { class: `call-status s-${call.status}`, 'data-testid': 'rpc-status' }, call.status),
        h('span', { class: 'muted', 'data-testid': 'rpc-meaning' }, ` — ${meaningOf(call)}`)),
      h('ol', { class: 'steps', 'aria-label': 'Status history' },
        steps.map((s) => h('li', {}, h('span', {}, s.status), ' ',
          h('time', { datetime: s.at, class: 'muted' }, localTime(s.at))))),
      call.result !== undefined && call.result !== null
        ? h('pre', { class: 'result', 'data-testid': 'rpc-result' }, JSON.stringify(call.result, null, 2)) : null,
      call.error ? h('p', { class: ERRORS[call.error] ? 'muted' : 'error', 'data-testid': 'rpc-error' }, ERRORS[call.error] || String(call.error)) : null);
  }

  return {
    element,
    dispose() {
      disposed = true;
      for (const t of timers) clearInterval(t);
      timers.clear();
    },
  };
}
