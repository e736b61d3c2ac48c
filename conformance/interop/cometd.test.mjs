// Interop: the real npm `cometd` client (9.x, under Node via cometd-nodejs-client) against
// the Bayeux server at BAYEUX_URL, over WebSocket (the client's default) and HTTP
// long-polling. Callback-polling, which needs a DOM, is in cometd-callback-polling.test.mjs.
//
//   BAYEUX_URL=http://127.0.0.1:18200/cometd node --test --test-concurrency=1 conformance/interop/

import test from 'node:test';
import assert from 'node:assert/strict';
import { installExitWatchdog } from './lib/env.mjs';
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
