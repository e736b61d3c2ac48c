// HS: /meta/handshake (spec/bayeux.md).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Client, post, session, uniq, byId, isEvent, ENV, HANDSHAKE_ADVICE, timingOf,
} from './lib/bayeux.mjs';

function handshakeMsg(fields = {}) {
  return { channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['long-polling'], ...fields };
}

/** Post a handshake; the session it may create is disconnected when the test ends. */
async function rawHandshake(t, msg) {
  const res = await post([msg]);
  const reply = res.json?.[0];
  if (reply?.clientId) {
    const c = new Client('hsx');
    c.clientId = reply.clientId;
    t.after(() => c.disconnect());
  }
  return { res, reply };
}

test('HS-1 a handshake with a version and a shared connection type succeeds', async (t) => {
  const { res, reply } = await rawHandshake(t, handshakeMsg({
    version: '0.9-anything', supportedConnectionTypes: ['x-unknown-type', 'long-polling'], id: 'hs1',
  }));
  assert.equal(res.status, 200, `HTTP ${res.status} ${res.text}`);
  assert.equal(reply?.channel, '/meta/handshake', res.text);
  assert.equal(reply.successful, true, res.text);
  assert.equal(typeof reply.clientId, 'string', res.text);
  assert.equal(reply.version, '1.0', res.text);
  assert.equal(reply.minimumVersion, '1.0', `minimumVersion: ${res.text}`);
  assert.equal(reply.id, 'hs1', res.text);
  assert.ok(reply.advice && typeof reply.advice === 'object', `no advice: ${res.text}`);
  const types = reply.supportedConnectionTypes;
  assert.ok(Array.isArray(types) && types.length > 0, `supportedConnectionTypes: ${res.text}`);
  assert.ok(types.includes('long-polling'), `long-polling not offered: ${res.text}`);
  assert.ok(types.every((x) => typeof x === 'string'), res.text);
  assert.ok(!types.includes('x-unknown-type'), `echoes a type the server does not have: ${res.text}`);
  // Every enabled type, not the intersection with what this client asked for.
  const { reply: wide } = await rawHandshake(t, handshakeMsg({
    supportedConnectionTypes: ['long-polling', 'callback-polling', 'websocket', 'eventsource', 'cross-origin-long-polling'],
  }));
  assert.equal(wide?.successful, true, JSON.stringify(wide));
  assert.deepEqual([...types].sort(), [...wide.supportedConnectionTypes].sort(),
    'supportedConnectionTypes depends on what the client sent (intersection instead of every enabled type)');
});

test('HS-2 clientId is 32 lowercase hex digits (UUID v4), unique per handshake', async (t) => {
  const n = 20;
  const replies = await Promise.all(Array.from({ length: n }, () => rawHandshake(t, handshakeMsg())));
  const ids = replies.map(({ reply }) => reply?.clientId);
  for (const id of ids) {
    assert.equal(typeof id, 'string', `no clientId: ${JSON.stringify(replies.map((r) => r.reply))}`);
    assert.match(id, /^[0-9a-f]{32}$/, `clientId ${id} is not 32 lowercase hex digits`);
    // UUID v4 layout: version nibble 4, variant 10xx.
    assert.equal(id[12], '4', `clientId ${id}: not a v4 UUID (version nibble ${id[12]})`);
    assert.match(id[16], /[89ab]/, `clientId ${id}: not an RFC 4122 variant (nibble ${id[16]})`);
  }
  assert.equal(new Set(ids).size, n, `duplicate clientIds: ${ids.join(' ')}`);
});

test('HS-3 handshake advice is {reconnect:retry, interval, timeout, maxInterval}', async (t) => {
  const { reply } = await rawHandshake(t, handshakeMsg({ id: 'hs3' }));
  assert.equal(reply?.successful, true, JSON.stringify(reply));
  const a = reply.advice;
  assert.ok(a && typeof a === 'object', `no advice: ${JSON.stringify(reply)}`);
  assert.deepEqual(Object.keys(a).sort(), ['interval', 'maxInterval', 'reconnect', 'timeout'],
    `advice fields: ${JSON.stringify(a)}`);
  assert.equal(a.reconnect, 'retry');
  for (const k of ['interval', 'timeout', 'maxInterval']) {
    assert.ok(Number.isInteger(a[k]) && a[k] >= 0, `advice.${k} is not a count of ms: ${JSON.stringify(a)}`);
  }
  // The server's settings, when the runner told us what they are.
  if (ENV.timeout !== undefined) assert.equal(a.timeout, ENV.timeout, 'advice.timeout vs BAYEUX_TIMEOUT');
  if (ENV.interval !== undefined) assert.equal(a.interval, ENV.interval, 'advice.interval vs BAYEUX_INTERVAL');
  if (ENV.maxInterval !== undefined) assert.equal(a.maxInterval, ENV.maxInterval, 'advice.maxInterval vs BAYEUX_MAX_INTERVAL');
});

test('HS-4 failed handshakes: exact errors, advice {reconnect:handshake, interval:0}, no session', async (t) => {
  const cases = [
    [{ channel: '/meta/handshake', supportedConnectionTypes: ['long-polling'] }, '400:version:Missing field'],
    [{ channel: '/meta/handshake', version: '1.0' }, '400:supportedConnectionTypes:Missing field'],
    [handshakeMsg({ supportedConnectionTypes: 'long-polling' }), '400:supportedConnectionTypes:Invalid field'],
    [handshakeMsg({ supportedConnectionTypes: ['iframe', 'flash'] }), '406:iframe,flash:Unsupported connection type'],
  ];
  for (const [i, [msg, error]] of cases.entries()) {
    msg.id = `hs4n${i}`;
    const { res, reply } = await rawHandshake(t, msg);
    assert.equal(res.status, 200, `${JSON.stringify(msg)} -> HTTP ${res.status}`);
    assert.equal(reply?.successful, false, `${JSON.stringify(msg)} -> ${res.text}`);
    assert.equal(reply.error, error, `${JSON.stringify(msg)} -> ${res.text}`);
    assert.deepEqual(reply.advice, HANDSHAKE_ADVICE, `${JSON.stringify(msg)} -> advice ${JSON.stringify(reply.advice)}`);
    assert.equal(reply.clientId, undefined, `a failed handshake names a clientId: ${res.text}`);
  }
});

test('HS-5 a handshake batched with other messages is refused as a whole', async (t) => {
  const a = await session(t, { name: 'hs5' });
  const ch = uniq('hs5');
  const res = await post([
    handshakeMsg({ id: 'h' }),
    { channel: '/meta/subscribe', clientId: a.clientId, subscription: ch, id: 's' },
    { channel: ch, clientId: a.clientId, data: { leaked: true }, id: 'p' },
  ], { cookies: a.cookies });
  assert.equal(res.status, 200, `HTTP ${res.status} ${res.text}`);
  const replies = res.json;
  assert.ok(Array.isArray(replies), res.text);
  for (const id of ['h', 's', 'p']) {
    const r = byId(replies, id);
    assert.ok(r, `no reply for ${id}: ${res.text}`);
    assert.equal(r.successful, false, JSON.stringify(r));
    assert.equal(r.error, '400::Handshake must be alone in its request', JSON.stringify(r));
  }
  assert.ok(!replies.some((r) => r && r.clientId && r.clientId !== a.clientId), `a session was created: ${res.text}`);
  // Two handshakes, and a handshake with a connect: refused the same way.
  for (const batch of [
    [handshakeMsg({ id: 'h1' }), handshakeMsg({ id: 'h2' })],
    [{ channel: '/meta/connect', clientId: a.clientId, connectionType: 'long-polling', id: 'c1' }, handshakeMsg({ id: 'h3' })],
  ]) {
    const r = await post(batch, { cookies: a.cookies });
    assert.equal(r.status, 200, `HTTP ${r.status} ${r.text}`);
    for (const m of batch) {
      const rep = byId(r.json, m.id);
      assert.equal(rep?.successful, false, `${m.id}: ${r.text}`);
      assert.equal(rep.error, '400::Handshake must be alone in its request', `${m.id}: ${r.text}`);
    }
    assert.ok(!r.json.some((x) => x && x.clientId && x.clientId !== a.clientId), `a session was created: ${r.text}`);
  }
  // Nothing was applied: a's subscription to ch does not exist, the publish went nowhere.
  const { reply: p2 } = await a.publish(ch, { probe: true });
  assert.equal(p2?.successful, true, JSON.stringify(p2));
  const { res: cr } = await a.connect({ advice: { timeout: 0 } }, { timeout: timingOf(a).timeout + 5000 });
  const got = cr.messages.filter((m) => isEvent(m) && m.channel === ch);
  assert.deepEqual(got, [], `the subscribe in the refused batch was applied: ${cr.text}`);
});
