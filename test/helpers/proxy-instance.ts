/**
 * A gateway in a process of its own, for the proxy tests that measure that
 * process (memory) or need a second instance (the shared budget). `tsx` runs
 * this file with the instance's environment: DATABASE_URL, or
 * PGLITE_TEMPLATE (the run's migrated PGlite dump, loaded into a data
 * directory of its own on disk, removed at the end),
 * AUTH_SECRET, ENCRYPTION_KEYS, REDIS_URL… With SEED_PROXY_BASE_URL it first
 * seeds an organization whose customer `acme` has a SECRET_TEXT connection
 * (`api`) proxied to that URL. With MEMORY_PROBE=1 it also answers, on a
 * port of its own, how much memory the process holds live — `GET /` after a
 * full garbage collection: `{ heapUsed, external, arrayBuffers, rss,
 * database }` — a measure that, unlike the resident set, does not count
 * buffers already freed but not yet collected; `database` is the part of
 * `external` that is the embedded database's own WebAssembly memory (0 on
 * PostgreSQL), which grows with the database's work, not the gateway's. On
 * disk, the database's files are not in the process's memory either (an
 * in-memory data directory keeps them there, WAL segments included). It prints `{"url", "pid", "token"?,
 * "probe"?}` once listening and stops on SIGTERM.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { openDatabase } from '../../src/db/database.js';
import { write } from '../../src/op.js';
import { createConnection, findConnection } from '../../src/modules/connections/service.js';
import { createConnector } from '../../src/modules/connectors/service.js';
import { setValue } from '../../src/modules/values/service.js';
import { adminOf, seedOrg } from '../../src/seed/demo.js';
import { createGateway } from '../../src/server.js';

const config = loadConfig({ ...process.env, PORT: '0', HOST: '127.0.0.1' });
const template = process.env.PGLITE_TEMPLATE;
const dir = template ? mkdtempSync(path.join(tmpdir(), 'cg-proxy-instance-')) : null;
const embedded = { kind: 'pglite' as const, dataDir: path.join(dir ?? '', 'data') };
const db = template ? await openDatabase(embedded, { loadDataDir: new Blob([await readFile(template)]) }) : await openDatabase(config.database);
const app = createApp({ ...config, ...(template ? { database: embedded } : {}) }, db);
let token: string | undefined;
const baseUrl = process.env.SEED_PROXY_BASE_URL;
if (baseUrl) {
  const org = await seedOrg(app, { customers: ['acme'] });
  await write(app, await adminOf(app, org.orgId), 'system', async (op) => {
    await createConnector(op, { key: 'api', name: 'API', authType: 'SECRET_TEXT', proxy: { baseUrl } });
    const c = await createConnection(op, { stableKey: 'api', name: 'API', connectorKey: 'api', type: 'CUSTOMER_ACTIVATED' });
    await setValue(op, await findConnection(op, { id: c.id }), { kind: 'CUSTOMER', customerId: org.customers[0]!.id }, { values: { secret_text: 'instance-secret-value' } });
  });
  token = org.customers[0]!.runtimeToken;
}
const gateway = createGateway(app);
await new Promise<void>((resolve) => gateway.http.listen(0, '127.0.0.1', resolve));
let probe: string | undefined;
if (process.env.MEMORY_PROBE === '1') {
  // V8's collector, reachable without starting node with --expose-gc.
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const server = createServer(async (_req, res) => {
    // Twice, a turn apart: the backing stores of buffers a collection finds dead are freed after it,
    // so a single collection still counts some of them (more so on a busy machine).
    gc();
    await new Promise((r) => setImmediate(r));
    gc();
    const { heapUsed, external, arrayBuffers, rss } = process.memoryUsage();
    // PGlite's module is not in its public types: its WebAssembly heap, read where it is.
    const database = (db.pglite as unknown as { mod?: { HEAPU8?: Uint8Array } } | undefined)?.mod?.HEAPU8?.byteLength ?? 0;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ heapUsed, external, arrayBuffers, rss, database }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  server.unref();
  probe = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}
process.stdout.write(JSON.stringify({ url: gateway.url, pid: process.pid, token, probe }) + '\n');
process.on('SIGTERM', () => {
  void gateway
    .close()
    .then(() => db.close())
    .finally(() => {
      if (dir) rmSync(dir, { recursive: true, force: true });
      process.exit(0);
    });
});
