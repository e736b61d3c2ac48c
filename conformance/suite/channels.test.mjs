// CH: channel names, wildcards, channel kinds (spec/channels.md).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  session, uniq, mustSubscribe, mustPublish, upToSentinel, timingOf, short,
} from './lib/bayeux.mjs';

const wait = (c) => timingOf(c).timeout * 3 + 3000;

/**
 * The name must be refused with 405. The error is `405:<name>:Invalid channel` exactly,
 * except for names that cannot stand verbatim in an error's args (MSG-5's
 * code:args:message, args comma-separated): those holding `:` or `,`, or very long
 * ones, where only the code and the message are checked (see the README, ambiguities).
 */
async function expectInvalid(c, name, how = ['subscribe', 'publish']) {
  const verbatim = !/[:,]/.test(name) && name.length <= 128;
  const check = (what, reply) => {
    const where = `${what} ${short(name)} -> ${short(reply, 300)}`;
    assert.equal(reply?.successful, false, where);
    if (verbatim) {
      assert.equal(reply.error, `405:${name}:Invalid channel`, where);
    } else {
      assert.match(reply.error ?? '', /^405:.*:Invalid channel$/s, where);
    }
  };
  if (how.includes('subscribe')) check('subscribe', (await c.subscribe(name)).reply);
  if (how.includes('publish')) check('publish', (await c.publish(name, { n: 1 })).reply);
}

test('CH-1 names: / + segments of letters, digits, - _ ! ~ ( ) $ @ . ; at most 1024 bytes', async (t) => {
  const [c, pub] = await Promise.all([session(t, { name: 'ch1' }), session(t, { name: 'ch1p' })]);
  const base = uniq('ch1');
  const long = `${base}/${'x'.repeat(1024 - base.length - 1)}`;
  assert.equal(Buffer.byteLength(long), 1024);
  const valid = [
    `${base}/AZaz09`,
    `${base}/a-b_c!d~e(f)g$h@i`,
    `${base}/v1.2.3/id.with.dots`,
    `${base}/...`,
    long,
  ];
  for (const name of valid) {
    const { reply } = await c.subscribe(name);
    assert.equal(reply?.successful, true, `subscribe ${short(name)} -> ${short(reply, 300)}`);
  }
  const sentinel = `${base}/sentinel`;
  await mustSubscribe(c, sentinel);
  for (const name of valid) {
    const { reply } = await pub.publish(name, { name });
    assert.equal(reply?.successful, true, `publish ${short(name)} -> ${short(reply, 300)}`);
  }
  await mustPublish(pub, sentinel, {});
  const got = await upToSentinel(c, sentinel, wait(c));
  assert.deepEqual(got.map((e) => short(e.channel)), valid.map((n) => short(n)), 'deliveries on valid names');

  const invalid = [
    `${long}y`, // 1025 bytes
    '/',
    '//',
    'no-slash',
    `${base}/`,
    `${base}//x`,
    `${base}/a b`,
    `${base}/a%20b`,
    `${base}/caf\u00e9`,
    `${base}/a#b`,
    `${base}/a+b`,
    `${base}/a,b`,
    `${base}/a:b`,
    `${base}/a?b`,
    `${base}/a\\b`,
  ];
  for (const name of invalid) await expectInvalid(c, name);
});

test('CH-2 /a/* matches one more segment, /a/** one or more; wildcards only last', async (t) => {
  const [one, many, roots, pub] = await Promise.all(['ch2o', 'ch2m', 'ch2r', 'ch2p'].map((name) => session(t, { name })));
  const base = uniq('ch2');
  await mustSubscribe(one, `${base}/*`);
  await mustSubscribe(many, `${base}/**`);
  const sentinel = `${base}/zz`; // matched by both patterns
  for (const ch of [base, `${base}/b`, `${base}/b/c`, `${base}/b/c/d`]) await mustPublish(pub, ch, { ch });
  await mustPublish(pub, sentinel, {});
  const g1 = await upToSentinel(one, sentinel, wait(one));
  assert.deepEqual(g1.map((e) => e.channel), [`${base}/b`], `${base}/* matched`);
  const g2 = await upToSentinel(many, sentinel, wait(many));
  assert.deepEqual(g2.map((e) => e.channel), [`${base}/b`, `${base}/b/c`, `${base}/b/c/d`], `${base}/** matched`);

  for (const name of ['/*', '/**']) {
    const { reply } = await roots.subscribe(name);
    assert.equal(reply?.successful, true, `subscribe ${name} -> ${JSON.stringify(reply)}`);
    await roots.unsubscribe(name);
  }
  for (const name of [`${base}/*/b`, `/**${base}`, `${base}*`, `${base}/b*`, `${base}/*b`, `${base}/**b`, `${base}/***`, '/*/*', `${base}/**/**`]) {
    await expectInvalid(roots, name, ['subscribe']);
  }
});

test('CH-3 patterns may be subscribed to, never published to', async (t) => {
  const c = await session(t, { name: 'ch3' });
  const base = uniq('ch3');
  for (const pattern of [`${base}/*`, `${base}/**`]) {
    const { reply } = await c.subscribe(pattern);
    assert.equal(reply?.successful, true, `subscribe ${pattern} -> ${JSON.stringify(reply)}`);
    await expectInvalid(c, pattern, ['publish']);
  }
});

test('CH-4 /meta/** can be neither published nor subscribed to; meta messages never reach /**', async (t) => {
  const [watcher, other] = await Promise.all([session(t, { name: 'ch4w' }), session(t, { name: 'ch4o' })]);
  for (const name of ['/meta/**', '/meta/*', '/meta/connect', '/meta/subscribe', '/meta/ch4']) {
    const { reply } = await watcher.subscribe(name);
    assert.equal(reply?.successful, false, `subscribe ${name} -> ${JSON.stringify(reply)}`);
    assert.equal(reply.error, `403:${name}:Forbidden channel`, `subscribe ${name} -> ${JSON.stringify(reply)}`);
  }
  const { reply: pm } = await other.publish('/meta/ch4', { n: 1 });
  assert.equal(pm?.successful, false, `publish to /meta/ch4 -> ${JSON.stringify(pm)}`);

  await mustSubscribe(watcher, '/**');
  // Meta traffic of another client while the watcher listens to everything.
  const ch = uniq('ch4');
  await mustSubscribe(other, ch);
  await other.unsubscribe(ch);
  await other.connect({ advice: { timeout: 0 } });
  await other.publish('/meta/ch4', { n: 2 });
  await other.publish('/meta/subscribe', { n: 3 });
  const sentinel = uniq('ch4');
  await mustPublish(other, sentinel, {});
  const got = await upToSentinel(watcher, sentinel, wait(watcher));
  const meta = [...got, ...got.others].filter((m) => typeof m.channel === 'string' && m.channel.startsWith('/meta/'));
  assert.deepEqual(meta, [], `meta messages delivered to a /** subscriber: ${JSON.stringify(meta)}`);
});

test('CH-5 a broadcast goes to every client subscribed to it or to a matching pattern', async (t) => {
  const cs = await Promise.all(['ch5e', 'ch5s', 'ch5d', 'ch5n', 'ch5p'].map((name) => session(t, { name })));
  const [exact, star, deep, none, pub] = cs;
  const base = uniq('ch5');
  const ch = `${base}/x`;
  const sentinel = `${base}/zz`;
  await mustSubscribe(exact, [ch, sentinel]);
  await mustSubscribe(star, `${base}/*`);
  await mustSubscribe(deep, `${base}/**`);
  await mustSubscribe(none, [`${base}/y`, `${base}-x`, sentinel]);
  await mustPublish(pub, ch, { n: 5 });
  await mustPublish(pub, sentinel, {});
  for (const c of [exact, star, deep]) {
    const got = await upToSentinel(c, sentinel, wait(c));
    assert.deepEqual(got.map((e) => [e.channel, e.data]), [[ch, { n: 5 }]], `${c.name}: ${JSON.stringify(got)}`);
  }
  const got = await upToSentinel(none, sentinel, wait(none));
  assert.deepEqual(got, [], `delivered to a client not subscribed: ${JSON.stringify(got)}`);
});

test('CH-6 /** does not match /service/** channels', async (t) => {
  const [watcher, pub] = await Promise.all([session(t, { name: 'ch6w' }), session(t, { name: 'ch6p' })]);
  await mustSubscribe(watcher, '/**');
  const svc = `/service${uniq('ch6')}`;
  await mustPublish(pub, `${svc}/x`, { n: 1 });
  await mustPublish(pub, '/service/echo', { n: 2 });
  const normal = uniq('ch6');
  await mustPublish(pub, normal, { n: 3 });
  const sentinel = uniq('ch6');
  await mustPublish(pub, sentinel, {});
  const got = await upToSentinel(watcher, sentinel, wait(watcher));
  const mine = got.filter((e) => e.channel === normal || e.channel.startsWith('/service/'));
  assert.deepEqual(mine.map((e) => e.channel), [normal], `/** subscriber got ${JSON.stringify(mine)}`);
});
