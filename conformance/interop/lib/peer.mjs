// What CometdPeer and FayePeer share: the factory the scenarios take in place of a peer
// class, so that one scenario runs over every transport of every client.

/**
 * `{ kind, transport, label, open(t, name, options) }` for `Peer` bound to `transport`:
 * `open` is `Peer.open` with the transport (and `defaults`) filled in. Scenarios name their
 * peers after `label`, e.g. `cometd-websocket-subscriber`.
 */
export function peerFactory(Peer, transport, defaults = {}) {
  return {
    kind: Peer.kind,
    transport,
    label: `${Peer.kind}-${transport}`,
    open: (t, name, options = {}) => Peer.open(t, name, { ...defaults, ...options, transport }),
  };
}
