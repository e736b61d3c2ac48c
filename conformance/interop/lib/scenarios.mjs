// The interop scenarios, written once against the common peer interface of CometdPeer and
// FayePeer (open, subscribe, unsubscribe, publish, disconnect, clientId, deliveries, ...),
// so the same scenario runs cometd->cometd, faye->faye and across the two clients.
//
// Absence is never asserted with a sleep: the publisher sends a marker message on another
// channel after the messages that must not arrive; subscribers get one publisher's messages
// in publish order (PUB-6), so once the marker is in, anything that was going to be
// delivered before it has been. Absence is checked on `deliveries`, i.e. on what the server
// actually sent (both clients also filter by channel locally, which would hide a server bug).

import assert from 'node:assert/strict';
import { BAYEUX_URL, BURST_WAIT_MS, uniquePrefix } from './env.mjs';
import { TcpProxy } from './proxy.mjs';
import { rawConnectReply } from './raw.mjs';
import { withTimeout } from './wait.mjs';

/** Rich JSON payload, to check that data survives both clients and the server unchanged. */
export function payload(seq, extra = {}) {
  return {
    seq,
    text: 'héllo ✓ 𝄞 "quoted" \\ back\nslash',
    nested: { list: [1, 2.5, -3, true, false, null, 'x', { deep: [] }], empty: '', zero: 0 },
    ...extra,
  };
}

/** The name to give peers made by a factory (`cometd-websocket`) or a peer class (`cometd`). */
export function nameOf(Peer) {
  return Peer.label ?? Peer.kind;
}

/**
 * Fails when a CometD peer logged warnings (e.g. "Unknown Bayeux Message") or errors, or
 * when a peer is no longer on the transport it was made for.
 */
export function assertQuiet(...peers) {
  for (const p of peers) {
    if (p.kind === 'cometd') {
      assert.deepEqual(p.warnings(), [], `${p.name}: the CometD client logged warnings`);
    }
    p.assertTransport();
  }
}

function channelsOf(list) {
  return list.map((m) => m.channel);
}

/** Publishes `channel` on `pub` and waits until `sub` received it: the end-of-test marker. */
async function marker(pub, sub, channel) {
  const token = `marker-${Math.random().toString(36).slice(2)}`;
  await pub.publish(channel, { marker: token });
  await sub.deliveries.waitFor(
    (m) => m.channel === channel && m.data && m.data.marker === token,
    `the marker on ${channel} from ${pub.name}`,
  );
}

// ---------------------------------------------------------------------------------------
// subscribe: exact, /x/*, /x/**, overlapping

export async function subscribeExact(t, Sub, Pub) {
  const p = uniquePrefix('exact');
  const sub = await Sub.open(t, `${nameOf(Sub)}-subscriber`);
  const pub = await Pub.open(t, `${nameOf(Pub)}-publisher`);
  const h = await sub.subscribe(`${p}/news`);
  await sub.subscribe(`${p}/marker`);

  await pub.publish(`${p}/news`, payload(1));
  await pub.publish(`${p}/news/sub`, payload(2)); // child: not matched by an exact name
  await pub.publish(`${p}/newsy`, payload(3)); // sibling sharing a prefix
  await pub.publish(p, payload(4)); // parent
  await marker(pub, sub, `${p}/marker`);

  const got = sub.deliveries.filter((m) => m.channel !== `${p}/marker`);
  assert.deepEqual(channelsOf(got), [`${p}/news`], 'the server delivered exactly the subscribed channel');
  assert.deepEqual(got[0].data, payload(1), 'data arrives unchanged');
  assert.deepEqual(h.messages.items, [{ channel: `${p}/news`, data: payload(1) }], 'the subscription callback got it');
  assertQuiet(sub, pub);
}

export async function subscribeSingleWildcard(t, Sub, Pub) {
  const p = uniquePrefix('star');
  const sub = await Sub.open(t, `${nameOf(Sub)}-subscriber`);
  const pub = await Pub.open(t, `${nameOf(Pub)}-publisher`);
  const h = await sub.subscribe(`${p}/x/*`);
  await sub.subscribe(`${p}/marker`);

  await pub.publish(`${p}/x/a`, { n: 1 }); // yes
  await pub.publish(`${p}/x/a/b`, { n: 2 }); // no: two segments below /x
  await pub.publish(`${p}/x`, { n: 3 }); // no: /x itself
  await pub.publish(`${p}/y/a`, { n: 4 }); // no: other branch
  await pub.publish(`${p}/x/b`, { n: 5 }); // yes
  await marker(pub, sub, `${p}/marker`);

  const got = sub.deliveries.filter((m) => m.channel !== `${p}/marker`);
  assert.deepEqual(
    got,
    [
      { channel: `${p}/x/a`, data: { n: 1 } },
      { channel: `${p}/x/b`, data: { n: 5 } },
    ],
    `/x/* gets /x/a and /x/b (with their own channel names), not /x/a/b, /x nor /y/a`,
  );
  assert.deepEqual(h.messages.items, got, 'the /x/* subscription callback got the same two');
  assertQuiet(sub, pub);
}

export async function subscribeDeepWildcard(t, Sub, Pub) {
  const p = uniquePrefix('starstar');
  const sub = await Sub.open(t, `${nameOf(Sub)}-subscriber`);
  const pub = await Pub.open(t, `${nameOf(Pub)}-publisher`);
  const h = await sub.subscribe(`${p}/x/**`);
  await sub.subscribe(`${p}/marker`);

  await pub.publish(`${p}/x/a`, { n: 1 }); // yes
  await pub.publish(`${p}/x`, { n: 2 }); // no: /x itself
  await pub.publish(`${p}/x/a/b`, { n: 3 }); // yes
  await pub.publish(`${p}/xy/a`, { n: 4 }); // no: /xy is not /x
  await pub.publish(`${p}/x/a/b/c`, { n: 5 }); // yes
  await marker(pub, sub, `${p}/marker`);

  const got = sub.deliveries.filter((m) => m.channel !== `${p}/marker`);
  assert.deepEqual(
    got,
    [
      { channel: `${p}/x/a`, data: { n: 1 } },
      { channel: `${p}/x/a/b`, data: { n: 3 } },
      { channel: `${p}/x/a/b/c`, data: { n: 5 } },
    ],
    '/x/** gets /x/a, /x/a/b, /x/a/b/c, not /x nor /xy/a',
  );
  assert.deepEqual(h.messages.items, got, 'the /x/** subscription callback got the same three');
  assertQuiet(sub, pub);
}

export async function overlappingSubscriptionsOnce(t, Sub, Pub) {
  const p = uniquePrefix('overlap');
  const sub = await Sub.open(t, `${nameOf(Sub)}-subscriber`);
  const pub = await Pub.open(t, `${nameOf(Pub)}-publisher`);
  await sub.subscribe(`${p}/x/a`);
  await sub.subscribe(`${p}/x/*`);
  await sub.subscribe(`${p}/x/**`);
  await sub.subscribe(`${p}/marker`);

  await pub.publish(`${p}/x/a`, { n: 1 });
  await marker(pub, sub, `${p}/marker`);

  const got = sub.deliveries.filter((m) => m.channel !== `${p}/marker`);
  assert.deepEqual(got, [{ channel: `${p}/x/a`, data: { n: 1 } }], 'three matching subscriptions, one copy from the server (PUB-4)');
  assertQuiet(sub, pub);
}

// ---------------------------------------------------------------------------------------
// publish / receive

/** One client publishes to a channel it is subscribed to and gets its messages back in order. */
export async function publishReceiveInOrder(t, Peer) {
  const p = uniquePrefix('echo');
  const c = await Peer.open(t, `${nameOf(Peer)}-echo`);
  const h = await c.subscribe(`${p}/echo`);
  await c.subscribe(`${p}/marker`);
  const n = 25;
  for (let i = 0; i < n; i++) {
    await c.publish(`${p}/echo`, payload(i));
  }
  await h.messages.waitForCount(() => true, n, `${n} messages on ${p}/echo`);
  await marker(c, c, `${p}/marker`);
  assert.deepEqual(
    h.messages.items.map((m) => m.data),
    Array.from({ length: n }, (_, i) => payload(i)),
    'every message back once, in publish order, data unchanged',
  );
  assertQuiet(c);
}

export async function unsubscribeStopsDelivery(t, Sub, Pub) {
  const p = uniquePrefix('unsub');
  const sub = await Sub.open(t, `${nameOf(Sub)}-subscriber`);
  const pub = await Pub.open(t, `${nameOf(Pub)}-publisher`);
  const h = await sub.subscribe(`${p}/topic`);
  await sub.subscribe(`${p}/marker`);

  await pub.publish(`${p}/topic`, { phase: 'before' });
  await sub.deliveries.waitFor((m) => m.channel === `${p}/topic`, 'the message published before unsubscribing');

  await sub.unsubscribe(h);
  await pub.publish(`${p}/topic`, { phase: 'after' });
  await marker(pub, sub, `${p}/marker`);

  const got = sub.deliveries.filter((m) => m.channel === `${p}/topic`);
  assert.deepEqual(got, [{ channel: `${p}/topic`, data: { phase: 'before' } }], 'nothing on the channel after the unsubscribe reply');
  assertQuiet(sub, pub);
}

// ---------------------------------------------------------------------------------------
// disconnect

/** After a successful disconnect, the server knows the clientId no more (ERR-2, 402 + handshake advice). */
export async function disconnectForgetsClient(t, Peer) {
  const c = await Peer.open(t, `${nameOf(Peer)}-leaving`);
  const clientId = c.clientId;
  assert.ok(typeof clientId === 'string' && clientId.length > 0, 'clientId after the handshake');
  await c.subscribe(`${uniquePrefix('disc')}/topic`);
  await c.disconnect();

  const reply = await rawConnectReply(clientId);
  assert.equal(reply.successful, false, `/meta/connect for the disconnected clientId: ${JSON.stringify(reply)}`);
  assert.match(String(reply.error), /^402:/, `error of /meta/connect for a disconnected clientId: ${JSON.stringify(reply)}`);
  assert.equal(reply.advice?.reconnect, 'handshake', `advice.reconnect for an unknown clientId: ${JSON.stringify(reply)}`);
  assertQuiet(c);
}

// ---------------------------------------------------------------------------------------
// two clients

export async function twoClientsSeeEachOther(t, PeerA, PeerB) {
  const p = uniquePrefix('chat');
  const a = await PeerA.open(t, `${nameOf(PeerA)}-A`);
  const b = await PeerB.open(t, `${nameOf(PeerB)}-B`);
  const ha = await a.subscribe(`${p}/room`);
  const hb = await b.subscribe(`${p}/room`);
  await a.subscribe(`${p}/marker`);
  await b.subscribe(`${p}/marker`);

  await a.publish(`${p}/room`, payload(1, { from: 'A' }));
  await hb.messages.waitFor((m) => m.data?.from === 'A', `${b.name} to receive A's message`);
  await b.publish(`${p}/room`, payload(2, { from: 'B' }));
  await ha.messages.waitFor((m) => m.data?.from === 'B', `${a.name} to receive B's message`);
  // Each also gets its own message back (PUB-5); the markers prove nothing more follows.
  await marker(a, b, `${p}/marker`);
  await marker(b, a, `${p}/marker`);

  const expected = [payload(1, { from: 'A' }), payload(2, { from: 'B' })];
  assert.deepEqual(hb.messages.items.map((m) => m.data), expected, `${b.name}: A's then B's message, once each`);
  assert.deepEqual(ha.messages.items.map((m) => m.data), expected, `${a.name}: A's then B's message, once each (its own included)`);
  assertQuiet(a, b);
}

// ---------------------------------------------------------------------------------------
// burst

/**
 * `count` messages from one publisher reach another client: all of them, in publish order,
 * none twice. `send(pub, channel, count)` fires the publishes and resolves when all are
 * acknowledged (how a client can be made to send "in order" differs, see the callers).
 */
export async function burstArrivesInOrder(t, Pub, Sub, send, { count = 1000, ordered = true } = {}) {
  const p = uniquePrefix('burst');
  const sub = await Sub.open(t, `${nameOf(Sub)}-subscriber`);
  const pub = await Pub.open(t, `${nameOf(Pub)}-publisher`);
  const h = await sub.subscribe(`${p}/burst`);
  await sub.subscribe(`${p}/end`);

  const started = Date.now();
  await withTimeout(send(pub, `${p}/burst`, count), `${pub.name}: acks for all ${count} publishes`, BURST_WAIT_MS);
  await h.messages.waitForCount(() => true, count, `${count} messages on ${p}/burst`, BURST_WAIT_MS);
  await marker(pub, sub, `${p}/end`);
  const elapsed = Date.now() - started;
  t.diagnostic(`${count} messages ${pub.name} -> ${sub.name} in ${elapsed} ms`);

  const seqs = h.messages.items.map((m) => m.data.seq);
  assert.equal(seqs.length, count, `exactly ${count} deliveries (duplicates: ${seqs.length - new Set(seqs).size})`);
  assert.equal(new Set(seqs).size, count, 'no duplicates');
  if (ordered) {
    const firstOut = seqs.findIndex((s, i) => s !== i);
    assert.equal(firstOut, -1, `in publish order; first out of place at index ${firstOut}: ${JSON.stringify(seqs.slice(Math.max(0, firstOut - 3), firstOut + 3))}`);
  } else {
    assert.deepEqual([...seqs].sort((x, y) => x - y), Array.from({ length: count }, (_, i) => i), 'every message, once');
  }
  assertQuiet(sub, pub);
}

/** Fires all publishes at once and waits for every ack. */
export function sendAllAtOnce(pub, channel, count) {
  const acks = [];
  for (let i = 0; i < count; i++) acks.push(pub.publishUnbounded(channel, { seq: i }));
  return Promise.all(acks);
}

/**
 * Fires the publishes in groups of `size` (each group one HTTP request for Faye, whose
 * batches are cut at 2 KiB) and waits for a group's acks before sending the next.
 */
export function sendInGroups(size) {
  return async (pub, channel, count) => {
    for (let i = 0; i < count; i += size) {
      const acks = [];
      for (let j = i; j < Math.min(count, i + size); j++) acks.push(pub.publishUnbounded(channel, { seq: j }));
      await Promise.all(acks);
    }
  };
}

// ---------------------------------------------------------------------------------------
// resilience

/** How long after a cut the server is given to notice that the socket closed. */
const SERVER_SEES_CLOSE_MS = 100;
/** Bound for everything to arrive once the proxy lets the reconnection through. */
const RECONNECTED_WAIT_MS = 5_000;

/**
 * A subscriber's WebSocket dies mid-stream and the client reconnects by itself: nothing
 * published meanwhile is lost or duplicated (TR-7: the session and its queue outlive the
 * socket for maxInterval).
 *
 * The subscriber (made by `Sub`, over websocket) reaches the server through a TCP proxy of
 * our own; the publisher (`Pub`) directly. It gets 1..`before`; then the proxy destroys both
 * sides of the subscriber's socket, as a network failure would (no close frame), and holds
 * any new connection. Once the client has noticed, `whileDown` more are published (no
 * connection of the subscriber exists); once its reconnection reaches the proxy (held),
 * `whileReconnecting` more; then the proxy lets it through. The subscriber must end with
 * exactly 1..n, in order, on the same session (same clientId, no second handshake),
 * which is checked first, as soon as the client says it is connected again, together with
 * `onReconnected(sub, clientId)` (checks of the caller's own).
 */
export async function websocketDropLosesNothing(t, Sub, Pub, { before = 10, whileDown = 10, whileReconnecting = 10, onReconnected } = {}) {
  const proxy = await new TcpProxy(BAYEUX_URL).start();
  const p = uniquePrefix('drop');
  let sub, pub;
  try {
    sub = await Sub.open(t, `${nameOf(Sub)}-subscriber`, { url: proxy.url });
    pub = await Pub.open(t, `${nameOf(Pub)}-publisher`);
  } finally {
    // After hooks run in the order they were added: the peers disconnect first (the
    // subscriber through the proxy), then the proxy closes.
    t.after(() => proxy.close());
  }
  const h = await sub.subscribe(`${p}/stream`);
  await sub.subscribe(`${p}/marker`);
  const clientId = sub.clientId;
  let seq = 0;
  const publish = async (count) => {
    for (let i = 0; i < count; i++) await pub.publish(`${p}/stream`, { seq: ++seq });
  };

  await publish(before);
  await h.messages.waitForCount(() => true, before, `messages 1..${before} before the cut`);

  proxy.hold();
  const dropped = sub.waitForDrop();
  const cutAt = sub.outgoing.length;
  const connectionsBefore = proxy.connections.length;
  const cut = proxy.kill((c) => c.websocket);
  assert.equal(cut.length, 1, `exactly one WebSocket of the subscriber to cut; open through the proxy: ${JSON.stringify(cut)}`);
  await dropped;
  // The client learns of the cut at once (its own side was destroyed); the server learns
  // of it from its side's FIN a moment later. A message published before that is pushed
  // into a socket the server still believes open, and is lost with it whatever the server
  // does (what CometD's ack extension is for). So give the server a moment to see it.
  await new Promise((resolve) => setTimeout(resolve, SERVER_SEES_CLOSE_MS));
  await publish(whileDown);
  const retry = await proxy.connections.waitFor(
    (c, i) => i >= connectionsBefore,
    `${sub.name} to reconnect (a new connection to the proxy)`,
  );
  await publish(whileReconnecting);
  proxy.release();
  await sub.waitForReconnect();

  // The same session goes on: what the client did about its session, checked before what
  // it received.
  assert.ok(retry.websocket, `the client came back over websocket (new connection #${retry.n})`);
  assert.equal(sub.clientId, clientId, 'the same clientId after the reconnection');
  const handshakes = sub.outgoing.filter((m) => m.channel === '/meta/handshake');
  assert.equal(handshakes.length, 1, `no second handshake: the client went on with its session (sent ${handshakes.length})`);
  // (Faye sends the /meta/connect that was pending again as it was, below its extensions.)
  const foreign = sub.outgoing.items.slice(cutAt).filter((m) => m.clientId !== undefined && m.clientId !== clientId);
  assert.deepEqual(foreign, [], 'everything the client sent after the cut carries the old clientId');
  if (onReconnected) onReconnected(sub, clientId);

  const n = before + whileDown + whileReconnecting;
  try {
    await h.messages.waitForCount(() => true, n, `all ${n} messages after the reconnection`, RECONNECTED_WAIT_MS);
  } catch (e) {
    const got = h.messages.items.map((m) => m.data.seq);
    const missing = Array.from({ length: n }, (_, i) => i + 1).filter((q) => !got.includes(q));
    e.message +=
      `; missing: ${JSON.stringify(missing)} (1..${before} were published before the cut, ${before + 1}..${before + whileDown} ` +
      `while no connection existed, the rest while the reconnection was held); received: ${JSON.stringify(got)}`;
    throw e;
  }
  await marker(pub, sub, `${p}/marker`);
  const seqs = h.messages.items.map((m) => m.data.seq);
  assert.deepEqual(
    seqs,
    Array.from({ length: n }, (_, i) => i + 1),
    `1..${before} before the cut, ${before + 1}..${before + whileDown} while no connection existed, the rest while ` +
      'the reconnection was held: all once, in order',
  );
  assertQuiet(pub);
  sub.assertTransport();
}
