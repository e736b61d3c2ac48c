// Starts what the apps tests run against: herald from a configuration file, a backend that
// answers its sign-in and webhook calls, tokens signed as a real application would.

import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SignJWT } from 'jose';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** The herald binary: HERALD_BIN, else the release build. */
export const HERALD_BIN = process.env.HERALD_BIN || join(ROOT, 'target/release/herald');

/**
 * Writes `toml` (and `files`, by name, beside it) to a fresh folder and starts herald with
 * `--config` (plus `args` and the environment `env`) on a free loopback port; stopped when
 * the test file ends. Resolves with
 * `{ url, base, log(), stop() }`: the Bayeux endpoint, the server's root, and everything
 * it logged so far.
 */
export async function startHerald(t, toml, { files = {}, args = [], env = {} } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'herald-apps-'));
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
  const config = join(dir, 'herald.toml');
  writeFileSync(config, `bind = "127.0.0.1:0"\ntimeout = 2000\nmax_interval = 2000\n${toml}`);
  const child = spawn(HERALD_BIN, ['--config', config, '--log', 'debug', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  const stop = () => {
    if (child.exitCode === null) child.kill();
  };
  t.after(stop);
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`herald did not start:\n${output}`)), 10_000);
    const look = () => {
      const found = output.match(/http:\/\/127\.0\.0\.1:\d+\/cometd/);
      if (found) {
        clearTimeout(timer);
        resolve(found[0]);
      }
    };
    child.stdout.on('data', look);
    child.stderr.on('data', look);
    child.on('exit', (code) => reject(new Error(`herald exited with ${code}:\n${output}`)));
  });
  return { url, base: new URL('/', url).href.replace(/\/$/, ''), log: () => output, stop, dir, pid: child.pid };
}

/**
 * A backend on a free loopback port: `handler({ path, body, headers })` answers each JSON
 * POST with `{ status = 200, body, delay = 0 }` (`body` undefined: empty). Every call is
 * recorded in `calls`. Closed when the test file ends.
 */
export async function startBackend(t, handler) {
  const calls = [];
  const server = createServer((request, response) => {
    let text = '';
    request.on('data', (chunk) => (text += chunk));
    request.on('end', async () => {
      const call = { path: request.url, headers: request.headers, body: text ? JSON.parse(text) : null };
      calls.push(call);
      const { status = 200, body, delay = 0 } = (await handler(call)) ?? {};
      setTimeout(() => {
        response.writeHead(status, { 'content-type': 'application/json' });
        response.end(body === undefined ? '' : JSON.stringify(body));
      }, delay);
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  return { url: `http://127.0.0.1:${server.address().port}`, calls };
}

/** A JWT as an application would sign it: `claims` (with `sub`), expiring in `expiresIn`. */
export async function sign(claims, key, { alg = 'HS256', kid, expiresIn = '1h' } = {}) {
  const secret = typeof key === 'string' ? new TextEncoder().encode(key) : key;
  let jwt = new SignJWT(claims).setProtectedHeader({ alg, kid }).setIssuedAt();
  jwt = typeof expiresIn === 'number' ? jwt.setExpirationTime(expiresIn) : jwt.setExpirationTime(expiresIn);
  return jwt.sign(secret);
}

/** Calls the backend API: resolves with `{ status, body, headers }`. */
export async function api(herald, method, path, { key, body, raw } = {}) {
  const headers = { 'content-type': 'application/json' };
  if (key) headers.authorization = `Bearer ${key}`;
  const response = await fetch(`${herald.base}${path}`, {
    method,
    headers,
    body: raw ?? (body === undefined ? undefined : JSON.stringify(body)),
  });
  const text = await response.text();
  let parsed;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = text;
  }
  return { status: response.status, body: parsed, headers: response.headers };
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** POSTs Bayeux `messages` to the herald's endpoint by long-polling; resolves with the replies. */
export async function bayeux(herald, messages, headers = {}) {
  const response = await fetch(herald.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(messages),
  });
  return response.json();
}
