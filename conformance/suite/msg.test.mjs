// MSG: the message envelope (spec/bayeux.md).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Client, post, session, uniq, byId, isEvent, mustSubscribe, mustPublish, timingOf,
} from './lib/bayeux.mjs';

test('MSG-1 one message or a batch in, always a JSON array out; [] gets []', async (t) => {
  // A single message object (not wrapped in an array).
  const single = await post({
    channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['long-polling'], id: 'one1',
  });
  assert.equal(single.status, 200, `single object: HTTP ${single.status} ${single.text}`);
  assert.ok(Array.isArray(single.json), `single object: body is not an array: ${single.text}`);
  assert.equal(single.json.length, 1);
  assert.equal(single.json[0].successful, true, single.text);
  const c = new Client('msg1');
  c.clientId = single.json[0].clientId;
  t.after(() => c.disconnect());

  // A batch of two gets an array with both replies.
  const ch = uniq('msg1');
  const batch = await c.send([
    { channel: '/meta/subscribe', clientId: c.clientId, subscription: ch, id: 'b1' },
    { channel: ch, clientId: c.clientId, data: { n: 1 }, id: 'b2' },
  ]);
  assert.equal(batch.status, 200, `batch: HTTP ${batch.status} ${batch.text}`);
  assert.ok(Array.isArray(batch.json), `batch: body is not an array: ${batch.text}`);
  assert.equal(byId(batch.json, 'b1')?.successful, true, batch.text);
  assert.equal(byId(batch.json, 'b2')?.successful, true, batch.text);

  // The empty batch.
  const empty = await post([]);
  assert.equal(empty.status, 200, `[] answered with status ${empty.status}`);
  assert.deepEqual(empty.json, [], `[] answered with ${JSON.stringify(empty.text)}`);
});

test('MSG-2 a message without a string channel gets 400::Missing channel, the batch goes on', async (t) => {
  const c = await session(t, { name: 'msg2' });
  const ch = uniq('msg2');
  const res = await c.send([
    { clientId: c.clientId, data: { x: 1 }, id: 'nochan' },
    { channel: 42, clientId: c.clientId, data: { x: 2 }, id: 'numchan' },
    { channel: null, clientId: c.clientId, data: { x: 3 }, id: 'nullchan' },
    { channel: ['/a'], clientId: c.clientId, data: { x: 4 }, id: 'arraychan' },
    { channel: '/meta/subscribe', clientId: c.clientId, subscription: ch, id: 'after' },
  ]);
  assert.equal(res.status, 200, `HTTP ${res.status} ${res.text}`);
  for (const id of ['nochan', 'numchan', 'nullchan', 'arraychan']) {
    const r = byId(res.messages, id);
    assert.ok(r, `no reply with id ${id}: ${res.text}`);
    assert.equal(r.successful, false, JSON.stringify(r));
    assert.equal(r.error, '400::Missing channel', JSON.stringify(r));
  }
  const after = byId(res.messages, 'after');
  assert.equal(after?.successful, true, `the rest of the batch was not processed: ${res.text}`);
});

test('MSG-3 id (string or number) is echoed verbatim on every channel, successful or not', async (t) => {
  // Handshake: a string id and a numeric id.
  const hs = await post([{ channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['long-polling'], id: 'hsA1' }]);
  assert.equal(hs.json?.[0]?.id, 'hsA1', hs.text);
  const hsn = await post([{ channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['long-polling'], id: 9001 }]);
  assert.equal(hsn.json?.[0]?.id, 9001, hsn.text);
  const failedHs = await post([{ channel: '/meta/handshake', supportedConnectionTypes: ['long-polling'], id: 'hsBad' }]);
  assert.equal(failedHs.json?.[0]?.id, 'hsBad', failedHs.text);
  for (const r of [hs, hsn]) {
    const x = new Client('msg3x');
    x.clientId = r.json?.[0]?.clientId;
    t.after(() => x.disconnect());
  }

  const c = await session(t, { name: 'msg3' });
  const ch = uniq('msg3');
  const cases = [
    // [message, expect successful]
    [{ channel: '/meta/connect', clientId: c.clientId, connectionType: 'long-polling', advice: { timeout: 0 }, id: 77 }, true],
    [{ channel: '/meta/connect', clientId: c.clientId, connectionType: 'nope', id: 'cnBad' }, false],
    [{ channel: '/meta/subscribe', clientId: c.clientId, subscription: ch, id: 'sub1' }, true],
    [{ channel: '/meta/subscribe', clientId: c.clientId, subscription: 'bad', id: 5 }, false],
    [{ channel: '/meta/unsubscribe', clientId: c.clientId, subscription: ch, id: 'uns1' }, true],
    [{ channel: '/meta/unsubscribe', clientId: c.clientId, id: 'unsBad' }, false],
    [{ channel: ch, clientId: c.clientId, data: 1, id: 'pub1' }, true],
    [{ channel: ch, clientId: c.clientId, id: 12 }, false],
    [{ channel: '/service/echo', clientId: c.clientId, data: { a: 1 }, id: 'svc1' }, true],
    [{ channel: '/service/echo', id: 'svcBad', data: 1 }, false],
    [{ channel: '/meta/disconnect', clientId: 'f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0', id: 'dBad' }, false],
    [{ channel: '/meta/disconnect', clientId: c.clientId, id: 3.5 }, true],
  ];
  for (const [msg, ok] of cases) {
    // One request per message, so every reply is unambiguous.
    const res = await c.send([msg]);
    const replies = res.messages.filter((m) => !isEvent(m));
    const r = replies.find((m) => m.channel === msg.channel) ?? replies[0];
    assert.ok(r, `no reply to ${JSON.stringify(msg)}: ${res.text}`);
    assert.equal(r.successful, ok, `${JSON.stringify(msg)} -> ${JSON.stringify(r)}`);
    assert.ok(Object.hasOwn(r, 'id'), `reply to ${JSON.stringify(msg)} has no id: ${JSON.stringify(r)}`);
    assert.deepEqual(r.id, msg.id, `reply to ${JSON.stringify(msg)} does not echo id: ${JSON.stringify(r)}`);
  }
  c.ended = true;

  // Verbatim: an integer id beyond 2^53 comes back with the same digits (a server that
  // goes through a double answers 12345678901234567000). Checked on the raw text.
  const d = await session(t, { name: 'msg3b' });
  const raw = `[{"channel":"/meta/subscribe","clientId":"${d.clientId}","subscription":"${ch}","id":12345678901234567890}]`;
  const big = await d.post(raw, { contentType: 'application/json' });
  assert.match(big.text, /"id"\s*:\s*12345678901234567890\b/, `large integer id not echoed verbatim: ${big.text}`);
});

test('MSG-4 a field of the wrong type fails that one message with 400:<field>:Invalid field', async (t) => {
  const [c, other] = await Promise.all([session(t, { name: 'msg4' }), session(t, { name: 'msg4o' })]);
  const ch = uniq('msg4');
  const res = await c.send([
    { channel: '/meta/subscribe', clientId: 12345, subscription: ch, id: 'w1' },
    { channel: '/meta/subscribe', clientId: c.clientId, subscription: { name: ch }, id: 'w2' },
    { channel: '/meta/connect', clientId: c.clientId, connectionType: 'long-polling', advice: 'soon', id: 'w3' },
    { channel: '/meta/subscribe', clientId: c.clientId, subscription: ch, id: 'ok' },
  ]);
  assert.equal(res.status, 200, `the request failed as a whole: ${res.status} ${res.text}`);
  const expect = { w1: '400:clientId:Invalid field', w2: '400:subscription:Invalid field', w3: '400:advice:Invalid field' };
  for (const [id, error] of Object.entries(expect)) {
    const r = byId(res.messages, id);
    assert.ok(r, `no reply with id ${id}: ${res.text}`);
    assert.equal(r.successful, false, JSON.stringify(r));
    assert.equal(r.error, error, JSON.stringify(r));
  }
  assert.equal(byId(res.messages, 'ok')?.successful, true, `the good message failed: ${res.text}`);
  // id is a string or a number (MSG-3): an object id is a field of the wrong type.
  const badId = await c.send([{ channel: '/meta/subscribe', clientId: c.clientId, subscription: ch, id: { n: 1 } }]);
  assert.equal(badId.status, 200, badId.text);
  assert.equal(badId.messages.length, 1, badId.text);
  assert.equal(badId.messages[0].successful, false, `an object id was accepted: ${badId.text}`);
  assert.equal(badId.messages[0].error, '400:id:Invalid field', badId.text);
  // Neither this client nor another one was touched.
  const { reply: r1 } = await c.subscribe(uniq('msg4'));
  assert.equal(r1?.successful, true, `sender's session broken: ${JSON.stringify(r1)}`);
  const { reply: r2 } = await other.subscribe(uniq('msg4'));
  assert.equal(r2?.successful, true, `other session broken: ${JSON.stringify(r2)}`);
});

test('MSG-5 meta replies carry channel, successful, clientId; errors are code:args:message', async (t) => {
  const c = new Client('msg5');
  const { reply: hs } = await c.handshake();
  t.after(() => c.disconnect());
  assert.equal(hs?.channel, '/meta/handshake', JSON.stringify(hs));
  assert.equal(hs.successful, true, JSON.stringify(hs));
  assert.equal(typeof hs.clientId, 'string', JSON.stringify(hs));

  const ch = uniq('msg5');
  const checks = [
    await c.connect(),
    await c.subscribe(ch),
    await c.unsubscribe(ch),
  ];
  for (const { reply, msg } of checks) {
    assert.equal(reply?.channel, msg.channel, JSON.stringify(reply));
    assert.equal(reply.successful, true, JSON.stringify(reply));
    assert.equal(reply.clientId, c.clientId, `successful ${msg.channel} reply without the clientId: ${JSON.stringify(reply)}`);
  }

  const errorFormat = /^\d{3}:[^:]*:[^:].*$/;
  const failures = [
    await c.subscribe('no-slash'),
    await c.meta('/meta/connect', { connectionType: 'bogus' }),
    await c.meta('/meta/unsubscribe', {}),
  ];
  for (const { reply, msg } of failures) {
    assert.equal(reply?.channel, msg.channel, JSON.stringify(reply));
    assert.equal(reply.successful, false, JSON.stringify(reply));
    assert.match(reply.error ?? '', errorFormat, `error not code:args:message: ${JSON.stringify(reply)}`);
  }

  const { reply: d } = await c.meta('/meta/disconnect');
  c.ended = true;
  assert.equal(d?.channel, '/meta/disconnect', JSON.stringify(d));
  assert.equal(d.successful, true, JSON.stringify(d));
  assert.equal(d.clientId, c.clientId, `successful disconnect reply without the clientId: ${JSON.stringify(d)}`);
});

test('MSG-6 reply order: events delivered with the connect, other replies in order, connect reply last', async (t) => {
  const [a, b] = await Promise.all([session(t, { name: 'msg6a' }), session(t, { name: 'msg6b' })]);
  const ch = uniq('msg6');
  await mustSubscribe(a, ch);
  // Two events wait in a's queue.
  await mustPublish(b, ch, { n: 1 });
  await mustPublish(b, ch, { n: 2 });
  const other = uniq('msg6');
  const res = await a.send([
    { channel: '/meta/connect', clientId: a.clientId, connectionType: 'long-polling', id: 'c' },
    { channel: '/meta/subscribe', clientId: a.clientId, subscription: other, id: 's' },
    { channel: uniq('msg6'), clientId: a.clientId, data: { n: 3 }, id: 'p' },
    { channel: '/meta/unsubscribe', clientId: a.clientId, subscription: other, id: 'u' },
  ], { timeout: timingOf(a).timeout + 5000 });
  const shape = res.messages.map((m) => (isEvent(m) ? `event:${JSON.stringify(m.data)}` : `reply:${m.id}`));
  const replies = shape.filter((s) => s.startsWith('reply:'));
  assert.deepEqual(replies, ['reply:s', 'reply:p', 'reply:u', 'reply:c'], `order: ${JSON.stringify(shape)}`);
  const firstReply = shape.findIndex((s) => s.startsWith('reply:'));
  const queued = shape.slice(0, firstReply);
  assert.deepEqual(queued.slice(0, 2), ['event:{"n":1}', 'event:{"n":2}'], `events are not before the replies: ${JSON.stringify(shape)}`);
  const lastEvent = shape.findLastIndex((s) => s.startsWith('event:'));
  assert.ok(lastEvent < firstReply, `an event after a reply: ${JSON.stringify(shape)}`);
});
