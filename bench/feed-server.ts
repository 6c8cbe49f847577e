/**
 * The gateway under benchmark (child process of bench/feed.ts): an in-memory
 * PGlite database (or DATABASE_URL), an org with customers and two
 * connections, and an IPC interface to make committed changes and to report
 * memory. Run with --expose-gc.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { performance } from 'node:perf_hooks';
import { loadConfig } from '../src/config.js';
import { newKeySpec } from '../src/crypto/keyring.js';
import { openDatabase } from '../src/db/database.js';
import { createApp, createLogger } from '../src/app.js';
import { write } from '../src/op.js';
import { createConnection, findConnection } from '../src/modules/connections/service.js';
import { createConnector } from '../src/modules/connectors/service.js';
import { setValue, setValueStatus } from '../src/modules/values/service.js';
import { adminOf, seedOrg } from '../src/seed/demo.js';
import { createGateway } from '../src/server.js';

const customersCount = Number(process.env.BENCH_CUSTOMERS ?? 100);
const config = {
  ...loadConfig({
    ...process.env,
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'silent',
    AUTH_SECRET: randomBytes(32).toString('base64url'),
    ENCRYPTION_KEYS: newKeySpec('bench'),
  }),
};
if (!process.env.DATABASE_URL) config.database = { kind: 'pglite', dataDir: ':memory:' };
const db = await openDatabase(config.database);
await db.migrate();
const app = createApp(config, db, createLogger(config));
const gateway = createGateway(app);
await new Promise<void>((resolve) => gateway.http.listen(0, '127.0.0.1', resolve));

const org = await seedOrg(app, { customers: Array.from({ length: customersCount }, (_, i) => `bench-${i}`) });
const admin = await adminOf(app, org.orgId);
// Set-up goes through the services, as the org's admin, like every other write.
const asAdmin = <T>(fn: Parameters<typeof write<T>>[3]) => write(app, admin, 'system', fn);
const { globalValue, customerValues } = await asAdmin(async (op) => {
  const fields = [{ key: 'token', label: 'Token', type: 'STRING', required: true, secret: true }];
  await createConnector(op, { key: 'bench', name: 'Bench', authType: 'SECRET_TEXT', fields });
  const connection = (stableKey: string, name: string, type: string) =>
    createConnection(op, { stableKey, name, connectorKey: 'bench', type, availableInWorkflows: true }).then((c) => findConnection(op, { id: c.id }));
  const global = await connection('global', 'Global', 'ORG_ACTIVATED_GLOBAL');
  const perCustomer = await connection('per', 'Per customer', 'ORG_ACTIVATED_CUSTOMER');
  const g = await setValue(op, global, { kind: 'GLOBAL' }, { values: { token: 'g' } });
  const values: string[] = [];
  for (const c of org.customers) values.push((await setValue(op, perCustomer, { kind: 'CUSTOMER', customerId: c.id }, { values: { token: 'c' } })).id);
  return { globalValue: g, customerValues: values };
});
const status = new Map<string, 'ACTIVE' | 'ERROR'>();
let profiler: Session | null = null;

function memory() {
  (globalThis as { gc?: () => void }).gc?.();
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, external: m.external, subscribers: app.feed.subscriberCount };
}

/** How the events reached the transport (direct or queued), from the gateway's own counter. */
async function deliveries() {
  const { values } = await app.metrics.subscriptionDeliveries.get();
  return Object.fromEntries(values.map((v) => [v.labels.path, v.value]));
}

process.on('message', (msg: { id: number; cmd: string; customer?: number }) => {
  void (async () => {
    let reply: unknown;
    if (msg.cmd === 'mem') reply = memory();
    else if (msg.cmd === 'deliveries') reply = await deliveries();
    else if (msg.cmd === 'cpu') reply = process.cpuUsage();
    else if (msg.cmd === 'profile-start') {
      // BENCH_PROF=<file>: a CPU profile of the fan-out rounds only, not of the subscriptions' set-up.
      profiler = new Session();
      profiler.connect();
      await profiler.post('Profiler.enable');
      await profiler.post('Profiler.setSamplingInterval', { interval: 200 });
      await profiler.post('Profiler.start');
    } else if (msg.cmd === 'profile-stop' && profiler) {
      const { profile } = await profiler.post('Profiler.stop');
      writeFileSync(process.env.BENCH_PROF!, JSON.stringify(profile));
      profiler.disconnect();
      profiler = null;
    }
    else if (msg.cmd === 'toggle-global' || msg.cmd === 'toggle-customer') {
      const valueId = msg.cmd === 'toggle-global' ? globalValue.id : customerValues[msg.customer!]!;
      const next = status.get(valueId) === 'ERROR' ? 'ACTIVE' : 'ERROR';
      status.set(valueId, next);
      await asAdmin((op) => setValueStatus(op, valueId, next, next === 'ERROR' ? 'bench' : null));
      reply = { committedAt: performance.timeOrigin + performance.now(), kind: next === 'ERROR' ? 'REMOVED' : 'ADDED' };
    } else if (msg.cmd === 'stop') {
      await gateway.close();
      await db.close();
      process.exit(0);
    }
    process.send!({ id: msg.id, reply });
  })();
});

process.send!({
  ready: true,
  url: gateway.url,
  apiKey: org.apiKey,
  customers: org.customers.map((c) => c.id),
  database: db.kind,
});
