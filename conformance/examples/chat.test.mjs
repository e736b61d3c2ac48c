// examples/chat/ as its users see it: herald started from the example's own herald.toml,
// its Node backend (backend.mjs), and the page in headless Chromium with the npm `cometd`
// client. Two people sign in, see each other in the "who is online" list, talk through
// the backend's checks, and a second tab counts once.
//
//   HERALD_BIN=target/release/herald node --test conformance/examples/chat.test.mjs

import test from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { launchBrowser } from '../browser/lib/browser.mjs';
import { startHerald } from '../apps/lib/herald.mjs';

const CHAT = fileURLToPath(new URL('../../examples/chat/', import.meta.url));
const WAIT = 15_000;

/** A loopback port free right now. */
function freePort() {
  return new Promise((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/**
 * The example's herald.toml as it is, but for the ports: its `bind` goes (the test gives
 * `--bind`, which overrides the file anyway), the webhook points at this backend's port,
 * and its key file is found from wherever the test runs.
 */
function exampleConfig(backendPort) {
  return readFileSync(`${CHAT}herald.toml`, 'utf8')
    .replace(/^bind = .*$/m, '')
    .replace('127.0.0.1:8091', `127.0.0.1:${backendPort}`)
    .replace('secret_file = "jwt.secret"', `secret_file = "${CHAT}jwt.secret"`);
}

test('the chat example: sign-in, rooms, who is online, the backend\'s checks and announcements', async (t) => {
  const [heraldPort, backendPort] = [await freePort(), await freePort()];
  const backend = spawn(process.execPath, [`${CHAT}backend.mjs`], {
    env: { ...process.env, PORT: String(backendPort), HERALD_URL: `http://127.0.0.1:${heraldPort}` },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.after(() => backend.kill());
  await new Promise((resolve) => backend.stdout.once('data', resolve));
  const herald = await startHerald(t, exampleConfig(backendPort), {
    args: ['--bind', `127.0.0.1:${heraldPort}`],
  });
  assert.match(herald.url, new RegExp(`:${heraldPort}/`));

  const browser = await launchBrowser();
  t.after(() => browser.close());
  const open = async (user) => {
    const page = await (await browser.newContext()).newPage();
    page.setDefaultTimeout(WAIT);
    await page.goto(`http://127.0.0.1:${backendPort}/`);
    await page.fill('#name', user);
    await page.click('#login button');
    await page.waitForSelector(`#status:text("Signed in as ${user}")`);
    return page;
  };
  const online = (page) => page.$$eval('#users li', (items) => items.map((item) => item.textContent));
  const waitOnline = (page, users) =>
    page.waitForFunction(
      (expected) => [...document.querySelectorAll('#users li')].map((li) => li.textContent).join() === expected,
      users.join(),
    );
  const lines = (page) => page.$$eval('#log div', (items) => items.map((item) => item.textContent));

  const ada = await open('ada');
  await waitOnline(ada, ['ada']);
  const bob = await open('bob');
  // The webhook's answer (who was there) and herald's presence events agree.
  await waitOnline(bob, ['ada', 'bob']);
  await waitOnline(ada, ['ada', 'bob']);
  await ada.waitForSelector('#log .system:text("bob signed in")');

  await ada.fill('#text', 'hello bob');
  await ada.click('#send button');
  await bob.waitForSelector('#log div:text("ada: hello bob")');
  await bob.fill('#text', 'x'.repeat(300));
  await bob.click('#send button');
  await bob.waitForSelector('#log .error:text("not sent: 403::Longer than 280 characters")');
  assert.ok(!(await lines(ada)).some((line) => line.includes('xxx')), 'the refused message reached nobody');

  // A second tab for ada: her first tab hears of it on her personal channel, bob does not;
  // she is still listed once.
  const adaAgain = await open('ada');
  await ada.waitForSelector('#log .system:text("You signed in from another tab")');
  await waitOnline(adaAgain, ['ada', 'bob']);
  assert.deepEqual(await online(bob), ['ada', 'bob']);
  assert.ok(!(await lines(bob)).some((line) => line.includes('another tab')));

  // Rooms: bob moves to games and is alone there; signing out takes him off ada's list.
  await bob.click('#rooms button:text("games")');
  await waitOnline(bob, ['bob']);
  await waitOnline(ada, ['ada']);
  await bob.click('#logout');
  await bob.waitForSelector('#status:text("Signed out")');
});
