// TR: WebSocket, JSONP, EventSource, CORS, who delivers, several clients per browser
// (spec/transports.md).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BASE, BASE_URL, ENV, Client, post, session, uniq, norm, isEvent, byId, mustSubscribe, mustPublish,
  timingOf, sleep, now, parts, UNKNOWN_ID,
} from './lib/bayeux.mjs';
import { openWs } from './lib/ws.mjs';
import { openEventSource } from './lib/sse.mjs';

const ALL = ['websocket', 'long-polling', 'cross-origin-long-polling', 'callback-polling', 'eventsource'];
const ENABLED = ALL.filter((x) => (ENV.transports ?? ALL).includes(x));
const enabled = (x) => ENABLED.includes(x);
const need = (...types) => {
  const off = types.filter((x) => !enabled(x));
  return off.length ? `transport(s) ${off.join(', ')} not enabled (BAYEUX_TRANSPORTS)` : false;
};

function bounds(c) {
  const { timeout: T, interval: I } = timingOf(c);
  return { T, I, atOnce: Math.min(1000, T / 2), heldMin: T * 0.75, heldMax: T + 1500 };
}

const handshakeMsg = (types, id = 'h') => ({ channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: types, id });

/** A WebSocket session handshaken on the socket (CometD's way). Closed when the test ends. */
async function wsSession(t, name = 'ws') {
  const ws = await openWs();
  t.after(() => ws.destroy());
  const id = `${name}-hs`;
  ws.send([handshakeMsg(['websocket'], id)]);
  const f = await ws.nextMessage((m) => m.id === id, 5000);
  const reply = f?.json?.find((m) => m.id === id);
  if (!reply?.successful) throw new Error(`WebSocket handshake failed: ${f?.text ?? 'no frame'}`);
  const c = new Client(name);
  c.clientId = reply.clientId;
  c.advice = reply.advice;
  t.after(() => c.disconnect());
  return { ws, c, clientId: reply.clientId };
}

let wsIds = 0;
/** Send one message on a socket and wait for the frame holding its reply. */
async function wsCall(ws, msg, ms = 5000) {
  const id = msg.id ?? `w${++wsIds}`;
  ws.send([{ ...msg, id }]);
  const f = await ws.nextMessage((m) => m.id === id && 'successful' in m, ms);
  return { frame: f, reply: f?.json?.find((m) => m.id === id) };
}

/** A JSONP request: GET <endpoint>?message=...&jsonp=... Returns { status, headers, text, callback, messages }. */
async function jsonp(messages, { callback, path = BASE, timeout = 10000, headers = {} } = {}) {
  const q = new URLSearchParams({ message: JSON.stringify(messages) });
  if (callback !== undefined) q.set('jsonp', callback);
  const started = now();
  const res = await fetch(`${path}?${q}`, { headers, signal: AbortSignal.timeout(timeout) });
  const text = await res.text();
  const m = /^\/\*\*\/([^(]*)\(([\s\S]*)\);\s*$/.exec(text);
  let parsed;
  if (m) { try { parsed = JSON.parse(m[2]); } catch { parsed = undefined; } }
  return { status: res.status, headers: res.headers, text, callback: m?.[1], messages: parsed, ms: now() - started };
}

// ---------------------------------------------------------------------------------------

test('TR-1 supportedConnectionTypes lists the enabled transports in order; disabled ones are refused', async (t) => {
  const c = new Client('tr1');
  const { reply } = await c.handshake({ supportedConnectionTypes: ['long-polling'] });
  assert.equal(reply?.successful, true, JSON.stringify(reply));
  t.after(() => c.disconnect());
  assert.deepEqual(reply.supportedConnectionTypes, ENABLED,
    `supportedConnectionTypes (expected the enabled transports ${JSON.stringify(ENABLED)} in this order)`);
  await c.connect();

  const refused = [...ALL.filter((x) => !enabled(x)), 'flash'];
  for (const type of refused) {
    const { reply: r } = await c.connect({ connectionType: type });
    assert.equal(r?.successful, false, `connect with ${type}: ${JSON.stringify(r)}`);
    assert.equal(r.error, `406:${type}:Unsupported connection type`, `connect with ${type}: ${JSON.stringify(r)}`);
  }
  if (!enabled('callback-polling')) {
    const r = await jsonp([handshakeMsg(['callback-polling'])], { callback: 'cb' });
    assert.equal(r.status, 400, `JSONP GET with callback-polling disabled: HTTP ${r.status} ${r.text.slice(0, 200)}`);
  }
  if (!enabled('eventsource')) {
    const es = await openEventSource(`${BASE_URL.pathname}/${c.clientId}`);
    const body = es.status === 200 ? '' : await es.stream.text();
    es.stream.close();
    assert.equal(es.status, 400, `EventSource GET with eventsource disabled: HTTP ${es.status} ${body}`);
  }
  if (!enabled('websocket')) {
    let upgraded = false;
    try {
      const ws = await openWs();
      upgraded = true;
      ws.destroy();
    } catch { /* refused: as expected */ }
    assert.equal(upgraded, false, 'WebSocket upgraded with websocket disabled');
  }
});

test('TR-2 WebSocket: upgrade on the endpoint, JSON arrays both ways, held connects, pushes coalesced, close codes',
  { skip: need('websocket') }, async (t) => {
    // The upgrade: no sub-protocol needed; permessage-deflate offered and declined.
    const ws = await openWs({ extensions: 'permessage-deflate; client_max_window_bits' });
    t.after(() => ws.destroy());
    assert.equal(ws.headers['sec-websocket-protocol'], undefined, `sub-protocol chosen: ${ws.headers['sec-websocket-protocol']}`);
    assert.ok(!/permessage-deflate/i.test(ws.headers['sec-websocket-extensions'] ?? ''),
      `permessage-deflate accepted: ${ws.headers['sec-websocket-extensions']}`);

    // CometD's way: the socket begins with a handshake.
    ws.send([handshakeMsg(['websocket'], 'wh')]);
    const hf = await ws.nextMessage((m) => m.id === 'wh', 5000);
    assert.ok(hf, 'no handshake reply frame');
    const hs = hf.json.find((m) => m.id === 'wh');
    assert.equal(hs.successful, true, hf.text);
    const clientId = hs.clientId;
    const c = new Client('tr2');
    c.clientId = clientId;
    c.advice = hs.advice;
    t.after(() => c.disconnect());
    const { T, atOnce, heldMin, heldMax } = bounds(c);

    // A single object is accepted; the reply is an array.
    const sent1 = now();
    ws.send({ channel: '/meta/connect', clientId, connectionType: 'websocket', id: 'wc1' });
    const c1 = await ws.nextMessage((m) => m.id === 'wc1', heldMax);
    assert.ok(c1, `no reply within ${heldMax} ms to a connect sent as a single object`);
    assert.ok(c1.at - sent1 < atOnce, `first connect on the socket answered after ${Math.round(c1.at - sent1)} ms (CN-3: at once)`);
    assert.ok(Array.isArray(c1.json), c1.text);
    assert.equal(c1.json.find((m) => m.id === 'wc1').successful, true, c1.text);

    // [] is answered with [].
    ws.send('[]');
    const empty = await ws.next((f) => Array.isArray(f.json) && f.json.length === 0, 2000);
    assert.ok(empty, '[] not answered with []');

    const ch = uniq('tr2');
    const { reply: sub } = await wsCall(ws, { channel: '/meta/subscribe', clientId, subscription: ch });
    assert.equal(sub?.successful, true, JSON.stringify(sub));

    // A connect with nothing to deliver is held (heartbeat).
    ws.send([{ channel: '/meta/connect', clientId, connectionType: 'websocket', id: 'wc2' }]);
    await sleep(Math.min(500, T / 4));
    assert.ok(!ws.frames.some((f) => f.json?.some?.((m) => m.id === 'wc2')), 'connect on the socket answered at once with nothing to deliver');
    // A message published meanwhile is pushed at once.
    const pub = await session(t, { name: 'tr2p' });
    const pubAt = now();
    await mustPublish(pub, ch, { n: 1 });
    const pushed = await ws.nextMessage((m) => isEvent(m) && m.channel === ch, atOnce + 500);
    assert.ok(pushed, 'message not pushed on the socket');
    assert.ok(pushed.at - pubAt < atOnce, `message pushed ${Math.round(pushed.at - pubAt)} ms after the publish`);
    assert.deepEqual(pushed.json.filter(isEvent), [{ channel: ch, data: { n: 1 } }], pushed.text);
    const r2 = await ws.nextMessage((m) => m.id === 'wc2', heldMax);
    assert.ok(r2, `held connect on the socket not answered within ${heldMax} ms`);
    assert.equal(r2.json.find((m) => m.id === 'wc2').successful, true, r2.text);
    const sent3 = now();
    ws.send([{ channel: '/meta/connect', clientId, connectionType: 'websocket', id: 'wc3' }]);
    const r3 = await ws.nextMessage((m) => m.id === 'wc3', heldMax);
    assert.ok(r3, `connect on the socket not answered within ${heldMax} ms`);
    assert.ok(r3.at - sent3 >= heldMin, `connect with nothing to deliver answered after ${Math.round(r3.at - sent3)} ms (expected held about ${T})`);

    // Faye's way: a session handshaken over HTTP, its queue drained by a connect on a new
    // socket, everything queued at that moment in one frame.
    const [f, pub2] = await Promise.all([session(t, { name: 'tr2f' }), session(t, { name: 'tr2q' })]);
    const fch = uniq('tr2');
    await mustSubscribe(f, fch);
    const { replies } = await pub2.publishBatch(fch, [1, 2, 3, 4, 5].map((n) => ({ n })));
    assert.ok(replies.every((r) => r?.successful), JSON.stringify(replies));
    const fws = await openWs();
    t.after(() => fws.destroy());
    fws.send([{ channel: '/meta/connect', clientId: f.clientId, connectionType: 'websocket', id: 'fc' }]);
    const first = await fws.nextMessage((m) => isEvent(m) && m.channel === fch, atOnce + 1000);
    assert.ok(first, 'queued messages not delivered on the socket');
    assert.deepEqual(first.json.filter(isEvent).map((e) => e.data.n), [1, 2, 3, 4, 5],
      `messages queued at the same moment not coalesced into one frame: ${first.text}`);

    // Bad frames close the socket: not JSON messages 1007, binary 1003.
    for (const [what, act, code] of [
      ['malformed JSON', (s) => s.send('{"channel":'), 1007],
      ['JSON that is not messages', (s) => s.send('42'), 1007],
      ['a binary frame', (s) => s.sendBinary(Buffer.from('[]')), 1003],
    ]) {
      const s = await openWs();
      t.after(() => s.destroy());
      act(s);
      const closed = await s.closed(3000);
      assert.ok(closed, `${what}: socket not closed`);
      assert.equal(closed.code, code, `${what}: close code ${closed.code} ${closed.reason}`);
    }
  });

test('TR-3 JSONP: GET ?message=&jsonp=, /**/cb([...]); text/javascript, callback checked, connects held',
  { skip: need('callback-polling') }, async (t) => {
    const hs = await jsonp([handshakeMsg(['callback-polling'], 'jh')], { callback: 'app.cometd_1.$cb' });
    assert.equal(hs.status, 200, `HTTP ${hs.status} ${hs.text.slice(0, 200)}`);
    assert.equal(hs.callback, 'app.cometd_1.$cb', `body not /**/<callback>(...); : ${hs.text.slice(0, 200)}`);
    assert.ok(Array.isArray(hs.messages), hs.text.slice(0, 200));
    assert.equal(norm(hs.headers.get('content-type')), 'text/javascript;charset=utf-8', `Content-Type: ${hs.headers.get('content-type')}`);
    const cc = norm(hs.headers.get('cache-control')).split(',');
    assert.ok(cc.includes('no-cache') && cc.includes('no-store'), `Cache-Control: ${hs.headers.get('cache-control')}`);
    assert.equal(norm(hs.headers.get('x-content-type-options')), 'nosniff', `X-Content-Type-Options: ${hs.headers.get('x-content-type-options')}`);
    const reply = byId(hs.messages, 'jh');
    assert.equal(reply?.successful, true, hs.text);
    const c = new Client('tr3');
    c.clientId = reply.clientId;
    c.advice = reply.advice;
    t.after(() => c.disconnect());
    const { T, atOnce } = bounds(c);

    // The default callback.
    const dflt = await jsonp([{ channel: '/meta/connect', clientId: c.clientId, connectionType: 'callback-polling', id: 'jc1' }]);
    assert.equal(dflt.status, 200, dflt.text);
    assert.equal(dflt.callback, 'jsonpcallback', `default callback: ${dflt.text.slice(0, 200)}`);
    assert.equal(byId(dflt.messages, 'jc1')?.successful, true, dflt.text);

    // Callback names: a dotted JavaScript identifier path of at most 64 characters.
    const good = ['cb', '_x', '$', 'a.b.c', 'x'.repeat(64), 'a1.b2.$c_'];
    const bad = ['x'.repeat(65), '1abc', 'a..b', 'a.', '.a', 'a-b', 'alert(1)', 'a b', 'a;b', 'a[0]', ''];
    for (const cb of good) {
      const r = await jsonp([{ channel: '/meta/subscribe', clientId: c.clientId, subscription: uniq('tr3'), id: 'g' }], { callback: cb });
      assert.equal(r.status, 200, `callback ${JSON.stringify(cb)}: HTTP ${r.status} ${r.text.slice(0, 100)}`);
      assert.equal(r.callback, cb, `callback ${JSON.stringify(cb)}: ${r.text.slice(0, 100)}`);
    }
    for (const cb of bad) {
      const r = await jsonp([{ channel: '/meta/subscribe', clientId: c.clientId, subscription: uniq('tr3'), id: 'b' }], { callback: cb });
      assert.equal(r.status, 400, `callback ${JSON.stringify(cb)}: HTTP ${r.status} ${r.text.slice(0, 100)}`);
    }

    // Connects are held as with long-polling, and a message wakes them.
    const ch = uniq('tr3');
    const sub = await jsonp([{ channel: '/meta/subscribe', clientId: c.clientId, subscription: ch, id: 'js' }], { callback: 'cb' });
    assert.equal(byId(sub.messages, 'js')?.successful, true, sub.text);
    let settled = false;
    const held = jsonp([{ channel: '/meta/connect', clientId: c.clientId, connectionType: 'callback-polling', id: 'jc2' }], { callback: 'cb' })
      .then((r) => { settled = true; return { ...r, at: now() }; });
    held.catch(() => {});
    await sleep(Math.min(500, T / 4));
    assert.ok(!settled, 'JSONP connect answered at once with nothing to deliver (not held)');
    const pub = await session(t, { name: 'tr3p' });
    const pubAt = now();
    await mustPublish(pub, ch, { n: 3 });
    const r = await held;
    assert.ok(r.at - pubAt < atOnce, `held JSONP connect answered ${Math.round(r.at - pubAt)} ms after the publish`);
    assert.equal(byId(r.messages, 'jc2')?.successful, true, r.text);
    assert.deepEqual((r.messages ?? []).filter(isEvent).map((e) => e.data), [{ n: 3 }], r.text);
  });

test('TR-4 EventSource: GET <path>/<clientId>, retry: first, one data: event per wake, keep-alive, eventsource connects',
  { skip: need('eventsource') }, async (t) => {
    // Unknown clientId.
    const unknown = await openEventSource(`${BASE_URL.pathname}/${UNKNOWN_ID}`);
    const ubody = unknown.status === 200 ? '' : await unknown.stream.text();
    unknown.stream.close();
    assert.equal(unknown.status, 400, `unknown clientId: HTTP ${unknown.status} ${ubody}`);

    const [c, pub] = await Promise.all([session(t, { name: 'tr4', connect: false }), session(t, { name: 'tr4p' })]);
    const { T, atOnce } = bounds(c);
    const ch = uniq('tr4');
    await mustSubscribe(c, ch);
    // Queued before the stream is there: the first wake delivers them all in one event.
    const { replies } = await pub.publishBatch(ch, [1, 2, 3].map((n) => ({ n })));
    assert.ok(replies.every((r) => r?.successful), JSON.stringify(replies));

    const es = await openEventSource(`${BASE_URL.pathname}/${c.clientId}`);
    t.after(() => es.stream.close());
    assert.equal(es.status, 200, `HTTP ${es.status}`);
    assert.match(norm(es.headers['content-type']), /^text\/event-stream/, `Content-Type: ${es.headers['content-type']}`);
    const retry = await es.stream.next(() => true, 2000);
    assert.equal(retry?.kind, 'retry', `the stream does not start with retry: ${JSON.stringify(es.stream.raw.slice(0, 100))}`);
    assert.match(es.stream.raw, /^retry:/, `the stream does not start with retry: ${JSON.stringify(es.stream.raw.slice(0, 100))}`);

    // The client's connects, posted, are answered at once with Faye's advice.
    const cr = await c.connect({ connectionType: 'eventsource' });
    assert.equal(cr.reply?.successful, true, cr.res.text);
    assert.ok(cr.ms < atOnce, `eventsource connect took ${Math.round(cr.ms)} ms`);
    assert.deepEqual(cr.reply.advice, { reconnect: 'retry', interval: T, timeout: 0 }, `eventsource connect advice: ${cr.res.text}`);
    const first = await es.stream.nextMessages((m) => m.channel === ch, atOnce + 1000);
    const viaConnect = cr.events.map((e) => e.data?.n);
    assert.ok(first, `queued messages not delivered on the stream (the connect reply carried ${JSON.stringify(viaConnect)})`);
    assert.deepEqual(first.json.filter(isEvent).map((e) => e.data.n), [1, 2, 3], `one data: event per wake: ${first.value}`);

    // Later messages: pushed on the stream promptly.
    const pub2 = await session(t, { name: 'tr4q' });
    const pubAt = now();
    await mustPublish(pub2, ch, { n: 4 });
    const next = await es.stream.nextMessages((m) => m.channel === ch, atOnce + 500);
    assert.ok(next, 'message not pushed on the stream');
    assert.ok(next.at - pubAt < atOnce, `pushed ${Math.round(next.at - pubAt)} ms after the publish`);
    assert.deepEqual(next.json.filter(isEvent), [{ channel: ch, data: { n: 4 } }], next.value);

    // Idle: a `:` comment every 15 s.
    const since = now();
    const comment = await es.stream.next((it) => it.kind === 'comment', 17000);
    assert.ok(comment, `no keep-alive comment within ${Math.round(now() - since)} ms of idling`);
  });

test('TR-5 CORS: allowed origins get Allow-Origin and Allow-Credentials; preflights answered', async (t) => {
  const origin = ENV.allowedOrigins?.[0] ?? 'http://any-origin.example';
  const check = (what, headers, o = origin) => {
    assert.equal(headers.get('access-control-allow-origin'), o, `${what}: Access-Control-Allow-Origin ${headers.get('access-control-allow-origin')}`);
    assert.equal(headers.get('access-control-allow-credentials'), 'true', `${what}: Access-Control-Allow-Credentials ${headers.get('access-control-allow-credentials')}`);
  };
  const hs = await post([handshakeMsg(['long-polling'])], { headers: { origin } });
  assert.equal(hs.json?.[0]?.successful, true, hs.text);
  const c = new Client('tr5');
  c.clientId = hs.json[0].clientId;
  t.after(() => c.disconnect());
  check('handshake', hs.headers);
  const err = await post([{ channel: '/meta/connect', clientId: UNKNOWN_ID, connectionType: 'long-polling' }], { headers: { origin } });
  check('failed connect', err.headers);
  const bad = await post('[{"channel":', { contentType: 'application/json', headers: { origin } });
  assert.equal(bad.status, 400, `malformed body: HTTP ${bad.status}`);
  check('400 reply', bad.headers);
  // Faye's cross-origin-long-polling: message=<JSON> in a text/plain body.
  if (enabled('cross-origin-long-polling')) {
    const form = await post(`message=${encodeURIComponent(JSON.stringify([handshakeMsg(['cross-origin-long-polling'])]))}`,
      { contentType: 'text/plain;charset=UTF-8', headers: { origin } });
    assert.equal(form.json?.[0]?.successful, true, `cross-origin form post: HTTP ${form.status} ${form.text}`);
    check('cross-origin form post', form.headers);
    const fc = new Client('tr5f');
    fc.clientId = form.json[0].clientId;
    t.after(() => fc.disconnect());
  }

  // Preflight.
  const pre = await fetch(BASE, {
    method: 'OPTIONS',
    headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,x-requested-with' },
    signal: AbortSignal.timeout(5000),
  });
  await pre.arrayBuffer();
  assert.equal(pre.status, 200, `preflight: HTTP ${pre.status}`);
  check('preflight', pre.headers);
  const methods = norm(pre.headers.get('access-control-allow-methods')).split(',');
  for (const m of ['get', 'post', 'options']) {
    assert.ok(methods.includes(m), `preflight Allow-Methods: ${pre.headers.get('access-control-allow-methods')}`);
  }
  const allowed = norm(pre.headers.get('access-control-allow-headers')).split(',');
  for (const h of ['content-type', 'x-requested-with']) {
    assert.ok(allowed.includes(h), `preflight Allow-Headers: ${pre.headers.get('access-control-allow-headers')}`);
  }
  assert.equal(pre.headers.get('access-control-max-age'), '86400', `preflight Max-Age: ${pre.headers.get('access-control-max-age')}`);

  // With a list of allowed origins, another origin gets no CORS headers.
  if (ENV.allowedOrigins) {
    const stranger = 'http://not-allowed.example';
    const r = await post([handshakeMsg(['long-polling'])], { headers: { origin: stranger } });
    if (r.json?.[0]?.clientId) {
      const x = new Client('tr5x');
      x.clientId = r.json[0].clientId;
      t.after(() => x.disconnect());
    }
    assert.equal(r.headers.get('access-control-allow-origin'), null, `origin not allowed got Allow-Origin ${r.headers.get('access-control-allow-origin')}`);
    const p2 = await fetch(BASE, {
      method: 'OPTIONS',
      headers: { origin: stranger, 'access-control-request-method': 'POST' },
      signal: AbortSignal.timeout(5000),
    });
    await p2.arrayBuffer();
    assert.equal(p2.headers.get('access-control-allow-origin'), null, `preflight from an origin not allowed got Allow-Origin ${p2.headers.get('access-control-allow-origin')}`);
  }
});

test('TR-6 the latest connect\'s transport delivers; one deliverer at a time keeps publish order',
  { skip: need('websocket', 'eventsource') }, async (t) => {
    // Publishers are made just before use: an idle session expires after maxInterval.
    const publisher = (name) => session(t, { name });

    await parts({
      'a: socket then long-poll': async () => {
        // (a) WebSocket, then a long-poll connect: the long-poll takes the messages.
        const a = await wsSession(t, 'tr6a');
        const { T, atOnce } = bounds(a.c);
        const ach = uniq('tr6');
        assert.equal((await wsCall(a.ws, { channel: '/meta/subscribe', clientId: a.clientId, subscription: ach })).reply?.successful, true);
        assert.equal((await wsCall(a.ws, { channel: '/meta/connect', clientId: a.clientId, connectionType: 'websocket' })).reply?.successful, true);
        a.ws.send([{ channel: '/meta/connect', clientId: a.clientId, connectionType: 'websocket', id: 'a-held' }]);
        await sleep(200);
        let settled = false;
        const poll = a.c.connect().then((r) => { settled = true; return { ...r, at: now() }; });
        poll.catch(() => {});
        await sleep(Math.min(500, T / 4));
        assert.ok(!settled, 'long-poll connect after the socket\'s was not held');
        const pa = await publisher('tr6pa');
        const pubAt = now();
        await mustPublish(pa, ach, { to: 'poll' });
        const pr = await poll;
        assert.ok(pr.at - pubAt < atOnce, `long-poll answered ${Math.round(pr.at - pubAt)} ms after the publish`);
        assert.deepEqual(pr.events.map((e) => e.data), [{ to: 'poll' }], `long-poll did not take the message from the socket: ${pr.res.text}`);
        await sleep(300);
        const onSocket = a.ws.frames.filter((f) => f.json?.some?.((m) => isEvent(m) && m.channel === ach));
        assert.deepEqual(onSocket.map((f) => f.text), [], 'the socket also got the message');
      },
      'b: EventSource then long-poll': async () => {
        // (b) EventSource attached: a long-poll connect does not take the messages from it.
        const b = await session(t, { name: 'tr6b', connect: false });
        const { T, atOnce } = bounds(b);
        const bch = uniq('tr6');
        await mustSubscribe(b, bch);
        const es = await openEventSource(`${BASE_URL.pathname}/${b.clientId}`);
        t.after(() => es.stream.close());
        assert.equal(es.status, 200, `EventSource: HTTP ${es.status}`);
        const ec = await b.connect({ connectionType: 'eventsource' });
        assert.equal(ec.reply?.successful, true, ec.res.text);
        const lp = b.connect().then((r) => ({ ...r, at: now() }));
        lp.catch(() => {});
        await sleep(Math.min(500, T / 4));
        await mustPublish(await publisher('tr6pb'), bch, { to: 'stream' });
        const got = await es.stream.nextMessages((m) => m.channel === bch, atOnce + 500);
        assert.ok(got, 'the EventSource stream lost the message to a long-poll connect');
        const lpr = await lp;
        assert.deepEqual(lpr.events, [], `the long-poll took a message from the stream: ${lpr.res.text}`);
      },
      'c: switch keeps order': async () => {
        // (c) Switching from a socket to long-polling while messages flow: each message once,
        // in publish order (the socket gets a prefix, the long-poll the rest).
        const s = await wsSession(t, 'tr6s');
        const sch = uniq('tr6');
        assert.equal((await wsCall(s.ws, { channel: '/meta/subscribe', clientId: s.clientId, subscription: sch })).reply?.successful, true);
        assert.equal((await wsCall(s.ws, { channel: '/meta/connect', clientId: s.clientId, connectionType: 'websocket' })).reply?.successful, true);
        s.ws.send([{ channel: '/meta/connect', clientId: s.clientId, connectionType: 'websocket', id: 's-held' }]);
        const pub = await publisher('tr6pc');
        const total = 60;
        let n = 0;
        const polled = [];
        let switched;
        for (let batch = 0; batch < 12; batch += 1) {
          if (batch === 4) {
            // The switch, sent while publishing goes on.
            switched = (async () => {
              const deadline = now() + 15000;
              while (now() < deadline && !polled.includes(total)) {
                const r = await s.c.connect();
                polled.push(...r.events.filter((e) => e.channel === sch).map((e) => e.data.n));
                if (!r.reply?.successful) break;
              }
            })();
          }
          const datas = Array.from({ length: 5 }, () => ({ n: ++n }));
          const { replies } = await pub.publishBatch(sch, datas);
          assert.ok(replies.every((r) => r?.successful), JSON.stringify(replies));
        }
        await switched;
        const pushed = s.ws.frames.flatMap((f) => (Array.isArray(f.json) ? f.json : []))
          .filter((m) => isEvent(m) && m.channel === sch).map((m) => m.data.n);
        const all = [...pushed, ...polled];
        assert.deepEqual(all, Array.from({ length: total }, (_, i) => i + 1),
          `socket got ${JSON.stringify(pushed)}, long-poll got ${JSON.stringify(polled)}`);
      },
    });
  });

test('TR-7 a WebSocket or EventSource that closes loses nothing queued', { skip: need('websocket', 'eventsource') }, async (t) => {
  const five = (tag) => [1, 2, 3, 4, 5].map((n) => ({ tag, n }));
  const publishFive = async (ch, tag) => {
    // A new publisher each time: an idle session expires after maxInterval.
    const pub = await session(t, { name: `tr7p${tag}` });
    const { replies } = await pub.publishBatch(ch, five(tag));
    assert.ok(replies.every((r) => r?.successful), JSON.stringify(replies));
  };
  const expectFive = (events, ch, tag, where) => assert.deepEqual(
    events.filter((e) => e.channel === ch).map((e) => e.data), five(tag), `${where}: ${JSON.stringify(events)}`,
  );

  const wsOpen = async (name) => {
    const s = await wsSession(t, name);
    const ch = uniq('tr7');
    assert.equal((await wsCall(s.ws, { channel: '/meta/subscribe', clientId: s.clientId, subscription: ch })).reply?.successful, true);
    assert.equal((await wsCall(s.ws, { channel: '/meta/connect', clientId: s.clientId, connectionType: 'websocket' })).reply?.successful, true);
    s.ws.send([{ channel: '/meta/connect', clientId: s.clientId, connectionType: 'websocket', id: `${name}-held` }]);
    await sleep(200);
    return { ...s, ch };
  };

  await parts({
    '1: socket closed, then polling': async () => {
      const a = await wsOpen('tr7a');
      a.ws.close();
      await a.ws.closed(2000);
      await sleep(200);
      await publishFive(a.ch, 'a');
      const { events } = await a.c.collect((e) => e.channel === a.ch && e.data?.n === 5, 8000);
      expectFive(events, a.ch, 'a', 'polling after the socket closed');
    },
    '2: socket dropped, then a new socket': async () => {
      const b = await wsOpen('tr7b');
      b.ws.destroy();
      await sleep(300);
      await publishFive(b.ch, 'b');
      const ws2 = await openWs();
      t.after(() => ws2.destroy());
      ws2.send([{ channel: '/meta/connect', clientId: b.clientId, connectionType: 'websocket', id: 'b2' }]);
      const got = [];
      const deadline = now() + 5000;
      while (now() < deadline && !got.some((e) => e.data?.n === 5)) {
        const f = await ws2.nextMessage((m) => isEvent(m) && m.channel === b.ch, deadline - now());
        if (!f) break;
        got.push(...f.json.filter(isEvent));
      }
      expectFive(got, b.ch, 'b', 'on a new socket after the first dropped');
    },
    '3: EventSource closed, then polling': async () => {
      const c = await session(t, { name: 'tr7c', connect: false });
      const cch = uniq('tr7');
      await mustSubscribe(c, cch);
      const es = await openEventSource(`${BASE_URL.pathname}/${c.clientId}`);
      assert.equal(es.status, 200, `EventSource: HTTP ${es.status}`);
      await c.connect({ connectionType: 'eventsource' });
      await sleep(200);
      es.stream.close();
      await sleep(300);
      await publishFive(cch, 'c');
      const { events } = await c.collect((e) => e.channel === cch && e.data?.n === 5, 8000);
      expectFive(events, cch, 'c', 'polling after the EventSource closed');
    },
  });
});

test('TR-8 one BAYEUX_BROWSER cookie; at most max_polls_per_browser long-polls held per browser', async (t) => {
  // The cookie.
  const jar = new Map();
  const res = await post([handshakeMsg(['long-polling'])], { cookies: jar });
  assert.equal(res.json?.[0]?.successful, true, res.text);
  const first = new Client('tr8a');
  first.clientId = res.json[0].clientId;
  first.advice = res.json[0].advice;
  first.cookies = jar;
  t.after(() => first.disconnect());
  const setCookies = res.headers.getSetCookie().filter((c) => /^\s*BAYEUX_BROWSER=/.test(c));
  assert.equal(setCookies.length, 1, `Set-Cookie: ${JSON.stringify(res.headers.getSetCookie())}`);
  const attrs = setCookies[0].split(';').slice(1).map((a) => a.trim().toLowerCase().replace(/\s*=\s*/, '='));
  for (const a of ['path=/', 'httponly', 'samesite=lax']) {
    assert.ok(attrs.includes(a), `BAYEUX_BROWSER cookie lacks ${a}: ${setCookies[0]}`);
  }
  assert.match(setCookies[0], /^\s*BAYEUX_BROWSER=[^;\s]+/, setCookies[0]);
  // A handshake that brings the cookie gets no new one.
  const again = await post([handshakeMsg(['long-polling'])], { cookies: jar });
  const second = new Client('tr8b');
  second.clientId = again.json?.[0]?.clientId;
  second.cookies = jar;
  t.after(() => second.disconnect());
  assert.equal(again.json?.[0]?.successful, true, again.text);
  assert.deepEqual(again.headers.getSetCookie().filter((c) => /^\s*BAYEUX_BROWSER=/.test(c)), [],
    'a new BAYEUX_BROWSER cookie for a request that had one');

  // The poll limit: max clients of one browser hold a connect each; one more is answered at once.
  const max = ENV.maxPollsPerBrowser;
  const clients = [first, second];
  while (clients.length < max + 1) {
    const c = new Client(`tr8c${clients.length}`);
    c.cookies = jar;
    const { reply } = await c.handshake();
    assert.equal(reply?.successful, true, JSON.stringify(reply));
    t.after(() => c.disconnect());
    clients.push(c);
  }
  for (const c of clients) {
    const { reply } = await c.connect();
    assert.equal(reply?.successful, true, JSON.stringify(reply));
  }
  // Another browser is not affected.
  const other = await session(t, { name: 'tr8o' });
  const { T, atOnce } = bounds(first);
  const heldState = [...clients.slice(0, max), other].map((c) => {
    const h = { settled: false };
    h.p = c.connect().then((r) => { h.settled = true; return r; });
    h.p.catch(() => {});
    return h;
  });
  await sleep(Math.min(500, T / 4));
  heldState.forEach((h, i) => assert.ok(!h.settled, `connect ${i + 1} of the browser's first ${max} (or the other browser's) was not held`));
  const extra = await clients[max].connect();
  assert.ok(extra.ms < atOnce, `connect over the browser's limit took ${Math.round(extra.ms)} ms (expected at once)`);
  const advice = extra.reply?.advice ?? {};
  assert.equal(advice.reconnect, 'retry', `over the limit: ${extra.res.text}`);
  assert.equal(advice.interval, 2000, `over the limit: ${extra.res.text}`);
  assert.equal(advice['multiple-clients'], true, `over the limit: ${extra.res.text}`);
});
