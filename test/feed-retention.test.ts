import { expect, it } from 'vitest';
import type { SeededOrg } from '../src/seed/demo.js';
import { graphql } from './gql/index.js';
import { makeConnection, makeConnector, putValue } from './helpers/fixtures.js';
import type { TestGateway } from './helpers/gateway.js';
import { Collector, wsClient } from './helpers/feed.js';
import { useWorld } from './helpers/world.js';

/** The gateway prunes feed events older than FEED_RETENTION_HOURS by itself; stale cursors get RESYNC. */
const Feed = graphql(`
  subscription RetentionFeed($after: String) {
    availableConnectionsChanged(after: $after) { cursor kind connectionId }
  }
`);

let gw: TestGateway;
let org: SeededOrg;

// About 1.1 seconds of retention; the pruner then runs every second.
useWorld({ env: { FEED_RETENTION_HOURS: '0.0003' }, orgs: { org: { customers: ['r'] } } }, (w) => ({ gw, org } = w));

it('prunes old events periodically, keeps the newest, and answers a pruned cursor with RESYNC', async () => {
  const fields = [{ key: 'token', label: 'Token', type: 'STRING', required: true, secret: true }];
  const connector = await makeConnector(gw.app, org.orgId, { key: 'k', name: 'K', authType: 'SECRET_TEXT', fields });
  const connection = await makeConnection(gw.app, org.orgId, { stableKey: 'c', name: 'C', connectorId: connector.id, type: 'CUSTOMER_ACTIVATED', availableInWorkflows: true });
  const slot = { kind: 'CUSTOMER' as const, customerId: org.customers[0]!.id };
  for (let i = 0; i < 3; i++) await putValue(gw.app, connection.id, slot, { token: `t${i}` });
  expect(await gw.db.prisma.feedEvent.count()).toBe(3);

  const deadline = Date.now() + 15_000;
  while ((await gw.db.prisma.feedEvent.count()) > 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
  const left = await gw.db.prisma.feedEvent.findMany();
  expect(left).toHaveLength(1);

  const client = wsClient(gw.url, org.customers[0]!.userToken);
  const c = new Collector(client, Feed, { after: '0' });
  await c.count(1);
  expect(c.events[0]).toMatchObject({ kind: 'RESYNC', connectionId: null, cursor: left[0]!.id.toString() });
  await client.dispose();
});
