/**
 * Connection-health benchmark (not a test): N OAuth2 values (client
 * credentials, against a local token endpoint that answers at once) whose
 * tokens expire staggered over a window, on one gateway's workers in this
 * process. Reports background refreshes per minute, the database statements
 * they cost, and webhook deliveries per second to a local receiver.
 *
 *   npm run bench:health                                  # N = 100000 over 10 min, PGlite in memory
 *   npm run bench:health -- --values 2000 --seconds 10    # a quick look
 *   DATABASE_URL=postgres://… npm run bench:health         # a fresh database, dropped after
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import pg from 'pg';
import { createApp, createLogger } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { newKeySpec } from '../src/crypto/keyring.js';
import { openDatabase } from '../src/db/database.js';
import { write } from '../src/op.js';
import { createConnection } from '../src/modules/connections/service.js';
import { createConnector } from '../src/modules/connectors/service.js';
import { refreshDueTokens } from '../src/modules/health/refresh.js';
import { createWebhookEndpoint } from '../src/modules/webhooks/service.js';
import { DELIVERY_JOB } from '../src/modules/webhooks/outbox.js';
import { deliverDueWebhooks } from '../src/modules/webhooks/worker.js';
import { setValueStatus } from '../src/modules/values/service.js';
import { adminOf, seedOrg } from '../src/seed/demo.js';

const args = process.argv.slice(2);
const arg = (name: string, dflt: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : dflt;
};
const N = Number(arg('values', '100000'));
const seconds = Number(arg('seconds', '60'));
const windowSec = Number(arg('window', '600'));
const events = Number(arg('events', '1000'));

async function listen(handler: Parameters<typeof createServer>[1]): Promise<{ url: string; close(): void }> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => server.close() };
}

let dbUrl: string | undefined;
let drop = async () => {};
if (process.env.DATABASE_URL) {
  const name = `cg_bench_${randomBytes(5).toString('hex')}`;
  const admin = new pg.Client({ connectionString: process.env.DATABASE_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const u = new URL(process.env.DATABASE_URL);
  u.pathname = `/${name}`;
  dbUrl = u.toString();
  drop = async () => {
    const c = new pg.Client({ connectionString: process.env.DATABASE_URL });
    await c.connect();
    await c.query(`DROP DATABASE ${name} WITH (FORCE)`);
    await c.end();
  };
}

let statements = 0;
const config = loadConfig({
  AUTH_SECRET: randomBytes(32).toString('base64url'),
  ENCRYPTION_KEYS: newKeySpec('bench'),
  LOG_LEVEL: 'error',
  OUTBOUND_ALLOWED_NETWORKS: '127.0.0.1/32',
  HEALTH_REFRESH_MARGIN_MS: '60000',
  WEBHOOK_POLL_MS: '50',
  DATA_DIR: `/tmp/cg-bench-health-${process.pid}`,
  ...(dbUrl ? { DATABASE_URL: dbUrl } : {}),
});
const db = await openDatabase(dbUrl ? config.database : { kind: 'pglite', dataDir: ':memory:' }, { onQuery: () => void statements++ });
await db.migrate();
const app = createApp(config, db, createLogger(config));

let issued = 0;
const tokens = await listen((_req, res) => {
  issued++;
  res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: randomBytes(16).toString('hex'), token_type: 'Bearer', expires_in: windowSec }));
});
let delivered = 0;
const receiver = await listen((req, res) => {
  req.resume().on('end', () => {
    delivered++;
    res.writeHead(204).end();
  });
});

const org = await seedOrg(app, { customers: ['bench'] });
const admin = await adminOf(app, org.orgId);
const connection = await write(app, admin, 'system', async (op) => {
  const connector = await createConnector(op, {
    key: 'bench-oauth',
    name: 'Bench OAuth',
    authType: 'OAUTH2',
    oauth2: { grantType: 'client_credentials', tokenUrl: `${tokens.url}/token`, scopes: [], clientId: 'bench', pkce: false },
    oauthClientSecret: 'bench-secret',
  });
  return createConnection(op, { stableKey: 'bench', name: 'Bench', connectorId: connector.id, type: 'ORG_ACTIVATED_CUSTOMER' });
});
// N values whose tokens expire evenly over the window (slots without customers: the refresher needs none).
const t0 = Date.now();
await db.prisma.$executeRawUnsafe(
  `INSERT INTO "ConnectionValue" (id, "orgId", "connectionId", kind, slot, status, "expiresAt", "updatedAt")
   SELECT gen_random_uuid(), $1::uuid, $2::uuid, 'CUSTOMER', 'bench-' || i, 'ACTIVE', (now() AT TIME ZONE 'UTC') + (i * $3::float / $4) * interval '1 second', now()
   FROM generate_series(1, $4::int) AS i`,
  org.orgId,
  connection.id,
  windowSec,
  N,
);
console.log(`${N} values inserted in ${((Date.now() - t0) / 1000).toFixed(1)} s; tokens expire over ${windowSec} s; margin 60 s`);

// Refresh: passes back to back for `seconds` (the worker's poll interval would only add idle time).
statements = 0;
const cpu0 = process.cpuUsage();
const r0 = Date.now();
let refreshed = 0;
while (Date.now() - r0 < seconds * 1000) {
  refreshed += await refreshDueTokens(app);
  await new Promise((r) => setTimeout(r, 50));
}
const elapsed = (Date.now() - r0) / 1000;
const cpu = process.cpuUsage(cpu0);
console.log(
  `refresh: ${refreshed} tokens in ${elapsed.toFixed(1)} s = ${Math.round((refreshed / elapsed) * 60)}/min ` +
    `(due by then: ≈ ${Math.round(((elapsed + 60) / windowSec) * N)}); provider calls ${issued}; ` +
    `${(statements / Math.max(refreshed, 1)).toFixed(1)} SQL statements per refresh; process CPU ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s`,
);

// Webhooks: one endpoint taking every event; `events` status changes, each one message, delivered by one worker.
await write(app, admin, 'system', (op) => createWebhookEndpoint(op, { url: `${receiver.url}/hooks` }));
const ids = (await db.prisma.connectionValue.findMany({ where: { connectionId: connection.id }, select: { id: true }, take: events })).map((v) => v.id);
for (const id of ids) await write(app, admin, 'system', (op) => setValueStatus(op, id, 'ERROR', 'bench'));
// The delivery job as the gateway runs it: woken by each committed event, polling in between.
app.jobs.add({ name: DELIVERY_JOB, every: app.config.health.webhookPollMs, run: (signal) => deliverDueWebhooks(app, signal) });
const w0 = Date.now();
app.jobs.start();
app.jobs.wake(DELIVERY_JOB);
while (delivered < ids.length && Date.now() - w0 < 120_000) await new Promise((r) => setTimeout(r, 20));
const wElapsed = (Date.now() - w0) / 1000;
console.log(`webhooks: ${delivered} deliveries in ${wElapsed.toFixed(1)} s = ${Math.round(delivered / wElapsed)}/s`);
console.log(`machine: ${os.cpus().length} CPUs, load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}; database: ${dbUrl ? 'PostgreSQL' : 'PGlite (memory)'}`);

await app.jobs.stop();
tokens.close();
receiver.close();
await db.close();
await drop();
