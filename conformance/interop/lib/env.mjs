// Shared settings for the interop tests.
//
// The tests drive the real npm clients (`cometd` under Node via `cometd-nodejs-client`, and
// `faye`) against a running Bayeux server whose endpoint URL is given in BAYEUX_URL.

import { randomBytes } from 'node:crypto';
import { after } from 'node:test';

const raw = process.env.BAYEUX_URL;
if (!raw || raw.trim() === '') {
  throw new Error(
    'BAYEUX_URL is not set. Start herald (e.g. `target/release/herald --bind 127.0.0.1:18200 ' +
      '--timeout 2000 --interval 0 --max-interval 2000`) and run ' +
      '`BAYEUX_URL=http://127.0.0.1:18200/cometd node --test --test-concurrency=1 conformance/interop/`.',
  );
}
let parsed;
try {
  parsed = new URL(raw.trim());
} catch {
  throw new Error(`BAYEUX_URL is not a valid URL: ${JSON.stringify(raw)}`);
}
if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
  throw new Error(`BAYEUX_URL must be an http(s) URL (long-polling), got ${JSON.stringify(raw)}`);
}

/** The Bayeux endpoint, e.g. `http://127.0.0.1:18200/cometd`. */
export const BAYEUX_URL = parsed.href.replace(/\/$/, '');

/** Default bound for any single wait (handshake, ack, delivery). */
export const WAIT_MS = Number(process.env.INTEROP_WAIT_MS || 10_000);

/** Bound for the 1,000-message burst to arrive completely. */
export const BURST_WAIT_MS = Number(process.env.INTEROP_BURST_WAIT_MS || 20_000);

/** Set INTEROP_DEBUG=1 to see the clients' own logging. */
export const DEBUG = !!process.env.INTEROP_DEBUG;

/**
 * A channel prefix unique to one test, so that tests never see each other's traffic
 * (and neither do runs against a shared server).
 */
export function uniquePrefix(label = 't') {
  const safe = String(label).replace(/[^A-Za-z0-9_-]/g, '-');
  return `/interop/${safe}-${randomBytes(6).toString('hex')}`;
}

/**
 * Safety net: every test disconnects its clients, so the process should exit on its own
 * once the last test is done. If something (a client that could not disconnect, a request
 * the server never answered) still keeps the event loop alive long after, say so loudly
 * and exit instead of hanging `node --test` forever. The bound is above 10 s because a
 * CometD client whose handshake failed (server down) can leave its 10 s request timer
 * (`maxNetworkDelay`) running after disconnect(); that ends by itself.
 */
export function installExitWatchdog(ms = 15_000) {
  after(() => {
    const timer = setTimeout(() => {
      process.stderr.write(
        `\ninterop: the event loop was still busy ${ms} ms after the last test ` +
          '(a client not disconnected, or a request the server never answered); forcing exit; ' +
          `active handles: ${describeHandles()}\n`,
      );
      process.exitCode = 1;
      process.exit();
    }, ms);
    timer.unref();
  });
}

function describeHandles() {
  try {
    const counts = {};
    for (const r of process.getActiveResourcesInfo()) counts[r] = (counts[r] || 0) + 1;
    return Object.entries(counts)
      .map(([r, n]) => `${r} x${n}`)
      .join(', ');
  } catch {
    return '?';
  }
}
