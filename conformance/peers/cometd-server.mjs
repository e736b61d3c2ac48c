// CometD's Node server (npm cometd-nodejs-server) as a peer for the conformance suite.
//   node conformance/peers/cometd-server.mjs [port]    (or PORT=...)
// Listens on 127.0.0.1:<port>, endpoint /cometd (and /cometd/...), long-polling,
// timeout 2000 ms, interval 0, maxInterval 2000 ms. It registers /service/echo, whose
// handler answers with the request's data (CometD's remote-call reply), as herald's binary
// does. The wrapper answers `/` with a one-line page (the place of herald's demo page,
// HTTP-1) and anything else outside /cometd with 404.
import http from 'node:http';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const cometd = require('cometd-nodejs-server');

const port = Number(process.argv[2] ?? process.env.PORT ?? 18120);
const mount = '/cometd';

const cometdServer = cometd.createCometDServer({
  timeout: 2000,
  interval: 0,
  maxInterval: 2000,
});

const echo = cometdServer.createServerChannel('/service/echo');
echo.addListener('message', (session, channel, message, callback) => {
  // The reply object is what the sender gets back for this message.
  if (message.reply) message.reply.data = message.data;
  callback();
});

const server = http.createServer((req, res) => {
  const path = req.url.split('?')[0];
  if (path === mount || path.startsWith(mount + '/')) {
    cometdServer.handle(req, res);
    return;
  }
  if (path === '/' && req.method === 'GET') {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end('<!doctype html><title>cometd peer</title><p>cometd-nodejs-server peer, endpoint /cometd</p>\n');
    return;
  }
  res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
  res.end('Not found\n');
});
// Held connects last up to 2 s; keep Node's own request timeouts well above that.
server.requestTimeout = 60000;

server.listen(port, '127.0.0.1', () => {
  console.log(`cometd-nodejs-server ${require('cometd-nodejs-server/package.json').version} listening on http://127.0.0.1:${port}${mount}`);
});

const stop = () => {
  cometdServer.close();
  server.close();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
