/**
 * The gateway under benchmark (child process of bench/feed.ts): an in-memory
 * PGlite database (or DATABASE_URL), an org with customers and two
 * connections, and an IPC interface to make committed changes and to report
 * memory. Run with --expose-gc.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { loadConfig } from '../src/config.js';
import { newKeySpec } from '../src/crypto/keyring.js';
import { openDatabase } from '../src/db/database.js';
import { transaction } from '../src/db/transaction.js';
import { setConnectionValue, loadConnection, setValueStatus } from '../src/modules/connections/service.js';
import { seedOrg } from '../src/seed/demo.js';
import { createGateway } from '../src/server.js';
import { createLogger, createServices } from '../src/services.js';

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
const services = createServices(config, db, createLogger(config));
const gateway = createGateway(services);
await new Promise<void>((resolve) => gateway.http.listen(0, '127.0.0.1', resolve));

const org = await seedOrg(db.prisma, services.tokens, {
  customers: Array.from({ length: customersCount }, (_, i) => `bench-${i}`),
});
const connector = await db.prisma.connector.create({
  data: { orgId: org.orgId, key: 'bench', name: 'Bench', authType: 'SECRET_TEXT', fields: [{ key: 'token', label: 'Token', type: 'STRING', required: true, secret: true }] },
});
const ctx = { prisma: db.prisma, services };
const global = await db.prisma.connection.create({
  data: { orgId: org.orgId, stableKey: 'global', name: 'Global', connectorId: connector.id, type: 'ORG_ACTIVATED_GLOBAL', availableInWorkflows: true },
});
const perCustomer = await db.prisma.connection.create({
  data: { orgId: org.orgId, stableKey: 'per', name: 'Per customer', connectorId: connector.id, type: 'ORG_ACTIVATED_CUSTOMER', availableInWorkflows: true },
});
const globalValue = await transaction(ctx, async (tx) =>
  setConnectionValue(tx, config.keyRing, { connection: await loadConnection(tx, { id: global.id }), slot: { kind: 'GLOBAL' }, values: { token: 'g' } }),
);
const customerValues: string[] = [];
for (const c of org.customers) {
  const v = await transaction(ctx, async (tx) =>
    setConnectionValue(tx, config.keyRing, { connection: await loadConnection(tx, { id: perCustomer.id }), slot: { kind: 'CUSTOMER', customerId: c.id }, values: { token: 'c' } }),
  );
  customerValues.push(v.id);
}
const status = new Map<string, 'ACTIVE' | 'ERROR'>();

function memory() {
  (globalThis as { gc?: () => void }).gc?.();
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, external: m.external, subscribers: services.feed.subscriberCount };
}

process.on('message', (msg: { id: number; cmd: string; customer?: number }) => {
  void (async () => {
    let reply: unknown;
    if (msg.cmd === 'mem') reply = memory();
    else if (msg.cmd === 'toggle-global' || msg.cmd === 'toggle-customer') {
      const valueId = msg.cmd === 'toggle-global' ? globalValue.id : customerValues[msg.customer!]!;
      const next = status.get(valueId) === 'ERROR' ? 'ACTIVE' : 'ERROR';
      status.set(valueId, next);
      await transaction(ctx, (tx) => setValueStatus(tx, valueId, next, next === 'ERROR' ? 'bench' : null));
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
