// The chat example's backend: what an application beside herald does, in Node with no
// framework. It serves the page, signs users in (a token herald checks), answers herald's
// webhooks (who is online; every chat message checked and signed with its sender), and
// publishes through herald's API (an announcement when someone signs in).
//
//   cd examples/chat && npm install && node backend.mjs      # http://127.0.0.1:8091/
//   herald --config examples/chat/herald.toml                # in another terminal
//
// Settings (environment): PORT (8091), HERALD_URL (http://127.0.0.1:8090), HERALD_API_KEY
// and WEBHOOK_SECRET (the values in herald.toml).

import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import { SignJWT } from 'jose';

const here = (path) => fileURLToPath(new URL(path, import.meta.url));
const PORT = Number(process.env.PORT ?? 8091);
const HERALD_URL = process.env.HERALD_URL ?? 'http://127.0.0.1:8090';
const API_KEY = process.env.HERALD_API_KEY ?? 'chat-example-api-key-change-me';
const WEBHOOK_SECRET = process.env.WEBHOOK_SECRET ?? 'chat-example-webhook-secret-change-me';
const JWT_SECRET = new TextEncoder().encode(readFileSync(here('jwt.secret'), 'utf8').trim());
export const ROOMS = ['lobby', 'games'];
const MAX_TEXT = 280;

/** Calls herald's backend API. */
async function herald(method, path, body) {
  const response = await fetch(`${HERALD_URL}/api${path}`, {
    method,
    headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`herald API ${path}: ${response.status}`);
  return response.json();
}

/** Signing in: a real application checks a password here; the example takes any name. */
async function login({ user }) {
  if (typeof user !== 'string' || !/^[a-z0-9_-]{1,24}$/.test(user)) {
    return [400, { error: 'a name of 1 to 24 lowercase letters, digits, - or _' }];
  }
  const token = await new SignJWT({ sub: user }).setProtectedHeader({ alg: 'HS256' })
    .setIssuedAt().setExpirationTime('2h').sign(JWT_SECRET);
  await herald('POST', '/publish', [
    { channel: '/chat/lobby', data: { system: true, text: `${user} signed in` } },
    // Every tab the user already has open hears of the new one, and nobody else does.
    { user, channel: `/users/${user}/inbox`, data: { text: 'You signed in from another tab' } },
  ]);
  return [200, { token, url: `${HERALD_URL}/cometd`, rooms: ROOMS }];
}

/** herald's webhooks: `/service/online`, and every publish on `/chat/**`. */
async function webhook(call) {
  if (call.kind === 'service' && call.channel === '/service/online') {
    const room = ROOMS.includes(call.data?.room) ? call.data.room : 'lobby';
    const { users } = await herald('GET', `/presence?channel=/chat/${room}`);
    return [200, { data: { room, users } }];
  }
  if (call.kind === 'publish') {
    const text = typeof call.data?.text === 'string' ? call.data.text.trim() : '';
    if (!text) return [200, { error: 'Empty message' }];
    if (text.length > MAX_TEXT) return [200, { error: `Longer than ${MAX_TEXT} characters` }];
    // The sender is who herald says signed in, not what the page claims.
    return [200, { data: { user: call.user, text, at: Date.now() } }];
  }
  return [404, { error: 'Unknown request' }];
}

async function readJson(request) {
  let text = '';
  for await (const chunk of request) {
    text += chunk;
    if (text.length > 64 * 1024) throw new Error('too large');
  }
  return JSON.parse(text || 'null');
}

const server = createServer(async (request, response) => {
  const reply = (status, body, type = 'application/json') => {
    response.writeHead(status, { 'content-type': type });
    response.end(type === 'application/json' ? JSON.stringify(body) : body);
  };
  try {
    const { pathname } = new URL(request.url, 'http://localhost');
    if (request.method === 'GET' && pathname === '/') {
      return reply(200, await readFile(here('index.html')), 'text/html; charset=utf-8');
    }
    // The npm cometd client's modules, for the page's import map.
    const module = pathname.match(/^\/lib\/cometd\/([A-Za-z0-9]+\.js)$/);
    if (request.method === 'GET' && module) {
      return reply(200, await readFile(here(`node_modules/cometd/${module[1]}`)), 'text/javascript');
    }
    if (request.method === 'POST' && pathname === '/login') {
      return reply(...(await login(await readJson(request))));
    }
    if (request.method === 'POST' && pathname === '/herald/webhook') {
      if (request.headers.authorization !== `Bearer ${WEBHOOK_SECRET}`) return reply(401, { error: 'Not herald' });
      return reply(...(await webhook(await readJson(request))));
    }
    reply(404, { error: 'Not found' });
  } catch (error) {
    reply(500, { error: String(error.message ?? error) });
  }
});

server.listen(PORT, '127.0.0.1', () => {
  console.log(`chat backend on http://127.0.0.1:${server.address().port}/ (herald at ${HERALD_URL})`);
});
