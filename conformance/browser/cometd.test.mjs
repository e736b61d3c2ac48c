// Browser: the real CometD JavaScript client (npm `cometd`, ES modules) in headless Chromium,
// against herald at BAYEUX_URL, over each transport CometD offers in a browser (websocket,
// long-polling, callback-polling), each from a page of another origin than herald's (the
// tests' static server: CORS for long-polling) and from a page of herald's own origin.
//
//   BAYEUX_URL=http://127.0.0.1:18400/cometd node --test --test-concurrency=1 conformance/browser/

import { before, after, test } from 'node:test';
import { checkServer, launchBrowser } from './lib/browser.mjs';
import { startStaticServer } from './lib/static-server.mjs';
import { exchange } from './lib/exchange.mjs';

let browser;
let statics;

before(async () => {
  await checkServer();
  statics = await startStaticServer();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await statics?.close();
});

for (const transport of ['websocket', 'long-polling', 'callback-polling']) {
  for (const sameOrigin of [false, true]) {
    const where = sameOrigin ? 'same origin' : 'from another origin';
    test(`cometd in Chromium over ${transport} (${where}): two clients, in-order delivery, wildcard`, () =>
      exchange(browser, { kind: 'cometd', transport, sameOrigin, staticOrigin: statics.origin }));
  }
}
