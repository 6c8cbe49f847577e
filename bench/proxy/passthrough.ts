/**
 * The hand-written pass-through of the proxy benchmark, the least a proxy
 * can do: node:http in, undici out (a keep-alive pool), the path and query
 * appended to the API's URL, a fixed Authorization header added, the body
 * streamed both ways, no authentication, no lookup, no policy. Prints `{"url"}`.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream/promises';
import { Agent, request } from 'undici';

const upstream = process.env.UPSTREAM_URL!;
const authorization = `Bearer ${process.env.BENCH_SECRET}`;
const agent = new Agent({ keepAliveTimeout: 60_000 });
const server = createServer(async (req, res) => {
  try {
    const path = (req.url ?? '/').replace(/^\/proxy/, '');
    const { host: _h, authorization: _a, connection: _c, ...headers } = req.headers;
    const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
    const up = await request(upstream + path, { dispatcher: agent, method: req.method as 'GET', headers: { ...headers, authorization }, body: hasBody ? req : null });
    const { connection: _x, 'keep-alive': _k, 'transfer-encoding': _t, ...out } = up.headers;
    res.writeHead(up.statusCode, out);
    await pipeline(up.body, res);
  } catch {
    if (!res.headersSent) res.writeHead(502).end();
    else res.destroy();
  }
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => process.stdout.write(JSON.stringify({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }) + '\n'));
// Stopped by the benchmark: exit normally (so `--cpu-prof` writes its profile).
process.on('SIGTERM', () => process.exit(0));
