import { describe, expect, it } from 'vitest';
import type { SeededOrg } from '../src/seed/demo.js';
import { graphql } from './gql/index.js';
import { gql } from './helpers/client.js';
import { makeConnection, makeConnector, setStatus } from './helpers/fixtures.js';
import type { TestGateway } from './helpers/gateway.js';
import { useWorld } from './helpers/world.js';

const Summary = graphql(`
  query HealthSummary {
    connectionHealthSummary {
      totals { pending active error expired total }
      connections { connection { stableKey } counts { active error expired total } }
      connectors { connector { key } counts { active error total } }
    }
  }
`);

let gw: TestGateway;
let org: SeededOrg;
let other: SeededOrg;

useWorld({ orgs: { org: { customers: ['acme', 'globex', 'initech'] }, other: { customers: ['umbrella'] } } }, async (w) => {
  ({ gw, org, other } = w);
  const crm = await makeConnector(gw.app, org.orgId, { key: 'crm', name: 'CRM', authType: 'SECRET_TEXT' });
  const mail = await makeConnector(gw.app, org.orgId, { key: 'mail', name: 'Mail', authType: 'SECRET_TEXT' });
  const crmA = await makeConnection(gw.app, org.orgId, { stableKey: 'crm-a', name: 'CRM A', connectorId: crm.id, type: 'CUSTOMER_ACTIVATED' });
  const crmB = await makeConnection(gw.app, org.orgId, { stableKey: 'crm-b', name: 'CRM B', connectorId: crm.id, type: 'CUSTOMER_ACTIVATED' });
  const mailC = await makeConnection(gw.app, org.orgId, { stableKey: 'mail', name: 'Mail', connectorId: mail.id, type: 'CUSTOMER_ACTIVATED' });
  const [acme, globex, initech] = org.customers.map((c) => c.id) as [string, string, string];
  await setStatus(gw.app, crmA.id, acme, 'ACTIVE');
  await setStatus(gw.app, crmA.id, globex, 'ERROR', 'rejected');
  await setStatus(gw.app, crmA.id, initech, 'EXPIRED');
  await setStatus(gw.app, crmB.id, acme, 'ACTIVE');
  await setStatus(gw.app, mailC.id, acme, 'ACTIVE');
  await setStatus(gw.app, mailC.id, globex, 'ACTIVE');
  // A test value does not count.
  await setStatus(gw.app, mailC.id, 'TEST', 'ERROR', 'test only');
});

describe('connectionHealthSummary', () => {
  it('counts the org’s values by status, per connection and per connector, worst first', async () => {
    const res = await gql(gw.url, Summary, {}, org.adminToken);
    const s = res.data!.connectionHealthSummary;
    expect(s.totals).toEqual({ pending: 0, active: 4, error: 1, expired: 1, total: 6 });
    expect(s.connections[0]).toEqual({ connection: { stableKey: 'crm-a' }, counts: { active: 1, error: 1, expired: 1, total: 3 } });
    expect(s.connections.map((c) => [c.connection.stableKey, c.counts.total]).sort()).toEqual([['crm-a', 3], ['crm-b', 1], ['mail', 2]]);
    expect(s.connectors[0]).toEqual({ connector: { key: 'crm' }, counts: { active: 2, error: 1, total: 4 } });
    expect(s.connectors.map((c) => c.connector.key)).toEqual(['crm', 'mail']);
  });

  it('is for org principals: another org sees only its own (nothing), a customer user is refused', async () => {
    const mine = await gql(gw.url, Summary, {}, other.adminToken);
    expect(mine.data!.connectionHealthSummary).toEqual({ totals: { pending: 0, active: 0, error: 0, expired: 0, total: 0 }, connections: [], connectors: [] });
    const refused = await gql(gw.url, Summary, {}, org.customers[0]!.userToken);
    expect(refused.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });
});
