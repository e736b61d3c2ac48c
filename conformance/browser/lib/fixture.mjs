// The fixture every client's browser tests share: herald answers, the static server that
// serves the test pages and client libraries runs, and one Chromium is open; all of it
// closed after the file's tests.

import { before, after } from 'node:test';
import { checkServer, launchBrowser } from './browser.mjs';
import { startStaticServer } from './static-server.mjs';

/** Registers the file's before/after hooks; the returned object holds the live browser
 * and static server once `before` has run. */
export function useBrowser() {
  const fixture = { browser: null, statics: null };
  before(async () => {
    await checkServer();
    fixture.statics = await startStaticServer();
    fixture.browser = await launchBrowser();
  });
  after(async () => {
    await fixture.browser?.close();
    await fixture.statics?.close();
  });
  return fixture;
}
