import { describe, expect, it } from 'vitest';
import type { SeededOrg } from '../src/seed/demo.js';
import { graphql } from './gql/index.js';
import { gid, gql, http } from './helpers/client.js';
import { makeConnection, makeConnector, setStatus } from './helpers/fixtures.js';
import type { TestGateway } from './helpers/gateway.js';
import { useWorld } from './helpers/world.js';

/**
 * Status history and the webhook delivery log page in SQL: a page after a
 * cursor, under a list of parents too, is the same single statement as a
 * first page — a keyset condition and a per-parent LIMIT — never every row
 * of every parent sliced in memory. Paging forward and backward visits every
 * row once, in order.
 */
const ConnectionsHistory = graphql(`
  query PagingConnectionsHistory($first: Int, $after: String, $last: Int, $before: String) {
    connections(first: 5) {
      edges { node { stableKey statusHistory(first: $first, after: $after, last: $last, before: $before) {
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
        edges { cursor node { to message at } }
      } } }
    }
  }
`);

const ValueHistory = graphql(`
  query PagingValueHistory($id: ID!, $first: Int, $after: String) {
    node(id: $id) { ... on ConnectionValue { history(first: $first, after: $after) { pageInfo { hasNextPage endCursor } edges { node { to message } } } } }
  }
`);

const Deliveries = graphql(`
  query PagingDeliveries($first: Int, $after: String, $status: WebhookDeliveryStatus) {
    webhookEndpoints(first: 5) {
      edges { node { url deliveries(first: $first, after: $after, status: $status) {
        pageInfo { hasNextPage endCursor }
        edges { node { eventType payload } }
      } } }
    }
  }
`);

const CreateEndpoint = graphql(`
  mutation PagingCreateEndpoint($input: WebhookEndpointInput!) {
    createWebhookEndpoint(input: $input) { __typename }
  }
`);

const CHANGES = 30;
const CUSTOMERS = 12;
let gw: TestGateway;
let org: SeededOrg;
let valueId: string;

useWorld({ env: { HEALTH_WORKERS: 'false' }, orgs: { org: { customers: ['acme'] } }, timeout: 60_000 }, async (w) => {
  ({ gw, org } = w);
  const connector = await makeConnector(gw.app, org.orgId, { key: 'crm', name: 'CRM', authType: 'SECRET_TEXT' });
  const connection = await makeConnection(gw.app, org.orgId, { stableKey: 'crm', name: 'CRM', connectorId: connector.id, type: 'ORG_ACTIVATED_CUSTOMER' });
  // CHANGES transitions, each with its number in the message.
  for (let i = 0; i < CHANGES; i++) {
    const v = await setStatus(gw.app, connection.id, org.customers[0]!.id, i % 2 ? 'ACTIVE' : 'ERROR', `change ${i}`);
    valueId = v.id;
  }
  // An endpoint (no worker here: its deliveries stay pending), then CUSTOMERS events for it.
  const created = await gql(gw.url, CreateEndpoint, { input: { url: 'https://hooks.example.com/in', eventTypes: ['CUSTOMER_CREATED'] } as never }, org.adminToken);
  expect(created.data?.createWebhookEndpoint.__typename).toBe('MutationCreateWebhookEndpointSuccess');
  for (let i = 0; i < CUSTOMERS; i++) {
    const r = await http(`${gw.url}/api/v1/projects`, { method: 'POST', token: org.apiKey, body: { displayName: `C${i}`, externalId: `paging-${i}` } });
    expect(r.status).toBe(201);
  }
});

/** The statements of one request. */
async function statementsOf(run: () => Promise<unknown>): Promise<string[]> {
  gw.resetQueries();
  await run();
  return [...gw.queries];
}

describe('history and the delivery log page in SQL', () => {
  it("a connection's history under the list of connections: forward then backward, every row once, one statement per page", async () => {
    const page = (vars: Record<string, unknown>) => gql(gw.url, ConnectionsHistory, vars, org.adminToken).then((r) => r.data!.connections.edges.find((e) => e.node.stableKey === 'crm')!.node.statusHistory);
    const forward: string[] = [];
    let after: string | null = null;
    for (;;) {
      let p!: Awaited<ReturnType<typeof page>>;
      const statements = await statementsOf(async () => (p = await page({ first: 7, after })));
      // One statement reads the history of every connection of the list: the cursor is a condition of the joined read, which keeps its LIMIT.
      expect(statements.filter((s) => s.includes('"ValueStatusChange"'))).toHaveLength(1);
      expect(statements.find((s) => s.includes('"ValueStatusChange"'))).toContain('"Connection"');
      if (after) {
        const history = statements.find((s) => s.includes('"ValueStatusChange"'))!;
        expect(history).toMatch(/"id" > \$\d+/);
        expect(history).toMatch(/LIMIT \$\d+ \/\* middle select \*\//);
      }
      forward.push(...p.edges.map((e) => `${e.node.to}:${e.node.message}`));
      if (!p.pageInfo.hasNextPage) break;
      after = p.pageInfo.endCursor;
    }
    const whole = (await page({ first: 100 })).edges.map((e) => `${e.node.to}:${e.node.message}`);
    expect(whole.length).toBeGreaterThanOrEqual(CHANGES);
    expect(whole).toContain('ERROR:change 28');
    expect(forward).toEqual(whole);

    const backward: string[] = [];
    let before: string | null = null;
    for (;;) {
      const p = await page({ last: 8, before });
      backward.unshift(...p.edges.map((e) => `${e.node.to}:${e.node.message}`));
      if (!p.pageInfo.hasPreviousPage) break;
      before = p.pageInfo.startCursor;
    }
    expect(backward).toEqual(forward);
  });

  it("a value's history through node(id), page after page", async () => {
    type History = { pageInfo: { hasNextPage: boolean; endCursor: string | null }; edges: { node: { to: string | null; message: string | null } }[] };
    const page = async (first: number, after: string | null): Promise<History> => {
      const r = await gql(gw.url, ValueHistory, { id: gid('ConnectionValue', valueId), first, after }, org.adminToken);
      return (r.data!.node as { history: History }).history;
    };
    const seen: string[] = [];
    let after: string | null = null;
    for (;;) {
      const h = await page(9, after);
      seen.push(...h.edges.map((e) => `${e.node.to}:${e.node.message}`));
      if (!h.pageInfo.hasNextPage) break;
      after = h.pageInfo.endCursor;
    }
    expect(seen.length).toBeGreaterThanOrEqual(CHANGES);
    expect(seen).toEqual((await page(100, null)).edges.map((e) => `${e.node.to}:${e.node.message}`));
  });

  it('the delivery log under the list of endpoints: newest first, every delivery once, filtered by status, in SQL', async () => {
    const page = (vars: Record<string, unknown>) => gql(gw.url, Deliveries, vars, org.adminToken).then((r) => r.data!.webhookEndpoints.edges[0]!.node.deliveries);
    const seen: string[] = [];
    let after: string | null = null;
    for (;;) {
      let p!: Awaited<ReturnType<typeof page>>;
      const statements = await statementsOf(async () => (p = await page({ first: 5, after, status: 'PENDING' })));
      if (after) {
        const log = statements.find((s) => s.includes('"WebhookDelivery"'))!;
        expect(log).toMatch(/"createdAt" < \$\d+/);
        expect(log).toMatch(/LIMIT \$\d+ \/\* middle select \*\//);
      }
      seen.push(...p.edges.map((e) => (e.node.payload as { data: { externalId: string } }).data.externalId));
      if (!p.pageInfo.hasNextPage) break;
      after = p.pageInfo.endCursor;
    }
    expect(seen).toEqual(Array.from({ length: CUSTOMERS }, (_, i) => `paging-${CUSTOMERS - 1 - i}`));
    expect((await page({ first: 5, status: 'SUCCEEDED' })).edges).toEqual([]);
  });

  it('a cursor this list did not give out: a typed error that does not quote it', async () => {
    const forged = Buffer.from(JSON.stringify(['not-a-number-zz9'])).toString('base64url');
    for (const after of ['zz9-garbage-cursor', forged]) {
      const r = await gql(gw.url, ConnectionsHistory, { first: 3, after }, org.adminToken);
      expect(r.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
      expect(JSON.stringify(r)).not.toContain('zz9');
    }
  });
});
