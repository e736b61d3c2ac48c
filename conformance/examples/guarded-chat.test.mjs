// examples/guarded_chat.rs, driven by the real npm `cometd` and `faye` clients: every decision
// of its security policy and authorizer allowed and denied, with CometD's error strings and
// advice (spec/extensions.md, SEC-1 to SEC-5); its moderation extension rewriting, rejecting
// and dropping messages as another client sees them (EXT-1 to EXT-3); its presence listener
// (LIS-1) and its server-side bot (LOC-1).
//
//   target/release/examples/guarded_chat 127.0.0.1:18300 &
//   BAYEUX_URL=http://127.0.0.1:18300/cometd node --test --test-concurrency=1 conformance/examples/

import test from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { installExitWatchdog } from '../interop/lib/env.mjs';
import { CometdPeer } from '../interop/lib/cometd.mjs';
import { FayePeer } from '../interop/lib/faye.mjs';
import { expectRefused as refused } from '../interop/lib/peer.mjs';

installExitWatchdog();

const ext = (user) => ({ auth: { token: `${user}-token` } });

/** The two clients, each on its default transport, signed in as `user` (or not at all). */
const CLIENTS = [
  {
    kind: 'cometd',
    make: (name, user) => new CometdPeer(name, { handshakeProps: user ? { ext: ext(user) } : {} }),
  },
  {
    kind: 'faye',
    // A refused handshake would be retried after 0.2 s unless the advice says not to.
    make: (name, user) => new FayePeer(name, { handshakeExt: user ? ext(user) : null, clientOptions: { retry: 0.2 } }),
  },
];

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const uniqueChat = () => `/chat/${randomBytes(6).toString('hex')}`;

/** A peer of `client` signed in as `user`, disconnected when the test ends. */
async function open(t, client, user) {
  const peer = client.make(`${client.kind}-${user}`, user);
  t.after(() => peer.close());
  await peer.connect();
  return peer;
}

for (const client of CLIENTS) {
  const { kind } = client;

  test(`${kind}: a handshake without a valid token is denied (403::handshake_denied, reconnect none) and the client stops`, async (t) => {
    for (const user of [null, 'mallory']) {
      const peer = client.make(`${kind}-${user ?? 'anonymous'}`, user);
      t.after(() => peer.close());
      const reply = await refused(peer.connect(), '403::handshake_denied');
      assert.equal(reply.advice?.reconnect, 'none', `advice ${JSON.stringify(reply.advice)}`);
      // Long enough for a client that ignored the advice to have tried again.
      await sleep(1_000);
      const handshakes = peer.outgoing.filter((m) => m.channel === '/meta/handshake');
      assert.equal(handshakes.length, 1, `${peer.name} handshook once and stopped`);
    }
    const alice = await open(t, client, 'alice');
    assert.ok(alice.clientId, 'with a token, the handshake is allowed');
  });

  test(`${kind}: subscriptions allowed and denied by the policy (subscribe_denied, create_denied)`, async (t) => {
    const alice = await open(t, client, 'alice');
    const admin = await open(t, client, 'admin');
    await refused(alice.subscribe('/admin/logs'), '403:denied_by_security_policy:subscribe_denied');
    await admin.subscribe('/admin/logs');
    await refused(admin.subscribe('/archive/2020'), '403:denied_by_security_policy:create_denied');
    await alice.subscribe(uniqueChat());
  });

  test(`${kind}: publishes allowed and denied by the authorizer and the policy (publish_denied, channel_create_denied)`, async (t) => {
    const alice = await open(t, client, 'alice');
    await alice.subscribe('/announcements/*');
    await refused(alice.publish('/announcements/news', { text: 'hi' }), '403:denied_by_not_granting:publish_denied');
    await refused(alice.publish('/archive/2020', { text: 'hi' }), '403:denied_by_security_policy:channel_create_denied');
    await alice.publish(uniqueChat(), { text: 'hi' });
  });

  test(`${kind}: moderation rewrites, rejects and drops messages, as another client sees them`, async (t) => {
    const room = uniqueChat();
    const alice = await open(t, client, 'alice');
    const bob = await open(t, client, 'bob');
    const h = await alice.subscribe(room);
    await bob.publish(room, { text: 'what the heck' });
    await refused(bob.publish(room, { text: 'x'.repeat(201) }), '413:200:Text too long');
    await refused(bob.publish(room, { text: 'buy now', spam: true }), '404::message_deleted');
    await bob.publish(room, { text: 'end' });
    await h.messages.waitFor((m) => m.data.text === 'end', `the last message on ${room}`);
    assert.deepEqual(
      h.messages.items.map((m) => m.data),
      [{ text: 'what the ****' }, { text: 'end' }],
      'the rewritten message, then the last one: the refused and the dropped ones never came',
    );
  });

  test(`${kind}: presence announces who comes and goes`, async (t) => {
    const alice = await open(t, client, 'alice');
    const presence = await alice.subscribe('/presence');
    const from = presence.messages.length;
    const bob = client.make(`${kind}-bob`, 'bob');
    t.after(() => bob.close());
    await bob.connect();
    const joined = await presence.messages.waitFor(
      (m, i) => i >= from && m.data.user === 'bob' && m.data.event === 'join',
      'bob joining',
    );
    assert.ok(joined.data.online.includes('alice') && joined.data.online.includes('bob'), JSON.stringify(joined.data));
    await bob.disconnect();
    await presence.messages.waitFor(
      (m, i) => i >= from && m.data.user === 'bob' && m.data.event === 'leave',
      'bob leaving',
    );
  });

  test(`${kind}: the server-side bot answers !ping with pong`, async (t) => {
    const room = uniqueChat();
    const alice = await open(t, client, 'alice');
    const h = await alice.subscribe(room);
    await alice.publish(room, { text: '!ping' });
    const pong = await h.messages.waitFor((m) => m.data.user === 'bot', 'the bot answering');
    assert.deepEqual(pong.data, { user: 'bot', text: 'pong' });
  });
}
