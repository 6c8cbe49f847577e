import { request } from 'node:http';
import { describe, expect, it } from 'vitest';
import type { SeededOrg } from '../src/seed/demo.js';
import { gid, http, rawPost } from './helpers/client.js';
import type { TestGateway } from './helpers/gateway.js';
import { useWorld } from './helpers/world.js';

/**
 * Issue 12: bounded memory for documents (tokens before caching, caches in
 * bytes, body limits on every route, metadata and secret sizes) and
 * operation limits (aliases, tokens, directives, depth, `nodes` ids).
 */
let gw: TestGateway;
let org: SeededOrg;
const MB = 1_048_576;

useWorld({ env: { DOCUMENT_CACHE_BYTES: String(4 * MB) }, orgs: { org: { customers: ['acme-corp'] } } }, (w) => ({ gw, org } = w));

const post = async (query: string, variables?: unknown, token: string | null = org.adminToken) => {
  const r = await rawPost(gw.url, JSON.stringify({ query, variables }), token ? { authorization: `Bearer ${token}` } : {});
  return { status: r.status, body: JSON.parse(r.body) as { data?: unknown; errors?: { message: string; extensions?: { code?: string } }[] } };
};

/**
 * A POST of `size` bytes, chunked (no Content-Length) or declared, that
 * settles on the answer even when the gateway closes the connection before
 * the upload ends (fetch would fail instead).
 */
function bigPost(path: string, size: number, opts: { body?: string; declared?: boolean } = {}): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const headers = opts.declared ? { 'content-length': String(size) } : { 'transfer-encoding': 'chunked' };
    const req = request(`${gw.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json', authorization: `Bearer ${org.apiKey}`, ...headers } });
    req.on('response', (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', (err) => (err.message.includes('EPIPE') || err.message.includes('ECONNRESET') ? undefined : reject(err)));
    if (opts.body !== undefined) return void req.end(opts.body);
    const chunk = Buffer.alloc(64 * 1024, 'a');
    let sent = 0;
    const pump = () => {
      while (sent < size) {
        sent += chunk.length;
        if (!req.write(chunk)) return void req.once('drain', pump);
      }
      req.end();
    };
    pump();
  });
}

describe('body limits: a typed 413 on every route', () => {
  it('GraphQL, with a declared length', async () => {
    const r = await bigPost('/graphql', 2 * MB, { declared: true });
    expect(r.status).toBe(413);
    expect(JSON.parse(r.text)).toMatchObject({ errors: [{ extensions: { code: 'PAYLOAD_TOO_LARGE' } }] });
  });

  it('GraphQL, chunked: refused after the limit; a small chunked request still works', async () => {
    const r = await bigPost('/graphql', 3 * MB);
    expect(r.status).toBe(413);
    const ok = await bigPost('/graphql', 0, { body: JSON.stringify({ query: '{ __typename }' }) });
    expect(ok).toMatchObject({ status: 200 });
    expect(JSON.parse(ok.text)).toEqual({ data: { __typename: 'Query' } });
  });

  it.each(['/api/v1/projects', '/runtime/v1/connection', '/oauth/callback', '/auth/oidc/callback'])('POST %s, declared and chunked', async (path) => {
    for (const declared of [true, false]) {
      const r = await bigPost(path, 2 * MB, { declared });
      expect(r.status).toBe(413);
      expect(JSON.parse(r.text)).toMatchObject({ statusCode: 413, code: 'PAYLOAD_TOO_LARGE' });
    }
    expect(await gw.db.prisma.customer.count({ where: { orgId: org.orgId, externalId: 'big' } })).toBe(0);
  });

  it('a small chunked REST body is read as usual', async () => {
    const r = await bigPost('/api/v1/projects', 0, { body: JSON.stringify({ displayName: 'Chunked', externalId: 'chunked-project' }) });
    expect(r.status).toBe(201);
    expect(JSON.parse(r.text)).toMatchObject({ externalId: 'chunked-project' });
  });
});

describe('size limits of stored fields', () => {
  it('metadata over 16 KiB is refused, naming the field (REST and GraphQL)', async () => {
    const metadata = { notes: 'm'.repeat(17_000) };
    const rest = await http(`${gw.url}/api/v1/projects`, { method: 'POST', token: org.apiKey, body: { displayName: 'Meta', externalId: 'meta-project', metadata } });
    expect(rest.status).toBe(400);
    expect(rest.json()).toMatchObject({ code: 'VALIDATION_FAILED', problems: [{ path: 'body.metadata' }] });
    const gql = await post(
      'mutation($i: CustomerInput!) { createCustomer(input: $i) { __typename ... on ValidationError { problems { path message } } } }',
      { i: { externalId: 'meta-customer', name: 'Meta', metadata } },
    );
    expect(gql.body.data).toEqual({ createCustomer: { __typename: 'ValidationError', problems: [{ path: 'input.metadata', message: 'at most 16384 bytes as JSON' }] } });
  });

  it('a secret over 16 KiB is refused, naming the field, and nothing is stored', async () => {
    const r = await http(`${gw.url}/api/v1/global-connections`, {
      method: 'POST',
      token: org.apiKey,
      body: { displayName: 'Huge', pieceName: '@activepieces/piece-huge', type: 'SECRET_TEXT', value: { type: 'SECRET_TEXT', props: { secret_text: 's'.repeat(17_000) } }, projectIds: [], externalId: 'huge_1' },
    });
    expect(r.status).toBe(400);
    expect(r.json()).toMatchObject({ code: 'VALIDATION_FAILED', problems: [{ path: 'body.value.props.secret_text', message: 'at most 16384 bytes' }] });
    expect(await gw.db.prisma.connection.count({ where: { orgId: org.orgId, externalId: 'huge_1' } })).toBe(0);
  });
});

describe('documents: parse cost limited before caching, caches bounded in bytes', () => {
  it('a document over MAX_TOKENS is refused at parse', async () => {
    const r = await post(`{ ${Array.from({ length: 3100 }, () => '__typename').join(' ')} }`, undefined, null);
    expect(r.status).toBe(400);
    expect(r.body.errors?.[0]?.message).toMatch(/Token limit of 3000 exceeded/);
  });

  it('depth 10,000 is refused without overflowing the stack, and the gateway answers on', async () => {
    const deep = `{ ${'customers { edges { node { '.repeat(10_000)}id${' } } }'.repeat(10_000)} }`;
    const r = await post(deep);
    expect(r.status).toBe(400);
    expect(JSON.stringify(r.body)).not.toMatch(/Maximum call stack|INTERNAL_SERVER_ERROR/);
    expect((await post('{ viewer { kind } }')).body).toEqual({ data: { viewer: { kind: 'ORG_USER' } } });
  });

  it('distinct anonymous documents cannot grow the cache past DOCUMENT_CACHE_BYTES', async () => {
    for (let i = 0; i < 40; i++) {
      // ~100 kB each, all comment: few tokens, a large source to keep.
      const r = await post(`{ __typename } # ${i} ${'c'.repeat(100_000)}`, undefined, null);
      expect(r.status).toBe(200);
    }
    const metrics = await http(`${gw.url}/metrics`);
    const held = [...metrics.body.matchAll(/^gateway_graphql_document_cache_bytes\{cache="(\w+)"\} (\d+)$/gm)].map((m) => Number(m[2]));
    expect(held).toHaveLength(2);
    expect(held.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(4 * MB);
    expect(held[0]).toBeGreaterThan(0);
  });
});

describe('operation limits', () => {
  it('aliases: 10,000 aliases of __typename are refused (the limit counts them)', async () => {
    const many = (n: number) => `{ ${Array.from({ length: n }, (_, i) => `a${i}: __typename`).join(' ')} }`;
    expect((await post(many(30), undefined, null)).status).toBe(200);
    const r = await post(many(31), undefined, null);
    expect(r.status).toBe(400);
    expect(r.body.errors?.[0]?.message).toMatch(/Aliases limit of 30 exceeded/);
    expect((await post(many(10_000), undefined, null)).status).toBe(400);
  });

  it('directives over the limit are refused', async () => {
    const r = await post(`{ __typename ${'@include(if: true) '.repeat(51)} }`, undefined, null);
    expect(r.status).toBe(400);
    expect(r.body.errors?.[0]?.message).toMatch(/Directives limit of 50 exceeded/);
  });

  it('depth over MAX_DEPTH is refused at validation', async () => {
    const r = await post(`{ ${'customers { edges { node { '.repeat(5)}id${' } } }'.repeat(5)} }`);
    expect(r.status).toBe(400);
    expect(r.body.errors?.[0]?.message).toMatch(/Query depth limit of 12 exceeded/);
  });

  it('nodes(ids:) takes at most 100 ids; 20,000 anonymous ids are refused fast', async () => {
    const id = gid('Customer', org.customers[0]!.id);
    const ok = await post('query($ids: [ID!]!) { nodes(ids: $ids) { id } }', { ids: Array(100).fill(id) });
    expect(ok.body.data).toEqual({ nodes: Array(100).fill({ id }) });
    const over = await post('query($ids: [ID!]!) { nodes(ids: $ids) { id } }', { ids: Array(101).fill(id) });
    expect(over.body.errors?.[0]?.extensions?.code).toMatch(/BAD_USER_INPUT|QUERY_TOO_COMPLEX/);
    const started = performance.now();
    const flood = await post('query($ids: [ID!]!) { nodes(ids: $ids) { id } }', { ids: Array.from({ length: 20_000 }, (_, i) => gid('Customer', `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`)) }, null);
    expect(performance.now() - started).toBeLessThan(3000);
    expect(flood.status).toBeGreaterThanOrEqual(400);
    expect(flood.body.data ?? null).toBeNull();
  });
});
