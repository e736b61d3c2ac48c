// HTTP: long-polling over HTTP (spec/http.md).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BASE, BASE_URL, ENV, Client, post, rawRequest, session, uniq, norm, mustSubscribe, mustPublish,
  upToSentinel, timingOf, sleep, now,
} from './lib/bayeux.mjs';

const wait = (c) => timingOf(c).timeout * 3 + 3000;
const ORIGIN = BASE_URL.origin;

const handshakeMsg = (id = 'h') => ({ channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['long-polling'], id });

/** Disconnect the session a raw handshake reply created, when the test ends. */
function adopt(t, res, cookies) {
  const id = Array.isArray(res.json) ? res.json[0]?.clientId : undefined;
  if (id) {
    const c = new Client('httpx');
    c.clientId = id;
    if (cookies) c.cookies = cookies;
    t.after(() => c.disconnect());
  }
  return id;
}

test('HTTP-1 the endpoint is at <path>, <path>/ and <path>/<anything>; other paths 404, / is the demo page', async (t) => {
  for (const url of [BASE, `${BASE}/`, `${BASE}/handshake`, `${BASE}/anything`, `${BASE}/any/thing`]) {
    const cookies = new Map();
    const res = await post([handshakeMsg()], { url, cookies });
    assert.equal(res.status, 200, `POST ${url}: HTTP ${res.status}`);
    assert.equal(res.json?.[0]?.successful, true, `POST ${url}: ${res.text}`);
    adopt(t, res, cookies);
  }
  // The CometD client's own suffixes, on one session.
  const c = new Client('http1');
  const hs = await post([handshakeMsg()], { url: `${BASE}/handshake`, cookies: c.cookies });
  c.clientId = adopt(t, hs, c.cookies);
  const cn = await post([c.connectMessage()], { url: `${BASE}/connect`, cookies: c.cookies });
  assert.equal(cn.json?.[0]?.successful, true, `POST ${BASE}/connect: ${cn.text}`);
  const sub = await post([{ channel: '/meta/subscribe', clientId: c.clientId, subscription: uniq('http1'), id: 's' }], { url: `${BASE}/`, cookies: c.cookies });
  assert.equal(sub.json?.[0]?.successful, true, `POST ${BASE}/: ${sub.text}`);
  const dc = await post([{ channel: '/meta/disconnect', clientId: c.clientId, id: 'd' }], { url: `${BASE}/disconnect`, cookies: c.cookies });
  assert.equal(dc.json?.[0]?.successful, true, `POST ${BASE}/disconnect: ${dc.text}`);
  c.ended = true;

  // Not the endpoint.
  for (const path of ['/definitely-not-here', `${BASE_URL.pathname}x`, `${BASE_URL.pathname}-other/handshake`]) {
    const res = await post([handshakeMsg()], { url: `${ORIGIN}${path}` });
    assert.equal(res.status, 404, `POST ${path}: HTTP ${res.status} ${res.text.slice(0, 200)}`);
    adopt(t, res);
  }
  const root = await fetch(`${ORIGIN}/`, { signal: AbortSignal.timeout(5000) });
  await root.arrayBuffer();
  assert.equal(root.status, 200, `GET / (demo page): HTTP ${root.status}`);
});

test('HTTP-2 a JSON POST is accepted whatever its Content-Type; a form body carries JSON in message', async (t) => {
  const json = JSON.stringify([handshakeMsg('h2')]);
  const jsonTypes = [
    'application/json', 'application/json;charset=UTF-8', 'text/plain;charset=UTF-8',
    'application/x-www-form-urlencoded', 'application/xml', 'application/octet-stream', null,
  ];
  for (const ct of jsonTypes) {
    const res = await post(json, { contentType: ct });
    adopt(t, res);
    assert.equal(res.status, 200, `JSON body, Content-Type ${ct}: HTTP ${res.status} ${res.text}`);
    assert.equal(res.json?.[0]?.successful, true, `JSON body, Content-Type ${ct}: ${res.text}`);
  }
  // A JSON body with blanks before it is still JSON; a single object too.
  const padded = await post(`  \r\n\t${JSON.stringify(handshakeMsg('h2p'))}`, { contentType: 'text/plain' });
  adopt(t, padded);
  assert.equal(padded.json?.[0]?.successful, true, `blank-padded JSON: HTTP ${padded.status} ${padded.text}`);

  // Faye's cross-origin transport: message=<urlencoded JSON>, text/plain or no type.
  const form = `message=${encodeURIComponent(json)}`;
  for (const ct of ['text/plain;charset=UTF-8', 'application/x-www-form-urlencoded', 'application/xml', null]) {
    const res = await post(form, { contentType: ct });
    adopt(t, res);
    assert.equal(res.status, 200, `form body, Content-Type ${ct}: HTTP ${res.status} ${res.text}`);
    assert.equal(res.json?.[0]?.successful, true, `form body, Content-Type ${ct}: ${res.text}`);
  }
  // The message field among others, and holding a single object.
  const mixed = await post(`a=1&message=${encodeURIComponent(JSON.stringify(handshakeMsg('h2m')))}&b=2`, { contentType: 'text/plain' });
  adopt(t, mixed);
  assert.equal(mixed.json?.[0]?.successful, true, `form with other fields: HTTP ${mixed.status} ${mixed.text}`);
});

test('HTTP-3 replies are 200 application/json;charset=UTF-8, no-cache no-store, a JSON array, errors included', async (t) => {
  const c = await session(t, { name: 'http3' });
  const replies = [
    await post([handshakeMsg('h3')]),
    await c.post([{ channel: '/meta/subscribe', clientId: c.clientId, subscription: uniq('http3'), id: 's' }]),
    await post([{ channel: '/meta/connect', clientId: 'f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0', connectionType: 'long-polling', id: 'e' }]),
    await post([{ channel: '/meta/subscribe', id: 'e2', subscription: '/x' }]),
    await post([]),
  ];
  adopt(t, replies[0]);
  for (const res of replies) {
    assert.equal(res.status, 200, `HTTP ${res.status} ${res.text}`);
    assert.equal(norm(res.headers.get('content-type')), 'application/json;charset=utf-8',
      `Content-Type: ${res.headers.get('content-type')}`);
    const cc = norm(res.headers.get('cache-control')).split(',');
    assert.ok(cc.includes('no-cache') && cc.includes('no-store'), `Cache-Control: ${res.headers.get('cache-control')}`);
    assert.ok(Array.isArray(res.json), `body is not a JSON array: ${res.text}`);
  }
  assert.equal(replies[2].json[0]?.successful, false, replies[2].text);
  assert.equal(replies[3].json[0]?.successful, false, replies[3].text);
});

test('HTTP-4 malformed bodies get 400 with a plain-text reason; nothing in them is processed', async (t) => {
  const [c, s] = await Promise.all([session(t, { name: 'http4' }), session(t, { name: 'http4s' })]);
  const ch = uniq('http4');
  await mustSubscribe(s, ch);
  const good = (n) => ({ channel: ch, clientId: c.clientId, data: { n }, id: `g${n}` });
  const bodies = [
    ['malformed JSON', '[{"channel":', 'application/json'],
    ['a number', '42', 'application/json'],
    ['a string', '"x"', 'application/json'],
    ['null', 'null', 'application/json'],
    ['true', 'true', 'application/json'],
    ['an array with a number', JSON.stringify([good(1), 5]), 'application/json'],
    ['an array with null', JSON.stringify([good(2), null]), 'application/json'],
    ['an array with an array', JSON.stringify([good(3), [good(4)]]), 'application/json'],
    ['a form without message', `foo=${encodeURIComponent(JSON.stringify([good(5)]))}`, 'text/plain;charset=UTF-8'],
    ['a form with malformed JSON', 'message=%5B%7B%22channel', 'text/plain;charset=UTF-8'],
    ['a form whose message is a number', 'message=42', 'application/x-www-form-urlencoded'],
  ];
  for (const [what, body, ct] of bodies) {
    const res = await c.post(body, { contentType: ct });
    assert.equal(res.status, 400, `${what}: HTTP ${res.status} ${res.text}`);
    const type = norm(res.headers.get('content-type'));
    assert.ok(type.startsWith('text/plain'), `${what}: Content-Type ${res.headers.get('content-type')}`);
    assert.ok(res.text.trim().length > 0 && res.text.length < 1000, `${what}: reason ${JSON.stringify(res.text)}`);
  }
  // None of the good publishes in those requests was delivered.
  const sentinel = uniq('http4');
  await mustSubscribe(s, sentinel);
  await mustPublish(c, sentinel, {});
  const got = await upToSentinel(s, sentinel, wait(s));
  assert.deepEqual(got, [], `messages of a refused request were processed: ${JSON.stringify(got)}`);
});

test('HTTP-5 a body over the limit gets 413 without the rest being read', async (t) => {
  const limit = ENV.maxBody;
  const path = BASE_URL.pathname;
  // A body well under the limit is fine.
  const c = await session(t, { name: 'http5' });
  const under = JSON.stringify([{ channel: uniq('http5'), clientId: c.clientId, data: 'u'.repeat(Math.floor(limit / 2)), id: 'u' }]);
  const ok = await c.post(under, { contentType: 'application/json' });
  assert.equal(ok.status, 200, `body of ${under.length} bytes: HTTP ${ok.status}`);
  assert.equal(ok.json?.[0]?.successful, true, ok.text.slice(0, 300));

  // A declared length over the limit: only 64 KiB is ever sent, so a server that waits
  // for the rest never answers.
  const head = Buffer.from(`[{"channel":"/http5","data":"${'d'.repeat(64 * 1024)}`);
  const declared = await rawRequest({
    path,
    headers: { 'content-type': 'application/json', 'content-length': String(limit * 2) },
    chunks: [head],
    stallAfterChunks: true,
    timeout: 3000,
  }).catch((e) => ({ error: e }));
  assert.ok(!declared.error, `Content-Length ${limit * 2}: ${declared.error?.message}`);
  assert.equal(declared.status, 413, `Content-Length ${limit * 2}: HTTP ${declared.status} ${declared.text?.slice(0, 200)}`);

  // Chunked, no length: the server must stop at the limit, not wait for the end. (Only
  // 16 KiB go past the limit. That a body sent whole, far past the limit, still gets a
  // readable 413 is herald's own guarantee, LIM-3, tested in conformance/hostile/.)
  const piece = Buffer.alloc(16 * 1024, 'c');
  const chunks = [Buffer.from('[{"channel":"/http5","data":"')];
  for (let n = chunks[0].length; n <= limit + piece.length; n += piece.length) chunks.push(piece);
  const chunked = await rawRequest({
    path,
    headers: { 'content-type': 'application/json' },
    chunked: true,
    chunks,
    stallAfterChunks: true,
    timeout: 3000,
  }).catch((e) => ({ error: e }));
  assert.ok(!chunked.error, `chunked body over ${limit} bytes: ${chunked.error?.message}`);
  assert.equal(chunked.status, 413, `chunked body over ${limit} bytes: HTTP ${chunked.status} ${chunked.text?.slice(0, 200)}`);
});

test('HTTP-6 PUT, DELETE and other methods get 405; a GET of no transport 400; a bare OPTIONS 200', async (t) => {
  const body = JSON.stringify([handshakeMsg('h6')]);
  for (const [method, url] of [
    ['PUT', BASE], ['DELETE', BASE], ['PATCH', `${BASE}/`], ['PUT', `${BASE}/handshake`],
  ]) {
    const res = await fetch(url, {
      method,
      body: method === 'DELETE' ? undefined : body,
      headers: { 'content-type': 'application/json' },
      signal: AbortSignal.timeout(5000),
    });
    const text = await res.text();
    assert.equal(res.status, 405, `${method} ${url}: HTTP ${res.status} ${text.slice(0, 200)}`);
    try {
      adopt(t, { json: JSON.parse(text) });
    } catch { /* not JSON: nothing created */ }
  }
  // A GET that is no WebSocket upgrade, no EventSource and no JSONP (no message parameter).
  for (const url of [BASE, `${BASE}/handshake`, `${BASE}?jsonp=cb`]) {
    const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
    const text = await res.text();
    assert.equal(res.status, 400, `GET ${url}: HTTP ${res.status} ${text.slice(0, 200)}`);
  }
  // OPTIONS without Origin or preflight headers.
  const opt = await fetch(BASE, { method: 'OPTIONS', signal: AbortSignal.timeout(5000) });
  await opt.arrayBuffer();
  assert.equal(opt.status, 200, `bare OPTIONS: HTTP ${opt.status}`);
});

test('HTTP-7 a held long-poll does not hold up the same client\'s other requests', async (t) => {
  const c = await session(t, { name: 'http7' });
  const { timeout: T } = timingOf(c);
  const atOnce = Math.min(1000, T / 2);
  const ch = uniq('http7');
  await mustSubscribe(c, ch);
  let settled = false;
  const held = c.connect().then((r) => { settled = true; return { ...r, at: now() }; });
  held.catch(() => {});
  await sleep(Math.min(500, T / 4));
  assert.ok(!settled, 'connect was not held');
  const sub = await c.subscribe(uniq('http7'));
  assert.equal(sub.reply?.successful, true, JSON.stringify(sub.reply));
  assert.ok(sub.res.ms < atOnce, `subscribe took ${Math.round(sub.res.ms)} ms while a connect was held`);
  const pub = await c.publish(ch, { n: 7 });
  assert.equal(pub.reply?.successful, true, JSON.stringify(pub.reply));
  assert.ok(pub.res.ms < atOnce, `publish took ${Math.round(pub.res.ms)} ms while a connect was held`);
  const r = await held;
  assert.equal(r.reply?.successful, true, r.res.text);
});
