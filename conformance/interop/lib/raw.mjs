// Bare Bayeux over HTTP POSTs and a bare WebSocket, independent of either client library:
// used to ask the server what it thinks of a clientId after the client has disconnected,
// and to move one session between transports step by step.

import http from 'node:http';
import https from 'node:https';
import { WebSocket } from 'ws';
import { BAYEUX_URL, WAIT_MS } from './env.mjs';
import { Recorder, withTimeout } from './wait.mjs';

/**
 * POSTs `messages` (an array of Bayeux messages) as JSON to the endpoint and resolves with
 * `{ status, headers, text, json }` (`json` is undefined when the body is not JSON).
 * Uses a fresh connection (no keep-alive) so that nothing lingers after the test.
 */
export function rawPost(messages, { url = BAYEUX_URL, timeoutMs = WAIT_MS } = {}) {
  const target = new URL(url);
  const lib = target.protocol === 'https:' ? https : http;
  const body = Buffer.from(JSON.stringify(messages), 'utf8');
  return new Promise((resolve, reject) => {
    const req = lib.request(
      target,
      {
        method: 'POST',
        agent: false,
        headers: {
          'Content-Type': 'application/json;charset=UTF-8',
          'Content-Length': body.length,
          Connection: 'close',
        },
      },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode, headers: res.headers, text, json });
        });
        res.on('error', reject);
      },
    );
    req.setTimeout(timeoutMs, () => {
      req.destroy(new Error(`raw POST to ${url} got no answer within ${timeoutMs} ms`));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * Sends a `/meta/connect` for `clientId` and returns the reply to it. For a clientId whose
 * session has ended, herald must answer at once (ERR-2), so no long hold is expected.
 */
export async function rawConnectReply(clientId) {
  const id = 'interop-probe-1';
  const res = await rawPost([
    { id, channel: '/meta/connect', clientId, connectionType: 'long-polling', advice: { timeout: 0 } },
  ]);
  if (res.status !== 200) {
    throw new Error(`raw /meta/connect: expected HTTP 200, got ${res.status}: ${res.text.slice(0, 300)}`);
  }
  if (!Array.isArray(res.json)) {
    throw new Error(`raw /meta/connect: expected a JSON array, got: ${res.text.slice(0, 300)}`);
  }
  const reply = res.json.find((m) => m && m.channel === '/meta/connect');
  if (!reply) {
    throw new Error(`raw /meta/connect: no /meta/connect reply in ${res.text.slice(0, 300)}`);
  }
  return reply;
}

/**
 * A bare Bayeux session over HTTP: handshakes (long-polling) and resolves with its
 * clientId, for a publisher or a probe that needs no client library.
 */
export async function rawHandshake() {
  const res = await rawPost([
    { id: 'raw-hs', channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['long-polling'] },
  ]);
  const reply = Array.isArray(res.json) ? res.json.find((m) => m && m.channel === '/meta/handshake') : undefined;
  if (res.status !== 200 || !reply?.successful) {
    throw new Error(`raw handshake over HTTP failed: HTTP ${res.status}: ${res.text.slice(0, 300)}`);
  }
  return reply.clientId;
}

/** POSTs `messages` and fails unless every reply in the response is successful; resolves with the response array. */
export async function rawPostOk(messages, what) {
  const res = await rawPost(messages);
  if (res.status !== 200 || !Array.isArray(res.json)) {
    throw new Error(`${what}: expected HTTP 200 and a JSON array, got ${res.status}: ${res.text.slice(0, 300)}`);
  }
  const failed = res.json.filter((m) => m && m.successful === false);
  if (failed.length > 0) throw new Error(`${what}: unsuccessful replies: ${JSON.stringify(failed).slice(0, 400)}`);
  return res.json;
}

/**
 * A bare WebSocket to the endpoint (npm `ws`), speaking Bayeux with JSON arrays in text
 * frames. `messages` records every message received (flattened, each with `frame`, the
 * index of the frame it came in); `send()` sends one frame; `close()` closes cleanly and
 * waits for the socket to be closed.
 */
export class RawSocket {
  messages = new Recorder('raw websocket messages');
  #frames = 0;

  constructor(url = BAYEUX_URL) {
    this.url = url.replace(/^http/, 'ws');
    this.socket = new WebSocket(this.url);
    this.socket.on('error', () => {});
    this.closed = new Promise((resolve) => this.socket.once('close', (code) => resolve(code)));
    this.socket.on('message', (data) => {
      const frame = this.#frames++;
      let parsed;
      try {
        parsed = [].concat(JSON.parse(String(data)));
      } catch {
        parsed = [{ unparsable: String(data).slice(0, 200) }];
      }
      for (const m of parsed) this.messages.push({ ...m, frame });
    });
  }

  static async open(url) {
    const s = new RawSocket(url);
    await withTimeout(
      new Promise((resolve, reject) => {
        s.socket.once('open', resolve);
        s.socket.once('error', reject);
      }),
      `the WebSocket to ${s.url} to open`,
    );
    return s;
  }

  send(messages) {
    this.socket.send(JSON.stringify(messages));
  }

  /** Sends `message` and resolves with the reply carrying its `id` (any channel). */
  async request(message, ms = WAIT_MS) {
    this.send([message]);
    return this.messages.waitFor(
      (m) => m.id === message.id && m.successful !== undefined,
      `the reply to ${message.channel} #${message.id} on the raw WebSocket`,
      ms,
    );
  }

  async close() {
    if (this.socket.readyState === WebSocket.CLOSED) return;
    this.socket.close(1000, 'done');
    try {
      await withTimeout(this.closed, 'the raw WebSocket to close', 3_000);
    } catch {
      this.socket.terminate();
    }
  }
}
