import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { newKeySpec, parseKeyRing } from '../src/crypto/keyring.js';
import { pruneAuditEvents } from '../src/audit.js';
import type { SeededOrg } from '../src/seed/demo.js';
import { graphql } from './gql/index.js';
import { findLeaks, gid, gql, resolutionLog, responseLog } from './helpers/client.js';
import { makeConnection, makeConnector, putValue, valueOf } from './helpers/fixtures.js';
import { capturedLogs, type TestGateway } from './helpers/gateway.js';
import { useWorld } from './helpers/world.js';

const Resolve = graphql(`
  query RuntimeResolve($stableKey: String!) {
    resolveConnection(stableKey: $stableKey) {
      __typename
      ... on ResolvedCredential { connectionId stableKey connectorKey authType type valueKind fields secrets props }
      ... on ResolutionProblem { code message }
      ... on ResolutionNotFound { reason }
      ... on ResolutionNotPermitted { connectionId }
      ... on ResolutionError { retryable }
    }
  }
`);

const ResolveByExternalId = graphql(`
  query RuntimeResolveByExternalId($externalId: String!) {
    resolveConnectionByExternalId(externalId: $externalId) {
      __typename
      ... on ResolvedCredential { stableKey externalId props }
      ... on ResolutionProblem { code message }
    }
  }
`);

const AdminValues = graphql(`
  query RuntimeAdminValues($id: ID!) {
    node(id: $id) {
      ... on Connection {
        values { edges { node { kind status lastError fields secrets { key set last4 } } } }
        testValue { status fields secrets { key set last4 } }
        globalValue { status fields secrets { key set last4 } }
      }
    }
  }
`);

const TestConnection = graphql(`
  mutation RuntimeTestConnection($connectionId: ID!, $slot: ValueKind, $customerId: ID, $timeoutMs: Int) {
    testConnection(connectionId: $connectionId, slot: $slot, customerId: $customerId, timeoutMs: $timeoutMs) {
      __typename
      ... on MutationTestConnectionSuccess { data { ok failure httpStatus message status value { status lastError } } }
      ... on Error { code message }
    }
  }
`);

let gw: TestGateway;
let org: SeededOrg;
let other: SeededOrg;
let acme: SeededOrg['customers'][number];
let globex: SeededOrg['customers'][number];
const SECRETS = {
  acmeKey: 'acme-api-key-5f1e9c2b7a',
  globexKey: 'globex-api-key-0d8e4a1c6b',
  globalKey: 'global-api-key-9a7c3e5d1f',
  restrictedKey: 'restricted-key-2b4d6f8a0c',
  otherOrgKey: 'other-org-key-1a3c5e7b9d',
  acmePassword: 'acme-password-e3b0c44298',
  testKey: 'test-creds-key-8f14e45fce',
  wrongKey: 'wrong-api-key-c4ca4238a0',
};

const ids: Record<string, string> = {};
let apiServer: Server;
let apiUrl: string;
let hangServer: Server;
let hangUrl: string;

async function listen(server: Server): Promise<string> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

// Registered first, so it runs after the gateway has closed (afterAll hooks run in reverse).
afterAll(async () => {
  apiServer?.closeAllConnections();
  apiServer?.close();
  hangServer?.closeAllConnections();
  hangServer?.close();
});

// Every log line, debug included, is scanned for secrets at the end. The test APIs run on this
// machine: loopback is allowed explicitly (the outbound policy refuses it by default).
useWorld({ env: { LOG_LEVEL: 'debug', OUTBOUND_ALLOWED_NETWORKS: '127.0.0.1/32' }, orgs: { org: { customers: ['acme', 'globex'] }, other: { customers: ['acme'] } } }, async (w) => {
  ({ gw, org, other } = w);
  [acme, globex] = org.customers as [typeof acme, typeof globex];

  // A third-party API for "test connection": 200 for the right key, 401 otherwise.
  apiServer = createServer((req, res) => {
    const ok = [SECRETS.acmeKey, SECRETS.testKey, SECRETS.globalKey].includes(String(req.headers['x-api-key']));
    res.statusCode = ok ? 200 : 401;
    res.end(ok ? '{"ok":true}' : `{"error":"bad key ${String(req.headers['x-api-key'])}"}`);
  });
  apiUrl = await listen(apiServer);
  // An API that accepts the connection and never answers.
  hangServer = createServer(() => {});
  hangUrl = await listen(hangServer);

  const s = gw.app;
  const apiKeyConnector = await makeConnector(s, org.orgId, {
    key: 'acme-api',
    name: 'API key app',
    authType: 'SECRET_TEXT',
    testRequest: { method: 'GET', url: `${apiUrl}/me`, headers: { 'x-api-key': '{{secret_text}}' } },
  });
  const basic = await makeConnector(s, org.orgId, { key: 'basic-app', name: 'Basic app', authType: 'BASIC_AUTH' });
  const hanging = await makeConnector(s, org.orgId, {
    key: 'slow-app',
    name: 'Slow app',
    authType: 'SECRET_TEXT',
    testRequest: { method: 'GET', url: `${hangUrl}/me`, headers: { 'x-api-key': '{{secret_text}}' } },
  });
  // A port nobody listens on any more: connections are refused.
  const refusedServer = createServer();
  const refusedUrl = await listen(refusedServer);
  await new Promise<void>((r) => refusedServer.close(() => r()));
  const refusing = await makeConnector(s, org.orgId, {
    key: 'down-app',
    name: 'Down app',
    authType: 'SECRET_TEXT',
    testRequest: { method: 'GET', url: `${refusedUrl}/me`, headers: { 'x-api-key': '{{secret_text}}' } },
  });

  const perCustomer = await makeConnection(s, org.orgId, {
    stableKey: 'per-customer',
    name: 'Per customer',
    connectorId: apiKeyConnector.id,
    type: 'ORG_ACTIVATED_CUSTOMER',
  });
  ids.perCustomer = perCustomer.id;
  await putValue(s, perCustomer.id, { kind: 'CUSTOMER', customerId: acme.id }, { secret_text: SECRETS.acmeKey });
  await putValue(s, perCustomer.id, { kind: 'CUSTOMER', customerId: globex.id }, { secret_text: SECRETS.globexKey });
  await putValue(s, perCustomer.id, { kind: 'TEST' }, { secret_text: SECRETS.testKey });

  const activated = await makeConnection(s, org.orgId, {
    stableKey: 'customer-basic',
    name: 'Customer basic',
    connectorId: basic.id,
    type: 'CUSTOMER_ACTIVATED',
    externalId: 'gelato_acme',
  });
  ids.activated = activated.id;
  await putValue(s, activated.id, { kind: 'CUSTOMER', customerId: acme.id }, { username: 'acme-user', password: SECRETS.acmePassword });

  const global = await makeConnection(s, org.orgId, {
    stableKey: 'global',
    name: 'Global',
    connectorId: apiKeyConnector.id,
    type: 'ORG_ACTIVATED_GLOBAL',
  });
  ids.global = global.id;
  await putValue(s, global.id, { kind: 'GLOBAL' }, { secret_text: SECRETS.globalKey });

  const restricted = await makeConnection(s, org.orgId, {
    stableKey: 'restricted',
    name: 'Restricted global',
    connectorId: apiKeyConnector.id,
    type: 'ORG_ACTIVATED_GLOBAL',
    restrictToAllowList: true,
    allowedCustomerIds: [acme.id],
  });
  ids.restricted = restricted.id;
  await putValue(s, restricted.id, { kind: 'GLOBAL' }, { secret_text: SECRETS.restrictedKey });

  const testOnly = await makeConnection(s, org.orgId, {
    stableKey: 'test-only',
    name: 'Test only',
    connectorId: apiKeyConnector.id,
    type: 'ORG_ACTIVATED_CUSTOMER',
  });
  ids.testOnly = testOnly.id;
  await putValue(s, testOnly.id, { kind: 'TEST' }, { secret_text: SECRETS.testKey });

  for (const [key, status] of [
    ['pending', 'PENDING'],
    ['errored', 'ERROR'],
    ['expired', 'EXPIRED'],
  ] as const) {
    const c = await makeConnection(s, org.orgId, { stableKey: key, name: key, connectorId: apiKeyConnector.id, type: 'ORG_ACTIVATED_CUSTOMER' });
    ids[key] = c.id;
    const v = await putValue(s, c.id, { kind: 'CUSTOMER', customerId: acme.id }, { secret_text: SECRETS.acmeKey }, { status });
    if (status !== 'PENDING') {
      await gw.db.prisma.connectionValue.update({ where: { id: v.id }, data: { lastError: `${key}: the provider said no` } });
    }
  }
  const archived = await makeConnection(s, org.orgId, { stableKey: 'archived', name: 'a', connectorId: apiKeyConnector.id, type: 'ORG_ACTIVATED_CUSTOMER' });
  await putValue(s, archived.id, { kind: 'CUSTOMER', customerId: acme.id }, { secret_text: SECRETS.acmeKey });
  await gw.db.prisma.connection.update({ where: { id: archived.id }, data: { archivedAt: new Date() } });

  const slow = await makeConnection(s, org.orgId, { stableKey: 'slow', name: 'slow', connectorId: hanging.id, type: 'ORG_ACTIVATED_CUSTOMER' });
  ids.slow = slow.id;
  await putValue(s, slow.id, { kind: 'CUSTOMER', customerId: acme.id }, { secret_text: SECRETS.acmeKey });
  const down = await makeConnection(s, org.orgId, { stableKey: 'down', name: 'down', connectorId: refusing.id, type: 'ORG_ACTIVATED_CUSTOMER' });
  ids.down = down.id;
  await putValue(s, down.id, { kind: 'CUSTOMER', customerId: acme.id }, { secret_text: SECRETS.acmeKey });

  // Another org with a connection of the same stable key.
  const otherConnector = await makeConnector(s, other.orgId, { key: 'acme-api', name: 'x', authType: 'SECRET_TEXT' });
  const otherConn = await makeConnection(s, other.orgId, {
    stableKey: 'per-customer',
    name: 'Other org',
    connectorId: otherConnector.id,
    type: 'ORG_ACTIVATED_GLOBAL',
  });
  await putValue(s, otherConn.id, { kind: 'GLOBAL' }, { secret_text: SECRETS.otherOrgKey });
  const onlyOther = await makeConnection(s, other.orgId, {
    stableKey: 'only-in-other-org',
    name: 'Other org only',
    connectorId: otherConnector.id,
    type: 'ORG_ACTIVATED_GLOBAL',
    externalId: 'gelato_other',
  });
  await putValue(s, onlyOther.id, { kind: 'GLOBAL' }, { secret_text: SECRETS.otherOrgKey });
});

async function resolve(stableKey: string, token: string) {
  const r = await gql(gw.url, Resolve, { stableKey }, token, { resolution: true });
  return r.data?.resolveConnection ?? r;
}

describe('runtime resolution: type rules', () => {
  it("per-customer types give the token's customer its own value", async () => {
    expect(await resolve('per-customer', acme.runtimeToken)).toMatchObject({
      __typename: 'ResolvedCredential',
      stableKey: 'per-customer',
      connectorKey: 'acme-api',
      authType: 'SECRET_TEXT',
      type: 'ORG_ACTIVATED_CUSTOMER',
      valueKind: 'CUSTOMER',
      secrets: { secret_text: SECRETS.acmeKey },
      connectionId: gid('Connection', ids.perCustomer!),
    });
    expect(await resolve('per-customer', globex.runtimeToken)).toMatchObject({ secrets: { secret_text: SECRETS.globexKey } });
    expect(await resolve('customer-basic', acme.runtimeToken)).toMatchObject({
      type: 'CUSTOMER_ACTIVATED',
      fields: { username: 'acme-user' },
      secrets: { password: SECRETS.acmePassword },
      props: { username: 'acme-user', password: SECRETS.acmePassword },
    });
  });

  it('a customer without its own value gets NOT_FOUND (VALUE); test credentials are never served', async () => {
    expect(await resolve('customer-basic', globex.runtimeToken)).toMatchObject({
      __typename: 'ResolutionNotFound',
      code: 'NOT_FOUND',
      reason: 'VALUE',
    });
    expect(await resolve('test-only', acme.runtimeToken)).toMatchObject({ __typename: 'ResolutionNotFound', reason: 'VALUE' });
  });

  it('global connections: every customer, or only the allow-listed ones', async () => {
    for (const c of [acme, globex]) {
      expect(await resolve('global', c.runtimeToken)).toMatchObject({ valueKind: 'GLOBAL', secrets: { secret_text: SECRETS.globalKey } });
    }
    expect(await resolve('restricted', acme.runtimeToken)).toMatchObject({ secrets: { secret_text: SECRETS.restrictedKey } });
    expect(await resolve('restricted', globex.runtimeToken)).toMatchObject({
      __typename: 'ResolutionNotPermitted',
      code: 'NOT_PERMITTED',
      connectionId: gid('Connection', ids.restricted!),
    });
  });

  it("other orgs' connections and archived ones are NOT_FOUND (CONNECTION)", async () => {
    // Same stable key in another org: this org's value, never the other's.
    expect(await resolve('per-customer', acme.runtimeToken)).toMatchObject({ secrets: { secret_text: SECRETS.acmeKey } });
    for (const key of ['only-in-other-org', 'archived', 'no-such-key']) {
      expect(await resolve(key, acme.runtimeToken)).toEqual({
        __typename: 'ResolutionNotFound',
        code: 'NOT_FOUND',
        message: 'Connection not found',
        reason: 'CONNECTION',
      });
    }
    // The other org's runtime sees its own global value under the same key.
    expect(await resolve('per-customer', other.customers[0]!.runtimeToken)).toMatchObject({
      secrets: { secret_text: SECRETS.otherOrgKey },
    });
  });

  it('value status gives distinct answers: PENDING → NOT_FOUND, ERROR → ERROR (last error), EXPIRED → EXPIRED', async () => {
    expect(await resolve('pending', acme.runtimeToken)).toMatchObject({ __typename: 'ResolutionNotFound', reason: 'VALUE' });
    expect(await resolve('errored', acme.runtimeToken)).toMatchObject({
      __typename: 'ResolutionError',
      code: 'ERROR',
      message: 'errored: the provider said no',
      retryable: false,
    });
    expect(await resolve('expired', acme.runtimeToken)).toMatchObject({
      __typename: 'ResolutionExpired',
      code: 'EXPIRED',
      message: 'expired: the provider said no',
    });
  });

  it("by external id (Activepieces' connections.get('gelato_' + externalId))", async () => {
    const r = await gql(gw.url, ResolveByExternalId, { externalId: 'gelato_acme' }, acme.runtimeToken, { resolution: true });
    expect(r.data?.resolveConnectionByExternalId).toMatchObject({
      __typename: 'ResolvedCredential',
      stableKey: 'customer-basic',
      externalId: 'gelato_acme',
      props: { username: 'acme-user', password: SECRETS.acmePassword },
    });
    const otherOrg = await gql(gw.url, ResolveByExternalId, { externalId: 'gelato_other' }, acme.runtimeToken, { resolution: true });
    expect(otherOrg.data?.resolveConnectionByExternalId).toMatchObject({ __typename: 'ResolutionNotFound' });
  });

  it('instance- and workflow-bound tokens only reach the connections they use', async () => {
    const prisma = gw.db.prisma;
    const integration = await prisma.integration.create({
      data: { orgId: org.orgId, stableKey: 'sync', name: 'Sync', connections: { create: [{ connectionId: ids.perCustomer! }] } },
    });
    const instance = await prisma.instance.create({
      data: { orgId: org.orgId, integrationId: integration.id, customerId: acme.id, name: 'acme sync' },
    });
    const instanceToken = await gw.app.tokens.signRuntime({ orgId: org.orgId, customerId: acme.id, instanceId: instance.id });
    expect(await resolve('per-customer', instanceToken)).toMatchObject({ __typename: 'ResolvedCredential' });
    expect(await resolve('global', instanceToken)).toMatchObject({ __typename: 'ResolutionNotPermitted' });
    // Global ids are accepted in the binding too.
    const byGid = await gw.app.tokens.signRuntime({ orgId: org.orgId, customerId: acme.id, instanceId: gid('Instance', instance.id) });
    expect(await resolve('per-customer', byGid)).toMatchObject({ __typename: 'ResolvedCredential' });
    // Someone else's instance: nothing resolves.
    const foreign = await gw.app.tokens.signRuntime({ orgId: org.orgId, customerId: globex.id, instanceId: instance.id });
    expect(await resolve('per-customer', foreign)).toMatchObject({ __typename: 'ResolutionNotPermitted' });

    const workflow = await prisma.workflow.create({ data: { orgId: org.orgId, customerId: acme.id, name: 'wf' } });
    const connector = await prisma.connector.findFirstOrThrow({ where: { orgId: org.orgId, key: 'acme-api' } });
    await prisma.workflowStep.create({
      data: { workflowId: workflow.id, position: 0, name: 'call', connectorId: connector.id, connectionId: ids.global! },
    });
    const workflowToken = await gw.app.tokens.signRuntime({ orgId: org.orgId, customerId: acme.id, workflowId: workflow.id });
    expect(await resolve('global', workflowToken)).toMatchObject({ __typename: 'ResolvedCredential' });
    expect(await resolve('per-customer', workflowToken)).toMatchObject({ __typename: 'ResolutionNotPermitted' });
  });

  it('only runtime tokens may resolve', async () => {
    for (const token of [org.adminToken, org.apiKey, acme.userToken]) {
      const r = await gql(gw.url, Resolve, { stableKey: 'per-customer' }, token, { resolution: true });
      expect(r.data).toBeNull();
      expect(r.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    }
    const anonymous = await fetch(`${gw.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ resolveConnection(stableKey: "per-customer") { __typename } }' }),
    });
    const body = (await anonymous.json()) as { errors: { extensions: { code: string } }[] };
    expect(body.errors[0]!.extensions.code).toBe('UNAUTHENTICATED');
  });

  it('every resolution is audited with who, which connection and the outcome — never the value', async () => {
    const resolutions = async () =>
      (await gw.db.prisma.auditEvent.aggregate({ where: { action: 'connection.resolve' }, _sum: { count: true } }))._sum.count ?? 0;
    const before = await resolutions();
    const lastId = (await gw.db.prisma.auditEvent.aggregate({ _max: { id: true } }))._max.id ?? 0n;
    await resolve('per-customer', acme.runtimeToken);
    await resolve('restricted', globex.runtimeToken);
    await resolve('no-such-key', acme.runtimeToken);
    // Every resolution counts once: a success is a row of its own, a failure adds to its minute's row.
    expect(await resolutions()).toBe(before + 3);
    const failures = await gw.db.prisma.auditEvent.findMany({ where: { action: 'connection.resolve', aggregateKey: { not: null } }, orderBy: { id: 'asc' } });
    const rowOf = (targetId: string | null | undefined, outcome: string) =>
      failures.find((r) => r.targetId === targetId && (r.detail as { outcome: string }).outcome === outcome);
    expect(rowOf(ids.restricted, 'NOT_PERMITTED')).toMatchObject({ principalKind: 'RUNTIME', orgId: org.orgId, detail: { customerId: globex.id } });
    expect(rowOf(null, 'NOT_FOUND')).toMatchObject({ principalKind: 'RUNTIME', orgId: org.orgId, detail: { customerId: acme.id } });
    const resolved = await gw.db.prisma.auditEvent.findMany({ where: { action: 'connection.resolve', aggregateKey: null, id: { gt: lastId } } });
    expect(resolved.map((r) => [r.principalKind, r.targetId, (r.detail as { outcome: string }).outcome, r.count])).toEqual([['RUNTIME', ids.perCustomer, 'RESOLVED', 1]]);
    expect(resolved[0]!).toMatchObject({ orgId: org.orgId, detail: { stableKey: 'per-customer', customerId: acme.id, valueKind: 'CUSTOMER' } });
  });

  it('repeated failed resolutions add to one audit row per token, connection, outcome and minute', async () => {
    const rows = () => gw.db.prisma.auditEvent.count({ where: { action: 'connection.resolve' } });
    const before = await rows();
    // Concurrent and sequential, over both surfaces: a misconfigured step retrying in a loop.
    await Promise.all(Array.from({ length: 20 }, () => resolve('restricted', globex.runtimeToken)));
    for (let i = 0; i < 10; i++) {
      const res = await fetch(`${gw.url}/runtime/v1/connection?stableKey=restricted`, { headers: { authorization: `Bearer ${globex.runtimeToken}` } });
      expect(res.status).toBe(403);
    }
    // One row (two if the minute turned meanwhile), not 30.
    expect((await rows()) - before).toBeLessThanOrEqual(2);
    const counted = await gw.db.prisma.auditEvent.aggregate({
      where: { action: 'connection.resolve', targetId: ids.restricted, aggregateKey: { not: null }, createdAt: { gte: new Date(Date.now() - 120_000) } },
      _sum: { count: true },
    });
    expect(counted._sum.count).toBeGreaterThanOrEqual(30);
  });

  it('concurrent resolutions are answered only once their audit rows are committed', async () => {
    const rows = () => gw.db.prisma.auditEvent.count({ where: { action: 'connection.resolve', targetId: ids.perCustomer, aggregateKey: null } });
    const before = await rows();
    const answers = await Promise.all(
      Array.from({ length: 20 }, () => fetch(`${gw.url}/runtime/v1/connection?stableKey=per-customer`, { headers: { authorization: `Bearer ${acme.runtimeToken}` } })),
    );
    expect(answers.map((a) => a.status)).toEqual(Array(20).fill(200));
    expect(await rows()).toBe(before + 20);
  });

  it('audit rows older than the retention are pruned', async () => {
    const old = new Date(Date.now() - 400 * 86_400_000);
    await gw.db.prisma.auditEvent.create({
      data: { orgId: org.orgId, principalKind: 'RUNTIME', principalId: 'old', action: 'connection.resolve', targetType: 'Connection', createdAt: old },
    });
    const recent = await gw.db.prisma.auditEvent.count();
    expect(await pruneAuditEvents(gw.db.prisma, 365)).toBe(1);
    expect(await gw.db.prisma.auditEvent.count({ where: { principalId: 'old' } })).toBe(0);
    // The pruning itself is in the organization's log, as the gateway's own work.
    const pruned = await gw.db.prisma.auditEvent.findMany({ where: { action: 'audit.pruned' } });
    expect(pruned.map((r) => [r.orgId, r.principalKind, r.principalId, (r.detail as { rows: number }).rows, (r.detail as { retentionDays: number }).retentionDays])).toEqual([
      [org.orgId, 'SYSTEM', 'retention', 1, 365],
    ]);
    expect(await gw.db.prisma.auditEvent.count()).toBe(recent - 1 + 1);
  });
});

describe('runtime REST path', () => {
  async function rest(query: string, token?: string) {
    const res = await fetch(`${gw.url}/runtime/v1/connection?${query}`, {
      headers: token ? { authorization: `Bearer ${token}` } : {},
    });
    const text = await res.text();
    (res.status === 200 ? resolutionLog : responseLog).push(text);
    return { status: res.status, body: JSON.parse(text) as Record<string, unknown> };
  }

  it('resolves by stable key or external id with the same rules, typed status and HTTP code', async () => {
    expect(await rest('stableKey=per-customer', acme.runtimeToken)).toMatchObject({
      status: 200,
      body: { status: 'RESOLVED', valueKind: 'CUSTOMER', props: { secret_text: SECRETS.acmeKey } },
    });
    expect(await rest('externalId=gelato_acme', acme.runtimeToken)).toMatchObject({
      status: 200,
      body: { status: 'RESOLVED', stableKey: 'customer-basic', props: { username: 'acme-user', password: SECRETS.acmePassword } },
    });
    expect(await rest('stableKey=customer-basic', globex.runtimeToken)).toMatchObject({ status: 404, body: { status: 'NOT_FOUND', reason: 'VALUE' } });
    expect(await rest('stableKey=only-in-other-org', acme.runtimeToken)).toMatchObject({ status: 404, body: { reason: 'CONNECTION' } });
    expect(await rest('stableKey=restricted', globex.runtimeToken)).toMatchObject({ status: 403, body: { status: 'NOT_PERMITTED' } });
    expect(await rest('stableKey=expired', acme.runtimeToken)).toMatchObject({ status: 409, body: { status: 'EXPIRED' } });
    expect(await rest('stableKey=errored', acme.runtimeToken)).toMatchObject({ status: 409, body: { status: 'ERROR', retryable: false } });
  });

  it('needs a runtime token and exactly one key', async () => {
    expect((await rest('stableKey=per-customer')).status).toBe(401);
    expect((await rest('stableKey=per-customer', 'garbage')).status).toBe(401);
    expect(await rest('stableKey=per-customer', org.adminToken)).toMatchObject({ status: 403, body: { status: 'FORBIDDEN' } });
    expect(await rest('stableKey=per-customer', acme.userToken)).toMatchObject({ status: 403 });
    expect((await rest('stableKey=a&externalId=b', acme.runtimeToken)).status).toBe(400);
    expect((await rest('', acme.runtimeToken)).status).toBe(400);
  });
});

describe('test connection', () => {
  it("runs the connector's test request with a customer's value and marks it ACTIVE", async () => {
    await gw.db.prisma.connectionValue.update({
      where: { connectionId_slot: { connectionId: ids.perCustomer!, slot: acme.id } },
      data: { status: 'ERROR', lastError: 'old' },
    });
    const r = await gql(gw.url, TestConnection, { connectionId: gid('Connection', ids.perCustomer!), customerId: gid('Customer', acme.id) }, org.adminToken);
    expect(r.data?.testConnection).toMatchObject({
      __typename: 'MutationTestConnectionSuccess',
      data: { ok: true, failure: null, httpStatus: 200, status: 'ACTIVE', value: { status: 'ACTIVE', lastError: null } },
    });
  });

  it('with the TEST credentials', async () => {
    const r = await gql(gw.url, TestConnection, { connectionId: gid('Connection', ids.perCustomer!), slot: 'TEST' }, org.adminToken);
    expect(r.data?.testConnection).toMatchObject({ data: { ok: true, status: 'ACTIVE' } });
  });

  it('a rejected credential → ERROR with the status, never the response body', async () => {
    await putValue(gw.app, ids.perCustomer!, { kind: 'CUSTOMER', customerId: globex.id }, { secret_text: SECRETS.wrongKey });
    const r = await gql(gw.url, TestConnection, { connectionId: gid('Connection', ids.perCustomer!), customerId: gid('Customer', globex.id) }, org.adminToken);
    expect(r.data?.testConnection).toMatchObject({
      data: { ok: false, failure: 'UNEXPECTED_STATUS', httpStatus: 401, status: 'ERROR', message: 'Test request answered HTTP 401' },
    });
    expect((await valueOf(gw.app, ids.perCustomer!, globex.id)).lastError).toBe('Test request answered HTTP 401');
  });

  it('a refused connection is a clear, typed failure recorded on the value', async () => {
    const r = await gql(gw.url, TestConnection, { connectionId: gid('Connection', ids.down!), customerId: gid('Customer', acme.id) }, org.adminToken);
    expect(r.data?.testConnection).toMatchObject({ data: { ok: false, failure: 'CONNECTION_REFUSED', status: 'ERROR' } });
    const d = (r.data!.testConnection as { data: { message: string } }).data;
    expect(d.message).toMatch(/connection refused/);
  });

  it('a server that never answers times out (no hang)', async () => {
    const r = await gql(
      gw.url,
      TestConnection,
      { connectionId: gid('Connection', ids.slow!), customerId: gid('Customer', acme.id), timeoutMs: 1000 },
      org.adminToken,
    );
    expect(r.data?.testConnection).toMatchObject({ data: { ok: false, failure: 'TIMEOUT', status: 'ERROR' } });
    expect((r.data!.testConnection as { data: { message: string } }).data.message).toMatch(/timed out after 1000 ms/);
    expect((await valueOf(gw.app, ids.slow!, acme.id)).status).toBe('ERROR');
  });

  it('customer users test their own value only; a connector without a test request is a validation error', async () => {
    const own = await gql(gw.url, TestConnection, { connectionId: gid('Connection', ids.activated!) }, acme.userToken);
    expect(own.data?.testConnection).toMatchObject({ __typename: 'ValidationError' });
    const hidden = await gql(gw.url, TestConnection, { connectionId: gid('Connection', ids.perCustomer!) }, acme.userToken);
    expect(hidden.data?.testConnection).toMatchObject({ __typename: 'NotFoundError' });
    const runtime = await gql(gw.url, TestConnection, { connectionId: gid('Connection', ids.perCustomer!) }, acme.runtimeToken);
    expect(runtime.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const bad = await gql(
      gw.url,
      TestConnection,
      { connectionId: gid('Connection', ids.perCustomer!), customerId: gid('Customer', acme.id), timeoutMs: 5 },
      org.adminToken,
    );
    expect(bad.data?.testConnection).toMatchObject({ __typename: 'ValidationError' });
  });
});

const SecretHostTest = graphql(`
  mutation RuntimeSecretHostTest($connectionId: ID!) {
    testConnection(connectionId: $connectionId) {
      __typename
      ... on MutationTestConnectionSuccess { data { ok failure message value { lastError history(first: 5) { edges { node { to message } } } } } }
      ... on Error { code message }
    }
  }
`);

const SecretHostRead = graphql(`
  query RuntimeSecretHostRead($id: ID!) {
    connection(id: $id) {
      values { edges { node { lastError } } }
      statusHistory(first: 10) { edges { node { to message } } }
    }
  }
`);

const SecretHostWebhook = graphql(`
  mutation RuntimeSecretHostWebhook($input: WebhookEndpointInput!) {
    createWebhookEndpoint(input: $input) { __typename }
  }
`);

describe('a failed test request never stores a message built from the filled template (issue 20)', () => {
  it('a secret field in the host: lastError, history and the webhook payload name the template, never the secret', async () => {
    const secret = `zqsecrethost${Date.now().toString(36)}`;
    const connector = await makeConnector(gw.app, other.orgId, {
      key: 'secret-host',
      name: 'Secret host',
      authType: 'CUSTOM_AUTH',
      fields: [
        { key: 'apiKey', label: 'API key', type: 'STRING', required: true, secret: true },
        { key: 'region', label: 'Region', type: 'STRING', required: true },
      ],
      testRequest: { method: 'GET', url: 'http://{{apiKey}}.{{region}}.invalid/ping?key={{apiKey}}' },
    });
    const connection = await makeConnection(gw.app, other.orgId, { stableKey: 'secret-host', name: 'Secret host', connectorId: connector.id, type: 'CUSTOMER_ACTIVATED' });
    const customer = other.customers[0]!;
    await putValue(gw.app, connection.id, { kind: 'CUSTOMER', customerId: customer.id }, { apiKey: secret, region: 'eu' });
    expect((await gql(gw.url, SecretHostWebhook, { input: { url: 'https://hooks.example.com/gateway', eventTypes: ['VALUE_ERROR'] } }, other.adminToken)).data?.createWebhookEndpoint.__typename).toBe(
      'MutationCreateWebhookEndpointSuccess',
    );

    const tested = await gql(gw.url, SecretHostTest, { connectionId: gid('Connection', connection.id) }, customer.userToken);
    const data = tested.data?.testConnection.__typename === 'MutationTestConnectionSuccess' ? tested.data.testConnection.data : null;
    expect(data).toMatchObject({ ok: false, failure: 'HOST_NOT_FOUND' });
    // Says what failed, in the template's words: the non-secret field filled, the secret one as its placeholder.
    expect(data!.message).toBe('Test request to {{apiKey}}.eu.invalid failed: host not found');
    expect(data!.value.lastError).toBe(data!.message);

    const stored = await valueOf(gw.app, connection.id, customer.id);
    const history = await gw.db.prisma.valueStatusChange.findMany({ where: { valueId: stored.id } });
    const outbox = await gw.db.prisma.webhookMessage.findMany({ where: { orgId: other.orgId, eventType: 'value.error' } });
    expect(outbox.length).toBeGreaterThan(0);
    const read = await gql(gw.url, SecretHostRead, { id: gid('Connection', connection.id) }, other.adminToken);
    const everything = JSON.stringify([tested, read, stored.lastError, history.map((h) => h.message), outbox.map((o) => o.payload)]);
    expect(everything).toContain('{{apiKey}}.eu.invalid');
    expect(everything).not.toContain(secret);
    expect(capturedLogs.some((l) => l.includes(secret))).toBe(false);
  });
});

describe('secrets never leak', () => {
  it('no response (other than runtime resolutions), audit row or log line contains a stored secret', async () => {
    const all = Object.values(SECRETS);
    // Admin reads of every connection's values: masked hints only.
    for (const id of Object.values(ids)) {
      const r = await gql(gw.url, AdminValues, { id: gid('Connection', id) }, org.adminToken);
      expect(r.errors).toBeUndefined();
    }
    const audit = (await gw.db.prisma.auditEvent.findMany()).map((a) => JSON.stringify(a, (_k, v) => (typeof v === 'bigint' ? String(v) : v)));
    expect(responseLog.length).toBeGreaterThan(15);
    expect(findLeaks(all, [...responseLog, ...capturedLogs, ...audit])).toEqual([]);
    expect(findLeaks(all, resolutionLog).length).toBeGreaterThan(3);
  });

  it('an unknown key in a ciphertext gives a clear error, not a crash', async () => {
    const foreign = parseKeyRing(newKeySpec('gone'));
    const v = await valueOf(gw.app, ids.global!, 'GLOBAL');
    await gw.db.prisma.connectionValue.update({
      where: { id: v.id },
      data: { secrets: { secret_text: foreign.encrypt('x', `connectionValue:${v.id}:secret_text`) } },
    });
    expect(await resolve('global', acme.runtimeToken)).toMatchObject({
      __typename: 'ResolutionError',
      message: 'The credential cannot be decrypted by this gateway (its key is missing from ENCRYPTION_KEYS?)',
      retryable: false,
    });
    expect(capturedLogs.some((l) => l.includes('which is not in the key ring'))).toBe(true);

    // A connector whose OAuth2 client secret this gateway cannot decrypt: refresh impossible, typed error.
    const oauth = await makeConnector(gw.app, org.orgId, {
      key: 'broken-oauth',
      name: 'Broken OAuth',
      authType: 'OAUTH2',
      oauth2: { grantType: 'client_credentials', tokenUrl: 'http://127.0.0.1:9/token', clientId: 'cid', scopes: [] },
      oauthClientSecret: 'broken-client-secret-123',
    });
    await gw.db.prisma.connector.update({
      where: { id: oauth.id },
      data: { oauthClientSecret: foreign.encrypt('x', `connector:${oauth.id}:oauthClientSecret`) },
    });
    const c = await makeConnection(gw.app, org.orgId, { stableKey: 'broken-oauth', name: 'b', connectorId: oauth.id, type: 'ORG_ACTIVATED_GLOBAL' });
    await putValue(gw.app, c.id, { kind: 'GLOBAL' }, { accessToken: 'stale-access-token-0123' }, { expiresAt: new Date(Date.now() - 1000) });
    expect(await resolve('broken-oauth', acme.runtimeToken)).toMatchObject({
      __typename: 'ResolutionError',
      message: "The connector's OAuth2 client cannot be used to refresh the token",
      retryable: false,
    });
  });
});
