'use strict';
// A small HTTP server for tests/real/node.sh: GET /?n=N answers JSON with N,
// N*N, sha256("heapscope-N") and N % 5000 + 1000 bytes of padding; prints
// "listening PORT pid PID" once it listens on 127.0.0.1:PORT, and on SIGTERM
// "served COUNT", closes and exits 0.
const http = require('http');
const crypto = require('crypto');

const port = Number(process.argv[2]);
const recent = new Map();
let served = 0;
const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://127.0.0.1');
  const n = Number(url.searchParams.get('n') || '0');
  const body = JSON.stringify({
    n,
    square: n * n,
    sha: crypto.createHash('sha256').update('heapscope-' + n).digest('hex'),
    pad: 'x'.repeat(1000 + (n % 5000)),
  });
  recent.set(n % 100, body.length); // bounded: 100 entries at most
  served++;
  res.writeHead(200, { 'Content-Type': 'application/json' });
  res.end(body + '\n');
});
server.keepAliveTimeout = 1000;
server.listen(port, '127.0.0.1', () => console.log('listening ' + port + ' pid ' + process.pid));
process.on('SIGTERM', () => {
  console.log('served ' + served);
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
});
