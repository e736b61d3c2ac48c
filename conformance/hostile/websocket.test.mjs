// WebSocket clients that stop reading (spec/limits.md, LIM-4, LIM-5): one that floods
// frames and never reads the replies, a subscriber that stops reading while messages flow,
// one that floods pings. Each grew herald's memory without bound before its fix; now each
// is cut off within the write timeout, and a healthy subscriber beside it gets everything.

import test, { after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { bayeux, startHerald, sleep } from '../apps/lib/herald.mjs';
import { frame, openRaw, rss } from './lib/raw-ws.mjs';

const WRITE_MS = 2_000;
// The publisher floods from one session: the publish rate (LIM-12) is lifted for it.
const herald = await startHerald({ after }, '', {
  args: ['--write-timeout', String(WRITE_MS), '--max-publish-rate', '0'],
});
const wsUrl = herald.url.replace('http', 'ws');

const handshake = { channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['websocket'] };

/** A raw client, handshaken, connected and subscribed to `channel` (replies read). */
async function subscribed(channel) {
  const client = await openRaw(herald.url);
  client.sendText(JSON.stringify([handshake]));
  const [hs] = JSON.parse(await client.nextText());
  const clientId = hs.clientId;
  client.sendText(JSON.stringify([{ channel: '/meta/connect', clientId, connectionType: 'websocket' }]));
  await client.nextText();
  client.sendText(JSON.stringify([{ channel: '/meta/subscribe', clientId, subscription: channel }]));
  await client.nextText();
  client.sendText(JSON.stringify([{ channel: '/meta/connect', clientId, connectionType: 'websocket' }]));
  return { client, clientId };
}

const post = (messages) => bayeux(herald, messages);

test('LIM-4: a client that sends frames and never reads the replies is held back, then cut off', async () => {
  const client = await openRaw(herald.url);
  client.sendText(JSON.stringify([handshake]));
  const [hs] = JSON.parse(await client.nextText());
  client.socket.pause();
  const before = await rss(herald.pid);
  // Each frame is 500 publishes; its reply is ~40 KB: 2,000 frames ask for ~80 MB of replies.
  const batch = JSON.stringify(
    Array.from({ length: 500 }, (_, i) => ({ channel: '/nobody', clientId: hs.clientId, data: i, id: `${i}` })),
  );
  const bytes = frame(1, batch);
  for (let i = 0; i < 2_000; i++) client.socket.write(bytes);
  await sleep(WRITE_MS / 2);
  const grown = (await rss(herald.pid)) - before;
  assert.ok(grown < 30 * 1024 * 1024, `herald grew by ${Math.round(grown / 1024 / 1024)} MB`);
  await Promise.race([client.closed, sleep(WRITE_MS + 5_000)]);
  assert.equal(client.socket.destroyed || client.socket.readyState === 'closed', true, 'cut off');
  client.socket.destroy();
});

test('LIM-4: a subscriber that stops reading is cut off and told to handshake again; others get everything', async () => {
  const channel = '/slow/feed';
  const { client: stalled, clientId } = await subscribed(channel);
  stalled.socket.pause();
  // A healthy subscriber on the same channel, with the ws library (it reads as it should).
  const healthy = new WebSocket(wsUrl);
  await new Promise((resolve) => healthy.on('open', resolve));
  let healthyId;
  let got = 0;
  healthy.on('message', (text) => {
    for (const m of JSON.parse(text)) {
      if (m.channel === '/meta/handshake') healthyId = m.clientId;
      if (m.channel === channel && m.data) got += 1;
    }
  });
  healthy.send(JSON.stringify([handshake]));
  while (!healthyId) await sleep(10);
  healthy.send(JSON.stringify([{ channel: '/meta/connect', clientId: healthyId, connectionType: 'websocket' }]));
  healthy.send(JSON.stringify([{ channel: '/meta/subscribe', clientId: healthyId, subscription: channel }]));
  healthy.send(JSON.stringify([{ channel: '/meta/connect', clientId: healthyId, connectionType: 'websocket' }]));
  await sleep(200);
  // 2,000 messages of 8 KB: 16 MB, more than loopback's socket buffers hold.
  const [publisher] = await post([handshake]);
  const text = 'x'.repeat(8 * 1024);
  for (let i = 0; i < 20; i++) {
    const batch = Array.from({ length: 100 }, (_, j) => ({ channel, clientId: publisher.clientId, data: { i, j, text } }));
    await post(batch);
  }
  const deadline = Date.now() + 10_000;
  while (got < 2_000 && Date.now() < deadline) await sleep(50);
  assert.equal(got, 2_000, 'the healthy subscriber got every message');
  await Promise.race([stalled.closed, sleep(WRITE_MS + 5_000)]);
  const [reply] = await post([{ channel: '/meta/connect', clientId, connectionType: 'long-polling' }]);
  assert.equal(reply.successful, false, 'the stalled session was ended');
  assert.match(reply.error, /^402:/);
  assert.equal(reply.advice?.reconnect, 'handshake');
  stalled.socket.destroy();
  healthy.close();
});

test('LIM-5: a client flooding pings without reading the pongs is closed', async () => {
  const client = await openRaw(herald.url);
  client.socket.pause();
  const ping = frame(9, 'p');
  for (let i = 0; i < 20_000; i++) client.socket.write(ping);
  client.socket.resume();
  const closed = await Promise.race([client.closed.then(() => true), sleep(WRITE_MS + 5_000).then(() => false)]);
  assert.ok(closed, 'the server closed the connection');
});
