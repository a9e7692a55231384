// The page's WebSocket session with the gateway (protocol v1): welcome → handshake →
// auth → subscribe, heartbeats, and reconnection with backoff. Subscriptions are kept
// here so they are renewed after every reconnect.

const FIRST_DELAY_MS = 1000;
const MAX_DELAY_MS = 30000;

export class LiveConnection {
  /**
   * @param {object} o
   * @param {() => string} o.token        the API key, read at each (re)connect
   * @param {(topic: string, data: any) => void} o.onPublish
   * @param {(state: string, detail?: string) => void} o.onState  connecting | connected | reconnecting | stopped
   * @param {() => void} o.onAuthFailed
   * @param {() => void} [o.onReady]     after auth and every subscription confirmed: the page refetches what it may have missed
   */
  constructor(o) {
    this.o = o;
    this.topics = new Set();
    this.ws = null;
    this.ready = false;
    this.attempt = 0;
    this.stopped = true;
    this.heartbeatTimer = null;
    this.retryTimer = null;
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.clearHeartbeat();
    if (this.ws) this.ws.close(1000, 'logout');
    this.ws = null;
    this.ready = false;
    this.o.onState('stopped');
  }

  subscribe(topic) {
    if (this.topics.has(topic)) return;
    this.topics.add(topic);
    if (this.ready) this.send({ type: 'subscribe', topic });
  }

  unsubscribe(topic) {
    if (!this.topics.delete(topic)) return;
    if (this.ready) this.send({ type: 'unsubscribe', topic });
  }

  connect() {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    this.o.onState(this.attempt === 0 ? 'connecting' : 'reconnecting');
    const ws = new WebSocket(`${scheme}//${location.host}/ws`);
    this.ws = ws;
    ws.onmessage = (event) => this.receive(ws, event.data);
    ws.onclose = (event) => this.closed(ws, event);
    // onerror is always followed by onclose, which handles the retry.
  }

  send(message) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
  }

  receive(ws, text) {
    if (ws !== this.ws) return;
    let msg;
    try { msg = JSON.parse(text); } catch { return; }
    switch (msg.type) {
      case 'welcome':
        this.startHeartbeat(msg.heartbeatInterval);
        this.send({ type: 'handshake', clientType: 'application', capabilities: ['dashboard'], version: '1.0.0' });
        if (msg.authRequired === false) this.authenticated();
        else this.send({ type: 'auth', token: this.o.token() });
        break;
      case 'auth_response':
        if (msg.success) this.authenticated();
        else {
          this.stop();
          this.o.onAuthFailed();
        }
        break;
      case 'publish':
        this.o.onPublish(msg.topic, msg.data);
        break;
      case 'subscribe_response':
        // A refused topic counts as answered too: the page refetches either way.
        this.confirmed(msg.topic);
        break;
      case 'error':
        console.warn('gateway error', msg.code, msg.message);
        break;
      default:
        break; // handshake_response, unsubscribe_response, heartbeat_response: nothing to do
    }
  }

  authenticated() {
    this.ready = true;
    this.attempt = 0;
    // onReady waits for every subscription to be confirmed: a refetch sent sooner could miss what is
    // published between the fetch and the subscription taking effect.
    this.unconfirmed = new Set(this.topics);
    for (const topic of this.topics) this.send({ type: 'subscribe', topic });
    this.o.onState('connected');
    this.confirmed(null);
  }

  confirmed(topic) {
    if (!this.unconfirmed) return;
    this.unconfirmed.delete(topic);
    if (this.unconfirmed.size > 0) return;
    this.unconfirmed = null;
    if (this.o.onReady) this.o.onReady();
  }

  closed(ws, event) {
    if (ws !== this.ws) return;
    this.ws = null;
    this.ready = false;
    this.clearHeartbeat();
    if (this.stopped) return;
    if (event.code === 4401) {
      this.stop();
      this.o.onAuthFailed();
      return;
    }
    // Exponential backoff with jitter, so a fleet of open tabs does not reconnect in step
    // after a gateway restart: half the delay fixed, half random.
    const base = Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** this.attempt);
    const delay = base / 2 + Math.random() * base / 2;
    this.attempt++;
    this.o.onState('reconnecting', `retry in ${Math.ceil(delay / 1000)} s`);
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  startHeartbeat(intervalMs) {
    this.clearHeartbeat();
    const every = Number(intervalMs) > 0 ? Number(intervalMs) : 30000;
    this.heartbeatTimer = setInterval(() => this.send({ type: 'heartbeat', timestamp: Date.now() }), every);
  }

  clearHeartbeat() {
    clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = null;
  }
}
