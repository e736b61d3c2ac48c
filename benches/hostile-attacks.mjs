// The attacks of benches/hostile.mjs, one per child process, so that each gets its own
// open-file limit and event loop and the healthy clients in the parent are not slowed by
// the attacker's own work. Run by the parent as
//
//   node benches/hostile-attacks.mjs <attack> <endpoint URL> <seconds> <healthy channel> <local address>
//
// Every attack is bounded in size as well as in time, stops by itself after <seconds> (a
// hard exit follows 5 s later whatever it is doing), targets 127.0.0.1 only, and prints
// one JSON line, `{ "summary": "…" }`, saying what it did and what herald did to it.

import { once } from 'node:events';
import { Agent, request } from 'node:http';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { frame, openRaw } from '../conformance/hostile/lib/raw-ws.mjs';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
const thousands = (n) => n.toLocaleString('en-US');

/** Each attack: what it is (a line of the report) and how it runs. */
export const ATTACKS = {
  slowloris: { what: '5,000 connections sending headers a byte a second, never finishing', run: slowloris },
  idle: { what: '5,000 connections that send nothing', run: idle },
  'ws-no-read': { what: 'a WebSocket sending frames of 500 publishes, never reading the replies', run: wsNoRead },
  'ping-flood': { what: 'WebSockets flooding pings without reading the pongs, reconnecting when closed', run: pingFlood },
  'stalled-readers': {
    what: 'a WebSocket and an EventSource subscriber of the healthy channel stop reading; 500 publishes/s of 8 KB on it',
    run: stalledReaders,
  },
  'subscription-flood': { what: 'one session subscribing to 100,000 channels, 1,000 per request', run: subscriptionFlood },
  'publish-flood': { what: 'one session publishing batches of 1,000 on the healthy channel, 2 requests at a time', run: publishFlood },
  'big-bodies': { what: '5 MiB bodies (declared and chunked), 2 at a time', run: bigBodies },
  'handshake-flood': { what: 'handshakes (one per request, as herald requires), 32 requests at a time', run: handshakeFlood },
};

/** The server under attack, and an HTTP client bound to this attack's own local address. */
class Target {
  constructor(url, seconds, channel, localAddress) {
    this.url = new URL(url);
    if (this.url.hostname !== '127.0.0.1') throw new Error(`loopback only, not ${this.url.hostname}`);
    this.port = Number(this.url.port);
    this.path = this.url.pathname;
    this.channel = channel;
    this.localAddress = localAddress;
    this.deadline = Date.now() + seconds * 1000;
    this.agent = new Agent({ keepAlive: true, maxSockets: 32, localAddress });
  }

  left() {
    return this.deadline - Date.now();
  }

  /** POSTs `body` (Bayeux messages, or a Buffer); resolves with `{ status, text }`. */
  post(body, { chunked = false } = {}) {
    const bytes = Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body));
    const headers = { 'content-type': 'application/json' };
    if (!chunked) headers['content-length'] = String(bytes.length);
    return new Promise((resolve) => {
      const req = request({ host: '127.0.0.1', port: this.port, path: this.path, method: 'POST', headers, agent: this.agent });
      req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
      req.on('response', (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk) => (text += chunk));
        response.on('end', () => resolve({ status: response.statusCode, text }));
        response.on('error', (error) => resolve({ status: 0, text: error.code ?? error.message }));
      });
      req.on('error', (error) => resolve({ status: 0, text: error.code ?? error.message }));
      // A chunked body goes in 64 KB writes, as a streaming client would send it.
      if (chunked) for (let at = 0; at < bytes.length; at += 65_536) req.write(bytes.subarray(at, at + 65_536));
      req.end(chunked ? undefined : bytes);
    });
  }

  /** POSTs Bayeux `messages` and tallies the replies into `tally`; resolves with the replies. */
  async bayeux(messages, tally) {
    const { status, text } = await this.post(messages);
    let replies = [];
    if (status === 200) replies = JSON.parse(text);
    else tally.count(status ? `HTTP ${status}` : text);
    for (const reply of replies) tally.count(reply.successful ? 'ok' : errorKind(reply.error));
    return replies;
  }

  async handshake(types = ['long-polling']) {
    const [reply] = await this.bayeux([{ channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: types }], new Tally());
    if (!reply?.successful) throw new Error(`handshake refused: ${JSON.stringify(reply)}`);
    return reply.clientId;
  }

  /** Whether session `clientId` still exists (a connect that is answered at once says). */
  async alive(clientId, connectionType) {
    const [reply] = await this.bayeux(
      [{ channel: '/meta/connect', clientId, connectionType, advice: { timeout: 0 } }],
      new Tally(),
    );
    return reply?.successful === true;
  }
}

/** Counts outcomes by kind ('ok', an error without its arguments, an HTTP status…). */
class Tally {
  constructor() {
    this.counts = new Map();
  }

  count(kind, n = 1) {
    this.counts.set(kind, (this.counts.get(kind) ?? 0) + n);
  }

  get(kind) {
    return this.counts.get(kind) ?? 0;
  }

  total() {
    let sum = 0;
    for (const n of this.counts.values()) sum += n;
    return sum;
  }

  toString() {
    return [...this.counts].map(([kind, n]) => `${thousands(n)} ${kind}`).join(', ') || 'nothing';
  }
}

/** '403:100:too_many_subscriptions' → '403 too_many_subscriptions' (its arguments vary). */
function errorKind(error = '') {
  const [code, , ...message] = String(error).split(':');
  return `${code} ${message.join(':')}`.trim();
}

/**
 * Opens `n` TCP connections, 250 at a time, calling `opened(socket)` on each. Resolves with
 * the sockets and counts of what herald did to them (kept up to date): `failed` to open,
 * `closedByServer` before the attack ended, `answered` (sent any bytes back).
 */
async function openMany(target, n, opened = () => {}) {
  const result = { sockets: [], failed: 0, closedByServer: 0, answered: 0, ended: false, slowest: 0, overOneSecond: 0 };
  for (let started = 0; started < n && target.left() > 0; started += 250) {
    const wave = Array.from({ length: Math.min(250, n - started) }, () => {
      const socket = connect({ host: '127.0.0.1', port: target.port, localAddress: target.localAddress });
      const asked = Date.now();
      return new Promise((resolve) => {
        let answered = false;
        let connected = false;
        socket.on('connect', () => {
          connected = true;
          // A connect that takes a second or more had its SYN dropped and sent again.
          const took = Date.now() - asked;
          result.slowest = Math.max(result.slowest, took);
          if (took >= 1_000) result.overOneSecond += 1;
          result.sockets.push(socket);
          opened(socket);
          resolve();
        });
        socket.on('data', () => {
          if (!answered) result.answered += 1;
          answered = true;
        });
        socket.on('error', () => {
          if (connected) return;
          result.failed += 1;
          resolve();
        });
        socket.on('close', () => {
          if (!result.ended && connected) result.closedByServer += 1;
          resolve();
        });
      });
    });
    await Promise.all(wave);
  }
  return result;
}

/** Closes what `openMany` opened and says what happened to it. */
function closeMany(result) {
  result.ended = true;
  for (const socket of result.sockets) socket.destroy();
  const failed = result.failed ? ` (${thousands(result.failed)} failed to open)` : '';
  const slow = `slowest connect ${thousands(result.slowest)} ms, ${thousands(result.overOneSecond)} took ≥ 1 s`;
  return `${thousands(result.sockets.length)} opened${failed} (${slow}); herald closed ${thousands(result.closedByServer)} and answered ${thousands(result.answered)} before the end`;
}

async function slowloris(target) {
  // Every connection gets one more byte of a header that never ends, once a second.
  const head = Buffer.from(`POST ${target.path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: `);
  const sent = new Map();
  const next = (socket) => {
    const at = sent.get(socket) ?? 0;
    sent.set(socket, at + 1);
    if (!socket.destroyed) socket.write(at < head.length ? head.subarray(at, at + 1) : 'a');
  };
  const result = await openMany(target, 5_000, next);
  let turn = 0;
  const ticker = setInterval(() => {
    // A tenth of the sockets every 100 ms.
    for (let i = turn % 10; i < result.sockets.length; i += 10) next(result.sockets[i]);
    turn += 1;
  }, 100);
  await sleep(target.left());
  clearInterval(ticker);
  return closeMany(result);
}

async function idle(target) {
  const result = await openMany(target, 5_000);
  await sleep(target.left());
  return closeMany(result);
}

/** Resolves true once `socket` drains, false if it has not by `ms`. */
async function drained(socket, ms) {
  if (socket.destroyed) return false;
  return Promise.race([once(socket, 'drain').then(() => true, () => false), sleep(ms).then(() => false)]);
}

async function wsNoRead(target) {
  const client = await openRaw(target.url.href);
  client.sendText(JSON.stringify([{ channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['websocket'] }]));
  const [hs] = JSON.parse(await client.nextText());
  client.socket.pause();
  let closed = false;
  client.closed.then(() => (closed = true));
  // About 40 KB a frame, whose reply is about as big; at most 5,000 frames (200 MB).
  const publishes = Array.from({ length: 500 }, (_, i) => ({ channel: '/hostile/nobody', clientId: hs.clientId, data: i, id: `${i}` }));
  const bytes = frame(1, JSON.stringify(publishes));
  let frames = 0;
  let lastTaken = 0;
  const started = Date.now();
  while (frames < 5_000 && target.left() > 0 && !closed) {
    frames += 1;
    if (client.socket.write(bytes) || (await drained(client.socket, target.left()))) lastTaken = Date.now() - started;
  }
  await sleep(target.left());
  // Read again, to learn whether herald closed it meanwhile.
  client.socket.resume();
  await Promise.race([client.closed, sleep(1_000)]);
  const cut = client.socket.destroyed || client.socket.readyState === 'closed';
  client.socket.destroy();
  return `${thousands(frames)} frames written (${thousands(frames * 500)} publishes); the socket last took one at ${(lastTaken / 1000).toFixed(1)} s; ${cut ? 'cut off by herald' : 'still open at the end'}`;
}

async function pingFlood(target) {
  const ping = frame(9, 'p');
  let sockets = 0;
  let closedByServer = 0;
  let pings = 0;
  let refused = 0;
  // At most 15,000 sockets of at most 20,000 pings each.
  while (sockets < 15_000 && target.left() > 0) {
    let client;
    try {
      client = await openRaw(target.url.href);
    } catch {
      refused += 1;
      await sleep(100);
      continue;
    }
    sockets += 1;
    let closed = false;
    client.closed.then(() => (closed = true));
    client.socket.pause();
    for (let i = 0; i < 20_000 && !closed && target.left() > 0; i++) {
      pings += 1;
      if (!client.socket.write(ping) && !(await drained(client.socket, 1_000))) break;
    }
    // Pongs are never read; resuming only lets the close be seen (and throws the pongs away).
    client.socket.resume();
    await Promise.race([client.closed, sleep(Math.min(5_000, target.left()))]);
    if (closed) closedByServer += 1;
    client.socket.destroy();
  }
  const failed = refused ? `, ${refused} upgrades failed` : '';
  return `${thousands(pings)} pings on ${sockets} sockets; herald closed ${closedByServer}${failed}`;
}

async function stalledReaders(target) {
  const { channel } = target;
  // A WebSocket subscriber: handshake, connect, subscribe, then it stops reading.
  const ws = await openRaw(target.url.href);
  const send = (message) => ws.sendText(JSON.stringify([message]));
  send({ channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['websocket'] });
  const wsId = JSON.parse(await ws.nextText())[0].clientId;
  send({ channel: '/meta/connect', clientId: wsId, connectionType: 'websocket' });
  await ws.nextText();
  send({ channel: '/meta/subscribe', clientId: wsId, subscription: channel });
  await ws.nextText();
  send({ channel: '/meta/connect', clientId: wsId, connectionType: 'websocket' });
  ws.socket.pause();
  // An EventSource subscriber: handshake and subscribe over HTTP, open the stream, never read it.
  const esId = await target.handshake(['eventsource', 'long-polling']);
  const tally = new Tally();
  await target.bayeux([{ channel: '/meta/subscribe', clientId: esId, subscription: channel }], tally);
  const es = connect({ host: '127.0.0.1', port: target.port, localAddress: target.localAddress });
  es.on('error', () => {});
  await once(es, 'connect');
  es.write(`GET ${target.path}/${esId} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n`);
  es.pause();
  // The flood: 50 messages of 8 KB every 100 ms, from its own session, awaited one after another.
  const publisher = await target.handshake();
  const text = 'x'.repeat(8 * 1024);
  let published = 0;
  const flood = new Tally();
  const started = Date.now();
  for (let batch = 0; target.left() > 0 && batch < 200; batch++) {
    const messages = Array.from({ length: 50 }, (_, i) => ({ channel, clientId: publisher, data: { big: batch * 50 + i, text } }));
    await target.bayeux(messages, flood);
    published += 50;
    await sleep(started + (batch + 1) * 100 - Date.now());
  }
  const wsAlive = await target.alive(wsId, 'long-polling');
  const esAlive = await target.alive(esId, 'eventsource');
  ws.socket.destroy();
  es.destroy();
  const mb = ((published * text.length) / 1024 / 1024).toFixed(0);
  return `${thousands(published)} × 8 KB published (${mb} MiB; ${flood}); stalled WebSocket session ${wsAlive ? 'still alive' : 'ended'}, stalled EventSource session ${esAlive ? 'still alive' : 'ended'} at the end`;
}

async function subscriptionFlood(target) {
  let clientId = await target.handshake();
  const tally = new Tally();
  // At most 40 passes over the 100,000 channels (the session holds at most its limit; a
  // channel it already holds is accepted again).
  for (let pass = 0; pass < 40 && target.left() > 0; pass++) {
    for (let first = 0; first < 100_000 && target.left() > 0; first += 1_000) {
      const messages = Array.from({ length: 1_000 }, (_, i) => ({ channel: '/meta/subscribe', clientId, subscription: `/hostile/sub/${first + i}` }));
      const replies = await target.bayeux(messages, tally);
      // A session that was ended is replaced, and the flood goes on.
      if (replies.some((r) => String(r.error).startsWith('402'))) clientId = await target.handshake();
    }
  }
  return `${thousands(tally.total())} subscribe messages: ${tally}`;
}

async function publishFlood(target) {
  const clientId = await target.handshake();
  const tally = new Tally();
  let batches = 0;
  const started = Date.now();
  // Two requests in flight; at most 5,000 batches (5 million publishes).
  const worker = async () => {
    while (batches < 5_000 && target.left() > 0) {
      batches += 1;
      await target.bayeux(Array.from({ length: 1_000 }, (_, i) => ({ channel: target.channel, clientId, data: { flood: i } })), tally);
    }
  };
  await Promise.all([worker(), worker()]);
  const rate = tally.total() / ((Date.now() - started) / 1000);
  return `${thousands(tally.total())} publishes in ${thousands(batches)} requests (${thousands(Math.round(rate))}/s): ${tally}`;
}

async function bigBodies(target) {
  const body = Buffer.alloc(5 * 1024 * 1024, 0x20);
  const tally = new Tally();
  let sent = 0;
  // Two in flight; at most 10,000 bodies (50 GiB).
  const worker = async () => {
    while (sent < 10_000 && target.left() > 0) {
      sent += 1;
      const { status, text } = await target.post(body, { chunked: sent % 2 === 0 });
      tally.count(status ? `HTTP ${status}` : text);
    }
  };
  await Promise.all([worker(), worker()]);
  return `${thousands(sent)} bodies of 5 MiB: ${tally}`;
}

async function handshakeFlood(target) {
  const tally = new Tally();
  let attempted = 0;
  const handshake = [{ channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['long-polling'] }];
  // A handshake must be alone in its request. 32 requests in flight; at most 200,000
  // handshakes (herald holds at most max_sessions; the loopback is not rate limited, LIM-13).
  const worker = async () => {
    while (attempted < 200_000 && target.left() > 0) {
      attempted += 1;
      await target.bayeux(handshake, tally);
    }
  };
  await Promise.all(Array.from({ length: 32 }, worker));
  return `${thousands(attempted)} handshakes: ${tally}`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [name, url, seconds, channel, localAddress] = process.argv.slice(2);
  const attack = ATTACKS[name];
  if (!attack) throw new Error(`no attack ${name}; the attacks are ${Object.keys(ATTACKS).join(', ')}`);
  const target = new Target(url, Number(seconds), channel, localAddress);
  // The hard stop, whatever the attack is waiting for.
  setTimeout(() => {
    console.log(JSON.stringify({ summary: 'stopped at its hard deadline' }));
    process.exit(0);
  }, Number(seconds) * 1000 + 5_000).unref();
  attack
    .run(target)
    .then((summary) => console.log(JSON.stringify({ summary })))
    .catch((error) => console.log(JSON.stringify({ summary: `failed: ${error.message}` })))
    .finally(() => process.exit(0));
}
