// Resilience: a WebSocket killed mid-stream (through a TCP proxy of our own, lib/proxy.mjs),
// the real clients reconnect by themselves, and nothing published meanwhile is lost or
// duplicated (TR-7); and a session that moves from WebSocket to long-polling gets what was
// queued meanwhile, in order (TR-6).
//
//   BAYEUX_URL=http://127.0.0.1:18200/cometd node --test --test-concurrency=1 conformance/interop/

import test from 'node:test';
import assert from 'node:assert/strict';
import { installExitWatchdog } from './lib/env.mjs';
import { CometdPeer } from './lib/cometd.mjs';
import { describeFrames } from './lib/cometd-sockets.mjs';
import { FayePeer } from './lib/faye.mjs';
import * as s from './lib/scenarios.mjs';
import * as sw from './lib/switch.mjs';

installExitWatchdog();

// On the wire: the CometD client opens a second socket and goes on with its session there,
// its first frame a /meta/connect for the old clientId (no handshake on either socket).
test('resilience: cometd websocket killed mid-stream: same session, nothing lost or duplicated', async (t) => {
  const Cometd = CometdPeer.over('websocket');
  await s.websocketDropLosesNothing(t, Cometd, Cometd, {
    onReconnected: (sub, clientId) => {
      const sockets = sub.sockets();
      const frames = sockets.map((r) => `#${r.n}: ${describeFrames(r)}`).join(' || ');
      assert.equal(sockets.length, 2, `two WebSockets, the one cut and the new one: ${frames}`);
      const first = sockets[1].frames.find((f) => f.dir === 'out');
      assert.ok(first, `the client sent something on the new socket: ${frames}`);
      assert.equal(first.messages[0].channel, '/meta/connect', `first frame on the new socket: ${describeFrames(sockets[1])}`);
      assert.equal(first.messages[0].clientId, clientId, 'for the old clientId');
      s.assertQuiet(sub);
    },
  });
});

// When its socket closes, the Faye client sends the pending /meta/connect again after its
// `retry` delay (5 s by default; Transport#_handleError does not pass on "immediately"),
// longer than the session outlives its socket with this suite's --max-interval 2000 (herald's
// default, 10 s, covers it). The subscriber retries after 1 s instead.
test('resilience: faye websocket killed mid-stream: same session, nothing lost or duplicated', async (t) => {
  const Sub = FayePeer.over('websocket', { clientOptions: { retry: 1 } });
  await s.websocketDropLosesNothing(t, Sub, FayePeer.over('websocket'));
});

// TR-6/TR-7 by hand: one session moves from a WebSocket to HTTP long-polling.

// Every real client has a /meta/connect held on its socket when the socket goes: that
// connect belongs to a socket that no longer exists and must not take the session's
// messages with it. Both cases: socket closed with and without a connect held.
for (const hold of [false, true]) {
  const how = hold ? 'while its connect is held' : 'with no connect held';
  test(`transport switch: socket closed ${how}, then long-polling gets what was queued, in order`, async (t) => {
    const session = await sw.websocketSession({ hold });
    t.after(() => session.close());
    await session.ws.close();
    for (let seq = 1; seq <= 5; seq++) await session.publish(seq);
    const got = await sw.pollFor(session, 5, 'messages 1..5 queued while the session had no transport');
    assert.deepEqual(got, [1, 2, 3, 4, 5], 'every message queued after the socket closed, once, in order');
  });
}

test('transport switch: a long-poll takes over from an open WebSocket; nothing is lost, duplicated or reordered', async (t) => {
  const session = await sw.websocketSession({ hold: true });
  t.after(() => session.close());
  const { ws, channel } = session;
  for (let seq = 1; seq <= 3; seq++) await session.publish(seq);
  await ws.messages.waitForCount((m) => m.channel === channel, 3, 'messages 1..3 pushed on the WebSocket');

  // The client moves: a long-poll connect. The connect held on the socket is answered at
  // once (CN-7), and from then on the poll delivers (TR-6).
  const firstPoll = session.poll();
  firstPoll.catch(() => {}); // awaited below; not an unhandled rejection if a wait fails first
  await ws.messages.waitFor(
    (m) => m.channel === '/meta/connect' && m.id === session.heldId,
    'the held /meta/connect on the WebSocket to be answered once the long-poll arrived (CN-7)',
    1_500,
  );
  for (let seq = 4; seq <= 8; seq++) await session.publish(seq);
  const got = sw.seqsOn(await firstPoll, channel);
  if (got.length < 5) {
    got.push(...(await sw.pollFor(session, 5 - got.length, `the rest of 4..8 by long-polling (got ${JSON.stringify(got)})`)));
  }

  assert.deepEqual(sw.seqsOn(ws.messages.items, channel), [1, 2, 3], 'the WebSocket got 1..3 and nothing after the long-poll took over');
  assert.deepEqual(got, [4, 5, 6, 7, 8], 'long-polling got 4..8, once each, in order');
});
