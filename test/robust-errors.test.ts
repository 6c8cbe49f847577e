import { describe, expect, it } from 'vitest';
import type { SeededOrg } from '../src/seed/demo.js';
import { gid, http, rawPost } from './helpers/client.js';
import type { TestGateway } from './helpers/gateway.js';
import { useWorld } from './helpers/world.js';

/**
 * Issue 12, "client mistakes are reported as server errors": every mistake
 * is a typed 400 / BAD_USER_INPUT naming where it is, keeps `path` and
 * `locations`, carries no stack or source path, and is logged below error.
 */
let gw: TestGateway;
let org: SeededOrg;
let other: SeededOrg;

useWorld({ env: { LOG_LEVEL: 'debug' }, orgs: { org: { customers: ['acme-corp', 'globex'] }, other: { customers: ['initech'] } } }, (w) => ({ gw, org, other } = w));

type Body = { data?: unknown; errors?: { message: string; path?: unknown[]; locations?: unknown[]; extensions?: { code?: string } }[] };

async function post(query: string, variables?: unknown, token: string | null = org.adminToken) {
  const before = gw.logs.length;
  const r = await rawPost(gw.url, JSON.stringify({ query, variables }), token ? { authorization: `Bearer ${token}` } : {});
  const logs = gw.logs.slice(before).map((l) => JSON.parse(l) as { level: number; msg: string });
  return { status: r.status, raw: r.body, body: JSON.parse(r.body) as Body, logs };
}

const ERROR = 50;

function expectNoServerTrace(raw: string, logs: { level: number }[]) {
  expect(raw).not.toMatch(/INTERNAL_SERVER_ERROR|Unexpected error|\/work\/|node_modules|\.ts:\d|\bat \w+ \(/);
  expect(logs.filter((l) => l.level >= ERROR)).toEqual([]);
}

describe('GraphQL: request errors (nothing ran) are 400 BAD_USER_INPUT', () => {
  it.each([
    ['a variable of the wrong type', 'query($n: Int) { customers(first: $n) { edges { node { id } } } }', { n: 'abc' }, '$n'],
    ['an unknown enum value in a variable', 'query($s: ValueStatus) { connectionValues(status: $s) { edges { node { id } } } }', { s: 'NOPE' }, '$s'],
    ['a NUL byte in a variable', 'query($e: String!) { customerByExternalId(externalId: $e) { id } }', { e: 'a\u0000b' }, '$e'],
    ['a NUL byte deep in an input variable', 'mutation($i: CustomerInput!) { createCustomer(input: $i) { __typename } }', { i: { externalId: 'x', name: 'n\u0000' } }, '$i.name'],
  ])('%s', async (_what, query, variables, named) => {
    const r = await post(query, variables);
    expect(r.status).toBe(400);
    expect(r.body.data).toBeUndefined();
    expect(r.body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(r.body.errors?.[0]?.message).toContain(named);
    expect(r.body.errors?.[0]?.locations ?? (r.body.errors?.[0]?.message.includes('NUL') ? [] : undefined)).toBeDefined();
    expectNoServerTrace(r.raw, r.logs);
  });

  it('a NUL byte in a string literal names its location', async () => {
    const r = await post('{ customerByExternalId(externalId: "a\\u0000b") { id } }');
    expect(r.status).toBe(400);
    expect(r.body.errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT' }, locations: [{ line: 1, column: 36 }] });
    expectNoServerTrace(r.raw, r.logs);
  });
});

describe('GraphQL: argument mistakes are BAD_USER_INPUT at their path', () => {
  it.each([
    ['a garbage cursor', '{ customers(after: "garbage") { edges { node { id } } } }'],
    ['a cursor of the right shape around a non-id', `{ customers(after: "${Buffer.from('GPC:S:not-a-uuid').toString('base64')}") { edges { node { id } } } }`],
    ['first: -1', '{ customers(first: -1) { edges { node { id } } } }'],
  ])('%s', async (_what, query) => {
    const r = await post(query);
    expect(r.body.errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT' }, path: ['customers'], locations: [{ line: 1, column: 3 }] });
    expectNoServerTrace(r.raw, r.logs);
  });
});

describe('GraphQL: ids that do not decode, or name another type, read as not found', () => {
  it('node(id:) of garbage, of a non-node type and of another org is null', async () => {
    for (const id of ['garbage!!', gid('Nothing', '6c1b1f0e-8f0f-4a4a-9c1b-1f0e8f0f4a4a'), gid('Customer', other.customers[0]!.id), gid('Customer', 'not-a-uuid')]) {
      const r = await post('query($id: ID!) { node(id: $id) { id } }', { id });
      expect(r.body).toEqual({ data: { node: null } });
      expectNoServerTrace(r.raw, r.logs);
    }
  });

  it('nodes(ids:) answers null for what it may not see, the rest as usual', async () => {
    const mine = gid('Customer', org.customers[0]!.id);
    const r = await post('query($ids: [ID!]!) { nodes(ids: $ids) { id } }', {
      ids: ['garbage!!', mine, gid('Customer', other.customers[0]!.id), gid('Nothing', org.customers[0]!.id)],
    });
    expect(r.body).toEqual({ data: { nodes: [null, { id: mine }, null, null] } });
    expectNoServerTrace(r.raw, r.logs);
  });

  it('customer(id:) with a malformed id is null, not an error', async () => {
    const r = await post('{ customer(id: "garbage!!") { id } }');
    expect(r.body).toEqual({ data: { customer: null } });
  });
});

describe('refusals keep their code and path and are not logged as errors', () => {
  it('UNAUTHENTICATED: 401 with path, logged at info', async () => {
    const r = await post('{ customers { edges { node { id } } } }', undefined, null);
    expect(r.status).toBe(401);
    expect(r.body.errors?.[0]).toMatchObject({ extensions: { code: 'UNAUTHENTICATED' }, path: ['customers'], locations: [{ line: 1, column: 3 }] });
    expect(r.logs.filter((l) => l.level >= ERROR)).toEqual([]);
    expect(r.logs.some((l) => l.level === 30)).toBe(true);
  });

  it('FORBIDDEN: a customer user asking for the org’s customers', async () => {
    const r = await post('{ apiKeys(includeRevoked: false) { id } }', undefined, org.customers[0]!.userToken);
    expect(r.body.errors?.[0]).toMatchObject({ extensions: { code: 'FORBIDDEN' }, path: ['apiKeys'] });
    expect(r.logs.filter((l) => l.level >= ERROR)).toEqual([]);
  });
});

describe('the proxy: NUL bytes and bad percent-escapes are typed 400 problems in its own error shape', () => {
  it.each([
    ['/proxy/v1/items?q=%ZZ', 'query.q'],
    ['/proxy/v1/a%00b', 'path'],
  ])('GET %s', async (path, field) => {
    const r = await http(gw.url + path, { token: org.apiKey });
    expect(r.status).toBe(400);
    expect(r.json()).toMatchObject({ error: { code: 'VALIDATION_FAILED', problems: [{ path: field }] } });
    expect(r.headers.get('proxy-status')).toMatch(/^connections-gateway; error=/);
  });
});

describe('REST: NUL bytes and bad percent-escapes are typed 400 problems', () => {
  it.each([
    ['/api/v1/projects?externalId=a%00b', 'query.externalId'],
    ['/api/v1/projects?externalId=%ZZ', 'query.externalId'],
    ['/api/v1/projects?externalId=%E0%A4%A', 'query.externalId'],
    ['/api/v1/projects/%E0%A4', 'path'],
    ['/api/v1/projects/a%00b', 'path'],
    ['/runtime/v1/connection?stableKey=%', 'query.stableKey'],
  ])('GET %s', async (path, field) => {
    const r = await http(gw.url + path, { token: org.apiKey });
    expect(r.status).toBe(400);
    expect(r.json()).toMatchObject({ statusCode: 400, code: 'VALIDATION_FAILED', problems: [{ path: field }] });
  });

  it('a NUL byte in a JSON body names its field and stores nothing', async () => {
    const r = await http(`${gw.url}/api/v1/projects`, { method: 'POST', token: org.apiKey, raw: JSON.stringify({ displayName: 'x\u0000y', externalId: 'nul-project' }) });
    expect(r.status).toBe(400);
    expect(r.json()).toMatchObject({ code: 'VALIDATION_FAILED', problems: [{ path: 'body.displayName' }] });
    const list = await http(`${gw.url}/api/v1/projects?externalId=nul-project`, { token: org.apiKey });
    expect(list.json()).toMatchObject({ data: [] });
  });
});

/**
 * Issue 20: a request that is not a GraphQL-over-HTTP request (a body that is
 * not JSON, no or another Content-Type, no `query`) is a 400 naming what is
 * wrong, whichever response media type the client accepts (the spec's
 * recommendation for both); a credential without its `Bearer ` prefix is a
 * 401 that says so, on every surface, without repeating the credential.
 */
describe('GraphQL over HTTP: a malformed request is a 400 that names the problem', () => {
  const query = JSON.stringify({ query: '{ viewer { kind } }' });
  const cases: [string, Record<string, string>, string | Uint8Array<ArrayBuffer>, RegExp][] = [
    ['a body that is not JSON', { 'content-type': 'application/json' }, '{"query": "{ viewer { kind } }"', /not valid JSON/],
    ['a JSON body that is not an object', { 'content-type': 'application/json' }, '"{ viewer { kind } }"', /JSON object/],
    ['no Content-Type', {}, new TextEncoder().encode(query), /Content-Type/],
    ['a form body (what `curl -d` sends without -H)', { 'content-type': 'application/x-www-form-urlencoded' }, query, /Content-Type: application\/json/],
    ['text/plain', { 'content-type': 'text/plain' }, query, /Content-Type: application\/json/],
    ['no query', { 'content-type': 'application/json' }, JSON.stringify({ variables: {} }), /"query"/],
    ['an empty body', { 'content-type': 'application/json' }, '', /empty/],
    ['variables that are not an object', { 'content-type': 'application/json' }, JSON.stringify({ query: '{ viewer { kind } }', variables: [7] }), /"variables"/],
  ];
  for (const accept of ['application/graphql-response+json', 'application/json']) {
    it.each(cases)(`%s (Accept: ${accept})`, async (_what, headers, body, names) => {
      const res = await fetch(`${gw.url}/graphql`, { method: 'POST', headers: { accept, authorization: `Bearer ${org.adminToken}`, ...headers }, body });
      const text = await res.text();
      expect(res.status, text).toBe(400);
      const parsed = JSON.parse(text) as Body;
      expect(parsed.data).toBeUndefined();
      expect(parsed.errors?.[0]?.message).toMatch(names);
      expect(parsed.errors?.[0]?.extensions?.code).toBe('BAD_REQUEST');
    });
  }

  it('a well-formed request with Content-Type application/json still runs, under either media type', async () => {
    for (const accept of ['application/graphql-response+json', 'application/json']) {
      const res = await fetch(`${gw.url}/graphql`, { method: 'POST', headers: { accept, 'content-type': 'application/json; charset=utf-8', authorization: `Bearer ${org.adminToken}` }, body: query });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ data: { viewer: { kind: 'ORG_USER' } } });
    }
  });
});

describe('a credential without the `Bearer ` prefix: 401 saying so, on every surface', () => {
  const refusal = (text: string, credential: string) => {
    expect(text).toMatch(/Bearer /);
    expect(text).toMatch(/prefix|scheme/);
    expect(text).not.toContain(credential);
  };

  it('GraphQL', async () => {
    for (const header of [org.adminToken, `Token ${org.adminToken}`, 'Bearer']) {
      const res = await fetch(`${gw.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: header }, body: JSON.stringify({ query: '{ viewer { kind } }' }) });
      const text = await res.text();
      expect(res.status, header.slice(0, 12)).toBe(401);
      expect((JSON.parse(text) as Body).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
      refusal(text, org.adminToken);
    }
  });

  it('the REST API and the runtime path', async () => {
    const rest = await http(`${gw.url}/api/v1/projects`, { headers: { authorization: org.apiKey } });
    expect(rest.status).toBe(401);
    expect(rest.json()).toMatchObject({ code: 'UNAUTHENTICATED' });
    refusal(rest.body, org.apiKey);
    const runtime = await http(`${gw.url}/runtime/v1/connection?stableKey=x`, { headers: { authorization: `Basic ${org.customers[0]!.runtimeToken}` } });
    expect(runtime.status).toBe(401);
    refusal(runtime.body, org.customers[0]!.runtimeToken);
  });

  it('no Authorization header at all is still anonymous (public fields answer)', async () => {
    const res = await fetch(`${gw.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ __typename }' }) });
    expect(res.status).toBe(200);
  });
});
