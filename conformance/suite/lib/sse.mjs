// A minimal EventSource (text/event-stream) reader on node:http, for the conformance suite.
// It keeps the raw text, so a test can check what the stream starts with, and parses it
// into fields as they come: `retry:` values, `data:` events (JSON when they parse) and
// `:` comments, each with its arrival time.

import http from 'node:http';
import { BASE_URL, now } from './bayeux.mjs';

/**
 * GET <path> with Accept: text/event-stream. Resolves once the response head arrived:
 * { status, headers, stream } where `stream` reads the body (for any status).
 */
export function openEventSource(path, opts = {}) {
  const { headers = {}, timeout = 5000 } = opts;
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: BASE_URL.hostname,
      port: BASE_URL.port || 80,
      path,
      method: 'GET',
      headers: { Accept: 'text/event-stream', 'Cache-Control': 'no-cache', ...headers },
      agent: false,
    });
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error(`EventSource ${path}: no response head within ${timeout} ms`));
    }, timeout);
    req.on('response', (res) => {
      clearTimeout(timer);
      resolve({ status: res.statusCode, headers: res.headers, stream: new SseStream(req, res) });
    });
    req.on('error', (e) => { clearTimeout(timer); reject(e); });
    req.end();
  });
}

export class SseStream {
  constructor(req, res) {
    this.req = req;
    this.res = res;
    this.raw = '';
    this.pending = '';
    this.items = []; // { at, kind: 'retry'|'data'|'comment', value, json }
    this.dataLines = [];
    this.ended = false;
    this.waiters = [];
    res.setEncoding('utf8');
    res.on('data', (chunk) => this.onData(chunk));
    const end = () => { this.ended = true; this.wake(); };
    res.on('end', end);
    res.on('close', end);
    res.on('error', end);
  }

  wake() {
    for (const w of this.waiters.splice(0)) w();
  }

  onData(chunk) {
    this.raw += chunk;
    this.pending += chunk;
    let i;
    while ((i = this.pending.search(/\r\n|\r|\n/)) >= 0) {
      const line = this.pending.slice(0, i);
      const nl = this.pending.startsWith('\r\n', i) ? 2 : 1;
      this.pending = this.pending.slice(i + nl);
      this.onLine(line);
    }
    this.wake();
  }

  onLine(line) {
    const at = now();
    if (line === '') {
      if (this.dataLines.length) {
        const value = this.dataLines.join('\n');
        this.dataLines = [];
        let json;
        try { json = JSON.parse(value); } catch { json = undefined; }
        this.items.push({ at, kind: 'data', value, json });
      }
      return;
    }
    if (line.startsWith(':')) {
      this.items.push({ at, kind: 'comment', value: line.slice(1) });
      return;
    }
    const c = line.indexOf(':');
    const field = c < 0 ? line : line.slice(0, c);
    let value = c < 0 ? '' : line.slice(c + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') this.dataLines.push(value);
    else if (field === 'retry') this.items.push({ at, kind: 'retry', value });
    else this.items.push({ at, kind: field, value });
  }

  /** The next item satisfying `pred` (removed from the list), or null after `ms` / at end. */
  async next(pred, ms = 5000) {
    const deadline = now() + ms;
    for (;;) {
      const i = this.items.findIndex(pred);
      if (i >= 0) return this.items.splice(i, 1)[0];
      if (this.ended) return null;
      const left = deadline - now();
      if (left <= 0) return null;
      await new Promise((r) => {
        const timer = setTimeout(r, left);
        this.waiters.push(() => { clearTimeout(timer); r(); });
      });
    }
  }

  /** The next data event whose JSON array holds a message satisfying `pred`. */
  nextMessages(pred, ms) {
    return this.next((it) => it.kind === 'data' && Array.isArray(it.json) && it.json.some(pred), ms);
  }

  /** Read the whole body (for an error status). */
  async text(ms = 3000) {
    const deadline = now() + ms;
    while (!this.ended && now() < deadline) {
      await new Promise((r) => {
        const timer = setTimeout(r, 50);
        this.waiters.push(() => { clearTimeout(timer); r(); });
      });
    }
    return this.raw;
  }

  close() {
    this.req.destroy();
    this.res.destroy();
  }
}
