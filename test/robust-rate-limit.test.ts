import { afterAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { seedOrg, type SeededOrg } from '../src/seed/demo.js';
import { http, rawPost } from './helpers/client.js';
import { startGateway, type TestGateway } from './helpers/gateway.js';
import { useWorld } from './helpers/world.js';

/**
 * Issue 12: rate limits per principal (per address for anonymous callers)
 * with 429, Retry-After and RateLimit headers, on GraphQL over HTTP, REST,
 * the runtime path and WebSocket operations; shared through Redis.
 */
const LIMITS = { RATE_LIMITS: 'on', RATE_LIMIT_PER_MINUTE: '5', RATE_LIMIT_ANONYMOUS_PER_MINUTE: '3' };

const viewer = (url: string, token: string | null) =>
  rawPost(url, JSON.stringify({ query: '{ __typename }' }), token ? { authorization: `Bearer ${token}` } : {});

async function graphqlWithHeaders(url: string, token: string | null) {
  const res = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query: '{ __typename }' }),
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as { errors?: { extensions?: { code?: string } }[] } };
}

describe('in one instance', () => {
  let gw: TestGateway;
  let org: SeededOrg;
  useWorld({ env: { ...LIMITS, REDIS_URL: '' }, orgs: { org: { customers: ['acme-corp'] } } }, (w) => ({ gw, org } = w));

  it('GraphQL: a principal’s budget, then 429 with Retry-After and RateLimit headers', async () => {
    const first = await graphqlWithHeaders(gw.url, org.adminToken);
    expect(first.status).toBe(200);
    expect(first.headers.get('ratelimit-policy')).toBe('"credential";q=5;w=60');
    expect(first.headers.get('ratelimit')).toMatch(/^"credential";r=4;t=\d+$/);
    for (let i = 0; i < 4; i++) expect((await viewer(gw.url, org.adminToken)).status).toBe(200);
    const refused = await graphqlWithHeaders(gw.url, org.adminToken);
    expect(refused.status).toBe(429);
    expect(refused.body.errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(refused.headers.get('ratelimit')).toMatch(/^"credential";r=0;t=\d+$/);
    // Another principal has its own budget; probes are never limited.
    expect((await viewer(gw.url, org.customers[0]!.userToken)).status).toBe(200);
    expect((await fetch(`${gw.url}/health`)).status).toBe(200);
  });

  it('REST, the runtime path and the proxy answer a typed 429', async () => {
    for (let i = 0; i < 5; i++) expect((await http(`${gw.url}/api/v1/projects`, { token: org.apiKey })).status).toBe(200);
    const rest = await http(`${gw.url}/api/v1/projects`, { token: org.apiKey });
    expect(rest.status).toBe(429);
    expect(rest.json()).toMatchObject({ statusCode: 429, code: 'RATE_LIMITED' });
    expect(rest.headers.get('retry-after')).toMatch(/^\d+$/);
    const runtimeToken = org.customers[0]!.runtimeToken;
    for (let i = 0; i < 5; i++) await http(`${gw.url}/runtime/v1/connection?stableKey=none`, { token: runtimeToken });
    expect((await http(`${gw.url}/runtime/v1/connection?stableKey=none`, { token: runtimeToken })).status).toBe(429);
    // The same spent budget on the proxy: refused at the edge in the proxy's own error shape.
    const proxied = await http(`${gw.url}/proxy/v1/items`, { token: runtimeToken, headers: { 'provider-config-key': 'none' } });
    expect(proxied.status).toBe(429);
    expect(proxied.json()).toMatchObject({ error: { code: 'RATE_LIMITED' } });
    expect(proxied.headers.get('proxy-status')).toMatch(/^connections-gateway; error=/);
  });

  it('anonymous callers share their address’s budget', async () => {
    for (let i = 0; i < 3; i++) expect((await viewer(gw.url, null)).status).toBe(200);
    const refused = await graphqlWithHeaders(gw.url, null);
    expect(refused.status).toBe(429);
    expect(refused.headers.get('ratelimit-policy')).toBe('"anonymous";q=3;w=60');
  });

  it('WebSocket operations count against the principal: the one over the budget errors on its id', async () => {
    const token = (await seedOrg(gw.app, { customers: ['ws'] })).customers[0]!.userToken;
    const ws = new WebSocket(gw.url.replace(/^http/, 'ws') + '/graphql', 'graphql-transport-ws');
    const received: { id?: string; type: string; payload?: unknown }[] = [];
    ws.on('message', (d) => received.push(JSON.parse(String(d))));
    await new Promise((r) => ws.once('open', r));
    ws.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } }));
    const until = async (cond: () => boolean) => {
      for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
    };
    await until(() => received.some((m) => m.type === 'connection_ack'));
    for (let i = 1; i <= 6; i++) ws.send(JSON.stringify({ id: String(i), type: 'subscribe', payload: { query: '{ viewer { kind } }' } }));
    await until(() => received.filter((m) => m.type === 'complete' || m.type === 'error').length === 6);
    expect(received.filter((m) => m.type === 'next')).toHaveLength(5);
    expect(received.find((m) => m.type === 'error')).toMatchObject({ payload: [{ extensions: { code: 'RATE_LIMITED' } }] });
    expect(ws.readyState).toBe(WebSocket.OPEN);
    ws.close();
  });
});

describe.runIf(process.env.REDIS_URL)('across instances, through Redis', () => {
  let a: TestGateway;
  let b: TestGateway;
  let org: SeededOrg;
  useWorld({ env: { ...LIMITS, REDIS_URL: process.env.REDIS_URL! }, orgs: { org: { customers: ['acme-corp'] } } }, async (w) => {
    ({ gw: a, org } = w);
    b = await startGateway({}, { on: a });
  });
  afterAll(async () => {
    await b.close();
  });

  it('one budget per principal, whichever instance it calls', async () => {
    for (let i = 0; i < 3; i++) expect((await viewer(a.url, org.adminToken)).status).toBe(200);
    for (let i = 0; i < 2; i++) expect((await viewer(b.url, org.adminToken)).status).toBe(200);
    expect((await viewer(b.url, org.adminToken)).status).toBe(429);
    expect((await viewer(a.url, org.adminToken)).status).toBe(429);
  });
});
