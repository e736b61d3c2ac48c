// SVC: /service/** (spec/bayeux.md). herald's binary registers /service/echo, whose handler
// answers with the request's data.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  session, uniq, mustSubscribe, mustPublish, upToSentinel, timingOf,
} from './lib/bayeux.mjs';

const wait = (c) => timingOf(c).timeout * 3 + 3000;

test('SVC-1 /service messages go to the handler only, never to subscribers, not even /**', async (t) => {
  const [watcher, sender] = await Promise.all([session(t, { name: 'svc1w' }), session(t, { name: 'svc1s' })]);
  const sentinel = uniq('svc1');
  const nohandler = `/service${uniq('svc1')}`;
  // /** sees every broadcast. Subscribing to the service channels themselves is SUB-4's
  // business (it must succeed and record nothing); here it is only tried.
  await mustSubscribe(watcher, '/**');
  for (const name of ['/service/**', '/service/echo', nohandler]) await watcher.subscribe(name);
  await mustPublish(sender, '/service/echo', { svc1: 'echo' });
  await mustPublish(sender, nohandler, { svc1: 'nohandler' });
  // The sender itself, subscribed to the service channel, gets no copy either.
  await sender.subscribe('/service/echo');
  await mustPublish(sender, '/service/echo', { svc1: 'self' });
  await mustPublish(sender, sentinel, {});
  const got = (await upToSentinel(watcher, sentinel, wait(watcher))).filter((e) => e.channel.startsWith('/service/'));
  assert.deepEqual(got, [], `service messages delivered to a subscriber: ${JSON.stringify(got)}`);
  await mustSubscribe(sender, sentinel);
  await mustPublish(sender, sentinel, {});
  const self = (await upToSentinel(sender, sentinel, wait(sender))).filter((e) => e.channel.startsWith('/service/'));
  assert.deepEqual(self, [], `service message delivered to its sender: ${JSON.stringify(self)}`);
});

test('SVC-2 the sender gets {channel, id, successful:true, data: handler answer}', async (t) => {
  const c = await session(t, { name: 'svc2' });
  const data = { question: 'ping', n: 42, list: ['a', { b: null }] };
  const { reply, res } = await c.publish('/service/echo', data, { id: 'call1' });
  assert.ok(reply, `no reply with the request's id: ${res.text}`);
  assert.equal(reply.channel, '/service/echo', res.text);
  assert.equal(reply.id, 'call1', res.text);
  assert.equal(reply.successful, true, res.text);
  assert.deepEqual(reply.data, data, `handler answer not in data: ${res.text}`);

  const nohandler = `/service${uniq('svc2')}`;
  const { reply: r2, res: res2 } = await c.publish(nohandler, { x: 1 }, { id: 'call2' });
  assert.ok(r2, `no reply with the request's id: ${res2.text}`);
  assert.equal(r2.channel, nohandler, res2.text);
  assert.equal(r2.id, 'call2', res2.text);
  assert.equal(r2.successful, true, res2.text);
});
