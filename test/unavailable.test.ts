import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedOrg, type SeededOrg } from '../src/seed/demo.js';
import { http, rawPost } from './helpers/client.js';
import { startGateway, type TestGateway } from './helpers/gateway.js';
import { databaseRelay, type DatabaseRelay } from './helpers/outage.js';

/**
 * The database goes away: every surface answers 503 SERVICE_UNAVAILABLE,
 * retryable, with Retry-After — never a 200 with INTERNAL_SERVER_ERROR, a 500,
 * or a stack trace. On PostgreSQL the gateway reaches the server through a
 * relay the test cuts and restores; on PGlite the embedded database is closed.
 */
let gw: TestGateway;
let target: TestGateway;
let relay: DatabaseRelay | undefined;
let org: SeededOrg;

beforeAll(async () => {
  gw = await startGateway();
  org = await seedOrg(gw.app, { customers: ['acme'] });
  if (gw.app.config.database.kind === 'postgres') {
    relay = await databaseRelay(gw.app.config.database.url);
    target = await startGateway({}, { on: gw, config: { database: { kind: 'postgres', url: relay.url } } });
  } else {
    target = gw;
  }
});

afterAll(async () => {
  if (target !== gw) await target.close();
  await relay?.close();
  if (gw.db.kind === 'pglite') await gw.db.pglite!.close().catch(() => {});
  await gw.close().catch(() => {});
});

const viewer = JSON.stringify({ query: '{ viewer { kind } }' });
const create = JSON.stringify({ query: 'mutation { createCustomer(input: { externalId: "new-one", name: "New" }) { __typename } }' });

/** Nothing about the code's inside leaks: no stack frames, no source paths. */
function expectNoInternals(body: string): void {
  expect(body).not.toMatch(/\bat .+:\d+:\d+|node_modules|\/src\/|\.ts\b|prisma:|Prisma/);
}

function expectUnavailableGraphQL(res: { status: number; body: string }, retryAfter: string | null): void {
  expect(res.status).toBe(503);
  expect(Number(retryAfter)).toBeGreaterThan(0);
  const body = JSON.parse(res.body) as { errors: { extensions: Record<string, unknown> }[] };
  expect(body.errors.map((e) => e.extensions.code)).toContain('SERVICE_UNAVAILABLE');
  expect(body.errors[0]!.extensions).toMatchObject({ code: 'SERVICE_UNAVAILABLE', retryable: true });
  expectNoInternals(res.body);
}

async function graphqlPost(body: string, token: string) {
  const res = await fetch(`${target.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json', authorization: `Bearer ${token}` },
    body,
  });
  return { status: res.status, body: await res.text(), retryAfter: res.headers.get('retry-after') };
}

describe('database unavailable', () => {
  it('works before the outage', async () => {
    const res = await rawPost(target.url, viewer, { authorization: `Bearer ${org.apiKey}` });
    expect(JSON.parse(res.body)).toEqual({ data: { viewer: { kind: 'API_KEY' } } });
  });

  it('answers 503 SERVICE_UNAVAILABLE, retryable, with Retry-After, on every surface', async () => {
    if (relay) await relay.cut();
    else await target.db.pglite!.close();

    for (const token of [org.apiKey, org.adminToken]) {
      const q = await graphqlPost(viewer, token);
      expectUnavailableGraphQL(q, q.retryAfter);
      const m = await graphqlPost(create, token);
      expectUnavailableGraphQL(m, m.retryAfter);
    }

    const rest = await http(`${target.url}/api/v1/projects`, { token: org.apiKey });
    expect(rest.status).toBe(503);
    expect(Number(rest.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(rest.json()).toMatchObject({ statusCode: 503, code: 'SERVICE_UNAVAILABLE', retryable: true });
    expectNoInternals(rest.body);

    const runtime = await http(`${target.url}/runtime/v1/connection?stableKey=anything`, { token: org.customers[0]!.runtimeToken });
    expect(runtime.status).toBe(503);
    expect(Number(runtime.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(runtime.json()).toMatchObject({ status: 'ERROR', code: 'SERVICE_UNAVAILABLE', retryable: true });
    expectNoInternals(runtime.body);

    const ready = await http(`${target.url}/ready`);
    expect(ready.status).toBe(503);
    expect((await http(`${target.url}/health`)).status).toBe(200);
  });

  it.skipIf(!process.env.DATABASE_URL)('serves again once the database is back (PostgreSQL)', async () => {
    await relay!.restore();
    await expect
      .poll(async () => JSON.parse((await rawPost(target.url, viewer, { authorization: `Bearer ${org.apiKey}` })).body), { timeout: 10_000 })
      .toEqual({ data: { viewer: { kind: 'API_KEY' } } });
    const rest = await http(`${target.url}/api/v1/projects`, { token: org.apiKey });
    expect(rest.status).toBe(200);
  });
});
