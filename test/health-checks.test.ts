import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import type { SeededOrg } from '../src/seed/demo.js';
import { graphql } from './gql/index.js';
import { gql } from './helpers/client.js';
import { makeConnection, makeConnector, putValue } from './helpers/fixtures.js';
import { startGateway, type TestGateway } from './helpers/gateway.js';
import { useWorld } from './helpers/world.js';

/**
 * Scheduled checks (modules/health/checks.ts) against a real local API: a
 * static credential that breaks is found without a resolution — ACTIVE →
 * ERROR at the API's 401, ERROR → ACTIVE when it works again, in the history
 * as the gateway's own (SYSTEM) work; an API out of reach is counted and set
 * to ERROR only after HEALTH_CHECK_ERROR_AFTER failures in a row; connectors
 * without a test request (or with `checkIntervalSeconds: 0`) are never
 * checked; with two gateways on one database, no value is checked by both at
 * once.
 */
const Values = graphql(`
  query HealthChecksValues {
    connectionValues(first: 50) {
      edges { node {
        id status lastError
        customer { externalId }
        connection { stableKey }
        lastCheck { at ok message consecutiveFailures nextAt }
        history(first: 50) { edges { node { from to cause actorKind via } } }
      } }
    }
  }
`);

/** The API the connector's test request calls: `GET /me` with `Authorization: Bearer <key>`. */
const api = {
  /** Per key: what the API does for it. */
  mode: new Map<string, 200 | 401 | 'down'>(),
  hits: new Map<string, number[]>(),
  inFlight: new Map<string, number>(),
  maxInFlight: 0,
  delayMs: 0,
  url: '',
  server: createServer((req: IncomingMessage, res: ServerResponse) => {
    const key = (req.headers.authorization ?? '').replace(/^Bearer /, '');
    api.hits.set(key, [...(api.hits.get(key) ?? []), Date.now()]);
    const n = (api.inFlight.get(key) ?? 0) + 1;
    api.inFlight.set(key, n);
    api.maxInFlight = Math.max(api.maxInFlight, n);
    setTimeout(() => {
      api.inFlight.set(key, (api.inFlight.get(key) ?? 1) - 1);
      const mode = api.mode.get(key) ?? 200;
      if (mode === 'down') return void req.socket.destroy();
      res.writeHead(mode, { 'content-type': 'application/json' }).end('{}');
    }, api.delayMs);
  }),
};

const FAST = {
  OUTBOUND_ALLOWED_NETWORKS: '127.0.0.1/32',
  HEALTH_CHECK_POLL_MS: '100',
  HEALTH_CHECK_INTERVAL_MS: '400',
  HEALTH_CHECK_MIN_INTERVAL_MS: '100',
  HEALTH_CHECK_RETRY_BASE_MS: '100',
  HEALTH_CHECK_ERROR_AFTER: '2',
};

let gw: TestGateway;
let org: SeededOrg;

afterAll(async () => {
  api.server.closeAllConnections();
  await new Promise((r) => api.server.close(r));
});

useWorld({ env: FAST, orgs: { org: { customers: ['c0', 'c1', 'c2'] } }, timeout: 60_000 }, async (w) => {
  ({ gw, org } = w);
  await new Promise<void>((r) => api.server.listen(0, '127.0.0.1', r));
  api.url = `http://127.0.0.1:${(api.server.address() as AddressInfo).port}`;
  const fields = [{ key: 'apiKey', label: 'API key', type: 'STRING', required: true, secret: true }];
  const checked = await makeConnector(gw.app, org.orgId, {
    key: 'checked-api',
    name: 'Checked API',
    authType: 'CUSTOM_AUTH',
    fields,
    testRequest: { method: 'GET', url: `${api.url}/me`, headers: { authorization: 'Bearer {{apiKey}}' } },
  });
  const unchecked = await makeConnector(gw.app, org.orgId, { key: 'unchecked-api', name: 'Unchecked API', authType: 'CUSTOM_AUTH', fields });
  const never = await makeConnector(gw.app, org.orgId, {
    key: 'never-api',
    name: 'Never API',
    authType: 'CUSTOM_AUTH',
    fields,
    testRequest: { method: 'GET', url: `${api.url}/me`, headers: { authorization: 'Bearer {{apiKey}}' }, checkIntervalSeconds: 0 },
  });
  for (const [stableKey, connector] of [['checked', checked], ['unchecked', unchecked], ['never', never]] as const) {
    const connection = await makeConnection(gw.app, org.orgId, { stableKey, name: stableKey, connectorId: connector.id, type: 'ORG_ACTIVATED_CUSTOMER' });
    for (const c of org.customers) {
      await putValue(gw.app, connection.id, { kind: 'CUSTOMER', customerId: c.id }, { apiKey: `${stableKey}-${c.externalId}-key` }, { status: 'ACTIVE' });
    }
  }
});

type Node = { status: string; lastError: string | null; customer: { externalId: string } | null; connection: { stableKey: string }; lastCheck: { ok: boolean; message: string | null; consecutiveFailures: number } | null; history: { edges: { node: { from: string | null; to: string | null; cause: string; actorKind: string; via: string } }[] } };

async function values(): Promise<Node[]> {
  const r = await gql(gw.url, Values, {}, org.adminToken);
  return r.data!.connectionValues.edges.map((e) => e.node as Node);
}

async function valueOf(stableKey: string, customer: string): Promise<Node> {
  return (await values()).find((v) => v.connection.stableKey === stableKey && v.customer?.externalId === customer)!;
}

async function until(what: string, pred: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('scheduled checks', () => {
  it('every value with a test request is checked; a 401 sets ERROR, a success ACTIVE again — the gateway’s own transitions in the history', async () => {
    await until('every checked value has passed a check', async () => (await values()).filter((v) => v.connection.stableKey === 'checked').every((v) => v.lastCheck?.ok));
    api.mode.set('checked-c0-key', 401);
    await until('c0 is in ERROR', async () => (await valueOf('checked', 'c0')).status === 'ERROR');
    const broken = await valueOf('checked', 'c0');
    expect(broken.lastCheck).toMatchObject({ ok: false, message: 'Test request answered HTTP 401' });
    expect(broken.lastError).toBe('Test request answered HTTP 401');
    expect((await valueOf('checked', 'c1')).status).toBe('ACTIVE');

    api.mode.set('checked-c0-key', 200);
    await until('c0 is ACTIVE again', async () => (await valueOf('checked', 'c0')).status === 'ACTIVE');
    const recovered = await valueOf('checked', 'c0');
    expect(recovered.lastCheck).toMatchObject({ ok: true, consecutiveFailures: 0 });
    const transitions = recovered.history.edges.map((e) => e.node).filter((h) => h.cause.startsWith('check.'));
    expect(transitions).toEqual([
      { from: 'ACTIVE', to: 'ERROR', cause: 'check.failed', actorKind: 'SYSTEM', via: 'system' },
      { from: 'ERROR', to: 'ACTIVE', cause: 'check.recovered', actorKind: 'SYSTEM', via: 'system' },
    ]);
  });

  it('an API out of reach: counted, ERROR only after HEALTH_CHECK_ERROR_AFTER failures in a row', async () => {
    api.mode.set('checked-c1-key', 'down');
    await until('c1 is in ERROR', async () => (await valueOf('checked', 'c1')).status === 'ERROR');
    const v = await valueOf('checked', 'c1');
    expect(v.lastCheck!.ok).toBe(false);
    expect(v.lastCheck!.consecutiveFailures).toBeGreaterThanOrEqual(2);
    expect(v.lastCheck!.message).toMatch(/^Test request to 127\.0\.0\.1:\d+ failed/);
    // The transition came with the second failure, not the first.
    const failed = v.history.edges.map((e) => e.node).filter((h) => h.cause === 'check.failed');
    expect(failed).toHaveLength(1);
    api.mode.set('checked-c1-key', 200);
    await until('c1 is ACTIVE again', async () => (await valueOf('checked', 'c1')).status === 'ACTIVE');
  });

  it('a check that changes nothing (no transition) leaves the value’s updatedAt as it was', async () => {
    const c2 = org.customers.find((c) => c.externalId === 'c2')!;
    const row = () => gw.app.db.prisma.connectionValue.findFirstOrThrow({ where: { customerId: c2.id, connection: { stableKey: 'checked' } } });
    await until('c2 has passed a check', async () => (await row()).lastCheckOk === true);
    const before = await row();
    await until('c2 is checked twice more', async () => (await row()).lastCheckAt!.getTime() > before.lastCheckAt!.getTime() + 300);
    const after = await row();
    expect(after.status).toBe('ACTIVE');
    expect(after.updatedAt.toISOString()).toBe(before.updatedAt.toISOString());
  });

  it('a connector without a test request, or with checkIntervalSeconds: 0, is never checked', async () => {
    for (const v of await values()) {
      if (v.connection.stableKey !== 'checked') expect(v.lastCheck, v.connection.stableKey).toBeNull();
    }
    expect([...api.hits.keys()].filter((k) => !k.startsWith('checked-'))).toEqual([]);
  });

  it('two gateways on one database: no value is checked by both at once', async () => {
    api.delayMs = 150;
    const second = await startGateway({}, { on: gw });
    try {
      const start = Date.now();
      await new Promise((r) => setTimeout(r, 3_000));
      expect(api.maxInFlight).toBe(1);
      // Consecutive checks of a value are an interval apart (a value claimed by both would be checked twice at once).
      for (const c of ['c0', 'c1', 'c2']) {
        const hits = api.hits.get(`checked-${c}-key`)!.filter((t) => t >= start);
        expect(hits.length).toBeGreaterThan(2);
        const gaps = hits.slice(1).map((t, i) => t - hits[i]!);
        expect(Math.min(...gaps)).toBeGreaterThan(250);
      }
    } finally {
      await second.close();
    }
  });
});
