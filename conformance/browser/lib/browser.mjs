// Headless Chromium (Debian's `chromium` at /usr/bin/chromium) driven by playwright-core,
// which downloads no browser of its own.

import { access, constants } from 'node:fs/promises';
import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
export const WAIT_MS = 15000;

/** Where Playwright serves our pages at herald's own origin (intercepted, never sent to herald). */
export const SAME_ORIGIN_PREFIX = '/__herald_browser_test__';

/** The Bayeux endpoint under test, from BAYEUX_URL; throws loudly when it is missing. */
export function bayeuxUrl() {
  const url = process.env.BAYEUX_URL;
  if (!url) {
    throw new Error('BAYEUX_URL is not set: start herald (e.g. `herald --bind 127.0.0.1:18400`) and run with '
      + 'BAYEUX_URL=http://127.0.0.1:18400/cometd node --test --test-concurrency=1 conformance/browser/');
  }
  return new URL(url).href;
}

/** herald's origin (the demo chat is at its `/`). */
export function heraldOrigin() {
  return new URL(bayeuxUrl()).origin;
}

/** Fails fast, and clearly, when nothing answers at BAYEUX_URL. */
export async function checkServer() {
  const url = bayeuxUrl();
  try {
    await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '[{"channel":"/meta/handshake","version":"1.0","supportedConnectionTypes":["long-polling"],"id":"1"}]',
      signal: AbortSignal.timeout(5000),
    });
  } catch (error) {
    throw new Error(`nothing answers at BAYEUX_URL=${url}: ${error.cause?.message || error.message}`);
  }
}

export async function launchBrowser() {
  try {
    await access(CHROMIUM, constants.X_OK);
  } catch {
    throw new Error(`${CHROMIUM} not found: install Debian's chromium (apt-get update && apt-get install -y chromium)`);
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    timeout: WAIT_MS,
    // Playwright gives each launch a fresh temporary --user-data-dir and removes it on close.
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--disable-dev-shm-usage',
    ],
  });
}

/** Rejects after `ms` with `what`, whichever comes first. */
export function within(ms, what, promise) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const clip = (s, n = 300) => (s && s.length > n ? `${s.slice(0, n)}…(${s.length} chars)` : s);

/** Records what a page did on the network and in its console, for failure reports. */
export function recordPage(page, name, lines, t0 = Date.now()) {
  const add = (line) => {
    if (lines.length < 3000) lines.push(`+${((Date.now() - t0) / 1000).toFixed(3)}s [${name}] ${line}`);
  };
  page.on('console', (m) => add(`console.${m.type()}: ${clip(m.text())}`));
  page.on('pageerror', (e) => add(`pageerror: ${e.message}`));
  page.on('request', (r) => add(`-> ${r.method()} ${clip(r.url(), 400)}${r.postData() ? ` body=${clip(r.postData())}` : ''}`));
  page.on('response', (r) => add(`<- ${r.status()} ${clip(r.url(), 200)} ${r.headers()['content-type'] || ''}`));
  page.on('requestfinished', (r) => { if (r.resourceType() === 'eventsource') add(`event stream ended: ${r.url()}`); });
  page.on('requestfailed', (r) => add(`xx ${r.method()} ${clip(r.url(), 200)} ${r.failure() && r.failure().errorText}`));
  page.on('websocket', (ws) => {
    add(`ws open ${ws.url()}`);
    ws.on('framesent', (f) => add(`ws-> ${clip(String(f.payload))}`));
    ws.on('framereceived', (f) => add(`ws<- ${clip(String(f.payload))}`));
    ws.on('socketerror', (e) => add(`ws error ${e}`));
    ws.on('close', () => add('ws closed'));
  });
}

/**
 * A fresh browser context (its own cookies, as one browser) with one tab per name, each
 * loaded with our harness page, either from the static server (another origin than
 * herald's) or at herald's own origin. One client per tab: two CometD clients in one page
 * would share CometD's global JSONP callback names (`_cometd_jsonp_<n>`, numbered per client).
 *
 * Same-origin: Faye uses long-polling and eventsource only when the endpoint has the page's
 * origin, so the page must come from herald's origin. herald serves no test pages, so
 * Playwright sends the requests for SAME_ORIGIN_PREFIX on to the static server instead (the
 * page keeps its herald URL; the bytes come from a loopback server, so Chromium's local
 * network access checks see a loopback page), then stops intercepting once the tabs have
 * loaded: the Bayeux traffic goes from Chromium to herald untouched.
 */
export async function openHarness(browser, { origin, sameOrigin, names }) {
  const context = await browser.newContext();
  const lines = [];
  const t0 = Date.now();
  const tabs = {};
  try {
    let base = origin;
    if (sameOrigin) {
      base = heraldOrigin() + SAME_ORIGIN_PREFIX;
      await context.route(`${base}/**`, (route) => {
        const { pathname, search } = new URL(route.request().url());
        return route.continue({ url: `${origin}${pathname.slice(SAME_ORIGIN_PREFIX.length)}${search}` });
      });
    }
    for (const name of names) {
      const page = await context.newPage();
      recordPage(page, name, lines, t0);
      await page.goto(`${base}/harness.html`, { timeout: WAIT_MS });
      await page.waitForFunction(() => window.harnessReady === true, null, { timeout: WAIT_MS })
        .catch((e) => { throw new Error(`harness page did not load: ${e.message}\n${lines.join('\n')}`); });
      tabs[name] = {
        page,
        /** page.evaluate, bounded. */
        run: (what, fn, arg, ms = WAIT_MS + 2000) => within(ms, `${name}: ${what}`, page.evaluate(fn, arg)),
      };
    }
    if (sameOrigin) await context.unrouteAll({ behavior: 'wait' });
  } catch (error) {
    await context.close().catch(() => {});
    throw error;
  }
  return { context, lines, tabs, close: () => context.close().catch(() => {}) };
}
