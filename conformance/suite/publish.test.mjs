// PUB: publishing (spec/bayeux.md).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  session, post, uniq, mustSubscribe, mustPublish, upToSentinel, timingOf, UNKNOWN_ID, HANDSHAKE_ADVICE,
} from './lib/bayeux.mjs';

const wait = (c) => timingOf(c).timeout * 3 + 3000;

test('PUB-1 a publish needs data and the clientId of a live session', async (t) => {
  const [c, s] = await Promise.all([session(t, { name: 'pub1' }), session(t, { name: 'pub1s' })]);
  const ch = uniq('pub1');
  await mustSubscribe(s, ch);
  const { reply: noData } = await c.meta(ch);
  assert.equal(noData?.successful, false, JSON.stringify(noData));
  assert.equal(noData.error, '400:data:Missing field', JSON.stringify(noData));

  // No clientId (herald without --anonymous-publish).
  const res = await post([{ channel: ch, data: { anon: true }, id: 'anon' }]);
  const anon = res.json?.[0];
  assert.equal(anon?.successful, false, res.text);
  assert.equal(anon.error, '401::No client ID', res.text);

  const { reply: unknown } = await c.publish(ch, { x: 1 }, { clientId: UNKNOWN_ID });
  assert.equal(unknown?.successful, false, JSON.stringify(unknown));
  assert.equal(unknown.error, `402:${UNKNOWN_ID}:Unknown client`, JSON.stringify(unknown));
  assert.deepEqual(unknown.advice, HANDSHAKE_ADVICE, JSON.stringify(unknown));

  // None of the refused publishes reached the subscriber; a good one does.
  await mustPublish(c, ch, { ok: true });
  const sentinel = uniq('pub1');
  await mustSubscribe(s, sentinel);
  await mustPublish(c, sentinel, {});
  const got = await upToSentinel(s, sentinel, wait(s));
  assert.deepEqual(got.map((e) => e.data), [{ ok: true }], JSON.stringify(got));
});

test('PUB-2 a publish is acknowledged with {channel, successful:true, id}', async (t) => {
  const c = await session(t, { name: 'pub2' });
  const ch = uniq('pub2');
  const { reply, res } = await c.publish(ch, { n: 1 }, { id: 'ack1', ext: { k: 'v' } });
  assert.deepEqual(reply, { channel: ch, successful: true, id: 'ack1' }, res.text);
});

test('PUB-3 publishing to a pattern or an invalid name is 405, to /meta/** refused', async (t) => {
  const c = await session(t, { name: 'pub3' });
  const base = uniq('pub3');
  const cases = [
    `${base}/*`,
    `${base}/**`,
    '/*',
    '/**',
    'no-slash',
    `${base}//x`,
    `${base}/a*`,
  ];
  for (const ch of cases) {
    const { reply } = await c.publish(ch, { n: 1 });
    assert.equal(reply?.successful, false, `${ch} -> ${JSON.stringify(reply)}`);
    assert.equal(reply.error, `405:${ch}:Invalid channel`, `${ch} -> ${JSON.stringify(reply)}`);
  }
  // A data message on an unknown /meta/ channel. PUB-3 says 403:<name>:Forbidden channel,
  // ERR-3 says 404:<name>:Unknown channel for any unknown /meta/ channel (see the README);
  // either refusal is accepted here.
  const { reply } = await c.publish('/meta/pub3', { n: 1 });
  assert.equal(reply?.successful, false, JSON.stringify(reply));
  assert.ok(['403:/meta/pub3:Forbidden channel', '404:/meta/pub3:Unknown channel'].includes(reply.error),
    JSON.stringify(reply));
});

test('PUB-4 each matching subscriber gets one copy, as {channel, data} only', async (t) => {
  const [a, b, pub] = await Promise.all(['pub4a', 'pub4b', 'pub4p'].map((name) => session(t, { name })));
  const base = uniq('pub4');
  const ch = `${base}/x`;
  const sentinel = `${base}-sentinel`;
  await mustSubscribe(a, [ch, `${base}/*`, `${base}/**`, sentinel]);
  await mustSubscribe(b, [ch, sentinel]);
  const data = { text: 'hello', n: [1, 2, { deep: null }] };
  const { reply } = await pub.publish(ch, data, { id: 'secretid', ext: { token: 'secret' } });
  assert.equal(reply?.successful, true, JSON.stringify(reply));
  await mustPublish(pub, sentinel, {});
  for (const c of [a, b]) {
    const got = await upToSentinel(c, sentinel, wait(c));
    assert.deepEqual(got, [{ channel: ch, data }], `${c.name} got ${JSON.stringify(got)}`);
  }
});

test('PUB-5 a subscribed publisher gets its own message', async (t) => {
  const c = await session(t, { name: 'pub5' });
  const ch = uniq('pub5');
  await mustSubscribe(c, ch);
  await mustPublish(c, ch, { mine: true });
  const { events, found } = await c.collect((e) => e.channel === ch, wait(c));
  assert.ok(found, `own message not delivered: ${JSON.stringify(events)}`);
  assert.deepEqual(events.map((e) => e.data), [{ mine: true }]);
});

test('PUB-6 messages from one publisher arrive in publish order, whatever the batching', async (t) => {
  const [a, b, pub] = await Promise.all(['pub6a', 'pub6b', 'pub6p'].map((name) => session(t, { name })));
  const base = uniq('pub6');
  const ch1 = `${base}/one`;
  const ch2 = `${base}/two`;
  await mustSubscribe(a, `${base}/*`);
  await mustSubscribe(b, [ch1, ch2]);
  let n = 0;
  const expected = [];
  const next = (ch) => { n += 1; expected.push(n); return { channel: ch, data: { n }, clientId: pub.clientId, id: `p6-${n}` }; };
  // Singles, batches of various sizes, two channels interleaved.
  const plan = [1, 5, 1, 1, 10, 2, 1, 20, 3, 1];
  for (const size of plan) {
    const batch = Array.from({ length: size }, (_, i) => next(i % 2 ? ch2 : ch1));
    const res = await pub.send(batch);
    const bad = res.messages.filter((m) => m.successful !== true && 'successful' in m);
    assert.deepEqual(bad, [], `publish failed: ${res.text}`);
  }
  const last = n;
  for (const c of [a, b]) {
    const { events, found } = await c.collect((e) => e.data?.n === last, wait(c) * 2);
    assert.ok(found, `${c.name}: did not get all ${last} messages: ${JSON.stringify(events.map((e) => e.data?.n))}`);
    assert.deepEqual(events.map((e) => e.data.n), expected, `${c.name}: order`);
  }
});
