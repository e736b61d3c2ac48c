// Interop: the real npm `cometd` client over callback-polling (JSONP), under Node with a
// jsdom window (lib/dom.mjs) whose <script> tags are really fetched from the server over
// HTTP: the client's own CallbackPollingTransport, nothing replaced. The only transport
// registered is callback-polling, and every peer checks it negotiated it. The other party
// of each scenario is a CometD client over long-polling (see below).
//
//   BAYEUX_URL=http://127.0.0.1:18200/cometd node --test --test-concurrency=1 conformance/interop/

import './lib/dom.mjs'; // first: the global window the CometD client will use
import test from 'node:test';
import assert from 'node:assert/strict';
import { scriptRequests } from './lib/dom.mjs';
import { BAYEUX_URL, installExitWatchdog, uniquePrefix } from './lib/env.mjs';
import { CometdPeer } from './lib/cometd.mjs';
import { registerCoreScenarios } from './lib/suites.mjs';
import * as s from './lib/scenarios.mjs';

installExitWatchdog();

test('cometd callback-polling: handshake, connect, subscribe and publish all travel as JSONP script GETs', async (t) => {
  const before = scriptRequests.length;
  const c = new CometdPeer('cometd-callback-polling-hs', { transport: 'callback-polling' });
  t.after(() => c.close());
  const reply = await c.connect();
  assert.equal(reply.successful, true);
  assert.ok(reply.supportedConnectionTypes.includes('callback-polling'), `supportedConnectionTypes: ${JSON.stringify(reply)}`);
  const sent = c.outgoing.filter((m) => m.channel === '/meta/handshake');
  assert.deepEqual(sent[0].supportedConnectionTypes, ['callback-polling'], 'what the client offered');
  assert.equal(c.client.getTransport().type, 'callback-polling', 'negotiated transport');

  const h = await c.subscribe(`${uniquePrefix('jsonp')}/echo`);
  await c.publish(h.channel, { hello: 'jsonp' });
  await h.messages.waitFor((m) => m.data?.hello === 'jsonp', 'the message back over callback-polling');

  // What went over the wire: script GETs on the endpoint, each answered 200 as JavaScript.
  const mine = scriptRequests.slice(before);
  const endpoint = new URL(BAYEUX_URL);
  const decoded = mine.map((r) => {
    const u = new URL(r.url);
    assert.equal(u.origin, endpoint.origin, `script from the endpoint's origin: ${r.url}`);
    assert.ok(u.pathname.startsWith(endpoint.pathname), `script on the endpoint path: ${r.url}`);
    assert.match(u.searchParams.get('jsonp') ?? '', /^_cometd_jsonp_\d+$/, `jsonp= callback name: ${r.url}`);
    return JSON.parse(u.searchParams.get('message'));
  });
  const channels = decoded.flat().map((m) => m.channel);
  for (const ch of ['/meta/handshake', '/meta/connect', '/meta/subscribe', h.channel]) {
    assert.ok(channels.includes(ch), `a JSONP GET carried ${ch}; carried: ${JSON.stringify(channels)}`);
  }
  const answered = mine.filter((r) => r.status !== null);
  assert.ok(answered.length > 0, 'some script requests were answered');
  for (const r of answered) {
    assert.equal(r.status, 200, `script GET answered 200: ${r.url}`);
    assert.match(String(r.contentType), /^text\/javascript/i, `script GET answered as JavaScript: ${r.url}`);
  }
  s.assertQuiet(c);
});

// The client names its JSONP callbacks `_cometd_jsonp_<n>` with a counter of its own, on the
// window it shares with every other CometD instance: two callback-polling clients in one
// window (one page) answer each other's scripts. As in a browser, where each page has one
// client, one callback-polling client runs at a time here; the other party of each
// scenario is a CometD client over long-polling (not on the window).
registerCoreScenarios('cometd callback-polling', CometdPeer.over('callback-polling'), CometdPeer.over('long-polling'));
