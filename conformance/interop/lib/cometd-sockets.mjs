// The WebSockets of the CometD clients, as seen on the wire: cometd-nodejs-client installs
// npm `ws` as `window.WebSocket`; this puts a subclass in its place that records, for every
// socket the clients open, the frames both ways, the clientIds they carried and how and by
// whom the socket was closed. The client's behaviour is unchanged.

import { WebSocket as WsWebSocket } from 'ws';

/** Every WebSocket any CometD client in this process opened, oldest first. */
export const sockets = [];

let installed = false;

/** Replaces `window.WebSocket` (call after `adapt()`). */
export function installSocketRecorder() {
  if (installed) return;
  installed = true;
  globalThis.window.WebSocket = RecordingWebSocket;
}

class RecordingWebSocket extends WsWebSocket {
  constructor(...args) {
    super(...args);
    const record = {
      n: sockets.length + 1,
      url: String(args[0]),
      socket: this,
      /** `{ dir: 'out' | 'in', at, messages }` per frame, `messages` the parsed JSON array. */
      frames: [],
      clientIds: new Set(),
      /** `{ code, reason }` when the client called close(). */
      closedByClient: null,
      /** `{ code, reason }` once the socket is closed (1006: no close frame came back). */
      closed: null,
    };
    this.record = record;
    sockets.push(record);
    this.on('message', (data, isBinary) => record.frames.push(frameOf('in', isBinary ? '<binary>' : String(data), record)));
    this.on('close', (code, reason) => {
      record.closed = { code, reason: String(reason) };
    });
  }

  send(data, ...rest) {
    this.record.frames.push(frameOf('out', String(data), this.record));
    return super.send(data, ...rest);
  }

  close(code, reason) {
    this.record.closedByClient = { code, reason };
    return super.close(code, reason);
  }
}

function frameOf(dir, text, record) {
  let messages;
  try {
    messages = [].concat(JSON.parse(text));
  } catch {
    messages = [{ unparsable: text.slice(0, 200) }];
  }
  for (const m of messages) {
    if (m && typeof m.clientId === 'string') record.clientIds.add(m.clientId);
  }
  return { dir, at: Date.now(), messages };
}

/** Whether the socket is still open (or opening). */
export function isOpen(record) {
  return record.socket.readyState === WsWebSocket.CONNECTING || record.socket.readyState === WsWebSocket.OPEN;
}

/** The frames of a socket as short text, e.g. `out [/meta/disconnect#5] | in [/meta/connect#3 ok]`. */
export function describeFrames(record, from = 0) {
  return record.frames
    .slice(from)
    .map((f) => `${f.dir} [${f.messages.map(brief).join(', ')}]`)
    .join(' | ');
}

function brief(m) {
  if (!m || typeof m !== 'object') return JSON.stringify(m);
  let s = `${m.channel}#${m.id ?? '-'}`;
  if (m.successful !== undefined) s += m.successful ? ' ok' : ` failed ${m.error ?? ''}`;
  if (m.advice?.reconnect) s += ` reconnect=${m.advice.reconnect}`;
  if (m.data !== undefined && !String(m.channel).startsWith('/meta/')) s += ` data=${JSON.stringify(m.data).slice(0, 40)}`;
  return s;
}
