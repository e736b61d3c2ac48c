// SUB, UNSUB: /meta/subscribe, /meta/unsubscribe (spec/bayeux.md).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  session, uniq, mustSubscribe, mustPublish, upToSentinel, timingOf,
} from './lib/bayeux.mjs';

const wait = (c) => timingOf(c).timeout * 3 + 3000;

test('SUB-1 subscription is a name, a pattern or an array; the reply echoes it as sent', async (t) => {
  const [c, pub] = await Promise.all([session(t, { name: 'sub1' }), session(t, { name: 'sub1p' })]);
  const base = uniq('sub1');
  const one = `${base}/one`;
  const { reply: r1 } = await c.subscribe(one);
  assert.equal(r1?.successful, true, JSON.stringify(r1));
  assert.equal(r1.subscription, one, `string not echoed as a string: ${JSON.stringify(r1)}`);

  const pattern = `${base}/pat/*`;
  const { reply: r2 } = await c.subscribe(pattern);
  assert.equal(r2?.successful, true, JSON.stringify(r2));
  assert.equal(r2.subscription, pattern, JSON.stringify(r2));

  const list = [`${base}/list/a`, `${base}/deep/**`];
  const { reply: r3 } = await c.subscribe(list);
  assert.equal(r3?.successful, true, JSON.stringify(r3));
  assert.deepEqual(r3.subscription, list, `array not echoed as sent: ${JSON.stringify(r3)}`);

  const single = [`${base}/single`];
  const { reply: r4 } = await c.subscribe(single);
  assert.equal(r4?.successful, true, JSON.stringify(r4));
  assert.deepEqual(r4.subscription, single, `one-element array not echoed as an array: ${JSON.stringify(r4)}`);

  // Every one of them is in force.
  const sentinel = `${base}/sentinel`;
  await mustSubscribe(c, sentinel);
  const targets = [one, `${base}/pat/x`, `${base}/list/a`, `${base}/deep/x/y`, `${base}/single`];
  for (const ch of targets) await mustPublish(pub, ch, { ch });
  await mustPublish(pub, sentinel, {});
  const got = await upToSentinel(c, sentinel, wait(c));
  assert.deepEqual(got.map((e) => e.channel), targets, JSON.stringify(got));
});

test('SUB-2 missing subscription is 400:subscription:Missing field, a wrong type Invalid field', async (t) => {
  const c = await session(t, { name: 'sub2' });
  const { reply: missing } = await c.meta('/meta/subscribe');
  assert.equal(missing?.successful, false, JSON.stringify(missing));
  assert.equal(missing.error, '400:subscription:Missing field', JSON.stringify(missing));
  for (const bad of [42, { channel: '/a' }, ['/sub2/a', 7], true, [['/sub2/b']]]) {
    const { reply } = await c.subscribe(bad);
    assert.equal(reply?.successful, false, `${JSON.stringify(bad)} -> ${JSON.stringify(reply)}`);
    assert.equal(reply.error, '400:subscription:Invalid field', `${JSON.stringify(bad)} -> ${JSON.stringify(reply)}`);
  }
});

test('SUB-3 invalid names 405, /meta/** 403; a subscribe applies all its channels or none', async (t) => {
  const [c, pub] = await Promise.all([session(t, { name: 'sub3' }), session(t, { name: 'sub3p' })]);
  const cases = [
    ['no-slash', '405:no-slash:Invalid channel'],
    ['/sub3/*/x', '405:/sub3/*/x:Invalid channel'],
    ['/sub3//x', '405:/sub3//x:Invalid channel'],
    ['/meta/foo', '403:/meta/foo:Forbidden channel'],
    ['/meta/connect', '403:/meta/connect:Forbidden channel'],
    ['/meta/**', '403:/meta/**:Forbidden channel'],
  ];
  for (const [name, error] of cases) {
    const { reply } = await c.subscribe(name);
    assert.equal(reply?.successful, false, `${name} -> ${JSON.stringify(reply)}`);
    assert.equal(reply.error, error, `${name} -> ${JSON.stringify(reply)}`);
  }
  // All or nothing: the good names around a bad one are not applied.
  const base = uniq('sub3');
  const list = [`${base}/good1`, `${base}/bad*`, `${base}/good2`];
  const { reply } = await c.subscribe(list);
  assert.equal(reply?.successful, false, JSON.stringify(reply));
  assert.equal(reply.error, `405:${base}/bad*:Invalid channel`, JSON.stringify(reply));
  assert.deepEqual(reply.subscription, list, `subscription not echoed on failure: ${JSON.stringify(reply)}`);
  const list2 = [`${base}/good3`, '/meta/sub3'];
  const { reply: f2 } = await c.subscribe(list2);
  assert.equal(f2?.successful, false, JSON.stringify(f2));
  assert.equal(f2.error, '403:/meta/sub3:Forbidden channel', JSON.stringify(f2));
  assert.deepEqual(f2.subscription, list2, `subscription not echoed on failure: ${JSON.stringify(f2)}`);
  const sentinel = `${base}/sentinel`;
  await mustSubscribe(c, sentinel);
  await mustPublish(pub, `${base}/good1`, { n: 1 });
  await mustPublish(pub, `${base}/good2`, { n: 2 });
  await mustPublish(pub, `${base}/good3`, { n: 3 });
  await mustPublish(pub, sentinel, {});
  const got = await upToSentinel(c, sentinel, wait(c));
  assert.deepEqual(got, [], `channels of a failed subscribe were applied: ${JSON.stringify(got)}`);
});

test('SUB-4 subscribing to /service/** succeeds and delivers nothing', async (t) => {
  const [c, pub] = await Promise.all([session(t, { name: 'sub4' }), session(t, { name: 'sub4p' })]);
  const svc = `/service${uniq('sub4')}`;
  for (const name of [svc, '/service/echo', '/service/**']) {
    const { reply } = await c.subscribe(name);
    assert.equal(reply?.successful, true, `${name} -> ${JSON.stringify(reply)}`);
    assert.equal(reply.subscription, name, JSON.stringify(reply));
  }
  const sentinel = uniq('sub4');
  await mustSubscribe(c, sentinel);
  await mustPublish(pub, svc, { n: 1 });
  await mustPublish(pub, '/service/echo', { n: 2 });
  await mustPublish(pub, sentinel, {});
  const got = await upToSentinel(c, sentinel, wait(c));
  assert.deepEqual(got, [], `service messages delivered to a subscriber: ${JSON.stringify(got)}`);
});

test('SUB-5 subscribing twice is the same as once: one copy per message', async (t) => {
  const [c, pub] = await Promise.all([session(t, { name: 'sub5' }), session(t, { name: 'sub5p' })]);
  const ch = uniq('sub5');
  await mustSubscribe(c, ch);
  await mustSubscribe(c, ch);
  await mustSubscribe(c, [ch, ch]);
  const sentinel = uniq('sub5');
  await mustSubscribe(c, sentinel);
  await mustPublish(pub, ch, { n: 1 });
  await mustPublish(pub, sentinel, {});
  const got = await upToSentinel(c, sentinel, wait(c));
  assert.deepEqual(got.map((e) => e.data), [{ n: 1 }], JSON.stringify(got));
});

test('UNSUB-1 unsubscribe: same shapes, checks and echo; stops deliveries', async (t) => {
  const [c, pub] = await Promise.all([session(t, { name: 'uns1' }), session(t, { name: 'uns1p' })]);
  const base = uniq('uns1');
  const [a, b, p] = [`${base}/a`, `${base}/b`, `${base}/p/*`];
  await mustSubscribe(c, [a, b, p]);

  // Echo: string and array, as sent.
  const { reply: r1 } = await c.unsubscribe(a);
  assert.equal(r1?.successful, true, JSON.stringify(r1));
  assert.equal(r1.subscription, a, JSON.stringify(r1));
  const { reply: r2 } = await c.unsubscribe([b, p]);
  assert.equal(r2?.successful, true, JSON.stringify(r2));
  assert.deepEqual(r2.subscription, [b, p], JSON.stringify(r2));
  // Not subscribed: still a success.
  const never = `${base}/never`;
  const { reply: r3 } = await c.unsubscribe(never);
  assert.equal(r3?.successful, true, `unsubscribing a channel not subscribed: ${JSON.stringify(r3)}`);
  assert.equal(r3.subscription, never, JSON.stringify(r3));

  // The same checks as subscribe.
  const checks = [
    [undefined, '400:subscription:Missing field'],
    [42, '400:subscription:Invalid field'],
    [{ x: 1 }, '400:subscription:Invalid field'],
    ['no-slash', '405:no-slash:Invalid channel'],
    ['/uns1/*/x', '405:/uns1/*/x:Invalid channel'],
    ['/meta/foo', '403:/meta/foo:Forbidden channel'],
  ];
  for (const [sub, error] of checks) {
    const { reply } = sub === undefined ? await c.meta('/meta/unsubscribe') : await c.unsubscribe(sub);
    assert.equal(reply?.successful, false, `${JSON.stringify(sub)} -> ${JSON.stringify(reply)}`);
    assert.equal(reply.error, error, `${JSON.stringify(sub)} -> ${JSON.stringify(reply)}`);
  }

  // All or nothing, as for subscribe: `kept` stays subscribed.
  const kept = `${base}/kept`;
  await mustSubscribe(c, kept);
  const mixed = [kept, `${base}/bad*`];
  const { reply: r4 } = await c.unsubscribe(mixed);
  assert.equal(r4?.successful, false, JSON.stringify(r4));
  assert.equal(r4.error, `405:${base}/bad*:Invalid channel`, JSON.stringify(r4));
  assert.deepEqual(r4.subscription, mixed, JSON.stringify(r4));

  // No more deliveries from the removed subscriptions; the kept one still delivers.
  const sentinel = `${base}/sentinel`;
  await mustSubscribe(c, sentinel);
  await mustPublish(pub, a, { n: 1 });
  await mustPublish(pub, b, { n: 2 });
  await mustPublish(pub, `${base}/p/x`, { n: 3 });
  await mustPublish(pub, kept, { n: 4 });
  await mustPublish(pub, sentinel, {});
  const got = await upToSentinel(c, sentinel, wait(c));
  assert.deepEqual(got.map((e) => e.data), [{ n: 4 }], `after unsubscribe: ${JSON.stringify(got)}`);
});
