// Faye 1.4 (npm `faye`, its Node adapter, memory engine) as a benchmark peer.
//   node benches/peers/faye.mjs <port> <timeout-ms>
// Listens on 127.0.0.1:<port>, endpoint /cometd (long-polling and WebSocket on the same URL).
// Faye's `timeout` option is in seconds: the hold time of /meta/connect, as herald's --timeout.
import http from 'node:http';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const faye = require('faye');

const port = Number(process.argv[2] ?? 18302);
const timeoutMs = Number(process.argv[3] ?? 10000);

const adapter = new faye.NodeAdapter({ mount: '/cometd', timeout: timeoutMs / 1000 });
const server = http.createServer((req, res) => {
  res.writeHead(404, { 'content-type': 'text/plain' });
  res.end('not found\n');
});
adapter.attach(server);
// Held connects last up to the timeout: keep Node's own request limits above it.
server.requestTimeout = timeoutMs + 60000;

server.listen(port, '127.0.0.1', 4096, () => {
  const v = require('faye/package.json').version;
  console.log(`faye ${v} listening on http://127.0.0.1:${port}/cometd (timeout ${timeoutMs} ms)`);
});

const stop = () => {
  server.close();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
