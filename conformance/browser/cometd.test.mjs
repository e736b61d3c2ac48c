// Browser: the real CometD JavaScript client (npm `cometd`, ES modules) in headless Chromium,
// against herald at BAYEUX_URL, over each transport CometD offers in a browser (websocket,
// long-polling, callback-polling), each from a page of another origin than herald's (the
// tests' static server: CORS for long-polling) and from a page of herald's own origin.
//
//   BAYEUX_URL=http://127.0.0.1:18400/cometd node --test --test-concurrency=1 conformance/browser/

import { test } from 'node:test';
import { useBrowser } from './lib/fixture.mjs';
import { exchange } from './lib/exchange.mjs';

const fixture = useBrowser();

for (const transport of ['websocket', 'long-polling', 'callback-polling']) {
  for (const sameOrigin of [false, true]) {
    const where = sameOrigin ? 'same origin' : 'from another origin';
    test(`cometd in Chromium over ${transport} (${where}): two clients, in-order delivery, wildcard`, () =>
      exchange(fixture.browser, { kind: 'cometd', transport, sameOrigin, staticOrigin: fixture.statics.origin }));
  }
}
