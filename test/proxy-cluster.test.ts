import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newKeySpec } from '../src/crypto/keyring.js';
import type { SeededOrg } from '../src/seed/demo.js';
import { http } from './helpers/client.js';
import { makeConnection, makeConnector, putValue } from './helpers/fixtures.js';
import type { TestGateway } from './helpers/gateway.js';
import { spawnInstance, type Instance } from './helpers/instance.js';
import { json, Upstream } from './helpers/upstream.js';
import { useWorld } from './helpers/world.js';

/**
 * Two gateway processes on one PostgreSQL database and one Redis share each
 * connection's budget: the API never sees more requests per window, or more
 * at once, than the connector allows, however the calls are spread over the
 * instances; an API's 429 with Retry-After answered to one instance pauses
 * the other too. Needs DATABASE_URL and REDIS_URL (the suite's PostgreSQL run).
 */
const enabled = !!process.env.DATABASE_URL && !!process.env.REDIS_URL;
const upstream = new Upstream();
const keys = newKeySpec('cluster');
let a: TestGateway;
let b: Instance;
let org: SeededOrg;

describe.skipIf(!enabled)('two gateway processes share a connection’s budget', () => {
  beforeAll(async () => {
    await upstream.listen();
  });
  afterAll(async () => {
    await upstream.close();
  });
  useWorld(
    { env: { OUTBOUND_ALLOWED_NETWORKS: '127.0.0.1/32', REDIS_URL: process.env.REDIS_URL ?? '', ENCRYPTION_KEYS: keys }, orgs: { org: { customers: ['acme'] } }, timeout: 60_000 },
    async (w) => {
      ({ gw: a, org } = w);
      if (a.app.config.database.kind !== 'postgres') throw new Error('needs PostgreSQL');
      b = await spawnInstance('test/helpers/proxy-instance.ts', {
        DATABASE_URL: a.app.config.database.url,
        REDIS_URL: process.env.REDIS_URL!,
        AUTH_SECRET: a.app.config.authSecret,
        ENCRYPTION_KEYS: keys,
        OUTBOUND_ALLOWED_NETWORKS: '127.0.0.1/32',
        RATE_LIMITS: 'off',
        HEALTH_WORKERS: 'false',
      });
    },
  );
  afterAll(async () => {
    await b?.stop();
  });

  let n = 0;
  async function limited(rateLimit: Record<string, unknown>): Promise<string> {
    const key = `shared-${++n}-${randomBytes(3).toString('hex')}`;
    const connector = await makeConnector(a.app, org.orgId, { key, name: key, authType: 'SECRET_TEXT', proxy: { baseUrl: upstream.url, rateLimit } });
    const c = await makeConnection(a.app, org.orgId, { stableKey: key, name: key, connectorId: connector.id, type: 'CUSTOMER_ACTIVATED' });
    await putValue(a.app, c.id, { kind: 'CUSTOMER', customerId: org.customers[0]!.id }, { secret_text: 'shared-secret-value' });
    return key;
  }
  const call = (url: string, key: string) => http(`${url}/proxy/x`, { token: org.customers[0]!.runtimeToken, headers: { 'provider-config-key': key } });
  const spread = (key: string, count: number) => Promise.all(Array.from({ length: count }, (_, i) => call(i % 2 ? b.url : a.url, key)));

  it('requests per window: the API sees the limit, not the limit per instance', async () => {
    const key = await limited({ requests: 5, intervalSeconds: 60, maxWaitMs: 0 });
    upstream.reset();
    const answers = await spread(key, 24);
    expect(answers.filter((r) => r.status === 200)).toHaveLength(5);
    expect(answers.filter((r) => r.status === 429)).toHaveLength(19);
    expect(upstream.received).toHaveLength(5);
  });

  it('requests at once: never more in flight than the limit across both instances; every call gets through, waiting its turn', async () => {
    const key = await limited({ concurrency: 2, maxWaitMs: 15_000 });
    upstream.reset(async (_req, res) => {
      await new Promise((r) => setTimeout(r, 200));
      json(res, 200, {});
    });
    const answers = await spread(key, 10);
    expect(answers.map((r) => r.status)).toEqual(Array(10).fill(200));
    expect(upstream.maxInFlight).toBe(2);
  });

  it("an API's 429 with Retry-After, answered to one instance, pauses the other", async () => {
    const key = await limited({ concurrency: 10, maxWaitMs: 0 });
    upstream.reset((_req, res) => json(res, 429, {}, { 'retry-after': '3' }));
    expect((await call(a.url, key)).status).toBe(429);
    upstream.reset();
    const onB = await call(b.url, key);
    expect(onB.status).toBe(429);
    expect(onB.json()).toMatchObject({ error: { code: 'RATE_LIMITED' } });
    expect(upstream.received).toHaveLength(0);
  });
});
