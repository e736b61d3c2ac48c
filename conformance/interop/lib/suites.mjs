// The core interop scenarios registered as node:test tests for one pair of peer factories
// (lib/peer.mjs), so that every client x transport runs the same list, written once.

import test from 'node:test';
import * as s from './scenarios.mjs';

/**
 * How a client can fire a 1,000-message burst so that it reaches the server in publish
 * order, per client and transport:
 * - CometD keeps at most one non-/meta/connect request in flight and queues the rest (HTTP),
 *   and sends each message in order on its one socket (WebSocket): fire them all at once.
 * - Faye over WebSocket sends one message per frame, in order, on one socket: all at once.
 * - Faye over HTTP sends every batch it has ready at once, each on its own connection, and
 *   cuts batches at 2 KiB, so publishes fired together can reach the server in any order by
 *   the client's own doing: groups of 10 (one request each), the next once the previous is
 *   acknowledged; plus a burst fired at once, checked for completeness only.
 */
export function burstsFor(factory) {
  if (factory.kind === 'faye' && factory.transport !== 'websocket') {
    return [
      { title: 'a 1,000-message burst (groups of 10) arrives complete, in order, without duplicates', send: s.sendInGroups(10) },
      {
        title: '1,000 publishes fired at once (concurrent requests) all arrive once',
        send: s.sendAllAtOnce,
        ordered: false,
      },
    ];
  }
  return [{ title: 'a 1,000-message burst arrives complete, in order, without duplicates', send: s.sendAllAtOnce }];
}

/**
 * Registers the core scenarios with subscribers made by `Sub` and publishers by `Pub`
 * (the same factory for a single-client run), titled `<prefix>: ...`. The one-peer
 * scenarios (echo, disconnect) use `Sub`. With two factories the bursts go both ways.
 * `only` limits the list to the named scenarios.
 */
export function registerCoreScenarios(prefix, Sub, Pub = Sub, { only } = {}) {
  const scenarios = [
    ['exact', 'subscribe to an exact channel', (t) => s.subscribeExact(t, Sub, Pub)],
    ['star', 'subscribe to /x/* (one segment only)', (t) => s.subscribeSingleWildcard(t, Sub, Pub)],
    ['starstar', 'subscribe to /x/** (any depth)', (t) => s.subscribeDeepWildcard(t, Sub, Pub)],
    ['overlap', 'overlapping subscriptions get one copy', (t) => s.overlappingSubscriptionsOnce(t, Sub, Pub)],
    ['echo', 'publish and receive, in order', (t) => s.publishReceiveInOrder(t, Sub)],
    ['unsubscribe', 'unsubscribe stops delivery', (t) => s.unsubscribeStopsDelivery(t, Sub, Pub)],
    ['disconnect', 'disconnect succeeds and the server then answers that clientId with 402', (t) => s.disconnectForgetsClient(t, Sub)],
    ['two', "two clients see each other's messages (both directions)", (t) => s.twoClientsSeeEachOther(t, Sub, Pub)],
  ];
  const directions = Sub === Pub ? [[Pub, Sub]] : [[Pub, Sub], [Sub, Pub]];
  for (const [from, to] of directions) {
    for (const burst of burstsFor(from)) {
      scenarios.push([
        'burst',
        `${burst.title} (${from.label} -> ${to.label})`,
        (t) => s.burstArrivesInOrder(t, from, to, burst.send, { count: 1000, ordered: burst.ordered !== false }),
      ]);
    }
  }
  for (const [key, title, fn] of scenarios) {
    if (only && !only.includes(key)) continue;
    test(`${prefix}: ${title}`, fn);
  }
}
