// Interop: the real npm `faye` client (1.4.x, Node) against the Bayeux server at BAYEUX_URL,
// over HTTP long-polling only: every client calls `disable('websocket')` (herald's first
// version has no WebSocket; a later issue adds it).
//
//   BAYEUX_URL=http://127.0.0.1:18200/cometd node --test --test-concurrency=1 conformance/interop/

import test from 'node:test';
import assert from 'node:assert/strict';
import { installExitWatchdog } from './lib/env.mjs';
import { FayePeer } from './lib/faye.mjs';
import * as s from './lib/scenarios.mjs';

installExitWatchdog();

test('faye: handshake succeeds over long-polling (transport:up, connect)', async (t) => {
  const c = new FayePeer('faye-hs');
  t.after(() => c.close());
  const reply = await c.connect(); // handshake reply, connect callback, 'transport:up', first /meta/connect reply

  assert.equal(reply.successful, true);
  assert.equal(typeof reply.clientId, 'string');
  assert.ok(reply.clientId.length > 0, 'non-empty clientId');
  assert.ok(reply.supportedConnectionTypes.includes('long-polling'), `supportedConnectionTypes: ${JSON.stringify(reply)}`);

  const connects = c.outgoing.filter((m) => m.channel === '/meta/connect');
  assert.ok(connects.length >= 1, 'the client sent /meta/connect');
  assert.equal(connects[0].clientId, reply.clientId);
  assert.equal(connects[0].connectionType, 'long-polling', 'the client connects with long-polling');
  assert.equal(c.outgoing.filter((m) => m.connectionType === 'websocket').length, 0, 'nothing over websocket');
});

test('faye: subscribe to an exact channel', (t) => s.subscribeExact(t, FayePeer, FayePeer));
test('faye: subscribe to /x/* (one segment only)', (t) => s.subscribeSingleWildcard(t, FayePeer, FayePeer));
test('faye: subscribe to /x/** (any depth)', (t) => s.subscribeDeepWildcard(t, FayePeer, FayePeer));
test('faye: overlapping subscriptions get one copy', (t) => s.overlappingSubscriptionsOnce(t, FayePeer, FayePeer));
test('faye: publish and receive, in order', (t) => s.publishReceiveInOrder(t, FayePeer));
test('faye: unsubscribe stops delivery', (t) => s.unsubscribeStopsDelivery(t, FayePeer, FayePeer));

test('faye: client.disconnect() succeeds and the server then answers that clientId with 402', (t) =>
  s.disconnectForgetsClient(t, FayePeer));

test('faye: two clients see each other\'s messages', (t) => s.twoClientsSeeEachOther(t, FayePeer, FayePeer));

// Faye sends every batch it has ready at once, each on its own HTTP connection, and cuts
// batches at 2 KiB: publishes fired together can reach the server in any order, by the
// client's own doing. So the ordered burst sends groups of 10 (one request each), the next
// group once the previous is acknowledged; the second test fires all 1,000 at once and
// checks completeness only.
test('faye: a 1,000-message burst arrives complete, in order, without duplicates', (t) =>
  s.burstArrivesInOrder(t, FayePeer, FayePeer, s.sendInGroups(10), { count: 1000 }));

test('faye: 1,000 publishes fired at once (concurrent requests) all arrive once', (t) =>
  s.burstArrivesInOrder(t, FayePeer, FayePeer, s.sendAllAtOnce, { count: 1000, ordered: false }));
