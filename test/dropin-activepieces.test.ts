import { randomUUID } from 'node:crypto';
import {
  ApId,
  AppConnectionWithoutSensitiveData,
  UpsertBasicAuthRequest,
  UpsertCustomAuthRequest,
  UpsertNoAuthRequest,
  UpsertPlatformOAuth2Request,
  UpsertSecretTextRequest,
} from '@activepieces/shared';
import { describe, expect, it } from 'vitest';
import { apIdOf } from '../src/ids.js';
import type { SeededOrg } from '../src/seed/demo.js';
import { http } from './helpers/client.js';
import { makeConnection, makeConnector, putValue, setStatus } from './helpers/fixtures.js';
import type { TestGateway } from './helpers/gateway.js';
import { useWorld } from './helpers/world.js';

/**
 * The Activepieces engine's run-time connection fetch —
 * `GET {apiUrl}v1/worker/app-connections/:externalId?projectId=…` with its
 * engine token (a runtime token) — answered as an `AppConnection` that
 * validates against the schemas `@activepieces/shared` publishes, unmodified:
 * `AppConnectionWithoutSensitiveData` for every answer, and each type's value
 * validator of its upsert request for the value; 404 for what the token may
 * not use; `status: ERROR` for a broken value.
 */
let gw: TestGateway;
let org: SeededOrg;
let other: SeededOrg;

const VALUE_SCHEMAS = {
  SECRET_TEXT: UpsertSecretTextRequest.shape.value,
  BASIC_AUTH: UpsertBasicAuthRequest.shape.value,
  CUSTOM_AUTH: UpsertCustomAuthRequest.shape.value,
  NO_AUTH: UpsertNoAuthRequest.shape.value,
  PLATFORM_OAUTH2: UpsertPlatformOAuth2Request.shape.value,
} as const;

useWorld({ orgs: { org: { customers: ['acme', 'globex'] }, other: { customers: ['acme'] } } }, async (w) => {
  ({ gw, org, other } = w);
  const [acme, globex] = org.customers;
  const connector = (key: string, authType: string, extra: Record<string, unknown> = {}) => makeConnector(gw.app, org.orgId, { key, name: key, authType, ...extra });
  const connection = async (externalId: string, connectorId: string, type = 'CUSTOMER_ACTIVATED', extra: Record<string, unknown> = {}) =>
    (await makeConnection(gw.app, org.orgId, { stableKey: externalId, externalId, name: `${externalId} connection`, connectorId, type, ...extra })).id;
  const own = (customerId: string) => ({ kind: 'CUSTOMER' as const, customerId });

  const secretText = await connector('@activepieces/piece-openai', 'SECRET_TEXT');
  const text = await connection('gelato_text', secretText.id);
  await putValue(gw.app, text, own(acme!.id), { secret_text: 'sk-acme-text' });
  await setStatus(gw.app, text, globex!.id, 'PENDING');
  const basic = await connection('gelato_basic', (await connector('basic-piece', 'BASIC_AUTH')).id, 'ORG_ACTIVATED_CUSTOMER');
  await putValue(gw.app, basic, own(acme!.id), { username: 'acme-user', password: 'pw-acme' });
  const customConnector = await connector('custom-piece', 'CUSTOM_AUTH', {
    fields: [
      { key: 'base_url', label: 'Base URL', type: 'STRING', required: true, secret: false },
      { key: 'api_key', label: 'API key', type: 'STRING', required: true, secret: true },
    ],
  });
  const custom = await connection('gelato_custom', customConnector.id);
  await putValue(gw.app, custom, own(acme!.id), { base_url: 'https://acme.example', api_key: 'key-acme-custom' });
  const none = await connection('gelato_none', (await connector('none-piece', 'NO_AUTH')).id);
  await putValue(gw.app, none, own(acme!.id), {}, { status: 'ACTIVE' });
  const oauthConnector = await connector('oauth-piece', 'OAUTH2', {
    oauth2: { authorizeUrl: 'https://idp.example/authorize', tokenUrl: 'https://idp.example/token', scopes: ['read', 'write'], clientId: 'piece-client' },
    oauthClientSecret: 'client-secret-never-served',
  });
  const oauth = await connection('gelato_oauth', oauthConnector.id);
  await putValue(gw.app, oauth, own(acme!.id), { accessToken: 'at-acme', refreshToken: 'rt-acme-never-served', tokenType: 'Bearer', scope: 'read write' }, { expiresAt: new Date(Date.now() + 3600_000) });
  const global = await connection('gelato_global', secretText.id, 'ORG_ACTIVATED_GLOBAL', { restrictToAllowList: true, allowedCustomerIds: [acme!.id] });
  await putValue(gw.app, global, { kind: 'GLOBAL' }, { secret_text: 'sk-global' });
  const testOnly = await connection('gelato_testonly', secretText.id, 'ORG_ACTIVATED_GLOBAL');
  await putValue(gw.app, testOnly, { kind: 'TEST' }, { secret_text: 'sk-test-never-served' });
  const broken = await connection('gelato_broken', secretText.id);
  await putValue(gw.app, broken, own(acme!.id), { secret_text: 'sk-broken' });
  await setStatus(gw.app, broken, acme!.id, 'ERROR', 'The API refused the key');
  const expired = await connection('gelato_expired', oauthConnector.id);
  await putValue(gw.app, expired, own(acme!.id), { accessToken: 'at-old', refreshToken: 'rt-old' }, { expiresAt: new Date(Date.now() + 3600_000) });
  await setStatus(gw.app, expired, acme!.id, 'EXPIRED', 'Authorization expired');
  const vault = await connection('gelato_vault', secretText.id, 'CUSTOMER_ACTIVATED', { proxyOnly: true });
  await putValue(gw.app, vault, own(acme!.id), { secret_text: 'sk-vault' });

  const otherConnector = await makeConnector(gw.app, other.orgId, { key: 'x', name: 'x', authType: 'SECRET_TEXT' });
  const otherConnection = await makeConnection(gw.app, other.orgId, { stableKey: 'gelato_other', externalId: 'gelato_other', name: 'x', connectorId: otherConnector.id, type: 'CUSTOMER_ACTIVATED' });
  await putValue(gw.app, otherConnection.id, own(other.customers[0]!.id), { secret_text: 'sk-other-org' });
});

/** The engine's call: `${apiUrl}v1/worker/app-connections/${encodeURIComponent(externalId)}?projectId=${projectId}`. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- answers are checked by the published schemas below
type Body = Record<string, any>;

async function engineFetch(externalId: string, opts: { token?: string; projectId?: string; apiUrl?: string } = {}) {
  const customer = org.customers[0]!;
  const apiUrl = opts.apiUrl ?? `${gw.url}/`;
  const r = await http(`${apiUrl}v1/worker/app-connections/${encodeURIComponent(externalId)}?projectId=${opts.projectId ?? apIdOf(customer.id)}`, {
    token: opts.token ?? customer.runtimeToken,
  });
  return { ...r, json: () => r.json() as Body };
}

function expectPublished(body: Record<string, unknown>): void {
  const meta = AppConnectionWithoutSensitiveData.safeParse(body);
  expect(meta.success, JSON.stringify(meta.error?.issues)).toBe(true);
  if (body.status === 'ACTIVE') {
    const schema = VALUE_SCHEMAS[body.type as keyof typeof VALUE_SCHEMAS];
    const value = schema.safeParse(body.value);
    expect(value.success, JSON.stringify(value.error?.issues)).toBe(true);
  } else {
    expect(body).not.toHaveProperty('value');
  }
}

describe('GET /v1/worker/app-connections/:externalId (the Activepieces engine)', () => {
  it('every auth type answers an ACTIVE AppConnection that validates as published, with the value the piece reads', async () => {
    const cases: [string, string, Record<string, unknown>][] = [
      ['gelato_text', 'SECRET_TEXT', { type: 'SECRET_TEXT', secret_text: 'sk-acme-text' }],
      ['gelato_basic', 'BASIC_AUTH', { type: 'BASIC_AUTH', username: 'acme-user', password: 'pw-acme' }],
      ['gelato_custom', 'CUSTOM_AUTH', { type: 'CUSTOM_AUTH', props: { base_url: 'https://acme.example', api_key: 'key-acme-custom' } }],
      ['gelato_none', 'NO_AUTH', { type: 'NO_AUTH' }],
      ['gelato_oauth', 'PLATFORM_OAUTH2', { type: 'PLATFORM_OAUTH2', access_token: 'at-acme', token_type: 'Bearer', scope: 'read write', client_id: 'piece-client', token_url: 'https://idp.example/token' }],
    ];
    for (const [externalId, type, value] of cases) {
      const r = await engineFetch(externalId);
      expect(r.status, r.body).toBe(200);
      const body = r.json();
      expectPublished(body);
      expect(body).toMatchObject({ externalId, type, status: 'ACTIVE', scope: 'PROJECT', projectIds: [apIdOf(org.customers[0]!.id)], platformId: apIdOf(org.orgId), value });
      expect(ApId.safeParse(body.id).success).toBe(true);
    }
    const oauth = (await engineFetch('gelato_oauth')).json();
    expect(oauth.value.expires_in).toBeGreaterThan(3500);
    expect(oauth.value.claimed_at).toBeCloseTo(Date.now() / 1000, -1);
    // The gateway renews OAuth2 tokens: neither the client secret nor the refresh token leaves it.
    expect(JSON.stringify(oauth)).not.toMatch(/client-secret-never-served|rt-acme-never-served/);
  });

  it('answers the same under /api (an apiUrl ending in /api/)', async () => {
    const plain = await engineFetch('gelato_text');
    const api = await engineFetch('gelato_text', { apiUrl: `${gw.url}/api/` });
    expect(api.status).toBe(200);
    expect({ ...api.json(), value: null }).toEqual({ ...plain.json(), value: null });
  });

  it('a global connection: PLATFORM scope, the shared value, only the calling project listed', async () => {
    const r = await engineFetch('gelato_global');
    expect(r.status).toBe(200);
    const body = r.json();
    expectPublished(body);
    expect(body).toMatchObject({ scope: 'PLATFORM', value: { secret_text: 'sk-global' }, projectIds: [apIdOf(org.customers[0]!.id)], preSelectForNewProjects: false });
  });

  it('a broken or expired value: status ERROR without a value (the engine raises its expired-connection error)', async () => {
    for (const externalId of ['gelato_broken', 'gelato_expired']) {
      const r = await engineFetch(externalId);
      expect(r.status, r.body).toBe(200);
      const body = r.json();
      expectPublished(body);
      expect(body.status).toBe('ERROR');
      expect(r.body).not.toMatch(/sk-broken|at-old|rt-old/);
    }
  });

  it("404 for what the project may not use, the same as what does not exist: pending, not shared, test values, another project's or org's", async () => {
    const missing = await engineFetch('gelato_nothing');
    expect(missing.status).toBe(404);
    expect(missing.json()).toEqual({ code: 'ENTITY_NOT_FOUND', params: { entityType: 'AppConnection', message: 'AppConnection not found' } });
    const globex = org.customers[1]!;
    for (const r of [
      await engineFetch('gelato_text', { token: globex.runtimeToken, projectId: apIdOf(globex.id) }), // pending
      await engineFetch('gelato_global', { token: globex.runtimeToken, projectId: apIdOf(globex.id) }), // not on the allow-list
      await engineFetch('gelato_testonly'), // only a test value
      await engineFetch('gelato_text', { projectId: apIdOf(globex.id) }), // another project than the token's
      await engineFetch('gelato_other'), // another organization's
      await engineFetch('gelato_text', { token: other.customers[0]!.runtimeToken, projectId: apIdOf(other.customers[0]!.id) }), // another org's token, same external ids
    ]) {
      expect(r.status, r.body).toBe(404);
      expect(r.json()).toEqual(missing.json());
    }
    // A token bound to a workflow that does not use the connection (here: no such workflow for the customer).
    const bound = await gw.app.tokens.signRuntime({ orgId: org.orgId, customerId: org.customers[0]!.id, workflowId: randomUUID() }, 600);
    const refused = await engineFetch('gelato_text', { token: bound });
    expect(refused.status, refused.body).toBe(404);
    expect(refused.json()).toEqual(missing.json());
    // The project may be named by its raw id too.
    expect((await engineFetch('gelato_text', { projectId: org.customers[0]!.id })).status).toBe(200);
  });

  it('a proxy-only connection or token is refused (403), the secret never sent', async () => {
    const r = await engineFetch('gelato_vault');
    expect(r.status).toBe(403);
    expect(r.json()).toMatchObject({ code: 'AUTHORIZATION' });
    expect(r.body).not.toContain('sk-vault');
    const proxyOnly = await gw.app.tokens.signRuntime({ orgId: org.orgId, customerId: org.customers[0]!.id, proxyOnly: true }, 600);
    const byToken = await engineFetch('gelato_text', { token: proxyOnly });
    expect(byToken.status).toBe(403);
    expect(byToken.json()).toMatchObject({ code: 'AUTHORIZATION' });
    expect(byToken.body).not.toContain('sk-acme-text');
  });

  it('a token that names a customer no longer there is the same 401 as no valid token; an org API key is not an engine token', async () => {
    const gone = await gw.app.tokens.signRuntime({ orgId: org.orgId, customerId: randomUUID() }, 600);
    const r = await engineFetch('gelato_text', { token: gone });
    const forged = await engineFetch('gelato_text', { token: 'not-a-token' });
    expect(r.status).toBe(401);
    expect(forged.status).toBe(401);
    expect(r.json().code).toBe('AUTHENTICATION');
    expect(forged.json().code).toBe('AUTHENTICATION');
    expect((await engineFetch('gelato_text', { token: org.apiKey })).status).toBe(403);
  });

  it('every fetch is audited as a runtime resolution (never the value)', async () => {
    const rows = await gw.db.prisma.auditEvent.findMany({ where: { orgId: org.orgId, action: 'connection.resolve', principalKind: 'RUNTIME' } });
    expect(rows.some((r) => (r.detail as { externalId?: string; outcome?: string }).externalId === 'gelato_text' && (r.detail as { outcome?: string }).outcome === 'RESOLVED')).toBe(true);
    expect(JSON.stringify(rows.map((r) => r.detail))).not.toMatch(/sk-acme-text|pw-acme/);
  });
});
