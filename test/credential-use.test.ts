import { describe, expect, it } from 'vitest';
import type { SeededOrg } from '../src/seed/demo.js';
import { signEmbedToken } from '../src/seed/embed.js';
import { graphql } from './gql/index.js';
import { gql } from './helpers/client.js';
import { makeApiKey } from './helpers/fixtures.js';
import type { TestGateway } from './helpers/gateway.js';
import { useWorld } from './helpers/world.js';

/**
 * What verifying a credential writes down goes through the services, as the
 * gateway's own work (a SYSTEM actor), and is audited: an API key's use (at
 * most once a minute), a customer user created by its first embed token, a
 * changed profile. A mere sighting writes nothing new to the audit log.
 */
const Viewer = graphql(`query CredentialUseViewer { viewer { kind } }`);

let gw: TestGateway;
let org: SeededOrg;
useWorld({ orgs: { org: { customers: ['c'] } } }, (w) => ({ gw, org } = w));

const auditOf = (targetId: string) => gw.db.prisma.auditEvent.findMany({ where: { targetId }, orderBy: { id: 'asc' } });

describe('credential use', () => {
  it("an API key's use: lastUsedAt and one audit row a minute, by the gateway", async () => {
    const key = await makeApiKey(gw.app, org.orgId, { name: 'used', readOnly: true });
    for (let i = 0; i < 3; i++) expect((await gql(gw.url, Viewer, {}, key.secret)).data?.viewer?.kind).toBe('API_KEY');
    const row = await gw.db.prisma.apiKey.findUniqueOrThrow({ where: { id: key.id } });
    expect(row.lastUsedAt).not.toBeNull();
    const events = (await auditOf(key.id)).filter((e) => e.action === 'apiKey.use');
    expect(events.map((e) => [e.principalKind, e.principalId, e.orgId])).toEqual([['SYSTEM', 'credential-use', org.orgId]]);
  });

  it("an embed token's customer user: created and audited once, a profile change audited, a sighting not", async () => {
    const token = (email: string) => signEmbedToken(org.signer, { userId: 'vendor-user-7', customerExternalId: 'c', email });
    expect((await gql(gw.url, Viewer, {}, await token('a@example.com'))).data?.viewer?.kind).toBe('CUSTOMER_USER');
    const user = await gw.db.prisma.customerUser.findFirstOrThrow({ where: { externalId: 'vendor-user-7' } });
    expect(user.email).toBe('a@example.com');
    await gql(gw.url, Viewer, {}, await token('a@example.com'));
    await gql(gw.url, Viewer, {}, await token('b@example.com'));
    expect((await gw.db.prisma.customerUser.findUniqueOrThrow({ where: { id: user.id } })).email).toBe('b@example.com');
    const events = await auditOf(user.id);
    expect(events.map((e) => [e.principalKind, e.principalId, e.action])).toEqual([
      ['SYSTEM', 'embed-token', 'customerUser.create'],
      ['SYSTEM', 'embed-token', 'customerUser.update'],
    ]);
    expect(await gw.db.prisma.customerUser.count({ where: { externalId: 'vendor-user-7' } })).toBe(1);
  });
});
