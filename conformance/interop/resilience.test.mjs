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

installExitWatchdog();

test('resilience: cometd websocket killed mid-stream: same session, nothing lost or duplicated', async (t) => {
  const { sub, clientId } = await s.websocketDropLosesNothing(t, CometdPeer.over('websocket'), CometdPeer.over('websocket'));
  // On the wire: the client opened a second socket and went on with its session there,
  // starting with a /meta/connect for the old clientId (no handshake on either).
  const sockets = sub.sockets();
  assert.equal(sockets.length, 2, `two WebSockets: the one cut and the new one; ${sockets.map((r) => `#${r.n}: ${describeFrames(r)}`).join(' || ')}`);
  const first = sockets[1].frames.find((f) => f.dir === 'out');
  assert.ok(first, 'the client sent something on the new socket');
  assert.equal(first.messages[0].channel, '/meta/connect', `first frame on the new socket: ${describeFrames(sockets[1])}`);
  assert.equal(first.messages[0].clientId, clientId, 'for the old clientId');
  s.assertQuiet(sub);
});

test('resilience: faye websocket killed mid-stream: same session, nothing lost or duplicated', async (t) => {
  await s.websocketDropLosesNothing(t, FayePeer.over('websocket'), FayePeer.over('websocket'));
});
