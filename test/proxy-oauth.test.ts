import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SeededOrg } from '../src/seed/demo.js';
import { createWebhookEndpoint } from '../src/modules/webhooks/service.js';
import { graphql } from './gql/index.js';
import { findLeaks, gid, gql, http, responseLog } from './helpers/client.js';
import { asOrg, expireSoon, makeConnection, makeConnector, secretsOf, valueOf } from './helpers/fixtures.js';
import { capturedLogs, startGateway, type TestGateway } from './helpers/gateway.js';
import { CLIENT_ID, CLIENT_SECRET, browseToCallback, startProvider, type TestProvider } from './helpers/oidc-provider.js';
import { json, Upstream } from './helpers/upstream.js';
import { useWorld } from './helpers/world.js';

/**
 * The proxy with OAuth2 against a real provider (oidc-provider, rotating
 * refresh tokens) and an API that checks every bearer token with that
 * provider: a token due is renewed before the call; a token the API refuses
 * (401) is renewed once — one provider call for every concurrent caller, on
 * both gateway instances — and the call sent once more; a refused renewal
 * expires the value (status, history, webhook) and the caller is told so.
 */
const StartOAuth = graphql(`
  mutation ProxyStartOAuth($connectionId: ID!) {
    startOAuthAuthorization(connectionId: $connectionId) { __typename ... on MutationStartOAuthAuthorizationSuccess { data { authorizeUrl } } }
  }
`);

const upstream = new Upstream();
let gw: TestGateway;
let gw2: TestGateway;
let idp: TestProvider;
let org: SeededOrg;
let connectionId: string;
const KEY = 'idp-api';

beforeAll(async () => {
  await upstream.listen();
});
afterAll(async () => {
  await idp?.close();
  await upstream.close();
});
useWorld({ env: { OUTBOUND_ALLOWED_NETWORKS: '127.0.0.1/32', LOG_LEVEL: 'debug' }, orgs: { org: { customers: ['acme'] } }, timeout: 60_000 }, async (w) => {
  ({ gw, org } = w);
  gw2 = await startGateway({}, { on: gw });
  idp = await startProvider({ redirectUris: [`${gw.url}/oauth/callback`], rotateRefreshToken: true });
  const connector = await makeConnector(gw.app, org.orgId, {
    key: 'idp',
    name: 'IdP',
    authType: 'OAUTH2',
    oauth2: { authorizeUrl: idp.authorizeUrl, tokenUrl: idp.tokenUrl, scopes: ['openid', 'offline_access'], clientId: CLIENT_ID, pkce: true, extraAuthorizeParams: { prompt: 'consent' } },
    oauthClientSecret: CLIENT_SECRET,
    proxy: { baseUrl: `${upstream.url}/api` },
  });
  connectionId = (await makeConnection(gw.app, org.orgId, { stableKey: KEY, name: 'IdP API', connectorId: connector.id, type: 'CUSTOMER_ACTIVATED' })).id;
  await asOrg(gw.app, org.orgId, (op) => createWebhookEndpoint(op, { url: 'https://hooks.example/gateway', eventTypes: ['value.expired'] }));
  // The customer authorizes once, in a browser.
  const started = await gql(gw.url, StartOAuth, { connectionId: gid('Connection', connectionId) }, org.customers[0]!.userToken);
  const r = started.data?.startOAuthAuthorization;
  if (r?.__typename !== 'MutationStartOAuthAuthorizationSuccess') throw new Error(JSON.stringify(started));
  const jar = new Map<string, string>();
  const providerUrl = await browseToCallback(r.data.authorizeUrl, idp.issuer, jar);
  const callback = await browseToCallback(providerUrl, `${gw.url}/oauth/callback`, jar);
  await fetch(callback, { headers: { cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') }, redirect: 'manual' });
  // The API: a bearer token the provider knows and that has not expired, else 401.
  upstream.reset(async (req, res) => {
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const token = bearer ? await idp.provider.AccessToken.find(bearer) : undefined;
    if (!token || token.isExpired) return json(res, 401, { error: 'invalid_token' }, { 'www-authenticate': 'Bearer error="invalid_token"' });
    json(res, 200, { sub: token.accountId, path: req.path });
  });
});
afterAll(async () => {
  await gw2?.close();
});

const value = () => valueOf(gw.app, connectionId, org.customers[0]!.id);
const call = (url = gw.url, path = '/me') =>
  http(`${url}/proxy${path}`, { token: org.customers[0]!.runtimeToken, headers: { 'provider-config-key': KEY, 'connection-id': 'acme' } });

/** Makes the provider forget the stored access token, as an API does with a revoked one. */
async function revokeAccessToken(): Promise<void> {
  const token = await idp.provider.AccessToken.find(secretsOf(gw.app, await value()).accessToken!);
  await token?.destroy();
}

describe('OAuth2 through the proxy', () => {
  it('authorized: the API receives the stored token', async () => {
    expect((await value()).status).toBe('ACTIVE');
    upstream.received.length = 0;
    const r = await call();
    expect(r.status, r.body).toBe(200);
    expect(r.json()).toEqual({ sub: 'user-1', path: '/api/me' });
    expect(idp.grants.refresh_token ?? 0).toBe(0);
  });

  it('a token due is renewed before the call: the API never sees the old one', async () => {
    const before = await value();
    await expireSoon(gw.app, before.id);
    upstream.received.length = 0;
    const r = await call();
    expect(r.status, r.body).toBe(200);
    expect(idp.grants.refresh_token).toBe(1);
    expect(upstream.received).toHaveLength(1);
    const after = await value();
    expect(after.version).toBe(before.version + 1);
    expect(upstream.received[0]!.headers.authorization).toBe(`Bearer ${secretsOf(gw.app, after).accessToken}`);
  });

  it('a token the API refuses (401): one renewal for twelve concurrent callers on two instances, each call sent once more', async () => {
    await revokeAccessToken();
    const grants = idp.grants.refresh_token ?? 0;
    upstream.received.length = 0;
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) => call(i % 2 ? gw2.url : gw.url, `/item/${i}`)));
    expect(results.map((r) => r.status)).toEqual(Array(12).fill(200));
    // One renewal across both instances (rotating refresh tokens: a second would have been refused as a replay).
    expect(idp.grants.refresh_token).toBe(grants + 1);
    expect(idp.grantErrors.invalid_grant ?? 0).toBe(0);
    // Every call reached the API with the new token in the end; a call was sent at most twice.
    const fresh = `Bearer ${secretsOf(gw.app, await value()).accessToken}`;
    const byPath = new Map<string, string[]>();
    for (const r of upstream.received) byPath.set(r.path, [...(byPath.get(r.path) ?? []), String(r.headers.authorization)]);
    for (const [path, auths] of byPath) {
      expect(auths.length, path).toBeLessThanOrEqual(2);
      expect(auths.at(-1), path).toBe(fresh);
    }
    expect(byPath.size).toBe(12);
    expect((await value()).status).toBe('ACTIVE');
  });

  it('a renewal the provider refuses (invalid_grant): the value expires — status, history, webhook — and the caller is told to authorize again', async () => {
    const v = await value();
    const refresh = await idp.provider.RefreshToken.find(secretsOf(gw.app, v).refreshToken!);
    await refresh?.destroy();
    await revokeAccessToken();
    const r = await call();
    expect(r.status).toBe(409);
    expect(r.json()).toMatchObject({ error: { code: 'CREDENTIAL_EXPIRED', message: expect.stringContaining('Authorization expired') } });
    const after = await value();
    expect(after.status).toBe('EXPIRED');
    const history = await gw.db.prisma.valueStatusChange.findMany({ where: { valueId: after.id }, orderBy: { id: 'desc' }, take: 1 });
    expect(history[0]).toMatchObject({ fromStatus: 'ACTIVE', toStatus: 'EXPIRED', cause: 'refresh.expired' });
    const events = await gw.db.prisma.webhookMessage.findMany({ where: { orgId: org.orgId, eventType: 'value.expired' } });
    expect(events).toHaveLength(1);
    // Later calls are answered at once, without the API.
    upstream.received.length = 0;
    expect((await call()).json()).toMatchObject({ error: { code: 'CREDENTIAL_EXPIRED' } });
    expect(upstream.received).toEqual([]);
  });

  it('no token of the provider in any response or log line', () => {
    expect(findLeaks(idp.issued, [...responseLog, ...capturedLogs])).toEqual([]);
  });
});
