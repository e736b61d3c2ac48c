// A DOM for the CometD client's callback-polling (JSONP) transport under Node: jsdom, with
// scripts run and external scripts really fetched over HTTP, installed as the global
// `window` that the CometD client and cometd-nodejs-client use.
//
// CometD's CallbackPollingTransport inserts `<script src="<endpoint>?jsonp=_cometd_jsonp_N
// &message=...">` into `window.document`'s head and defines `window._cometd_jsonp_N`; jsdom
// fetches the script from the server (its own HTTP client, loopback) and runs it in the
// window, which calls that function with the replies. Nothing of the transport is replaced.
//
// Import this module before lib/cometd.mjs: `adapt()` then puts its XMLHttpRequest and
// WebSocket on this window instead of creating a bare object.

import { after } from 'node:test';
import { JSDOM, ResourceLoader } from 'jsdom';
import { BAYEUX_URL } from './env.mjs';

/** Every script request jsdom made: `{ url, status, contentType }` (status once answered). */
export const scriptRequests = [];

class RecordingLoader extends ResourceLoader {
  fetch(url, options) {
    const record = { url, status: null, contentType: null };
    scriptRequests.push(record);
    const promise = super.fetch(url, options);
    promise.then(
      () => {
        record.status = promise.response?.statusCode ?? null;
        record.contentType = promise.response?.headers?.['content-type'] ?? null;
      },
      (e) => {
        record.status = `failed: ${e.message}`;
      },
    );
    return promise;
  }
}

if (globalThis.window) {
  throw new Error('lib/dom.mjs must be imported before anything that sets a global window (lib/cometd.mjs)');
}

const dom = new JSDOM('<!DOCTYPE html><html><head></head><body></body></html>', {
  // Same origin as the endpoint, as a page served by the Bayeux server would be.
  url: new URL('/', BAYEUX_URL).href,
  runScripts: 'dangerously',
  resources: new RecordingLoader(),
});

// HTML's `script.async` reflects the `async` content attribute; jsdom 26 does not implement
// it, so CometD's `script.async = true` would be a mere expando, and jsdom would run the
// inserted scripts in insertion order: the script of a held /meta/connect would hold back
// every later reply (subscribe, publish) until the connect returns. A browser runs each as
// soon as it is loaded, as jsdom does for scripts with the attribute. This adds the
// reflection; nothing else of the DOM or of the client changes.
if (!Object.getOwnPropertyDescriptor(dom.window.HTMLScriptElement.prototype, 'async')) {
  Object.defineProperty(dom.window.HTMLScriptElement.prototype, 'async', {
    configurable: true,
    enumerable: true,
    get() {
      return this.hasAttribute('async');
    },
    set(value) {
      if (value) this.setAttribute('async', '');
      else this.removeAttribute('async');
    },
  });
}

globalThis.window = dom.window;

after(() => dom.window.close());
