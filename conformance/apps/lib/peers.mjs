// The real clients as the apps tests open them: signed in (or not) with a token in
// `ext.token`, against the herald a test file started; and what a refusal must look like.

import './setup.mjs';
import { CometdPeer } from '../../interop/lib/cometd.mjs';
import { FayePeer } from '../../interop/lib/faye.mjs';
import { sign } from './herald.mjs';

export { installExitWatchdog } from '../../interop/lib/env.mjs';
export { expectRefused } from '../../interop/lib/peer.mjs';

/** The `[sign_in]` section of a herald whose tokens are HS256 with `secret`. */
export const jwtSignIn = (secret, { anonymous = true } = {}) => `
[sign_in]
anonymous = ${anonymous}
[sign_in.jwt]
algorithm = "HS256"
secret = "${secret}"
`;

/**
 * A connected peer of `kind` (`cometd` or `faye`) at `url` on `transport`, signed in as
 * `user` with a token signed with `secret` (anonymous when `user` is null); closed when
 * the test ends.
 */
export async function openPeer(t, { kind, url, user, secret, transport = 'websocket' }) {
  const ext = user ? { token: await sign({ sub: user }, secret) } : {};
  const name = `${kind}-${transport}-${user ?? 'anonymous'}`;
  const peer =
    kind === 'cometd'
      ? new CometdPeer(name, { url, transport, handshakeProps: { ext } })
      : new FayePeer(name, { url, transport, handshakeExt: ext, clientOptions: { retry: 0.2 } });
  t.after(() => peer.close());
  await peer.connect();
  return peer;
}

