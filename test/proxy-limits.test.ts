import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SeededOrg } from '../src/seed/demo.js';
import { http } from './helpers/client.js';
import { makeConnection, makeConnector, putValue } from './helpers/fixtures.js';
import type { TestGateway } from './helpers/gateway.js';
import { json, Upstream } from './helpers/upstream.js';
import { useWorld } from './helpers/world.js';

/**
 * A connection's rate limit at the proxy: requests per window and requests
 * at once, per value (default) or per connection; a call over the budget
 * waits up to its bound, then gets 429 with Retry-After; an API's 429 with
 * Retry-After pauses the budget for every caller. In memory on PGlite, in
 * Redis when REDIS_URL is set (the suite's PostgreSQL run); the two-process
 * case is test/proxy-cluster.test.ts.
 */
const upstream = new Upstream();
let gw: TestGateway;
let org: SeededOrg;

beforeAll(async () => {
  await upstream.listen();
});
afterAll(async () => {
  await upstream.close();
});
useWorld(
  {
    env: () => ({ OUTBOUND_ALLOWED_NETWORKS: '127.0.0.1/32', ...(process.env.REDIS_URL ? { REDIS_URL: process.env.REDIS_URL } : {}) }),
    orgs: { org: { customers: ['acme', 'globex'] } },
  },
  (w) => ({ gw, org } = w),
);

let n = 0;
async function limited(rateLimit: Record<string, unknown>, type = 'CUSTOMER_ACTIVATED'): Promise<string> {
  const key = `limited-${++n}`;
  const connector = await makeConnector(gw.app, org.orgId, { key, name: key, authType: 'SECRET_TEXT', proxy: { baseUrl: upstream.url, rateLimit } });
  const c = await makeConnection(gw.app, org.orgId, { stableKey: key, name: key, connectorId: connector.id, type });
  if (type === 'ORG_ACTIVATED_GLOBAL') await putValue(gw.app, c.id, { kind: 'GLOBAL' }, { secret_text: 'global-secret-value' });
  else for (const customer of org.customers) await putValue(gw.app, c.id, { kind: 'CUSTOMER', customerId: customer.id }, { secret_text: `secret-of-${customer.externalId}` });
  return key;
}

const call = (key: string, customer = 0, path = '/x') =>
  http(`${gw.url}/proxy${path}`, { token: org.customers[customer]!.runtimeToken, headers: { 'provider-config-key': key } });

describe('requests per window', () => {
  it('over the budget with no wait allowed: 429 with Retry-After, and the API never sees more than the limit; each value has its own budget', async () => {
    const key = await limited({ requests: 3, intervalSeconds: 60, maxWaitMs: 0 });
    upstream.reset();
    const answers = await Promise.all(Array.from({ length: 7 }, () => call(key)));
    expect(answers.filter((r) => r.status === 200)).toHaveLength(3);
    const refused = answers.filter((r) => r.status === 429);
    expect(refused).toHaveLength(4);
    for (const r of refused) {
      expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(Number(r.headers.get('retry-after'))).toBeLessThanOrEqual(60);
      expect(r.json()).toMatchObject({ error: { code: 'RATE_LIMITED' } });
      expect(r.headers.get('proxy-status')).toContain('proxy_internal_response');
    }
    expect(upstream.received).toHaveLength(3);
    // Another customer's value: a budget of its own.
    expect((await call(key, 1)).status).toBe(200);
    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    expect(metrics).toMatch(new RegExp(`gateway_proxy_rate_limited_total\\{connector="${key}",source="gateway"\\} 4`));
  });

  it('per connection: every value of the connection shares one budget', async () => {
    const key = await limited({ requests: 2, intervalSeconds: 60, per: 'CONNECTION', maxWaitMs: 0 });
    upstream.reset();
    const statuses = [(await call(key, 0)).status, (await call(key, 1)).status, (await call(key, 0)).status, (await call(key, 1)).status];
    expect(statuses).toEqual([200, 200, 429, 429]);
    expect(upstream.received).toHaveLength(2);
  });

  it('a call over the budget waits for the next window, up to its bound', async () => {
    const key = await limited({ requests: 2, intervalSeconds: 1, maxWaitMs: 5000 });
    upstream.reset();
    const started = Date.now();
    const answers = await Promise.all(Array.from({ length: 5 }, () => call(key)));
    expect(answers.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    const at = upstream.received.map((r) => r.at).sort((a, b) => a - b);
    // Two per window of a second: the third request of any three came at least (almost) a window after the first.
    for (let i = 0; i + 2 < at.length; i++) expect(at[i + 2]! - at[i]!).toBeGreaterThanOrEqual(800);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1800);
    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    expect(metrics).toMatch(new RegExp(`gateway_proxy_rate_limit_wait_seconds_count\\{connector="${key}"\\} 5`));
  });
});

describe('requests at once', () => {
  it('no more in flight than the limit: the others wait for a slot; with no wait allowed, 429', async () => {
    const key = await limited({ concurrency: 2, maxWaitMs: 10_000 });
    upstream.reset(async (_req, res) => {
      await new Promise((r) => setTimeout(r, 150));
      json(res, 200, {});
    });
    const answers = await Promise.all(Array.from({ length: 6 }, () => call(key)));
    expect(answers.map((r) => r.status)).toEqual(Array(6).fill(200));
    expect(upstream.maxInFlight).toBe(2);
    const strict = await limited({ concurrency: 1, maxWaitMs: 0 });
    const both = await Promise.all([call(strict), call(strict)]);
    expect(both.map((r) => r.status).sort()).toEqual([200, 429]);
    // The slot comes back when the answer is done.
    expect((await call(strict)).status).toBe(200);
  });
});

describe("the API's own 429", () => {
  it('429 with Retry-After pauses the budget for every caller until then; the API sees nothing meanwhile', async () => {
    const key = await limited({ concurrency: 10, maxWaitMs: 0 });
    upstream.reset((_req, res) => json(res, 429, { slow: 'down' }, { 'retry-after': '2' }));
    const first = await call(key);
    // The API's answer itself passes through, unchanged.
    expect(first.status).toBe(429);
    expect(first.json()).toEqual({ slow: 'down' });
    expect(first.headers.get('proxy-status')).toBeNull();
    upstream.reset();
    // Within the pause, without waiting: refused by the gateway, for this customer and (per value) only this value.
    const refused = await call(key);
    expect(refused.status).toBe(429);
    expect(refused.json()).toMatchObject({ error: { code: 'RATE_LIMITED', message: expect.stringContaining('Retry-After') } });
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(upstream.received).toHaveLength(0);
    expect((await call(key, 1)).status).toBe(200);
    // A caller allowed to wait goes through once the pause is over.
    const patient = await limited({ concurrency: 10, maxWaitMs: 5000 });
    upstream.reset((_req, res) => json(res, 429, {}, { 'retry-after': '2' }));
    const pausedAt = Date.now();
    expect((await call(patient)).status).toBe(429);
    upstream.reset();
    const waited = await call(patient);
    expect(waited.status).toBe(200);
    expect(upstream.received[0]!.at - pausedAt).toBeGreaterThanOrEqual(1500);
    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    expect(metrics).toMatch(new RegExp(`gateway_proxy_rate_limited_total\\{connector="${key}",source="upstream"\\} 1`));
  });

  it('with Retries, an idempotent call waits out the Retry-After and is sent again', async () => {
    const key = await limited({ concurrency: 10, maxWaitMs: 5000 });
    let first = true;
    upstream.reset((_req, res) => {
      if (first) {
        first = false;
        return json(res, 429, {}, { 'retry-after': '1' });
      }
      json(res, 200, { ok: true });
    });
    const r = await http(`${gw.url}/proxy/x`, { token: org.customers[0]!.runtimeToken, headers: { 'provider-config-key': key, retries: '2' } });
    expect(r.status).toBe(200);
    expect(upstream.received).toHaveLength(2);
    expect(upstream.received[1]!.at - upstream.received[0]!.at).toBeGreaterThanOrEqual(900);
  });
});
