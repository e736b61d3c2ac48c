// Interop: the real npm `cometd` client (9.x, under Node via cometd-nodejs-client) against
// the Bayeux server at BAYEUX_URL, over WebSocket (the client's default) and HTTP
// long-polling. Callback-polling, which needs a DOM, is in cometd-callback-polling.test.mjs.
//
//   BAYEUX_URL=http://127.0.0.1:18200/cometd node --test --test-concurrency=1 conformance/interop/

import test from 'node:test';
import assert from 'node:assert/strict';
import { installExitWatchdog, uniquePrefix } from './lib/env.mjs';
import { CometdPeer } from './lib/cometd.mjs';
import { registerCoreScenarios } from './lib/suites.mjs';
import * as s from './lib/scenarios.mjs';

installExitWatchdog();

/** What the client offers in its handshake when made for each transport (lib/cometd.mjs). */
const OFFERED = {
  websocket: ['websocket', 'long-polling'],
  'long-polling': ['long-polling'],
};

for (const [transport, offered] of Object.entries(OFFERED)) {
  const Cometd = CometdPeer.over(transport);

  test(`cometd ${transport}: handshake succeeds and the connect loop runs over ${transport}`, async (t) => {
    const c = new CometdPeer(`cometd-${transport}-hs`, { transport });
    t.after(() => c.close());
    const reply = await c.connect();

    assert.equal(reply.successful, true);
    assert.equal(typeof reply.clientId, 'string');
    assert.ok(reply.clientId.length > 0, 'non-empty clientId');
    assert.equal(c.clientId, reply.clientId, 'the client took the clientId');
    assert.ok(Array.isArray(reply.supportedConnectionTypes), `supportedConnectionTypes: ${JSON.stringify(reply)}`);
    assert.ok(reply.supportedConnectionTypes.includes(transport), `the server offers ${transport}`);

    const sent = c.outgoing.filter((m) => m.channel === '/meta/handshake');
    assert.deepEqual(sent[0].supportedConnectionTypes, offered, 'what the client offered');
    assert.equal(c.client.getTransport().type, transport, 'negotiated transport');
    assert.ok(['connected', 'connecting'].includes(c.client.getStatus()), `status ${c.client.getStatus()}`);
    const connects = c.outgoing.filter((m) => m.channel === '/meta/connect');
    assert.equal(connects[0].connectionType, transport);
    s.assertQuiet(c);
  });

  registerCoreScenarios(`cometd ${transport}`, Cometd);
}

// The CometD client closes its WebSocket itself after a disconnect, but only when the
// /meta/disconnect reply comes while none of its /meta/connect is outstanding (its
// WebSocketTransport checks this on each frame): the server must answer the held connect
// (DISC-2) before it sends the disconnect reply, as CometD's own server does. Otherwise the
// socket stays open after the disconnect, on both sides. Each round disconnects right
// after a subscribe, and once with the connect held alone.
test('cometd websocket: no WebSocket is left open after /meta/disconnect (held connect answered first)', async (t) => {
  const rounds = [];
  for (const [i, subscribeFirst] of [true, true, true, false].entries()) {
    const c = await CometdPeer.open(t, `cometd-websocket-leaving-${i}`, { transport: 'websocket' });
    // Let the client send its next /meta/connect, which the server holds.
    await c.outgoing.waitForCount((m) => m.channel === '/meta/connect', 2, 'the held /meta/connect');
    if (subscribeFirst) await c.subscribe(`${uniquePrefix('leave')}/topic`);
    await c.disconnect();
    const how = subscribeFirst ? 'subscribe, then disconnect' : 'disconnect';
    rounds.push(...c.socketsLeftOpen.map((text) => `round ${i} (${how}): ${text}`));
  }
  assert.deepEqual(
    rounds,
    [],
    'WebSockets left open after the disconnect (the last frames on each; the client closes its socket only when the ' +
      '/meta/disconnect reply comes after the reply to its held /meta/connect)',
  );
});
