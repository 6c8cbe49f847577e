import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { refreshAvailability } from '../src/modules/feed/service.js';
import { asOrg } from './helpers/fixtures.js';
import { seedOrg, type SeededOrg } from '../src/seed/demo.js';
import { graphql } from './gql/index.js';
import { gql } from './helpers/client.js';
import { startGateway, type TestGateway } from './helpers/gateway.js';

/**
 * The number of SQL statements a deep query sends must not depend on the
 * number of rows it returns. Each query runs against an org with 2 rows per
 * level and one with 10 rows per level; the statement counts must be equal.
 */

const DeepValues = graphql(`
  query NpDeepValues {
    viewer {
      organization {
        name
        customers(first: 10) {
          edges {
            node {
              externalId
              connectionValues(first: 10) {
                edges {
                  node {
                    status
                    secrets { key set }
                    connection { stableKey type connector { key authType } }
                  }
                }
              }
            }
          }
        }
      }
    }
  }
`);

const DeepInstances = graphql(`
  query NpDeepInstances {
    integrations(first: 10) {
      edges {
        node {
          stableKey
          connections { required connection { stableKey connector { key } } }
          instances(first: 10) {
            edges {
              node {
                name
                customer { externalId }
                readiness { ready missing { reason stableKey } }
              }
            }
          }
        }
      }
    }
  }
`);

const DeepWorkflows = graphql(`
  query NpDeepWorkflows {
    customers(first: 10) {
      edges { node { externalId workflows(first: 10) { edges { node { name steps { name } } } } } }
    }
  }
`);

// Kept apart from DeepWorkflows to stay under the complexity limit with 10 rows per level.
const DeepSteps = graphql(`
  query NpDeepSteps {
    workflows(first: 10) {
      edges {
        node {
          name
          customer { externalId }
          steps {
            connectorKey
            connector { key }
            connection { stableKey }
            selectedConnection { id name connectorName }
            connectionSelectable
          }
        }
      }
    }
  }
`);

let gw: TestGateway;
const orgs = new Map<number, SeededOrg>();

/** An org with n customers, n connectors with one connection each, values for every (customer, connection), n integrations
 * requiring every connection, an instance per (integration, customer), and n workflows of n steps per customer. */
async function seedLevels(n: number): Promise<SeededOrg> {
  const prisma = gw.db.prisma;
  const org = await seedOrg(gw.app, { customers: Array.from({ length: n }, (_, i) => `c${i}`) });
  const connections: { id: string; connectorId: string }[] = [];
  for (let i = 0; i < n; i++) {
    const connector = await prisma.connector.create({ data: { orgId: org.orgId, key: `app${i}`, name: `App ${i}`, authType: 'SECRET_TEXT' } });
    connections.push(
      await prisma.connection.create({
        data: {
          orgId: org.orgId,
          stableKey: `conn${i}`,
          name: `Conn ${i}`,
          connectorId: connector.id,
          type: i % 2 ? 'ORG_ACTIVATED_CUSTOMER' : 'CUSTOMER_ACTIVATED',
          availableInWorkflows: true,
        },
      }),
    );
  }
  await prisma.connectionValue.createMany({
    data: org.customers.flatMap((c, ci) =>
      connections.map((k, ki) => ({
        orgId: org.orgId,
        connectionId: k.id,
        kind: 'CUSTOMER' as const,
        customerId: c.id,
        slot: c.id,
        status: (ci + ki) % 3 ? ('ACTIVE' as const) : ('PENDING' as const),
        secretHints: { apiKey: { set: true, last4: null } },
      })),
    ),
  });
  await asOrg(gw.app, org.orgId, async (op) => {
    for (const k of connections) await refreshAvailability(op, k.id);
  });
  for (let i = 0; i < n; i++) {
    const integration = await prisma.integration.create({
      data: {
        orgId: org.orgId,
        stableKey: `int${i}`,
        name: `Integration ${i}`,
        connections: { createMany: { data: connections.map((k) => ({ connectionId: k.id })) } },
      },
    });
    await prisma.instance.createMany({
      data: org.customers.map((c) => ({ orgId: org.orgId, integrationId: integration.id, customerId: c.id, name: `I${i} for ${c.externalId}` })),
    });
  }
  for (const c of org.customers) {
    for (let w = 0; w < n; w++) {
      const wf = await prisma.workflow.create({ data: { orgId: org.orgId, customerId: c.id, name: `W${w}` } });
      await prisma.workflowStep.createMany({
        data: connections.map((k, s) => ({ workflowId: wf.id, position: s, name: `S${s}`, connectorId: k.connectorId, connectionId: k.id })),
      });
    }
  }
  return org;
}

beforeAll(async () => {
  gw = await startGateway();
  orgs.set(2, await seedLevels(2));
  orgs.set(10, await seedLevels(10));
});
afterAll(async () => gw?.close());

async function statements<R, V>(doc: Parameters<typeof gql<R, V>>[1], n: number, check: (data: R) => void): Promise<string[]> {
  const token = orgs.get(n)!.adminToken;
  await gql(gw.url, doc, {} as V, token); // warm-up: authentication caches and the like
  gw.resetQueries();
  const r = await gql(gw.url, doc, {} as V, token);
  // The live feed polls FeedEvent in the background; those statements are not the request's.
  const sql = gw.queries.filter((q) => !/"FeedEvent"/.test(q));
  expect(r.errors).toBeUndefined();
  check(r.data as R);
  return sql;
}

describe('no N+1', () => {
  it('org → customers → connection values → connection → connector', async () => {
    const small = await statements(DeepValues, 2, (d) => {
      expect(d.viewer.organization.customers.edges.flatMap((e) => e.node.connectionValues.edges)).toHaveLength(4);
    });
    const large = await statements(DeepValues, 10, (d) => {
      const values = d.viewer.organization.customers.edges.flatMap((e) => e.node.connectionValues.edges);
      expect(values).toHaveLength(100);
      expect(values[0]!.node.connection.connector.key).toMatch(/^app/);
    });
    expect(large.length, `small:\n${small.join('\n')}\nlarge:\n${large.join('\n')}`).toBe(small.length);
  });

  it('integrations → connections, instances → customer, readiness (batched)', async () => {
    const small = await statements(DeepInstances, 2, (d) => {
      expect(d.integrations.edges.flatMap((e) => e.node.instances.edges)).toHaveLength(4);
    });
    const large = await statements(DeepInstances, 10, (d) => {
      const instances = d.integrations.edges.flatMap((e) => e.node.instances.edges.map((x) => x.node));
      expect(instances).toHaveLength(100);
      expect(instances.some((i) => !i.readiness.ready && i.readiness.missing.length > 0)).toBe(true);
    });
    expect(large.length, `statements:\n${large.join('\n')}`).toBe(small.length);
  });

  it('customers → workflows → steps', async () => {
    const small = await statements(DeepWorkflows, 2, (d) => {
      expect(d.customers.edges.flatMap((e) => e.node.workflows.edges.flatMap((w) => w.node.steps))).toHaveLength(8);
    });
    const large = await statements(DeepWorkflows, 10, (d) => {
      expect(d.customers.edges.flatMap((e) => e.node.workflows.edges.flatMap((w) => w.node.steps))).toHaveLength(1000);
    });
    expect(large.length, `statements:\n${large.join('\n')}`).toBe(small.length);
  });

  it('workflows → steps → connector, connection, opaque option, selectability', async () => {
    const small = await statements(DeepSteps, 2, (d) => {
      expect(d.workflows.edges.flatMap((w) => w.node.steps)).toHaveLength(8);
    });
    const large = await statements(DeepSteps, 10, (d) => {
      const steps = d.workflows.edges.flatMap((w) => w.node.steps);
      expect(steps).toHaveLength(100);
      expect(steps.filter((s) => s.connectionSelectable).length).toBeGreaterThan(0);
      expect(steps.every((s) => s.selectedConnection && s.connector?.key === s.connectorKey)).toBe(true);
    });
    expect(large.length, `statements:\n${large.join('\n')}`).toBe(small.length);
  });
});
