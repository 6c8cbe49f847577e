import { afterAll, describe, expect, it } from 'vitest';
import type { SeededOrg } from '../src/seed/demo.js';
import { graphql } from './gql/index.js';
import { gid, gql, resolutionLog } from './helpers/client.js';
import { makeConnection, makeConnector } from './helpers/fixtures.js';
import { startGateway, type TestGateway } from './helpers/gateway.js';
import { machineConnector, startProvider, type TestProvider } from './helpers/oidc-provider.js';
import { useWorld } from './helpers/world.js';

/**
 * Background refresh against a real OAuth2 provider (oidc-provider) issuing
 * 3-second tokens, with two gateway instances on one database: tokens are
 * renewed ahead of expiry without any resolution, each renewal by exactly
 * one instance.
 */
const Connect = graphql(`
  mutation RefreshConnect($connectionId: ID!, $slot: ValueKind) {
    connectOAuthClientCredentials(connectionId: $connectionId, slot: $slot) { __typename ... on MutationConnectOAuthClientCredentialsSuccess { data { id status expiresAt } } }
  }
`);

let gw: TestGateway;
let gw2: TestGateway;
let idp: TestProvider;
let org: SeededOrg;

// Registered first, so it runs after the gateways have closed (afterAll hooks run in reverse).
afterAll(async () => {
  await idp?.close();
});
useWorld({ env: { OUTBOUND_ALLOWED_NETWORKS: '127.0.0.1/32', HEALTH_REFRESH_MARGIN_MS: '2000', HEALTH_REFRESH_POLL_MS: '100' }, orgs: { org: { customers: ['acme'] } }, timeout: 60_000 }, async (w) => {
  ({ gw, org } = w);
  gw2 = await startGateway({}, { on: gw });
  idp = await startProvider({ redirectUris: [`${gw.url}/oauth/callback`], accessTokenTtl: 3 });
});
afterAll(async () => {
  await gw2?.close();
});

describe('background refresh', () => {
  it('renews a client-credentials token before it expires, with no resolution, once per renewal across two instances', async () => {
    const machine = await makeConnector(gw.app, org.orgId, machineConnector(idp, 'Machine'));
    const connection = await makeConnection(gw.app, org.orgId, { stableKey: 'machine', name: 'Machine', connectorId: machine.id, type: 'ORG_ACTIVATED_GLOBAL' });
    const resolutionsBefore = resolutionLog.length;
    const connected = await gql(gw.url, Connect, { connectionId: gid('Connection', connection.id), slot: 'GLOBAL' }, org.adminToken);
    expect(connected.data?.connectOAuthClientCredentials.__typename).toBe('MutationConnectOAuthClientCredentialsSuccess');
    const first = await gw.app.db.prisma.connectionValue.findFirstOrThrow({ where: { connectionId: connection.id } });
    expect(idp.grants.client_credentials).toBe(1);

    // Two renewals, each before the previous token expired.
    const seen: { expiresAt: Date; version: number; at: number }[] = [{ expiresAt: first.expiresAt!, version: first.version, at: Date.now() }];
    const deadline = Date.now() + 20_000;
    while (seen.length < 3 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      const v = await gw.app.db.prisma.connectionValue.findUniqueOrThrow({ where: { id: first.id } });
      if (v.version !== seen.at(-1)!.version) seen.push({ expiresAt: v.expiresAt!, version: v.version, at: Date.now() });
    }
    expect(seen.length).toBe(3);
    for (let i = 1; i < seen.length; i++) {
      expect(seen[i]!.at).toBeLessThan(seen[i - 1]!.expiresAt.getTime());
      expect(seen[i]!.expiresAt.getTime()).toBeGreaterThan(seen[i - 1]!.expiresAt.getTime());
    }
    // Exactly one provider call per renewal, although both instances run the refresher.
    const renewals = (await gw.app.db.prisma.connectionValue.findUniqueOrThrow({ where: { id: first.id } })).version - first.version;
    expect(idp.grants.client_credentials).toBe(1 + renewals);
    expect(resolutionLog.length).toBe(resolutionsBefore);
    const v = await gw.app.db.prisma.connectionValue.findUniqueOrThrow({ where: { id: first.id } });
    expect(v).toMatchObject({ status: 'ACTIVE', refreshFailures: 0 });
    // Audited as the gateway's own work: renewals counted per connection and minute.
    const audited = await gw.db.prisma.auditEvent.findMany({ where: { action: 'oauth.renewed', targetId: connection.id } });
    expect(audited.every((r) => r.principalKind === 'SYSTEM' && r.principalId === 'background-refresh' && r.orgId === org.orgId)).toBe(true);
    expect(audited.reduce((n, r) => n + r.count, 0)).toBe(renewals);
  }, 60_000);
});
