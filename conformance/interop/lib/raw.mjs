// A bare Bayeux POST, independent of either client library: used to ask the server what it
// thinks of a clientId after the client has disconnected.

import http from 'node:http';
import https from 'node:https';
import { BAYEUX_URL, WAIT_MS } from './env.mjs';

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
