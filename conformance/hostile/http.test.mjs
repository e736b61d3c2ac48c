// Hostile clients at the HTTP and WebSocket layers (spec/limits.md, LIM-1 to LIM-3; TR-2): each
// test is one finding of the hostile review, and each failed on herald before its fix.
// herald runs with short timeouts here so that the tests are quick:
//
//   HERALD_BIN=target/release/herald node --test conformance/hostile/

import test, { after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { connect } from 'node:net';
import WebSocket from 'ws';
import { bayeux, sleep, startHerald } from '../apps/lib/herald.mjs';

const IDLE_MS = 1_000;
const BODY_MS = 1_000;
const herald = await startHerald({ after }, '', {
  args: ['--idle-timeout', String(IDLE_MS), '--body-timeout', String(BODY_MS), '--max-body', String(1024 * 1024)],
});
const { hostname, port } = new URL(herald.url);

/** Opens a raw connection, sends `bytes`, and resolves with what came back and when it closed. */
function raw(bytes, { waitMs = 5_000 } = {}) {
  return new Promise((resolve) => {
    const started = Date.now();
    const socket = connect({ host: hostname, port: Number(port) });
    let received = '';
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ closed: false, received, ms: Date.now() - started });
    }, waitMs);
    socket.on('connect', () => bytes && socket.write(bytes));
    socket.on('data', (chunk) => (received += chunk));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ closed: true, received, ms: Date.now() - started });
    });
  });
}

test('LIM-1: a connection that never finishes its headers is closed after the idle timeout', async () => {
  const slowloris = await raw('POST /cometd HTTP/1.1\r\nHost: x\r\nX-Slow: ');
  assert.ok(slowloris.closed, 'closed by the server');
  assert.ok(slowloris.ms < IDLE_MS + 2_000, `after ${slowloris.ms} ms`);
  const silent = await raw('');
  assert.ok(silent.closed, 'a connection that sends nothing is closed too');
});

test('LIM-1: an idle keep-alive connection is closed after the idle timeout', async () => {
  const hs = '[{"channel":"/meta/handshake","version":"1.0","supportedConnectionTypes":["long-polling"]}]';
  const once = await raw(
    `POST /cometd HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${hs.length}\r\n\r\n${hs}`,
  );
  assert.match(once.received, /^HTTP\/1\.1 200/);
  assert.ok(once.closed, 'closed once idle');
});

test('LIM-1: a long-poll held longer than the idle timeout is not cut', async () => {
  const post = (messages) => bayeux(herald, messages);
  const [hs] = await post([{ channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['long-polling'] }]);
  const connect = { channel: '/meta/connect', clientId: hs.clientId, connectionType: 'long-polling' };
  await post([connect]);
  const started = Date.now();
  const [held] = await post([connect]);
  assert.equal(held.successful, true);
  assert.ok(Date.now() - started > IDLE_MS, 'it was held past the idle timeout (the file says timeout = 2000)');
});

test('LIM-2: a body shorter than its Content-Length gets 408 after the body timeout', async () => {
  const short = await raw('POST /cometd HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n[{"chan');
  assert.match(short.received, /^HTTP\/1\.1 408/, short.received.slice(0, 80));
  assert.ok(short.ms < BODY_MS + 2_000, `after ${short.ms} ms`);
});

/** POSTs `size` bytes of JSON-ish body, declared or chunked; resolves with the status. */
function postLarge(size, { declared }) {
  return new Promise((resolve, reject) => {
    const headers = { 'content-type': 'application/json' };
    if (declared) headers['content-length'] = String(size);
    const req = request({ host: hostname, port, method: 'POST', path: '/cometd', headers }, (response) => {
      response.resume();
      resolve(response.statusCode);
    });
    req.on('error', reject);
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    for (let sent = 0; sent < size; sent += chunk.length) req.write(chunk);
    req.end();
  });
}

test('LIM-3: a 5 MiB body gets a 413 the client can read, not a reset', async () => {
  for (let round = 0; round < 5; round++) {
    assert.equal(await postLarge(5 * 1024 * 1024, { declared: true }), 413, 'Content-Length declared');
    assert.equal(await postLarge(5 * 1024 * 1024, { declared: false }), 413, 'chunked');
  }
});

test('TR-2: a text frame that is not UTF-8 closes the WebSocket with 1007', async () => {
  const ws = new WebSocket(herald.url.replace('http', 'ws'));
  await new Promise((resolve, reject) => {
    ws.on('open', resolve);
    ws.on('error', reject);
  });
  const closed = new Promise((resolve) => ws.on('close', (code) => resolve(code)));
  ws.send(Buffer.from([0x5b, 0xff, 0xfe, 0x5d]), { binary: false });
  assert.equal(await closed, 1007);
});

test('LIM-9: past max_connections a new connection gets 503 with Retry-After, not silence; room again once others close', async (t) => {
  const capped = await startHerald(t, '', { args: ['--max-connections', '20'] });
  const { hostname: host, port: cappedPort } = new URL(capped.url);
  const idle = [];
  for (let i = 0; i < 20; i++) {
    const socket = connect({ host, port: Number(cappedPort) });
    socket.on('error', () => {});
    await new Promise((resolve) => socket.on('connect', resolve));
    idle.push(socket);
  }
  await sleep(100);
  const refused = await fetch(capped.url, { method: 'POST', body: '[]' });
  assert.equal(refused.status, 503);
  assert.equal(refused.headers.get('retry-after'), '5');
  for (const socket of idle) socket.destroy();
  await sleep(200);
  const [reply] = await bayeux(capped, [{ channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['long-polling'] }]);
  assert.equal(reply.successful, true);
});

test('LIM-11: a request of more than max_batch messages gets 413', async () => {
  const [hs] = await bayeux(herald, [{ channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['long-polling'] }]);
  const publish = (n) => Array.from({ length: n }, (_, i) => ({ channel: '/many', clientId: hs.clientId, data: i }));
  const ok = await bayeux(herald, publish(1_000));
  assert.equal(ok.length, 1_000);
  const response = await fetch(herald.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(publish(1_001)),
  });
  assert.equal(response.status, 413);
  assert.match(await response.text(), /more than 1000 messages/);
});
