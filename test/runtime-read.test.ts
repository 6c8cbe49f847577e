import { describe, expect, it } from 'vitest';
import { findForRuntime, type RuntimeSubject } from '../src/modules/runtime/scope.js';
import type { SeededOrg } from '../src/seed/demo.js';
import { archive, expireSoon, makeConnection, makeConnector, putValue, seedConnections, setStatus, type ConnectionFixture } from './helpers/fixtures.js';
import type { TestGateway } from './helpers/gateway.js';
import { useWorld } from './helpers/world.js';

/**
 * Runtime resolution and the proxy read the connection, its connector and its
 * candidate values with one driver statement (runtime/scope.ts), mapped into
 * the objects Prisma returns (db/rows.ts). They must be those objects exactly
 * — every field, its type, key order, null and JSON columns — whatever the
 * connection's state: compared here with the Prisma query the path replaced.
 */
let gw: TestGateway;
let org: SeededOrg;
let fx: ConnectionFixture;
let oauthId: string;

useWorld({ orgs: { org: { customers: ['a', 'b'] } } }, async (w) => {
  ({ gw, org } = w);
  fx = await seedConnections(gw.app, org);
  const [a, b] = org.customers;
  await setStatus(gw.app, fx.ids.cust, b!.id, 'ERROR', 'Test request answered HTTP 401');
  await putValue(gw.app, fx.ids.global, { kind: 'TEST' }, { secret_text: 'test-only' });
  const connector = await makeConnector(gw.app, org.orgId, {
    key: 'crm',
    name: 'CRM',
    authType: 'OAUTH2',
    oauth2: { authorizeUrl: 'https://idp.example/authorize', tokenUrl: 'https://idp.example/token', clientId: 'client', clientSecret: 'shh', scopes: ['read'] },
    testRequest: { method: 'GET', url: 'https://api.example/me' },
  });
  const oauth = await makeConnection(gw.app, org.orgId, { stableKey: 'crm', name: 'CRM', connectorId: connector.id, type: 'CUSTOMER_ACTIVATED', externalId: 'crm-ext' });
  oauthId = oauth.id;
  const v = await putValue(gw.app, oauth.id, { kind: 'CUSTOMER', customerId: a!.id }, { accessToken: 'at', refreshToken: 'rt', tokenType: 'Bearer' }, { expiresAt: new Date(Date.now() + 3600_000) });
  await expireSoon(gw.app, v.id);
  const old = await makeConnection(gw.app, org.orgId, { stableKey: 'old', name: 'Old', connectorId: fx.connectors.twilio, type: 'CUSTOMER_ACTIVATED' });
  await archive(gw.app, old.id);
});

/** What findForRuntime read before, through Prisma. */
function throughPrisma(p: RuntimeSubject, by: { stableKey: string } | { externalId: string }) {
  return gw.app.db.prisma.connection.findFirst({
    where: { orgId: p.orgId, archivedAt: null, ...by },
    include: {
      connector: true,
      values: { where: { slot: { in: [p.customerId, 'GLOBAL'] } } },
      allowances: { where: { customerId: p.customerId }, select: { customerId: true } },
    },
  });
}

const bySlot = <T extends { values: { slot: string }[] } | null>(x: T) => x && { ...x, values: [...x.values].sort((l, r) => l.slot.localeCompare(r.slot)) };

describe('the runtime read', () => {
  it('returns what Prisma returned, field for field, for every connection and customer', async () => {
    const lookups = [
      ...['cust', 'orgCust', 'global', 'hidden', 'twilio', 'crm', 'old', 'missing'].map((stableKey) => ({ stableKey })),
      { externalId: 'crm-ext' },
      { externalId: 'nobody' },
    ];
    let found = 0;
    for (const customer of [...org.customers, { id: '00000000-0000-0000-0000-000000000000' }]) {
      const subject: RuntimeSubject = { orgId: org.orgId, customerId: customer.id, instanceId: null, workflowId: null };
      for (const by of lookups) {
        const mine = bySlot(await findForRuntime(gw.app.db, subject, by));
        const prisma = bySlot(await throughPrisma(subject, by));
        expect(mine, JSON.stringify(by)).toStrictEqual(prisma);
        // Key order and serialized form too (responses and audit rows are built from these objects).
        expect(JSON.stringify(mine)).toBe(JSON.stringify(prisma));
        if (mine) found++;
      }
    }
    // cust, orgCust, global, hidden, twilio, crm by key and by external id, for each of the three customers.
    expect(found).toBe(21);
    const crm = await findForRuntime(gw.app.db, { orgId: org.orgId, customerId: org.customers[0]!.id, instanceId: null, workflowId: null }, { stableKey: 'crm' });
    expect(crm?.id).toBe(oauthId);
    expect(crm?.values[0]?.expiresAt).toBeInstanceOf(Date);
    expect(crm?.connector.oauth2).toMatchObject({ clientId: 'client' });
  });

  it("another organization's connection is not found", async () => {
    const subject: RuntimeSubject = { orgId: '00000000-0000-0000-0000-000000000001', customerId: org.customers[0]!.id, instanceId: null, workflowId: null };
    expect(await findForRuntime(gw.app.db, subject, { stableKey: 'cust' })).toBeNull();
  });
});
