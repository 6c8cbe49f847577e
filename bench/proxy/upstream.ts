/**
 * The API of the proxy benchmark: node:http answering a 1 KiB JSON to every
 * request whose bearer token is the expected one (401 otherwise), keep-alive.
 * Prints `{"url"}` once listening.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

const expected = `Bearer ${process.env.BENCH_SECRET}`;
const body = JSON.stringify({ items: Array.from({ length: 16 }, (_, i) => ({ id: `item_${i}`, name: `Item number ${i}`, price: 1000 + i, currency: 'EUR' })) });
const server = createServer((req, res) => {
  req.resume();
  req.once('end', () => {
    if (req.headers.authorization !== expected) {
      res.writeHead(401, { 'content-type': 'application/json', 'content-length': '2' });
      return res.end('{}');
    }
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) });
    res.end(body);
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => process.stdout.write(JSON.stringify({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }) + '\n'));
// Stopped by the benchmark: exit normally (so `--cpu-prof` writes its profile).
process.on('SIGTERM', () => process.exit(0));
