import { Nango } from '@nangohq/node';
import { isAxiosError } from 'axios';
import { afterAll, describe, expect, it } from 'vitest';
import type { SeededOrg } from '../src/seed/demo.js';
import { hashApiKey } from '../src/auth/tokens.js';
import { revokeApiKey } from '../src/modules/access/service.js';
import { graphql } from './gql/index.js';
import { gid, gql } from './helpers/client.js';
import { asOrg, expireSoon, makeApiKey, makeConnection, makeConnector, putValue, secretsOf, setStatus, valueOf } from './helpers/fixtures.js';
import type { TestGateway } from './helpers/gateway.js';
import { CLIENT_ID, CLIENT_SECRET, browseToCallback, startProvider, type TestProvider } from './helpers/oidc-provider.js';
import { useWorld } from './helpers/world.js';

/**
 * An unmodified `@nangohq/node` (0.71.x) against the gateway: `host` = the
 * gateway, `secretKey` = an org API key. getConnection / getToken /
 * getRawTokenResponse / listConnections, force refresh against a real OAuth2
 * provider (oidc-provider), every error path in Nango's shape, and a key
 * without `credentialReads` (metadata and status only).
 */
const StartOAuth = graphql(`
  mutation NangoStartOAuth($connectionId: ID!) {
    startOAuthAuthorization(connectionId: $connectionId) { __typename ... on MutationStartOAuthAuthorizationSuccess { data { authorizeUrl } } }
  }
`);

let gw: TestGateway;
let org: SeededOrg;
let other: SeededOrg;
let idp: TestProvider;
let reader: { secret: string; id: string };
let otherReader: { secret: string; id: string };
const ids: Record<string, string> = {};

afterAll(async () => {
  await idp?.close();
});
useWorld(
  { env: { OUTBOUND_ALLOWED_NETWORKS: '127.0.0.1/32' }, orgs: { org: { customers: ['acme', 'globex'] }, other: { customers: ['acme'] } }, timeout: 60_000 },
  async (w) => {
    ({ gw, org, other } = w);
    const [acme, globex] = org.customers;
    reader = await makeApiKey(gw.app, org.orgId, { name: 'nango reader', credentialReads: true });
    otherReader = await makeApiKey(gw.app, other.orgId, { name: 'other reader', credentialReads: true });
    const connector = (key: string, authType: string, extra: Record<string, unknown> = {}) => makeConnector(gw.app, org.orgId, { key, name: key, authType, ...extra });
    const connection = async (stableKey: string, connectorId: string, type = 'CUSTOMER_ACTIVATED', extra: Record<string, unknown> = {}) =>
      (ids[stableKey] = (await makeConnection(gw.app, org.orgId, { stableKey, name: `${stableKey} connection`, connectorId, type, ...extra })).id);

    const secretText = await connector('apikey-app', 'SECRET_TEXT');
    await connection('api', secretText.id);
    await putValue(gw.app, ids.api!, { kind: 'CUSTOMER', customerId: acme!.id }, { secret_text: 'sk-acme-0123456789' });
    await setStatus(gw.app, ids.api!, globex!.id, 'PENDING');
    const basic = await connector('basic-app', 'BASIC_AUTH');
    await connection('basic', basic.id, 'ORG_ACTIVATED_CUSTOMER');
    await putValue(gw.app, ids.basic!, { kind: 'CUSTOMER', customerId: acme!.id }, { username: 'acme-user', password: 'pw-acme-secret' });
    const custom = await connector('custom-app', 'CUSTOM_AUTH', {
      fields: [
        { key: 'subdomain', label: 'Subdomain', type: 'STRING', required: true, secret: false },
        { key: 'token', label: 'Token', type: 'STRING', required: true, secret: true },
      ],
    });
    await connection('custom', custom.id);
    await putValue(gw.app, ids.custom!, { kind: 'CUSTOMER', customerId: acme!.id }, { subdomain: 'acme', token: 'tok-acme-custom' });
    const none = await connector('public-app', 'NO_AUTH');
    await connection('public', none.id);
    await putValue(gw.app, ids.public!, { kind: 'CUSTOMER', customerId: acme!.id }, {}, { status: 'ACTIVE' });
    await connection('shared', secretText.id, 'ORG_ACTIVATED_GLOBAL', { restrictToAllowList: true, allowedCustomerIds: [acme!.id] });
    await putValue(gw.app, ids.shared!, { kind: 'GLOBAL' }, { secret_text: 'sk-shared-global' });
    await putValue(gw.app, ids.shared!, { kind: 'TEST' }, { secret_text: 'sk-test-never-served' });
    await connection('vault', secretText.id, 'CUSTOMER_ACTIVATED', { proxyOnly: true });
    await putValue(gw.app, ids.vault!, { kind: 'CUSTOMER', customerId: acme!.id }, { secret_text: 'sk-proxy-only' });
    await connection('broken', secretText.id);
    await putValue(gw.app, ids.broken!, { kind: 'CUSTOMER', customerId: acme!.id }, { secret_text: 'sk-broken' });
    await setStatus(gw.app, ids.broken!, acme!.id, 'ERROR', 'The API refused the key');

    // OAuth2 through a real provider: the customer authorizes once, in a browser.
    idp = await startProvider({ redirectUris: [`${gw.url}/oauth/callback`], rotateRefreshToken: true });
    const oauth = await connector('idp-app', 'OAUTH2', {
      oauth2: { authorizeUrl: idp.authorizeUrl, tokenUrl: idp.tokenUrl, scopes: ['openid', 'offline_access'], clientId: CLIENT_ID, pkce: true, extraAuthorizeParams: { prompt: 'consent' } },
      oauthClientSecret: CLIENT_SECRET,
    });
    await connection('idp', oauth.id);
    const started = await gql(gw.url, StartOAuth, { connectionId: gid('Connection', ids.idp!) }, acme!.userToken);
    const r = started.data?.startOAuthAuthorization;
    if (r?.__typename !== 'MutationStartOAuthAuthorizationSuccess') throw new Error(JSON.stringify(started));
    const jar = new Map<string, string>();
    const providerUrl = await browseToCallback(r.data.authorizeUrl, idp.issuer, jar);
    const callback = await browseToCallback(providerUrl, `${gw.url}/oauth/callback`, jar);
    await fetch(callback, { headers: { cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') }, redirect: 'manual' });

    // Another organization with the same stable key and customer id.
    const otherConnector = await makeConnector(gw.app, other.orgId, { key: 'apikey-app', name: 'x', authType: 'SECRET_TEXT' });
    const otherConnection = await makeConnection(gw.app, other.orgId, { stableKey: 'api', name: 'api', connectorId: otherConnector.id, type: 'CUSTOMER_ACTIVATED' });
    await putValue(gw.app, otherConnection.id, { kind: 'CUSTOMER', customerId: other.customers[0]!.id }, { secret_text: 'sk-other-org' });
  },
);

const nango = (secretKey = reader.secret) => new Nango({ secretKey, host: gw.url });

/** The error a Nango SDK call failed with: HTTP status and Nango's body. */
async function failure(p: Promise<unknown>): Promise<{ status: number; body: { error: { code: string; message: string } } }> {
  try {
    await p;
  } catch (err) {
    if (!isAxiosError(err) || !err.response) throw err;
    return { status: err.response.status, body: err.response.data };
  }
  throw new Error('the call succeeded');
}

describe('@nangohq/node getConnection / getToken with an API key allowed to read credentials', () => {
  it('secret text: Nango API_KEY credentials; the connection in Nango shape; the legacy path answers the same', async () => {
    const c = await nango().getConnection('api', 'acme');
    expect(c).toMatchObject({
      connection_id: 'acme',
      provider_config_key: 'api',
      provider: 'apikey-app',
      errors: [],
      end_user: { id: 'acme', display_name: expect.any(String), email: null },
      credentials: { type: 'API_KEY', apiKey: 'sk-acme-0123456789' },
    });
    expect(typeof c.created_at).toBe('string');
    expect(await nango().getToken('api', 'acme')).toEqual({ type: 'API_KEY', apiKey: 'sk-acme-0123456789' });
    const legacy = await fetch(`${gw.url}/connection/acme?provider_config_key=api`, { headers: { authorization: `Bearer ${reader.secret}` } });
    expect(legacy.status).toBe(200);
    expect((await legacy.json()).credentials).toEqual(c.credentials);
  });

  it('basic, custom and no-auth connections in their Nango credential types', async () => {
    expect((await nango().getConnection('basic', 'acme')).credentials).toEqual({ type: 'BASIC', username: 'acme-user', password: 'pw-acme-secret' });
    const custom = await nango().getConnection('custom', 'acme');
    expect(custom.credentials).toEqual({ type: 'CUSTOM', raw: { subdomain: 'acme', token: 'tok-acme-custom' } });
    expect(custom.connection_config).toEqual({ subdomain: 'acme' });
    expect((await nango().getConnection('public', 'acme')).credentials).toEqual({});
  });

  it('a global connection serves its shared value to a customer its allow-list admits (never the test value)', async () => {
    expect(await nango().getToken('shared', 'acme')).toEqual({ type: 'API_KEY', apiKey: 'sk-shared-global' });
    const refused = await failure(nango().getConnection('shared', 'globex'));
    expect(refused).toEqual({ status: 404, body: { error: { code: 'not_found', message: 'Connection not found' } } });
  });

  it('OAuth2: getToken is the stored access token; the refresh token only when asked; a due token is refreshed first', async () => {
    const stored = secretsOf(gw.app, await valueOf(gw.app, ids.idp!, org.customers[0]!.id));
    expect(await nango().getToken('idp', 'acme')).toBe(stored.accessToken);
    const c = await nango().getConnection('idp', 'acme');
    expect(c.credentials).toMatchObject({ type: 'OAUTH2', access_token: stored.accessToken, expires_at: expect.any(String), raw: { access_token: stored.accessToken } });
    expect(c.credentials).not.toHaveProperty('refresh_token');
    expect(JSON.stringify(c)).not.toContain(stored.refreshToken!);
    expect((await nango().getConnection('idp', 'acme', false, true)).credentials).toMatchObject({ refresh_token: stored.refreshToken });
    expect(await nango().getRawTokenResponse('idp', 'acme')).toMatchObject({ access_token: stored.accessToken });

    const grants = idp.grants.refresh_token ?? 0;
    await expireSoon(gw.app, (await valueOf(gw.app, ids.idp!, org.customers[0]!.id)).id);
    const renewed = await nango().getToken('idp', 'acme');
    expect(idp.grants.refresh_token).toBe(grants + 1);
    expect(renewed).not.toBe(stored.accessToken);
    expect(renewed).toBe(secretsOf(gw.app, await valueOf(gw.app, ids.idp!, org.customers[0]!.id)).accessToken);

    // Due again, eight callers at once: one renewal, the same new token for all.
    await expireSoon(gw.app, (await valueOf(gw.app, ids.idp!, org.customers[0]!.id)).id);
    const together = await Promise.all(Array.from({ length: 8 }, () => nango().getToken('idp', 'acme')));
    expect(idp.grants.refresh_token).toBe(grants + 2);
    expect(new Set(together)).toEqual(new Set([secretsOf(gw.app, await valueOf(gw.app, ids.idp!, org.customers[0]!.id)).accessToken]));
  });

  it('force refresh renews the token now; concurrent force refreshes share renewals (one claim per value across callers: no refresh token replayed)', async () => {
    const before = await valueOf(gw.app, ids.idp!, org.customers[0]!.id);
    const grants = idp.grants.refresh_token ?? 0;
    const forced = await nango().getToken('idp', 'acme', true);
    expect(idp.grants.refresh_token).toBe(grants + 1);
    const after = await valueOf(gw.app, ids.idp!, org.customers[0]!.id);
    expect(after.version).toBe(before.version + 1);
    expect(forced).toBe(secretsOf(gw.app, after).accessToken);
    expect(forced).not.toBe(secretsOf(gw.app, before).accessToken);

    const tokens = await Promise.all(Array.from({ length: 6 }, () => nango().getToken('idp', 'acme', true)));
    // Rotating refresh tokens: two renewals with the same refresh token would have been refused as a replay.
    expect(idp.grantErrors.invalid_grant ?? 0).toBe(0);
    expect(idp.grants.refresh_token! - grants - 1).toBeLessThanOrEqual(6);
    expect(tokens).toContain(secretsOf(gw.app, await valueOf(gw.app, ids.idp!, org.customers[0]!.id)).accessToken);
    expect((await valueOf(gw.app, ids.idp!, org.customers[0]!.id)).status).toBe('ACTIVE');
  });

  it('every credential read is audited like a runtime resolution (the value never in the row); failures add to one row', async () => {
    const rows = await gw.db.prisma.auditEvent.findMany({ where: { orgId: org.orgId, action: 'connection.resolve', principalId: reader.id } });
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.every((r) => r.principalKind === 'API_KEY' && (r.detail as { via?: string }).via === 'nango')).toBe(true);
    expect(rows.some((r) => (r.detail as { outcome?: string; stableKey?: string }).outcome === 'RESOLVED' && (r.detail as { stableKey?: string }).stableKey === 'api')).toBe(true);
    expect(JSON.stringify(rows.map((r) => r.detail))).not.toContain('sk-acme-0123456789');
    for (let i = 0; i < 3; i++) await failure(nango().getConnection('broken', 'acme'));
    const failed = await gw.db.prisma.auditEvent.findMany({ where: { orgId: org.orgId, principalId: reader.id, targetId: ids.broken! } });
    expect(failed).toHaveLength(1);
    expect(failed[0]!.count).toBeGreaterThanOrEqual(3);
  });
});

describe('errors in Nango shape', () => {
  it('an unknown integration, an unknown customer, a pending value', async () => {
    expect(await failure(nango().getConnection('nope', 'acme'))).toEqual({ status: 404, body: { error: { code: 'unknown_provider_config', message: 'Integration not found' } } });
    expect(await failure(nango().getConnection('api', 'nobody'))).toEqual({ status: 404, body: { error: { code: 'not_found', message: 'Connection not found' } } });
    expect(await failure(nango().getConnection('api', 'globex'))).toEqual({ status: 404, body: { error: { code: 'not_found', message: 'Connection not found' } } });
  });

  it('another organization: its keys see only their own, and ours look like nothing', async () => {
    expect(await nango(otherReader.secret).getToken('api', 'acme')).toEqual({ type: 'API_KEY', apiKey: 'sk-other-org' });
    expect(await failure(nango(otherReader.secret).getConnection('basic', 'acme'))).toEqual(await failure(nango(otherReader.secret).getConnection('nope', 'acme')));
    expect(await failure(nango(otherReader.secret).getConnection('api', 'globex'))).toEqual(await failure(nango(otherReader.secret).getConnection('api', 'nobody')));
  });

  it('a revoked key is the same 401 as a key that never existed', async () => {
    const key = await makeApiKey(gw.app, org.orgId, { name: 'soon revoked', credentialReads: true });
    expect((await nango(key.secret).getConnection('api', 'acme')).credentials).toBeDefined();
    await asOrg(gw.app, org.orgId, (op) => revokeApiKey(op, key.id));
    const revoked = await failure(nango(key.secret).getConnection('api', 'acme'));
    const unknown = await failure(nango('cgk_' + 'x'.repeat(43)).getConnection('api', 'acme'));
    expect(revoked.status).toBe(401);
    expect(revoked.body.error.code).toBe('unknown_account');
    expect(revoked).toEqual(unknown);
  });

  it('an errored value: invalid_credentials (never the stale secret); a proxy-only connection never returns credentials', async () => {
    const broken = await failure(nango().getConnection('broken', 'acme'));
    expect(broken.status).toBe(409);
    expect(broken.body.error.code).toBe('invalid_credentials');
    expect(JSON.stringify(broken)).not.toContain('sk-broken');
    const vault = await nango().getConnection('vault', 'acme');
    expect(vault).toMatchObject({ connection_id: 'acme', provider_config_key: 'vault', errors: [] });
    expect(vault).not.toHaveProperty('credentials');
    expect((await failure(nango().getConnection('vault', 'acme', true))).body.error.code).toBe('forbidden');
  });

  it('a request without provider_config_key names the parameter', async () => {
    const res = await fetch(`${gw.url}/connections/acme`, { headers: { authorization: `Bearer ${reader.secret}` } });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: { code: 'invalid_query_params', errors: [{ path: 'query.provider_config_key' }] } });
  });
});

describe('an API key without credentialReads', () => {
  it('gets metadata and status, never credentials; force refresh is refused', async () => {
    const plain = nango(org.apiKey);
    const c = await plain.getConnection('api', 'acme');
    expect(c).toMatchObject({ connection_id: 'acme', provider_config_key: 'api', errors: [] });
    expect(c).not.toHaveProperty('credentials');
    expect(JSON.stringify(c)).not.toContain('sk-acme');
    const broken = await plain.getConnection('broken', 'acme');
    expect(broken.errors).toEqual([{ type: 'auth', log_id: '' }]);
    const refused = await failure(plain.getConnection('idp', 'acme', true));
    expect(refused).toMatchObject({ status: 403, body: { error: { code: 'forbidden' } } });
    // Metadata reads are not credential reads: nothing audited as a resolution.
    const keyId = (await gw.db.prisma.apiKey.findUniqueOrThrow({ where: { hash: hashApiKey(org.apiKey) } })).id;
    expect(await gw.db.prisma.auditEvent.count({ where: { principalId: keyId, action: 'connection.resolve' } })).toBe(0);
  });
});

describe('@nangohq/node listConnections', () => {
  it("lists the org's connections (no credentials, no pending values) with their end user and status", async () => {
    const { connections } = await nango(org.apiKey).listConnections();
    const keys = connections.map((c) => `${c.provider_config_key}/${c.connection_id}`).sort();
    expect(keys).toEqual(['api/acme', 'basic/acme', 'broken/acme', 'custom/acme', 'idp/acme', 'public/acme', 'vault/acme']);
    expect(connections.find((c) => c.provider_config_key === 'broken')!.errors).toEqual([{ type: 'auth', log_id: '' }]);
    expect(connections[0]).toMatchObject({ id: expect.any(String), created: expect.any(String), provider: expect.any(String), end_user: { id: 'acme' }, tags: {} });
    expect(JSON.stringify(connections)).not.toMatch(/sk-|pw-|tok-/);
  });

  it('filters: one customer (with the global connections it is admitted to), integrations, search, limit and page', async () => {
    const forAcme = await nango(org.apiKey).listConnections('acme');
    expect(forAcme.connections.map((c) => c.provider_config_key).sort()).toEqual(['api', 'basic', 'broken', 'custom', 'idp', 'public', 'shared', 'vault']);
    expect((await nango(org.apiKey).listConnections('globex')).connections).toEqual([]);
    expect((await nango(org.apiKey).listConnections({ integrationId: ['api', 'basic'] })).connections.map((c) => c.provider_config_key).sort()).toEqual(['api', 'basic']);
    expect((await nango(org.apiKey).listConnections(undefined, 'ACM')).connections).toHaveLength(7);
    expect((await nango(org.apiKey).listConnections(undefined, 'zzz')).connections).toEqual([]);
    expect((await nango(org.apiKey).listConnections(undefined, undefined, { endUserOrganizationId: 'x' })).connections).toEqual([]);
    const page0 = await nango(org.apiKey).listConnections(undefined, undefined, { limit: 3 });
    const page1 = await nango(org.apiKey).listConnections(undefined, undefined, { limit: 3, page: 1 });
    expect(page0.connections).toHaveLength(3);
    expect(page1.connections).toHaveLength(3);
    expect(new Set([...page0.connections, ...page1.connections].map((c) => c.provider_config_key)).size).toBe(6);
  });

  it("never lists another organization's connections", async () => {
    const { connections } = await nango(other.apiKey).listConnections();
    expect(connections.map((c) => c.provider_config_key)).toEqual(['api']);
  });
});

describe('a refresh the provider refuses, through the SDK', () => {
  it('getToken answers invalid_credentials; the value expires; the metadata then shows the auth error', async () => {
    const v = await valueOf(gw.app, ids.idp!, org.customers[0]!.id);
    await (await idp.provider.RefreshToken.find(secretsOf(gw.app, v).refreshToken!))?.destroy();
    await expireSoon(gw.app, v.id);
    const refused = await failure(nango().getToken('idp', 'acme'));
    expect(refused.status).toBe(409);
    expect(refused.body.error).toMatchObject({ code: 'invalid_credentials', message: expect.stringContaining('Authorization expired') });
    expect((await valueOf(gw.app, ids.idp!, org.customers[0]!.id)).status).toBe('EXPIRED');
    expect((await nango(org.apiKey).getConnection('idp', 'acme')).errors).toEqual([{ type: 'auth', log_id: '' }]);
    expect((await failure(nango().getToken('idp', 'acme', true))).body.error.code).toBe('invalid_credentials');
  });
});
