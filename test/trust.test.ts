/**
 * Issue #11, "Trust at the edges": one regression test per finding of the
 * outside audit (numbered as in the issue), each failing on the code before
 * the fix. The limit × path dimension of authorization is in
 * authz-matrix.test.ts; the outbound policy's own tests in outbound.test.ts.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT } from 'jose';
import { Agent, fetch as fetchOnce } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createInstance, createIntegration } from '../src/modules/integrations/service.js';
import { createWorkflow } from '../src/modules/workflows/service.js';
import type { SeededOrg } from '../src/seed/demo.js';
import { newEmbedKeyPair, signEmbedToken } from '../src/seed/embed.js';
import { updateCustomer } from '../src/modules/tenancy/service.js';
import { graphql } from './gql/index.js';
import { findLeaks, gid, gql, http, rawPost } from './helpers/client.js';
import { Collector, wsClient } from './helpers/feed.js';
import { asOrg, makeApiKey, makeConnection, makeConnector, putValue, secretsOf, valueOf } from './helpers/fixtures.js';
import { capturedLogs, startGateway, type TestGateway } from './helpers/gateway.js';
import { CLIENT_ID, CLIENT_SECRET, browseToCallback, cookieHeader, startProvider, type TestProvider } from './helpers/oidc-provider.js';
import { useWorld } from './helpers/world.js';

const RegisterEmbedKey = graphql(`
  mutation TrustRegisterEmbedKey($publicKey: String!, $alg: String!) {
    registerEmbedSigningKey(publicKey: $publicKey, alg: $alg) {
      __typename
      ... on MutationRegisterEmbedSigningKeySuccess { data { keyId } }
      ... on Error { code message }
    }
  }
`);

const IssueRuntimeToken = graphql(`
  mutation TrustIssueRuntimeToken($customerId: ID!, $instanceId: ID, $workflowId: ID) {
    issueRuntimeToken(customerId: $customerId, instanceId: $instanceId, workflowId: $workflowId) {
      __typename
      ... on MutationIssueRuntimeTokenSuccess { data { token } }
      ... on Error { code message }
      ... on ValidationError { problems { path message } }
    }
  }
`);

const SetMyValue = graphql(`
  mutation TrustSetMyValue($connectionId: ID!, $values: JSON!) {
    setMyConnectionValue(connectionId: $connectionId, values: $values) {
      __typename
      ... on Error { code message }
    }
  }
`);

const ImportManifest = graphql(`
  mutation TrustImportManifest($manifest: JSON!, $dryRun: Boolean!) {
    importManifest(manifest: $manifest, dryRun: $dryRun) {
      __typename
      ... on MutationImportManifestSuccess { data { applied changed } }
      ... on Error { code message }
    }
  }
`);

const ExportManifest = graphql(`
  query TrustExportManifest {
    exportManifest
  }
`);

const UpdateConnector = graphql(`
  mutation TrustUpdateConnector($id: ID!, $patch: ConnectorPatch!) {
    updateConnector(id: $id, patch: $patch) {
      __typename
      ... on MutationUpdateConnectorSuccess { data { oauth2 { tokenUrl hasClientSecret } } }
      ... on Error { code message }
      ... on ValidationError { problems { path message } }
    }
  }
`);

const CreateStep = graphql(`
  mutation TrustCreateStep($input: WorkflowStepInput!) {
    createWorkflowStep(input: $input) {
      __typename
      ... on MutationCreateWorkflowStepSuccess { data { id connectorName } }
      ... on Error { code message }
      ... on ValidationError { problems { path message } }
    }
  }
`);

const Feed = graphql(`
  subscription TrustFeed($customerId: ID, $connectorId: ID, $after: String) {
    availableConnectionsChanged(customerId: $customerId, connectorId: $connectorId, after: $after) {
      cursor
      kind
    }
  }
`);

const RevokeApiKey = graphql(`
  mutation TrustRevokeApiKey($id: ID!) {
    revokeApiKey(id: $id) {
      __typename
      ... on Error { code message }
    }
  }
`);

const RevokeEmbedKey = graphql(`
  mutation TrustRevokeEmbedKey($keyId: String!) {
    revokeEmbedSigningKey(keyId: $keyId) {
      __typename
      ... on Error { code message }
    }
  }
`);

const StartOAuth = graphql(`
  mutation TrustStartOAuth($connectionId: ID!, $customerId: ID, $successUrl: String, $failureUrl: String) {
    startOAuthAuthorization(connectionId: $connectionId, customerId: $customerId, successUrl: $successUrl, failureUrl: $failureUrl) {
      __typename
      ... on MutationStartOAuthAuthorizationSuccess { data { authorizeUrl } }
      ... on Error { code message }
      ... on ValidationError { problems { path message } }
    }
  }
`);

const TestConnection = graphql(`
  mutation TrustTestConnection($connectionId: ID!) {
    testConnection(connectionId: $connectionId) {
      __typename
      ... on MutationTestConnectionSuccess { data { ok failure httpStatus message } }
      ... on Error { code message }
    }
  }
`);

const CustomerMetadata = graphql(`
  query TrustCustomerMetadata {
    customers { edges { node { externalId metadata } } }
  }
`);

const ConnectorOAuth = graphql(`
  query TrustConnectorOAuth($key: String!) {
    connectorByKey(key: $key) { key oauth2 { clientId tokenUrl authorizeUrl } }
  }
`);

const Viewer = graphql(`
  query TrustViewer {
    viewer { kind }
  }
`);

/** A local HTTP server that counts the requests it receives (an "internal service", or an attacker's). */
interface Probe {
  url: string;
  hits: { method: string; url: string; headers: Record<string, unknown>; body: string }[];
  server: Server;
}
async function probeServer(status = 200, body = '{"access_token":"probe-token","token_type":"Bearer"}'): Promise<Probe> {
  const hits: Probe['hits'] = [];
  const server = createServer((req, res) => {
    let data = '';
    req.on('data', (c) => (data += c));
    req.on('end', () => {
      hits.push({ method: req.method!, url: req.url!, headers: req.headers, body: data });
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, hits, server };
}


/** A customer-activated connection of a self-hosted app: the customer gives its base URL, which the test request goes to. */
async function selfHosted(key: string) {
  const connector = await makeConnector(gw.app, org.orgId, {
    key: `${key}-app`,
    name: 'Self-hosted app',
    authType: 'CUSTOM_AUTH',
    fields: [
      { key: 'baseUrl', label: 'Base URL', type: 'URL', required: true },
      { key: 'apiKey', label: 'API key', type: 'STRING', required: true, secret: true },
    ],
    testRequest: { method: 'GET', url: '{{baseUrl}}/me', headers: { 'x-api-key': '{{apiKey}}' } },
  });
  return makeConnection(gw.app, org.orgId, { stableKey: key, name: key, connectorId: connector.id, type: 'CUSTOMER_ACTIVATED' });
}

/** Every secret this file stores or sends, for the scans. */
const SECRETS = new Set<string>();
const secret = (name: string) => {
  const s = `${name}-${Math.random().toString(36).slice(2, 12)}-s3cr3t`;
  SECRETS.add(s);
  return s;
};

let gw: TestGateway; // default policy: nothing local is reachable
let org: SeededOrg;
let other: SeededOrg;
let probe: Probe;
const closers: (() => Promise<unknown>)[] = [];

useWorld({ env: { LOG_LEVEL: 'debug' }, orgs: { org: { customers: ['acme', 'globex'] }, other: { customers: ['acme'] } } }, async (w) => {
  ({ gw, org, other } = w);
  probe = await probeServer();
  closers.push(() => new Promise((r) => probe.server.close(r)));
});
afterAll(async () => {
  for (const c of closers.reverse()) await c().catch(() => {});
});

describe('1. a noCredentialWrites key cannot reach credentials through embed keys or runtime tokens', () => {
  it('registering an embed signing key and issuing runtime tokens are refused to it; customers’ values stay as they were', async () => {
    const limited = await makeApiKey(gw.app, org.orgId, { noCredentialWrites: true });
    const connector = await makeConnector(gw.app, org.orgId, { key: 'ncw-app', name: 'NCW app', authType: 'SECRET_TEXT' });
    const conn = await makeConnection(gw.app, org.orgId, { stableKey: 'ncw-conn', name: 'ncw', connectorId: connector.id, type: 'CUSTOMER_ACTIVATED' });
    const original = secret('customer-own');
    await putValue(gw.app, conn.id, { kind: 'CUSTOMER', customerId: org.customers[0]!.id }, { secret_text: original });

    const pair = await newEmbedKeyPair();
    const registered = await gql(gw.url, RegisterEmbedKey, { publicKey: pair.publicKeyPem, alg: 'ES256' }, limited.secret);
    const reg = registered.data?.registerEmbedSigningKey ?? registered.errors?.[0]?.extensions;
    if (registered.data?.registerEmbedSigningKey.__typename === 'MutationRegisterEmbedSigningKeySuccess') {
      // The audit's path: act as any customer user with the key it registered.
      const token = await signEmbedToken(
        { keyId: registered.data.registerEmbedSigningKey.data.keyId, privateKey: pair.privateKey },
        { userId: 'intruder', customerExternalId: 'acme' },
      );
      await gql(gw.url, SetMyValue, { connectionId: gid('Connection', conn.id), values: { secret_text: secret('overwritten') } }, token);
    }
    expect(reg).toMatchObject({ code: 'FORBIDDEN' });
    expect(secretsOf(gw.app, await valueOf(gw.app, conn.id, org.customers[0]!.id)).secret_text).toBe(original);

    const issued = await gql(gw.url, IssueRuntimeToken, { customerId: gid('Customer', org.customers[0]!.id) }, limited.secret);
    expect(issued.data?.issueRuntimeToken ?? issued.errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN' });
    // An unlimited key still issues them (the runtime's normal path).
    const full = await gql(gw.url, IssueRuntimeToken, { customerId: gid('Customer', org.customers[0]!.id) }, org.apiKey);
    expect(full.data?.issueRuntimeToken.__typename).toBe('MutationIssueRuntimeTokenSuccess');
  });
});

describe('2. manifest import holds the key’s limits; the OAuth client secret follows its token URL', () => {
  it('a noCredentialWrites key cannot change a connector through importManifest', async () => {
    const limited = await makeApiKey(gw.app, org.orgId, { noCredentialWrites: true });
    const connector = await makeConnector(gw.app, org.orgId, {
      key: 'manifest-app',
      name: 'Manifest app',
      authType: 'SECRET_TEXT',
      testRequest: { method: 'GET', url: 'https://api.example.com/me', headers: { 'x-key': '{{secret_text}}' } },
    });
    const exported = await gql(gw.url, ExportManifest, {}, limited.secret);
    const manifest = exported.data!.exportManifest as { connectors: { key: string; testRequest: { url: string } | null }[] };
    const item = manifest.connectors.find((c) => c.key === 'manifest-app')!;
    item.testRequest!.url = `${probe.url}/collect`;
    const r = await gql(gw.url, ImportManifest, { manifest, dryRun: false }, limited.secret);
    expect(r.data?.importManifest).toMatchObject({ code: 'FORBIDDEN' });
    const after = await gw.db.prisma.connector.findUniqueOrThrow({ where: { id: connector.id } });
    expect((after.testRequest as { url: string }).url).toBe('https://api.example.com/me');
    // A dry run only reads: still allowed.
    const dry = await gql(gw.url, ImportManifest, { manifest, dryRun: true }, limited.secret);
    expect(dry.data?.importManifest).toMatchObject({ data: { applied: false, changed: 1 } });
  });

  it('moving the token URL to another origin requires re-entering the client secret, even for an org admin', async () => {
    const connector = await makeConnector(gw.app, org.orgId, {
      key: 'secret-app',
      name: 'Secret app',
      authType: 'OAUTH2',
      oauth2: { grantType: 'client_credentials', tokenUrl: 'https://idp.example.com/token', clientId: 'cid', scopes: [] },
      oauthClientSecret: secret('client'),
    });
    const moved = { grantType: 'client_credentials', tokenUrl: `${probe.url}/token`, clientId: 'cid', scopes: [] };
    const r = await gql(gw.url, UpdateConnector, { id: gid('Connector', connector.id), patch: { oauth2: moved } }, org.adminToken);
    expect(r.data?.updateConnector).toMatchObject({ __typename: 'ValidationError', problems: [{ path: 'patch.oauthClientSecret' }] });
    const unchanged = await gw.db.prisma.connector.findUniqueOrThrow({ where: { id: connector.id } });
    expect((unchanged.oauth2 as { tokenUrl: string }).tokenUrl).toBe('https://idp.example.com/token');
    // Same origin, another path: no secret needed. With the secret re-entered: allowed.
    const samePath = { ...moved, tokenUrl: 'https://idp.example.com/oauth/v2/token' };
    const same = await gql(gw.url, UpdateConnector, { id: gid('Connector', connector.id), patch: { oauth2: samePath } }, org.adminToken);
    expect(same.data?.updateConnector.__typename).toBe('MutationUpdateConnectorSuccess');
    const withSecret = await gql(
      gw.url,
      UpdateConnector,
      { id: gid('Connector', connector.id), patch: { oauth2: moved, oauthClientSecret: secret('new-client') } },
      org.adminToken,
    );
    expect(withSecret.data?.updateConnector).toMatchObject({ data: { oauth2: { tokenUrl: `${probe.url}/token`, hasClientSecret: true } } });
  });
});

describe('2b. a kept secret does not follow a changed test-request host', () => {
  it('a customer user who moves the test request elsewhere must enter the secret again', async () => {
    const conn = await selfHosted('moving');
    const [first, colleague] = [org.customers[0]!.userToken, await signEmbedToken(org.signer, { userId: 'colleague', customerExternalId: 'acme' })];
    const id = gid('Connection', conn.id);
    const entered = secret('colleague-cannot-read');
    expect((await gql(gw.url, SetMyValue, { connectionId: id, values: { baseUrl: 'https://api.acme.example', apiKey: entered } }, first)).data?.setMyConnectionValue.__typename).toBe(
      'MutationSetMyConnectionValueSuccess',
    );
    // Another host, the secret kept: refused, nothing changes.
    const moved = await gql(gw.url, SetMyValue, { connectionId: id, values: { baseUrl: 'https://collector.evil.example' } }, colleague);
    expect(moved.data?.setMyConnectionValue).toMatchObject({ __typename: 'ValidationError', code: 'VALIDATION_FAILED' });
    expect(moved.data?.setMyConnectionValue.__typename === 'ValidationError' && moved.data.setMyConnectionValue.message).toMatch(/values\.apiKey/);
    expect((await valueOf(gw.app, conn.id, org.customers[0]!.id)).fields).toEqual({ baseUrl: 'https://api.acme.example' });
    // Same host, another path: fine. Another host with the secret entered again: fine.
    expect((await gql(gw.url, SetMyValue, { connectionId: id, values: { baseUrl: 'https://api.acme.example/v2' } }, colleague)).data?.setMyConnectionValue.__typename).toBe(
      'MutationSetMyConnectionValueSuccess',
    );
    const again = await gql(gw.url, SetMyValue, { connectionId: id, values: { baseUrl: 'https://eu.acme.example', apiKey: secret('re-entered') } }, colleague);
    expect(again.data?.setMyConnectionValue.__typename).toBe('MutationSetMyConnectionValueSuccess');
  });
});

describe('3. token lifetimes are enforced at verification', () => {
  const now = () => Math.floor(Date.now() / 1000);
  it('an embed token issued in the future, or valid for longer than 24 h from now, is refused', async () => {
    const { signer } = org;
    const sign = (iat: number, exp: number) =>
      new SignJWT({ customer: 'acme' }).setProtectedHeader({ alg: 'ES256', kid: signer.keyId }).setSubject('u-life').setIssuedAt(iat).setExpirationTime(exp).sign(signer.privateKey);
    const future = await sign(now() + 30 * 86_400, now() + 30 * 86_400 + 3600);
    const tooLong = await sign(now() - 60, now() + 25 * 3600);
    for (const token of [future, tooLong]) {
      const r = await gql(gw.url, Viewer, {}, token);
      expect(r.status).toBe(401);
    }
    const fine = await sign(now() - 5, now() + 3600);
    expect((await gql(gw.url, Viewer, {}, fine)).data?.viewer.kind).toBe('CUSTOMER_USER');
  });

  it('gateway-signed tokens (org user, runtime) valid for longer than their cap are refused', async () => {
    const key = new TextEncoder().encode(gw.app.config.authSecret);
    const sign = (aud: string, sub: string, iat: number, exp: number) =>
      new SignJWT({ org: org.orgId }).setProtectedHeader({ alg: 'HS256' }).setIssuer('connections-gateway').setAudience(aud).setSubject(sub).setIssuedAt(iat).setExpirationTime(exp).sign(key);
    const tokens = [
      await sign('org', org.adminUserId, now(), now() + 30 * 86_400),
      await sign('runtime', org.customers[0]!.id, now(), now() + 30 * 86_400),
      await sign('runtime', org.customers[0]!.id, now() + 7 * 86_400, now() + 7 * 86_400 + 3600),
    ];
    for (const token of tokens) expect((await gql(gw.url, Viewer, {}, token)).status).toBe(401);
    expect((await gql(gw.url, Viewer, {}, await sign('runtime', org.customers[0]!.id, now(), now() + 3600))).data?.viewer.kind).toBe('RUNTIME');
  });
});

describe('4. no log line holds request variables, bodies or secrets', () => {
  it('secrets sent through every kind of bad input never reach the log (debug level)', async () => {
    const auth = { authorization: `Bearer ${org.adminToken}` };
    const s = () => secret('bad-input');
    const send = (body: string, headers = auth) => rawPost(gw.url, body, headers);
    // Variables that do not coerce: wrong shape, wrong scalar, unknown enum value, unknown field.
    await send(JSON.stringify({ query: 'mutation($i: CustomerInput!) { upsertCustomer(input: $i) { __typename } }', variables: { i: { s: s() } } }));
    await send(JSON.stringify({ query: 'query($n: Int) { customers(first: $n) { edges { cursor } } }', variables: { n: s() } }));
    await send(JSON.stringify({ query: 'query($k: AuthType) { connectors(authType: $k) { edges { cursor } } }', variables: { k: s() } }));
    await send(JSON.stringify({ query: 'query($b: Boolean) { apiKeys(includeRevoked: $b) { id } }', variables: { b: s(), extra: s() } }));
    // Literals in the document: wrong type, unknown argument, syntax error.
    await send(JSON.stringify({ query: `{ customers(first: "${s()}") { edges { cursor } } }` }));
    await send(JSON.stringify({ query: `{ customer(id: "x", nope: "${s()}") { id } }` }));
    await send(JSON.stringify({ query: `{ viewer { kind } } "${s()}` }));
    // Malformed JSON, and a body that is not JSON at all.
    await send(`{"query": "{ viewer { kind } }", "variables": {"x": "${s()}"}`);
    await send(`${s()}`);
    // A domain refusal of input holding a secret (unknown credential field), and a bad id.
    await send(JSON.stringify({ query: 'mutation($v: JSON!) { setMyConnectionValue(connectionId: "x", values: $v) { __typename } }', variables: { v: { [s()]: s() } } }));
    // Credentials themselves: a bad bearer, a forged embed token, in HTTP and over GET.
    await gql(gw.url, Viewer, {}, `cgk_${s()}`);
    await gql(gw.url, Viewer, {}, `eyJhbGciOiJFUzI1NiJ9.${Buffer.from(s()).toString('base64url')}.x`);
    await http(`${gw.url}/graphql?query=${encodeURIComponent(`{ viewer { kind } } ${s()}`)}`, { headers: auth });
    // REST: bad JSON, a value that fails validation, a secret in the query string.
    await http(`${gw.url}/api/v1/projects`, { method: 'POST', token: org.apiKey, raw: `{"externalId": "${s()}"` });
    await http(`${gw.url}/api/v1/projects`, { method: 'POST', token: org.apiKey, body: { externalId: 7, displayName: s(), metadata: s() } });
    await http(`${gw.url}/api/v1/global-connections`, {
      method: 'POST',
      token: org.apiKey,
      body: { displayName: 'x', pieceName: 'nope', type: 'SECRET_TEXT', value: { type: 'SECRET_TEXT', props: { secret_text: s(), [s()]: 1 } }, scope: 'PLATFORM', projectIds: ['x'], externalId: 'e' },
    });
    await http(`${gw.url}/api/v1/projects?externalId=${s()}&limit=${s()}`, { token: org.apiKey });
    // The runtime path and the OAuth callback with secrets in their query strings.
    await http(`${gw.url}/runtime/v1/connection?stableKey=${s()}`, { token: org.customers[0]!.runtimeToken });
    await http(`${gw.url}/oauth/callback?code=${s()}&state=${s()}`);
    await http(`${gw.url}/oauth/callback?error=${s()}&state=${s()}`);

    expect(capturedLogs.length).toBeGreaterThan(0);
    expect(findLeaks(SECRETS, capturedLogs)).toEqual([]);
  });
});

describe('5. org-only connectors do not exist for customer users', () => {
  it('a step or a subscription naming an org-only connector is refused exactly as an unknown one', async () => {
    const orgOnly = await makeConnector(gw.app, org.orgId, { key: 'internal-erp', name: 'Internal ERP (secret project)', authType: 'SECRET_TEXT' });
    await makeConnection(gw.app, org.orgId, { stableKey: 'erp', name: 'ERP', connectorId: orgOnly.id, type: 'ORG_ACTIVATED_CUSTOMER' });
    const wf = await asOrg(gw.app, org.orgId, (op) => createWorkflow(op, { customerId: org.customers[0]!.id, name: 'wf' }));
    const user = org.customers[0]!.userToken;
    const step = (connectorKey: string) => gql(gw.url, CreateStep, { input: { workflowId: gid('Workflow', wf.id), name: 's', connectorKey } }, user);
    const known = await step('internal-erp');
    const unknown = await step('no-such-connector');
    expect(JSON.stringify(known.data)).not.toContain('Internal ERP');
    expect(known.data).toEqual(unknown.data);
    expect(unknown.data?.createWorkflowStep.__typename).toBe('ValidationError');

    const first = async (connectorId: string) => {
      const client = wsClient(gw.url, user);
      const c = new Collector(client, Feed, { connectorId, after: '0' });
      try {
        await c.until((x) => x.errors.length > 0 || x.events.length > 0 || x.completed, 10_000, 'an answer');
        return JSON.stringify(c.errors);
      } finally {
        c.close();
        await client.dispose();
      }
    };
    const forKnown = await first(gid('Connector', orgOnly.id));
    const forUnknown = await first(gid('Connector', '00000000-0000-4000-8000-000000000001'));
    expect(forUnknown).toContain('NOT_FOUND');
    expect(forKnown).toBe(forUnknown);
  });
});

describe('6. an OAuth flow completes only in the browser that started it, for the principal that started it', () => {
  let local: TestGateway;
  let idp: TestProvider;
  let lorg: SeededOrg;
  let conn: { id: string };
  // The provider runs on this machine: this gateway may reach loopback.
  useWorld({ env: { OUTBOUND_ALLOWED_NETWORKS: '127.0.0.1/32' }, orgs: { lorg: { customers: ['acme', 'globex'] } } }, async (w) => {
    ({ gw: local, lorg } = w);
    idp = await startProvider({ redirectUris: [`${local.url}/oauth/callback`] });
    closers.push(() => idp.close());
    const connector = await makeConnector(local.app, lorg.orgId, {
      key: 'bound-idp',
      name: 'IdP',
      authType: 'OAUTH2',
      oauth2: { grantType: 'authorization_code', authorizeUrl: idp.authorizeUrl, tokenUrl: idp.tokenUrl, scopes: ['openid'], clientId: CLIENT_ID, pkce: true },
      oauthClientSecret: CLIENT_SECRET,
    });
    conn = await makeConnection(local.app, lorg.orgId, { stableKey: 'bound-idp', name: 'bound', connectorId: connector.id, type: 'CUSTOMER_ACTIVATED' });
  });

  /** The starter's browser opens the link, up to the provider's page; another browser then completes consent and lands on the callback. */
  async function hijacked(token: string, customerId?: string) {
    const started = await gql(local.url, StartOAuth, { connectionId: gid('Connection', conn.id), ...(customerId ? { customerId } : {}) }, token);
    const r = started.data?.startOAuthAuthorization;
    if (r?.__typename !== 'MutationStartOAuthAuthorizationSuccess') throw new Error(JSON.stringify(started));
    const starter = new Map<string, string>();
    const providerUrl = await browseToCallback(r.data.authorizeUrl, idp.issuer, starter);
    const intruder = new Map<string, string>();
    const callback = await browseToCallback(providerUrl, `${local.url}/oauth/callback`, intruder);
    return { callback, starter, intruder, link: r.data.authorizeUrl };
  }

  it('a callback reached from another browser is refused and stores nothing', async () => {
    const { callback, intruder } = await hijacked(lorg.customers[0]!.userToken);
    const res = await http(callback, { headers: { cookie: cookieHeader(intruder) } });
    expect(res.status).toBe(400);
    expect(await local.db.prisma.connectionValue.count({ where: { connectionId: conn.id } })).toBe(0);
  });

  it('the start link works once: a second browser opening it is refused', async () => {
    const { link } = await hijacked(lorg.customers[0]!.userToken);
    const again = await http(link);
    expect(again.status).toBe(400);
  });

  it('a flow whose starter’s API key was revoked meanwhile is refused at the callback', async () => {
    const key = await makeApiKey(local.app, lorg.orgId);
    const started = await gql(local.url, StartOAuth, { connectionId: gid('Connection', conn.id), customerId: gid('Customer', lorg.customers[1]!.id) }, key.secret);
    const r = started.data?.startOAuthAuthorization;
    if (r?.__typename !== 'MutationStartOAuthAuthorizationSuccess') throw new Error(JSON.stringify(started));
    const browser = new Map<string, string>();
    const callback = await browseToCallback(r.data.authorizeUrl, `${local.url}/oauth/callback`, browser);
    await gql(local.url, RevokeApiKey, { id: gid('ApiKey', key.id) }, lorg.adminToken);
    const res = await http(callback, { headers: { cookie: cookieHeader(browser) } });
    expect(res.status).toBe(400);
    expect(await local.db.prisma.connectionValue.count({ where: { connectionId: conn.id, customerId: lorg.customers[1]!.id } })).toBe(0);
  });

  it('success and failure URLs must be on an origin the organization configured', async () => {
    const r = await gql(
      local.url,
      StartOAuth,
      { connectionId: gid('Connection', conn.id), successUrl: 'https://evil.example/steal', failureUrl: 'https://evil.example/f' },
      lorg.customers[0]!.userToken,
    );
    expect(r.data?.startOAuthAuthorization).toMatchObject({ __typename: 'ValidationError', problems: [{ path: 'successUrl' }, { path: 'failureUrl' }] });
  });
});

describe('7. subscriptions end when their credential is revoked', () => {
  async function subscribedThenRevoked(token: string, args: Record<string, unknown>, revoke: () => Promise<unknown>) {
    const client = wsClient(gw.url, token);
    const c = new Collector(client, Feed, { ...args, after: '0' });
    try {
      // Up and running: the replay of customer acme's feed arrives.
      await c.until((x) => x.events.length > 0 || x.errors.length > 0, 10_000, 'the replay');
      expect(c.errors).toEqual([]);
      await revoke();
      const t0 = Date.now();
      await c.until((x) => x.completed || x.errors.length > 0, 8_000, 'the end of the subscription');
      const ms = Date.now() - t0;
      // Nothing new starts on that socket either: it is closed as forbidden.
      const next = new Collector(client, Feed, { ...args, after: '0' });
      await next.until((x) => x.completed || x.errors.length > 0, 8_000, 'a refusal');
      expect(next.events).toEqual([]);
      expect(client.closeCode()).toBe(4403);
      next.close();
      return ms;
    } finally {
      c.close();
      await client.dispose();
    }
  }

  beforeAll(async () => {
    // Something in customer acme's feed, so that a subscription replays at least one event.
    const connector = await makeConnector(gw.app, org.orgId, { key: 'feed-app', name: 'Feed app', authType: 'SECRET_TEXT' });
    const c = await makeConnection(gw.app, org.orgId, { stableKey: 'feed-conn', name: 'feed', connectorId: connector.id, type: 'CUSTOMER_ACTIVATED', availableInWorkflows: true });
    await putValue(gw.app, c.id, { kind: 'CUSTOMER', customerId: org.customers[0]!.id }, { secret_text: secret('feed') });
  });

  it('…an API key', async () => {
    const key = await makeApiKey(gw.app, org.orgId);
    const ms = await subscribedThenRevoked(key.secret, { customerId: gid('Customer', org.customers[0]!.id) }, () =>
      gql(gw.url, RevokeApiKey, { id: gid('ApiKey', key.id) }, org.adminToken),
    );
    expect(ms).toBeLessThan(6000);
  });

  it('…the embed signing key of a customer user', async () => {
    const pair = await newEmbedKeyPair();
    const reg = await gql(gw.url, RegisterEmbedKey, { publicKey: pair.publicKeyPem, alg: 'ES256' }, org.adminToken);
    if (reg.data?.registerEmbedSigningKey.__typename !== 'MutationRegisterEmbedSigningKeySuccess') throw new Error(JSON.stringify(reg));
    const keyId = reg.data.registerEmbedSigningKey.data.keyId;
    const token = await signEmbedToken({ keyId, privateKey: pair.privateKey }, { userId: 'sub-user', customerExternalId: 'acme' });
    const ms = await subscribedThenRevoked(token, {}, () => gql(gw.url, RevokeEmbedKey, { keyId }, org.adminToken));
    expect(ms).toBeLessThan(6000);
  });
});

describe('8. runtime tokens are bound only to instances and workflows of their customer', () => {
  it('another customer’s or org’s instance or workflow, or an unknown one, is refused at issuance', async () => {
    const [acme, globex] = org.customers;
    const integration = await asOrg(gw.app, org.orgId, (op) => createIntegration(op, { stableKey: 'bind-int', name: 'bind' }));
    const globexInstance = await asOrg(gw.app, org.orgId, (op) => createInstance(op, { integrationId: integration.id, customerId: globex!.id, name: 'g' }));
    const acmeInstance = await asOrg(gw.app, org.orgId, (op) => createInstance(op, { integrationId: integration.id, customerId: acme!.id, name: 'a' }));
    const otherWorkflow = await asOrg(gw.app, other.orgId, (op) => createWorkflow(op, { customerId: other.customers[0]!.id, name: 'o' }));
    const issue = (vars: { instanceId?: string; workflowId?: string }) =>
      gql(gw.url, IssueRuntimeToken, { customerId: gid('Customer', acme!.id), ...vars }, org.adminToken).then((r) => r.data?.issueRuntimeToken);
    expect(await issue({ instanceId: gid('Instance', globexInstance.id) })).toMatchObject({ __typename: 'ValidationError', problems: [{ path: 'instanceId' }] });
    expect(await issue({ workflowId: gid('Workflow', otherWorkflow.id) })).toMatchObject({ __typename: 'ValidationError', problems: [{ path: 'workflowId' }] });
    const unknown = await issue({ instanceId: gid('Instance', '00000000-0000-4000-8000-000000000002') });
    expect(unknown).toEqual(await issue({ instanceId: gid('Instance', globexInstance.id) }));
    expect(await issue({ instanceId: gid('Instance', acmeInstance.id) })).toMatchObject({ __typename: 'MutationIssueRuntimeTokenSuccess' });
  });
});

describe('9. test connection cannot probe internal addresses', () => {
  it('a customer user’s test request to a local address is refused before anything is sent', async () => {
    const conn = await selfHosted('ssrf');
    const user = org.customers[0]!.userToken;
    const port = new URL(probe.url).port;
    const targets = [probe.url, `http://localhost:${port}`, `http://[::ffff:127.0.0.1]:${port}`, `http://2130706433:${port}`, 'http://169.254.169.254', 'http://10.0.0.1', `http://[::1]:${port}`];
    for (const baseUrl of targets) {
      const set = await gql(gw.url, SetMyValue, { connectionId: gid('Connection', conn.id), values: { baseUrl, apiKey: secret('ssrf') } }, user);
      expect(set.data?.setMyConnectionValue.__typename, baseUrl).toBe('MutationSetMyConnectionValueSuccess');
      const r = await gql(gw.url, TestConnection, { connectionId: gid('Connection', conn.id) }, user);
      expect(r.data?.testConnection, baseUrl).toMatchObject({ data: { ok: false, failure: 'NOT_ALLOWED', httpStatus: null } });
    }
    expect(probe.hits).toEqual([]);
  });
});

/**
 * Requests on a connection of their own: after a gateway start (seconds on a busy machine) a pooled
 * keep-alive socket may already be closed by the server, and the request would fail with ECONNRESET.
 */
const fresh = new Agent({ pipelining: 0 });
const request = async (url: string, method: string, headers: Record<string, string> = {}, body?: string) => {
  const res = await fetchOnce(url, { method, headers, body, redirect: 'manual', dispatcher: fresh });
  return { status: res.status, headers: res.headers, body: await res.text() };
};

describe('10. CORS answers configured origins only', () => {
  it('by default no route reflects an origin; with CORS_ORIGINS only those are allowed, without credentials', async () => {
    const evil = { origin: 'https://evil.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' };
    const withCors = await startGateway({ CORS_ORIGINS: 'https://app.example' });
    closers.push(() => withCors.close());
    for (const path of ['/graphql', '/api/v1/projects', '/runtime/v1/connection', '/health', '/proxy/v1/items']) {
      for (const method of ['OPTIONS', 'GET']) {
        const d = await request(`${gw.url}${path}`, method, evil);
        expect(d.headers.get('access-control-allow-origin'), `${method} ${path}`).toBeNull();
        expect(d.headers.get('access-control-allow-credentials'), `${method} ${path}`).toBeNull();
        const e = await request(`${withCors.url}${path}`, method, evil);
        expect(e.headers.get('access-control-allow-origin'), `${method} ${path}`).toBeNull();
        const ok = await request(`${withCors.url}${path}`, method, { ...evil, origin: 'https://app.example' });
        expect(ok.headers.get('access-control-allow-origin'), `${method} ${path}`).toBe('https://app.example');
        expect(ok.headers.get('access-control-allow-credentials'), `${method} ${path}`).toBeNull();
      }
    }
  });
});

describe('11. production mode', () => {
  let prod: TestGateway;
  let porg: SeededOrg;
  useWorld({ env: { NODE_ENV: 'production' }, orgs: { porg: {} } }, (w) => ({ gw: prod, porg } = w));

  it('serves no GraphiQL, no anonymous introspection and no field suggestions', async () => {
    const page = await request(`${prod.url}/graphql`, 'GET', { accept: 'text/html' });
    expect(page.body).not.toMatch(/\/graphiql\/[0-9a-f]{12}\/|YogaGraphiQL/);
    expect(page.body).toContain('GraphiQL is off');
    const introspect = JSON.stringify({ query: '{ __schema { queryType { name } } }' });
    const post = (url: string, body: string, headers: Record<string, string> = {}) => request(`${url}/graphql`, 'POST', { 'content-type': 'application/json', accept: 'application/graphql-response+json', ...headers }, body);
    const anon = JSON.parse((await post(prod.url, introspect)).body);
    expect(anon.data?.__schema ?? null).toBeNull();
    expect(anon.errors[0].extensions.code).toBe('UNAUTHENTICATED');
    const authed = JSON.parse((await post(prod.url, introspect, { authorization: `Bearer ${porg.adminToken}` })).body);
    expect(authed.data.__schema.queryType.name).toBe('Query');
    const typo = (await post(prod.url, JSON.stringify({ query: '{ viewr { kind } customrs { edges { cursor } } }' }))).body;
    expect(typo).not.toMatch(/Did you mean/);
  });

  it('a malformed body is never echoed back (no originalError)', async () => {
    for (const url of [prod.url, gw.url]) {
      const body = `{"query": "{ viewer { kind } }", "variables": {"x": "${secret('echo')}"}`;
      const r = await request(`${url}/graphql`, 'POST', { 'content-type': 'application/json', accept: 'application/graphql-response+json' }, body);
      expect(r.status).toBe(400);
      expect(r.body).not.toContain('originalError');
      expect(findLeaks(SECRETS, [r.body])).toEqual([]);
    }
  });
});

describe('12. customer users and runtimes do not read customer metadata or OAuth2 settings', () => {
  it('metadata and oauth2 are organization-only fields', async () => {
    await asOrg(gw.app, org.orgId, (op) => updateCustomer(op, org.customers[0]!.id, { metadata: { note: 'churn risk, internal only' } }));
    await makeConnector(gw.app, org.orgId, {
      key: 'visible-oauth',
      name: 'Visible OAuth',
      authType: 'OAUTH2',
      oauth2: { grantType: 'authorization_code', authorizeUrl: 'https://idp.example.com/a', tokenUrl: 'https://idp.example.com/t', clientId: 'internal-client-id', scopes: [] },
    }).then((c) => makeConnection(gw.app, org.orgId, { stableKey: 'visible-oauth', name: 'v', connectorId: c.id, type: 'CUSTOMER_ACTIVATED' }));
    for (const token of [org.customers[0]!.userToken, org.customers[0]!.runtimeToken]) {
      const r = await gql(gw.url, CustomerMetadata, {}, token);
      expect(JSON.stringify(r)).not.toContain('churn risk');
      expect(r.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    }
    const c = await gql(gw.url, ConnectorOAuth, { key: 'visible-oauth' }, org.customers[0]!.userToken);
    expect(JSON.stringify(c)).not.toContain('internal-client-id');
    expect(c.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    // The organization still reads both.
    expect(JSON.stringify((await gql(gw.url, CustomerMetadata, {}, org.adminToken)).data)).toContain('churn risk');
    expect((await gql(gw.url, ConnectorOAuth, { key: 'visible-oauth' }, org.adminToken)).data?.connectorByKey?.oauth2?.clientId).toBe('internal-client-id');
  });
});

describe('no secret of this file in any response or log line', () => {
  it('scans', () => {
    expect(findLeaks([...SECRETS].filter((s) => !s.startsWith('bad-input')), capturedLogs)).toEqual([]);
  });
});
