// herald as the hostile benchmark sees it: a process started on a free loopback port, its
// memory, and its counters of limits hit and sessions ended.

import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
const now = () => performance.now();

/** Starts herald on a free loopback port; resolves with `{ child, url, base, exited }`. */
export async function startHerald(bin) {
  const child = spawn(bin, ['--bind', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const herald = { child, exited: null, output: '', url: null };
  child.on('exit', (code, signal) => (herald.exited = { code, signal, at: now() }));
  // Its log is kept (the last 64 KB, for a crash report); the first line naming the
  // endpoint says it listens.
  let listening;
  const started = new Promise((resolve) => (listening = resolve));
  const read = (chunk) => {
    herald.output = (herald.output + chunk).slice(-64 * 1024);
    herald.url ??= herald.output.match(/http:\/\/127\.0\.0\.1:\d+\/cometd/)?.[0];
    if (herald.url) listening();
  };
  child.stdout.on('data', read);
  child.stderr.on('data', read);
  child.on('error', (error) => (herald.output += String(error)));
  await Promise.race([started, sleep(10_000), new Promise((resolve) => child.on('exit', resolve))]);
  if (!herald.url) throw new Error(`herald did not start:\n${herald.output}`);
  herald.base = new URL('/', herald.url).href.replace(/\/$/, '');
  return herald;
}

export async function stopHerald(herald) {
  if (herald.exited) return;
  const exited = new Promise((resolve) => herald.child.on('exit', resolve));
  herald.child.kill('SIGTERM');
  const timer = setTimeout(() => herald.child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

export async function rssOf(pid) {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    return Number(status.match(/VmRSS:\s+(\d+) kB/)[1]) * 1024;
  } catch {
    return 0;
  }
}

/** herald's counters of limits hit and sessions ended, by label, from /metrics, and the
 * kernel's count of connections its listen queues dropped (the whole machine's). */
export async function counters(herald) {
  const found = new Map();
  try {
    const [names, values] = (await readFile('/proc/net/netstat', 'utf8')).split('\n').filter((line) => line.startsWith('TcpExt:'));
    const value = (name) => Number(values.split(/\s+/)[names.split(/\s+/).indexOf(name)]);
    found.set('kernel listen-queue drops', value('ListenDrops'));
  } catch {}
  try {
    const text = await (await fetch(`${herald.base}/metrics`, { signal: AbortSignal.timeout(3_000) })).text();
    for (const [, metric, label, value] of text.matchAll(/^herald_(limits_hit|sessions_ended)_total\{\w+="([^"]+)"\} (\d+)/gm)) {
      // The once-a-second newcomer disconnects: not the attack's doing.
      if (label === 'disconnected') continue;
      found.set(`${metric === 'limits_hit' ? '' : 'ended '}${label}`, Number(value));
    }
  } catch {}
  return found;
}

/** The difference of herald's counters over an attack, as "limit +n" items. */
export function counted(before, after) {
  const items = [];
  for (const [label, value] of after) {
    const grown = value - (before.get(label) ?? 0);
    if (grown > 0) items.push(`${label} +${grown.toLocaleString('en-US')}`);
  }
  return items.join(', ');
}
