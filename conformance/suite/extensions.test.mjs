// ACK, TS: the `ack` and `timesync` extensions on the wire (spec/extensions.md), against a
// server with its defaults (herald: both on). The policy and extension hooks need a server
// configured with them: conformance/examples/ drives one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ENV, session, uniq, isEvent, mustSubscribe, mustPublish, timingOf } from './lib/bayeux.mjs';
import { openWs } from './lib/ws.mjs';

/** A long-polling session that asked for acknowledged delivery, connected once. */
async function acked(t, name) {
  const c = await session(t, { name, handshake: { ext: { ack: true } }, connect: false });
  assert.equal(c.handshakeReply.ext?.ack, true, `ACK-1: the handshake reply grants ack: ${JSON.stringify(c.handshakeReply)}`);
  const { reply } = await c.connect({ ext: { ack: 0 } });
  assert.equal(reply.successful, true);
  return { c, first: reply.ext?.ack };
}

const seqs = (events, channel) => events.filter((e) => e.channel === channel).map((e) => e.data.seq);

test('ACK-1 a handshake asking for ack gets ext.ack:true, and messages then come only with connect replies', async (t) => {
  const plain = await session(t, { name: 'ack1p', handshake: { ext: { ack: 0 } } });
  assert.equal(plain.handshakeReply.ext?.ack, undefined, 'only ext.ack:true (JSON true) asks for it');
  // Over WebSocket: the socket pushes nothing of an acknowledged session; its held connect
  // answers with the message.
  const ws = await openWs();
  t.after(() => ws.destroy());
  ws.send([{ channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['websocket'], id: 'h', ext: { ack: true } }]);
  const hs = (await ws.nextMessage((m) => m.id === 'h', 5000))?.json.find((m) => m.id === 'h');
  assert.equal(hs?.ext?.ack, true, `handshake reply ${JSON.stringify(hs)}`);
  const clientId = hs.clientId;
  const ch = uniq('ack1');
  ws.send([{ channel: '/meta/connect', clientId, connectionType: 'websocket', id: 'c1', ext: { ack: 0 } }]);
  const first = (await ws.nextMessage((m) => m.id === 'c1', 5000))?.json.find((m) => m.id === 'c1');
  assert.equal(first?.successful, true);
  ws.send([{ channel: '/meta/subscribe', clientId, subscription: ch, id: 's' }]);
  await ws.nextMessage((m) => m.id === 's', 5000);
  ws.send([{ channel: '/meta/connect', clientId, connectionType: 'websocket', id: 'c2', ext: { ack: first.ext.ack } }]);
  const pub = await session(t, { name: 'ack1pub' });
  await mustPublish(pub, ch, { seq: 1 });
  const frame = await ws.next((f) => Array.isArray(f.json) && f.json.some((m) => m.channel === ch), 5000);
  assert.ok(frame, 'the message arrived');
  const connect = frame.json.find((m) => m.id === 'c2');
  assert.ok(connect, `the message came in the same frame as the held connect's reply: ${frame.text}`);
  assert.ok(frame.json.indexOf(connect) > frame.json.findIndex((m) => m.channel === ch), 'events before the connect reply');
  assert.equal(typeof connect.ext?.ack, 'number', 'with its batch number');
  ws.send([{ channel: '/meta/disconnect', clientId, id: 'd' }]);
});

test('ACK-2 batches: numbered from 1, acknowledged ones dropped, the rest sent again first and at once', async (t) => {
  const { c, first } = await acked(t, 'ack2');
  assert.equal(first, 1, 'the first connect reply closes batch 1');
  const ch = uniq('ack2');
  await mustSubscribe(c, ch);
  const pub = await session(t, { name: 'ack2pub' });
  for (const seq of [1, 2]) await mustPublish(pub, ch, { seq });
  const second = await c.connect({ ext: { ack: 1 } });
  assert.deepEqual(seqs(second.events, ch), [1, 2]);
  assert.equal(second.reply.ext?.ack, 2);
  // The client never got that reply: it acknowledges batch 1 again.
  await mustPublish(pub, ch, { seq: 3 });
  const T = timingOf(c).timeout;
  const again = await c.connect({ ext: { ack: 1 } });
  assert.ok(again.ms < Math.min(1000, T / 2), `answered at once (${Math.round(again.ms)} ms)`);
  assert.deepEqual(seqs(again.events, ch), [1, 2, 3], 'what was not acknowledged comes again, in order, before the new');
  assert.equal(again.reply.ext?.ack, 3);
  await mustPublish(pub, ch, { seq: 4 });
  const next = await c.connect({ ext: { ack: 3 } });
  assert.deepEqual(seqs(next.events, ch), [4], 'acknowledged messages never come again');
});

test('ACK-3 a connect reply that delivers nothing new because a newer connect took over carries no batch number', async (t) => {
  const { c } = await acked(t, 'ack3');
  const held = c.connect({ ext: { ack: 1 } });
  await new Promise((r) => setTimeout(r, 200));
  const newer = c.connect({ ext: { ack: 1 }, advice: { timeout: 0 } });
  const [old, now] = await Promise.all([held, newer]);
  assert.equal(old.reply.successful, true);
  assert.equal(old.reply.ext?.ack, undefined, `the superseded reply: ${JSON.stringify(old.reply)}`);
  assert.equal(typeof now.reply.ext?.ack, 'number', 'the reply that took from the queue');
});

test('ACK-4 unacknowledged messages count toward maxQueue: a client that never acknowledges loses its session, not messages', async (t) => {
  const { c } = await acked(t, 'ack4');
  const ch = uniq('ack4');
  await mustSubscribe(c, ch);
  const pub = await session(t, { name: 'ack4pub' });
  const max = ENV.maxQueue;
  await mustPublish(pub, ch, { seq: 0 });
  const taken = await c.connect({ ext: { ack: 1 } });
  assert.equal(seqs(taken.events, ch).length, 1);
  // Never acknowledged: that message stays queued, and max more overflow the queue.
  // Batches of 1,000: herald takes at most that many messages per request (LIM-11).
  for (let sent = 0; sent < max; sent += 1000) {
    const size = Math.min(1000, max - sent);
    const { replies } = await pub.publishBatch(ch, Array.from({ length: size }, (_, i) => ({ seq: sent + i + 1 })));
    assert.ok(replies.every((r) => r?.successful), 'every publish is accepted');
  }
  const { reply } = await c.connect({ ext: { ack: 1 }, advice: { timeout: 0 } }, { timeout: 30000 });
  c.ended = !reply?.successful;
  assert.equal(reply.successful, false, `the session ended: ${JSON.stringify(reply)}`);
  assert.equal(reply.advice?.reconnect, 'handshake');
});

test('TS-1 timesync: a meta message with ext.timesync gets tc, ts, p and a back', async (t) => {
  const before = Date.now();
  const c = await session(t, { name: 'ts1', handshake: { ext: { timesync: { tc: before, l: 0, o: 0 } } }, connect: false });
  const sync = c.handshakeReply.ext?.timesync;
  assert.ok(sync, `handshake reply ${JSON.stringify(c.handshakeReply)}`);
  assert.equal(sync.tc, before);
  assert.ok(sync.ts >= before - 1000 && sync.ts <= Date.now() + 1000, `ts ${sync.ts} is the server's clock now`);
  assert.ok(sync.p >= 0, `p ${sync.p}`);
  assert.equal(sync.a, before - sync.ts, 'a = tc + o + l - ts');
  const { reply } = await c.connect({ ext: { timesync: { tc: Date.now() } } });
  assert.equal(typeof reply.ext?.timesync?.p, 'number', 'old-style requests (no l, o) get tc, ts, p');
  assert.ok(!isEvent(reply));
});
