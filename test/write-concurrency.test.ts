import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { encodeId } from '../src/ids.js';
import { LOCK_TIMEOUT_MS } from '../src/db/database.js';
import { WRITE_KINDS, graphql, readOnce, rest, seedWriteWorld, writeOnce, type Outcome, type WriteWorld } from '../bench/write-mix.js';
import type { TestGateway } from './helpers/gateway.js';
import { useWorld } from './helpers/world.js';

/**
 * Concurrent writers on PostgreSQL (PGlite has one connection: nothing runs
 * concurrently there). Every path that takes a key, row or value lock and
 * writes the availability set meets the others: no deadlock, no error, no
 * CONFLICT for what is idempotent; lock waits end in a typed 503, and readers
 * are served while writers wait.
 */
const onPostgres = !!process.env.DATABASE_URL;
let gw: TestGateway;
let w: WriteWorld;
let databaseName: string;

async function deadlocks(): Promise<number> {
  const r = await gw.db.prisma.$queryRaw<{ n: bigint }[]>`SELECT deadlocks AS n FROM pg_stat_database WHERE datname = current_database()`;
  return Number(r[0]!.n);
}

function summary(outcomes: Outcome[]): Record<string, number> {
  const by: Record<string, number> = {};
  for (const o of outcomes) if (!o.ok) by[`${o.kind} ${o.status} ${o.code}`] = (by[`${o.kind} ${o.status} ${o.code}`] ?? 0) + 1;
  return by;
}

describe.skipIf(!onPostgres)('50 concurrent writers (PostgreSQL)', () => {
  // In the PostgreSQL-only block: a skipped block runs no hooks, so PGlite starts no gateway.
  useWorld({}, async (world) => {
    ({ gw } = world);
    w = await seedWriteWorld(gw.app, gw.url);
    databaseName = new URL((gw.app.config.database as { url: string }).url).pathname.slice(1);
  });

  it('mixing every write path: 0 deadlocks, 0 errors, the availability set exact', { timeout: 120_000 }, async () => {
    const before = await deadlocks();
    const run = 'r1';
    const outcomes = (
      await Promise.all(
        Array.from({ length: 50 }, async (_, writer) => {
          const mine: Outcome[] = [];
          for (let i = 0; i < 4; i++) mine.push(await writeOnce(w, WRITE_KINDS[(writer + i) % WRITE_KINDS.length]!, writer, i, run));
          return mine;
        }),
      )
    ).flat();
    expect(summary(outcomes)).toEqual({});
    expect(outcomes).toHaveLength(200);
    expect(await deadlocks()).toBe(before);

    // Nothing half-written: the materialized set is what the rule computes, every customer has the global connection.
    const { prisma } = gw.db;
    const customers = await prisma.customer.findMany({ where: { orgId: w.org.orgId }, select: { id: true } });
    const selectable = await prisma.availableSelection.findMany({ where: { connectionId: w.globalId }, select: { customerId: true } });
    expect(new Set(selectable.map((r) => r.customerId))).toEqual(new Set(customers.map((c) => c.id)));
    for (let i = 0; i < 3; i++) {
      expect(await prisma.customer.count({ where: { orgId: w.org.orgId, externalId: `mix-project-${run}-${i}` } })).toBe(1);
      expect(await prisma.connection.count({ where: { orgId: w.org.orgId, stableKey: `mix-upsert-${run}-${i}` } })).toBe(1);
    }
    expect(await prisma.connection.count({ where: { orgId: w.org.orgId, externalId: 'mix_automation' } })).toBe(1);
  });

  it('idempotent writes never answer CONFLICT; a deliberate duplicate still does', { timeout: 60_000 }, async () => {
    const admin = w.org.adminToken;
    const twenty = <T,>(fn: (i: number) => Promise<T>) => Promise.all(Array.from({ length: 20 }, (_, i) => fn(i)));

    // The first value of one slot, written by 20 at once.
    await graphql(w.url, admin, `mutation { upsertConnection(input: { stableKey: "race-slot", name: "Race slot", connectorKey: "mix-api", type: CUSTOMER_ACTIVATED, availableInWorkflows: true }) { __typename } }`);
    const target = { connectionStableKey: 'race-slot', customerId: encodeId('Customer', w.org.customers[0]!.id), slot: 'CUSTOMER' };
    const values = await twenty((i) =>
      graphql(w.url, admin, `mutation ($t: ConnectionValueTarget!, $v: JSON!) { setConnectionValue(target: $t, values: $v) { __typename ... on Error { code } } }`, { t: target, v: { secret_text: `first-${i}` } }),
    );
    expect(values.filter((r) => !r.ok)).toEqual([]);

    // One new stable key, upserted by 20 at once, with a create racing them.
    const upserts = await twenty((i) =>
      graphql(w.url, admin, `mutation ($n: String!) { upsertConnection(input: { stableKey: "race-upsert", name: $n, connectorKey: "mix-api", type: ORG_ACTIVATED_GLOBAL, availableInWorkflows: true }) { __typename ... on Error { code } } }`, { n: `U${i}` }),
    );
    expect(upserts.filter((r) => !r.ok)).toEqual([]);
    expect(await gw.db.prisma.connection.count({ where: { orgId: w.org.orgId, stableKey: 'race-upsert' } })).toBe(1);

    // New customers with unique externalIds while global connections become available to each.
    const creates = await twenty((i) =>
      graphql(w.url, admin, `mutation ($e: String!) { createCustomer(input: { externalId: $e, name: $e }) { __typename ... on Error { code } } }`, { e: `race-new-${i}` }),
    );
    expect(creates.filter((r) => !r.ok)).toEqual([]);

    // getOrCreate over REST: one 201, the others 200 with the same project.
    const projects = await twenty(() => rest(w.url, w.org.apiKey, 'POST', '/projects', { displayName: 'Race', externalId: 'race-project' }));
    expect(projects.map((r) => r.status).sort()).toEqual([...Array<number>(19).fill(200), 201]);

    // A deliberate duplicate create is refused, once, typed.
    const dupes = await twenty(() =>
      graphql(w.url, admin, `mutation { createCustomer(input: { externalId: "race-dupe", name: "Dupe" }) { __typename ... on Error { code } } }`),
    );
    expect(dupes.filter((r) => r.ok)).toHaveLength(1);
    expect(new Set(dupes.filter((r) => !r.ok).map((r) => r.code))).toEqual(new Set(['CONFLICT']));
  });

  it('a lock held too long: writers get 503 SERVICE_UNAVAILABLE with Retry-After, readers are served meanwhile', { timeout: 60_000 }, async () => {
    // Another session holds the GLOBAL value's lock (as a stuck refresh would).
    const value = await gw.db.prisma.connectionValue.findFirstOrThrow({ where: { connectionId: w.globalId, slot: 'GLOBAL' }, select: { id: true } });
    const holder = new pg.Client({ connectionString: (gw.app.config.database as { url: string }).url });
    await holder.connect();
    await holder.query(`SELECT pg_advisory_lock(hashtextextended($1, 0))`, [`connection-value:${value.id}`]);
    try {
      const writers = Promise.all(Array.from({ length: 20 }, (_, i) => writeOnce(w, 'globalValue', i, 0, 'lock')));
      await new Promise((r) => setTimeout(r, 500));
      // Readers meanwhile: each answered promptly (the writers do not hold the pool).
      for (let i = 0; i < 5; i++) {
        const read = await readOnce(w);
        expect(read.ok).toBe(true);
        expect(read.ms).toBeLessThan(1_500);
      }
      const outcomes = await writers;
      for (const o of outcomes) {
        expect(o).toMatchObject({ ok: false, status: 503, code: 'SERVICE_UNAVAILABLE' });
        expect(Number(o.retryAfter)).toBeGreaterThan(0);
        // Bounded: the lock timeout, plus the wait for a write slot.
        expect(o.ms).toBeLessThan(LOCK_TIMEOUT_MS * 4);
      }
    } finally {
      await holder.end();
    }
    // Once the lock is gone the same write succeeds.
    expect((await writeOnce(w, 'globalValue', 0, 1, 'lock')).ok).toBe(true);
    expect(databaseName).toMatch(/^cg_test_/);
  });
});
