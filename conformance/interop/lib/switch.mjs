// One session moved from WebSocket to HTTP long-polling by hand (raw frames and POSTs), to
// check who delivers its messages during and after the move (TR-6, TR-7).

import { uniquePrefix, WAIT_MS } from './env.mjs';
import { RawSocket, rawHandshake, rawPost, rawPostOk } from './raw.mjs';

let ids = 0;
const nextId = () => `sw${++ids}`;

/**
 * A session handshaken over a raw WebSocket, connected (its first connect answered) and
 * subscribed to a channel of its own; with `hold`, its next /meta/connect is sent and
 * held. Also a publisher session over HTTP. Resolves with `{ ws, clientId, channel, heldId,
 * publish(seq), poll(), close() }`: `poll()` sends one long-poll /meta/connect for the
 * session and resolves with the messages of its response.
 */
export async function websocketSession({ hold }) {
  const channel = `${uniquePrefix('switch')}/stream`;
  const ws = await RawSocket.open();
  try {
    const hs = await ws.request({
      id: nextId(),
      channel: '/meta/handshake',
      version: '1.0',
      supportedConnectionTypes: ['websocket', 'long-polling'],
    });
    if (!hs.successful) throw new Error(`raw WebSocket handshake failed: ${JSON.stringify(hs)}`);
    const clientId = hs.clientId;
    const connect = (extra = {}) => ({ id: nextId(), channel: '/meta/connect', clientId, connectionType: 'websocket', ...extra });
    const first = await ws.request(connect({ advice: { timeout: 0 } }));
    if (!first.successful) throw new Error(`first /meta/connect on the raw WebSocket failed: ${JSON.stringify(first)}`);
    const sub = await ws.request({ id: nextId(), channel: '/meta/subscribe', clientId, subscription: channel });
    if (!sub.successful) throw new Error(`/meta/subscribe on the raw WebSocket failed: ${JSON.stringify(sub)}`);
    let heldId = null;
    if (hold) {
      const held = connect();
      heldId = held.id;
      ws.send([held]);
    }
    const publisher = await rawHandshake();
    return {
      ws,
      clientId,
      channel,
      heldId,
      publish: (seq) => rawPostOk([{ id: nextId(), channel, clientId: publisher, data: { seq } }], `publish #${seq} over HTTP`),
      poll: () => longPoll(clientId),
      close: async () => {
        await ws.close();
        await rawPost([{ id: nextId(), channel: '/meta/disconnect', clientId }]).catch(() => {});
        await rawPost([{ id: nextId(), channel: '/meta/disconnect', clientId: publisher }]).catch(() => {});
      },
    };
  } catch (e) {
    ws.socket.terminate();
    throw e;
  }
}

/** One long-poll /meta/connect for `clientId`; resolves with the messages of the response. */
async function longPoll(clientId) {
  const id = nextId();
  const res = await rawPost([{ id, channel: '/meta/connect', clientId, connectionType: 'long-polling' }], { timeoutMs: WAIT_MS });
  if (res.status !== 200 || !Array.isArray(res.json)) {
    throw new Error(`long-poll /meta/connect: expected HTTP 200 and a JSON array, got ${res.status}: ${res.text.slice(0, 300)}`);
  }
  const reply = res.json.find((m) => m.channel === '/meta/connect' && m.id === id);
  if (!reply?.successful) throw new Error(`long-poll /meta/connect for ${clientId} failed: ${res.text.slice(0, 400)}`);
  return res.json;
}

/** The `seq` of the messages on `channel` in a list of received messages. */
export function seqsOn(messages, channel) {
  return messages.filter((m) => m.channel === channel && m.data !== undefined).map((m) => m.data.seq);
}

/**
 * Long-polls (one /meta/connect after another) until `count` messages on the session's
 * channel came in, or `ms` passed (then fails, saying what came); resolves with their
 * `seq`s in arrival order.
 */
export async function pollFor(session, count, what, ms = 5_000) {
  const deadline = Date.now() + ms;
  const got = [];
  while (got.length < count && Date.now() < deadline) {
    got.push(...seqsOn(await session.poll(), session.channel));
  }
  if (got.length < count) {
    throw new Error(`timed out after ${ms} ms long-polling for ${what}: got ${JSON.stringify(got)}`);
  }
  return got;
}
