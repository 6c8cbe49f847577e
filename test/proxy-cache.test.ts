import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newKeySpec } from '../src/crypto/keyring.js';
import type { SeededOrg } from '../src/seed/demo.js';
import { graphql } from './gql/index.js';
import { gid, gql, http } from './helpers/client.js';
import { createInstance, createIntegration } from '../src/modules/integrations/service.js';
import { asOrg, makeApiKey, makeConnection, makeConnector, putValue } from './helpers/fixtures.js';
import { startGateway, type TestGateway } from './helpers/gateway.js';
import { spawnInstance, type Instance } from './helpers/instance.js';
import { json, Upstream } from './helpers/upstream.js';
import { useWorld } from './helpers/world.js';

/**
 * What the proxy keeps per instance (modules/proxy/cache.ts) never outlives
 * the change that replaced it: for each kind of change, made over HTTP on one
 * gateway, a call on the other gateway right after the change's answer sees
 * it — and so does one on the first. On PostgreSQL + Redis the other gateway
 * is a process of its own (the change reaches it through Redis and is
 * acknowledged before the change answers); on the embedded database, a
 * second gateway on the same database in this process. The cache's time
 * limit is set far beyond the test, so only the announcement can make these
 * pass. In the steady state a proxy call sends no SQL at all: its audit count
 * is written later, in a group — and, when a gateway stops, before it does.
 */
const postgres = !!process.env.DATABASE_URL;
const cluster = postgres && !!process.env.REDIS_URL;
const upstream = new Upstream();
const keys = newKeySpec('cache');
const LONG_TTL = '600000';
/** Audit counts are written only when read or when the gateway stops, within these tests. */
const LONG_FLUSH = '60000';
let a: TestGateway;
let org: SeededOrg;
let other: Instance | undefined;
let inProcess: TestGateway | undefined;
let bUrl: string;

beforeAll(async () => {
  await upstream.listen();
});
afterAll(async () => {
  await upstream.close();
});

const env = {
  OUTBOUND_ALLOWED_NETWORKS: '127.0.0.1/32',
  ENCRYPTION_KEYS: keys,
  PROXY_CACHE_TTL_MS: LONG_TTL,
  PROXY_AUDIT_FLUSH_MS: LONG_FLUSH,
  ...(cluster ? { REDIS_URL: process.env.REDIS_URL! } : {}),
};

// PostgreSQL without Redis keeps nothing (instances could not be told of changes): nothing to test there.
describe.skipIf(postgres && !cluster)('the proxy’s cache: every change is seen by the next call, on every instance', () => {
  useWorld({ env, orgs: { org: { customers: ['acme', 'globex'] } }, timeout: 60_000 }, async (w) => {
    ({ gw: a, org } = w);
    if (cluster) {
      if (a.app.config.database.kind !== 'postgres') throw new Error('needs PostgreSQL');
      other = await spawnInstance('test/helpers/proxy-instance.ts', {
        DATABASE_URL: a.app.config.database.url,
        REDIS_URL: process.env.REDIS_URL!,
        AUTH_SECRET: a.app.config.authSecret,
        ENCRYPTION_KEYS: keys,
        OUTBOUND_ALLOWED_NETWORKS: '127.0.0.1/32',
        PROXY_CACHE_TTL_MS: LONG_TTL,
        PROXY_AUDIT_FLUSH_MS: LONG_FLUSH,
        RATE_LIMITS: 'off',
        HEALTH_WORKERS: 'false',
      });
      bUrl = other.url;
    } else {
      inProcess = await startGateway({}, { on: a });
      bUrl = inProcess.url;
    }
  });
  afterAll(async () => {
    await other?.stop();
    await inProcess?.close();
  });

  const ArchiveConnection = graphql(`
    mutation PxCacheArchive($id: ID!) { archiveConnection(id: $id) { __typename } }
  `);
  const SetValue = graphql(`
    mutation PxCacheSetValue($target: ConnectionValueTarget!, $values: JSON!) { setConnectionValue(target: $target, values: $values) { __typename } }
  `);
  const ClearValue = graphql(`
    mutation PxCacheClearValue($target: ConnectionValueTarget!) { clearConnectionValue(target: $target) { __typename } }
  `);
  const UpdateConnector = graphql(`
    mutation PxCacheUpdateConnector($id: ID!, $patch: ConnectorPatch!) { updateConnector(id: $id, patch: $patch) { __typename } }
  `);
  const UpdateConnection = graphql(`
    mutation PxCacheUpdateConnection($id: ID!, $patch: ConnectionPatch!) { updateConnection(id: $id, patch: $patch) { __typename } }
  `);
  const TestConnection = graphql(`
    mutation PxCacheTest($connectionId: ID!, $customerId: ID) { testConnection(connectionId: $connectionId, customerId: $customerId) { __typename } }
  `);
  const RevokeKey = graphql(`
    mutation PxCacheRevokeKey($id: ID!) { revokeApiKey(id: $id) { __typename } }
  `);
  const CreateCustomer = graphql(`
    mutation PxCacheCreateCustomer($input: CustomerInput!) { createCustomer(input: $input) { __typename ... on MutationCreateCustomerSuccess { data { id } } } }
  `);
  const DeleteCustomer = graphql(`
    mutation PxCacheDeleteCustomer($id: ID!) { deleteCustomer(id: $id) { __typename } }
  `);
  const IssueBoundToken = graphql(`
    mutation PxCacheIssueBoundToken($customerId: ID!, $instanceId: ID!) {
      issueRuntimeToken(customerId: $customerId, instanceId: $instanceId) { __typename ... on MutationIssueRuntimeTokenSuccess { data { token } } }
    }
  `);
  const SetIntegrationConnections = graphql(`
    mutation PxCacheSetIntegrationConnections($id: ID!, $connections: [RequiredConnectionInput!]!) { setIntegrationConnections(id: $id, connections: $connections) { __typename } }
  `);
  const IssueToken = graphql(`
    mutation PxCacheIssueToken($customerId: ID!) { issueRuntimeToken(customerId: $customerId) { __typename ... on MutationIssueRuntimeTokenSuccess { data { token } } } }
  `);

  /** A change over GraphQL on gateway A, as the org's admin; it must have succeeded. */
  async function change<R, V>(doc: Parameters<typeof gql<R, V>>[1], variables: V): Promise<R> {
    const r = await gql(a.url, doc, variables, org.adminToken);
    expect(r.errors, JSON.stringify(r.errors)).toBeUndefined();
    const payload = Object.values(r.data as Record<string, { __typename: string }>)[0]!;
    expect(payload.__typename, JSON.stringify(r.data)).toMatch(/Success$/);
    return r.data as R;
  }

  let n = 0;
  /** A SECRET_TEXT connector proxied to the upstream, a connection of it and acme's value. */
  async function setup(opts: { type?: string; extra?: Record<string, unknown>; connector?: Record<string, unknown> } = {}) {
    const key = `cached-${++n}-${randomBytes(3).toString('hex')}`;
    const secret = `first-${randomBytes(6).toString('hex')}`;
    const connector = await makeConnector(a.app, org.orgId, { key, name: key, authType: 'SECRET_TEXT', proxy: { baseUrl: `${upstream.url}/v1` }, ...opts.connector });
    const type = opts.type ?? 'CUSTOMER_ACTIVATED';
    const c = await makeConnection(a.app, org.orgId, { stableKey: key, name: key, connectorId: connector.id, type, ...opts.extra });
    await putValue(a.app, c.id, type === 'ORG_ACTIVATED_GLOBAL' ? { kind: 'GLOBAL' } : { kind: 'CUSTOMER', customerId: org.customers[0]!.id }, { secret_text: secret });
    return { key, secret, connectorId: connector.id, connectionId: c.id };
  }

  const runtime = () => org.customers[0]!.runtimeToken;
  function call(url: string, key: string, token = runtime(), headers: Record<string, string> = {}) {
    return http(`${url}/proxy/x`, { token, headers: { 'provider-config-key': key, ...headers } });
  }
  const both = () => [a.url, bUrl];

  /** Calls on both gateways succeed (and the cache now holds what they needed). */
  async function warm(key: string, token = runtime(), headers: Record<string, string> = {}) {
    for (const url of both()) {
      const r = await call(url, key, token, headers);
      expect(r.status, r.body).toBe(200);
    }
  }

  it('a new value: the next call sends the new credential', async () => {
    const s = await setup();
    upstream.reset();
    await warm(s.key);
    expect(upstream.received.map((r) => r.headers.authorization)).toEqual([`Bearer ${s.secret}`, `Bearer ${s.secret}`]);
    await change(SetValue, { target: { connectionId: gid('Connection', s.connectionId), customerId: gid('Customer', org.customers[0]!.id), slot: 'CUSTOMER' }, values: { secret_text: 'second-secret' } });
    upstream.reset();
    for (const url of [bUrl, a.url]) expect((await call(url, s.key)).status).toBe(200);
    expect(upstream.received.map((r) => r.headers.authorization)).toEqual(['Bearer second-secret', 'Bearer second-secret']);
  });

  it('a value cleared: 404', async () => {
    const s = await setup();
    await warm(s.key);
    await change(ClearValue, { target: { connectionId: gid('Connection', s.connectionId), customerId: gid('Customer', org.customers[0]!.id), slot: 'CUSTOMER' } });
    upstream.reset();
    for (const url of [bUrl, a.url]) expect((await call(url, s.key)).status).toBe(404);
    expect(upstream.received).toEqual([]);
  });

  it('a value’s status (a failed test marks it ERROR): refused', async () => {
    const s = await setup({ connector: { testRequest: { method: 'GET', url: `${upstream.url}/check` } } });
    upstream.reset((req, res) => json(res, req.path === '/check' ? 500 : 200, {}));
    await warm(s.key);
    await change(TestConnection, { connectionId: gid('Connection', s.connectionId), customerId: gid('Customer', org.customers[0]!.id) });
    upstream.reset();
    for (const url of [bUrl, a.url]) {
      const r = await call(url, s.key);
      expect(r.status, r.body).toBeGreaterThanOrEqual(400);
      expect(r.json()).toMatchObject({ error: { code: 'CREDENTIAL_ERROR' } });
    }
    expect(upstream.received).toEqual([]);
  });

  it('the connection archived: 404', async () => {
    const s = await setup();
    await warm(s.key);
    await change(ArchiveConnection, { id: gid('Connection', s.connectionId) });
    upstream.reset();
    for (const url of [bUrl, a.url]) expect((await call(url, s.key)).status).toBe(404);
    expect(upstream.received).toEqual([]);
  });

  it('the connector’s proxy settings changed: the next call goes where they now say, with the credential as they now say', async () => {
    const s = await setup();
    await warm(s.key);
    await change(UpdateConnector, {
      id: gid('Connector', s.connectorId),
      patch: { proxy: { baseUrl: `${upstream.url}/v2`, inject: { headers: { 'X-Api-Key': '{{secret_text}}' } } } },
    });
    upstream.reset();
    for (const url of [bUrl, a.url]) expect((await call(url, s.key)).status).toBe(200);
    expect(upstream.received.map((r) => [r.path, r.headers['x-api-key'], r.headers.authorization])).toEqual([
      ['/v2/x', s.secret, undefined],
      ['/v2/x', s.secret, undefined],
    ]);
  });

  it('the allow-list of a global connection no longer names the customer: refused', async () => {
    const s = await setup({ type: 'ORG_ACTIVATED_GLOBAL', extra: { restrictToAllowList: true, allowedCustomerIds: [org.customers[0]!.id] } });
    await warm(s.key);
    await change(UpdateConnection, { id: gid('Connection', s.connectionId), patch: { allowedCustomerIds: [gid('Customer', org.customers[1]!.id)] } });
    upstream.reset();
    for (const url of [bUrl, a.url]) expect((await call(url, s.key)).status).toBe(403);
    expect(upstream.received).toEqual([]);
  });

  it('an API key revoked: 401', async () => {
    const s = await setup();
    const key = await makeApiKey(a.app, org.orgId, { name: 'cached' });
    await warm(s.key, key.secret, { 'connection-id': 'acme' });
    await change(RevokeKey, { id: gid('ApiKey', key.id) });
    upstream.reset();
    for (const url of [bUrl, a.url]) expect((await call(url, s.key, key.secret, { 'connection-id': 'acme' })).status).toBe(401);
    expect(upstream.received).toEqual([]);
  });

  it('a customer deleted: its runtime token is refused (401), and an API key naming it finds nothing (404)', async () => {
    const s = await setup({ type: 'ORG_ACTIVATED_GLOBAL' });
    const externalId = `gone-${randomBytes(3).toString('hex')}`;
    const created = await change(CreateCustomer, { input: { externalId, name: externalId } });
    const customerId = (created.createCustomer as { data: { id: string } }).data.id;
    const issued = await change(IssueToken, { customerId });
    const token = (issued.issueRuntimeToken as { data: { token: string } }).data.token;
    await warm(s.key, token);
    await warm(s.key, org.apiKey, { 'connection-id': externalId });
    await change(DeleteCustomer, { id: customerId });
    upstream.reset();
    for (const url of [bUrl, a.url]) {
      expect((await call(url, s.key, token)).status).toBe(401);
      expect((await call(url, s.key, org.apiKey, { 'connection-id': externalId })).status).toBe(404);
    }
    expect(upstream.received).toEqual([]);
  });

  it('an instance-bound token whose integration no longer uses the connection: refused', async () => {
    const s = await setup();
    const { integration, instance } = await asOrg(a.app, org.orgId, async (op) => {
      const integration = await createIntegration(op, { stableKey: `int-${s.key}`, name: s.key, connections: [{ connectionStableKey: s.key }] });
      return { integration, instance: await createInstance(op, { integrationId: integration.id, customerId: org.customers[0]!.id }) };
    });
    const issued = await change(IssueBoundToken, { customerId: gid('Customer', org.customers[0]!.id), instanceId: gid('Instance', instance.id) });
    const token = (issued.issueRuntimeToken as { data: { token: string } }).data.token;
    await warm(s.key, token);
    await change(SetIntegrationConnections, { id: gid('Integration', integration.id), connections: [] });
    upstream.reset();
    for (const url of [bUrl, a.url]) expect((await call(url, s.key, token)).status).toBe(403);
    expect(upstream.received).toEqual([]);
  });

  it('in the steady state a call sends no SQL at all', async () => {
    const s = await setup();
    upstream.reset();
    await call(a.url, s.key);
    await call(a.url, s.key, org.apiKey, { 'connection-id': 'acme' });
    a.resetQueries();
    for (let i = 0; i < 5; i++) {
      expect((await call(a.url, s.key)).status).toBe(200);
      expect((await call(a.url, s.key, org.apiKey, { 'connection-id': 'acme' })).status).toBe(200);
    }
    // Background work of the process (the feed's sweep, job leases) is not the calls'.
    const sql = a.queries.filter((q) => !/"FeedEvent"|"JobLease"/.test(q));
    expect(sql, sql.join('\n')).toEqual([]);
    expect(upstream.received).toHaveLength(12);
    // Every call is counted: a read of the audit log on this instance writes the counts first.
    const rows = await a.db.prisma.auditEvent.findMany({ where: { orgId: org.orgId, action: 'connection.proxy', targetId: s.connectionId } });
    expect(rows.map((r) => [r.principalKind, (r.detail as { outcome: string }).outcome, r.count]).sort()).toEqual([
      ['API_KEY', 'HTTP_2XX', 6],
      ['RUNTIME', 'HTTP_2XX', 6],
    ]);
  });

  it('a gateway that stops writes the audit counts of the calls it answered first', async () => {
    const s = await setup();
    let stopping: { url: string; stop(): Promise<void> };
    if (cluster) {
      const p = await spawnInstance('test/helpers/proxy-instance.ts', {
        DATABASE_URL: a.app.config.database.kind === 'postgres' ? a.app.config.database.url : '',
        REDIS_URL: process.env.REDIS_URL!,
        AUTH_SECRET: a.app.config.authSecret,
        ENCRYPTION_KEYS: keys,
        OUTBOUND_ALLOWED_NETWORKS: '127.0.0.1/32',
        PROXY_AUDIT_FLUSH_MS: LONG_FLUSH,
        RATE_LIMITS: 'off',
        HEALTH_WORKERS: 'false',
      });
      stopping = { url: p.url, stop: () => p.stop() };
    } else {
      const g = await startGateway({}, { on: a });
      stopping = { url: g.url, stop: () => g.close() };
    }
    for (let i = 0; i < 7; i++) expect((await call(stopping.url, s.key)).status).toBe(200);
    await stopping.stop();
    // Read past the audit log's read hook (which would write this instance's counts, not the stopped one's).
    const [{ total }] = await a.db.prisma.$queryRaw<[{ total: number | null }]>`
      SELECT SUM("count")::int AS total FROM "AuditEvent" WHERE "action" = 'connection.proxy' AND "targetId" = ${s.connectionId}`;
    expect(total).toBe(7);
  });
});
