// A small TCP proxy on 127.0.0.1 between a client and the Bayeux server, so that a test can
// cut a client's connections the way a network failure does (both TCP sides destroyed, no
// WebSocket close frame) and decide when the client may reach the server again.

import net from 'node:net';
import { Recorder, withTimeout } from './wait.mjs';

/**
 * `new TcpProxy(targetUrl)`; `await start()` gives `url`, the same endpoint reached through
 * the proxy. Every accepted connection is recorded in `connections` (a Recorder of
 * `{ n, websocket }`, where `websocket` tells whether its first bytes were an HTTP upgrade
 * to WebSocket). `kill()` destroys the open connections; while `hold()` is in force new
 * connections are accepted but not forwarded until `release()`.
 */
export class TcpProxy {
  /** Every connection accepted, in order: `{ n, websocket }`. */
  connections = new Recorder('proxy connections');

  #target;
  #server = null;
  #pairs = new Set();
  #held = [];
  #holding = false;
  #count = 0;

  constructor(targetUrl) {
    const u = new URL(targetUrl);
    if (u.protocol !== 'http:') throw new Error(`TcpProxy forwards plain http only, got ${targetUrl}`);
    this.#target = { host: u.hostname, port: Number(u.port || 80) };
    this.targetUrl = u;
    this.url = null;
  }

  async start() {
    this.#server = net.createServer((client) => this.#accept(client));
    await withTimeout(
      new Promise((resolve, reject) => {
        this.#server.once('error', reject);
        this.#server.listen(0, '127.0.0.1', resolve);
      }),
      'the TCP proxy to listen on 127.0.0.1',
    );
    const u = new URL(this.targetUrl.href);
    u.host = `127.0.0.1:${this.#server.address().port}`;
    this.url = u.href.replace(/\/$/, '');
    return this;
  }

  #accept(client) {
    const pair = { n: ++this.#count, client, upstream: null, websocket: false, recorded: false };
    this.#pairs.add(pair);
    client.on('error', () => {});
    client.on('close', () => this.#drop(pair));
    // Look at the first bytes to classify the connection, without consuming them.
    client.once('data', (chunk) => {
      client.pause();
      client.unshift(chunk);
      pair.websocket = /^GET [^\r\n]*\r\n(?:[^\r\n]+\r\n)*?upgrade:\s*websocket/im.test(chunk.toString('latin1'));
      pair.recorded = true;
      this.connections.push({ n: pair.n, websocket: pair.websocket });
      if (this.#holding) this.#held.push(pair);
      else this.#forward(pair);
    });
  }

  #forward(pair) {
    if (pair.client.destroyed) return;
    const upstream = net.connect(this.#target);
    pair.upstream = upstream;
    upstream.on('error', () => pair.client.destroy());
    upstream.on('close', () => pair.client.destroy());
    pair.client.on('close', () => upstream.destroy());
    pair.client.pipe(upstream);
    upstream.pipe(pair.client);
  }

  #drop(pair) {
    this.#pairs.delete(pair);
    if (pair.upstream) pair.upstream.destroy();
  }

  /** Open (forwarded or held) connections, as `{ n, websocket }`. */
  get open() {
    return [...this.#pairs].filter((p) => p.recorded).map((p) => ({ n: p.n, websocket: p.websocket }));
  }

  /** From now on, new connections wait (accepted, not forwarded) until `release()`. */
  hold() {
    this.#holding = true;
  }

  /** Forwards the held connections and stops holding. */
  release() {
    this.#holding = false;
    const held = this.#held;
    this.#held = [];
    for (const pair of held) this.#forward(pair);
  }

  /**
   * Destroys both sides of the open connections that satisfy `pred` (all by default), as a
   * network failure would: no close frame, no FIN handshake to wait for. Returns what was cut.
   */
  kill(pred = () => true) {
    const cut = [];
    for (const pair of [...this.#pairs]) {
      if (!pair.recorded || !pred(pair)) continue;
      cut.push({ n: pair.n, websocket: pair.websocket });
      pair.client.destroy();
      if (pair.upstream) pair.upstream.destroy();
      this.#pairs.delete(pair);
    }
    return cut;
  }

  /** Stops listening and destroys everything still open or held. */
  async close() {
    this.#holding = false;
    this.#held = [];
    for (const pair of this.#pairs) {
      pair.client.destroy();
      if (pair.upstream) pair.upstream.destroy();
    }
    this.#pairs.clear();
    if (this.#server) {
      await withTimeout(new Promise((resolve) => this.#server.close(() => resolve())), 'the TCP proxy to close', 3_000).catch(
        (e) => process.stderr.write(`interop cleanup: ${e.message}\n`),
      );
    }
  }
}
