// CometD's Node server (npm `cometd-nodejs-server`, long-polling only) as a benchmark peer.
//   node benches/peers/cometd.mjs <port> <timeout-ms>
// Listens on 127.0.0.1:<port>, endpoint /cometd (and /cometd/...). timeout = hold time of
// /meta/connect, interval 0, maxInterval 10000 ms: herald's defaults, with the same timeout.
import http from 'node:http';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const cometd = require('cometd-nodejs-server');

const port = Number(process.argv[2] ?? 18303);
const timeoutMs = Number(process.argv[3] ?? 10000);
const mount = '/cometd';

const cometdServer = cometd.createCometDServer({
  timeout: timeoutMs,
  interval: 0,
  maxInterval: 10000,
});

const server = http.createServer((req, res) => {
  const path = req.url.split('?')[0];
  if (path === mount || path.startsWith(mount + '/')) {
    cometdServer.handle(req, res);
    return;
  }
  res.writeHead(404, { 'content-type': 'text/plain' });
  res.end('not found\n');
});
// Held connects last up to the timeout: keep Node's own request limits above it.
server.requestTimeout = timeoutMs + 60000;

server.listen(port, '127.0.0.1', 4096, () => {
  const v = require('cometd-nodejs-server/package.json').version;
  console.log(`cometd-nodejs-server ${v} listening on http://127.0.0.1:${port}${mount} (timeout ${timeoutMs} ms)`);
});

const stop = () => {
  cometdServer.close();
  server.close();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
