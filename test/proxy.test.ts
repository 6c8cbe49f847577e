import { request } from 'node:http';
import { Nango } from '@nangohq/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SeededOrg } from '../src/seed/demo.js';
import { graphql } from './gql/index.js';
import { findLeaks, gid, gql, http, responseLog } from './helpers/client.js';
import { makeApiKey, makeConnection, makeConnector, putValue, valueOf } from './helpers/fixtures.js';
import { capturedLogs, type TestGateway } from './helpers/gateway.js';
import { json, Upstream } from './helpers/upstream.js';
import { useWorld } from './helpers/world.js';

/**
 * The proxy against a real API: a local HTTP server the gateway may reach
 * (OUTBOUND_ALLOWED_NETWORKS=127.0.0.1), which checks what arrives. Each auth
 * type's credential is injected as its connector says; the caller's own
 * credential never goes on; the answer comes back as it was sent; the
 * credential appears in no response, log line, metric or audit row.
 */
const upstream = new Upstream();
const elsewhere = new Upstream();
let gw: TestGateway;
let org: SeededOrg;
let other: SeededOrg;
const secrets: string[] = [];

const secret = (name: string) => {
  const s = `${name}-${Math.random().toString(36).slice(2)}-secret`;
  secrets.push(s);
  return s;
};

beforeAll(async () => {
  await upstream.listen();
  await elsewhere.listen();
});
afterAll(async () => {
  await upstream.close();
  await elsewhere.close();
});
useWorld(
  {
    env: () => ({
      OUTBOUND_ALLOWED_NETWORKS: '127.0.0.1/32',
      PROXY_TIMEOUT_MS: '800',
      PROXY_MAX_RESPONSE_BYTES: '65536',
      PROXY_MAX_REQUEST_BYTES: '2000000',
      // Browsers of this origin may call the gateway (callers without an Origin header are unaffected).
      CORS_ORIGINS: 'https://app.example',
    }),
    orgs: { org: { customers: ['acme', 'globex'] }, other: { customers: ['acme'] } },
  },
  (w) => ({ gw, org, other } = w),
);

const Resolve = graphql(`
  query ProxyResolve($key: String!) {
    resolveConnection(stableKey: $key) { __typename ... on ResolutionProblem { code message } ... on ResolutionProxyOnly { stableKey } }
  }
`);
const IssueToken = graphql(`
  mutation ProxyIssueToken($customerId: ID!, $proxyOnly: Boolean) {
    issueRuntimeToken(customerId: $customerId, proxyOnly: $proxyOnly) { __typename ... on MutationIssueRuntimeTokenSuccess { data { token } } }
  }
`);

interface Setup {
  key: string;
  connectorId: string;
  connectionId: string;
}

let n = 0;
/** A connector with these proxy settings, a connection of it, and acme's value. */
async function connection(
  input: { authType: string; fields?: unknown[]; proxy: Record<string, unknown>; type?: string },
  values: Record<string, unknown>,
  extra: Record<string, unknown> = {},
): Promise<Setup> {
  const key = `api-${++n}`;
  const connector = await makeConnector(gw.app, org.orgId, { key, name: key, authType: input.authType, ...(input.fields ? { fields: input.fields } : {}), proxy: input.proxy });
  const type = input.type ?? 'CUSTOMER_ACTIVATED';
  const conn = await makeConnection(gw.app, org.orgId, { stableKey: key, name: key, connectorId: connector.id, type, ...extra });
  if (Object.keys(values).length) {
    await putValue(gw.app, conn.id, type === 'ORG_ACTIVATED_GLOBAL' ? { kind: 'GLOBAL' } : { kind: 'CUSTOMER', customerId: org.customers[0]!.id }, values);
  }
  return { key, connectorId: connector.id, connectionId: conn.id };
}

const runtime = () => org.customers[0]!.runtimeToken;

function call(path: string, key: string, init: { method?: string; token?: string; headers?: Record<string, string>; body?: unknown; raw?: string } = {}) {
  return http(`${gw.url}/proxy${path}`, {
    method: init.method ?? 'GET',
    token: init.token ?? runtime(),
    headers: { 'provider-config-key': key, 'connection-id': 'acme', ...init.headers },
    ...(init.body !== undefined ? { body: init.body } : {}),
    ...(init.raw !== undefined ? { raw: init.raw } : {}),
  });
}

/** A GET whose request target is sent exactly as written. */
function rawGet(target: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${gw.url}${target}`, { headers }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('credential injection, per auth type', () => {
  it('SECRET_TEXT: Authorization: Bearer <secret> by default; the caller’s own Authorization never goes on', async () => {
    const token = secret('st');
    const s = await connection({ authType: 'SECRET_TEXT', proxy: { baseUrl: `${upstream.url}/v1` } }, { secret_text: token });
    upstream.reset();
    const r = await call('/items?page=2&q=a%20b', s.key);
    expect(r.status, r.body).toBe(200);
    expect(r.json()).toEqual({ ok: true, method: 'GET', path: '/v1/items' });
    const got = upstream.received[0]!;
    expect(got.headers.authorization).toBe(`Bearer ${token}`);
    expect(got.url).toBe('/v1/items?page=2&q=a%20b');
    // The gateway's own credential and Nango's control headers stay at the gateway.
    for (const h of ['provider-config-key', 'connection-id', 'retries', 'base-url-override']) expect(got.headers[h]).toBeUndefined();
    expect(JSON.stringify(got.headers)).not.toContain(runtime());
    // Any method goes as it came: HEAD, OPTIONS, DELETE, a WebDAV one.
    for (const method of ['HEAD', 'OPTIONS', 'DELETE', 'PROPFIND']) {
      upstream.reset();
      const r2 = await call('/items/1', s.key, { method });
      expect(r2.status, method).toBe(200);
      expect(upstream.received.map((x) => [x.method, x.path])).toEqual([[method, '/v1/items/1']]);
    }
  });

  it('BASIC_AUTH: Authorization: Basic from username and password', async () => {
    const password = secret('pw');
    const s = await connection({ authType: 'BASIC_AUTH', proxy: { baseUrl: upstream.url } }, { username: 'ann', password });
    upstream.reset();
    expect((await call('/me', s.key)).status).toBe(200);
    expect(upstream.received[0]!.headers.authorization).toBe(`Basic ${Buffer.from(`ann:${password}`).toString('base64')}`);
  });

  it('CUSTOM_AUTH: header and query templates over fields and secrets; the base URL from non-secret fields; the caller cannot override them', async () => {
    const apiKey = secret('ck');
    const s = await connection(
      {
        authType: 'CUSTOM_AUTH',
        fields: [
          { key: 'tenant', label: 'Tenant', type: 'STRING', required: true },
          { key: 'apiKey', label: 'API key', type: 'STRING', required: true, secret: true },
        ],
        proxy: { baseUrl: `${upstream.url}/t/{{tenant}}/api`, inject: { headers: { 'X-Api-Key': '{{apiKey}}', 'X-Tenant': '{{tenant}}' }, query: { key: '{{apiKey}}' } } },
      },
      { tenant: 'acme/../x', apiKey },
    );
    upstream.reset();
    const r = await call('/orders?key=mine&limit=5', s.key, { headers: { 'Nango-Proxy-X-Api-Key': 'forged', 'x-api-key': 'forged-too' } });
    expect(r.status, r.body).toBe(200);
    const got = upstream.received[0]!;
    // A field value is one opaque piece of the path: it cannot climb out of its place.
    expect(got.path).toBe('/t/acme%2F..%2Fx/api/orders');
    expect(got.headers['x-api-key']).toBe(apiKey);
    expect(got.headers['x-tenant']).toBe('acme/../x');
    expect(got.query.getAll('key')).toEqual([apiKey]);
    expect(got.query.get('limit')).toBe('5');
  });

  it('NO_AUTH: nothing added; Nango-Proxy-* headers go as themselves, plain headers pass; the method, body and answer pass unchanged', async () => {
    const s = await connection({ authType: 'NO_AUTH', proxy: { baseUrl: upstream.url } }, {});
    // NO_AUTH connections have a value with no fields.
    await putValue(gw.app, s.connectionId, { kind: 'CUSTOMER', customerId: org.customers[0]!.id }, {});
    upstream.reset((req, res) =>
      json(res, 201, { created: JSON.parse(req.body.toString()) }, { 'set-cookie': 'session=upstream', 'x-request-cost': '3', connection: 'keep-alive, x-hop', 'x-hop': '1' }),
    );
    const r = await call('/things', s.key, { method: 'POST', body: { name: 'widget' }, headers: { 'Nango-Proxy-Notion-Version': '2022-06-28', 'x-plain': 'yes', 'Nango-Is-Sync': 'false', cookie: 'gateway=own', 'Nango-Proxy-Cookie': 'api=1' } });
    expect(r.status).toBe(201);
    expect(r.json()).toEqual({ created: { name: 'widget' } });
    expect(r.headers.get('x-request-cost')).toBe('3');
    expect(r.headers.get('set-cookie')).toBeNull();
    expect(r.headers.get('x-hop')).toBeNull();
    const got = upstream.received[0]!;
    expect(got.method).toBe('POST');
    expect(got.headers['notion-version']).toBe('2022-06-28');
    expect(got.headers['x-plain']).toBe('yes');
    expect(got.headers['nango-is-sync']).toBeUndefined();
    // The caller's own cookies stay at the gateway; ones meant for the API go by Nango-Proxy-Cookie.
    expect(got.headers.cookie).toBe('api=1');
    expect(got.headers.authorization).toBeUndefined();
    expect(got.headers['content-type']).toBe('application/json');
  });

  it('an unmodified @nangohq/node proxy() call works, with a runtime token and with an API key naming the customer', async () => {
    const token = secret('nango');
    const s = await connection({ authType: 'SECRET_TEXT', proxy: { baseUrl: `${upstream.url}/api` } }, { secret_text: token });
    upstream.reset((req, res) => json(res, 200, { path: req.path, got: JSON.parse(req.body.toString() || 'null'), custom: req.headers['x-custom'] ?? null }));
    const nango = new Nango({ secretKey: runtime(), host: gw.url });
    const res = await nango.proxy({ method: 'POST', endpoint: '/contacts', providerConfigKey: s.key, connectionId: 'acme', data: { email: 'a@b.example' }, headers: { 'X-Custom': 'c1' }, retries: 2 });
    expect(res.status).toBe(200);
    expect(res.data).toEqual({ path: '/api/contacts', got: { email: 'a@b.example' }, custom: 'c1' });
    expect(upstream.received[0]!.headers.authorization).toBe(`Bearer ${token}`);
    const viaKey = new Nango({ secretKey: org.apiKey, host: gw.url });
    const got = await viaKey.get({ endpoint: '/contacts/1', providerConfigKey: s.key, connectionId: 'acme' });
    expect(got.data).toMatchObject({ path: '/api/contacts/1' });
    // Another customer's id with a key: that customer has no value.
    await expect(viaKey.get({ endpoint: '/x', providerConfigKey: s.key, connectionId: 'globex' })).rejects.toMatchObject({ response: { status: 404 } });
  });
});

describe('who may call', () => {
  let s: Setup;
  beforeAll(async () => {
    s = await connection({ authType: 'SECRET_TEXT', proxy: { baseUrl: upstream.url } }, { secret_text: secret('who') });
  });

  it('a runtime token naming another customer, an unknown connection, another org: as if nothing existed', async () => {
    upstream.reset();
    for (const [path, key, headers, token] of [
      ['/x', s.key, { 'connection-id': 'globex' }, runtime()],
      ['/x', 'no-such-connection', {}, runtime()],
      ['/x', s.key, {}, other.customers[0]!.runtimeToken],
      ['/x', s.key, {}, other.apiKey],
    ] as const) {
      const r = await call(path, key, { headers, token });
      expect(r.status, `${key} ${JSON.stringify(headers)}`).toBe(404);
      expect(r.json()).toMatchObject({ error: { code: 'NOT_FOUND' } });
      expect(r.headers.get('proxy-status')).toMatch(/^connections-gateway; error=proxy_internal_response/);
    }
    expect(upstream.received).toEqual([]);
  });

  it('an API key must name the customer, and be allowed to write credentials (a read-only key or one without credential writes is refused)', async () => {
    const noId = await http(`${gw.url}/proxy/x`, { token: org.apiKey, headers: { 'provider-config-key': s.key } });
    expect(noId.status).toBe(400);
    expect(noId.json()).toMatchObject({ error: { code: 'VALIDATION_FAILED', problems: [{ path: 'headers.Connection-Id' }] } });
    for (const limits of [{ readOnly: true }, { noCredentialWrites: true }]) {
      const key = await makeApiKey(gw.app, org.orgId, limits);
      expect((await call('/x', s.key, { token: key.secret })).status).toBe(403);
    }
    expect((await call('/x', s.key, { token: org.adminToken })).status).toBe(200);
    expect((await call('/x', s.key, { token: org.customers[0]!.userToken })).status).toBe(403);
    expect((await http(`${gw.url}/proxy/x`, { headers: { 'provider-config-key': s.key } })).status).toBe(401);
    expect((await call('/x', '')).json()).toMatchObject({ error: { problems: [{ path: 'headers.Provider-Config-Key' }] } });
  });

  it('a connector without proxy settings answers a typed 409', async () => {
    const bare = await makeConnector(gw.app, org.orgId, { key: 'bare', name: 'Bare', authType: 'SECRET_TEXT' });
    const conn = await makeConnection(gw.app, org.orgId, { stableKey: 'bare', name: 'Bare', connectorId: bare.id, type: 'CUSTOMER_ACTIVATED' });
    await putValue(gw.app, conn.id, { kind: 'CUSTOMER', customerId: org.customers[0]!.id }, { secret_text: secret('bare') });
    const r = await call('/x', 'bare');
    expect(r.status).toBe(409);
    expect(r.json()).toMatchObject({ error: { code: 'CONFLICT', message: expect.stringContaining('no proxy settings') } });
  });
});

describe('proxy-only credentials', () => {
  it('a proxy-only connection: resolveConnection and /runtime/v1/connection answer PROXY_ONLY; the proxy works', async () => {
    const token = secret('po');
    const s = await connection({ authType: 'SECRET_TEXT', proxy: { baseUrl: upstream.url } }, { secret_text: token }, { proxyOnly: true });
    const g = await gql(gw.url, Resolve, { key: s.key }, runtime(), { resolution: true });
    expect(g.data?.resolveConnection).toMatchObject({ __typename: 'ResolutionProxyOnly', code: 'PROXY_ONLY', stableKey: s.key });
    const rest = await http(`${gw.url}/runtime/v1/connection?stableKey=${s.key}`, { token: runtime() });
    expect(rest.status).toBe(403);
    expect(rest.json()).toMatchObject({ status: 'PROXY_ONLY', stableKey: s.key });
    expect(rest.body).not.toContain(token);
    upstream.reset();
    expect((await call('/ok', s.key)).status).toBe(200);
    expect(upstream.received[0]!.headers.authorization).toBe(`Bearer ${token}`);
  });

  it('a proxy-only runtime token: both resolution paths refuse it for any connection; the proxy takes it', async () => {
    const token = secret('pot');
    const s = await connection({ authType: 'SECRET_TEXT', proxy: { baseUrl: upstream.url } }, { secret_text: token });
    const issued = await gql(gw.url, IssueToken, { customerId: gid('Customer', org.customers[0]!.id), proxyOnly: true }, org.adminToken);
    const proxyOnly = (issued.data?.issueRuntimeToken as { data: { token: string } }).data.token;
    const g = await gql(gw.url, Resolve, { key: s.key }, proxyOnly, { resolution: true });
    expect(g.data?.resolveConnection).toMatchObject({ __typename: 'ResolutionProxyOnly', code: 'PROXY_ONLY' });
    const rest = await http(`${gw.url}/runtime/v1/connection?stableKey=${s.key}`, { token: proxyOnly });
    expect(rest.status).toBe(403);
    expect(rest.json()).toMatchObject({ status: 'PROXY_ONLY' });
    // The same connection resolves for an ordinary token of the same customer.
    const plain = await gql(gw.url, Resolve, { key: s.key }, runtime(), { resolution: true });
    expect(plain.data?.resolveConnection.__typename).toBe('ResolvedCredential');
    upstream.reset();
    expect((await call('/ok', s.key, { token: proxyOnly })).status).toBe(200);
    const audit = await gw.db.prisma.auditEvent.findMany({ where: { orgId: org.orgId, action: 'connection.resolve', targetId: s.connectionId } });
    // Refusals of one token on one connection share a row per minute.
    expect(audit.map((a) => [(a.detail as { outcome: string }).outcome, a.count]).sort()).toEqual([['PROXY_ONLY', 2], ['RESOLVED', 1]]);
  });
});

describe('safety', () => {
  const urlField = [
    { key: 'baseUrl', label: 'Base URL', type: 'URL', required: true },
    { key: 'apiKey', label: 'API key', type: 'STRING', required: true, secret: true },
  ];

  it('a base URL that customer field values point at a loopback, private or metadata address is refused before anything is sent', async () => {
    for (const target of ['http://169.254.169.254/latest/meta-data', 'http://127.0.0.2:9/', 'http://[::1]:9/', 'http://10.0.0.1/', 'http://192.168.1.1/', 'http://[::ffff:169.254.169.254]/', 'http://0.0.0.0:9/']) {
      const apiKey = secret('ssrf');
      const s = await connection({ authType: 'CUSTOM_AUTH', fields: urlField, proxy: { baseUrl: '{{baseUrl}}', inject: { headers: { 'X-Key': '{{apiKey}}' } } } }, { baseUrl: target, apiKey });
      const r = await call('/x', s.key);
      expect(r.status, target).toBe(403);
      expect(r.json()).toMatchObject({ error: { code: 'DESTINATION_NOT_ALLOWED' } });
      expect(r.headers.get('proxy-status')).toContain('error=destination_ip_prohibited');
    }
  });

  it('a field value cannot move the host of a templated base URL', async () => {
    upstream.reset();
    for (const sub of ['evil.example/', 'evil.example#', 'x@evil.example', 'evil.example:80', 'evil.example?']) {
      const s = await connection(
        { authType: 'CUSTOM_AUTH', fields: [{ key: 'sub', label: 'Sub', type: 'STRING', required: true }, { key: 'apiKey', label: 'Key', type: 'STRING', required: true, secret: true }], proxy: { baseUrl: 'https://{{sub}}.api.example/v1', inject: { headers: { 'X-Key': '{{apiKey}}' } } } },
        { sub, apiKey: secret('host') },
      );
      const r = await call('/x', s.key);
      expect(r.status, sub).toBe(409);
      expect(r.json()).toMatchObject({ error: { code: 'CREDENTIAL_ERROR' } });
    }
  });

  it('a path cannot climb out of the base URL; Base-Url-Override only to the own origin unless the org allows it', async () => {
    const s = await connection({ authType: 'SECRET_TEXT', proxy: { baseUrl: `${upstream.url}/api/v2` } }, { secret_text: secret('path') });
    upstream.reset();
    // Sent as written (fetch would resolve the dots itself): dot segments resolve inside the base path, or lead nowhere.
    const inside = await rawGet(`/proxy/a/%2e%2e/b`, { authorization: `Bearer ${runtime()}`, 'provider-config-key': s.key });
    expect(JSON.parse(inside.body)).toMatchObject({ path: '/api/v2/b' });
    for (const target of ['/proxy/%2e%2e/%2e%2e/admin', '/proxy/a/%2e%2e/%2e%2e/%2e%2e/admin', '/proxy/a/%2E%2e/../%2e./admin']) {
      const climb = await rawGet(target, { authorization: `Bearer ${runtime()}`, 'provider-config-key': s.key });
      expect(climb.status, target).toBeGreaterThanOrEqual(400);
    }
    expect(upstream.received.map((r) => r.path)).toEqual(['/api/v2/b']);
    expect((await call('/x', s.key, { headers: { 'base-url-override': `${upstream.url}/api/v3` } })).json()).toMatchObject({ path: '/api/v3/x' });
    const away = await call('/x', s.key, { headers: { 'base-url-override': elsewhere.url } });
    expect(away.status).toBe(403);
    expect(away.json()).toMatchObject({ error: { code: 'FORBIDDEN', message: expect.stringContaining('allowProxyBaseUrlOverride') } });
    expect(elsewhere.received).toEqual([]);
    await gw.db.prisma.organization.update({ where: { id: org.orgId }, data: { allowProxyBaseUrlOverride: true } });
    try {
      elsewhere.reset();
      expect((await call('/x', s.key, { headers: { 'base-url-override': elsewhere.url } })).status).toBe(200);
      expect(elsewhere.received).toHaveLength(1);
    } finally {
      await gw.db.prisma.organization.update({ where: { id: org.orgId }, data: { allowProxyBaseUrlOverride: false } });
    }
  });

  it('redirects: followed with the credential on its own origin, without it (or the caller’s headers of authority) to another', async () => {
    const token = secret('redir');
    const s = await connection({ authType: 'SECRET_TEXT', proxy: { baseUrl: upstream.url, inject: { headers: { Authorization: 'Bearer {{secret_text}}' }, query: { k: '{{secret_text}}' } } } }, { secret_text: token });
    upstream.reset((req, res) => {
      if (req.path === '/start') return json(res, 302, {}, { location: '/moved?x=1' });
      if (req.path === '/moved') return json(res, 302, {}, { location: `${elsewhere.url}/file?k=${encodeURIComponent(token)}&sig=abc` });
      json(res, 200, {});
    });
    elsewhere.reset((req, res) => json(res, 200, { downloaded: true }));
    const r = await call('/start', s.key, { headers: { 'Nango-Proxy-Authorization': 'Bearer caller-own' } });
    expect(r.status).toBe(200);
    expect(r.json()).toEqual({ downloaded: true });
    expect(upstream.received.map((x) => [x.path, x.headers.authorization, x.query.get('k')])).toEqual([
      ['/start', `Bearer ${token}`, token],
      ['/moved', `Bearer ${token}`, token],
    ]);
    const away = elsewhere.received[0]!;
    expect(away.headers.authorization).toBeUndefined();
    expect(away.query.get('k')).toBeNull();
    expect(away.query.get('sig')).toBe('abc');
    expect(JSON.stringify(away)).not.toContain(token);
  });

  it('time limits and size caps: a silent API is a 504; a declared answer over the cap a 502; a body over the cap a 413', async () => {
    const s = await connection({ authType: 'SECRET_TEXT', proxy: { baseUrl: upstream.url } }, { secret_text: secret('caps') });
    upstream.reset(() => new Promise(() => {}));
    const slow = await call('/slow', s.key);
    expect(slow.status).toBe(504);
    expect(slow.json()).toMatchObject({ error: { code: 'UPSTREAM_TIMEOUT', retryable: true } });
    upstream.reset((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(100_000) });
      res.end(Buffer.alloc(100_000));
    });
    const big = await call('/big', s.key);
    expect(big.status).toBe(502);
    expect(big.json()).toMatchObject({ error: { code: 'UPSTREAM_FAILED', message: expect.stringContaining('PROXY_MAX_RESPONSE_BYTES') } });
    // Chunked, no declared length: the transfer is cut at the cap.
    upstream.reset((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      for (let i = 0; i < 10; i++) res.write(Buffer.alloc(10_000));
      res.end();
    });
    await expect(fetch(`${gw.url}/proxy/chunked`, { headers: { authorization: `Bearer ${runtime()}`, 'provider-config-key': s.key } }).then((r) => r.arrayBuffer())).rejects.toThrow();
    // Larger than MAX_BODY_BYTES (1 MiB), within the proxy's own cap: sent on whole, streamed.
    upstream.reset((req, res) => json(res, 200, { received: req.body.length }));
    const upload = await call('/upload', s.key, { method: 'PUT', raw: 'y'.repeat(1_500_000) });
    expect(upload.json()).toEqual({ received: 1_500_000 });
    upstream.reset();
    const tooBig = await call('/upload', s.key, { method: 'POST', raw: 'x'.repeat(2_100_000) });
    expect(tooBig.status).toBe(413);
    // Refused at the edge on its declared length, in the proxy's own error shape like every refusal of the proxy.
    expect(tooBig.json()).toMatchObject({ error: { code: 'PAYLOAD_TOO_LARGE' } });
    expect(tooBig.headers.get('proxy-status')).toMatch(/^connections-gateway; error=/);
    // A streamed (chunked) upload over the cap: refused as it passes the cap.
    const chunked = await fetch(`${gw.url}/proxy/upload`, {
      method: 'POST',
      headers: { authorization: `Bearer ${runtime()}`, 'provider-config-key': s.key },
      body: new ReadableStream({
        start(c) {
          for (let i = 0; i < 25; i++) c.enqueue(new Uint8Array(100_000));
          c.close();
        },
      }),
      duplex: 'half',
    } as RequestInit);
    expect(chunked.status).toBe(413);
    expect(await chunked.json()).toMatchObject({ error: { code: 'PAYLOAD_TOO_LARGE' } });
  });
});

describe('a browser, with CORS configured', () => {
  it("the API's answer carries the CORS headers for an allowed origin, none for another", async () => {
    const s = await connection({ authType: 'SECRET_TEXT', proxy: { baseUrl: upstream.url } }, { secret_text: secret('cors') });
    upstream.reset();
    const allowed = await call('/items', s.key, { headers: { origin: 'https://app.example' } });
    expect(allowed.status).toBe(200);
    expect(allowed.json()).toMatchObject({ ok: true, path: '/items' });
    expect(allowed.headers.get('access-control-allow-origin')).toBe('https://app.example');
    const other = await call('/items', s.key, { headers: { origin: 'https://evil.example' } });
    expect(other.status).toBe(200);
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
  });
});

describe('callers that go away', () => {
  it('a caller that hangs up mid-answer: the call ends, its slot comes back, the gateway serves on', async () => {
    const s = await connection({ authType: 'SECRET_TEXT', proxy: { baseUrl: upstream.url, rateLimit: { concurrency: 1, maxWaitMs: 0 } } }, { secret_text: secret('gone') });
    upstream.reset((req, res) => {
      if (req.path !== '/stream') return json(res, 200, { ok: true });
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      const timer = setInterval(() => res.write(Buffer.alloc(16_384)), 10);
      res.once('close', () => clearInterval(timer));
    });
    await new Promise<void>((resolve, reject) => {
      const req = request(`${gw.url}/proxy/stream`, { headers: { authorization: `Bearer ${runtime()}`, 'provider-config-key': s.key } }, (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', () => {});
      req.once('error', reject);
      req.end();
    });
    // Many callers leaving at every moment of their calls (as a load generator does when it stops).
    upstream.reset((_req, res) => json(res, 200, { ok: true, padding: 'x'.repeat(8_000) }));
    const free = await connection({ authType: 'SECRET_TEXT', proxy: { baseUrl: upstream.url } }, { secret_text: secret('gone2') });
    await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        new Promise<void>((resolve) => {
          const req = request(`${gw.url}/proxy/x`, { headers: { authorization: `Bearer ${runtime()}`, 'provider-config-key': free.key } }, (res) => {
            res.on('data', () => {});
            res.on('end', resolve);
            res.on('error', () => resolve());
          });
          req.on('error', () => resolve());
          req.on('close', () => resolve());
          req.end();
          setTimeout(() => req.destroy(), i % 10);
        }),
      ),
    );
    upstream.reset((req, res) => {
      if (req.path !== '/stream') return json(res, 200, { ok: true });
    });
    // The only slot is free again once the abandoned call ended.
    let status = 0;
    for (let i = 0; i < 50 && status !== 200; i++) {
      await new Promise((r) => setTimeout(r, 20));
      status = (await call('/ok', s.key)).status;
    }
    expect(status).toBe(200);
  });
});

describe('retries', () => {
  it('an idempotent call is retried on 502/503/504 with backoff (Retries, capped); a POST is not', async () => {
    const s = await connection({ authType: 'SECRET_TEXT', proxy: { baseUrl: upstream.url } }, { secret_text: secret('retry') });
    let failures = 2;
    upstream.reset((_req, res) => (failures-- > 0 ? json(res, 503, { busy: true }) : json(res, 200, { ok: true })));
    const r = await call('/flaky', s.key, { headers: { retries: '3' } });
    expect(r.status).toBe(200);
    expect(upstream.received).toHaveLength(3);
    const gap = upstream.received[1]!.at - upstream.received[0]!.at;
    expect(gap).toBeGreaterThanOrEqual(90);
    failures = 2;
    upstream.reset((_req, res) => (failures-- > 0 ? json(res, 503, { busy: true }) : json(res, 200, { ok: true })));
    const post = await call('/flaky', s.key, { method: 'POST', body: {}, headers: { retries: '3' } });
    expect(post.status).toBe(503);
    expect(upstream.received).toHaveLength(1);
    // Without Retries, no retry either.
    failures = 1;
    upstream.reset((_req, res) => (failures-- > 0 ? json(res, 502, {}) : json(res, 200, {})));
    expect((await call('/flaky', s.key)).status).toBe(502);
  });
});

describe('audit, metrics, and no credential anywhere', () => {
  it('calls are audited per caller × connection × outcome × minute; metrics by connector and outcome', async () => {
    const s = await connection({ authType: 'SECRET_TEXT', proxy: { baseUrl: upstream.url } }, { secret_text: secret('audit') });
    upstream.reset((req, res) => json(res, req.path === '/missing' ? 404 : 200, {}));
    for (let i = 0; i < 5; i++) await call('/ok', s.key);
    await call('/missing', s.key);
    await call('/missing', s.key);
    const rows = await gw.db.prisma.auditEvent.findMany({ where: { orgId: org.orgId, action: 'connection.proxy', targetId: s.connectionId }, orderBy: { id: 'asc' } });
    expect(rows.map((r) => [(r.detail as { outcome: string }).outcome, r.count])).toEqual([
      ['HTTP_2XX', 5],
      ['HTTP_4XX', 2],
    ]);
    expect(rows[0]).toMatchObject({ principalKind: 'RUNTIME', detail: { via: 'proxy', stableKey: s.key, customerId: org.customers[0]!.id } });
    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    expect(metrics).toMatch(new RegExp(`gateway_proxy_requests_total\\{connector="${s.key}",outcome="HTTP_2XX"\\} 5`));
    expect(metrics).toContain('gateway_proxy_upstream_duration_seconds_bucket');
  });

  it('no secret in any response, log line, metric or audit row', async () => {
    const audit = await gw.db.prisma.auditEvent.findMany({ where: { orgId: org.orgId } });
    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    expect(findLeaks(secrets, responseLog)).toEqual([]);
    expect(findLeaks(secrets, capturedLogs)).toEqual([]);
    expect(findLeaks(secrets, [JSON.stringify(audit, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v)), metrics])).toEqual([]);
  });
});

describe('settings', () => {
  const Create = graphql(`
    mutation ProxyCreateConnector($input: ConnectorInput!) {
      createConnector(input: $input) {
        __typename
        ... on MutationCreateConnectorSuccess { data { key proxy { baseUrl injectIsDefault inject { headers query basicUsername } rateLimit { requests intervalSeconds concurrency per maxWaitMs } } } }
        ... on ValidationError { problems { path message } }
      }
    }
  `);

  it('connector proxy settings are validated, read back with the default injection, and travel through the manifest', async () => {
    const bad = await gql(gw.url, Create, { input: { key: 'p-bad', name: 'Bad', authType: 'CUSTOM_AUTH', fields: [{ key: 'host', label: 'Host', type: 'STRING' }, { key: 'k', label: 'K', type: 'STRING', secret: true }], proxy: { baseUrl: 'https://{{k}}.example.com', inject: { headers: { Host: '{{nope}}' } } } } }, org.adminToken);
    expect(bad.data?.createConnector).toMatchObject({ __typename: 'ValidationError' });
    const paths = (bad.data?.createConnector as { problems: { path: string }[] }).problems.map((p) => p.path);
    expect(paths).toEqual(expect.arrayContaining(['input.proxy.baseUrl', 'input.proxy.inject.headers.Host']));
    const ok = await gql(gw.url, Create, { input: { key: 'p-ok', name: 'Ok', authType: 'OAUTH2', oauth2: { tokenUrl: 'https://idp.example/token', authorizeUrl: 'https://idp.example/auth', clientId: 'c' }, proxy: { baseUrl: 'https://api.example.com/v1', rateLimit: { requests: 10, intervalSeconds: 60, concurrency: 2 } } } }, org.adminToken);
    expect(ok.data?.createConnector).toMatchObject({
      data: { proxy: { baseUrl: 'https://api.example.com/v1', injectIsDefault: true, inject: { headers: { Authorization: 'Bearer {{accessToken}}' } }, rateLimit: { requests: 10, intervalSeconds: 60, concurrency: 2, per: 'VALUE', maxWaitMs: null } } },
    });
    const exported = await http(`${gw.url}/graphql`, { method: 'POST', token: org.adminToken, body: { query: '{ exportManifest }' } });
    const manifest = (exported.json() as { data: { exportManifest: { connectors: { key: string; proxy: unknown }[] } } }).data.exportManifest;
    expect(manifest.connectors.find((c) => c.key === 'p-ok')?.proxy).toMatchObject({ baseUrl: 'https://api.example.com/v1', rateLimit: { requests: 10 } });
    // Importing it back changes nothing; a changed rate limit and a proxy-only connection are planned and applied.
    const Import = 'mutation($m: JSON!) { importManifest(manifest: $m, dryRun: false) { ... on MutationImportManifestSuccess { data { applied items { kind key action changes } } } } }';
    const imported = (m: unknown) => http(`${gw.url}/graphql`, { method: 'POST', token: org.adminToken, body: { query: Import, variables: { m } } }).then((r) => (r.json() as { data: { importManifest: { data: { applied: boolean; items: { key: string; action: string; changes: string[] }[] } } } }).data.importManifest.data);
    expect((await imported(manifest)).applied).toBe(false);
    const changed = structuredClone(manifest) as typeof manifest & { connections: { stableKey: string; proxyOnly: boolean }[] };
    (changed.connectors.find((c) => c.key === 'p-ok')!.proxy as { rateLimit: { requests: number } }).rateLimit.requests = 20;
    changed.connections[0]!.proxyOnly = true;
    const plan = await imported(changed);
    expect(plan.applied).toBe(true);
    expect(plan.items.filter((i) => i.action === 'UPDATE')).toEqual(
      expect.arrayContaining([expect.objectContaining({ key: 'p-ok', changes: ['proxy'] }), expect.objectContaining({ key: changed.connections[0]!.stableKey, changes: ['proxyOnly'] })]),
    );
    const connector = await gw.db.prisma.connector.findFirstOrThrow({ where: { orgId: org.orgId, key: 'p-ok' } });
    expect(connector.proxy).toMatchObject({ rateLimit: { requests: 20 } });
    expect((await gw.db.prisma.connection.findFirstOrThrow({ where: { orgId: org.orgId, stableKey: changed.connections[0]!.stableKey } })).proxyOnly).toBe(true);
  });

  it('a customer user who moves the proxy’s host must enter the kept secrets again', async () => {
    const s = await connection({ authType: 'CUSTOM_AUTH', fields: [{ key: 'baseUrl', label: 'Base URL', type: 'URL', required: true }, { key: 'apiKey', label: 'Key', type: 'STRING', required: true, secret: true }], proxy: { baseUrl: '{{baseUrl}}', inject: { headers: { 'X-Key': '{{apiKey}}' } } } }, { baseUrl: upstream.url, apiKey: secret('move') });
    const SetMine = graphql(`
      mutation ProxySetMine($connectionId: ID!, $values: JSON!) {
        setMyConnectionValue(connectionId: $connectionId, values: $values) { __typename ... on ValidationError { problems { path message } } }
      }
    `);
    const r = await gql(gw.url, SetMine, { connectionId: gid('Connection', s.connectionId), values: { baseUrl: 'https://collector.example' } }, org.customers[0]!.userToken);
    expect(r.data?.setMyConnectionValue).toMatchObject({ __typename: 'ValidationError', problems: [{ path: 'values.apiKey', message: expect.stringContaining('the proxy now goes to another host') }] });
    expect((await valueOf(gw.app, s.connectionId, org.customers[0]!.id)).fields).toMatchObject({ baseUrl: upstream.url });
  });
});
