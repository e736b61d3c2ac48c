// A small static server for the browser tests: our own pages (conformance/browser/pages/) and
// the client libraries straight out of conformance/node_modules (nothing third-party is
// copied into the repository).
//
//   /harness.html, /harness.mjs   our pages
//   /cometd/<Name>.js             node_modules/cometd/<Name>.js (ES modules)
//   /faye/faye-browser.js(.map)   node_modules/faye/client/
//
// `resolve(pathname)` is also used to serve the same files at herald's own origin (see
// browser.mjs), for the Faye transports that only work same-origin.

import http from 'node:http';
import { readFile, access } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const here = path.dirname(fileURLToPath(import.meta.url));
const pagesDir = path.resolve(here, '../pages');
const modulesDir = path.resolve(here, '../../node_modules');
const cometdDir = path.join(modulesDir, 'cometd');
const fayeDir = path.join(modulesDir, 'faye', 'client');

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
};

export async function checkClientLibraries() {
  for (const file of [path.join(cometdDir, 'cometd.js'), path.join(fayeDir, 'faye-browser.js')]) {
    try {
      await access(file);
    } catch {
      throw new Error(`${file} is missing: run \`npm ci\` in conformance/ first`);
    }
  }
}

function fileFor(pathname) {
  let m;
  if ((m = /^\/(harness\.html|harness\.mjs)$/.exec(pathname))) return path.join(pagesDir, m[1]);
  if ((m = /^\/cometd\/([A-Za-z0-9]+\.js)$/.exec(pathname))) return path.join(cometdDir, m[1]);
  if ((m = /^\/faye\/(faye-browser\.js(?:\.map)?)$/.exec(pathname))) return path.join(fayeDir, m[1]);
  return null;
}

/** { status, headers, body } for a path, without any HTTP. */
export async function resolve(pathname) {
  if (pathname === '/favicon.ico') return { status: 204, headers: {}, body: Buffer.alloc(0) };
  const file = fileFor(pathname);
  if (file) {
    try {
      const body = await readFile(file);
      return {
        status: 200,
        headers: { 'content-type': TYPES[path.extname(file)] || 'application/octet-stream', 'cache-control': 'no-store' },
        body,
      };
    } catch {
      // fall through to 404
    }
  }
  return { status: 404, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: Buffer.from(`not found: ${pathname}\n`) };
}

/** Starts the server on 127.0.0.1 (an ephemeral port); resolves to { origin, close }. */
export async function startStaticServer() {
  await checkClientLibraries();
  const server = http.createServer(async (req, res) => {
    const { pathname } = new URL(req.url, 'http://x');
    const { status, headers, body } = req.method === 'GET' || req.method === 'HEAD'
      ? await resolve(pathname)
      : { status: 405, headers: { 'content-type': 'text/plain' }, body: Buffer.from('method not allowed\n') };
    res.writeHead(status, { ...headers, 'content-length': body.length });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  await new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', ok);
  });
  const { port } = server.address();
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () => new Promise((ok) => { server.closeAllConnections(); server.close(() => ok()); }),
  };
}
