// Faye 1.4 as a peer for the conformance suite.
//   node conformance/peers/faye-server.mjs [port]      (or PORT=...)
// Listens on 127.0.0.1:<port>, endpoint /cometd, timeout 2 s (Faye's option is in seconds).
// Everything that is not Faye's is answered by the wrapper: `/` with a one-line page (the
// place of herald's demo page, HTTP-1), anything else 404.
import http from 'node:http';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const faye = require('faye');

const port = Number(process.argv[2] ?? process.env.PORT ?? 18110);
const adapter = new faye.NodeAdapter({ mount: '/cometd', timeout: 2 });

const server = http.createServer((req, res) => {
  if (req.url === '/' && req.method === 'GET') {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end('<!doctype html><title>faye peer</title><p>Faye 1.4 peer, endpoint /cometd</p>\n');
    return;
  }
  res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
  res.end('Not found\n');
});
adapter.attach(server);

server.listen(port, '127.0.0.1', () => {
  console.log(`faye ${require('faye/package.json').version} listening on http://127.0.0.1:${port}/cometd`);
});

const stop = () => {
  server.close();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
