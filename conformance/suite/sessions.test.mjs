// SES: sessions (spec/bayeux.md).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Client, session, uniq, isEvent, mustSubscribe, mustPublish, timingOf, sleep, now, ENV, HANDSHAKE_ADVICE,
  rawRequest,
} from './lib/bayeux.mjs';

function assertUnknown(c, r, what) {
  assert.equal(r?.successful, false, `${what}: session still known: ${JSON.stringify(r)}`);
  assert.equal(r.error, `402:${c.clientId}:Unknown client`, `${what}: ${JSON.stringify(r)}`);
  assert.deepEqual(r.advice, HANDSHAKE_ADVICE, `${what}: ${JSON.stringify(r)}`);
}

test('SES-1 a session is known once handshaken, while connected, and not once ended', async (t) => {
  const c = new Client('ses1');
  const { reply: hs } = await c.handshake();
  assert.equal(hs?.successful, true, JSON.stringify(hs));
  t.after(() => c.disconnect());
  const ch = uniq('ses1');
  // Handshaken, never connected: known.
  const { reply: s1 } = await c.subscribe(ch);
  assert.equal(s1?.successful, true, `handshaken session not known: ${JSON.stringify(s1)}`);
  const { reply: p1 } = await c.publish(ch, { n: 1 });
  assert.equal(p1?.successful, true, `handshaken session not known: ${JSON.stringify(p1)}`);
  // Connected: known.
  const { reply: cn } = await c.connect();
  assert.equal(cn?.successful, true, JSON.stringify(cn));
  const { reply: s2 } = await c.unsubscribe(ch);
  assert.equal(s2?.successful, true, `connected session not known: ${JSON.stringify(s2)}`);
  // Ended: unknown.
  const { reply: d } = await c.meta('/meta/disconnect');
  c.ended = true;
  assert.equal(d?.successful, true, JSON.stringify(d));
  const { reply: s3 } = await c.subscribe(ch);
  assertUnknown(c, s3, 'subscribe after disconnect');
  const { reply: c3 } = await c.connect();
  assertUnknown(c, c3, 'connect after disconnect');
});

test('SES-2 a session with no connect for interval + maxInterval expires (swept within ~1 s)', async (t) => {
  const [idle, early, busy] = await Promise.all([
    session(t, { name: 'ses2i' }), session(t, { name: 'ses2e' }), session(t, { name: 'ses2b' }),
  ]);
  const t0 = now(); // the first connects of all three have just been answered
  const { interval: I, maxInterval: M } = timingOf(idle);
  const expiry = I + M;

  // busy: always has a connect held (or just answered and renewed): never expires.
  let stop = false;
  const loop = (async () => {
    while (!stop) {
      const { reply } = await busy.connect();
      if (!reply?.successful && !stop) return reply;
    }
    return null;
  })();

  // early: a connect sent before interval + maxInterval have passed finds it alive.
  await sleep(Math.max(0, expiry - 500 - (now() - t0)));
  const before = await early.connect({ advice: { timeout: 0 } });
  assert.equal(before.reply?.successful, true,
    `session gone after ${Math.round(now() - t0)} ms (< interval + maxInterval = ${expiry}): ${JSON.stringify(before.reply)}`);

  // idle: nothing since its first connect; after the expiry plus a sweep it is gone.
  await sleep(Math.max(0, expiry + 1000 + 500 - (now() - t0)));
  const late = await idle.connect({ advice: { timeout: 0 } });
  idle.ended = true;
  assertUnknown(idle, late.reply, `connect ${Math.round(now() - t0)} ms after the last one`);

  // busy is still there: its held connects kept it alive.
  const { reply: pb } = await busy.publish(uniq('ses2'), { alive: true });
  stop = true;
  assert.equal(pb?.successful, true, `session with a held connect expired: ${JSON.stringify(pb)}`);
  await busy.disconnect();
  const ended = await loop;
  assert.equal(ended?.error, undefined, `busy session's connect failed: ${JSON.stringify(ended)}`);
});

test('SES-3 messages published between two connects are all delivered by the next, in order', async (t) => {
  const [a, b] = await Promise.all([session(t, { name: 'ses3a' }), session(t, { name: 'ses3b' })]);
  const ch = uniq('ses3');
  await mustSubscribe(a, ch);
  let n = 0;
  for (const size of [1, 7, 1, 11]) {
    const datas = Array.from({ length: size }, () => ({ n: ++n }));
    const { replies } = await b.publishBatch(ch, datas);
    assert.ok(replies.every((r) => r?.successful), JSON.stringify(replies));
  }
  await sleep(200);
  const { res, reply } = await a.connect();
  assert.equal(reply?.successful, true, res.text);
  const got = res.messages.filter(isEvent).map((e) => e.data.n);
  assert.deepEqual(got, Array.from({ length: n }, (_, i) => i + 1), `next connect delivered ${JSON.stringify(got)}`);
});

test('SES-4 a client whose queue overflows maxQueue loses its session (next connect gets 402)', async (t) => {
  const names = ['ses4v', 'ses4f', 'ses4c', 'ses4p'];
  const [victim, full, control, pub] = await Promise.all(names.map((name) => session(t, { name })));
  const t0 = now();
  const { interval: I, maxInterval: M } = timingOf(victim);
  const ch = uniq('ses4');
  const max = ENV.maxQueue;
  // victim gets max + 1 messages, full exactly max (it subscribes after the first one).
  await mustSubscribe(victim, ch);
  await mustPublish(pub, ch, { i: 0 });
  await mustSubscribe(full, ch);
  const total = max + 1;
  // Batches of 1,000: herald takes at most that many messages per request (LIM-11).
  const chunk = 1000;
  let sent = 1;
  while (sent < total) {
    const size = Math.min(chunk, total - sent);
    const datas = Array.from({ length: size }, (_, i) => ({ i: sent + i }));
    const { res, replies } = await pub.publishBatch(ch, datas);
    assert.equal(res.status, 200, `flood request failed: HTTP ${res.status}`);
    assert.ok(replies.every((r) => r?.successful), `a flood publish failed: ${JSON.stringify(replies.find((r) => !r?.successful))}`);
    sent += size;
  }
  const elapsed = now() - t0;
  // The control session connected when the others did; if it is alive, they did not simply
  // expire (SES-2).
  const { reply: cr } = await control.connect({ advice: { timeout: 0 } });
  assert.equal(cr?.successful, true,
    `the flood took ${Math.round(elapsed)} ms and the control session expired too (interval + maxInterval = ${I + M}): cannot tell`);
  const { reply, res } = await victim.connect({ advice: { timeout: 0 } }, { timeout: 30000 });
  victim.ended = !reply?.successful;
  const delivered = res.messages.filter(isEvent).length;
  assertUnknown(victim, reply, `connect after ${total} queued messages (delivered ${delivered})`);
  // A queue holding exactly maxQueue messages is not an overflow: all of them arrive.
  const { events, found, failed } = await full.collect((e) => e.data?.i === total - 1, 30000);
  assert.ok(found, `the client with exactly ${max} queued messages lost them: got ${events.length}` +
    (failed ? `, connect failed: ${JSON.stringify(failed)}` : ''));
  assert.equal(events.length, max, `the client with exactly ${max} queued messages got ${events.length}`);
});

test('SES-5 a client that goes away mid-poll expires like any other', async (t) => {
  const c = await session(t, { name: 'ses5' }); // its first connect has been answered
  const { interval: I, maxInterval: M } = timingOf(c);
  const ch = uniq('ses5');
  await mustSubscribe(c, ch);
  // A held connect on a socket of its own, which the client then drops without an answer.
  const body = JSON.stringify([c.connectMessage()]);
  const cookie = [...c.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  const held = rawRequest({
    headers: {
      'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), ...(cookie && { Cookie: cookie }),
    },
    chunks: [Buffer.from(body)],
    timeout: 300,
  });
  await assert.rejects(held, /no response within/, 'the connect should have been held, not answered');
  const gone = now();
  // Until interval + maxInterval have passed it is alive; after them and a sweep it is not.
  await sleep(I + M + 1000 + 500);
  const { reply } = await c.connect({ advice: { timeout: 0 } });
  c.ended = true;
  assertUnknown(c, reply, `connect ${Math.round(now() - gone)} ms after its held connect's socket closed`);
});
