// Interop across clients: Faye and CometD clients on the same server (BAYEUX_URL), over
// WebSocket and HTTP long-polling, each client on each transport.
//
//   BAYEUX_URL=http://127.0.0.1:18200/cometd node --test --test-concurrency=1 conformance/interop/

import { installExitWatchdog } from './lib/env.mjs';
import { CometdPeer } from './lib/cometd.mjs';
import { FayePeer } from './lib/faye.mjs';
import { registerCoreScenarios } from './lib/suites.mjs';

installExitWatchdog();

const TRANSPORTS = ['websocket', 'long-polling'];

// Same transport on both sides: wildcards, unsubscribe and bursts both ways.
for (const transport of TRANSPORTS) {
  const Cometd = CometdPeer.over(transport);
  const Faye = FayePeer.over(transport);
  registerCoreScenarios(`mixed ${transport}: faye publishes, cometd subscribes`, Cometd, Faye, {
    only: ['star', 'unsubscribe', 'burst'],
  });
  registerCoreScenarios(`mixed ${transport}: cometd publishes, faye subscribes`, Faye, Cometd, { only: ['starstar'] });
}

// Every pairing of transports: a faye client and a cometd client see each other's messages.
for (const fayeTransport of TRANSPORTS) {
  for (const cometdTransport of TRANSPORTS) {
    registerCoreScenarios(
      `mixed faye ${fayeTransport} + cometd ${cometdTransport}`,
      FayePeer.over(fayeTransport),
      CometdPeer.over(cometdTransport),
      { only: ['two'] },
    );
  }
}
