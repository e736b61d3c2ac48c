// An EventSource client that stops reading (spec/limits.md, LIM-4): its stream is pulled
// only as fast as its socket takes what was written, so before the fix its messages waited
// in its queue up to max_queue_bytes and its session lived on. Now its session is cut off
// once its stream has taken nothing for the write timeout, and a healthy EventSource
// subscriber beside it gets everything.

import test, { after } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { bayeux, startHerald, sleep } from '../apps/lib/herald.mjs';
import { rss } from './lib/raw-ws.mjs';

const WRITE_MS = 2_000;
// A queue limit far above what is published, so only the stall can end the session; the
// publisher floods from one session, so the publish rate (LIM-12) is lifted for it.
const herald = await startHerald({ after }, '', {
  args: ['--write-timeout', String(WRITE_MS), '--max-queue-bytes', String(256 * 1024 * 1024), '--max-publish-rate', '0'],
});
const post = (messages) => bayeux(herald, messages);
const handshake = { channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['eventsource'] };
const path = new URL(herald.url).pathname;

async function subscriber(channel) {
  const [hs] = await post([handshake]);
  const [sub] = await post([{ channel: '/meta/subscribe', clientId: hs.clientId, subscription: channel }]);
  assert.equal(sub.successful, true);
  return hs.clientId;
}

/** How many messages on `channel` an EventSource stream has carried so far. */
function countEvents(clientId, channel) {
  const counter = { got: 0, abort: new AbortController() };
  fetch(`${herald.url}/${clientId}`, { headers: { accept: 'text/event-stream' }, signal: counter.abort.signal })
    .then(async (response) => {
      const decoder = new TextDecoder();
      let buffered = '';
      for await (const chunk of response.body) {
        buffered += decoder.decode(chunk, { stream: true });
        let end;
        while ((end = buffered.indexOf('\n\n')) >= 0) {
          const event = buffered.slice(0, end);
          buffered = buffered.slice(end + 2);
          for (const line of event.split('\n')) {
            if (!line.startsWith('data: ')) continue;
            counter.got += JSON.parse(line.slice(6)).filter((m) => m.channel === channel).length;
          }
        }
      }
    })
    .catch(() => {});
  return counter;
}

test('LIM-4: an EventSource subscriber that stops reading is cut off; another gets everything', async () => {
  const channel = '/slow/events';
  const stalledId = await subscriber(channel);
  const stalled = connect(new URL(herald.url).port, '127.0.0.1');
  await new Promise((resolve) => stalled.on('connect', resolve));
  stalled.write(`GET ${path}/${stalledId} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n`);
  stalled.pause();
  const healthy = countEvents(await subscriber(channel), channel);
  await sleep(200);
  const before = await rss(herald.pid);
  // 3,000 messages of 8 KB: 24 MB, several times what loopback's socket buffers hold.
  const [publisher] = await post([handshake]);
  const text = 'x'.repeat(8 * 1024);
  for (let i = 0; i < 30; i++) {
    await post(Array.from({ length: 100 }, (_, j) => ({ channel, clientId: publisher.clientId, data: { i, j, text } })));
  }
  const deadline = Date.now() + 10_000;
  while (healthy.got < 3_000 && Date.now() < deadline) await sleep(50);
  assert.equal(healthy.got, 3_000, 'the healthy subscriber got every message');
  await sleep(WRITE_MS + 2_500);
  const [reply] = await post([{ channel: '/meta/connect', clientId: stalledId, connectionType: 'eventsource' }]);
  assert.equal(reply.successful, false, 'the stalled session was ended');
  assert.match(reply.error, /^402:/);
  assert.equal(reply.advice?.reconnect, 'handshake');
  const grown = (await rss(herald.pid)) - before;
  assert.ok(grown < 64 * 1024 * 1024, `RSS grew ${grown} bytes`);
  const metrics = await (await fetch(`${herald.base}/metrics`)).text();
  assert.match(metrics, /herald_limits_hit_total\{limit="write_timeout"\} 1\b/);
  healthy.abort.abort();
  stalled.destroy();
});
