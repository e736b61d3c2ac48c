// What CometdPeer and FayePeer share: the recorders of what went over the wire, opening a
// peer for a test, and the factory the scenarios take in place of a peer class, so that
// one scenario runs over every transport of every client.

import assert from 'node:assert/strict';
import { Recorder } from './wait.mjs';

/**
 * A handshake, subscribe or publish the server refused: `reply` is the server's reply, or
 * for what the Faye client reports, `{ error }` rebuilt from its parsed error.
 */
export class Refused extends Error {
  constructor(text, reply) {
    super(text);
    this.reply = reply;
  }
}

/** Expects `promise` to be refused by the server with exactly `error`; returns the reply. */
export async function expectRefused(promise, error) {
  let reply;
  await assert.rejects(promise, (e) => {
    assert.ok(e instanceof Refused, `refused by the server, not failed otherwise: ${e.message}`);
    reply = e.reply;
    return true;
  });
  assert.equal(reply.error, error);
  return reply;
}

export class Peer {
  /** Every message the server sent to this client, after JSON parsing (incoming extension). */
  incoming;
  /** Every message this client sent (outgoing extension). */
  outgoing;
  /** Non-meta messages the server delivered (what subscribers got), as `{channel, data}`. */
  deliveries;

  /** `url`: the endpoint (a proxy in front of the server, say); `transport`: the one to use. */
  constructor(name, { url, transport }) {
    this.name = name;
    this.url = url;
    this.transport = transport;
    this.incoming = new Recorder(`${name} incoming`);
    this.outgoing = new Recorder(`${name} outgoing`);
    this.deliveries = new Recorder(`${name} deliveries`);
  }

  /** For the client's incoming extension: records `m`, and in `deliveries` when it is one. */
  recordIncoming(m, localData = (data) => data) {
    this.incoming.push(m);
    if (typeof m.channel === 'string' && !m.channel.startsWith('/meta/') && m.data !== undefined) {
      this.deliveries.push({ channel: m.channel, data: localData(m.data) });
    }
  }

  /**
   * Creates a peer (`options` as for the constructor), handshakes and waits for its first
   * successful /meta/connect reply. With a node:test context `t`, the peer is disconnected
   * when the test ends.
   */
  static async open(t, name, options) {
    const peer = new this(name, options);
    if (t) t.after(() => peer.close());
    await peer.connect();
    return peer;
  }

  /**
   * A peer factory for the scenarios, bound to `transport`: `{ kind, transport, label,
   * open(t, name, options) }`, `open` being `open` with the transport (and `defaults`)
   * filled in. Scenarios name their peers after `label`, e.g. `cometd-websocket-subscriber`.
   */
  static over(transport, defaults = {}) {
    return {
      kind: this.kind,
      transport,
      label: `${this.kind}-${transport}`,
      open: (t, name, options = {}) => this.open(t, name, { ...defaults, ...options, transport }),
    };
  }
}
