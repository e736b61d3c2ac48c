// Channel rules, users and presence from the configuration file alone (spec/apps.md, RUL,
// USR, PRS), driven by the real npm `cometd` and `faye` clients against a herald started
// from TOML: a read-only channel refuses clients' publishes and delivers the API's; a
// personal channel is refused to every other user; a message to a user reaches each of
// that user's tabs and nobody else; presence lists each user once, with join and leave.

import { expectRefused as refused, installExitWatchdog, jwtSignIn, openPeer } from './lib/peers.mjs';
import test, { after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { api, sleep, startHerald } from './lib/herald.mjs';

installExitWatchdog();

const SECRET = 'hs256-secret-for-the-channel-tests';
const KEY = 'api-key-for-the-channel-tests';
const herald = await startHerald({ after }, `${jwtSignIn(SECRET)}
[[channels]]
pattern = "/users/{user}/**"
subscribe = "owner"
publish = "backend"

[[channels]]
pattern = "/news/**"
subscribe = "anyone"
publish = "backend"

[[channels]]
pattern = "/chat/**"
subscribe = "users"
publish = "users"
presence = true

[[channels]]
pattern = "/presence/**"
subscribe = "users"

[api]
keys = ["${KEY}"]
`);

/** A peer signed in as `user` (anonymous when null): cometd or faye, on `transport`. */
const open = (t, kind, user, transport) => openPeer(t, { kind, url: herald.url, user, secret: SECRET, transport });

const unique = () => randomBytes(5).toString('hex');
const publishApi = (body) => api(herald, 'POST', '/api/publish', { key: KEY, body });

for (const kind of ['cometd', 'faye']) {
  test(`${kind}: a read-only channel refuses a client's publish and delivers the API's`, async (t) => {
    const channel = `/news/${unique()}`;
    const reader = await open(t, kind, null, 'websocket');
    const writer = await open(t, kind, 'ada', 'long-polling');
    const sub = await reader.subscribe(channel);
    await refused(writer.publish(channel, { text: 'forged' }), '403:denied_by_security_policy:publish_denied');
    const answer = await publishApi({ channel, data: { text: 'from the backend' } });
    assert.deepEqual([answer.status, answer.body], [200, { reached: 1 }]);
    const got = await sub.messages.waitFor(() => true, 'the API publish');
    assert.deepEqual(got.data, { text: 'from the backend' });
    await sleep(200);
    assert.equal(sub.messages.length, 1, 'the refused publish reached nobody');
  });

  test(`${kind}: a personal channel is refused to every other user, anonymous or signed in`, async (t) => {
    const ada = await open(t, kind, 'ada', 'websocket');
    const bob = await open(t, kind, 'bob', 'websocket');
    const anonymous = await open(t, kind, null, 'long-polling');
    await ada.subscribe('/users/ada/inbox');
    for (const other of [bob, anonymous]) {
      await refused(other.subscribe('/users/ada/inbox'), '403:denied_by_security_policy:subscribe_denied');
      await refused(other.subscribe('/users/**'), '403:denied_by_security_policy:subscribe_denied');
    }
    await refused(ada.publish('/users/ada/inbox', 'self'), '403:denied_by_security_policy:publish_denied');
  });

  test(`${kind}: a message to a user reaches both tabs of that user and no one else`, async (t) => {
    const user = `u${unique()}`;
    const tabs = [await open(t, kind, user, 'websocket'), await open(t, kind, user, 'long-polling')];
    const other = await open(t, kind, 'bob', 'websocket');
    const snoop = await open(t, kind, 'carol', 'websocket');
    const channel = `/users/${user}/inbox`;
    const subs = [];
    for (const tab of tabs) subs.push(await tab.subscribe(channel));
    await other.subscribe('/users/bob/inbox');
    await snoop.subscribe('/chat/**');
    const answer = await publishApi({ user, channel, data: { text: 'just for you' } });
    assert.deepEqual([answer.status, answer.body], [200, { reached: 2 }]);
    for (const sub of subs) {
      const got = await sub.messages.waitFor(() => true, 'the message to the user');
      assert.deepEqual(got.data, { text: 'just for you' });
    }
    await sleep(300);
    for (const sub of subs) assert.equal(sub.messages.length, 1, 'once per tab');
    for (const p of [other, snoop]) assert.equal(p.deliveries.length, 0, `${p.name} got nothing`);
  });

  test(`${kind}: presence lists each user once, with join and leave events`, async (t) => {
    const room = `/chat/${unique()}`;
    const watcher = await open(t, kind, 'watcher', 'websocket');
    const events = await watcher.subscribe(`/presence${room}`);
    const adaTabs = [await open(t, kind, 'ada', 'websocket'), await open(t, kind, 'ada', 'long-polling')];
    const bob = await open(t, kind, 'bob', 'websocket');
    const anonymous = await open(t, kind, null, 'websocket');
    const held = [];
    for (const p of [...adaTabs, bob]) held.push(await p.subscribe(room));
    await refused(anonymous.subscribe(room), '403:denied_by_security_policy:subscribe_denied');
    const listed = await api(herald, 'GET', `/api/presence?channel=${encodeURIComponent(room)}`, { key: KEY });
    assert.deepEqual(listed.body, { channel: room, users: ['ada', 'bob'] });
    const joins = await events.messages.waitForCount(() => true, 2, 'two joins');
    assert.deepEqual(
      joins.map((m) => m.data).sort((a, b) => a.user.localeCompare(b.user)),
      [{ action: 'join', user: 'ada', channel: room }, { action: 'join', user: 'bob', channel: room }],
    );
    // One of ada's tabs leaves: she is still there; then the other: she has left.
    await adaTabs[0].unsubscribe(held[0]);
    await sleep(200);
    assert.equal(events.messages.length, 2, 'no leave while a tab remains');
    await adaTabs[1].disconnect();
    const leave = await events.messages.waitFor((m) => m.data.action === 'leave', 'a leave');
    assert.deepEqual(leave.data, { action: 'leave', user: 'ada', channel: room });
    const after = await api(herald, 'GET', `/api/presence?channel=${encodeURIComponent(room)}`, { key: KEY });
    assert.deepEqual(after.body.users, ['bob']);
    await refused(bob.publish(`/presence${room}`, { action: 'join', user: 'mallory' }), '403:denied_by_security_policy:publish_denied');
  });
}
