// ADV, ERR: advice and errors (spec/bayeux.md).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Client, post, session, uniq, mustSubscribe, mustPublish, upToSentinel, timingOf, sleep, UNKNOWN_ID, HANDSHAKE_ADVICE,
} from './lib/bayeux.mjs';

const wait = (c) => timingOf(c).timeout * 3 + 3000;

/** One message of each kind that needs a clientId, with `fields` merged in. */
function everyChannel(fields, ch) {
  return [
    { channel: '/meta/connect', connectionType: 'long-polling', ...fields },
    { channel: '/meta/subscribe', subscription: ch, ...fields },
    { channel: '/meta/unsubscribe', subscription: ch, ...fields },
    { channel: ch, data: { n: 1 }, ...fields },
    { channel: '/service/echo', data: { n: 2 }, ...fields },
    { channel: '/meta/disconnect', ...fields },
  ];
}

test('ADV-1 reconnect is retry on success, handshake for unknown sessions, none after disconnect', async (t) => {
  const c = new Client('adv1');
  const { reply: hs } = await c.handshake();
  t.after(() => c.disconnect());
  assert.equal(hs?.advice?.reconnect, 'retry', `successful handshake: ${JSON.stringify(hs)}`);
  for (const k of ['interval', 'timeout', 'maxInterval']) {
    assert.ok(Number.isInteger(hs.advice[k]) && hs.advice[k] >= 0, `handshake advice.${k} is not a count of ms: ${JSON.stringify(hs.advice)}`);
  }
  const first = await c.connect();
  assert.equal(first.reply?.advice?.reconnect, 'retry', `successful connect: ${JSON.stringify(first.reply)}`);

  const failedHs = await post([{ channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['flash'] }]);
  assert.equal(failedHs.json?.[0]?.advice?.reconnect, 'handshake', `failed handshake: ${failedHs.text}`);

  const stranger = new Client('adv1u');
  stranger.clientId = UNKNOWN_ID;
  const unknown = await stranger.connect();
  assert.equal(unknown.reply?.advice?.reconnect, 'handshake', `unknown session: ${JSON.stringify(unknown.reply)}`);

  // A connect held when the session is ended by a disconnect.
  const { timeout: T } = timingOf(c);
  const held = c.connect();
  held.catch(() => {});
  await sleep(Math.min(500, T / 4));
  await c.disconnect();
  const r = await held;
  assert.equal(r.reply?.advice?.reconnect, 'none', `connect ended by a disconnect: ${r.res.text}`);
});

test('ERR-1 any message but a handshake without clientId gets 401::No client ID', async (t) => {
  const ch = uniq('err1');
  for (const msg of everyChannel({ id: 'e1' }, ch)) {
    const res = await post([msg]);
    const r = res.json?.[0];
    assert.equal(res.status, 200, `${msg.channel}: HTTP ${res.status}`);
    assert.equal(r?.successful, false, `${msg.channel}: ${res.text}`);
    assert.equal(r.error, '401::No client ID', `${msg.channel}: ${res.text}`);
  }
});

test('ERR-2 an unknown clientId gets 402:<id>:Unknown client and advice reconnect:handshake on every channel', async (t) => {
  const gone = await session(t, { name: 'err2' });
  await gone.disconnect();
  const ch = uniq('err2');
  for (const id of [UNKNOWN_ID, gone.clientId, 'not-even-hex']) {
    for (const msg of everyChannel({ clientId: id, id: 'e2' }, ch)) {
      const res = await post([msg], { cookies: gone.cookies });
      const r = res.json?.[0];
      assert.equal(res.status, 200, `${msg.channel} ${id}: HTTP ${res.status}`);
      assert.equal(r?.successful, false, `${msg.channel} ${id}: ${res.text}`);
      assert.equal(r.error, `402:${id}:Unknown client`, `${msg.channel} ${id}: ${res.text}`);
      assert.deepEqual(r.advice, HANDSHAKE_ADVICE, `${msg.channel} ${id}: advice ${JSON.stringify(r.advice)}`);
    }
  }
});

test('ERR-3 a message on an unknown /meta/ channel gets 404:<channel>:Unknown channel', async (t) => {
  const [c, pub] = await Promise.all([session(t, { name: 'err3' }), session(t, { name: 'err3p' })]);
  const ch = uniq('err3');
  for (const meta of ['/meta/foo', '/meta/subscribe/x', '/meta/connect/extra', '/meta/Handshake']) {
    const { reply } = await c.meta(meta, { subscription: ch, connectionType: 'long-polling' });
    assert.equal(reply?.successful, false, `${meta}: ${JSON.stringify(reply)}`);
    assert.equal(reply.error, `404:${meta}:Unknown channel`, `${meta}: ${JSON.stringify(reply)}`);
  }
  // /meta/subscribe/x was not treated as a subscribe.
  const sentinel = uniq('err3');
  await mustSubscribe(c, sentinel);
  await mustPublish(pub, ch, { n: 1 });
  await mustPublish(pub, sentinel, {});
  const got = await upToSentinel(c, sentinel, wait(c));
  assert.deepEqual(got, [], `/meta/subscribe/x subscribed: ${JSON.stringify(got)}`);
});

test('ERR-4 error codes: 400 malformed, 401 no id, 402 unknown, 403 forbidden, 404 unknown meta, 405 invalid, 406 type', async (t) => {
  const c = await session(t, { name: 'err4' });
  const cases = [
    [400, { data: 1, clientId: c.clientId }],
    [400, { channel: '/meta/subscribe', clientId: c.clientId }],
    [401, { channel: '/meta/subscribe', subscription: '/err4' }],
    [402, { channel: '/meta/subscribe', subscription: '/err4', clientId: UNKNOWN_ID }],
    [403, { channel: '/meta/subscribe', subscription: '/meta/foo', clientId: c.clientId }],
    [404, { channel: '/meta/err4', clientId: c.clientId }],
    [405, { channel: '/meta/subscribe', subscription: 'err4', clientId: c.clientId }],
    [405, { channel: '/err4/*', data: 1, clientId: c.clientId }],
    [406, { channel: '/meta/connect', connectionType: 'err4', clientId: c.clientId }],
    [406, { channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['err4'] }],
  ];
  for (const [code, msg] of cases) {
    const res = await c.send([{ ...msg, id: 'e4' }]);
    const r = res.messages[0];
    assert.equal(r?.successful, false, `${JSON.stringify(msg)} -> ${res.text}`);
    assert.match(r.error ?? '', /^\d{3}:/, `${JSON.stringify(msg)} -> ${res.text}`);
    assert.equal(Number(r.error.slice(0, 3)), code, `${JSON.stringify(msg)} -> ${res.text}`);
  }
});
