// A client that takes more than its share of the server's state (spec/limits.md, LIM-6,
// LIM-7, LIM-13): subscriptions without end, sessions without end. Before the limits, one client
// could subscribe to 100,000 channels (RSS 6 → 410 MB in 1.7 s) and keep 200,000 sessions.

import test, { after } from 'node:test';
import assert from 'node:assert/strict';
import { bayeux, sleep, startHerald } from '../apps/lib/herald.mjs';
import { rss } from './lib/raw-ws.mjs';

const herald = await startHerald({ after }, '', { args: ['--max-subscriptions', '100', '--max-sessions', '50'] });

const post = (messages) => bayeux(herald, messages);
const bytesHerald = await startHerald({ after }, '', { args: ['--max-queue-bytes', String(4 * 1024 * 1024)] });
const handshakeOn = (target) =>
  bayeux(target, [{ channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['long-polling'] }]);

const handshake = () => post([{ channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['long-polling'] }]);

test('LIM-6: a session holds at most max_subscriptions; the batch that would pass it applies none', async () => {
  const [hs] = await handshake();
  const subscribe = (channels) => post([{ channel: '/meta/subscribe', clientId: hs.clientId, subscription: channels }]);
  const channels = Array.from({ length: 1_000 }, (_, i) => `/many/${i}`);
  let accepted = 0;
  let refused;
  for (let i = 0; i < channels.length; i += 30) {
    const [reply] = await subscribe(channels.slice(i, i + 30));
    if (reply.successful) accepted += 30;
    else {
      refused = reply;
      break;
    }
  }
  assert.equal(accepted, 90, 'three batches of 30 fit under 100, the fourth does not');
  assert.equal(refused.error, '403:100:too_many_subscriptions');
  const [ten] = await subscribe(channels.slice(90, 100));
  assert.equal(ten.successful, true, 'the refused batch left room: ten more fit');
  const [one] = await subscribe(['/many/extra']);
  assert.equal(one.error, '403:100:too_many_subscriptions');
});

test('LIM-7: past max_sessions a handshake gets 503::server_full and advice to try again', async () => {
  const replies = [];
  for (let i = 0; i < 60; i++) replies.push((await handshake())[0]);
  const full = replies.filter((r) => !r.successful);
  assert.ok(full.length >= 10, `${full.length} refused of 60 (limit 50, one session from the test before)`);
  for (const reply of full) {
    assert.equal(reply.error, '503::server_full');
    assert.equal(reply.advice.reconnect, 'handshake');
  }
});

test('LIM-8: a subscriber that never connects holds at most max_queue_bytes, then its session ends', async () => {
  const [sub] = await handshakeOn(bytesHerald);
  const subscribe = { channel: '/meta/subscribe', clientId: sub.clientId, subscription: '/big' };
  assert.equal((await bayeux(bytesHerald, [subscribe]))[0].successful, true);
  const [publisher] = await handshakeOn(bytesHerald);
  const before = await rss(bytesHerald.pid);
  const data = 'x'.repeat(512 * 1024);
  for (let i = 0; i < 100; i++) {
    await bayeux(bytesHerald, [{ channel: '/big', clientId: publisher.clientId, data }]);
  }
  const grown = (await rss(bytesHerald.pid)) - before;
  assert.ok(grown < 30 * 1024 * 1024, `50 MB published; herald grew by ${Math.round(grown / 1024 / 1024)} MB`);
  const [reply] = await bayeux(bytesHerald, [{ channel: '/meta/connect', clientId: sub.clientId, connectionType: 'long-polling' }]);
  assert.match(reply.error, /^402:/, 'the session that passed its bytes ended');
  assert.equal(reply.advice.reconnect, 'handshake');
});

test('LIM-10: a publish whose data nests deeper than 64 levels is refused with 400', async () => {
  // The first herald of this file is full by now (LIM-7): the second one serves.
  const [hs] = await handshakeOn(bytesHerald);
  const publish = (depth) =>
    bayeux(bytesHerald, [{ channel: '/deep', clientId: hs.clientId, data: JSON.parse('['.repeat(depth) + ']'.repeat(depth)) }]);
  assert.equal((await publish(64))[0].successful, true);
  const [deep] = await publish(65);
  assert.equal(deep.error, '400:64:Data nested too deeply');
  // Sent as text: JSON.stringify itself would overflow on 100,000 levels.
  const text = `[{"channel":"/deep","clientId":"${hs.clientId}","data":${'['.repeat(100_000)}${']'.repeat(100_000)}}]`;
  const response = await fetch(bytesHerald.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: text });
  assert.equal((await response.json())[0].error, '400:64:Data nested too deeply');
});

test('LIM-12: with a publish rate, a flooding session is refused past it while another publishes freely', async (t) => {
  const limited = await startHerald(t, '', { args: ['--max-publish-rate', '20'] });
  const [flooder] = await handshakeOn(limited);
  const [other] = await handshakeOn(limited);
  const flood = Array.from({ length: 200 }, (_, i) => ({ channel: '/flood', clientId: flooder.clientId, data: i }));
  const replies = await bayeux(limited, flood);
  const passed = replies.filter((r) => r.successful).length;
  assert.ok(passed >= 20 && passed < 40, `${passed} of 200 passed at 20 per second`);
  assert.equal(replies.find((r) => !r.successful).error, '429:20:publish_rate_exceeded');
  const [fine] = await bayeux(limited, [{ channel: '/flood', clientId: other.clientId, data: 'mine' }]);
  assert.equal(fine.successful, true, 'the other session is not held back');
});

test('LIM-13: one address handshaking past its rate is refused with advice to come back later; other addresses are not', async () => {
  // herald sits behind a proxy on its own host here: the proxy's X-Forwarded-For names the
  // client, as nginx's would.
  const limited = await startHerald({ after }, '', { args: ['--max-handshake-rate', '20'] });
  const hs = [{ channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['long-polling'] }];
  const from = (address) => bayeux(limited, hs, { 'x-forwarded-for': address });
  const flood = await Promise.all(Array.from({ length: 60 }, () => from('203.0.113.7')));
  const refused = flood.map(([r]) => r).filter((r) => !r.successful);
  assert.ok(refused.length >= 30, `${refused.length} of 60 refused at 20 a second`);
  for (const reply of refused) {
    assert.equal(reply.error, '429:20:handshake_rate_exceeded');
    assert.equal(reply.advice.reconnect, 'handshake');
    assert.ok(reply.advice.interval >= 1000, `told to wait ${reply.advice.interval} ms`);
  }
  const [other] = await from('198.51.100.4');
  assert.equal(other.successful, true, 'another address is not held back');
  const [local] = await bayeux(limited, hs);
  assert.equal(local.successful, true, 'a local process without a proxy header is not limited');
  await sleep(1100);
  const [later] = await from('203.0.113.7');
  assert.equal(later.successful, true, 'the address may handshake again a second later');
});

test('LIM-12: with the default publish rate, one client flooding batches cannot end a polling subscriber\'s session; it gets every accepted message', async (t) => {
  const fair = await startHerald(t, '');
  const hs = [{ channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['long-polling'] }];
  const [sub] = await bayeux(fair, hs);
  const on = (messages) => bayeux(fair, messages);
  const connect = () => on([{ channel: '/meta/connect', clientId: sub.clientId, connectionType: 'long-polling' }]);
  await connect();
  assert.equal((await on([{ channel: '/meta/subscribe', clientId: sub.clientId, subscription: '/fair' }]))[0].successful, true);
  let got = 0;
  let ended = null;
  let polling = true;
  const poller = (async () => {
    while (polling) {
      const replies = await connect();
      got += replies.filter((m) => m.channel === '/fair').length;
      const reply = replies.find((m) => m.channel === '/meta/connect');
      if (!reply?.successful) {
        ended = reply;
        return;
      }
    }
  })();
  // 20 batches of 1,000 as fast as the flooder can send them: twice the subscriber's
  // queue (max_queue, 10,000) in well under a second before the limit.
  const [flooder] = await bayeux(fair, hs);
  let accepted = 0;
  let refused;
  for (let b = 0; b < 20; b++) {
    const batch = Array.from({ length: 1000 }, (_, i) => ({ channel: '/fair', clientId: flooder.clientId, data: { b, i } }));
    const replies = await on(batch);
    accepted += replies.filter((r) => r.successful).length;
    refused ??= replies.find((r) => !r.successful);
  }
  assert.equal(refused?.error, '429:1000:publish_rate_exceeded');
  const deadline = Date.now() + 5_000;
  while (got < accepted && !ended && Date.now() < deadline) await sleep(20);
  polling = false;
  assert.equal(ended, null, `the subscriber's session ended: ${JSON.stringify(ended)}`);
  assert.equal(got, accepted, 'every accepted message reached the subscriber');
  await on([{ channel: '/meta/disconnect', clientId: sub.clientId }]);
  await poller;
});
