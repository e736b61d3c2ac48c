#!/usr/bin/env node
// Does a healthy client keep being served while hostile clients attack? The hostile tests
// (conformance/hostile/) check that each limit holds; this measures what the clients who
// behave see meanwhile. Not part of CI.
//
//   node benches/hostile.mjs [--bin target/release/herald] [--out target/hostile-bench.md]
//                            [--seconds 10] [--baseline 10] [--settle 3] [--only slowloris,idle]
//
// It starts herald (default flags, a free loopback port), then for the whole run keeps
//   - a WebSocket subscriber (the `ws` package) and a long-polling subscriber (fetch) on one
//     channel, each handshaking again by itself if its session ends;
//   - a publisher of 50 messages/s on that channel, each carrying its send time;
//   - a new client every second that handshakes and disconnects (can newcomers get in?);
//   - herald's RSS every 100 ms, from /proc/<pid>/status.
// After a quiet baseline, each attack of benches/hostile-attacks.mjs runs in turn in a child
// process for --seconds, then the run waits --settle seconds before the next. Each row of the
// report covers the messages published while its attack ran: their delivery latency to each
// subscriber, how many never reached it, herald's RSS at the start and its peak (during the
// attack and the settle after it), whether herald stayed up, and which limits it counted.

import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ATTACKS } from './hostile-attacks.mjs';
import { counted, counters, rssOf, startHerald, stopHerald } from './hostile-herald.mjs';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const ATTACKER = fileURLToPath(new URL('./hostile-attacks.mjs', import.meta.url));
const CHANNEL = '/hostile-bench/healthy';
const PUBLISH_RATE = 50;
const GOAL_P99_MS = 100;
// The event-loop delay histogram samples with a 10 ms timer; what it records beyond that is lag.
const LAG_RESOLUTION_MS = 10;

const { values: options } = parseArgs({
  options: {
    bin: { type: 'string', default: process.env.HERALD_BIN || resolve(ROOT, 'target/release/herald') },
    out: { type: 'string', default: resolve(ROOT, 'target/hostile-bench.md') },
    seconds: { type: 'string', default: '10' },
    baseline: { type: 'string', default: '10' },
    settle: { type: 'string', default: '3' },
    only: { type: 'string', default: Object.keys(ATTACKS).join(',') },
    'rss-bound-mib': { type: 'string', default: '256' },
  },
});
const RSS_BOUND = Number(options['rss-bound-mib']) * 1024 * 1024;
const selected = options.only.split(',').filter(Boolean);
for (const name of selected) if (!ATTACKS[name]) throw new Error(`no attack ${name}: ${Object.keys(ATTACKS).join(', ')}`);

/** The `ws` package, from conformance/'s packages (or benches/'s, should it have them). */
function loadWs() {
  for (const from of ['../conformance/package.json', './package.json']) {
    try {
      return createRequire(new URL(from, import.meta.url))('ws');
    } catch {}
  }
  console.error('benches/hostile.mjs needs the ws package: run `npm ci` in conformance/');
  process.exit(1);
}
const WebSocket = loadWs();

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
const now = () => performance.now();

// ---- the healthy clients ----------------------------------------------------------------

/** Phases by index; every message published is tagged with the phase it was sent in. */
const phases = [];
let phase;
function startPhase(name) {
  phase?.lag.disable();
  phase = {
    name,
    index: phases.length,
    sent: 0,
    failed: 0,
    publishMs: [],
    probes: { ok: 0, total: 0, slowest: 0 },
    rssStart: 0,
    rssPeak: 0,
    lag: monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS }),
  };
  phase.lag.enable();
  phases.push(phase);
  return phase;
}

/** Every message the publisher had accepted: seq → { phase (its index) }. */
const published = new Map();

/** A subscriber's record: seq → latency (ms) of its first delivery. */
function record(name) {
  return { name, got: new Map(), duplicates: 0, flood: 0, handshakes: 0, closes: 0 };
}

function deliver(sub, message) {
  if (message.channel !== CHANNEL || !message.data) return;
  const { seq, t } = message.data;
  if (seq === undefined) {
    sub.flood += 1; // an attack's messages on the same channel (stalled-readers, publish-flood)
    return;
  }
  if (sub.got.has(seq)) sub.duplicates += 1;
  else sub.got.set(seq, now() - t);
}

const handshake = (types) => ({ channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: types });

/** POSTs Bayeux messages with fetch; resolves with the replies. */
async function post(url, messages, signal) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(messages),
    signal,
  });
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  return response.json();
}

/** A long-polling subscriber: connects again as soon as each connect is answered. */
function longPollingSubscriber(url, sub, stop) {
  const run = async () => {
    while (!stop.signal.aborted) {
      try {
        const [hs] = await post(url, [handshake(['long-polling'])], stop.signal);
        if (!hs.successful) throw new Error(hs.error);
        sub.handshakes += 1;
        const clientId = hs.clientId;
        const [subscribed] = await post(url, [{ channel: '/meta/subscribe', clientId, subscription: CHANNEL }], stop.signal);
        if (!subscribed.successful) throw new Error(subscribed.error);
        sub.ready = true;
        for (;;) {
          const replies = await post(url, [{ channel: '/meta/connect', clientId, connectionType: 'long-polling' }], stop.signal);
          let ended = false;
          for (const message of replies) {
            if (message.channel === '/meta/connect' && !message.successful) ended = true;
            else deliver(sub, message);
          }
          if (ended) break; // its session ended: handshake again
        }
      } catch {
        if (!stop.signal.aborted) await sleep(200);
      }
    }
  };
  return run();
}

/** A WebSocket subscriber: connect replies are answered with the next connect; pushes arrive as frames. */
function webSocketSubscriber(url, sub, stop) {
  const open = () => {
    if (stop.signal.aborted) return;
    const socket = new WebSocket(url.replace(/^http/, 'ws'));
    let clientId;
    const send = (message) => socket.send(JSON.stringify([message]));
    socket.on('open', () => send(handshake(['websocket'])));
    socket.on('message', (text) => {
      for (const message of JSON.parse(text)) {
        if (message.channel === '/meta/handshake') {
          if (!message.successful) return socket.close();
          sub.handshakes += 1;
          clientId = message.clientId;
          send({ channel: '/meta/subscribe', clientId, subscription: CHANNEL });
          send({ channel: '/meta/connect', clientId, connectionType: 'websocket' });
        } else if (message.channel === '/meta/subscribe') {
          sub.ready = message.successful;
        } else if (message.channel === '/meta/connect') {
          if (message.successful) send({ channel: '/meta/connect', clientId, connectionType: 'websocket' });
          else send(handshake(['websocket'])); // its session ended
        } else deliver(sub, message);
      }
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      if (stop.signal.aborted) return;
      sub.closes += 1;
      setTimeout(open, 200);
    });
    stop.signal.addEventListener('abort', () => socket.close(), { once: true });
  };
  open();
}

/** 50 messages/s on CHANNEL from one session over HTTP, each on its own schedule. */
async function publisher(url, stop) {
  let clientId;
  let seq = 0;
  const connect = async () => {
    const [hs] = await post(url, [handshake(['long-polling'])]);
    clientId = hs.clientId;
  };
  await connect();
  const started = now();
  const publishOne = async (at) => {
    const mine = phase;
    const message = { seq: seq++, t: at };
    try {
      const [reply] = await post(url, [{ channel: CHANNEL, clientId, data: message }], AbortSignal.timeout(10_000));
      if (!reply.successful) throw new Error(reply.error);
      published.set(message.seq, { phase: mine.index });
      mine.sent += 1;
      mine.publishMs.push(now() - at);
    } catch (error) {
      mine.failed += 1;
      if (/^402/.test(error.message)) await connect().catch(() => {});
    }
  };
  // Sent on a fixed schedule, not one after the other: a slow reply does not hold back the next.
  for (let i = 0; !stop.signal.aborted; i++) {
    await sleep(started + (i * 1000) / PUBLISH_RATE - now());
    publishOne(now());
  }
}

/** Once a second, a new client handshakes and disconnects: can newcomers get in? */
async function prober(url, stop) {
  while (!stop.signal.aborted) {
    const mine = phase;
    const started = now();
    try {
      const [hs] = await post(url, [handshake(['long-polling'])], AbortSignal.timeout(5_000));
      if (hs.successful) {
        mine.probes.ok += 1;
        post(url, [{ channel: '/meta/disconnect', clientId: hs.clientId }]).catch(() => {});
      }
    } catch {}
    mine.probes.total += 1;
    mine.probes.slowest = Math.max(mine.probes.slowest, now() - started);
    await sleep(1_000 - (now() - started));
  }
}

async function sampleRss(herald, stop) {
  while (!stop.signal.aborted) {
    const bytes = await rssOf(herald.child.pid);
    if (!phase.rssStart) phase.rssStart = bytes;
    phase.rssPeak = Math.max(phase.rssPeak, bytes);
    await sleep(100);
  }
}

// ---- an attack ------------------------------------------------------------------------------

/** Runs attack `name` in a child process; resolves with its summary line. */
function attack(name, herald, seconds, localAddress) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [ATTACKER, name, herald.url, String(seconds), CHANNEL, localAddress], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    child.stderr.on('data', (chunk) => (err = (err + chunk).slice(-2_000)));
    // Its own hard stop comes 5 s after its time; this one is the last resort.
    const killer = setTimeout(() => child.kill('SIGKILL'), (seconds + 15) * 1000);
    child.on('exit', () => {
      clearTimeout(killer);
      const line = out.trim().split('\n').pop();
      try {
        resolve(JSON.parse(line).summary);
      } catch {
        resolve(`no summary (${err.trim().split('\n').pop() || 'killed'})`);
      }
    });
  });
}

// ---- the report -------------------------------------------------------------------------

function percentile(sorted, p) {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

const ms = (x) => (Number.isNaN(x) ? '–' : x < 10 ? x.toFixed(1) : x.toFixed(0));
const mib = (bytes) => (bytes / 1024 / 1024).toFixed(0);

/** Latency and loss at one subscriber of the messages published in `indexes` (phases). */
function delivery(sub, indexes) {
  const latencies = [];
  let lost = 0;
  for (const [seq, { phase: index }] of published) {
    if (!indexes.has(index)) continue;
    const latency = sub.got.get(seq);
    if (latency === undefined) lost += 1;
    else latencies.push(latency);
  }
  latencies.sort((a, b) => a - b);
  return { p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: latencies.at(-1) ?? NaN, lost, n: latencies.length };
}

function report(rows, subs, meta) {
  const lines = [];
  lines.push(`herald ${meta.version} · ${meta.date} · ${meta.cpus} cores · attacks of ${meta.seconds} s, ${meta.settle} s apart, after a ${meta.baseline} s baseline`);
  lines.push('');
  lines.push(
    `| phase | WebSocket p50 / p99 / max ms | long-polling p50 / p99 / max ms | lost WS / LP (of sent) | publish errors | herald RSS start → peak MiB | up | goal |`,
  );
  lines.push('|---|---|---|---|---|---|---|---|');
  for (const row of rows) {
    const [ws, lp] = subs.map((sub) => delivery(sub, row.indexes));
    const latency = (d) => `${ms(d.p50)} / ${ms(d.p99)} / ${ms(d.max)}`;
    const misses = [];
    if (!(ws.p99 <= GOAL_P99_MS && lp.p99 <= GOAL_P99_MS)) misses.push(`p99 > ${GOAL_P99_MS} ms`);
    if (ws.lost || lp.lost) misses.push('lost');
    if (row.failed) misses.push('publishes failed');
    if (row.rssPeak > RSS_BOUND) misses.push(`RSS > ${mib(RSS_BOUND)} MiB`);
    if (!row.up) misses.push('down');
    const goal = misses.length ? `**no**: ${misses.join(', ')}` : 'yes';
    lines.push(
      `| ${row.name} | ${latency(ws)} | ${latency(lp)} | ${ws.lost} / ${lp.lost} (${row.sent}) | ${row.failed} | ${mib(row.rssStart)} → ${mib(row.rssPeak)} | ${row.up ? 'yes' : '**no**'} | ${goal} |`,
    );
  }
  lines.push('');
  lines.push(`| phase | what the attack did, and what herald did to it | limits hit, sessions ended (herald's counters) | new clients in (slowest ms) | publish reply p99 ms | bench's event-loop lag p99 ms |`);
  lines.push('|---|---|---|---|---|---|');
  for (const row of rows) {
    const publishMs = row.publishMs.sort((a, b) => a - b);
    lines.push(
      `| ${row.name} | ${row.summary ?? '–'} | ${row.limits || '–'} | ${row.probes.ok}/${row.probes.total} (${ms(row.probes.slowest)}) | ${ms(percentile(publishMs, 99))} | ${ms(row.lagP99)} |`,
    );
  }
  lines.push('');
  const totals = subs.map((sub) => `${sub.name}: ${sub.handshakes} handshakes, ${sub.closes} socket closes, ${sub.duplicates} duplicates, ${sub.flood.toLocaleString('en-US')} of the attacks' messages on its channel`);
  lines.push(`Healthy subscribers over the whole run: ${totals.join('; ')}.`);
  lines.push(`Goal: both subscribers' p99 ≤ ${GOAL_P99_MS} ms, nothing lost, herald's RSS ≤ ${mib(RSS_BOUND)} MiB, herald up.`);
  return lines.join('\n') + '\n';
}

// ---- the run ----------------------------------------------------------------------------

async function main() {
  const seconds = Number(options.seconds);
  const settle = Number(options.settle);
  const baseline = Number(options.baseline);
  const herald = await startHerald(options.bin);
  console.error(`herald pid ${herald.child.pid} at ${herald.url}`);
  // Publishing stops first, the subscribers (and the RSS sampling) once what was sent arrived.
  const stop = new AbortController();
  const stopPublishing = new AbortController();
  startPhase('start');
  const subs = [record('WebSocket'), record('long-polling')];
  webSocketSubscriber(herald.url, subs[0], stop);
  const polling = longPollingSubscriber(herald.url, subs[1], stop);
  const sampling = sampleRss(herald, stop);
  while (!subs.every((sub) => sub.ready)) await sleep(50);

  const rows = [];
  /** Closes the phases of one row of the report. */
  const row = (name, list, extra = {}) => {
    const indexes = new Set(list.map((p) => p.index));
    for (const p of list) p.lag.disable();
    rows.push({
      name,
      indexes,
      sent: list.reduce((n, p) => n + p.sent, 0),
      failed: list.reduce((n, p) => n + p.failed, 0),
      publishMs: list.flatMap((p) => p.publishMs),
      probes: list.reduce((a, p) => ({ ok: a.ok + p.probes.ok, total: a.total + p.probes.total, slowest: Math.max(a.slowest, p.probes.slowest) }), { ok: 0, total: 0, slowest: 0 }),
      rssStart: list[0].rssStart,
      rssPeak: Math.max(...list.map((p) => p.rssPeak)),
      lagP99: Math.max(...list.map((p) => p.lag.percentile(99) / 1e6 - LAG_RESOLUTION_MS)),
      ...extra,
    });
  };

  const base = startPhase('baseline');
  const publishing = publisher(herald.url, stopPublishing).catch((error) => console.error(`the publisher stopped: ${error.message}`));
  const probing = prober(herald.url, stopPublishing);
  await sleep(baseline * 1000);
  row('baseline (quiet)', [base], { up: !herald.exited, summary: 'nothing', limits: '' });

  const settles = [];
  for (const [i, name] of selected.entries()) {
    const before = await counters(herald);
    const during = startPhase(name);
    console.error(`${name}: ${ATTACKS[name].what}`);
    // Each attack from its own loopback address, so that none runs out of local ports.
    const summary = await attack(name, herald, seconds, `127.0.0.${10 + i}`);
    const after = startPhase(`after ${name}`);
    await sleep(settle * 1000);
    settles.push(after);
    row(name, [during], {
      up: !herald.exited,
      summary,
      limits: counted(before, await counters(herald)),
      rssPeak: Math.max(during.rssPeak, after.rssPeak),
    });
    console.error(`  ${summary}`);
    if (herald.exited) break;
  }

  // Stop publishing, and give every message up to 5 s to arrive at both subscribers.
  const drain = startPhase('drain');
  stopPublishing.abort();
  const deadline = now() + 5_000;
  const waiting = () => [...published.keys()].some((seq) => subs.some((sub) => !sub.got.has(seq)));
  while (waiting() && now() < deadline) await sleep(100);
  row('between attacks (settling)', settles, { up: !herald.exited, summary: `the ${settle} s after each attack`, limits: '' });
  drain.lag.disable();
  stop.abort();
  await stopHerald(herald);
  await Promise.allSettled([polling, sampling, publishing, probing]);

  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {}
  const text = report(rows, subs, {
    version: `${options.bin} (checkout at ${commit})`,
    date: new Date().toISOString().slice(0, 16).replace('T', ' ') + ' UTC',
    cpus: (await import('node:os')).cpus().length,
    seconds,
    settle,
    baseline,
  });
  console.log(text);
  mkdirSync(dirname(options.out), { recursive: true });
  writeFileSync(options.out, text);
  console.error(`written to ${options.out}`);
  if (herald.exited?.at && herald.exited.code !== 0 && herald.exited.signal !== 'SIGTERM') {
    console.error(`herald exited during the run: ${JSON.stringify(herald.exited)}\n${herald.output.slice(-2_000)}`);
  }
  process.exit(0);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
