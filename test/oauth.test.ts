import { createHash } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { oauthStateAad } from '../src/crypto/secrets.js';
import { mergeTokens } from '../src/modules/oauth/client.js';
import { signState } from '../src/modules/oauth/binding.js';
import type { SeededOrg } from '../src/seed/demo.js';
import { graphql } from './gql/index.js';
import { findLeaks, gid, gql, resolutionLog, responseLog, http } from './helpers/client.js';
import { expireSoon, makeConnection, makeConnector, putValue, secretsOf, valueOf } from './helpers/fixtures.js';
import { capturedLogs, startGateway, type TestGateway } from './helpers/gateway.js';
import {
  CC_CLIENT_SECRET,
  CLIENT_ID,
  CLIENT_SECRET,
  browseToCallback,
  cookieHeader,
  machineConnector,
  startProvider,
  type TestProvider,
} from './helpers/oidc-provider.js';
import { useWorld } from './helpers/world.js';

const StartOAuth = graphql(`
  mutation StartOAuth($connectionId: ID!, $slot: ValueKind, $customerId: ID, $successUrl: String, $failureUrl: String) {
    startOAuthAuthorization(
      connectionId: $connectionId
      slot: $slot
      customerId: $customerId
      successUrl: $successUrl
      failureUrl: $failureUrl
    ) {
      __typename
      ... on MutationStartOAuthAuthorizationSuccess { data { authorizeUrl expiresAt redirectUri } }
      ... on Error { code message }
    }
  }
`);

const SetRedirectOrigins = graphql(`
  mutation OAuthSetRedirectOrigins($origins: [String!]) {
    updateOrganizationSettings(input: { oauthRedirectOrigins: $origins }) {
      __typename
      ... on MutationUpdateOrganizationSettingsSuccess { data { settings { oauthRedirectOrigins } } }
      ... on ValidationError { problems { path message } }
    }
  }
`);

const ConnectClientCredentials = graphql(`
  mutation ConnectClientCredentials($connectionId: ID!, $slot: ValueKind) {
    connectOAuthClientCredentials(connectionId: $connectionId, slot: $slot) {
      __typename
      ... on MutationConnectOAuthClientCredentialsSuccess { data { status expiresAt secrets { key set last4 } } }
      ... on Error { code message }
    }
  }
`);

const Resolve = graphql(`
  query OAuthResolve($stableKey: String!) {
    resolveConnection(stableKey: $stableKey) {
      __typename
      ... on ResolvedCredential { accessToken tokenType expiresAt valueKind secrets fields }
      ... on ResolutionProblem { code message }
      ... on ResolutionError { retryable }
    }
  }
`);

const TestOAuthConnection = graphql(`
  mutation OAuthTestConnection($connectionId: ID!, $slot: ValueKind) {
    testConnection(connectionId: $connectionId, slot: $slot) {
      __typename
      ... on MutationTestConnectionSuccess { data { ok failure httpStatus status } }
      ... on Error { code message }
    }
  }
`);

const MyValue = graphql(`
  query OAuthMyValue($id: ID!) {
    node(id: $id) {
      ... on Connection { myValue { status lastError expiresAt secrets { key set last4 } } }
    }
  }
`);

let gw: TestGateway;
let gw2: TestGateway;
let idp: TestProvider;
let org: SeededOrg;
let acme: SeededOrg['customers'][number];
let codeConn: { id: string; stableKey: string };
let ccConn: { id: string; stableKey: string };
const SUCCESS = 'https://app.example/connected';
const FAILURE = 'https://app.example/failed';

// Registered first, so it runs after the gateways have closed (afterAll hooks run in reverse).
afterAll(async () => {
  await idp?.close();
});
// Every log line, debug included, is scanned for secrets at the end.
// The provider runs on this machine: loopback is allowed explicitly (the default refuses it).
useWorld({ env: { LOG_LEVEL: 'debug', OUTBOUND_ALLOWED_NETWORKS: '127.0.0.1/32' }, orgs: { org: { customers: ['acme', 'globex'] } } }, async (w) => {
  ({ gw, org } = w);
  gw2 = await startGateway({}, { on: gw });
  idp = await startProvider({ redirectUris: [`${gw.url}/oauth/callback`, `${gw2.url}/oauth/callback`] });
  acme = org.customers[0]!;
  const connector = await makeConnector(gw.app, org.orgId, {
    key: 'idp',
    name: 'Test IdP',
    authType: 'OAUTH2',
    oauth2: {
      grantType: 'authorization_code',
      authorizeUrl: idp.authorizeUrl,
      tokenUrl: idp.tokenUrl,
      scopes: ['openid', 'offline_access'],
      clientId: CLIENT_ID,
      pkce: true,
      extraAuthorizeParams: { prompt: 'consent' },
    },
    oauthClientSecret: CLIENT_SECRET,
    testRequest: { method: 'GET', url: idp.userinfoUrl, headers: { authorization: 'Bearer {{accessToken}}' } },
  });
  codeConn = await makeConnection(gw.app, org.orgId, {
    stableKey: 'idp-user',
    name: 'IdP (per customer)',
    connectorId: connector.id,
    type: 'CUSTOMER_ACTIVATED',
    availableInWorkflows: true,
  });
  const machine = await makeConnector(gw.app, org.orgId, machineConnector(idp, 'Test IdP (machine)'));
  ccConn = await makeConnection(gw.app, org.orgId, {
    stableKey: 'idp-machine',
    name: 'IdP (machine, global)',
    connectorId: machine.id,
    type: 'ORG_ACTIVATED_GLOBAL',
  });
  // The app's pages the flows return to.
  const settings = await gql(gw.url, SetRedirectOrigins, { origins: ['https://app.example'] }, org.adminToken);
  expect(settings.data?.updateOrganizationSettings).toMatchObject({ data: { settings: { oauthRedirectOrigins: ['https://app.example'] } } });
});

afterAll(async () => {
  await gw2?.close();
});

async function runCodeFlow(userToken: string, opts: { successUrl?: string; failureUrl?: string } = {}) {
  const started = await gql(
    gw.url,
    StartOAuth,
    { connectionId: gid('Connection', codeConn.id), successUrl: opts.successUrl ?? SUCCESS, failureUrl: opts.failureUrl ?? FAILURE },
    userToken,
  );
  const r = started.data?.startOAuthAuthorization;
  if (r?.__typename !== 'MutationStartOAuthAuthorizationSuccess') throw new Error(`start failed: ${JSON.stringify(started)}`);
  return { ...(await browse(r.data.authorizeUrl)), link: r.data.authorizeUrl, redirectUri: r.data.redirectUri };
}

/** One browser through a flow's link: the provider's URL it was sent to, the callback it came back with, its cookies. */
async function browse(link: string) {
  const jar = new Map<string, string>();
  const providerUrl = await browseToCallback(link, idp.issuer, jar);
  const callbackUrl = await browseToCallback(providerUrl, `${gw.url}/oauth/callback`, jar);
  return { authorizeUrl: new URL(providerUrl), callbackUrl, cookie: { cookie: cookieHeader(jar) } };
}

async function resolve(token: string, url = gw.url) {
  const res = await gql(url, Resolve, { stableKey: codeConn.stableKey }, token, { resolution: true });
  return res.data!.resolveConnection;
}

describe('authorization-code flow with PKCE', () => {
  let callbackUrl: string;
  let cookie: { cookie: string };

  it('a customer user starts the flow; the callback stores the tokens sealed and marks the value ACTIVE', async () => {
    const flow = await runCodeFlow(acme.userToken);
    callbackUrl = flow.callbackUrl;
    cookie = flow.cookie;
    // The link is the gateway's: it binds the browser, then sends it on to the provider.
    expect(new URL(flow.link).origin).toBe(gw.url);
    expect(flow.redirectUri).toBe(`${gw.url}/oauth/callback`);
    const q = flow.authorizeUrl.searchParams;
    expect(q.get('client_id')).toBe(CLIENT_ID);
    expect(q.get('redirect_uri')).toBe(`${gw.url}/oauth/callback`);
    expect(q.get('code_challenge_method')).toBe('S256');
    expect(q.get('response_type')).toBe('code');

    // PKCE: the challenge sent is S256 of the verifier kept (sealed) with the state.
    const stateId = q.get('state')!.split('.')[0]!;
    const row = await gw.db.prisma.oAuthState.findUniqueOrThrow({ where: { id: stateId } });
    expect(row.codeVerifier.startsWith('v1.')).toBe(true);
    const verifier = gw.app.config.keyRing.decrypt(row.codeVerifier, oauthStateAad(stateId));
    expect(q.get('code_challenge')).toBe(createHash('sha256').update(verifier).digest('base64url'));
    expect(idp.authorizations.at(-1)?.get('code_challenge')).toBe(q.get('code_challenge'));

    const cb = await http(callbackUrl, { headers: cookie });
    expect(cb.status).toBe(303);
    const to = new URL(cb.location!);
    expect(to.origin + to.pathname).toBe(SUCCESS);
    expect(to.searchParams.get('status')).toBe('connected');
    expect(idp.grants.authorization_code).toBe(1);

    const value = await valueOf(gw.app, codeConn.id, acme.id);
    expect(value.status).toBe('ACTIVE');
    expect(value.expiresAt!.getTime()).toBeGreaterThan(Date.now());
    const sealed = value.secrets as Record<string, string>;
    expect(Object.keys(sealed).sort()).toEqual(['accessToken', 'refreshToken']);
    for (const s of Object.values(sealed)) {
      expect(s.startsWith('v1.test1.')).toBe(true);
      expect(idp.issued.has(s)).toBe(false);
    }
    const opened = secretsOf(gw.app, value);
    expect(idp.issued.has(opened.accessToken!)).toBe(true);
    expect(idp.issued.has(opened.refreshToken!)).toBe(true);

    // The customer user sees the status and masked hints only.
    const mine = await gql(gw.url, MyValue, { id: gid('Connection', codeConn.id) }, acme.userToken);
    const my = (mine.data?.node as { myValue?: { status: string; secrets: { key: string; set: boolean }[] } }).myValue!;
    expect(my.status).toBe('ACTIVE');
    expect(my.secrets.map((s) => [s.key, s.set])).toEqual(expect.arrayContaining([['accessToken', true], ['refreshToken', true]]));

    const audit = await gw.db.prisma.auditEvent.findMany({ where: { orgId: org.orgId, action: { startsWith: 'oauth.' } } });
    expect(audit.map((a) => a.action).sort()).toEqual(['oauth.authorized', 'oauth.start']);
  });

  it('the runtime resolves the fresh access token the provider issued', async () => {
    const r = await resolve(acme.runtimeToken);
    expect(r.__typename).toBe('ResolvedCredential');
    if (r.__typename !== 'ResolvedCredential') return;
    expect(idp.issued.has(r.accessToken!)).toBe(true);
    expect(r.tokenType).toBe('Bearer');
    expect(r.valueKind).toBe('CUSTOMER');
    expect(idp.grants.refresh_token ?? 0).toBe(0);
  });

  it('a replayed callback (same state and code, even with the browser cookie) is refused and never reaches the provider', async () => {
    const before = { ...idp.grants };
    const again = await http(callbackUrl, { headers: cookie });
    expect(again.status).toBe(303);
    const to = new URL(again.location!);
    expect(to.origin + to.pathname).toBe(FAILURE);
    expect(to.searchParams.get('error')).toBe('state_used');
    expect(idp.grants).toEqual(before);
    expect(Object.values(idp.grantErrors).reduce((a, b) => a + b, 0)).toBe(0);
  });

  it('a forged state is refused: bad signature, unknown id, signed with another secret', async () => {
    const u = new URL(callbackUrl);
    const [id, sig] = u.searchParams.get('state')!.split('.') as [string, string];
    const forgeries = [
      `${id}.${sig.slice(0, -2)}xx`,
      `${id}`,
      signState('x'.repeat(43), id),
      signState('x'.repeat(43), '00000000-0000-4000-8000-000000000000'),
      'not-a-state',
    ];
    for (const state of forgeries) {
      u.searchParams.set('state', state);
      const res = await http(u.toString());
      expect(res.status).toBe(400);
      expect(res.body).toContain('invalid_state');
    }
    // Without a state at all.
    u.searchParams.delete('state');
    expect((await http(u.toString())).status).toBe(400);
    expect(idp.grants.authorization_code).toBe(1);
  });

  it('an expired state is refused with a clear error', async () => {
    const flow = await runCodeFlow(acme.userToken);
    const stateId = flow.authorizeUrl.searchParams.get('state')!.split('.')[0]!;
    await gw.db.prisma.oAuthState.update({ where: { id: stateId }, data: { expiresAt: new Date(Date.now() - 1000) } });
    const res = await http(flow.callbackUrl, { headers: flow.cookie });
    expect(new URL(res.location!).searchParams.get('error')).toBe('state_expired');
    expect(idp.grants.authorization_code).toBe(1);
  });

  it('a provider error (user denied) goes to the failure URL, the value is untouched', async () => {
    const started = await gql(
      gw.url,
      StartOAuth,
      { connectionId: gid('Connection', codeConn.id), failureUrl: FAILURE },
      acme.userToken,
    );
    const r = started.data!.startOAuthAuthorization;
    if (r.__typename !== 'MutationStartOAuthAuthorizationSuccess') throw new Error('start failed');
    const jar = new Map<string, string>();
    const state = new URL(await browseToCallback(r.data.authorizeUrl, idp.issuer, jar)).searchParams.get('state')!;
    const res = await http(`${gw.url}/oauth/callback?error=access_denied&state=${encodeURIComponent(state)}`, { headers: { cookie: cookieHeader(jar) } });
    expect(new URL(res.location!).searchParams.get('error')).toBe('access_denied');
    expect((await valueOf(gw.app, codeConn.id, acme.id)).status).toBe('ACTIVE');
  });

  it('an error the provider did not send is not repeated: the failure URL, the page and the audit row say provider_error (issue 20)', async () => {
    const echo = `zqEcho${Date.now().toString(36)}`;
    for (const failureUrl of [FAILURE, undefined]) {
      const started = await gql(gw.url, StartOAuth, { connectionId: gid('Connection', codeConn.id), ...(failureUrl ? { failureUrl } : {}) }, acme.userToken);
      const r = started.data!.startOAuthAuthorization;
      if (r.__typename !== 'MutationStartOAuthAuthorizationSuccess') throw new Error('start failed');
      const jar = new Map<string, string>();
      const state = new URL(await browseToCallback(r.data.authorizeUrl, idp.issuer, jar)).searchParams.get('state')!;
      const res = await http(`${gw.url}/oauth/callback?error=${echo}&error_description=${echo}&state=${encodeURIComponent(state)}`, { headers: { cookie: cookieHeader(jar) } });
      if (failureUrl) expect(new URL(res.location!).searchParams.get('error')).toBe('provider_error');
      else expect(res.body).toContain('provider_error');
      expect(`${res.location} ${res.body}`).not.toContain(echo);
    }
    const audited = await gw.db.prisma.auditEvent.findMany({ where: { action: 'oauth.denied' } });
    expect(JSON.stringify(audited.map((a) => a.detail))).not.toContain(echo);
    expect(audited.length).toBeGreaterThan(0);
    expect(gw.logs.join('\n')).not.toContain(echo);
  });

  it('without success/failure URLs the callback answers with a small page', async () => {
    const res = await http(`${gw.url}/oauth/callback?state=garbage`);
    expect(res.status).toBe(400);
    expect(res.body).toContain('Connection failed');
  });

  it('customer users cannot start flows for connections they cannot see; runtime tokens cannot start flows', async () => {
    const other = await makeConnection(gw.app, org.orgId, {
      stableKey: 'idp-org-only',
      name: 'org only',
      connectorId: (await gw.db.prisma.connector.findFirstOrThrow({ where: { orgId: org.orgId, key: 'idp' } })).id,
      type: 'ORG_ACTIVATED_CUSTOMER',
    });
    const hidden = await gql(gw.url, StartOAuth, { connectionId: gid('Connection', other.id) }, acme.userToken);
    expect(hidden.data?.startOAuthAuthorization).toMatchObject({ __typename: 'NotFoundError' });
    const runtime = await gql(gw.url, StartOAuth, { connectionId: gid('Connection', codeConn.id) }, acme.runtimeToken);
    expect(runtime.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    // The org starts a flow for a customer's ORG_ACTIVATED_CUSTOMER value.
    const byOrg = await gql(
      gw.url,
      StartOAuth,
      { connectionId: gid('Connection', other.id), customerId: gid('Customer', acme.id) },
      org.adminToken,
    );
    expect(byOrg.data?.startOAuthAuthorization.__typename).toBe('MutationStartOAuthAuthorizationSuccess');
    const noCustomer = await gql(gw.url, StartOAuth, { connectionId: gid('Connection', other.id) }, org.adminToken);
    expect(noCustomer.data?.startOAuthAuthorization).toMatchObject({ __typename: 'ValidationError' });
  });
  it('the org authorizes the TEST slot; test connection calls the provider with that token', async () => {
    const started = await gql(gw.url, StartOAuth, { connectionId: gid('Connection', codeConn.id), slot: 'TEST' }, org.adminToken);
    const r = started.data!.startOAuthAuthorization;
    if (r.__typename !== 'MutationStartOAuthAuthorizationSuccess') throw new Error('start failed');
    const flow = await browse(r.data.authorizeUrl);
    const cb = await http(flow.callbackUrl, { headers: flow.cookie });
    expect(cb.status).toBe(200);
    expect(cb.body).toContain('Connected');
    expect((await valueOf(gw.app, codeConn.id, 'TEST')).status).toBe('ACTIVE');
    // The provider's userinfo endpoint accepts the stored token: the test passes.
    const tested = await gql(gw.url, TestOAuthConnection, { connectionId: gid('Connection', codeConn.id), slot: 'TEST' }, org.adminToken);
    expect(tested.data?.testConnection).toMatchObject({ data: { ok: true, httpStatus: 200, status: 'ACTIVE' } });
    // And the customer tests its own value.
    const own = await gql(gw.url, TestOAuthConnection, { connectionId: gid('Connection', codeConn.id) }, acme.userToken);
    expect(own.data?.testConnection).toMatchObject({ data: { ok: true, httpStatus: 200 } });
    // Test credentials never reach the runtime of a customer without its own value.
    const globex = org.customers[1]!;
    expect(await resolve(globex.runtimeToken)).toMatchObject({ __typename: 'ResolutionNotFound' });
  });
  it('the callback can land on another gateway instance (shared database and AUTH_SECRET)', async () => {
    const globex = org.customers[1]!;
    const flow = await runCodeFlow(globex.userToken);
    // Behind a load balancer, the provider's redirect reaches any instance.
    const onSecond = flow.callbackUrl.replace(gw.url, gw2.url);
    const res = await http(onSecond, { headers: flow.cookie });
    expect(res.status).toBe(303);
    expect(new URL(res.location!).searchParams.get('status')).toBe('connected');
    expect((await valueOf(gw.app, codeConn.id, globex.id)).status).toBe('ACTIVE');
    expect(await resolve(globex.runtimeToken, gw2.url)).toMatchObject({ __typename: 'ResolvedCredential', valueKind: 'CUSTOMER' });
    // Replaying it on the first instance is refused as well.
    expect(new URL((await http(flow.callbackUrl, { headers: flow.cookie })).location!).searchParams.get('error')).toBe('state_used');
  });
});

describe('refresh at resolve time', () => {
  it('refreshes an expiring token once, stores the rotated refresh token', async () => {
    const before = await valueOf(gw.app, codeConn.id, acme.id);
    const old = secretsOf(gw.app, before);
    await expireSoon(gw.app, before.id);
    const r = await resolve(acme.runtimeToken);
    expect(r.__typename).toBe('ResolvedCredential');
    if (r.__typename !== 'ResolvedCredential') return;
    expect(r.accessToken).not.toBe(old.accessToken);
    expect(idp.issued.has(r.accessToken!)).toBe(true);
    expect(new Date(r.expiresAt!).getTime()).toBeGreaterThan(Date.now() + 60_000);
    expect(idp.grants.refresh_token).toBe(1);
    const after = await valueOf(gw.app, codeConn.id, acme.id);
    const now = secretsOf(gw.app, after);
    // The provider rotates refresh tokens: the new one is stored.
    expect(now.refreshToken).not.toBe(old.refreshToken);
    expect(idp.issued.has(now.refreshToken!)).toBe(true);
    expect(after.version).toBeGreaterThan(before.version);
    // A second resolution uses the fresh token: no provider call.
    const again = await resolve(acme.runtimeToken);
    expect(again).toMatchObject({ accessToken: r.accessToken });
    expect(idp.grants.refresh_token).toBe(1);
    // The next renewal presents the rotated token, never the old one: the provider refuses a consumed one (invalid_grant, and revokes the grant).
    await expireSoon(gw.app, after.id);
    const next = await resolve(acme.runtimeToken);
    expect(next.__typename).toBe('ResolvedCredential');
    expect(idp.grants.refresh_token).toBe(2);
    expect(idp.grantErrors.invalid_grant ?? 0).toBe(0);
    expect(secretsOf(gw.app, await valueOf(gw.app, codeConn.id, acme.id)).refreshToken).not.toBe(now.refreshToken);
  });

  it('keeps the old refresh token when the provider does not send a new one', () => {
    const kept = mergeTokens({ refreshToken: 'old-refresh' }, { accessToken: 'new-access', tokenType: 'Bearer' });
    expect(kept.secrets).toEqual({ accessToken: 'new-access', refreshToken: 'old-refresh' });
    const replaced = mergeTokens({ refreshToken: 'old-refresh' }, { accessToken: 'a', refreshToken: 'new-refresh' });
    expect(replaced.secrets.refreshToken).toBe('new-refresh');
  });

  it('20 concurrent resolutions of an expiring token make exactly one refresh call', async () => {
    const value = await valueOf(gw.app, codeConn.id, acme.id);
    await expireSoon(gw.app, value.id);
    const before = idp.grants.refresh_token ?? 0;
    const results = await Promise.all(Array.from({ length: 20 }, () => resolve(acme.runtimeToken)));
    expect(idp.grants.refresh_token).toBe(before + 1);
    const tokens = new Set(results.map((r) => (r.__typename === 'ResolvedCredential' ? r.accessToken : r.__typename)));
    expect(tokens.size).toBe(1);
    expect(idp.issued.has([...tokens][0]!)).toBe(true);
  });

  it('…also across two gateway instances on the same database', async () => {
    const value = await valueOf(gw.app, codeConn.id, acme.id);
    await expireSoon(gw.app, value.id);
    const before = idp.grants.refresh_token ?? 0;
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => resolve(acme.runtimeToken, i % 2 === 0 ? gw.url : gw2.url)),
    );
    expect(idp.grants.refresh_token).toBe(before + 1);
    const tokens = new Set(results.map((r) => (r.__typename === 'ResolvedCredential' ? r.accessToken : r.__typename)));
    expect(tokens.size).toBe(1);
    expect(idp.issued.has([...tokens][0]!)).toBe(true);
    expect(idp.grantErrors).toEqual({});
  });

  it('a provider that cannot be reached: retried, then a retryable error; the value stays ACTIVE', async () => {
    const value = await valueOf(gw.app, codeConn.id, acme.id);
    await expireSoon(gw.app, value.id);
    await idp.pause();
    try {
      const r = await resolve(acme.runtimeToken);
      expect(r).toMatchObject({ __typename: 'ResolutionError', code: 'ERROR', retryable: true });
      if (r.__typename === 'ResolutionError') expect(r.message).toContain('connection refused');
      const after = await valueOf(gw.app, codeConn.id, acme.id);
      expect(after.status).toBe('ACTIVE');
      expect(after.refreshFailures).toBe(1);
    } finally {
      await idp.resume();
    }
    const before = idp.grants.refresh_token ?? 0;
    const ok = await resolve(acme.runtimeToken);
    expect(ok.__typename).toBe('ResolvedCredential');
    expect(idp.grants.refresh_token).toBe(before + 1);
    expect((await valueOf(gw.app, codeConn.id, acme.id)).refreshFailures).toBe(0);
  });

  it('invalid_grant (access revoked at the provider) marks the value EXPIRED with the provider message', async () => {
    const value = await valueOf(gw.app, codeConn.id, acme.id);
    const { refreshToken } = secretsOf(gw.app, value);
    // The user revokes the gateway's access at the provider.
    const revoked = await fetch(idp.revocationUrl, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: 'Basic ' + Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64'),
      },
      body: new URLSearchParams({ token: refreshToken!, token_type_hint: 'refresh_token' }),
    });
    expect(revoked.status).toBe(200);
    await expireSoon(gw.app, value.id);
    const r = await resolve(acme.runtimeToken);
    expect(r).toMatchObject({ __typename: 'ResolutionExpired', code: 'EXPIRED' });
    expect(idp.grantErrors.invalid_grant).toBe(1);
    const after = await valueOf(gw.app, codeConn.id, acme.id);
    expect(after.status).toBe('EXPIRED');
    expect(after.lastError).toMatch(/invalid_grant/);
    if (r.__typename === 'ResolutionExpired') expect(r.message).toBe(after.lastError);
    // Expired values do not call the provider again.
    const again = await resolve(acme.runtimeToken, gw2.url);
    expect(again.__typename).toBe('ResolutionExpired');
    expect(idp.grantErrors.invalid_grant).toBe(1);
    // The customer sees that it must authorize again; a new flow makes it ACTIVE again.
    const mine = await gql(gw.url, MyValue, { id: gid('Connection', codeConn.id) }, acme.userToken);
    expect((mine.data?.node as { myValue: { status: string } }).myValue.status).toBe('EXPIRED');
    const flow = await runCodeFlow(acme.userToken);
    expect((await http(flow.callbackUrl, { headers: flow.cookie })).status).toBe(303);
    expect((await resolve(acme.runtimeToken)).__typename).toBe('ResolvedCredential');
  });
  it('a refused client (invalid_client) marks the value ERROR, not retryable', async () => {
    const wrong = await makeConnector(gw.app, org.orgId, {
      key: 'idp-wrong-secret',
      name: 'IdP, wrong client secret',
      authType: 'OAUTH2',
      oauth2: { grantType: 'authorization_code', authorizeUrl: idp.authorizeUrl, tokenUrl: idp.tokenUrl, scopes: ['openid'], clientId: CLIENT_ID },
      oauthClientSecret: 'not-the-client-secret-42',
    });
    const c = await makeConnection(gw.app, org.orgId, {
      stableKey: 'idp-wrong-secret',
      name: 'wrong secret',
      connectorId: wrong.id,
      type: 'ORG_ACTIVATED_CUSTOMER',
    });
    await putValue(
      gw.app,
      c.id,
      { kind: 'CUSTOMER', customerId: acme.id },
      { accessToken: 'pushed-access-token-1', refreshToken: 'pushed-refresh-token-1' },
      { expiresAt: new Date(Date.now() - 1000) },
    );
    const r = await gql(gw.url, Resolve, { stableKey: 'idp-wrong-secret' }, acme.runtimeToken, { resolution: true });
    expect(r.data?.resolveConnection).toMatchObject({ __typename: 'ResolutionError', retryable: false });
    expect(idp.grantErrors.invalid_client).toBe(1);
    const after = await valueOf(gw.app, c.id, acme.id);
    expect(after.status).toBe('ERROR');
    expect(after.lastError).toMatch(/invalid_client/);
  });
});

describe('client-credentials grant', () => {
  it('the org connects a global value; the runtime resolves it and it is fetched again before expiry', async () => {
    const res = await gql(gw.url, ConnectClientCredentials, { connectionId: gid('Connection', ccConn.id) }, org.adminToken);
    expect(res.data?.connectOAuthClientCredentials).toMatchObject({
      __typename: 'MutationConnectOAuthClientCredentialsSuccess',
      data: { status: 'ACTIVE' },
    });
    expect(idp.grants.client_credentials).toBe(1);
    const first = await gql(gw.url, Resolve, { stableKey: ccConn.stableKey }, acme.runtimeToken, { resolution: true });
    const r1 = first.data!.resolveConnection;
    expect(r1).toMatchObject({ __typename: 'ResolvedCredential', valueKind: 'GLOBAL' });
    const value = await valueOf(gw.app, ccConn.id, 'GLOBAL');
    await expireSoon(gw.app, value.id);
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        gql(i % 2 ? gw2.url : gw.url, Resolve, { stableKey: ccConn.stableKey }, acme.runtimeToken, { resolution: true }),
      ),
    );
    expect(idp.grants.client_credentials).toBe(2);
    const tokens = new Set(results.map((r) => (r.data!.resolveConnection as { accessToken?: string }).accessToken));
    expect(tokens.size).toBe(1);
    expect([...tokens][0]).not.toBe((r1 as { accessToken: string }).accessToken);
  });

  it('a customer user cannot run it on a global connection (not visible)', async () => {
    const res = await gql(gw.url, ConnectClientCredentials, { connectionId: gid('Connection', ccConn.id) }, acme.userToken);
    expect(res.data?.connectOAuthClientCredentials).toMatchObject({ __typename: 'NotFoundError' });
  });
});

describe('secrets never leak', () => {
  it('no response (other than runtime resolutions) and no log line contains a stored secret', async () => {
    // Everything secret this file stored or the provider issued.
    const secrets = new Set<string>([...idp.issued, CLIENT_SECRET, CC_CLIENT_SECRET, 'not-the-client-secret-42']);
    for (const v of await gw.db.prisma.connectionValue.findMany()) {
      for (const s of Object.values(secretsOf(gw.app, v))) secrets.add(s);
    }
    for (const s of await gw.db.prisma.oAuthState.findMany()) {
      secrets.add(gw.app.config.keyRing.decrypt(s.codeVerifier, oauthStateAad(s.id)));
    }
    expect(secrets.size).toBeGreaterThan(10);
    expect(responseLog.length).toBeGreaterThan(10);
    expect(capturedLogs.length).toBeGreaterThan(0);
    const audit = (await gw.db.prisma.auditEvent.findMany()).map((a) => JSON.stringify(a, (_k, v) => (typeof v === 'bigint' ? String(v) : v)));
    expect(findLeaks(secrets, [...responseLog, ...capturedLogs, ...audit])).toEqual([]);
    // Sanity: the scan does find secrets where they are expected.
    expect(findLeaks(secrets, resolutionLog).length).toBeGreaterThan(0);
  });
});

