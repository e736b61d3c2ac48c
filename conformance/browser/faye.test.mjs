// Browser: the real Faye browser client (npm `faye`, client/faye-browser.js) in headless
// Chromium, against herald at BAYEUX_URL, over each of the five transports Faye offers in a
// browser. Faye picks long-polling and eventsource only for a same-origin endpoint, and
// cross-origin-long-polling only for another origin, so each test loads its page from the
// origin that makes Faye choose the transport under test.
//
//   BAYEUX_URL=http://127.0.0.1:18400/cometd node --test --test-concurrency=1 conformance/browser/

import { test } from 'node:test';
import { useBrowser } from './lib/fixture.mjs';
import { exchange } from './lib/exchange.mjs';

const fixture = useBrowser();

const cases = [
  ['websocket', true],
  ['eventsource', true],
  ['long-polling', true],
  ['cross-origin-long-polling', false],
  ['callback-polling', false],
];

for (const [transport, sameOrigin] of cases) {
  const where = sameOrigin ? 'same origin' : 'from another origin';
  test(`faye in Chromium over ${transport} (${where}): two clients, in-order delivery, wildcard`, () =>
    exchange(fixture.browser, { kind: 'faye', transport, sameOrigin, staticOrigin: fixture.statics.origin }));
}
