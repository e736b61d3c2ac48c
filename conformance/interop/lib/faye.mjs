// A thin promise-based wrapper around the real npm `faye` client (1.4.x) under Node.
//
// Transport: the Node Faye client always handshakes over HTTP (a JSON POST), warming a trial
// WebSocket meanwhile, then moves to `websocket` when the handshake reply lists it and the
// socket opened: its default, `{ transport: 'websocket' }` here. `{ transport: 'long-polling' }`
// calls `disable('websocket')`, which makes Faye skip WebSocket entirely and stay on HTTP
// long-polling. Once connected, a peer checks the `connectionType` of every /meta/connect
// it sent, so that a silent fallback fails the test.

import faye from 'faye';
import { BAYEUX_URL, DEBUG, WAIT_MS } from './env.mjs';
import { Peer, Refused } from './peer.mjs';
import { Recorder, withTimeout } from './wait.mjs';

/** Errors and warnings Faye logged (its logger is process-wide, not per client). */
export const fayeLogs = [];
faye.logger = {
  error: (text) => {
    fayeLogs.push({ level: 'error', text });
    if (DEBUG) console.error(text);
  },
  warn: (text) => {
    fayeLogs.push({ level: 'warn', text });
    if (DEBUG) console.warn(text);
  },
  ...(DEBUG ? { info: (text) => console.log(text), debug: (text) => console.log(text) } : {}),
};

let counter = 0;

/** The transports the Node Faye client can use against a remote server. */
const TRANSPORTS = ['websocket', 'long-polling'];

function fayeError(err) {
  if (!err) return String(err);
  if (err instanceof Error) return err.message;
  // Faye rejects with Faye.Error.parse(reply.error): { code, params, message }
  if (typeof err === 'object' && 'code' in err) return `${err.code}:${(err.params || []).join(',')}:${err.message}`;
  return JSON.stringify(err);
}

export class FayePeer extends Peer {
  static kind = 'faye';
  kind = 'faye';

  /** The clientId from the last successful handshake reply. */
  clientId = null;
  /** The client's 'transport:down' and 'transport:up' events, as 'down' and 'up'. */
  transportEvents = new Recorder(`${this.name} transport events`);

  #closed = false;

  /**
   * `transport`: `websocket` (Faye's Node default) or `long-polling`. `url`: the endpoint
   * (a proxy in front of the server, say). `clientOptions`: options for `new Faye.Client`
   * (e.g. `{ retry: 1 }`, seconds before a failed request is sent again; Faye's default 5).
   */
  constructor(
    name = `faye-${++counter}`,
    { url = BAYEUX_URL, transport = 'websocket', clientOptions = {}, handshakeExt = null } = {},
  ) {
    if (!TRANSPORTS.includes(transport)) throw new Error(`FayePeer: unknown transport ${JSON.stringify(transport)}`);
    super(name, { url, transport });

    const client = new faye.Client(url, clientOptions);
    if (transport === 'long-polling') client.disable('websocket');
    client.addExtension({
      incoming: (m, callback) => {
        this.recordIncoming(m);
        if (m.channel === '/meta/handshake' && m.successful) this.clientId = m.clientId;
        callback(m);
      },
      outgoing: (m, callback) => {
        if (handshakeExt && m.channel === '/meta/handshake') m.ext = { ...m.ext, ...handshakeExt };
        this.outgoing.push(m);
        callback(m);
      },
    });
    this.transportUp = new Promise((resolve) => client.bind('transport:up', () => resolve()));
    client.bind('transport:down', () => this.transportEvents.push('down'));
    client.bind('transport:up', () => this.transportEvents.push('up'));
    this.client = client;
  }

  /** Waits until the client reports 'transport:down' after the `from`-th transport event. */
  waitForDrop(from = this.transportEvents.length) {
    return this.transportEvents.waitFor(
      (e, i) => i >= from && e === 'down',
      `${this.name}: the client's 'transport:down' event (connection lost)`,
    );
  }

  /** Waits until the client reports 'transport:up' after its last 'transport:down'. */
  waitForReconnect() {
    const down = this.transportEvents.items.lastIndexOf('down');
    return this.transportEvents.waitFor(
      (e, i) => i > down && e === 'up',
      `${this.name}: 'transport:up' after 'transport:down' (reconnected)`,
    );
  }

  /** The connection type of the transport the client is using now. */
  get transportInUse() {
    return this.client._dispatcher.connectionType;
  }

  /**
   * Fails unless the client is on the peer's transport and every /meta/connect it sent but
   * the first named it as `connectionType`. The first may say `long-polling` over websocket:
   * Faye's trial socket is opened during the HTTP handshake, and when it is not open yet as
   * the handshake reply arrives, the first connect still goes over HTTP; the client moves
   * to the socket as soon as it opens (see connect()).
   */
  assertTransport() {
    const connects = this.outgoing.filter((m) => m.channel === '/meta/connect');
    if (connects.length === 0) throw new Error(`${this.name}: no /meta/connect sent yet`);
    const others = connects.slice(1).filter((m) => m.connectionType !== this.transport);
    const first = connects[0].connectionType;
    const firstOk = first === this.transport || (this.transport === 'websocket' && first === 'long-polling');
    const closed = this.client._state === this.client.DISCONNECTED;
    if (others.length > 0 || !firstOk || (!closed && this.transportInUse !== this.transport)) {
      throw new Error(
        `${this.name}: made for ${this.transport}, but the client uses ${this.transportInUse}; ` +
          `connectionTypes sent: ${JSON.stringify(connects.map((m) => m.connectionType))} (fallback)`,
      );
    }
  }

  /** Handshake + first connect; resolves with the successful handshake reply. */
  async connect() {
    const connected = new Promise((resolve) => this.client.connect(resolve));
    // Faye retries a failed request every 5 s (a failed handshake too): fail at once instead,
    // on the first unsuccessful handshake reply or the first transport failure.
    const logsBefore = fayeLogs.length;
    let onDown;
    const down = new Promise((_, reject) => {
      onDown = () => {
        const errors = fayeLogs.slice(logsBefore).map((l) => l.text);
        reject(new Error(`${this.name}: transport down while handshaking: ${errors.join(' | ') || 'no response'}`));
      };
      this.client.bind('transport:down', onDown);
    });
    let hs;
    try {
      hs = await Promise.race([
        this.incoming.waitFor((m) => m.channel === '/meta/handshake', `${this.name}: /meta/handshake reply`),
        down,
      ]);
    } finally {
      this.client.unbind('transport:down', onDown);
    }
    if (!hs.successful) {
      throw new Refused(`${this.name}: handshake failed: ${JSON.stringify(hs)}`, hs);
    }
    await withTimeout(connected, `${this.name}: connect callback after the handshake`);
    await withTimeout(this.transportUp, `${this.name}: 'transport:up' event`);
    const cn = await this.incoming.waitFor((m) => m.channel === '/meta/connect', `${this.name}: a /meta/connect reply`);
    if (!cn.successful) throw new Error(`${this.name}: first /meta/connect failed: ${JSON.stringify(cn)}`);
    // Over websocket, wait until the client has moved to the socket (see assertTransport()).
    await this.outgoing.waitFor(
      (m) => m.channel === '/meta/connect' && m.connectionType === this.transport,
      `${this.name}: a /meta/connect with connectionType ${this.transport}`,
    );
    this.assertTransport();
    return hs;
  }

  /** The server's reply to the first message this client sent that satisfies `pred`. */
  async #replyTo(pred, what) {
    const sent = await this.outgoing.waitFor(pred, `${this.name}: sending ${what}`);
    return this.incoming.waitFor(
      (m) => m.id === sent.id && m.channel === sent.channel && m.successful !== undefined,
      `${this.name}: reply to ${what} (id ${JSON.stringify(sent.id)})`,
    );
  }

  /**
   * Subscribes; resolves (after the server's successful reply) with a handle whose
   * `messages` records `{channel, data}` for every message the client routes to it.
   */
  async subscribe(channel) {
    const messages = new Recorder(`${this.name} subscription ${channel}`);
    const sub = this.client.subscribe(channel);
    sub.withChannel((ch, data) => messages.push({ channel: ch, data }));
    await withTimeout(
      new Promise((resolve, reject) =>
        sub.then(resolve, (err) =>
          reject(new Refused(`${this.name}: subscribe to ${channel} failed: ${fayeError(err)}`, { error: fayeError(err) })),
        ),
      ),
      `${this.name}: /meta/subscribe reply for ${channel}`,
    );
    return { channel, sub, messages };
  }

  /** Unsubscribes (Subscription#cancel) and waits for the server's successful reply. */
  async unsubscribe(handle) {
    const already = new Set(this.outgoing.filter((m) => m.channel === '/meta/unsubscribe').map((m) => m.id));
    handle.sub.cancel();
    const reply = await this.#replyTo(
      (m) => m.channel === '/meta/unsubscribe' && !already.has(m.id) && m.subscription === handle.channel,
      `/meta/unsubscribe for ${handle.channel}`,
    );
    if (!reply.successful) throw new Error(`${this.name}: unsubscribe from ${handle.channel} failed: ${JSON.stringify(reply)}`);
    return reply;
  }

  /** Publishes; resolves when the server acknowledged it (rejects when unsuccessful). */
  publish(channel, data, ms = WAIT_MS) {
    return withTimeout(this.publishUnbounded(channel, data), `${this.name}: publish ack on ${channel}`, ms);
  }

  /** Same as publish() without its own timer (for bursts; bound the aggregate instead). */
  publishUnbounded(channel, data) {
    const publication = this.client.publish(channel, data);
    return new Promise((resolve, reject) =>
      publication.then(resolve, (err) =>
        reject(new Refused(`${this.name}: publish to ${channel} failed: ${fayeError(err)}`, { error: fayeError(err) })),
      ),
    );
  }

  /** `client.disconnect()`; resolves once the server answered the /meta/disconnect successfully. */
  async disconnect() {
    const publication = this.client.disconnect();
    if (!publication) throw new Error(`${this.name}: disconnect() did nothing: the client was not connected`);
    this.#closed = true;
    await withTimeout(
      new Promise((resolve, reject) =>
        publication.then(resolve, (err) => reject(new Error(`${this.name}: disconnect failed: ${fayeError(err)}`))),
      ),
      `${this.name}: /meta/disconnect reply`,
    );
  }

  /** Best-effort cleanup: disconnect when connected, otherwise stop all retries; never throws. */
  async close() {
    if (this.#closed) return;
    this.#closed = true;
    const client = this.client;
    if (client._state === client.CONNECTED) {
      try {
        await this.disconnect();
        return;
      } catch (e) {
        process.stderr.write(`interop cleanup: ${e.message}\n`);
      }
    }
    // The client is handshaking, retrying or its disconnect failed. Faye has no public
    // "stop", so silence it through its internals so that node --test can exit:
    // no more handshakes/connects, and no pending resend timers.
    client._advice.reconnect = client.NONE;
    client._state = client.DISCONNECTED;
    const dispatcher = client._dispatcher;
    for (const envelope of dispatcher._envelopes.values()) {
      clearTimeout(envelope.timer);
      if (envelope.request) envelope.request.then((req) => req && req.abort && req.abort());
    }
    dispatcher._envelopes.clear();
    dispatcher.close();
    // A handshake that never succeeded leaves the WebSocket Faye opened to test the
    // transport, which the dispatcher does not know as its own.
    for (const socket of dispatcher.transports.websocket?.values() ?? []) socket.close();
  }
}
