import { randomBytes } from 'node:crypto';
import { parse } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { newKeySpec } from '../../src/crypto/keyring.js';
import { openDatabase, type Database } from '../../src/db/database.js';
import { encodeId } from '../../src/ids.js';
import { graphql, seedWriteWorld, writeOnce, type Outcome, type WriteWorld } from '../../bench/write-mix.js';
import { Collector, wsClient, type FeedEventOut } from '../helpers/feed.js';
import { privatePostgres, privateRedis, startGatewayProcess, type GatewayProcess, type PrivatePostgres, type PrivateRedis } from './servers.js';

/**
 * Faults, against a PostgreSQL cluster and a Redis this suite starts itself
 * (test/faults/servers.ts) and gateway processes: the database restarted
 * under write load, Redis killed during live events, a gateway killed in the
 * middle of a burst. Nothing acknowledged is lost, nothing is half-written,
 * and what fails during an outage fails typed (503 SERVICE_UNAVAILABLE,
 * Retry-After).
 */
let pg: PrivatePostgres;
let redis: PrivateRedis;
let db: Database;
let w: WriteWorld;
const gateways: GatewayProcess[] = [];
let env: Record<string, string>;

const CREATE_CUSTOMER = `mutation ($e: String!) { createCustomer(input: { externalId: $e, name: $e }) { __typename ... on Error { code } } }`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function gateway(): Promise<GatewayProcess> {
  const g = await startGatewayProcess(env);
  gateways.push(g);
  return g;
}

/** Ok, or the typed answer of an outage: 503 SERVICE_UNAVAILABLE with Retry-After. */
function expectTyped(outcomes: Outcome[]): void {
  const untyped = outcomes.filter((o) => !o.ok && !(o.status === 503 && o.code === 'SERVICE_UNAVAILABLE' && Number(o.retryAfter) > 0));
  expect(untyped.map((o) => `${o.kind} ${o.status} ${o.code}`)).toEqual([]);
}

/** Every customer of `prefix` is whole: its audit row, and the org's global connection available to it. */
async function expectWholeCustomers(prefix: string): Promise<string[]> {
  const customers = await db.prisma.customer.findMany({ where: { orgId: w.org.orgId, externalId: { startsWith: prefix } }, select: { id: true, externalId: true } });
  const ids = customers.map((c) => c.id);
  const audited = await db.prisma.auditEvent.findMany({ where: { action: 'customer.create', targetId: { in: ids } }, select: { targetId: true } });
  expect(new Set(audited.map((a) => a.targetId))).toEqual(new Set(ids));
  const selectable = await db.prisma.availableSelection.findMany({ where: { connectionId: w.globalId, customerId: { in: ids } }, select: { customerId: true } });
  expect(new Set(selectable.map((s) => s.customerId))).toEqual(new Set(ids));
  return customers.map((c) => c.externalId);
}

beforeAll(async () => {
  [pg, redis] = await Promise.all([privatePostgres(), privateRedis()]);
  env = {
    DATABASE_URL: pg.url,
    REDIS_URL: redis.url,
    AUTH_SECRET: randomBytes(32).toString('base64url'),
    ENCRYPTION_KEYS: newKeySpec('faults1'),
  };
  const config = loadConfig({ ...env, REDIS_URL: '', LOG_LEVEL: 'silent' });
  db = await openDatabase(config.database);
  await db.migrate();
  w = await seedWriteWorld(createApp(config, db), '');
}, 120_000);

afterAll(async () => {
  for (const g of gateways) g.kill();
  await db?.close().catch(() => {});
  redis?.destroy();
  pg?.destroy();
});

describe('faults', () => {
  it('a database restart under write load: typed 503s while it is down, nothing acknowledged lost, nothing half-written', { timeout: 90_000 }, async () => {
    const g = await gateway();
    const world = { ...w, url: g.url };
    const acked = new Set<string>();
    const outcomes: Outcome[] = [];
    let stop = false;
    const writers = Array.from({ length: 20 }, async (_, writer) => {
      for (let i = 0; !stop; i++) {
        if (writer % 2 === 0) {
          const externalId = `restart-${writer}-${i}`;
          const started = performance.now();
          const r = await graphql(g.url, w.org.adminToken, CREATE_CUSTOMER, { e: externalId }).catch(() => ({ ok: false, status: 0, code: 'NETWORK' }));
          outcomes.push({ kind: 'newCustomer', ...r, ms: performance.now() - started });
          if (r.ok) acked.add(externalId);
        } else {
          outcomes.push(await writeOnce(world, (['globalValue', 'ensureProject', 'firstSlotValue', 'rename'] as const)[i % 4]!, writer, i, 'restart'));
        }
        await sleep(20);
      }
    });
    await sleep(2_000);
    pg.stop();
    const downAt = outcomes.length;
    await sleep(2_000);
    pg.start();
    const upAt = outcomes.length;
    await sleep(4_000);
    stop = true;
    await Promise.all(writers);

    expectTyped(outcomes);
    expect(outcomes.slice(downAt, upAt).some((o) => o.status === 503)).toBe(true);
    expect(outcomes.slice(upAt).filter((o) => o.ok).length).toBeGreaterThan(10);
    const kept = await expectWholeCustomers('restart-');
    for (const e of acked) expect(kept).toContain(e);
    g.kill();
  });

  it('Redis killed during live events: writes go on, every event reaches a subscriber on another instance, once, in order', { timeout: 90_000 }, async () => {
    const a = await gateway();
    const b = await gateway();
    const customer = w.org.customers[1]!;
    const max = await db.prisma.feedEvent.aggregate({ _max: { id: true } });
    const client = wsClient(b.url, customer.userToken, { retry: true });
    const feed = new Collector<FeedEventOut>(
      client,
      parse(`subscription ($after: String) { availableConnectionsChanged(after: $after) { cursor kind connectionId } }`),
      { after: (max._max.id ?? 0n).toString() },
    );
    const target = { connectionId: encodeId('Connection', w.perCustomerId), customerId: encodeId('Customer', customer.id), slot: 'CUSTOMER' };
    const SET = `mutation ($t: ConnectionValueTarget!, $v: JSON!) { setConnectionValue(target: $t, values: $v) { __typename ... on Error { code } } }`;
    const outcomes: Outcome[] = [];
    const writeSome = async (n: number, tag: string) => {
      for (let i = 0; i < n; i++) {
        const started = performance.now();
        outcomes.push({ kind: 'value', ...(await graphql(a.url, w.org.adminToken, SET, { t: target, v: { secret_text: `${tag}-${i}` } })), ms: performance.now() - started });
      }
    };
    await sleep(300);
    await writeSome(10, 'before');
    redis.kill();
    await writeSome(10, 'during');
    await sleep(1_000);
    await redis.start();
    await writeSome(10, 'after');

    expect(outcomes.filter((o) => !o.ok)).toEqual([]);
    await feed.until((c) => c.events.length >= 30, 30_000, '30 events');
    await sleep(500);
    const cursors = feed.events.map((e) => BigInt(e.cursor));
    expect(feed.events).toHaveLength(30);
    expect(cursors.every((c, i) => i === 0 || c > cursors[i - 1]!)).toBe(true);
    expect(feed.events.every((e) => e.connectionId === encodeId('Connection', w.perCustomerId))).toBe(true);
    await client.dispose();
    a.kill();
    b.kill();
  });

  it('a gateway killed in the middle of a burst: what it acknowledged is kept, nothing half-written, another serves on', { timeout: 90_000 }, async () => {
    const g = await gateway();
    const acked = new Set<string>();
    const burst = Array.from({ length: 40 }, async (_, i) => {
      await sleep(i * 10);
      const r = await graphql(g.url, w.org.adminToken, CREATE_CUSTOMER, { e: `killed-${i}` }).catch(() => ({ ok: false }));
      if (r.ok) acked.add(`killed-${i}`);
    });
    await sleep(150);
    g.kill('SIGKILL');
    await Promise.all(burst);
    expect(await g.exited).toBe(null);

    const kept = await expectWholeCustomers('killed-');
    for (const e of acked) expect(kept).toContain(e);
    expect(kept.length).toBeLessThan(40);

    const next = await gateway();
    const again = await graphql(next.url, w.org.adminToken, CREATE_CUSTOMER, { e: 'killed-after' });
    expect(again.ok).toBe(true);
    await expectWholeCustomers('killed-');
    next.kill();
  });
});
