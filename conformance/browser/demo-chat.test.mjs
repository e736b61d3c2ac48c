// Browser: herald's demo chat page (served at `/` of the herald at BAYEUX_URL), in two tabs
// of headless Chromium: a message typed in one tab appears in the other, both ways.
//
//   BAYEUX_URL=http://127.0.0.1:18400/cometd node --test --test-concurrency=1 conformance/browser/

import { before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { checkServer, heraldOrigin, launchBrowser, recordPage, WAIT_MS } from './lib/browser.mjs';

let browser;

before(async () => {
  await checkServer();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
});

async function openTab(context, name, lines) {
  const page = await context.newPage();
  recordPage(page, name, lines);
  await page.goto(`${heraldOrigin()}/`, { timeout: WAIT_MS });
  await page.waitForFunction(() => /^connected as /.test(document.getElementById('status')?.textContent || ''),
    null, { timeout: WAIT_MS })
    .catch(async (e) => {
      const status = await page.textContent('#status').catch(() => '?');
      throw new Error(`${name}: the demo chat did not connect (#status: ${JSON.stringify(status)}): ${e.message}`);
    });
  return page;
}

async function say(page, name, text) {
  await page.fill('#name', name);
  await page.fill('#text', text);
  await page.press('#text', 'Enter');
}

function waitForLine(page, who, text, tab) {
  return page.waitForFunction(([w, t]) => [...document.querySelectorAll('#log p')]
    .some((p) => p.textContent === `${w}: ${t}`), [who, text], { timeout: WAIT_MS })
    .catch(async (e) => {
      const log = await page.textContent('#log').catch(() => '?');
      throw new Error(`${tab}: "${who}: ${text}" did not appear in #log (it holds ${JSON.stringify(log)}): ${e.message}`);
    });
}

test('demo chat: a message typed in one tab appears in the other tab, and back', async () => {
  const context = await browser.newContext();
  const lines = [];
  try {
    const one = await openTab(context, 'tab one', lines);
    const two = await openTab(context, 'tab two', lines);
    const tag = randomBytes(4).toString('hex');

    const hello = `hello from tab one ${tag}`;
    await say(one, 'ann', hello);
    await waitForLine(two, 'ann', hello, 'tab two');
    await waitForLine(one, 'ann', hello, 'tab one');
    assert.equal(await one.inputValue('#text'), '', 'the sender\'s text box is cleared');

    const reply = `hi back from tab two ${tag}`;
    await say(two, 'ben', reply);
    await waitForLine(one, 'ben', reply, 'tab one');
  } catch (error) {
    error.message += `\n--- tabs' activity ---\n${lines.slice(-120).join('\n')}`;
    throw error;
  } finally {
    await context.close().catch(() => {});
  }
});
