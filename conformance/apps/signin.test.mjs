// Sign-in at handshake from the configuration file alone (spec/apps.md, SIGN-1 to SIGN-6),
// driven by the real npm `cometd` and `faye` clients against a herald started from TOML:
// signed tokens (HS256, RS256 with a PEM key, ES256 with a JWKS) from `ext.token`, an
// `Authorization: Bearer` header or a cookie; sign-in by the application's backend, down or
// slow; and no token or secret in herald's log or its error strings.

import { expectRefused as refused, installExitWatchdog } from './lib/peers.mjs';
import test, { after } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { CometdPeer } from '../interop/lib/cometd.mjs';
import { FayePeer } from '../interop/lib/faye.mjs';
import { sign, sleep, startBackend, startHerald } from './lib/herald.mjs';

installExitWatchdog();

const SECRET = 'hs256-secret-for-the-sign-in-tests';
const herald = await startHerald({ after }, `
[sign_in]
anonymous = false
cookie = "herald_token"
[sign_in.jwt]
algorithm = "HS256"
secret = "${SECRET}"
`);

/** Both clients, each signing in with whatever `token()` returns at each handshake. */
const CLIENTS = [
  {
    kind: 'cometd',
    make: (url, name, token) =>
      new CometdPeer(name, {
        url,
        transport: 'long-polling',
        config: { maxBackoff: 300 },
        handshakeProps: { ext: { get token() { return token(); } } },
      }),
  },
  {
    kind: 'faye',
    make: (url, name, token) =>
      new FayePeer(name, {
        url,
        clientOptions: { retry: 0.2 },
        handshakeExt: { get token() { return token(); } },
      }),
  },
];

/** A peer of `client` presenting `token()`, closed when the test ends. */
function peer(t, client, name, token, url = herald.url) {
  const p = client.make(url, `${client.kind}-${name}`, token);
  t.after(() => p.close());
  return p;
}

const handshakes = (p) => p.outgoing.filter((m) => m.channel === '/meta/handshake').length;
const tokensSeen = [];

for (const client of CLIENTS) {
  const { kind } = client;

  test(`${kind}: a missing or forged token is refused (401, reconnect none) and the client stops`, async (t) => {
    const forged = await sign({ sub: 'mallory' }, 'not-the-secret');
    const wrongAlg = await sign({ sub: 'mallory' }, SECRET, { alg: 'HS384' });
    tokensSeen.push(forged, wrongAlg);
    for (const [name, token, error] of [
      ['missing', undefined, '401::token_missing'],
      ['forged', forged, '401::token_invalid'],
      ['wrong-alg', wrongAlg, '401::token_invalid'],
      ['garbage', 'not.a.jwt', '401::token_invalid'],
    ]) {
      const p = peer(t, client, name, () => token);
      const reply = await refused(p.connect(), error);
      assert.equal(reply.advice?.reconnect, 'none', `${name}: advice ${JSON.stringify(reply.advice)}`);
      await sleep(800);
      assert.equal(handshakes(p), 1, `${name}: the client handshook once and stopped`);
    }
  });

  test(`${kind}: an expired token is refused with reconnect: handshake, and a fresh one then gets in`, async (t) => {
    const expired = await sign({ sub: 'ada' }, SECRET, { expiresIn: Math.floor(Date.now() / 1000) - 60 });
    const fresh = await sign({ sub: 'ada' }, SECRET);
    tokensSeen.push(expired, fresh);
    let current = expired;
    const p = peer(t, client, 'expiring', () => current);
    const reply = await refused(p.connect(), '401::token_expired');
    assert.equal(reply.advice?.reconnect, 'handshake', `advice ${JSON.stringify(reply.advice)}`);
    // The application fetches a fresh token; the client, told to, handshakes again with it.
    current = fresh;
    const welcome = await p.incoming.waitFor(
      (m) => m.channel === '/meta/handshake' && m.successful,
      'a successful handshake with the fresh token',
    );
    assert.ok(welcome.clientId);
    assert.ok(handshakes(p) >= 2);
  });

  test(`${kind}: a good token is accepted`, async (t) => {
    const token = await sign({ sub: 'ada' }, SECRET);
    tokensSeen.push(token);
    const p = peer(t, client, 'good', () => token);
    const hs = await p.connect();
    assert.equal(hs.successful, true);
    const sub = await p.subscribe('/anything');
    assert.equal(sub.channel, '/anything');
  });
}

/** A raw long-polling handshake with `headers`; resolves with its reply. */
async function rawHandshake(url, headers = {}, ext = undefined) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify([
      { channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['long-polling'], ext },
    ]),
  });
  return (await response.json())[0];
}

test('the token may come in an Authorization: Bearer header or the configured cookie', async () => {
  const token = await sign({ sub: 'ada' }, SECRET);
  tokensSeen.push(token);
  assert.equal((await rawHandshake(herald.url, { authorization: `Bearer ${token}` })).successful, true);
  assert.equal((await rawHandshake(herald.url, { cookie: `other=1; herald_token=${token}` })).successful, true);
  assert.equal((await rawHandshake(herald.url, { cookie: `wrong_name=${token}` })).error, '401::token_missing');
});

test('RS256 with a PEM public key, ES256 with a JWKS: genuine tokens in, others out', async (t) => {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const otherEc = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwks = { keys: [{ ...ec.publicKey.export({ format: 'jwk' }), kid: 'k1', alg: 'ES256', use: 'sig' }] };
  const rsaHerald = await startHerald(t, `
[sign_in.jwt]
algorithm = "RS256"
public_key_file = "rsa.pem"
`, { files: { 'rsa.pem': rsa.publicKey.export({ type: 'spki', format: 'pem' }) } });
  const ecHerald = await startHerald(t, `
[sign_in.jwt]
algorithm = "ES256"
jwks_file = "jwks.json"
`, { files: { 'jwks.json': JSON.stringify(jwks) } });
  const rsaToken = await sign({ sub: 'ada' }, rsa.privateKey, { alg: 'RS256' });
  const ecToken = await sign({ sub: 'ada' }, ec.privateKey, { alg: 'ES256', kid: 'k1' });
  const strangerToken = await sign({ sub: 'eve' }, otherEc.privateKey, { alg: 'ES256', kid: 'k1' });
  for (const client of CLIENTS) {
    const good = peer(t, client, 'rs256', () => rsaToken, rsaHerald.url);
    assert.equal((await good.connect()).successful, true, `${client.kind}: RS256`);
    const alsoGood = peer(t, client, 'es256', () => ecToken, ecHerald.url);
    assert.equal((await alsoGood.connect()).successful, true, `${client.kind}: ES256 by kid`);
  }
  assert.equal((await rawHandshake(ecHerald.url, {}, { token: strangerToken })).error, '401::token_invalid');
  assert.equal((await rawHandshake(rsaHerald.url, {}, { token: ecToken })).error, '401::token_invalid');
});

test('sign-in by the backend: allowed, denied, down, or slow (an error within the timeout)', async (t) => {
  const backend = await startBackend(t, ({ body }) => {
    switch (body.ext?.token) {
      case 'ada-pass':
        return { body: { allow: true, user: 'ada', subscribe: ['/rooms/**'] } };
      case 'slow':
        return { delay: 5_000, body: { allow: true, user: 'late' } };
      case 'cookie':
        return { body: { allow: body.cookies.session === 'abc', user: 'bob' } };
      default:
        return { body: { allow: false } };
    }
  });
  const viaBackend = await startHerald(t, `
[sign_in.backend]
url = "${backend.url}/sign-in"
timeout = 500
cookies = ["session"]
`);
  const downHerald = await startHerald(t, `
[sign_in.backend]
url = "http://127.0.0.1:9/sign-in"
timeout = 500
`);
  for (const client of CLIENTS) {
    const ada = peer(t, client, 'backend-ada', () => 'ada-pass', viaBackend.url);
    assert.equal((await ada.connect()).successful, true);
    // The backend's grants narrow the rules: only /rooms/** for ada.
    await ada.subscribe('/rooms/a');
    await refused(ada.subscribe('/elsewhere'), '403:denied_by_security_policy:subscribe_denied');
    const mallory = peer(t, client, 'backend-mallory', () => 'wrong', viaBackend.url);
    const denied = await refused(mallory.connect(), '403::handshake_denied');
    assert.equal(denied.advice?.reconnect, 'none');
  }
  const cookie = await rawHandshake(viaBackend.url, { cookie: 'session=abc' }, { token: 'cookie' });
  assert.equal(cookie.successful, true, 'the chosen cookie reached the backend');
  for (const [target, token] of [[viaBackend, 'slow'], [downHerald, 'ada-pass']]) {
    const started = Date.now();
    const reply = await rawHandshake(target.url, {}, { token });
    const elapsed = Date.now() - started;
    assert.equal(reply.error, '503::sign_in_unavailable', JSON.stringify(reply));
    assert.equal(reply.advice?.reconnect, 'handshake');
    // The backend takes 5 s (or is not there): the answer came from the 500 ms timeout.
    assert.ok(elapsed < 2_500, `answered after ${elapsed} ms`);
  }
});

test('no token or secret appears in herald\'s log (debug level) or its replies', async () => {
  const log = herald.log();
  assert.ok(log.includes('sign-in refused'), 'the refusals were logged');
  assert.ok(tokensSeen.length >= 5);
  for (const secret of [SECRET, ...tokensSeen]) {
    assert.ok(!log.includes(secret), 'a secret or token was logged');
  }
});
