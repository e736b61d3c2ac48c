// Interop: the real npm `faye` client (1.4.x, Node) against the Bayeux server at BAYEUX_URL,
// over WebSocket (its Node default: it handshakes over HTTP, then moves to the socket) and
// HTTP long-polling (`disable('websocket')`).
//
//   BAYEUX_URL=http://127.0.0.1:18200/cometd node --test --test-concurrency=1 conformance/interop/

import test from 'node:test';
import assert from 'node:assert/strict';
import { installExitWatchdog } from './lib/env.mjs';
import { FayePeer } from './lib/faye.mjs';
import { registerCoreScenarios } from './lib/suites.mjs';

installExitWatchdog();

for (const transport of ['websocket', 'long-polling']) {
  const Faye = FayePeer.over(transport);

  test(`faye ${transport}: handshake over HTTP, then connects over ${transport} (transport:up, connect)`, async (t) => {
    const c = new FayePeer(`faye-${transport}-hs`, { transport });
    t.after(() => c.close());
    const reply = await c.connect(); // handshake reply, connect callback, 'transport:up', first /meta/connect reply

    assert.equal(reply.successful, true);
    assert.equal(typeof reply.clientId, 'string');
    assert.ok(reply.clientId.length > 0, 'non-empty clientId');
    assert.ok(reply.supportedConnectionTypes.includes(transport), `supportedConnectionTypes: ${JSON.stringify(reply)}`);

    // Faye offers every transport it has registered, disabled or not.
    const hs = c.outgoing.filter((m) => m.channel === '/meta/handshake');
    assert.deepEqual(hs[0].supportedConnectionTypes, ['in-process', 'websocket', 'long-polling'], 'what the client offered');
    const connects = c.outgoing.filter((m) => m.channel === '/meta/connect');
    assert.ok(connects.length >= 1, 'the client sent /meta/connect');
    assert.equal(connects[0].clientId, reply.clientId);
    // Over websocket the first connect may still go by HTTP, when the socket Faye opened
    // during the handshake was not open yet as the reply came (see FayePeer#assertTransport).
    const types = connects.map((m) => m.connectionType);
    if (types[0] !== transport) t.diagnostic(`connectionTypes sent: ${JSON.stringify(types)}`);
    assert.equal(types.at(-1), transport, `the client connects with ${transport}: ${JSON.stringify(types)}`);
    assert.equal(c.transportInUse, transport, 'the transport the client selected');
    c.assertTransport();
  });

  registerCoreScenarios(`faye ${transport}`, Faye);
}
