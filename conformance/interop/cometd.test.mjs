// Interop: the real npm `cometd` client (9.x, under Node via cometd-nodejs-client) against
// the Bayeux server at BAYEUX_URL, over HTTP long-polling only (herald's first version has
// no WebSocket; a later issue adds it, and a websocket run of these scenarios with it).
//
//   BAYEUX_URL=http://127.0.0.1:18200/cometd node --test --test-concurrency=1 conformance/interop/

import test from 'node:test';
import assert from 'node:assert/strict';
import { installExitWatchdog } from './lib/env.mjs';
import { CometdPeer } from './lib/cometd.mjs';
import * as s from './lib/scenarios.mjs';

installExitWatchdog();

test('cometd: handshake succeeds over long-polling and the connect loop starts', async (t) => {
  const c = new CometdPeer('cometd-hs');
  t.after(() => c.close());
  const reply = await c.connect();

  assert.equal(reply.successful, true);
  assert.equal(typeof reply.clientId, 'string');
  assert.ok(reply.clientId.length > 0, 'non-empty clientId');
  assert.equal(c.clientId, reply.clientId, 'the client took the clientId');
  assert.ok(Array.isArray(reply.supportedConnectionTypes), `supportedConnectionTypes: ${JSON.stringify(reply)}`);
  assert.ok(reply.supportedConnectionTypes.includes('long-polling'), 'the server offers long-polling');

  const sent = c.outgoing.filter((m) => m.channel === '/meta/handshake');
  assert.deepEqual(sent[0].supportedConnectionTypes, ['long-polling'], 'the client offered long-polling only');
  assert.equal(c.client.getTransport().type, 'long-polling', 'negotiated transport');
  assert.ok(['connected', 'connecting'].includes(c.client.getStatus()), `status ${c.client.getStatus()}`);
  const connects = c.outgoing.filter((m) => m.channel === '/meta/connect');
  assert.equal(connects[0].connectionType, 'long-polling');
  s.assertQuiet(c);
});

test('cometd: subscribe to an exact channel', (t) => s.subscribeExact(t, CometdPeer, CometdPeer));
test('cometd: subscribe to /x/* (one segment only)', (t) => s.subscribeSingleWildcard(t, CometdPeer, CometdPeer));
test('cometd: subscribe to /x/** (any depth)', (t) => s.subscribeDeepWildcard(t, CometdPeer, CometdPeer));
test('cometd: overlapping subscriptions get one copy', (t) => s.overlappingSubscriptionsOnce(t, CometdPeer, CometdPeer));
test('cometd: publish and receive, in order', (t) => s.publishReceiveInOrder(t, CometdPeer));
test('cometd: unsubscribe stops delivery', (t) => s.unsubscribeStopsDelivery(t, CometdPeer, CometdPeer));

test('cometd: disconnect succeeds and the server forgets the clientId', async (t) => {
  await s.disconnectForgetsClient(t, CometdPeer);
});

test('cometd: two clients see each other\'s messages', (t) => s.twoClientsSeeEachOther(t, CometdPeer, CometdPeer));

// The CometD client keeps at most one non-/meta/connect request in flight and queues the
// rest, so firing all publishes at once still reaches the server in publish order.
test('cometd: a 1,000-message burst arrives complete, in order, without duplicates', (t) =>
  s.burstArrivesInOrder(t, CometdPeer, CometdPeer, s.sendAllAtOnce, { count: 1000 }));
