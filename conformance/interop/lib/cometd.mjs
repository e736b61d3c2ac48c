// A thin promise-based wrapper around the real npm `cometd` client (9.x, ES modules),
// run under Node through `cometd-nodejs-client` (which installs `window.XMLHttpRequest`
// and `window.WebSocket` globals).
//
// Transport: herald's first version offers only `long-polling`, so every client here
// unregisters `websocket` (and `callback-polling`, which needs a browser DOM) and so
// offers exactly ["long-polling"] in its handshake. A later herald issue adds WebSocket;
// then a `{ transport: 'websocket' }` variant can be added here.

import { adapt } from 'cometd-nodejs-client';
import { CometD } from 'cometd';
import { BAYEUX_URL, DEBUG, WAIT_MS } from './env.mjs';
import { Recorder, withTimeout } from './wait.mjs';

adapt();

let counter = 0;

/** CometD subclass that keeps the client's own warnings instead of only printing them. */
class RecordingCometD extends CometD {
  constructor(name, onLog) {
    super(name);
    this._onLog = onLog;
  }
  _warn(...args) {
    this._onLog('warn', args);
    super._warn(...args);
  }
  _info(...args) {
    // The client reports exceptions thrown by callbacks/listeners at "info" level.
    if (args.some((a) => a instanceof Error)) this._onLog('info', args);
    super._info(...args);
  }
}

function describe(message) {
  if (!message) return String(message);
  const parts = [];
  if (message.error) parts.push(`error=${JSON.stringify(message.error)}`);
  if (message.failure) parts.push(`failure=${JSON.stringify(message.failure.reason ?? message.failure)}`);
  if (message.advice) parts.push(`advice=${JSON.stringify(message.advice)}`);
  return `${JSON.stringify(message.channel)} successful=${message.successful} ${parts.join(' ')}`.trim();
}

export class CometdPeer {
  static kind = 'cometd';
  kind = 'cometd';

  /** Every message the server sent to this client, after JSON parsing (incoming extension). */
  incoming;
  /** Every message this client sent (outgoing extension). */
  outgoing;
  /** Non-meta messages the server delivered (what subscribers got), as `{channel, data}`. */
  deliveries;
  /** Replies to /meta/connect, including locally generated failures. */
  connects;
  /** Warnings the client logged (e.g. "Unknown Bayeux Message"). */
  logs = [];

  #closed = false;

  constructor(name = `cometd-${++counter}`, { url = BAYEUX_URL } = {}) {
    this.name = name;
    this.url = url;
    this.incoming = new Recorder(`${name} incoming`);
    this.outgoing = new Recorder(`${name} outgoing`);
    this.deliveries = new Recorder(`${name} deliveries`);
    this.connects = new Recorder(`${name} /meta/connect replies`);

    const client = new RecordingCometD(name, (level, args) => this.logs.push({ level, args }));
    client.unregisterTransport('websocket');
    client.unregisterTransport('callback-polling');
    client.configure({ url, logLevel: DEBUG ? 'debug' : 'warn' });
    client.registerExtension('interop-recorder', {
      incoming: (m) => {
        this.incoming.push(m);
        if (typeof m.channel === 'string' && !m.channel.startsWith('/meta/') && m.data !== undefined) {
          this.deliveries.push({ channel: m.channel, data: m.data });
        }
        return m;
      },
      outgoing: (m) => {
        this.outgoing.push(m);
        return m;
      },
    });
    client.addListener('/meta/connect', (m) => this.connects.push(m));
    this.client = client;
  }

  /**
   * Creates a peer, handshakes and waits for its first successful /meta/connect reply.
   * With a node:test context `t`, the peer is disconnected when the test ends.
   */
  static async open(t, name) {
    const peer = new CometdPeer(name);
    if (t) t.after(() => peer.close());
    await peer.connect();
    return peer;
  }

  get clientId() {
    return this.client.getClientId();
  }

  /** Handshake; resolves with the successful handshake reply after the first connect succeeded. */
  async connect() {
    const reply = await withTimeout(
      new Promise((resolve, reject) => {
        this.client.handshake((m) => {
          if (m.successful) resolve(m);
          else reject(new Error(`${this.name}: handshake failed: ${describe(m)}`));
        });
      }),
      `${this.name}: /meta/handshake reply`,
    );
    try {
      await this.connects.waitFor((m) => m.successful === true, 'a successful /meta/connect reply');
    } catch (e) {
      // The client drops a /meta/connect reply whose id is not the one it is waiting for,
      // without telling its listeners: show what was on the wire.
      const sent = this.outgoing.filter((m) => m.channel === '/meta/connect').map((m) => m.id);
      const got = this.incoming.filter((m) => m.channel === '/meta/connect');
      e.message += `; /meta/connect ids sent: ${JSON.stringify(sent)}; /meta/connect replies on the wire: ${JSON.stringify(got).slice(0, 600)}`;
      throw e;
    }
    return reply;
  }

  /**
   * Subscribes; resolves (after the server's successful reply) with a handle whose
   * `messages` records `{channel, data}` for every message the client routes to it.
   */
  async subscribe(channel) {
    const messages = new Recorder(`${this.name} subscription ${channel}`);
    let sub;
    await withTimeout(
      new Promise((resolve, reject) => {
        sub = this.client.subscribe(
          channel,
          (m) => messages.push({ channel: m.channel, data: m.data }),
          (reply) => {
            if (reply.successful) resolve(reply);
            else reject(new Error(`${this.name}: subscribe to ${channel} failed: ${describe(reply)}`));
          },
        );
      }),
      `${this.name}: /meta/subscribe reply for ${channel}`,
    );
    return { channel, sub, messages };
  }

  async unsubscribe(handle) {
    return withTimeout(
      new Promise((resolve, reject) => {
        this.client.unsubscribe(handle.sub, (reply) => {
          if (reply.successful) resolve(reply);
          else reject(new Error(`${this.name}: unsubscribe from ${handle.channel} failed: ${describe(reply)}`));
        });
      }),
      `${this.name}: /meta/unsubscribe reply for ${handle.channel}`,
    );
  }

  /** Publishes; resolves with the server's acknowledgement (rejects when unsuccessful). */
  publish(channel, data, ms = WAIT_MS) {
    return withTimeout(this.publishUnbounded(channel, data), `${this.name}: publish ack on ${channel}`, ms);
  }

  /** Same as publish() without its own timer (for bursts; bound the aggregate instead). */
  publishUnbounded(channel, data) {
    return new Promise((resolve, reject) => {
      this.client.publish(channel, data, (reply) => {
        if (reply.successful) resolve(reply);
        else reject(new Error(`${this.name}: publish to ${channel} failed: ${describe(reply)}`));
      });
    });
  }

  /** Disconnects; resolves with the /meta/disconnect reply (rejects when unsuccessful). */
  async disconnect() {
    const reply = await withTimeout(
      new Promise((resolve) => this.client.disconnect((m) => resolve(m))),
      `${this.name}: /meta/disconnect reply`,
    );
    if (!reply.successful) throw new Error(`${this.name}: disconnect failed: ${describe(reply)}`);
    this.#closed = true;
    return reply;
  }

  /** Best-effort cleanup: disconnect unless already disconnected; never throws. */
  async close() {
    if (this.#closed) return;
    this.#closed = true;
    if (this.client.isDisconnected()) return;
    try {
      await withTimeout(
        new Promise((resolve) => this.client.disconnect(() => resolve())),
        `${this.name}: /meta/disconnect reply (cleanup)`,
        3_000,
      );
    } catch (e) {
      process.stderr.write(`interop cleanup: ${e.message}\n`);
    }
  }

  /** Warnings logged by the client itself, as text (for assertion messages). */
  warnings() {
    return this.logs.map((l) => `${l.level}: ${l.args.map(safeText).join(' ')}`);
  }
}

function safeText(value) {
  if (value instanceof Error) return value.stack || String(value);
  if (typeof value === 'string') return value;
  try {
    return JSON.stringify(value);
  } catch {
    return String(value);
  }
}
