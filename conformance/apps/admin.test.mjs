// The admin page (spec/operations.md, ADM-1 to ADM-3) in headless Chromium, against a herald
// started with a password and real npm `cometd` and `faye` clients connected: the password
// keeps it shut, then the page shows sessions by link, channels with their subscribers,
// message rates as a chart and the limits being hit, and its box publishes a test message
// that a real client receives.

import { installExitWatchdog, openPeer } from './lib/peers.mjs';
import test, { after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { launchBrowser } from '../browser/lib/browser.mjs';
import { bayeux, sleep, startHerald } from './lib/herald.mjs';

installExitWatchdog();

const PASSWORD = 'admin-password-never-logged-5d1e';
const herald = await startHerald({ after }, `max_subscriptions = 3\n[admin]\npassword = "${PASSWORD}"\n`);
const WAIT = 15_000;

test('without the password /admin/stats and /admin/publish answer 401, and a wrong password is refused', async () => {
  assert.equal((await fetch(`${herald.base}/admin/stats`)).status, 401);
  const publish = await fetch(`${herald.base}/admin/publish`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ channel: '/x', data: 1 }),
  });
  assert.equal(publish.status, 401);
  const forged = await fetch(`${herald.base}/admin/stats`, { headers: { cookie: 'herald_admin=0123456789abcdef' } });
  assert.equal(forged.status, 401, 'a made-up token opens nothing');
  const wrong = await fetch(`${herald.base}/admin/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ password: `${PASSWORD}x` }),
  });
  assert.equal(wrong.status, 401);
  assert.equal(wrong.headers.get('set-cookie'), null);
});

test('the page shows sessions, channels, rates and limits, and publishes a test message a client receives', async (t) => {
  const room = `/admin-test/${randomBytes(4).toString('hex')}`;
  const cometd = await openPeer(t, { kind: 'cometd', url: herald.url, transport: 'websocket' });
  const faye = await openPeer(t, { kind: 'faye', url: herald.url, transport: 'long-polling' });
  const got = await cometd.subscribe(room);
  await faye.subscribe(room);

  const browser = await launchBrowser();
  t.after(() => browser.close());
  const page = await (await browser.newContext()).newPage();
  page.setDefaultTimeout(WAIT);
  await page.goto(`${herald.base}/admin`);
  await page.fill('#password', 'not the password');
  await page.click('#login-form button');
  await page.waitForSelector('#login-error:not([hidden])');
  assert.equal(await page.isHidden('#dashboard'), true);
  await page.fill('#password', PASSWORD);
  await page.click('#login-form button');
  await page.waitForSelector('#dashboard:not([hidden])');

  const cell = (table, attr, key) => page.textContent(`#${table} tr[data-${attr}="${key}"] td.n`);
  await page.waitForFunction(
    ([room]) => document.querySelector(`#channels tr[data-channel="${room}"] td.n`)?.textContent === '2',
    [room],
  );
  assert.equal(await cell('sessions', 'link', 'websocket'), '1', 'the cometd client, on its WebSocket');
  const polling = Number(await cell('sessions', 'link', 'poll')) + Number(await cell('sessions', 'link', 'between'));
  assert.equal(polling, 1, 'the faye client, long-polling');

  // Traffic for the chart, and a limit hit: a client asking for more than 3 subscriptions.
  for (let i = 0; i < 20; i++) await faye.publish(room, { i });
  const [hs] = await bayeux(herald, [{ channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['long-polling'] }]);
  const [over] = await bayeux(herald, [
    { channel: '/meta/subscribe', clientId: hs.clientId, subscription: ['/a', '/b', '/c', '/d'] },
  ]);
  assert.equal(over.error, '403:3:too_many_subscriptions');
  await page.waitForFunction(() => document.querySelector('#limits tr[data-limit="max_subscriptions"]')?.classList.contains('hit'));
  assert.equal(await cell('limits', 'limit', 'max_subscriptions'), '1');
  await page.waitForFunction(() => Number(document.getElementById('chart-max').textContent) >= 2);
  await page.waitForFunction(() => document.getElementById('line-delivered').getAttribute('points').split(' ').length >= 3);
  const heights = (await page.getAttribute('#line-delivered', 'points')).split(' ').map((p) => Number(p.split(',')[1]));
  assert.ok(heights.some((y) => y < 150), `the deliveries show as a rise: ${heights}`);

  await page.fill('#publish-channel', room);
  await page.fill('#publish-data', '{"text": "from the admin page"}');
  await page.click('#publish-form button');
  await page.waitForFunction(() => document.getElementById('publish-result').textContent.startsWith('Reached'));
  assert.equal(await page.textContent('#publish-result'), 'Reached 2 subscriber(s).');
  const message = await got.messages.waitFor((m) => m.data?.text === 'from the admin page', 'the admin page\'s message');
  assert.deepEqual(message.data, { text: 'from the admin page' });

  await page.fill('#publish-channel', '/meta/nope');
  await page.click('#publish-form button');
  await page.waitForSelector('#publish-result.error');

  await page.click('#logout');
  await page.waitForSelector('#login:not([hidden])');
  const after = await page.evaluate(() => fetch('/admin/stats').then((r) => r.status));
  assert.equal(after, 401, 'signed out for good');
  await sleep(100);
  assert.ok(!herald.log().includes(PASSWORD), 'the password was logged');
  assert.ok(!herald.log().includes('not the password'), 'a wrong password was logged');
});
