// DISC: /meta/disconnect (spec/bayeux.md).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  session, uniq, mustSubscribe, timingOf, sleep, now, HANDSHAKE_ADVICE,
} from './lib/bayeux.mjs';

test('DISC-1 disconnect ends the session; its clientId then gets 402 Unknown client', async (t) => {
  const c = await session(t, { name: 'disc1' });
  const ch = uniq('disc1');
  await mustSubscribe(c, ch);
  const { reply } = await c.meta('/meta/disconnect');
  c.ended = true;
  assert.equal(reply?.channel, '/meta/disconnect', JSON.stringify(reply));
  assert.equal(reply.successful, true, JSON.stringify(reply));
  const expected = `402:${c.clientId}:Unknown client`;
  const after = [
    await c.connect(),
    await c.subscribe(uniq('disc1')),
    await c.unsubscribe(ch),
    await c.publish(ch, { n: 1 }),
    await c.meta('/meta/disconnect'),
  ];
  for (const { reply: r, msg } of after) {
    assert.equal(r?.successful, false, `${msg.channel} after disconnect: ${JSON.stringify(r)}`);
    assert.equal(r.error, expected, `${msg.channel} after disconnect: ${JSON.stringify(r)}`);
    assert.deepEqual(r.advice, HANDSHAKE_ADVICE, `${msg.channel} after disconnect, advice: ${JSON.stringify(r)}`);
  }
});

test('DISC-2 a held connect is answered at once with reconnect:none on disconnect', async (t) => {
  const c = await session(t, { name: 'disc2' });
  const { timeout: T } = timingOf(c);
  const atOnce = Math.min(1000, T / 2);
  let settled = false;
  const held = c.connect().then((r) => { settled = true; return { ...r, at: now() }; });
  held.catch(() => {});
  await sleep(Math.min(500, T / 4));
  assert.ok(!settled, 'connect was not held');
  const sent = now();
  const { reply: d } = await c.meta('/meta/disconnect');
  c.ended = true;
  assert.equal(d?.successful, true, JSON.stringify(d));
  const r = await held;
  assert.ok(r.at - sent < atOnce, `held connect answered ${Math.round(r.at - sent)} ms after the disconnect (expected < ${atOnce})`);
  assert.equal(r.res.status, 200, `HTTP ${r.res.status}: ${r.res.text}`);
  assert.equal(r.reply?.advice?.reconnect, 'none', `held connect reply: ${r.res.text}`);
});
