// Interop across clients: a Faye client and a CometD client on the same server (BAYEUX_URL),
// both over HTTP long-polling.
//
//   BAYEUX_URL=http://127.0.0.1:18200/cometd node --test --test-concurrency=1 conformance/interop/

import test from 'node:test';
import { installExitWatchdog } from './lib/env.mjs';
import { CometdPeer } from './lib/cometd.mjs';
import { FayePeer } from './lib/faye.mjs';
import * as s from './lib/scenarios.mjs';

installExitWatchdog();

test('mixed: a faye client and a cometd client see each other\'s messages (both directions)', (t) =>
  s.twoClientsSeeEachOther(t, FayePeer, CometdPeer));

test('mixed: faye publishes, cometd /x/* subscriber gets what it should', (t) =>
  s.subscribeSingleWildcard(t, CometdPeer, FayePeer));

test('mixed: cometd publishes, faye /x/** subscriber gets what it should', (t) =>
  s.subscribeDeepWildcard(t, FayePeer, CometdPeer));

test('mixed: cometd unsubscribe while faye publishes', (t) => s.unsubscribeStopsDelivery(t, CometdPeer, FayePeer));

test('mixed: a 1,000-message burst from cometd arrives at faye in order', (t) =>
  s.burstArrivesInOrder(t, CometdPeer, FayePeer, s.sendAllAtOnce, { count: 1000 }));

test('mixed: a 1,000-message burst from faye arrives at cometd in order', (t) =>
  s.burstArrivesInOrder(t, FayePeer, CometdPeer, s.sendInGroups(10), { count: 1000 }));
