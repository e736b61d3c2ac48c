// A WebSocket client written on a bare TCP socket, so a test can do what no well-behaved
// client library does: stop reading while it goes on sending, or flood pings.

import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';

/** One masked client frame (RFC 6455 §5.2). */
export function frame(opcode, payload) {
  const data = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
  const length = data.length;
  const head = length < 126 ? Buffer.alloc(2) : length < 65536 ? Buffer.alloc(4) : Buffer.alloc(10);
  head[0] = 0x80 | opcode;
  if (length < 126) head[1] = 0x80 | length;
  else if (length < 65536) {
    head[1] = 0x80 | 126;
    head.writeUInt16BE(length, 2);
  } else {
    head[1] = 0x80 | 127;
    head.writeBigUInt64BE(BigInt(length), 2);
  }
  const mask = randomBytes(4);
  const masked = Buffer.alloc(length);
  for (let i = 0; i < length; i++) masked[i] = data[i] ^ mask[i % 4];
  return Buffer.concat([head, mask, masked]);
}

/**
 * Opens a WebSocket to `url` (http://…). Resolves with `{ socket, sendText(text),
 * nextText(), closed }`: `nextText` resolves with the next text frame's payload (only
 * while the test keeps reading); `closed` resolves when the server closes the connection.
 */
export function openRaw(url) {
  const { hostname, port, pathname } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port) });
    let buffer = Buffer.alloc(0);
    let upgraded = false;
    const texts = [];
    const waiters = [];
    let closedResolve;
    const closed = new Promise((r) => (closedResolve = r));
    socket.on('error', () => {});
    socket.on('close', () => closedResolve());
    socket.on('connect', () => {
      socket.write(
        `GET ${pathname} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
    });
    socket.on('data', (chunk) => {
      buffer = Buffer.concat([buffer, chunk]);
      if (!upgraded) {
        const end = buffer.indexOf('\r\n\r\n');
        if (end < 0) return;
        if (!buffer.subarray(0, 12).toString().includes('101')) return reject(new Error(buffer.toString()));
        upgraded = true;
        buffer = buffer.subarray(end + 4);
        resolve(api);
      }
      // Unmasked server frames: text frames are kept, the rest skipped.
      for (;;) {
        if (buffer.length < 2) return;
        let length = buffer[1] & 0x7f;
        let offset = 2;
        if (length === 126) {
          if (buffer.length < 4) return;
          length = buffer.readUInt16BE(2);
          offset = 4;
        } else if (length === 127) {
          if (buffer.length < 10) return;
          length = Number(buffer.readBigUInt64BE(2));
          offset = 10;
        }
        if (buffer.length < offset + length) return;
        const opcode = buffer[0] & 0x0f;
        const payload = buffer.subarray(offset, offset + length);
        buffer = buffer.subarray(offset + length);
        if (opcode === 1) {
          const waiter = waiters.shift();
          if (waiter) waiter(payload.toString());
          else texts.push(payload.toString());
        }
      }
    });
    const api = {
      socket,
      closed,
      sendText: (text) => socket.write(frame(1, text)),
      nextText: () => (texts.length ? Promise.resolve(texts.shift()) : new Promise((r) => waiters.push(r))),
    };
  });
}

/** The resident memory of process `pid`, in bytes (Linux). */
export async function rss(pid) {
  const { readFile } = await import('node:fs/promises');
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(status.match(/VmRSS:\s+(\d+) kB/)[1]) * 1024;
}
