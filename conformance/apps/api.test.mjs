// The backend API and `herald publish` (spec/apps.md, API-1 to API-6), against a herald
// started from TOML, with the real npm `cometd` and `faye` clients as the sessions the API
// reaches: keys, clear 4xx errors, one message or a batch, channel counts, disconnecting a
// user or a session, and the command line for scripts.

import { installExitWatchdog, jwtSignIn, openPeer } from './lib/peers.mjs';
import test, { after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { api, HERALD_BIN, sleep, startHerald } from './lib/herald.mjs';

installExitWatchdog();

const SECRET = 'hs256-secret-for-the-api-tests';
const KEYS = ['first-api-key-0123', 'second-api-key-4567'];
const herald = await startHerald({ after }, `${jwtSignIn(SECRET)}
[api]
keys = ["${KEYS[0]}", "${KEYS[1]}"]
`);

const open = (t, kind, user, transport) => openPeer(t, { kind, url: herald.url, user, secret: SECRET, transport });

const unique = () => `/api-test/${randomBytes(5).toString('hex')}`;

test('a missing or unknown key gets 401 with WWW-Authenticate, and the key is never echoed', async () => {
  for (const key of [undefined, 'wrong-key-secret-value', KEYS[0].slice(0, -1)]) {
    const answer = await api(herald, 'GET', '/api/channels', { key });
    assert.equal(answer.status, 401);
    assert.equal(answer.headers.get('www-authenticate'), 'Bearer');
    assert.deepEqual(answer.body, { error: 'missing or unknown API key' });
  }
  const viaHeader = await fetch(`${herald.base}/api/channels`, { headers: { 'x-api-key': KEYS[1] } });
  assert.equal(viaHeader.status, 200, 'X-Api-Key works too');
  assert.ok(!herald.log().includes('wrong-key-secret-value'));
  for (const key of KEYS) assert.ok(!herald.log().includes(key), 'an API key was logged');
});

test('bad input gets a clear 4xx in JSON', async () => {
  const key = KEYS[0];
  const cases = [
    [{ raw: '{"channel": ' }, 400, /invalid JSON body/],
    [{ body: { channel: '/a' } }, 400, /invalid JSON body/],
    [{ body: { channel: '/a', data: 1, colour: 'red' } }, 400, /invalid JSON body/],
    [{ body: { channel: 'no-slash', data: 1 } }, 400, /no-slash/],
    [{ body: { channel: '/a/*', data: 1 } }, 400, /\/a\/\*/],
    [{ body: { channel: '/meta/connect', data: 1 } }, 400, /\/meta\/connect/],
    [{ body: Array.from({ length: 1_001 }, () => ({ channel: '/a', data: 1 })) }, 413, /at most 1000/],
  ];
  for (const [request, status, pattern] of cases) {
    const answer = await api(herald, 'POST', '/api/publish', { key, ...request });
    assert.equal(answer.status, status, JSON.stringify(request).slice(0, 80));
    assert.match(answer.body.error, pattern);
  }
  const noChannel = await api(herald, 'GET', '/api/presence', { key });
  assert.equal(noChannel.status, 400);
  const noPresence = await api(herald, 'GET', '/api/presence?channel=/nowhere', { key });
  assert.equal(noPresence.status, 404);
  const neither = await api(herald, 'POST', '/api/disconnect', { key, body: {} });
  assert.equal(neither.status, 400);
});

test('a batch is published in order and says how many sessions each message reached', async (t) => {
  const [a, b] = [unique(), unique()];
  const cometd = await open(t, 'cometd', null);
  const faye = await open(t, 'faye', null);
  const subs = [await cometd.subscribe(a), await faye.subscribe(a), await faye.subscribe(`${b}/*`)];
  const answer = await api(herald, 'POST', '/api/publish', {
    key: KEYS[1],
    body: [
      { channel: a, data: 1 },
      { channel: `${b}/x`, data: 2 },
      { channel: a, data: 3 },
      { channel: unique(), data: 4 },
    ],
  });
  assert.deepEqual([answer.status, answer.body], [200, [{ reached: 2 }, { reached: 1 }, { reached: 2 }, { reached: 0 }]]);
  const cometdGot = await subs[0].messages.waitForCount(() => true, 2, 'two on a');
  assert.deepEqual(cometdGot.map((m) => m.data), [1, 3]);
  const fayeGot = await faye.deliveries.waitForCount(() => true, 3, 'three for faye');
  assert.deepEqual(fayeGot.map((m) => m.data), [1, 2, 3]);
  const channels = await api(herald, 'GET', '/api/channels', { key: KEYS[0] });
  const counts = Object.fromEntries(channels.body.channels.map((c) => [c.channel, c.subscribers]));
  assert.equal(counts[a], 2);
  assert.equal(counts[`${b}/*`], 1);
});

for (const kind of ['cometd', 'faye']) {
  test(`${kind}: disconnecting a user ends each of their sessions and the clients stop`, async (t) => {
    const user = `u${randomBytes(4).toString('hex')}`;
    const tabs = [await open(t, kind, user, 'websocket'), await open(t, kind, user, 'long-polling')];
    const bystander = await open(t, kind, 'bystander');
    const answer = await api(herald, 'POST', '/api/disconnect', { key: KEYS[0], body: { user } });
    assert.deepEqual([answer.status, answer.body], [200, { disconnected: 2 }]);
    for (const tab of tabs) {
      const told = await tab.incoming.waitFor(
        (m) => m.channel === '/meta/connect' && m.advice?.reconnect === 'none',
        `${tab.name}: a connect reply telling it to stop`,
      );
      assert.ok(told);
    }
    await sleep(800);
    for (const tab of tabs) {
      const handshakes = tab.outgoing.filter((m) => m.channel === '/meta/handshake');
      assert.equal(handshakes.length, 1, `${tab.name} did not come back`);
    }
    const sub = await bystander.subscribe(unique());
    assert.ok(sub, 'the others are untouched');
  });
}

test('disconnecting one session by its client id', async (t) => {
  const p = await open(t, 'cometd', 'ada');
  const gone = await api(herald, 'POST', '/api/disconnect', { key: KEYS[0], body: { session: p.clientId } });
  assert.deepEqual(gone.body, { disconnected: 1 });
  const again = await api(herald, 'POST', '/api/disconnect', { key: KEYS[0], body: { session: p.clientId } });
  assert.deepEqual(again.body, { disconnected: 0 });
});

/** Runs `herald publish …`; resolves with `{ code, stdout, stderr }`. */
function cli(args, env) {
  return new Promise((resolve) => {
    execFile(HERALD_BIN, ['publish', ...args], { env: { ...process.env, ...env } }, (error, stdout, stderr) =>
      resolve({ code: error ? error.code : 0, stdout, stderr }),
    );
  });
}

test('herald publish: scripts publish to a channel or a user with a key from the environment', async (t) => {
  const channel = unique();
  const reader = await open(t, 'faye', 'reader');
  const sub = await reader.subscribe(channel);
  const sent = await cli(['--url', herald.base, channel, '{"from":"cron"}'], { HERALD_API_KEY: KEYS[0] });
  assert.equal(sent.code, 0, sent.stderr);
  assert.deepEqual(JSON.parse(sent.stdout), { reached: 1 });
  const got = await sub.messages.waitFor(() => true, 'the CLI publish');
  assert.deepEqual(got.data, { from: 'cron' });
  const toUser = await cli(['--url', herald.base, '--user', 'reader', channel, '2'], { HERALD_API_KEY: KEYS[0] });
  assert.deepEqual(JSON.parse(toUser.stdout), { reached: 1 });
  const wrong = await cli(['--url', herald.base, channel, '1'], { HERALD_API_KEY: 'a-wrong-cli-key' });
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /401/);
  assert.ok(!wrong.stderr.includes('a-wrong-cli-key'));
  const notJson = await cli(['--url', herald.base, channel, '{oops'], { HERALD_API_KEY: KEYS[0] });
  assert.equal(notJson.code, 1);
  assert.match(notJson.stderr, /not JSON/);
});

test('flags and environment variables override the file: HERALD_API_KEYS, --timeout', async (t) => {
  const overridden = await startHerald(t, `[api]\nkeys = ["key-from-the-file"]\n`, {
    env: { HERALD_API_KEYS: 'key-from-the-environment' },
    args: ['--timeout', '1234'],
  });
  const fromEnv = await api(overridden, 'GET', '/api/channels', { key: 'key-from-the-environment' });
  assert.equal(fromEnv.status, 200);
  const fromFile = await api(overridden, 'GET', '/api/channels', { key: 'key-from-the-file' });
  assert.equal(fromFile.status, 401, 'the environment replaced the file\'s keys');
  const hs = await fetch(overridden.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify([{ channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['long-polling'] }]),
  }).then((r) => r.json());
  assert.equal(hs[0].advice.timeout, 1234, 'the flag replaced the file\'s timeout (2000)');
});
