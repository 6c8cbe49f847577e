import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeId } from '../src/ids.js';
import { pruneEvents } from '../src/modules/feed/retention.js';
import { setValueStatus } from '../src/modules/values/service.js';
import type { SeededOrg } from '../src/seed/demo.js';
import { graphql } from './gql/index.js';
import { gql } from './helpers/client.js';
import { Collector, wsClient } from './helpers/feed.js';
import type { TestGateway } from './helpers/gateway.js';
import { asOrg, makeApiKey, makeConnection, makeConnector, putValue, setStatus, valueOf } from './helpers/fixtures.js';
import { useWorld } from './helpers/world.js';

/**
 * The admin view's live health feed (`connectionHealthChanged`,
 * modules/health/events.ts) over real graphql-ws clients: status
 * transitions, failed refreshes and scheduled checks of the organization's
 * values reach its org principals (filtered by customer, connection,
 * connector or kind) and customer users for their own customer's values they
 * may see; ordered, replayed after a reconnect with nothing twice, written
 * only with a committed change. Across instances: feed-cluster.test.ts.
 */
const Health = graphql(`
  subscription HealthFeed($customerId: ID, $connectionId: ID, $connectorId: ID, $kinds: [ConnectionHealthEventKind!], $after: String) {
    connectionHealthChanged(customerId: $customerId, connectionId: $connectionId, connectorId: $connectorId, kinds: $kinds, after: $after) {
      cursor
      kind
      at
      connectionId
      connection { stableKey }
      value { status }
      valueKind
      customer { externalId }
      from
      to
      ok
      cause
      message
      actorKind
    }
  }
`);

const SetMyValue = graphql(`
  mutation HealthFeedSetMyValue($connectionId: ID!, $values: JSON!) {
    setMyConnectionValue(connectionId: $connectionId, values: $values) {
      __typename
      ... on Error { code message }
    }
  }
`);

const SetValue = graphql(`
  mutation HealthFeedSetValue($target: ConnectionValueTarget!, $values: JSON!) {
    setConnectionValue(target: $target, values: $values) {
      __typename
      ... on Error { code message }
    }
  }
`);

const Clear = graphql(`
  mutation HealthFeedClear($target: ConnectionValueTarget!) {
    clearConnectionValue(target: $target) {
      __typename
      ... on Error { code message }
    }
  }
`);

const RevokeKey = graphql(`
  mutation HealthFeedRevokeKey($id: ID!) {
    revokeApiKey(id: $id) {
      __typename
      ... on Error { code message }
    }
  }
`);

interface Ev {
  cursor: string;
  kind: string;
  at: string | null;
  connectionId: string | null;
  connection: { stableKey: string } | null;
  value: { status: string } | null;
  valueKind: string | null;
  customer: { externalId: string } | null;
  from: string | null;
  to: string | null;
  ok: boolean | null;
  cause: string | null;
  message: string | null;
  actorKind: string | null;
}

/** The local API: the checked connector's test request (`GET /me`) and the flaky OAuth2 token endpoint (`POST /token`, always 503). */
const api = {
  mode: new Map<string, 200 | 401>(),
  url: '',
  server: createServer((req: IncomingMessage, res: ServerResponse) => {
    if (req.url === '/token') {
      req.resume();
      return void res.writeHead(503, { 'content-type': 'application/json' }).end('{"error":"temporarily_unavailable"}');
    }
    const key = (req.headers.authorization ?? '').replace(/^Bearer /, '');
    res.writeHead(api.mode.get(key) ?? 200, { 'content-type': 'application/json' }).end('{}');
  }),
};

let gw: TestGateway;
let acme: SeededOrg;
let other: SeededOrg;
/** Global ids. */
const ids = { cust: '', org: '', plain: '', otherPlain: '', otherConn: '', otherConnector: '' };
/** Database ids. */
const raw = { cust: '', org: '', plainConnector: '', orgConnector: '' };
const gid = (type: string, id: string) => encodeId(type, id);

afterAll(async () => {
  api.server.closeAllConnections();
  await new Promise((r) => api.server.close(r));
});

useWorld(
  {
    env: {
      LOG_LEVEL: 'silent',
      OUTBOUND_ALLOWED_NETWORKS: '127.0.0.1/32',
      HEALTH_CHECK_POLL_MS: '100',
      HEALTH_CHECK_INTERVAL_MS: '500',
      HEALTH_CHECK_MIN_INTERVAL_MS: '100',
      HEALTH_CHECK_RETRY_BASE_MS: '100',
      HEALTH_CHECK_ERROR_AFTER: '1',
      HEALTH_REFRESH_MARGIN_MS: '2000',
      HEALTH_REFRESH_POLL_MS: '100',
    },
    orgs: { acme: { customers: ['a', 'b'] }, other: { customers: ['x'] } },
    timeout: 60_000,
  },
  async (w) => {
    ({ gw, acme, other } = w);
    await new Promise<void>((r) => api.server.listen(0, '127.0.0.1', r));
    api.url = `http://127.0.0.1:${(api.server.address() as AddressInfo).port}`;
    const fields = [{ key: 'token', label: 'Token', type: 'STRING', required: true, secret: true }];
    const plain = await makeConnector(gw.app, acme.orgId, { key: 'plain', name: 'Plain', authType: 'SECRET_TEXT', fields });
    const orgConnector = await makeConnector(gw.app, acme.orgId, { key: 'orgapi', name: 'Org API', authType: 'SECRET_TEXT', fields });
    const cust = await makeConnection(gw.app, acme.orgId, { stableKey: 'cust', name: 'Cust', connectorId: plain.id, type: 'CUSTOMER_ACTIVATED' });
    const org = await makeConnection(gw.app, acme.orgId, { stableKey: 'org', name: 'Org', connectorId: orgConnector.id, type: 'ORG_ACTIVATED_CUSTOMER' });
    const otherPlain = await makeConnector(gw.app, other.orgId, { key: 'plain', name: 'Plain', authType: 'SECRET_TEXT', fields });
    const otherConn = await makeConnection(gw.app, other.orgId, { stableKey: 'cust', name: 'Cust', connectorId: otherPlain.id, type: 'CUSTOMER_ACTIVATED' });
    Object.assign(raw, { cust: cust.id, org: org.id, plainConnector: plain.id, orgConnector: orgConnector.id });
    Object.assign(ids, {
      cust: gid('Connection', cust.id),
      org: gid('Connection', org.id),
      plain: gid('Connector', plain.id),
      otherPlain: gid('Connector', otherPlain.id),
      otherConn: gid('Connection', otherConn.id),
      otherConnector: gid('Connector', otherPlain.id),
    });
  },
);

/** The newest committed health cursor: subscribing after it makes a test independent of set-up time. */
async function healthCursor(): Promise<string> {
  const r = await gw.db.prisma.healthEvent.aggregate({ _max: { id: true } });
  return (r._max.id ?? 0n).toString();
}

const clients: ReturnType<typeof wsClient>[] = [];
afterAll(async () => {
  for (const c of clients) await c.dispose();
});
function follow(token: string, vars: Record<string, unknown>): Collector<Ev> {
  const client = wsClient(gw.url, token);
  clients.push(client);
  return new Collector<Ev>(client, Health, vars, 'connectionHealthChanged');
}

async function succeeds(p: Promise<{ data?: unknown; errors?: unknown }>): Promise<void> {
  const r = await p;
  const payload = Object.values((r.data ?? {}) as Record<string, { __typename?: string }>)[0];
  expect(payload?.__typename, JSON.stringify(r)).toMatch(/Success$/);
}

const brief = (e: Ev) => [e.kind, e.connection?.stableKey ?? null, e.customer?.externalId ?? null, e.from, e.to, e.actorKind];

describe('who may follow what', () => {
  it('refuses runtimes, and hides other organizations’ and other customers’ customers, connections and connectors', async () => {
    const a = acme.customers[0]!;
    const cases: [string, Record<string, unknown>, string][] = [
      [a.runtimeToken, {}, 'FORBIDDEN'],
      [acme.adminToken, { customerId: gid('Customer', other.customers[0]!.id) }, 'NOT_FOUND'],
      [acme.adminToken, { connectionId: ids.otherConn }, 'NOT_FOUND'],
      [acme.adminToken, { connectorId: ids.otherConnector }, 'NOT_FOUND'],
      [a.userToken, { customerId: gid('Customer', acme.customers[1]!.id) }, 'NOT_FOUND'],
      // An org-activated connection does not exist for a customer user, nor does its connector.
      [a.userToken, { connectionId: ids.org }, 'NOT_FOUND'],
      [a.userToken, { connectorId: gid('Connector', raw.orgConnector) }, 'NOT_FOUND'],
      [acme.adminToken, { after: 'abc' }, 'VALIDATION_FAILED'],
    ];
    for (const [token, vars, code] of cases) {
      const c = follow(token, vars);
      await c.until((x) => x.errors.length > 0 || x.completed, 10_000, code);
      expect(JSON.stringify(c.errors), JSON.stringify(vars)).toContain(code);
      expect(c.events).toHaveLength(0);
    }
  });

  it('a revoked API key’s subscription ends when the revocation answers', async () => {
    const key = await makeApiKey(gw.app, acme.orgId, { name: 'health-view' });
    const c = follow(key.secret, {});
    await new Promise((r) => setTimeout(r, 300));
    await succeeds(gql(gw.url, RevokeKey, { id: gid('ApiKey', key.id) }, acme.adminToken));
    await c.until((x) => x.completed || x.errors.length > 0, 5_000, 'the end of the subscription');
  });
});

describe('status transitions', () => {
  it('reach org principals across the org (filtered by customer, connection, connector), customer users for their own visible values, nobody in another org', async () => {
    const after = await healthCursor();
    const [a, b] = acme.customers as [SeededOrg['customers'][number], SeededOrg['customers'][number]];
    const all = follow(acme.adminToken, { after });
    const byKey = follow(acme.apiKey, { after, connectionId: ids.cust });
    const byConnector = follow(acme.adminToken, { after, connectorId: gid('Connector', raw.orgConnector) });
    const byCustomer = follow(acme.adminToken, { after, customerId: gid('Customer', b.id) });
    const userA = follow(a.userToken, { after });
    const userB = follow(b.userToken, { after });
    const stranger = follow(other.adminToken, { after });

    // 1. A customer user enters its credential (PENDING-less: created ACTIVE).
    await succeeds(gql(gw.url, SetMyValue, { connectionId: ids.cust, values: { token: 'a-token-1' } }, a.userToken));
    // 2. The org pushes customer b's credential of the org-activated connection.
    await succeeds(gql(gw.url, SetValue, { target: { connectionId: ids.org, customerId: gid('Customer', b.id), slot: 'CUSTOMER' }, values: { token: 'b-org-token' } }, acme.adminToken));
    // 3. a's value breaks.
    await setStatus(gw.app, raw.cust, a.id, 'ERROR', 'the API said no');
    // 4. a's value is cleared by the org.
    await succeeds(gql(gw.url, Clear, { target: { connectionId: ids.cust, customerId: gid('Customer', a.id), slot: 'CUSTOMER' } }, acme.adminToken));
    // 5. b enters its own credential.
    await succeeds(gql(gw.url, SetMyValue, { connectionId: ids.cust, values: { token: 'b-token-1' } }, b.userToken));

    await all.count(5);
    await byKey.count(4);
    await byConnector.count(1);
    await byCustomer.count(2);
    await userA.count(3);
    await userB.count(1);
    // Anything wrongly offered would have arrived with the rest.
    await new Promise((r) => setTimeout(r, 500));

    expect(all.events.map(brief)).toEqual([
      ['STATUS_CHANGED', 'cust', 'a', null, 'ACTIVE', 'CUSTOMER_USER'],
      ['STATUS_CHANGED', 'org', 'b', null, 'ACTIVE', 'ORG_USER'],
      ['STATUS_CHANGED', 'cust', 'a', 'ACTIVE', 'ERROR', 'ORG_USER'],
      ['STATUS_CHANGED', 'cust', 'a', 'ERROR', null, 'ORG_USER'],
      ['STATUS_CHANGED', 'cust', 'b', null, 'ACTIVE', 'CUSTOMER_USER'],
    ]);
    // Ordered by cursor, each with its time; the error's message; a cleared value is gone.
    const cursors = all.events.map((e) => BigInt(e.cursor));
    expect([...cursors].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0))).toEqual(cursors);
    expect(all.events.every((e) => e.at !== null && e.valueKind === 'CUSTOMER')).toBe(true);
    expect(all.events[2]).toMatchObject({ message: 'the API said no', connectionId: ids.cust });
    expect(all.events[3]!.value).toBeNull();

    expect(byKey.events.map((e) => e.connection?.stableKey)).toEqual(['cust', 'cust', 'cust', 'cust']);
    expect(byConnector.events.map(brief)).toEqual([all.events.map(brief)[1]]);
    expect(byCustomer.events.map((e) => e.cursor)).toEqual([all.events[1]!.cursor, all.events[4]!.cursor]);
    // Customer users: their own customer's values of the connections they configure — not the org-activated one, not the other customer's.
    expect(userA.events.map((e) => e.cursor)).toEqual([all.events[0]!.cursor, all.events[2]!.cursor, all.events[3]!.cursor]);
    expect(userB.events.map((e) => e.cursor)).toEqual([all.events[4]!.cursor]);
    expect(stranger.events).toHaveLength(0);
    expect([all, byKey, byConnector, byCustomer, userA, userB, stranger].flatMap((c) => c.errors)).toEqual([]);
    // No secret in any event.
    expect(JSON.stringify(all.events)).not.toMatch(/token-1|b-org-token/);
  });

  it('reconnecting with the last cursor replays exactly what was missed, then continues live; a pruned cursor gets RESYNC', async () => {
    const a = acme.customers[0]!;
    await putValue(gw.app, raw.cust, { kind: 'CUSTOMER', customerId: a.id }, { token: 'a-token-2' }, { status: 'ACTIVE' });
    const after = await healthCursor();
    const first = follow(acme.adminToken, { after, connectionId: ids.cust });
    const flip = (status: 'ACTIVE' | 'ERROR') => setStatus(gw.app, raw.cust, a.id, status, status === 'ERROR' ? 'down' : undefined);
    await flip('ERROR');
    await flip('ACTIVE');
    await first.count(2);
    first.close();
    const last = first.events.at(-1)!.cursor;
    // Missed while away.
    await flip('ERROR');
    await flip('ACTIVE');
    await flip('ERROR');
    const second = follow(acme.adminToken, { after: last, connectionId: ids.cust });
    await second.count(3);
    await flip('ACTIVE');
    await second.count(4);
    await new Promise((r) => setTimeout(r, 300));
    expect(second.events.map((e) => [e.from, e.to])).toEqual([
      ['ACTIVE', 'ERROR'],
      ['ERROR', 'ACTIVE'],
      ['ACTIVE', 'ERROR'],
      ['ERROR', 'ACTIVE'],
    ]);
    const all = [...first.events, ...second.events].map((e) => e.cursor);
    expect(new Set(all).size).toBe(all.length);

    // Retention took everything but the newest row: an older cursor cannot be served.
    await pruneEvents(gw.db.prisma.healthEvent, 0, new Date(Date.now() + 60_000));
    const stale = follow(acme.adminToken, { after: last, connectionId: ids.cust });
    await stale.count(1);
    expect(stale.events[0]).toMatchObject({ kind: 'RESYNC', connection: null, at: null });
    expect(BigInt(stale.events[0]!.cursor)).toBeGreaterThanOrEqual(BigInt(second.events.at(-1)!.cursor));
  });

  it('an event is written with its change: a rolled-back change leaves none', async () => {
    const a = acme.customers[0]!;
    const value = await valueOf(gw.app, raw.cust, a.id);
    const before = await gw.db.prisma.healthEvent.count();
    await expect(
      asOrg(gw.app, acme.orgId, async (op) => {
        await setValueStatus(op, value.id, value.status === 'ACTIVE' ? 'ERROR' : 'ACTIVE', 'rolled back');
        throw new Error('changed my mind');
      }),
    ).rejects.toThrow('changed my mind');
    expect(await gw.db.prisma.healthEvent.count()).toBe(before);
    await setStatus(gw.app, raw.cust, a.id, value.status === 'ACTIVE' ? 'ERROR' : 'ACTIVE', 'committed');
    expect(await gw.db.prisma.healthEvent.count()).toBe(before + 1);
  });
});

describe('the gateway’s own work', () => {
  it('scheduled checks: each check an event, a failure’s transition right after it — by SYSTEM', async () => {
    const checked = await makeConnector(gw.app, acme.orgId, {
      key: 'checked',
      name: 'Checked',
      authType: 'SECRET_TEXT',
      fields: [{ key: 'token', label: 'Token', type: 'STRING', required: true, secret: true }],
      testRequest: { method: 'GET', url: `${api.url}/me`, headers: { authorization: 'Bearer {{token}}' } },
    });
    const connection = await makeConnection(gw.app, acme.orgId, { stableKey: 'checked', name: 'Checked', connectorId: checked.id, type: 'ORG_ACTIVATED_GLOBAL' });
    const after = await healthCursor();
    const checks = follow(acme.adminToken, { after, connectorId: gid('Connector', checked.id) });
    const onlyTransitions = follow(acme.adminToken, { after, connectorId: gid('Connector', checked.id), kinds: ['STATUS_CHANGED'] });
    await putValue(gw.app, connection.id, { kind: 'GLOBAL' }, { token: 'checked-global' }, { status: 'ACTIVE' });
    await checks.until((c) => c.events.filter((e) => e.kind === 'CHECKED').length >= 2, 15_000, 'two passed checks');
    api.mode.set('checked-global', 401);
    await checks.until((c) => c.events.some((e) => e.kind === 'STATUS_CHANGED' && e.to === 'ERROR'), 15_000, 'the check failure’s transition');
    api.mode.delete('checked-global');
    await onlyTransitions.until((c) => c.events.some((e) => e.to === 'ACTIVE' && e.cause === 'check.recovered'), 15_000, 'recovery');

    const evs = checks.events;
    expect(evs[0]).toMatchObject({ kind: 'STATUS_CHANGED', from: null, to: 'ACTIVE', valueKind: 'GLOBAL', customer: null });
    const passed = evs.find((e) => e.kind === 'CHECKED')!;
    expect(passed).toMatchObject({ ok: true, cause: 'check.passed', actorKind: 'SYSTEM', connection: { stableKey: 'checked' } });
    const broke = evs.findIndex((e) => e.kind === 'STATUS_CHANGED' && e.to === 'ERROR');
    expect(evs[broke - 1]).toMatchObject({ kind: 'CHECKED', ok: false, cause: 'check.unexpected_status', message: 'Test request answered HTTP 401', actorKind: 'SYSTEM' });
    expect(evs[broke]).toMatchObject({ from: 'ACTIVE', cause: 'check.failed', actorKind: 'SYSTEM', message: 'Test request answered HTTP 401' });
    // The kinds filter: transitions only, the same ones, in the same order.
    expect(onlyTransitions.events.every((e) => e.kind === 'STATUS_CHANGED')).toBe(true);
    const transitions = evs.filter((e) => e.kind === 'STATUS_CHANGED').map((e) => e.cursor);
    expect(onlyTransitions.events.map((e) => e.cursor).slice(0, transitions.length)).toEqual(transitions);
    // Checks of other organizations or connectors are not offered (the connector filter), and no check is offered twice.
    const cursors = evs.map((e) => e.cursor);
    expect(new Set(cursors).size).toBe(cursors.length);
    await gw.db.prisma.connection.update({ where: { id: connection.id }, data: { archivedAt: new Date() } });
    // Audited as the gateway's own work: checks counted per connection and minute, each transition a row.
    await new Promise((r) => setTimeout(r, 300));
    const audited = await gw.db.prisma.auditEvent.findMany({ where: { orgId: acme.orgId, principalKind: 'SYSTEM', principalId: 'scheduled-check' }, orderBy: { id: 'asc' } });
    const checkedEvents = (await gw.db.prisma.healthEvent.count({ where: { connectionId: connection.id, kind: 'CHECKED' } }));
    expect(audited.filter((r) => r.action === 'connection.checked' && r.targetId === connection.id).reduce((n, r) => n + r.count, 0)).toBe(checkedEvents);
    expect(audited.filter((r) => r.action === 'connectionValue.status').map((r) => (r.detail as { cause: string }).cause)).toEqual(['check.failed', 'check.recovered']);
  }, 60_000);

  it('a failed OAuth2 refresh (the provider unavailable) is an event with its message, by SYSTEM', async () => {
    const flaky = await makeConnector(gw.app, acme.orgId, {
      key: 'flaky',
      name: 'Flaky',
      authType: 'OAUTH2',
      oauth2: { grantType: 'client_credentials', tokenUrl: `${api.url}/token`, clientId: 'cid', scopes: [] },
      oauthClientSecret: 'flaky-client-secret',
    });
    const connection = await makeConnection(gw.app, acme.orgId, { stableKey: 'flaky', name: 'Flaky', connectorId: flaky.id, type: 'ORG_ACTIVATED_GLOBAL' });
    const after = await healthCursor();
    const sub = follow(acme.adminToken, { after, connectionId: gid('Connection', connection.id), kinds: ['REFRESH_FAILED'] });
    await putValue(gw.app, connection.id, { kind: 'GLOBAL' }, { accessToken: 'flaky-access' }, { status: 'ACTIVE', expiresAt: new Date(Date.now() + 1000) });
    await sub.count(1, 30_000);
    expect(sub.events[0]).toMatchObject({ kind: 'REFRESH_FAILED', cause: 'refresh.failed', actorKind: 'SYSTEM', from: null, to: null, valueKind: 'GLOBAL', value: { status: 'ACTIVE' } });
    expect(sub.events[0]!.message).toMatch(/^Token refresh failed temporarily/);
    expect(JSON.stringify(sub.events)).not.toMatch(/flaky-access|flaky-client-secret/);
    const audited = await gw.db.prisma.auditEvent.findMany({ where: { action: 'oauth.renew_failed', targetId: connection.id } });
    expect(audited.length).toBeGreaterThan(0);
    expect(audited.every((r) => r.principalKind === 'SYSTEM' && r.principalId === 'background-refresh')).toBe(true);
    await gw.db.prisma.connection.update({ where: { id: connection.id }, data: { archivedAt: new Date() } });
  }, 60_000);
});
