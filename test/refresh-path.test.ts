import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import type { SeededOrg } from '../src/seed/demo.js';
import { graphql } from './gql/index.js';
import { gql, http } from './helpers/client.js';
import { expireSoon, makeConnection, makeConnector, putValue } from './helpers/fixtures.js';
import type { TestGateway } from './helpers/gateway.js';
import { useWorld } from './helpers/world.js';

/**
 * One refresh path: a resolution whose OAuth2 token is due renews it with the
 * background refresher's claim → call → compare-and-set, so no transaction and
 * no pooled connection is held while the provider answers. Twelve values due
 * at once, a token endpoint that answers after 5 s, and meanwhile fifty other
 * requests (reads and writes) on the gateway's pool of ten: every one of them
 * answers before the provider does. (With the refresh inside a transaction,
 * twelve held connections exhaust the pool, and PGlite's single connection
 * stalls everything for the 5 s.)
 */
const Resolve = graphql(`
  query RefreshPathResolve($stableKey: String!) {
    resolveConnection(stableKey: $stableKey) {
      __typename
      ... on ResolvedCredential { accessToken }
      ... on ResolutionProblem { code message }
    }
  }
`);

const Customers = graphql(`
  query RefreshPathCustomers { customers(first: 5) { edges { node { id externalId } } } }
`);

const DUE = 12;
const OTHERS = 50;
const PROVIDER_DELAY_MS = 5_000;

/** A token endpoint (client credentials) that holds every answer PROVIDER_DELAY_MS. */
const provider = {
  requests: 0,
  answeredAt: [] as number[],
  pending: new Set<ServerResponse>(),
  server: createServer((req, res) => {
    provider.requests++;
    provider.pending.add(res);
    req.resume();
    setTimeout(() => {
      provider.pending.delete(res);
      provider.answeredAt.push(Date.now());
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: `renewed-${provider.answeredAt.length}-${'t'.repeat(12)}`, token_type: 'Bearer', expires_in: 3600 }));
    }, PROVIDER_DELAY_MS);
  }),
  url: '',
};

let gw: TestGateway;
let org: SeededOrg;

afterAll(async () => {
  for (const res of provider.pending) res.destroy();
  await new Promise((r) => provider.server.close(r));
});

useWorld(
  { env: { OUTBOUND_ALLOWED_NETWORKS: '127.0.0.1/32', HEALTH_WORKERS: 'false' }, orgs: { org: { customers: Array.from({ length: DUE }, (_, i) => `due-${i}`) } }, timeout: 60_000 },
  async (w) => {
    ({ gw, org } = w);
    await new Promise<void>((r) => provider.server.listen(0, '127.0.0.1', r));
    provider.url = `http://127.0.0.1:${(provider.server.address() as AddressInfo).port}/token`;
    const connector = await makeConnector(gw.app, org.orgId, {
      key: 'slow-idp',
      name: 'Slow IdP',
      authType: 'OAUTH2',
      oauth2: { grantType: 'client_credentials', tokenUrl: provider.url, scopes: [], clientId: 'machine', pkce: false },
      oauthClientSecret: 'slow-idp-client-secret',
    });
    const connection = await makeConnection(gw.app, org.orgId, { stableKey: 'slow', name: 'Slow', connectorId: connector.id, type: 'ORG_ACTIVATED_CUSTOMER' });
    for (const c of org.customers) {
      const v = await putValue(gw.app, connection.id, { kind: 'CUSTOMER', customerId: c.id }, { accessToken: `stale-${c.externalId}-${'s'.repeat(12)}` }, { status: 'ACTIVE' });
      await expireSoon(gw.app, v.id);
    }
  },
);

describe('one refresh path: nothing held across a provider call', () => {
  it(`${DUE} due tokens renewed by resolutions while the provider takes 5 s: ${OTHERS} other requests answer meanwhile`, async () => {
    const resolutions = org.customers.map((c) => gql(gw.url, Resolve, { stableKey: 'slow' }, c.runtimeToken, { resolution: true }));
    // Every renewal has reached the provider.
    const until = Date.now() + 10_000;
    while (provider.requests < DUE && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    expect(provider.requests).toBe(DUE);

    const finished: number[] = [];
    const others = Array.from({ length: OTHERS }, async (_, i) => {
      if (i % 5 === 0) {
        const r = await http(`${gw.url}/api/v1/projects`, { method: 'POST', token: org.apiKey, body: { displayName: `Other ${i}`, externalId: `other-${i}` } });
        expect(r.status).toBe(201);
      } else {
        const r = await gql(gw.url, Customers, {}, org.adminToken);
        expect(r.errors).toBeUndefined();
      }
      finished.push(Date.now());
    });
    await Promise.all(others);
    expect(finished).toHaveLength(OTHERS);
    // Before the provider's first answer: none of them waited for a renewal.
    expect(provider.answeredAt).toEqual([]);

    const results = await Promise.all(resolutions);
    for (const r of results) expect(r.data?.resolveConnection).toMatchObject({ __typename: 'ResolvedCredential', accessToken: expect.stringMatching(/^renewed-/) });
    // One renewal per value, written by compare-and-set, the claims released.
    expect(provider.requests).toBe(DUE);
    expect(await gw.app.db.prisma.valueRefreshLease.count({ where: { busy: true } })).toBe(0);
  });
});
