// Webhooks from the configuration file alone (spec/apps.md, WH-1 to WH-5), driven by the
// real npm `cometd` and `faye` clients against a herald started from TOML and a real HTTP
// backend started here: a `/service` request answered by the backend reaches the sender
// alone; a publish offered first to the backend is allowed, rewritten or refused; a backend
// that is down or slow gives the sender an error within the timeout.

import { expectRefused as refused, installExitWatchdog, jwtSignIn, openPeer } from './lib/peers.mjs';
import test, { after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { sleep, startBackend, startHerald } from './lib/herald.mjs';

installExitWatchdog();

const SECRET = 'hs256-secret-for-the-webhook-tests';
const WEBHOOK_SECRET = 'webhook-secret-for-the-backend';

const backend = await startBackend({ after }, ({ body }) => {
  if (body.kind === 'service') {
    if (body.channel === '/service/slow') return { delay: 5_000, body: { data: 'too late' } };
    if (body.channel === '/service/refuse') return { status: 409, body: { error: 'Not now' } };
    return { body: { data: { echo: body.data, user: body.user } } };
  }
  // Publishes on /moderated/**: shout is rewritten, spam refused, the rest passes.
  if (body.data?.text === 'spam') return { body: { error: 'No spam' } };
  if (body.data?.text === 'shout') return { body: { data: { text: 'SHOUT', by: body.user } } };
  return { status: 204 };
});

const herald = await startHerald({ after }, `${jwtSignIn(SECRET)}
[webhooks]
url = "${backend.url}/webhook"
timeout = 500
secret = "${WEBHOOK_SECRET}"
services = ["/service/**"]
publish = ["/moderated/**"]
`);

const down = await startHerald({ after }, `
[webhooks]
url = "http://127.0.0.1:9/webhook"
timeout = 500
services = ["/service/**"]
publish = ["/moderated/**"]
`);

/** CometD over long-polling, Faye over WebSocket: both transports see the webhooks. */
const open = (t, kind, user, url = herald.url) =>
  openPeer(t, { kind, url, user, secret: SECRET, transport: kind === 'cometd' ? 'long-polling' : 'websocket' });

/** CometD's remote call: the answer comes back as the reply's `data`. */
function remoteCall(peer, target, data) {
  return new Promise((resolve) => peer.client.remoteCall(target, data, 3_000, resolve));
}

test('cometd: a remote call answered by the backend reaches the sender alone, with the user', async (t) => {
  const ada = await open(t, 'cometd', 'ada');
  const watcher = await open(t, 'cometd', 'watcher');
  await watcher.subscribe('/**');
  const reply = await remoteCall(ada, 'lookup', { q: 1 });
  assert.equal(reply.successful, true, JSON.stringify(reply));
  assert.deepEqual(reply.data, { echo: { q: 1 }, user: 'ada' });
  const call = backend.calls.find((c) => c.body.channel === '/service/lookup');
  assert.equal(call.body.kind, 'service');
  assert.equal(call.headers.authorization, `Bearer ${WEBHOOK_SECRET}`, 'the backend can tell it is herald');
  await sleep(300);
  assert.equal(watcher.deliveries.length, 0, 'nobody else saw the request or the answer');
});

test('faye: the answer is delivered to the sender on its service channel, and to no one else', async (t) => {
  const bob = await open(t, 'faye', 'bob');
  const other = await open(t, 'faye', 'other');
  const answers = await bob.subscribe('/service/lookup');
  const otherAnswers = await other.subscribe('/service/lookup');
  await bob.publish('/service/lookup', { q: 2 });
  const got = await answers.messages.waitFor(() => true, 'the answer');
  assert.deepEqual(got.data, { echo: { q: 2 }, user: 'bob' });
  await sleep(300);
  assert.equal(otherAnswers.messages.length, 0);
});

for (const kind of ['cometd', 'faye']) {
  test(`${kind}: the backend's refusal, and a slow or down backend, reach the sender as errors within the timeout`, async (t) => {
    const ada = await open(t, kind, 'ada');
    await refused(ada.publish('/service/refuse', {}), '409::Not now');
    const started = Date.now();
    await refused(ada.publish('/service/slow', {}), '504::webhook_timeout');
    const elapsed = Date.now() - started;
    assert.ok(elapsed < 2_500, `the backend takes 5 s; answered after ${elapsed} ms (timeout 500)`);
    const stranded = await open(t, kind, null, down.url);
    await refused(stranded.publish('/service/lookup', {}), '502::webhook_unavailable');
    await refused(stranded.publish('/moderated/x', { text: 'hi' }), '502::webhook_unavailable');
    // The others on the same server are served all the while.
    const fine = await open(t, kind, 'bob');
    const sub = await fine.subscribe('/plain');
    await fine.publish('/plain', 'ok');
    await sub.messages.waitFor(() => true, 'a plain publish');
  });

  test(`${kind}: a publish offered to the backend first is passed, rewritten or refused`, async (t) => {
    const channel = `/moderated/${randomBytes(4).toString('hex')}`;
    const ada = await open(t, kind, 'ada');
    const reader = await open(t, kind, 'reader');
    const sub = await reader.subscribe(channel);
    await ada.publish(channel, { text: 'hello' });
    await ada.publish(channel, { text: 'shout' });
    await refused(ada.publish(channel, { text: 'spam' }), '403::No spam');
    const got = await sub.messages.waitForCount(() => true, 2, 'two messages');
    assert.deepEqual(got.map((m) => m.data), [{ text: 'hello' }, { text: 'SHOUT', by: 'ada' }]);
    await sleep(300);
    assert.equal(sub.messages.length, 2, 'the refused publish reached nobody');
  });
}
