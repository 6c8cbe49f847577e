import { execFileSync, type ChildProcess } from 'node:child_process';
import { encodeId } from '../src/ids.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newKeySpec } from '../src/crypto/keyring.js';
import type { SeededOrg } from '../src/seed/demo.js';
import { graphql } from './gql/index.js';
import { gql } from './helpers/client.js';
import type { TestGateway } from './helpers/gateway.js';
import { Collector, currentCursor, wsClient } from './helpers/feed.js';
import { spawnInstance } from './helpers/instance.js';
import { useWorld } from './helpers/world.js';

/**
 * Two gateway processes on one PostgreSQL database and one Redis: a change
 * made on one reaches subscribers on the other (the picker's feed and the
 * admin health view), and Redis dying mid-stream loses nothing. Needs DATABASE_URL and REDIS_URL (and a redis-server binary:
 * the test runs its own, on another port, so it can kill it).
 */
const enabled = !!process.env.DATABASE_URL && !!process.env.REDIS_URL;

const Feed = graphql(`
  subscription ClusterFeed($after: String) {
    availableConnectionsChanged(after: $after) { cursor kind connection { name } }
  }
`);

const CreateConnection = graphql(`
  mutation ClusterCreateConnection($input: ConnectionInput!) {
    createConnection(input: $input) {
      __typename
      ... on MutationCreateConnectionSuccess { data { id } }
    }
  }
`);

const SetMyValue = graphql(`
  mutation ClusterSetMyValue($connectionId: ID!, $values: JSON!) {
    setMyConnectionValue(connectionId: $connectionId, values: $values) {
      __typename
      ... on MutationSetMyConnectionValueSuccess { data { id } }
      ... on Error { message }
    }
  }
`);

const Health = graphql(`
  subscription ClusterHealth($after: String, $connectionId: ID) {
    connectionHealthChanged(after: $after, connectionId: $connectionId) { cursor kind customer { externalId } }
  }
`);

const REDIS_PORT = 6391 + Math.floor(Math.random() * 500);
const redisUrl = `redis://127.0.0.1:${REDIS_PORT}`;

function startRedis(): void {
  execFileSync('redis-server', ['--port', String(REDIS_PORT), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'yes']);
  for (let i = 0; i < 50; i++) {
    try {
      if (execFileSync('redis-cli', ['-p', String(REDIS_PORT), 'ping']).toString().trim() === 'PONG') return;
    } catch {
      /* not up yet */
    }
    execFileSync('sleep', ['0.1']);
  }
  throw new Error('redis-server did not start');
}

function stopRedis(): void {
  try {
    execFileSync('redis-cli', ['-p', String(REDIS_PORT), 'shutdown', 'nosave']);
  } catch {
    /* already gone */
  }
}

describe.skipIf(!enabled)('two gateway processes, one PostgreSQL, one Redis', () => {
  let a: TestGateway;
  let b: { url: string; child: ChildProcess };
  let org: SeededOrg;
  let conn: string;

  // Redis starts before the gateway and stops after it has closed (afterAll hooks run in reverse).
  beforeAll(() => startRedis());
  afterAll(() => stopRedis());
  // A long sweep interval: while Redis is up, only Redis can carry a change across in time.
  useWorld({ env: { REDIS_URL: redisUrl, FEED_POLL_MS: '600000' }, orgs: { org: { customers: ['c1', 'c2'] } } }, async (w) => {
    ({ gw: a, org } = w);
    if (a.app.config.database.kind !== 'postgres') throw new Error('needs PostgreSQL');
    b = await spawnInstance('test/helpers/feed-instance.ts', {
      DATABASE_URL: a.app.config.database.url,
      REDIS_URL: redisUrl,
      AUTH_SECRET: a.app.config.authSecret,
      ENCRYPTION_KEYS: newKeySpec('other'),
      FEED_POLL_MS: '600000',
    });
    const connector = await a.db.prisma.connector.create({
      data: { orgId: org.orgId, key: 'k', name: 'K', authType: 'SECRET_TEXT', fields: [{ key: 'token', label: 'Token', type: 'STRING', required: true, secret: true }] },
    });
    const r = await gql(
      a.url,
      CreateConnection,
      { input: { stableKey: 'c', name: 'C', connectorId: encodeId('Connector', connector.id), type: 'CUSTOMER_ACTIVATED', availableInWorkflows: true } },
      org.adminToken,
    );
    conn = (r.data!.createConnection as { data: { id: string } }).data.id;
  });

  afterAll(async () => {
    b?.child.kill('SIGTERM');
    await new Promise((r) => (b?.child.exitCode !== null ? r(null) : b.child.once('exit', r)));
  });

  const setValue = async (url: string, customer: number, token: string) => {
    const r = await gql(url, SetMyValue, { connectionId: conn, values: { token } }, org.customers[customer]!.userToken);
    expect(r.data?.setMyConnectionValue.__typename, JSON.stringify(r)).toBe('MutationSetMyConnectionValueSuccess');
  };

  it('a change on one instance reaches subscribers on the other, and only the affected customer', async () => {
    const after = await currentCursor(a.db.prisma);
    const onB = wsClient(b.url, org.customers[0]!.userToken);
    const onA = wsClient(a.url, org.customers[0]!.userToken);
    const otherOnB = wsClient(b.url, org.customers[1]!.userToken);
    const subB = new Collector(onB, Feed, { after });
    const subA = new Collector(onA, Feed, { after });
    const subOther = new Collector(otherOnB, Feed, { after });
    await setValue(a.url, 0, 'via-a');
    await subB.count(1);
    await subA.count(1);
    // The other direction: written through B, heard on A.
    await setValue(b.url, 0, 'via-b');
    await subA.count(2);
    await subB.count(2);
    // Customer 2's subscriber on B hears only its own change.
    await setValue(a.url, 1, 'c2');
    await subOther.count(1);
    expect(subA.events.map((e) => e.kind)).toEqual(['ADDED', 'UPDATED']);
    expect(subB.events).toEqual(subA.events);
    expect(subOther.events.map((e) => e.kind)).toEqual(['ADDED']);
    for (const c of [onA, onB, otherOnB]) await c.dispose();
  });

  it('the admin health view: a transition committed on one instance reaches org subscribers on both, in the same order', async () => {
    const after = (await a.db.prisma.healthEvent.aggregate({ _max: { id: true } }))._max.id?.toString() ?? '0';
    const connector = await a.db.prisma.connector.findFirstOrThrow({ where: { orgId: org.orgId, key: 'k' } });
    const r = await gql(
      a.url,
      CreateConnection,
      { input: { stableKey: 'health', name: 'Health', connectorId: encodeId('Connector', connector.id), type: 'CUSTOMER_ACTIVATED' } },
      org.adminToken,
    );
    const health = (r.data!.createConnection as { data: { id: string } }).data.id;
    const onA = wsClient(a.url, org.adminToken);
    const onB = wsClient(b.url, org.apiKey);
    const subA = new Collector<{ cursor: string; customer: { externalId: string } }>(onA, Health, { after, connectionId: health }, 'connectionHealthChanged');
    const subB = new Collector<{ cursor: string; customer: { externalId: string } }>(onB, Health, { after, connectionId: health }, 'connectionHealthChanged');
    const enter = async (url: string, customer: number) => {
      const set = await gql(url, SetMyValue, { connectionId: health, values: { token: `h-${customer}` } }, org.customers[customer]!.userToken);
      expect(set.data?.setMyConnectionValue.__typename, JSON.stringify(set)).toBe('MutationSetMyConnectionValueSuccess');
    };
    await enter(a.url, 0);
    await subB.count(1);
    await enter(b.url, 1);
    await subA.count(2);
    await subB.count(2);
    expect(subA.events.map((e) => e.customer.externalId)).toEqual(['c1', 'c2']);
    expect(subB.events).toEqual(subA.events);
    for (const c of [onA, onB]) await c.dispose();
  });

  it('Redis dying mid-stream loses nothing: the feed falls back to the database and catches up', async () => {
    const after = await currentCursor(a.db.prisma);
    const onB = wsClient(b.url, org.customers[0]!.userToken);
    const sub = new Collector(onB, Feed, { after });
    const N = 60;
    for (let i = 0; i < N; i++) {
      if (i === 20) stopRedis();
      if (i === 40) startRedis();
      // Writes alternate between the instances; neither crashes while Redis is away.
      await setValue(i % 2 ? b.url : a.url, 0, `burst-${i}`);
    }
    await sub.count(N, 30_000).catch(async (err) => {
      const rows = await a.db.prisma.feedEvent.findMany({ where: { customerId: org.customers[0]!.id, id: { gt: BigInt(after) } }, orderBy: { id: 'asc' } });
      const got = new Set(sub.events.map((e) => e.cursor));
      console.log('MISSING', rows.filter((r) => !got.has(r.id.toString())).map((r) => [r.id, r.createdAt.toISOString()]), 'received', sub.events.map((e) => e.cursor).join(','));
      throw err;
    });
    // Later changes still arrive through Redis once it is back.
    await setValue(a.url, 0, 'after-outage');
    await sub.count(N + 1, 30_000);
    const cursors = sub.events.map((e) => e.cursor);
    expect(new Set(cursors).size).toBe(cursors.length);
    expect(sub.events).toHaveLength(N + 1);
    await onB.dispose();
  });

  it('reconnecting with a cursor while Redis is down replays what was missed', async () => {
    const start = await currentCursor(a.db.prisma);
    const first = wsClient(b.url, org.customers[0]!.userToken);
    const s1 = new Collector(first, Feed, { after: start });
    await setValue(a.url, 0, 'r1');
    await s1.count(1);
    await first.dispose();
    stopRedis();
    await setValue(a.url, 0, 'r2');
    await setValue(b.url, 0, 'r3');
    const second = wsClient(b.url, org.customers[0]!.userToken);
    const s2 = new Collector(second, Feed, { after: s1.events[0]!.cursor });
    await s2.count(2);
    await setValue(a.url, 0, 'r4');
    await s2.count(3);
    startRedis();
    await setValue(a.url, 0, 'r5');
    await s2.count(4, 30_000);
    expect(s2.events.map((e) => e.kind)).toEqual(['UPDATED', 'UPDATED', 'UPDATED', 'UPDATED']);
    expect(new Set(s2.events.map((e) => e.cursor)).size).toBe(4);
    await second.dispose();
  });
});
