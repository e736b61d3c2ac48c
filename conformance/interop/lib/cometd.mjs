// A thin promise-based wrapper around the real npm `cometd` client (9.x, ES modules),
// run under Node through `cometd-nodejs-client` (which installs `window.XMLHttpRequest`
// and `window.WebSocket` globals).
//
// Transport: each peer is made for one transport (`{ transport }`, see TRANSPORTS) and, once
// connected, checks that the client really negotiated it (`getTransport().type`), so that a
// silent fallback fails the test instead of passing over another transport.

import { adapt } from 'cometd-nodejs-client';
import { CometD } from 'cometd';
import { describeFrames, installSocketRecorder, isOpen, sockets } from './cometd-sockets.mjs';
import { BAYEUX_URL, DEBUG, WAIT_MS } from './env.mjs';
import { Peer, Refused } from './peer.mjs';
import { Recorder, withTimeout } from './wait.mjs';

adapt();
installSocketRecorder();

let counter = 0;

/**
 * The transports a CometdPeer can be made for, and which of the client's three transports
 * stay registered for each (the client offers the registered ones, in its own order:
 * websocket, long-polling, callback-polling).
 * - `websocket`, the client's default: long-polling stays registered as the fallback the
 *   client would normally have; callback-polling is dropped (it needs a DOM).
 * - `long-polling`: the only one registered.
 * - `callback-polling` (JSONP): the only one registered; it inserts `<script>` tags into
 *   `window.document`, so it needs a DOM whose scripts are really fetched (lib/dom.mjs).
 */
const TRANSPORTS = {
  websocket: ['websocket', 'long-polling'],
  'long-polling': ['long-polling'],
  'callback-polling': ['callback-polling'],
};

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

export class CometdPeer extends Peer {
  static kind = 'cometd';
  kind = 'cometd';

  /** Replies to /meta/connect, including locally generated failures. */
  connects;
  /** Warnings the client logged (e.g. "Unknown Bayeux Message"). */
  logs = [];

  #closed = false;

  /**
   * `transport`: see TRANSPORTS. `url`: the endpoint (a proxy in front of the server, say).
   * `extensions`: the client's own extensions to register, by name (e.g. `{ ack: new
   * AckExtension() }`). `config`: more of the client's settings (e.g. `{ maxBackoff: 500 }`).
   * `handshakeProps`: fields added to the handshake (e.g. `{ ext: { token } }`).
   */
  constructor(
    name = `cometd-${++counter}`,
    { url = BAYEUX_URL, transport = 'websocket', extensions = {}, config = {}, handshakeProps = {} } = {},
  ) {
    const registered = TRANSPORTS[transport];
    if (!registered) throw new Error(`CometdPeer: unknown transport ${JSON.stringify(transport)}`);
    if (transport === 'callback-polling' && !globalThis.window?.document) {
      throw new Error('CometdPeer: callback-polling needs window.document: import lib/dom.mjs before lib/cometd.mjs');
    }
    super(name, { url, transport });
    this.connects = new Recorder(`${name} /meta/connect replies`);

    const client = new RecordingCometD(name, (level, args) => this.logs.push({ level, args }));
    for (const type of client.getTransportTypes()) {
      if (!registered.includes(type)) client.unregisterTransport(type);
    }
    client.configure({ url, logLevel: DEBUG ? 'debug' : 'warn', ...config });
    for (const [extensionName, extension] of Object.entries(extensions)) client.registerExtension(extensionName, extension);
    this.handshakeProps = handshakeProps;
    client.registerExtension('interop-recorder', {
      incoming: (m) => {
        this.recordIncoming(m, ownRealm);
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
   * Waits until the client reports a failed /meta/connect after the `from`-th reply (its
   * connection broke): what it tells its /meta/connect listeners, locally generated.
   */
  waitForDrop(from = this.connects.length) {
    return this.connects.waitFor(
      (m, i) => i >= from && m.successful === false,
      `${this.name}: the client to report its /meta/connect failed (connection lost)`,
    );
  }

  /** Waits until a /meta/connect succeeds again after the last failed one (reconnected). */
  waitForReconnect() {
    const failed = this.connects.items.findLastIndex((m) => m.successful === false);
    return this.connects.waitFor(
      (m, i) => i > failed && m.successful === true,
      `${this.name}: a successful /meta/connect after the failed one (reconnected)`,
    );
  }

  /** The transport the client is using now. */
  get transportInUse() {
    return this.client.getTransport()?.type;
  }

  /**
   * Fails unless the client negotiated the peer's transport (while connected) and sent every
   * /meta/connect with it as `connectionType`: a fallback is a failure, not a pass.
   */
  assertTransport() {
    const inUse = this.transportInUse;
    // After a disconnect the client has no transport any more: only the connects tell.
    if (!this.client.isDisconnected() && inUse !== this.transport) {
      throw new Error(`${this.name}: made for ${this.transport}, but the client is using ${inUse} (silent fallback)`);
    }
    const others = this.outgoing.filter((m) => m.channel === '/meta/connect' && m.connectionType !== this.transport);
    if (others.length > 0) {
      throw new Error(`${this.name}: /meta/connect sent with another connectionType: ${JSON.stringify(others[0])}`);
    }
  }

  get clientId() {
    return this.client.getClientId();
  }

  /** Handshake; resolves with the successful handshake reply after the first connect succeeded. */
  async connect() {
    const reply = await withTimeout(
      new Promise((resolve, reject) => {
        this.client.handshake(this.handshakeProps, (m) => {
          if (m.successful) resolve(m);
          else reject(new Refused(`${this.name}: handshake failed: ${describe(m)}`, m));
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
    this.assertTransport();
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
          (m) => messages.push({ channel: m.channel, data: ownRealm(m.data) }),
          (reply) => {
            if (reply.successful) resolve(reply);
            else reject(new Refused(`${this.name}: subscribe to ${channel} failed: ${describe(reply)}`, reply));
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
        else reject(new Refused(`${this.name}: publish to ${channel} failed: ${describe(reply)}`, reply));
      });
    });
  }

  /**
   * Disconnects; resolves with the /meta/disconnect reply (rejects when unsuccessful), once
   * the WebSocket, if any, has settled (see #settleSockets).
   */
  async disconnect() {
    const reply = await withTimeout(
      new Promise((resolve) => this.client.disconnect((m) => resolve(m))),
      `${this.name}: /meta/disconnect reply`,
    );
    if (!reply.successful) throw new Error(`${this.name}: disconnect failed: ${describe(reply)}`);
    this.#closed = true;
    await this.#settleSockets();
    return reply;
  }

  /** Best-effort cleanup: disconnect unless already disconnected; never throws. */
  async close() {
    if (this.#closed) return;
    this.#closed = true;
    if (!this.client.isDisconnected()) {
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
    await this.#settleSockets();
  }

  /** The WebSockets this client opened (recorded on the wire, lib/cometd-sockets.mjs). */
  sockets() {
    const ids = new Set(this.incoming.filter((m) => m.channel === '/meta/handshake' && m.clientId).map((m) => m.clientId));
    return sockets.filter((r) => [...r.clientIds].some((id) => ids.has(id)));
  }

  /**
   * WebSockets the client left open after its disconnect, with their frames (text): set by
   * disconnect()/close(). The CometD client closes its socket itself when the
   * /meta/disconnect reply comes while no /meta/connect is outstanding, i.e. when the server
   * answers the held /meta/connect before (CometD's server does); otherwise it never does.
   */
  socketsLeftOpen = [];

  /**
   * After a disconnect: waits (bounded) until its last /meta/connect got its reply (the
   * server answers a held one at once on disconnect, DISC-2; over HTTP it may come after
   * the disconnect reply, on its own request, and the client keeps a timer for it until
   * then), lets the client act on the replies, then records in `socketsLeftOpen` the
   * WebSockets the client did not close, and closes them so that node can exit (the test
   * about it asserts on `socketsLeftOpen`).
   */
  async #settleSockets() {
    const last = this.outgoing.filter((m) => m.channel === '/meta/connect').pop();
    if (last) {
      try {
        await this.incoming.waitFor(
          (m) => m.channel === '/meta/connect' && m.id === last.id,
          `the reply to the last /meta/connect (id ${last.id}) after the disconnect`,
          3_000,
        );
      } catch (e) {
        process.stderr.write(`interop cleanup: ${this.name}: ${e.message}\n`);
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
    for (const r of this.sockets()) {
      if (!isOpen(r)) continue;
      this.socketsLeftOpen.push(`socket #${r.n}: ${describeFrames(r, Math.max(0, r.frames.length - 4))}`);
      r.socket.terminate();
    }
  }

  /** Warnings logged by the client itself, as text (for assertion messages). */
  warnings() {
    return this.logs.map((l) => `${l.level}: ${l.args.map(safeText).join(' ')}`);
  }
}

/**
 * Over callback-polling the replies are parsed by the script jsdom runs, so their objects
 * belong to the window's realm (another Object.prototype): a copy in this realm, for the
 * assertions (deepStrictEqual compares prototypes). Other values are returned as they are.
 */
function ownRealm(value) {
  if (value !== null && typeof value === 'object' && !(value instanceof Object)) {
    return JSON.parse(JSON.stringify(value));
  }
  return value;
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
