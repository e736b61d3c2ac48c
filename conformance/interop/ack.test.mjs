// Reliable delivery (spec/extensions.md, ACK-1 to ACK-4): the real npm `cometd` client with
// its AckExtension, subscribed through a TCP proxy (lib/proxy.mjs) that cuts its connections
// every few hundred milliseconds while 1,000 messages flow at 100/s, gets all 1,000 exactly
// once and in order, over long-polling and over WebSocket. Without the extension the same
// run loses what was in flight at each cut: the test reports how much, and checks what
// still holds (nothing duplicated, nothing out of order).
//
// And the `timesync` extension: the client's TimeSyncExtension gets an offset and a lag.
//
//   BAYEUX_URL=http://127.0.0.1:18200/cometd node --test --test-concurrency=1 conformance/interop/

import test from 'node:test';
import assert from 'node:assert/strict';
import { AckExtension } from 'cometd/AckExtension.js';
import { TimeSyncExtension } from 'cometd/TimeSyncExtension.js';
import { BAYEUX_URL, installExitWatchdog, uniquePrefix } from './lib/env.mjs';
import { CometdPeer } from './lib/cometd.mjs';
import { TcpProxy } from './lib/proxy.mjs';

installExitWatchdog();

const MESSAGES = 1_000;
const RATE = 100;
/** The proxy cuts the subscriber's connections after a pause drawn from this range (ms). */
const CUT_EVERY = [200, 500];
/** How long the last messages may take to arrive once publishing and cutting stop. */
const SETTLE_MS = 30_000;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Publishes MESSAGES sequence numbers at RATE while the proxy cuts every connection of the
 * subscriber, then waits until it has them all or SETTLE_MS passes. Returns what the
 * subscriber received (sequence numbers, in arrival order), the number of cuts, and the
 * subscriber.
 */
async function flowThroughCuts(t, { transport, ack }) {
  const proxy = await new TcpProxy(BAYEUX_URL).start();
  const p = uniquePrefix(`ack-${transport}`);
  let sub, pub;
  try {
    sub = await CometdPeer.open(t, `cometd-${transport}-${ack ? 'ack' : 'noack'}-subscriber`, {
      url: proxy.url,
      transport,
      extensions: ack ? { ack: new AckExtension() } : {},
      // Come back quickly after each cut: the session outlives 2 s without a connect only.
      config: { backoffIncrement: 50, maxBackoff: 300 },
    });
    pub = await CometdPeer.open(t, `cometd-${transport}-publisher`, { transport: 'long-polling' });
  } finally {
    t.after(() => proxy.close());
  }
  const h = await sub.subscribe(`${p}/stream`);

  let cutting = true;
  let cuts = 0;
  const cutter = (async () => {
    while (cutting) {
      await sleep(CUT_EVERY[0] + Math.random() * (CUT_EVERY[1] - CUT_EVERY[0]));
      if (cutting && proxy.kill().length > 0) cuts++;
    }
  })();
  const start = Date.now();
  try {
    for (let seq = 1; seq <= MESSAGES; seq++) {
      await pub.publish(`${p}/stream`, { seq });
      const due = start + (seq * 1000) / RATE;
      if (due > Date.now()) await sleep(due - Date.now());
    }
  } finally {
    cutting = false;
    await cutter;
  }
  try {
    await h.messages.waitForCount(() => true, MESSAGES, `all ${MESSAGES} messages after the last cut`, SETTLE_MS);
  } catch {
    // What did not come is reported by the caller.
  }
  return { got: h.messages.items.map((m) => m.data.seq), cuts, sub };
}

/** The sequence numbers of 1..MESSAGES missing from `got`, and those received twice. */
function account(got) {
  const seen = new Set();
  const duplicated = [];
  for (const seq of got) {
    if (seen.has(seq)) duplicated.push(seq);
    seen.add(seq);
  }
  const missing = [];
  for (let seq = 1; seq <= MESSAGES; seq++) if (!seen.has(seq)) missing.push(seq);
  return { missing, duplicated };
}

for (const transport of ['long-polling', 'websocket']) {
  test(`ack: cometd with AckExtension over ${transport}, connections cut every few hundred ms while ${MESSAGES} messages flow at ${RATE}/s: all exactly once, in order`, async (t) => {
    const { got, cuts, sub } = await flowThroughCuts(t, { transport, ack: true });
    const { missing, duplicated } = account(got);
    t.diagnostic(`${cuts} cuts; received ${got.length}, missing ${missing.length}, duplicated ${duplicated.length}`);
    assert.ok(cuts >= 10, `the proxy cut the subscriber's connections at least 10 times (${cuts})`);
    const ackReplies = sub.incoming.filter((m) => m.channel === '/meta/connect' && typeof m.ext?.ack === 'number');
    assert.ok(ackReplies.length > 0, 'the server numbered its connect replies: acknowledged delivery was on');
    const handshakes = sub.outgoing.filter((m) => m.channel === '/meta/handshake');
    assert.equal(handshakes.length, 1, 'one session throughout: the client never had to handshake again');
    assert.deepEqual(missing, [], 'nothing lost');
    assert.deepEqual(duplicated, [], 'nothing delivered twice');
    assert.deepEqual(got, Array.from({ length: MESSAGES }, (_, i) => i + 1), 'in publish order');
  });

  test(`without ack: cometd over ${transport} through the same cuts reports what is lost, and gets nothing twice or out of order`, async (t) => {
    const { got, cuts } = await flowThroughCuts(t, { transport, ack: false });
    const { missing, duplicated } = account(got);
    t.diagnostic(
      `${cuts} cuts; lost ${missing.length} of ${MESSAGES} messages without the ack extension` +
        (missing.length ? ` (e.g. ${missing.slice(0, 8).join(', ')})` : ''),
    );
    assert.ok(cuts >= 10, `the proxy cut the subscriber's connections at least 10 times (${cuts})`);
    assert.deepEqual(duplicated, [], 'nothing delivered twice');
    assert.deepEqual(got, [...got].sort((a, b) => a - b), 'what arrived is in publish order');
  });
}

test('timesync: the cometd client with TimeSyncExtension gets its offset and lag from the server', async (t) => {
  const timesync = new TimeSyncExtension();
  const peer = await CometdPeer.open(t, 'cometd-timesync', {
    transport: 'long-polling',
    extensions: { timesync },
  });
  const handshake = peer.incoming.filter((m) => m.channel === '/meta/handshake')[0];
  const sync = handshake.ext?.timesync;
  assert.ok(sync, `the handshake reply carries ext.timesync: ${JSON.stringify(handshake)}`);
  for (const field of ['tc', 'ts', 'p', 'a']) assert.equal(typeof sync[field], 'number', `timesync.${field} is a number`);
  // Same machine, same clock: the estimated offset is within a second of zero.
  assert.ok(Math.abs(timesync.getTimeOffset()) < 1_000, `offset ${timesync.getTimeOffset()} ms`);
  assert.equal(typeof timesync.getNetworkLag(), 'number');
  assert.ok(Math.abs(timesync.getServerTime() - Date.now()) < 1_000, 'server time as the client now sees it');
});
