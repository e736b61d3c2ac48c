// Bounded waiting: every wait in the interop tests goes through here, so that a missing
// reply or delivery fails with a message that says what was expected, never a hang.

import { WAIT_MS } from './env.mjs';

/** Resolves/rejects like `promise`, but rejects after `ms` with "timed out waiting for <what>". */
export function withTimeout(promise, what, ms = WAIT_MS) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([Promise.resolve(promise), timeout]).finally(() => clearTimeout(timer));
}

/**
 * An append-only list of received items that can be waited on.
 * `waitFor(pred)` resolves with the first item (already recorded or arriving later) that
 * satisfies `pred`; `waitForCount(pred, n)` resolves with the first `n` matching items.
 * `pred` gets `(item, index)`, so `(m, i) => i >= from && ...` looks only at later items.
 */
export class Recorder {
  #items = [];
  #waiters = new Set();

  constructor(name = 'recorder') {
    this.name = name;
  }

  get items() {
    return this.#items.slice();
  }

  get length() {
    return this.#items.length;
  }

  push(item) {
    this.#items.push(item);
    for (const w of [...this.#waiters]) w.check();
  }

  filter(pred) {
    return this.#items.filter(pred);
  }

  waitFor(pred, what, ms = WAIT_MS) {
    return this.waitForCount(pred, 1, what, ms).then((found) => found[0]);
  }

  waitForCount(pred, n, what, ms = WAIT_MS) {
    return new Promise((resolve, reject) => {
      const waiter = {
        check: () => {
          const found = this.#items.filter(pred);
          if (found.length >= n) {
            finish();
            resolve(found.slice(0, n));
          }
        },
      };
      const timer = setTimeout(() => {
        finish();
        const got = this.#items.filter(pred).length;
        reject(
          new Error(
            `timed out after ${ms} ms waiting for ${what} on ${this.name} ` +
              `(matching so far: ${got} of ${n}; ${this.#items.length} items recorded; ` +
              `last: ${summarize(this.#items.slice(-3))})`,
          ),
        );
      }, ms);
      const finish = () => {
        clearTimeout(timer);
        this.#waiters.delete(waiter);
      };
      this.#waiters.add(waiter);
      waiter.check();
    });
  }
}

function summarize(items) {
  const s = JSON.stringify(items);
  return s.length > 400 ? s.slice(0, 400) + '…' : s;
}
