import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { newKeySpec } from '../src/crypto/keyring.js';
import { seedOrg, type SeededOrg } from '../src/seed/demo.js';
import { graphql } from './gql/index.js';
import { gql, http } from './helpers/client.js';
import { asOrg, makeConnection, makeConnector, setStatus } from './helpers/fixtures.js';
import { startGateway, type TestGateway } from './helpers/gateway.js';
import { useWorld } from './helpers/world.js';
import { Receiver } from './helpers/webhook-receiver.js';
import { createCustomer, deleteCustomer } from '../src/modules/tenancy/service.js';

/**
 * Webhooks against a real HTTP receiver that verifies every signature with
 * the `standardwebhooks` package: events of a change arrive once committed,
 * filtered by the endpoint's types; a receiver that is down is retried until
 * it is up; the delivery log shows every attempt; redelivery; an endpoint
 * failing for too long is disabled and re-enabled by the org; the outbound
 * policy applies; a gateway killed mid-delivery loses nothing.
 */
const CreateEndpoint = graphql(`
  mutation WhCreateEndpoint($input: WebhookEndpointInput!) {
    createWebhookEndpoint(input: $input) {
      __typename
      ... on MutationCreateWebhookEndpointSuccess { data { secret endpoint { id url eventTypes enabled } } }
      ... on ValidationError { problems { path message } }
    }
  }
`);

const Endpoints = graphql(`
  query WhEndpoints {
    webhookEndpoints { edges { node { id url enabled disabledReason
      deliveries(first: 20) { edges { node { id messageId eventType status attempts lastStatusCode lastError lastLatencyMs deliveredAt attemptLog { statusCode error latencyMs } } } }
    } } }
  }
`);

const Redeliver = graphql(`
  mutation WhRedeliver($id: ID!) {
    redeliverWebhook(deliveryId: $id) { __typename ... on MutationRedeliverWebhookSuccess { data { status } } }
  }
`);

const ALLOW = { OUTBOUND_ALLOWED_NETWORKS: '127.0.0.1/32', WEBHOOK_POLL_MS: '50', WEBHOOK_RETRY_BASE_MS: '100', WEBHOOK_TIMEOUT_MS: '2000' };

async function createEndpoint(gw: TestGateway, token: string, input: { url: string; eventTypes?: string[] }) {
  const res = await gql(gw.url, CreateEndpoint, { input: input as never }, token);
  const out = res.data?.createWebhookEndpoint;
  if (out?.__typename !== 'MutationCreateWebhookEndpointSuccess') throw new Error(JSON.stringify(res));
  return out.data;
}

/** Polls until `check` holds (the receiver answers before the worker records the outcome). */
async function eventually<T>(read: () => Promise<T>, check: (v: T) => boolean, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await read();
    if (check(v) || Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function deliveries(gw: TestGateway, token: string) {
  const res = await gql(gw.url, Endpoints, {}, token);
  return res.data!.webhookEndpoints.edges.map((e) => e.node);
}

describe('webhooks', () => {
  let gw: TestGateway;
  let org: SeededOrg;
  let receiver: Receiver;

  // Registered first, so it runs after the gateway has closed (afterAll hooks run in reverse).
  afterAll(async () => {
    await receiver?.close();
  });
  useWorld({ env: ALLOW, orgs: { org: { customers: ['acme'] } }, timeout: 60_000 }, async (w) => {
    ({ gw, org } = w);
    receiver = await new Receiver().listen();
  });

  it('delivers each committed event once, signed, to the endpoints that take its type; the secret is shown once', async () => {
    const all = await createEndpoint(gw, org.adminToken, { url: receiver.url });
    expect(all.secret).toMatch(/^whsec_[A-Za-z0-9+/]{32}$/);
    receiver.secret = all.secret;
    const onlyErrors = await createEndpoint(gw, org.adminToken, { url: receiver.url + '?errors', eventTypes: ['VALUE_ERROR'] });
    expect(onlyErrors.endpoint.eventTypes).toEqual(['value.error']);

    const connector = await makeConnector(gw.app, org.orgId, { key: 'crm', name: 'CRM', authType: 'SECRET_TEXT' });
    const connection = await makeConnection(gw.app, org.orgId, { stableKey: 'crm', name: 'CRM', connectorId: connector.id, type: 'ORG_ACTIVATED_CUSTOMER' });
    const customer = await http(`${gw.url}/api/v1/projects`, { method: 'POST', token: org.apiKey, body: { displayName: 'Globex', externalId: 'globex' } });
    expect(customer.status).toBe(201);
    await setStatus(gw.app, connection.id, org.customers[0]!.id, 'ACTIVE');
    await receiver.until(() => receiver.received.length >= 3);
    await new Promise((r) => setTimeout(r, 300));
    // Delivered concurrently: no order between messages (the payload's timestamp orders them).
    expect(receiver.received.map((r) => r.type).sort()).toEqual(['connection.created', 'customer.created', 'value.activated']);
    expect(new Set(receiver.received.map((r) => r.id)).size).toBe(3);
    expect(receiver.received.find((r) => r.type === 'value.activated')!.payload.data).toMatchObject({ connectionStableKey: 'crm', customerExternalId: 'acme', status: 'ACTIVE', previousStatus: null, kind: 'CUSTOMER' });

    // value.error goes to both endpoints (one verifies with another secret: only the all-types one is checked here).
    await setStatus(gw.app, connection.id, org.customers[0]!.id, 'ERROR', 'HTTP 401 from the API');
    await receiver.until(() => receiver.received.some((r) => r.type === 'value.error'));
    const endpoints = await deliveries(gw, org.adminToken);
    const errorsOnly = endpoints.find((e) => e.url.endsWith('?errors'))!;
    expect(errorsOnly.deliveries.edges.map((e) => e.node.eventType)).toEqual(['value.error']);

    // Never the secret again: not in listings, not in REST.
    const listed = await http(`${gw.url}/api/v1/webhook-endpoints`, { token: org.apiKey });
    expect(listed.status).toBe(200);
    expect(listed.body).not.toContain(all.secret);
    expect(JSON.stringify(endpoints)).not.toContain(all.secret);
    // Customer users and other orgs: no endpoints.
    const asUser = await gql(gw.url, Endpoints, {}, org.customers[0]!.userToken);
    expect(asUser.data?.webhookEndpoints ?? null).toBeNull();
    const other = await seedOrg(gw.app, { customers: [] });
    expect((await deliveries(gw, other.adminToken)).length).toBe(0);
    expect((await http(`${gw.url}/api/v1/webhook-endpoints/${onlyErrors.endpoint.id}`, { token: other.apiKey })).status).toBe(404);
  });

  it('writes nothing for a rolled-back change', async () => {
    const before = await gw.app.db.prisma.webhookMessage.count();
    await expect(asOrg(gw.app, org.orgId, async (op) => {
      await createCustomer(op, { externalId: 'rolled-back', name: 'Rolled back' });
      throw new Error('abort');
    })).rejects.toThrow('abort');
    expect(await gw.app.db.prisma.webhookMessage.count()).toBe(before);
  });

  it('retries while the receiver is down, delivers once it is up; the log shows every attempt; redelivery sends it again', async () => {
    receiver.mode = 503;
    const start = receiver.received.length;
    await asOrg(gw.app, org.orgId, (op) => createCustomer(op, { externalId: 'initech', name: 'Initech' }));
    const logOf = async () =>
      (await deliveries(gw, org.adminToken)).find((e) => e.url === receiver.url)!.deliveries.edges.map((e) => e.node).find((d) => d.eventType === 'customer.created' && d.status !== 'SUCCEEDED');
    // The attempt count is raised when an attempt is claimed, its log row written when it ends: wait for three logged.
    for (let i = 0; i < 100 && ((await logOf())?.attemptLog.length ?? 0) < 3; i++) await new Promise((r) => setTimeout(r, 100));
    const failing = (await logOf())!;
    expect(failing.attempts).toBeGreaterThanOrEqual(3);
    expect(failing.attemptLog.slice(0, 3).map((a) => a.statusCode)).toEqual([503, 503, 503]);
    receiver.mode = 200;
    await receiver.until(() => receiver.received.length > start);
    const arrived = receiver.received.slice(start);
    expect(arrived.map((r) => r.type)).toEqual(['customer.created']);
    expect(arrived[0]!.payload.data).toMatchObject({ externalId: 'initech' });

    const log = await eventually(
      async () => (await deliveries(gw, org.adminToken)).find((e) => e.url === receiver.url)!.deliveries.edges.map((e) => e.node).find((d) => d.id === failing.id)!,
      (d) => d.status === 'SUCCEEDED',
    );
    expect(log).toMatchObject({ status: 'SUCCEEDED', lastStatusCode: 200, lastError: null });
    expect(log.attemptLog.at(-1)!.statusCode).toBe(200);
    expect(log.attemptLog.every((a) => a.latencyMs >= 0)).toBe(true);
    expect(log.deliveredAt).not.toBeNull();

    const again = await gql(gw.url, Redeliver, { id: log.id }, org.adminToken);
    expect(again.data?.redeliverWebhook.__typename).toBe('MutationRedeliverWebhookSuccess');
    await receiver.until(() => receiver.received.length > start + 1);
    expect(receiver.received.at(-1)!.id).toBe(arrived[0]!.id);
    // Another org cannot redeliver it: it does not exist for them.
    const other = await seedOrg(gw.app, { customers: [] });
    expect((await http(`${gw.url}/api/v1/webhook-deliveries/${(await gw.app.db.prisma.webhookDelivery.findFirstOrThrow({ where: { orgId: org.orgId } })).id}/redeliver`, { method: 'POST', token: other.apiKey })).status).toBe(404);
  });

  it("the README's Node receiver verifies a real delivery", async () => {
    const readme = readFileSync('README.md', 'utf8');
    const code = /## Connection health[\s\S]*?```js\n([\s\S]*?)```/.exec(readme)![1]!;
    // Inside the project, so that `standardwebhooks` resolves from its node_modules.
    const file = path.join('test', `.readme-receiver-${process.pid}.mjs`);
    writeFileSync(file, code);
    const port = 20000 + Math.floor(Math.random() * 20000);
    const endpoint = await createEndpoint(gw, org.adminToken, { url: `http://127.0.0.1:${port}/`, eventTypes: ['CUSTOMER_DELETED'] });
    const child = spawn(process.execPath, [file], { env: { ...process.env, WEBHOOK_SECRET: endpoint.secret, PORT: String(port) }, stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise((r) => setTimeout(r, 500));
      const line = new Promise<string>((resolve) => createInterface({ input: child.stdout! }).once('line', resolve));
      const customer = await asOrg(gw.app, org.orgId, (op) => createCustomer(op, { externalId: 'to-delete', name: 'To delete' }));
      await asOrg(gw.app, org.orgId, (op) => deleteCustomer(op, customer.id));
      expect(await line).toMatch(/^msg_[0-9a-f-]{36} customer\.deleted \{.*"externalId":"to-delete"/);
    } finally {
      child.kill();
      unlinkSync(file);
    }
  });

  it('rejects an invalid endpoint with a typed problem naming the field', async () => {
    const bad = await gql(gw.url, CreateEndpoint, { input: { url: 'ftp://example.com' } }, org.adminToken);
    expect(bad.data?.createWebhookEndpoint).toMatchObject({ __typename: 'ValidationError', problems: [{ path: 'input.url' }] });
    const rest = await http(`${gw.url}/api/v1/webhook-endpoints`, { method: 'POST', token: org.apiKey, body: { url: 'not a url' } });
    expect(rest.status).toBe(400);
    expect(rest.body).toContain('body.url');
  });
});

describe('webhook endpoints under the outbound policy, failing for too long', () => {
  it('refuses a loopback target unless allow-listed, disables the endpoint after sustained failure, and the org re-enables it (REST)', async () => {
    const gw = await startGateway({ WEBHOOK_POLL_MS: '50', WEBHOOK_RETRY_BASE_MS: '50', WEBHOOK_DISABLE_AFTER_MS: '400' });
    const receiver = await new Receiver().listen();
    try {
      const org = await seedOrg(gw.app, { customers: [] });
      const created = await http(`${gw.url}/api/v1/webhook-endpoints`, { method: 'POST', token: org.apiKey, body: { url: receiver.url, eventTypes: ['customer.created'] } });
      expect(created.status).toBe(201);
      const endpoint = created.json() as { id: string; secret: string };
      expect(endpoint.secret).toMatch(/^whsec_/);
      await asOrg(gw.app, org.orgId, (op) => createCustomer(op, { externalId: 'x1', name: 'X1' }));
      let state: { enabled: boolean; disabledReason: string | null } = { enabled: true, disabledReason: null };
      for (let i = 0; i < 100 && state.enabled; i++) {
        await new Promise((r) => setTimeout(r, 100));
        state = (await http(`${gw.url}/api/v1/webhook-endpoints/${endpoint.id}`, { token: org.apiKey })).json() as typeof state;
      }
      expect(state.enabled).toBe(false);
      expect(state.disabledReason).toMatch(/no successful delivery since/);
      expect(receiver.received).toEqual([]);
      const log = (await http(`${gw.url}/api/v1/webhook-endpoints/${endpoint.id}/deliveries`, { token: org.apiKey })).json() as { data: { attempts: { error: string | null }[] }[] };
      expect(log.data[0]!.attempts[0]!.error).toBe('the destination is not allowed by the outbound policy');

      const reenabled = await http(`${gw.url}/api/v1/webhook-endpoints/${endpoint.id}`, { method: 'POST', token: org.apiKey, body: { enabled: true } });
      expect(reenabled.json()).toMatchObject({ enabled: true, disabledReason: null, failingSince: null });
    } finally {
      await gw.close();
      await receiver.close();
    }
  }, 60_000);
});

const onPostgres = !!process.env.DATABASE_URL;

describe.skipIf(!onPostgres)('a gateway process killed mid-delivery', () => {
  it('the delivery is made afterwards by another instance, with the same webhook-id', async () => {
    const keys = newKeySpec('shared');
    const gw = await startGateway({ ...ALLOW, HEALTH_WORKERS: 'false', ENCRYPTION_KEYS: keys, WEBHOOK_TIMEOUT_MS: '1500' });
    const receiver = await new Receiver().listen();
    let child: ChildProcess | undefined;
    try {
      if (gw.app.config.database.kind !== 'postgres') throw new Error('needs PostgreSQL');
      const org = await seedOrg(gw.app, { customers: [] });
      receiver.secret = (await createEndpoint(gw, org.adminToken, { url: receiver.url })).secret;
      child = spawn(process.execPath, ['--import', 'tsx', 'test/helpers/feed-instance.ts'], {
        env: { ...process.env, LOG_LEVEL: 'silent', ...ALLOW, WEBHOOK_TIMEOUT_MS: '1500', DATABASE_URL: gw.app.config.database.url, AUTH_SECRET: gw.app.config.authSecret, ENCRYPTION_KEYS: keys },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      await new Promise<void>((resolve) => createInterface({ input: child!.stdout! }).once('line', () => resolve()));
      receiver.mode = 'hang';
      await asOrg(gw.app, org.orgId, (op) => createCustomer(op, { externalId: 'k1', name: 'K1' }));
      await receiver.until(() => receiver.received.length === 1, 15_000);
      child.kill('SIGKILL');
      receiver.mode = 200;
      gw.app.jobs.start('webhooks.deliver');
      await receiver.until(() => receiver.received.length === 2, 15_000);
      expect(receiver.received[1]!.id).toBe(receiver.received[0]!.id);
      const delivery = await eventually(() => gw.app.db.prisma.webhookDelivery.findFirstOrThrow({ where: { orgId: org.orgId } }), (d) => d.status === 'SUCCEEDED');
      expect(delivery).toMatchObject({ status: 'SUCCEEDED', attempts: 2 });
    } finally {
      child?.kill('SIGKILL');
      await gw.close();
      await receiver.close();
    }
  }, 90_000);
});
