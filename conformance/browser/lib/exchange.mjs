// The exchange every transport test runs: two real clients, each in its own tab of one
// browser and both forced onto the transport under test, subscribe to a unique channel; one
// publishes several messages and both receive them all, in order; then a wildcard
// subscription (`/…/wild/*`) receives messages published on two of its channels. Every
// delivery must have come over the transport under test, and no WebSocket or EventSource
// stream may drop while the clients are connected.
//
// On failure the error carries the tabs' network, WebSocket and console activity (and Faye's
// own debug log); BROWSER_TEST_TRACE=1 prints that activity for passing tests too.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { bayeuxUrl, openHarness, WAIT_MS } from './browser.mjs';

const COUNT = 5;

export async function exchange(browser, { kind, transport, sameOrigin, staticOrigin }) {
  const url = bayeuxUrl();
  const h = await openHarness(browser, { origin: staticOrigin, sameOrigin, names: ['alice', 'bob'] });
  const { alice, bob } = h.tabs;
  const base = `/browser/${kind}-${transport}-${randomBytes(6).toString('hex')}`;
  try {
    const open = (tab, name) => tab.run(`open ${kind} over ${transport}`,
      (o) => window.harness.open(o), { kind, transport, url, name, timeoutMs: WAIT_MS });
    const a = await open(alice, 'alice');
    const b = await open(bob, 'bob');

    const sub = (tab, id, channel) => tab.run(`subscribe ${channel}`,
      ([i, c, ms]) => window.harness.subscribe(i, c, ms), [id, channel, WAIT_MS]);
    await sub(alice, a, `${base}/room`);
    await sub(bob, b, `${base}/room`);
    await sub(bob, b, `${base}/wild/*`);

    const pub = (channel, items) => alice.run(`publish on ${channel}`,
      ([i, c, d, ms]) => window.harness.publish(i, c, d, ms), [a, channel, items, WAIT_MS]);
    const wait = (tab, id, count, prefix) => tab.run(`wait for ${count} on ${prefix}`,
      ([i, n, p, ms]) => window.harness.waitFor(i, n, p, ms), [id, count, prefix, WAIT_MS]);

    // In order, to every subscriber (the publisher is one of them).
    const sent = Array.from({ length: COUNT }, (_, i) => ({ tag: `${base}#${i}`, seq: i, text: `message ${i} from alice` }));
    await pub(`${base}/room`, sent);
    const atBob = await wait(bob, b, COUNT, `${base}/room`);
    const atAlice = await wait(alice, a, COUNT, `${base}/room`);
    for (const [who, got] of [['bob', atBob], ['alice', atAlice]]) {
      assert.deepEqual(got.map((r) => r.data), sent, `${who} receives every message once, in publish order`);
      assert.ok(got.every((r) => r.channel === `${base}/room`), `${who}: channel of each message`);
    }

    // A wildcard subscription receives from each channel it covers, with the real channel.
    const wild = [
      [`${base}/wild/x`, { tag: `${base}#wx`, text: 'to x' }],
      [`${base}/wild/y`, { tag: `${base}#wy`, text: 'to y' }],
    ];
    for (const [channel, data] of wild) await pub(channel, [data]);
    const viaWild = await wait(bob, b, 2, `${base}/wild/`);
    assert.deepEqual(viaWild.map((r) => [r.channel, r.data]), wild, 'bob receives through /wild/* with each real channel');

    // The push channels stayed up while the clients were connected.
    const dropped = h.lines.filter((l) => /event stream ended|ws closed|ws error/.test(l));
    assert.deepEqual(dropped, [], 'no WebSocket or EventSource stream ended while its client was connected');

    // Every delivery came over the transport under test: no fallback.
    for (const [who, tab, id, got] of [['alice', alice, a, atAlice], ['bob', bob, b, [...atBob, ...viaWild]]]) {
      const info = await tab.run('info', (i) => window.harness.info(i), id);
      assert.equal(info.current, transport, `${who} ends on ${transport}: ${JSON.stringify(info)}`);
      assert.deepEqual(got.filter((r) => r.via !== transport), [], `${who}: every message delivered over ${transport}`);
      assert.ok(info.connects.includes(transport), `${who} sent /meta/connect over ${transport}: ${info.connects}`);
      if (kind === 'cometd') {
        assert.ok(info.connects.every((t) => t === transport), `${who}: every /meta/connect over ${transport}: ${info.connects}`);
      } else {
        // Faye connects over its HTTP handshake carrier until the transport it moves to is
        // ready; after the first connect over the transport under test, it must stay there.
        const first = info.connects.indexOf(transport);
        assert.ok(info.connects.slice(first).every((t) => t === transport),
          `${who}: no fallback after moving to ${transport}: ${info.connects}`);
      }
      assert.deepEqual(info.failures, [], `${who}: no failed meta replies`);
    }
    for (const tab of [alice, bob]) await tab.run('close clients', () => window.harness.closeAll());
  } catch (error) {
    let report = `\n--- tabs' activity (${kind}/${transport}) ---\n${h.lines.slice(-200).join('\n')}`;
    if (kind === 'faye') {
      for (const [name, tab] of Object.entries(h.tabs)) {
        let log = [];
        try { log = await tab.run('faye log', () => window.harness.fayeLog(), undefined, 3000); } catch { /* tab gone */ }
        report += `\n--- Faye log, ${name} ---\n${log.slice(-40).join('\n')}`;
      }
    }
    error.message += report;
    throw error;
  } finally {
    if (process.env.BROWSER_TEST_TRACE) console.error(h.lines.join('\n'));
    await h.close();
  }
}
