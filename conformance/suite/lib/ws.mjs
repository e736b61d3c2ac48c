// A minimal WebSocket client (RFC 6455) on node:http, for the conformance suite.
//
// Node 20 has no WebSocket client without a flag, and the suite needs to see what a
// library would hide anyway: the upgrade response's headers, the close code, frames as
// they come (one frame = one JSON array), and to send frames a library would not (binary,
// not JSON). Client frames are masked; server frames are read whole, with continuation
// frames joined and pings answered.

import http from 'node:http';
import crypto from 'node:crypto';
import { BASE_URL, now } from './bayeux.mjs';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/**
 * Open a WebSocket on the endpoint (or `path`). Resolves with a socket object once the
 * server answered 101; rejects with { status, headers, text } when it answered otherwise.
 * opts.extensions: Sec-WebSocket-Extensions to offer; opts.protocols: sub-protocols.
 */
export function openWs(opts = {}) {
  const { path = BASE_URL.pathname, headers = {}, extensions, protocols, timeout = 5000 } = opts;
  const key = crypto.randomBytes(16).toString('base64');
  const h = {
    Connection: 'Upgrade',
    Upgrade: 'websocket',
    'Sec-WebSocket-Version': '13',
    'Sec-WebSocket-Key': key,
    ...headers,
  };
  if (extensions) h['Sec-WebSocket-Extensions'] = extensions;
  if (protocols) h['Sec-WebSocket-Protocol'] = protocols;
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: BASE_URL.hostname, port: BASE_URL.port || 80, path, method: 'GET', headers: h, agent: false,
    });
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error(`WebSocket upgrade: no answer within ${timeout} ms`));
    }, timeout);
    req.on('upgrade', (res, socket, head) => {
      clearTimeout(timer);
      const accept = crypto.createHash('sha1').update(key + GUID).digest('base64');
      if (res.headers['sec-websocket-accept'] !== accept) {
        socket.destroy();
        reject(new Error(`bad Sec-WebSocket-Accept: ${res.headers['sec-websocket-accept']}`));
        return;
      }
      resolve(new WsSocket(socket, head, res));
    });
    req.on('response', (res) => {
      clearTimeout(timer);
      const parts = [];
      res.on('data', (c) => parts.push(c));
      res.on('end', () => {
        const err = new Error(`WebSocket upgrade refused: HTTP ${res.statusCode}`);
        Object.assign(err, { status: res.statusCode, headers: res.headers, text: Buffer.concat(parts).toString() });
        reject(err);
      });
    });
    req.on('error', (e) => { clearTimeout(timer); reject(e); });
    req.end();
  });
}

export class WsSocket {
  constructor(socket, head, res) {
    this.socket = socket;
    this.headers = res.headers;
    this.buf = Buffer.alloc(0);
    this.frames = []; // received data frames not yet taken: { at, opcode, data (Buffer), text, json }
    this.waiters = [];
    this.fragments = null;
    this.closeInfo = null; // { code, reason, at } once the server closed (or the socket ended)
    this.closedPromise = new Promise((r) => { this.resolveClosed = r; });
    socket.setNoDelay(true);
    socket.on('data', (d) => this.onData(d));
    socket.on('close', () => this.finish(1006, 'socket closed without a close frame'));
    socket.on('error', () => this.finish(1006, 'socket error'));
    if (head && head.length) this.onData(head);
  }

  finish(code, reason) {
    if (!this.closeInfo) this.closeInfo = { code, reason, at: now() };
    this.resolveClosed(this.closeInfo);
    this.wake();
  }

  wake() {
    const ws = this.waiters.splice(0);
    for (const w of ws) w();
  }

  onData(d) {
    this.buf = Buffer.concat([this.buf, d]);
    for (;;) {
      if (this.buf.length < 2) return;
      const b0 = this.buf[0];
      const b1 = this.buf[1];
      const fin = (b0 & 0x80) !== 0;
      const opcode = b0 & 0x0f;
      const masked = (b1 & 0x80) !== 0;
      let len = b1 & 0x7f;
      let off = 2;
      if (len === 126) {
        if (this.buf.length < 4) return;
        len = this.buf.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (this.buf.length < 10) return;
        len = Number(this.buf.readBigUInt64BE(2));
        off = 10;
      }
      let mask;
      if (masked) {
        if (this.buf.length < off + 4) return;
        mask = this.buf.subarray(off, off + 4);
        off += 4;
      }
      if (this.buf.length < off + len) return;
      let payload = Buffer.from(this.buf.subarray(off, off + len));
      this.buf = this.buf.subarray(off + len);
      if (mask) for (let i = 0; i < payload.length; i++) payload[i] ^= mask[i % 4];
      if (opcode === 0x8) { // close
        const code = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
        const reason = payload.length > 2 ? payload.subarray(2).toString('utf8') : '';
        if (!this.closeInfo) {
          this.closeInfo = { code, reason, at: now() };
          try { this.sendFrame(0x8, payload.subarray(0, 2)); } catch { /* gone */ }
        }
        this.socket.end();
        this.finish(code, reason);
        return;
      }
      if (opcode === 0x9) { // ping
        try { this.sendFrame(0xA, payload); } catch { /* gone */ }
        continue;
      }
      if (opcode === 0xA) continue; // pong
      if (opcode === 0x0) {
        if (!this.fragments) continue;
        this.fragments.parts.push(payload);
        if (!fin) continue;
        payload = Buffer.concat(this.fragments.parts);
        const op = this.fragments.opcode;
        this.fragments = null;
        this.pushFrame(op, payload);
        continue;
      }
      if (!fin) {
        this.fragments = { opcode, parts: [payload] };
        continue;
      }
      this.pushFrame(opcode, payload);
    }
  }

  pushFrame(opcode, data) {
    const frame = { at: now(), opcode, data };
    if (opcode === 0x1) {
      frame.text = data.toString('utf8');
      try { frame.json = JSON.parse(frame.text); } catch { frame.json = undefined; }
    }
    this.frames.push(frame);
    this.wake();
  }

  sendFrame(opcode, payload) {
    const data = Buffer.isBuffer(payload) ? payload : Buffer.from(payload ?? '');
    const len = data.length;
    let header;
    if (len < 126) {
      header = Buffer.alloc(2);
      header[1] = 0x80 | len;
    } else if (len < 65536) {
      header = Buffer.alloc(4);
      header[1] = 0x80 | 126;
      header.writeUInt16BE(len, 2);
    } else {
      header = Buffer.alloc(10);
      header[1] = 0x80 | 127;
      header.writeBigUInt64BE(BigInt(len), 2);
    }
    header[0] = 0x80 | opcode;
    const mask = crypto.randomBytes(4);
    const masked = Buffer.alloc(len);
    for (let i = 0; i < len; i++) masked[i] = data[i] ^ mask[i % 4];
    this.socket.write(Buffer.concat([header, mask, masked]));
  }

  /** Send a text frame; objects and arrays are sent as JSON. */
  send(x) {
    this.sendFrame(0x1, typeof x === 'string' ? x : JSON.stringify(x));
  }

  sendBinary(buf) {
    this.sendFrame(0x2, buf);
  }

  /**
   * The next received data frame for which `pred(frame)` holds (default: any), removing it
   * (and keeping the others). Resolves null after `ms` or when the socket closed first.
   */
  async next(pred = () => true, ms = 5000) {
    const deadline = now() + ms;
    for (;;) {
      const i = this.frames.findIndex(pred);
      if (i >= 0) return this.frames.splice(i, 1)[0];
      if (this.closeInfo) return null;
      const left = deadline - now();
      if (left <= 0) return null;
      await new Promise((r) => {
        const timer = setTimeout(r, left);
        this.waiters.push(() => { clearTimeout(timer); r(); });
      });
    }
  }

  /** The next frame holding a message that satisfies `pred(message)`. */
  nextMessage(pred, ms) {
    return this.next((f) => Array.isArray(f.json) && f.json.some(pred), ms);
  }

  /** Wait for the server to close the socket (or `ms`); resolves closeInfo or null. */
  async closed(ms = 5000) {
    let timer;
    const t = new Promise((r) => { timer = setTimeout(() => r(null), ms); });
    const r = await Promise.race([this.closedPromise, t]);
    clearTimeout(timer);
    return r;
  }

  /** Close from our side (close frame, then end). */
  close(code = 1000) {
    if (this.socket.destroyed) return;
    const p = Buffer.alloc(2);
    p.writeUInt16BE(code, 0);
    try { this.sendFrame(0x8, p); } catch { /* gone */ }
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 500).unref();
  }

  /** Drop the TCP connection without a close frame. */
  destroy() {
    this.socket.destroy();
  }
}
