// Runs inside Chromium. Drives real CometD (npm `cometd`, ES modules) and Faye (npm `faye`,
// browser bundle) clients for the browser tests, exposed as `window.harness`.
//
// Each client is forced onto one transport and records, for every message it receives, the
// transport that delivered it, so a test cannot pass on a fallback:
//  - CometD: every transport but the one under test is unregistered, so the client has
//    nothing to fall back to; `getTransport().getType()` is recorded at each delivery.
//  - Faye: every transport but the one under test is disabled, except the one Faye needs
//    for its HTTP handshake (long-polling same-origin, callback-polling cross-origin), which
//    comes after the tested one in Faye's order. Faye's own logger (`Faye.logger`) writes
//    `Client <id> received from <url> via <connectionType>: <replies>` for every batch a
//    transport receives; that names the transport that delivered each message.

import { CometD } from './cometd/cometd.js';

const Faye = window.Faye;
const FAYE_TYPES = ['websocket', 'eventsource', 'long-polling', 'cross-origin-long-polling', 'callback-polling'];
const RECEIVED_VIA = /^\[Faye[^\]]*\] Client "([^"]*)" received from "[^"]*" via "([^"]*)": ([\s\S]*)$/;

const clients = new Map();
const fayeLog = [];
const fayeDeliveries = new Map(); // `${clientId} ${tag}` -> connectionType that delivered it
let nextId = 0;

function fayeLine(level, line) {
  if (fayeLog.length < 5000) fayeLog.push(`${level} ${line}`);
  const m = RECEIVED_VIA.exec(line);
  if (!m) return;
  let replies;
  try { replies = JSON.parse(m[3]); } catch { return; }
  for (const reply of [].concat(replies)) {
    if (reply && reply.data && typeof reply.data.tag === 'string') {
      fayeDeliveries.set(`${m[1]} ${reply.data.tag}`, m[2]);
    }
  }
}
if (Faye) {
  Faye.logger = Object.fromEntries(['fatal', 'error', 'warn', 'info', 'debug']
    .map((level) => [level, (line) => fayeLine(level, line)]));
}

function sameOrigin(url) {
  return new URL(url, location.href).origin === location.origin;
}

function within(ms, what, promise, details) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}${details ? `; ${details()}` : ''}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

class Client {
  constructor({ kind, transport, url, name }) {
    this.id = ++nextId;
    this.kind = kind;
    this.transport = transport;
    this.url = url;
    this.name = name;
    this.received = [];   // { channel, data, via }
    this.connects = [];   // connectionType of every /meta/connect this client sent
    this.failures = [];   // unsuccessful meta replies
    this.notes = [];
    this.clientId = null;
  }

  info() {
    return {
      id: this.id, kind: this.kind, name: this.name, asked: this.transport, url: this.url,
      pageOrigin: location.origin, sameOrigin: sameOrigin(this.url),
      clientId: this.clientId, current: this.currentTransport(), connects: this.connects,
      failures: this.failures, notes: this.notes, received: this.received.length,
    };
  }

  async waitFor(count, prefix, ms) {
    const matching = () => this.received.filter((r) => r.channel.startsWith(prefix));
    await within(ms, `${this.name} (${this.kind}/${this.transport}) waiting for ${count} messages on ${prefix}*`, new Promise((resolve) => {
      const check = () => (matching().length >= count ? resolve() : setTimeout(check, 20));
      check();
    }), () => `got ${JSON.stringify(matching())}; client ${JSON.stringify(this.info())}`);
    return matching();
  }
}

class CometDClient extends Client {
  async open(ms) {
    const cometd = new CometD(`${this.name}-${this.id}`);
    this.cometd = cometd;
    const offered = cometd.getTransportTypes();
    this.notes.push(`offered: ${offered.join(',')}`);
    if (!offered.includes(this.transport)) {
      throw new Error(`CometD in this browser offers [${offered}], not ${this.transport}`);
    }
    for (const type of offered) if (type !== this.transport) cometd.unregisterTransport(type);
    const left = cometd.getTransportTypes();
    if (left.length !== 1 || left[0] !== this.transport) throw new Error(`could not leave only ${this.transport}: [${left}]`);

    cometd.configure({ url: this.url, logLevel: 'warn' });
    cometd.registerExtension('herald-browser-test', {
      outgoing: (message) => {
        if (message.channel === '/meta/connect') this.connects.push(message.connectionType);
        return message;
      },
      incoming: (message) => {
        if (message.channel && message.channel.startsWith('/meta/') && message.successful === false) {
          this.failures.push(message);
        }
        return message;
      },
    });

    const connected = new Promise((resolve) => {
      cometd.addListener('/meta/connect', (reply) => { if (reply.successful) resolve(); });
    });
    const handshake = new Promise((resolve, reject) => {
      cometd.handshake((reply) => (reply.successful ? resolve(reply)
        : reject(new Error(`handshake failed: ${JSON.stringify(reply)}`))));
    });
    const reply = await within(ms, `CometD ${this.name} handshake over ${this.transport}`, handshake, () => JSON.stringify(this.info()));
    this.clientId = reply.clientId;
    await within(ms, `CometD ${this.name} first successful /meta/connect over ${this.transport}`, connected, () => JSON.stringify(this.info()));
    return this.info();
  }

  currentTransport() {
    const t = this.cometd && this.cometd.getTransport();
    return t ? t.type : null;
  }

  subscribe(channel, ms) {
    return within(ms, `CometD ${this.name} subscribe ${channel}`, new Promise((resolve, reject) => {
      this.cometd.subscribe(channel, (message) => {
        this.received.push({ channel: message.channel, data: message.data, via: this.currentTransport() });
      }, (reply) => (reply.successful ? resolve() : reject(new Error(`subscribe ${channel} failed: ${JSON.stringify(reply)}`))));
    }));
  }

  publish(channel, items, ms) {
    const acks = items.map((data) => new Promise((resolve, reject) => {
      this.cometd.publish(channel, data, (reply) => (reply.successful ? resolve()
        : reject(new Error(`publish to ${channel} failed: ${JSON.stringify(reply)}`))));
    }));
    return within(ms, `CometD ${this.name} publish acks on ${channel}`, Promise.all(acks));
  }

  close(ms) {
    if (this.cometd.isDisconnected()) return Promise.resolve();
    return within(ms, `CometD ${this.name} disconnect`, new Promise((resolve) => this.cometd.disconnect(() => resolve())))
      .catch(() => {});
  }
}

class FayeClient extends Client {
  async open(ms) {
    if (!Faye) throw new Error('Faye browser bundle did not load');
    const same = sameOrigin(this.url);
    if (['long-polling', 'eventsource'].includes(this.transport) && !same) {
      throw new Error(`Faye uses ${this.transport} only for a same-origin endpoint; page ${location.origin}, endpoint ${this.url}`);
    }
    if (this.transport === 'cross-origin-long-polling' && same) {
      throw new Error(`Faye uses cross-origin-long-polling only for another origin; page ${location.origin}, endpoint ${this.url}`);
    }
    // Faye's handshake goes over long-polling or callback-polling; keep the one that works
    // from this origin unless it is the transport under test.
    const carrier = same ? 'long-polling' : 'callback-polling';
    const keep = new Set([this.transport]);
    if (this.transport !== 'long-polling' && this.transport !== 'callback-polling') keep.add(carrier);
    const client = new Faye.Client(this.url, { timeout: 60, retry: 1 });
    this.client = client;
    this.disabled = FAYE_TYPES.filter((t) => !keep.has(t));
    for (const type of this.disabled) client.disable(type);
    this.notes.push(`disabled: ${this.disabled.join(',')}`);

    const connectIds = new Map();
    let onConnected;
    const connected = new Promise((resolve) => { onConnected = resolve; });
    client.addExtension({
      outgoing: (message, callback) => {
        if (message.channel === '/meta/connect') {
          this.connects.push(message.connectionType);
          connectIds.set(message.id, message.connectionType);
        }
        callback(message);
      },
      incoming: (message, callback) => {
        if (message.channel && message.channel.startsWith('/meta/')) {
          if (message.successful === false) this.failures.push(message);
          if (message.channel === '/meta/handshake' && message.successful) this.clientId = message.clientId;
          if (message.channel === '/meta/connect' && message.successful
              && connectIds.get(message.id) === this.transport) onConnected();
        }
        callback(message);
      },
    });
    client.connect();
    await within(ms, `Faye ${this.name} handshake and a successful /meta/connect over ${this.transport}`, connected,
      () => `${JSON.stringify(this.info())}; last Faye log lines: ${JSON.stringify(fayeLog.slice(-15))}`);
    return this.info();
  }

  currentTransport() {
    return this.client && this.client._dispatcher ? this.client._dispatcher.connectionType : null;
  }

  subscribe(channel, ms) {
    const subscription = this.client.subscribe(channel).withChannel((name, data) => {
      const via = fayeDeliveries.get(`${this.clientId} ${data && data.tag}`) || null;
      this.received.push({ channel: name, data, via });
    });
    return within(ms, `Faye ${this.name} subscribe ${channel}`, new Promise((resolve, reject) => {
      subscription.then(() => resolve(), (error) => reject(new Error(`subscribe ${channel} failed: ${error && error.message}`)));
    }));
  }

  publish(channel, items, ms) {
    const acks = items.map((data) => new Promise((resolve, reject) => {
      this.client.publish(channel, data).then(() => resolve(),
        (error) => reject(new Error(`publish to ${channel} failed: ${error && error.message}`)));
    }));
    return within(ms, `Faye ${this.name} publish acks on ${channel}`, Promise.all(acks));
  }

  close(ms) {
    const done = this.client.disconnect();
    if (!done) return Promise.resolve();
    return within(ms, `Faye ${this.name} disconnect`, new Promise((resolve) => done.then(resolve, resolve))).catch(() => {});
  }
}

function client(id) {
  const c = clients.get(id);
  if (!c) throw new Error(`no client ${id}`);
  return c;
}

window.harness = {
  async open(options) {
    const Kind = { cometd: CometDClient, faye: FayeClient }[options.kind];
    if (!Kind) throw new Error(`unknown client kind ${options.kind}`);
    const c = new Kind(options);
    clients.set(c.id, c);
    await c.open(options.timeoutMs);
    return c.id;
  },
  info: (id) => client(id).info(),
  subscribe: (id, channel, ms) => client(id).subscribe(channel, ms),
  publish: (id, channel, items, ms) => client(id).publish(channel, items, ms),
  waitFor: (id, count, prefix, ms) => client(id).waitFor(count, prefix, ms),
  close: async (id) => { await client(id).close(3000); clients.delete(id); },
  closeAll: async () => { await Promise.all([...clients.keys()].map((id) => window.harness.close(id))); },
  fayeLog: () => fayeLog.slice(),
};
window.harnessReady = true;
document.getElementById('status').textContent = 'ready';
