// A tiny raw-HTTP Bayeux client for the conformance suite.
//
// It speaks long-polling with Node's built-in fetch and nothing else, so a test sees the
// server's bytes as they are: status, headers and the parsed JSON body. Every request has
// a deadline (AbortSignal.timeout) so a misbehaving server fails a test instead of hanging it.
//
// The endpoint comes from the environment:
//   BAYEUX_URL            e.g. http://127.0.0.1:8080/cometd (required)
//   BAYEUX_MAX_INTERVAL   ms; used when the handshake advice has no maxInterval
//   BAYEUX_TIMEOUT, BAYEUX_INTERVAL
//                         ms; when set, HS-3 compares the advice with them
//   BAYEUX_MAX_QUEUE      the server's per-client queue bound (default 10000, SES-4)
//   BAYEUX_MAX_BODY       the server's body limit in bytes (default 1 MiB, HTTP-5)
//   BAYEUX_TRANSPORTS     the transports the server has enabled, comma-separated
//                         (default: all five of TR-1)
//   BAYEUX_ALLOWED_ORIGINS
//                         the origins the server allows, comma-separated (default: any, TR-5)
//   BAYEUX_MAX_POLLS_PER_BROWSER
//                         held long-polls per browser cookie (default 4, TR-8)

import net from 'node:net';

const RAW_URL = process.env.BAYEUX_URL;
if (!RAW_URL) {
  throw new Error('BAYEUX_URL is not set: give the endpoint, e.g. BAYEUX_URL=http://127.0.0.1:8080/cometd');
}
/** The endpoint, without a trailing slash. */
export const BASE = RAW_URL.replace(/\/+$/, '');
export const BASE_URL = new URL(BASE);

function envInt(name, dflt) {
  const v = process.env[name];
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new Error(`${name} must be a number, got ${v}`);
  return n;
}

export const ENV = {
  timeout: envInt('BAYEUX_TIMEOUT', undefined),
  interval: envInt('BAYEUX_INTERVAL', undefined),
  maxInterval: envInt('BAYEUX_MAX_INTERVAL', undefined),
  maxQueue: envInt('BAYEUX_MAX_QUEUE', 10000),
  maxBody: envInt('BAYEUX_MAX_BODY', 1024 * 1024),
  transports: envList('BAYEUX_TRANSPORTS'),
  allowedOrigins: envList('BAYEUX_ALLOWED_ORIGINS'),
  maxPollsPerBrowser: envInt('BAYEUX_MAX_POLLS_PER_BROWSER', 4),
};

function envList(name) {
  const v = process.env[name];
  if (v === undefined || v.trim() === '') return undefined;
  return v.split(',').map((x) => x.trim()).filter(Boolean);
}

/** Milliseconds since an arbitrary origin, monotonic. */
export const now = () => performance.now();
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------
// Names

let nameCounter = 0;
const RUN = `${process.pid.toString(36)}${Math.floor(Math.random() * 36 ** 4).toString(36)}`;

/** A channel name no other test (or concurrent test file) uses: `/<prefix>-<run>-<n>`. */
export function uniq(prefix = 't') {
  nameCounter += 1;
  return `/${prefix}-${RUN}-${nameCounter}`;
}

let idCounter = 0;
/** A fresh message id (alphanumeric string, unique in this process). */
export function nextId(prefix = 'm') {
  idCounter += 1;
  return `${prefix}${idCounter}`;
}

// ---------------------------------------------------------------------------------------
// Raw HTTP

/**
 * POST a body to the endpoint (or `path` relative to the endpoint's origin).
 * body: an object/array (sent as JSON), a string or a Buffer (sent as is).
 * opts.contentType: a Content-Type, or null for none. Default application/json for JSON,
 *   none for strings and Buffers (a Buffer body makes fetch send no Content-Type).
 * Returns { status, headers, text, json (or undefined), ms }.
 */
export async function post(body, opts = {}) {
  const {
    url = BASE,
    contentType,
    headers = {},
    timeout = 15000,
    cookies,
    method = 'POST',
  } = opts;
  let payload;
  let ct = contentType;
  if (body === undefined || body === null) {
    payload = undefined;
  } else if (typeof body === 'string') {
    payload = Buffer.from(body, 'utf8');
  } else if (Buffer.isBuffer(body)) {
    payload = body;
  } else {
    payload = Buffer.from(JSON.stringify(body), 'utf8');
    if (ct === undefined) ct = 'application/json;charset=UTF-8';
  }
  const h = { ...headers };
  if (ct) h['content-type'] = ct;
  if (cookies && cookies.size) {
    h.cookie = [...cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
  const started = now();
  const deadline = Math.ceil(timeout);
  let res;
  let text;
  try {
    res = await fetch(url, {
      method,
      headers: h,
      body: payload,
      signal: AbortSignal.timeout(deadline),
      redirect: 'manual',
    });
    text = await res.text();
  } catch (e) {
    const what = describe(body);
    if (e?.name === 'TimeoutError' || e?.name === 'AbortError') {
      throw new Error(`no response within ${deadline} ms to ${method} ${url} ${what}`);
    }
    throw new Error(`${method} ${url} ${what} failed: ${e?.cause?.code ?? e?.cause?.message ?? e?.message}`);
  }
  const ms = now() - started;
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  if (cookies) {
    for (const sc of res.headers.getSetCookie()) {
      const first = sc.split(';')[0];
      const eq = first.indexOf('=');
      if (eq > 0) cookies.set(first.slice(0, eq).trim(), first.slice(eq + 1).trim());
    }
  }
  return { status: res.status, headers: res.headers, text, json, ms };
}

/** A short description of a request body, for error messages. */
function describe(body) {
  if (Array.isArray(body)) return `[${body.map((m) => m?.channel).join(',')}]`;
  if (body && typeof body === 'object' && !Buffer.isBuffer(body)) return `{${body.channel}}`;
  return `(${typeof body === 'string' ? body.length : body?.length ?? 0} bytes)`;
}

/**
 * A raw HTTP/1.1 request on a TCP socket, for what fetch cannot do: declare a
 * Content-Length and send only part of the body, or stream a chunked body and stop. Write
 * errors (a server that answers early and closes) are ignored: what counts is the response.
 * chunks: Buffers, sent in order (framed as chunks when chunked is true).
 * stallAfterChunks: do not finish the body (no last chunk), wait for the answer.
 * Resolves { status, headers, text, ms, wrote } once a response is complete (or the
 * server closed after sending one); rejects after `timeout` ms without one.
 */
export function rawRequest({ method = 'POST', path, headers = {}, chunks = [], chunked = false, stallAfterChunks = false, timeout = 5000 }) {
  return new Promise((resolve, reject) => {
    const started = now();
    let done = false;
    let wrote = 0;
    let received = Buffer.alloc(0);
    let head = null; // { status, headers, bodyStart, length }
    const sock = net.connect({ host: BASE_URL.hostname, port: Number(BASE_URL.port || 80) });
    const finish = (err) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      if (head) {
        const body = received.subarray(head.bodyStart);
        resolve({ status: head.status, headers: head.headers, text: body.toString('utf8'), ms: now() - started, wrote });
      } else {
        reject(err ?? new Error(`connection closed without a response (wrote ${wrote} bytes)`));
      }
    };
    const timer = setTimeout(() => finish(new Error(`no response within ${timeout} ms (wrote ${wrote} bytes)`)), timeout);
    sock.on('data', (d) => {
      received = Buffer.concat([received, d]);
      if (!head) {
        const end = received.indexOf('\r\n\r\n');
        if (end < 0) return;
        const lines = received.subarray(0, end).toString('latin1').split('\r\n');
        const status = Number(lines[0].split(' ')[1]);
        const h = {};
        for (const l of lines.slice(1)) {
          const i = l.indexOf(':');
          if (i > 0) h[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
        }
        head = { status, headers: h, bodyStart: end + 4, length: h['content-length'] !== undefined ? Number(h['content-length']) : undefined };
      }
      if (head.length !== undefined && received.length - head.bodyStart >= head.length) finish();
    });
    sock.on('error', () => { /* EPIPE/ECONNRESET while writing: wait for 'close' */ });
    sock.on('close', () => finish());
    sock.on('connect', async () => {
      const lines = [`${method} ${path ?? (BASE_URL.pathname + BASE_URL.search)} HTTP/1.1`, `Host: ${BASE_URL.host}`, 'Connection: close'];
      for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
      if (chunked) lines.push('Transfer-Encoding: chunked');
      const write = (buf) => new Promise((ok) => {
        if (done || sock.destroyed) { ok(false); return; }
        wrote += buf.length;
        if (sock.write(buf)) ok(true);
        else { sock.once('drain', () => ok(true)); sock.once('close', () => ok(false)); }
      });
      await write(Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1'));
      for (const c of chunks) {
        const framed = chunked ? Buffer.concat([Buffer.from(`${c.length.toString(16)}\r\n`), c, Buffer.from('\r\n')]) : c;
        if (!(await write(framed))) return;
      }
      if (!stallAfterChunks && chunked) await write(Buffer.from('0\r\n\r\n'));
    });
  });
}

/** Normalize a header value for comparison: lowercase, no blanks. */
export const norm = (v) => (v ?? '').toLowerCase().replace(/\s+/g, '');

// ---------------------------------------------------------------------------------------
// Messages

/** A reply to one of our messages (meta reply, publish ack, service reply). */
export const isReply = (m) => m && typeof m === 'object' && 'successful' in m;
/** A delivered event: a message on a non-meta channel that is not a reply. */
export const isEvent = (m) => m && typeof m === 'object' && !('successful' in m) &&
  typeof m.channel === 'string' && !m.channel.startsWith('/meta/');

/**
 * Stands for the reply when the response holds none for our message, so that assertion
 * messages show what came instead. It has no `successful`, so no assertion on it passes.
 */
export function noReply(res) {
  return { noReply: true, httpStatus: res.status, body: res.text.length > 300 ? `${res.text.slice(0, 300)}...` : res.text };
}

/** Shorten a long string (e.g. a 1024-byte channel name) for a message. */
export function short(s, n = 80) {
  const t = typeof s === 'string' ? s : JSON.stringify(s);
  return t && t.length > n ? `${t.slice(0, n / 2)}...(${t.length} chars)...${t.slice(-n / 4)}` : t;
}

/** The reply in `messages` whose id is `id` (deep-equal, so numbers match numbers). */
export function byId(messages, id) {
  if (!Array.isArray(messages)) return undefined;
  return messages.find((m) => m && typeof m === 'object' && m.id === id);
}

// ---------------------------------------------------------------------------------------
// A client: one session, its own cookie jar (CometD binds sessions to a browser cookie).

export class Client {
  constructor(name = 'c') {
    this.name = name;
    this.cookies = new Map();
    this.clientId = undefined;
    this.handshakeReply = undefined;
    this.advice = undefined;
    this.ended = false;
    /** Events that arrived in responses other than connect() results. */
    this.inbox = [];
  }

  id() { return nextId(this.name); }

  /** POST messages (object or array) with this client's cookies. */
  post(body, opts = {}) {
    return post(body, { cookies: this.cookies, timeout: this.requestTimeout(), ...opts });
  }

  /** Deadline for one request: long enough for a held connect, then some. */
  requestTimeout() {
    const t = this.advice?.timeout ?? ENV.timeout ?? 2000;
    return t + 8000;
  }

  /**
   * Send a batch; returns the HTTP result plus `messages` (the parsed array). Events that
   * ride in the response (a server may deliver with any response) go to `this.inbox`,
   * where collect() finds them, unless opts.keepEvents (connect() keeps its own).
   */
  async send(messages, opts = {}) {
    const { keepEvents, ...rest } = opts;
    const r = await this.post(messages, rest);
    const list = Array.isArray(r.json) ? r.json : [];
    if (!keepEvents) for (const m of list) if (isEvent(m)) this.inbox.push(m);
    return { ...r, messages: list };
  }

  /** Handshake. Fills clientId and advice when it succeeds. Returns {res, reply}. */
  async handshake(fields = {}) {
    const msg = {
      channel: '/meta/handshake',
      version: '1.0',
      minimumVersion: '1.0',
      supportedConnectionTypes: ['long-polling'],
      id: this.id(),
      ...fields,
    };
    const res = await this.send([msg]);
    const reply = byId(res.messages, msg.id) ?? res.messages.find((m) => m?.channel === '/meta/handshake');
    if (reply?.successful) {
      this.clientId = reply.clientId;
      this.handshakeReply = reply;
      this.advice = reply.advice;
    }
    return { res, reply, msg };
  }

  connectMessage(fields = {}) {
    return {
      channel: '/meta/connect',
      clientId: this.clientId,
      connectionType: 'long-polling',
      id: this.id(),
      ...fields,
    };
  }

  /**
   * One /meta/connect. Returns { res, reply (the connect reply), events, messages, ms }.
   * fields: extra message fields (e.g. advice). opts: request options.
   */
  async connect(fields = {}, opts = {}) {
    const msg = this.connectMessage(fields);
    const res = await this.send([msg], { ...opts, keepEvents: true });
    const reply = byId(res.messages, msg.id) ?? res.messages.find((m) => m?.channel === '/meta/connect') ?? noReply(res);
    return { res, reply, events: res.messages.filter(isEvent), messages: res.messages, ms: res.ms, msg };
  }

  async meta(channel, fields = {}) {
    const msg = { channel, clientId: this.clientId, id: this.id(), ...fields };
    const res = await this.send([msg]);
    return { res, reply: byId(res.messages, msg.id) ?? noReply(res), events: res.messages.filter(isEvent), msg };
  }

  subscribe(subscription, fields = {}) {
    return this.meta('/meta/subscribe', { subscription, ...fields });
  }

  unsubscribe(subscription, fields = {}) {
    return this.meta('/meta/unsubscribe', { subscription, ...fields });
  }

  publish(channel, data, fields = {}) {
    return this.meta(channel, { data, ...fields });
  }

  /** Publish several messages in one request, in order. */
  async publishBatch(channel, datas) {
    const msgs = datas.map((data) => ({ channel, data, clientId: this.clientId, id: this.id() }));
    const res = await this.send(msgs);
    return { res, replies: msgs.map((m) => byId(res.messages, m.id)) };
  }

  async disconnect() {
    if (!this.clientId || this.ended) return undefined;
    this.ended = true;
    try {
      return await this.meta('/meta/disconnect');
    } catch {
      return undefined;
    }
  }

  /**
   * Connect repeatedly, collecting delivered events, until `until(event)` holds for one of
   * them or `ms` passes. Returns the events (in arrival order) up to and including the one
   * that matched; `found` tells whether it did.
   */
  async collect(until, ms) {
    const deadline = now() + ms;
    const events = [];
    const others = [];
    const take = (list) => {
      for (const e of list) {
        events.push(e);
        if (until(e)) return true;
      }
      return false;
    };
    while (now() < deadline) {
      // Events that came with other responses first, then a connect.
      const early = this.inbox.splice(0);
      const i = early.findIndex((e) => until(e));
      if (i >= 0) {
        this.inbox.unshift(...early.slice(i + 1));
        take(early.slice(0, i + 1));
        return { events, others, found: true };
      }
      take(early);
      const left = Math.max(1, deadline - now());
      const { reply, events: ev, messages } = await this.connect({}, { timeout: Math.max(left, 100) + 4000 });
      // Anything else that rode along (e.g. a meta message that should never be delivered).
      for (const m of messages) if (m !== reply && !isEvent(m)) others.push(m);
      const j = ev.findIndex((e) => until(e));
      if (j >= 0) {
        this.inbox.push(...ev.slice(j + 1));
        take(ev.slice(0, j + 1));
        return { events, others, found: true };
      }
      take(ev);
      if (!reply?.successful) {
        return { events, others, found: false, failed: reply };
      }
    }
    return { events, others, found: false };
  }
}

/** Timing read from a handshake reply, falling back to the environment. */
export function timingOf(client) {
  const a = client?.advice ?? {};
  const timeout = typeof a.timeout === 'number' ? a.timeout : (ENV.timeout ?? 2000);
  const interval = typeof a.interval === 'number' ? a.interval : (ENV.interval ?? 0);
  const maxInterval = typeof a.maxInterval === 'number' && a.maxInterval > 0
    ? a.maxInterval
    : ENV.maxInterval;
  return {
    timeout,
    interval,
    get maxInterval() {
      if (maxInterval === undefined) {
        throw new Error('the server gives no advice.maxInterval: set BAYEUX_MAX_INTERVAL (ms)');
      }
      return maxInterval;
    },
  };
}

/**
 * A handshaken client, disconnected when the test ends.
 * opts.connect: also send the first /meta/connect (default true).
 */
export async function session(t, opts = {}) {
  const c = new Client(opts.name ?? 'c');
  const { reply } = await c.handshake(opts.handshake ?? {});
  if (!reply?.successful) {
    throw new Error(`handshake failed: ${JSON.stringify(reply)}`);
  }
  t.after(() => c.disconnect());
  if (opts.connect !== false) {
    const { reply: cr } = await c.connect();
    if (!cr?.successful) throw new Error(`first connect failed: ${JSON.stringify(cr)}`);
  }
  return c;
}

/** `n` sessions at once. */
export function sessions(t, n, opts = {}) {
  return Promise.all(Array.from({ length: n }, (_, i) => session(t, { name: `${opts.name ?? 'c'}${i}x`, ...opts })));
}

/** A subscribe that must succeed. */
export async function mustSubscribe(c, subscription) {
  const { reply } = await c.subscribe(subscription);
  if (!reply?.successful) throw new Error(`subscribe ${JSON.stringify(subscription)} failed: ${JSON.stringify(reply)}`);
  return reply;
}

/** A publish that must succeed. */
export async function mustPublish(c, channel, data) {
  const { reply } = await c.publish(channel, data);
  if (!reply?.successful) throw new Error(`publish to ${channel} failed: ${JSON.stringify(reply)}`);
  return reply;
}

/**
 * Deliveries `c` gets up to a sentinel: `c` must be subscribed to `sentinel` and the
 * sentinel published (by the same publisher, after the messages under test). Fails when the
 * sentinel does not arrive within `ms`.
 */
export async function upToSentinel(c, sentinel, ms) {
  const { events, others, found, failed } = await c.collect((e) => e.channel === sentinel, ms);
  if (!found) {
    throw new Error(`sentinel on ${sentinel} not delivered within ${ms} ms` +
      (failed ? `; connect failed: ${JSON.stringify(failed)}` : '') +
      `; got ${JSON.stringify(events)}`);
  }
  const got = events.slice(0, -1);
  Object.defineProperty(got, "others", { value: others, enumerable: false });
  return got;
}

/**
 * Run independent parts of one test concurrently; when some fail, fail with all their
 * messages (each prefixed by the part's name), so one broken part does not hide another.
 */
export async function parts(named) {
  const entries = Object.entries(named);
  const results = await Promise.allSettled(entries.map(([, fn]) => fn()));
  const failed = results
    .map((r, i) => (r.status === 'rejected' ? `[${entries[i][0]}] ${r.reason?.message ?? r.reason}` : null))
    .filter(Boolean);
  if (failed.length === 1 && entries.length === 1) throw results[0].reason;
  if (failed.length) {
    const e = new Error(failed.join('\n'));
    e.name = 'AssertionError';
    throw e;
  }
}

/** An id that no server issued: 32 hex digits. */
export const UNKNOWN_ID = 'f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0';

export const HANDSHAKE_ADVICE = { reconnect: 'handshake', interval: 0 };
