import { afterAll, describe, expect, it } from 'vitest';
import { encodeId } from '../src/ids.js';
import type { SeededOrg } from '../src/seed/demo.js';
import { signEmbedToken } from '../src/seed/embed.js';
import { graphql } from './gql/index.js';
import { gql, http } from './helpers/client.js';
import { Collector, currentCursor, wsClient } from './helpers/feed.js';
import { makeApiKey, makeConnection, makeConnector, putValue } from './helpers/fixtures.js';
import type { TestGateway } from './helpers/gateway.js';
import { useWorld } from './helpers/world.js';

/**
 * Live-feed results are executed once per audience and shared: subscribers
 * with the same document, variables and visibility (principal kind,
 * organization, customer, limits) receive one result computed once; anyone
 * else gets its own. Sharing never crosses customers, and a subscriber that
 * may not follow a customer is refused whatever the others subscribed with.
 */
const Feed = graphql(`
  subscription SharedFeed($customerId: ID, $after: String) {
    availableConnectionsChanged(customerId: $customerId, after: $after) {
      cursor
      kind
      connection { id name }
    }
  }
`);

const Rename = graphql(`
  mutation SharedFeedRename($id: ID!, $patch: ConnectionPatch!) {
    updateConnection(id: $id, patch: $patch) {
      __typename
    }
  }
`);

let gw: TestGateway;
let org: SeededOrg;
let other: SeededOrg;
let connectionId: string;
const clients: ReturnType<typeof wsClient>[] = [];

async function counters(): Promise<{ executed: number; shared: number }> {
  const text = (await http(`${gw.url}/metrics`)).body;
  const value = (outcome: string) => Number(new RegExp(`gateway_subscription_results_total\\{outcome="${outcome}"\\} (\\d+)`).exec(text)?.[1] ?? 0);
  return { executed: value('executed'), shared: value('shared') };
}

async function rename(name: string): Promise<void> {
  const r = await gql(gw.url, Rename, { id: connectionId, patch: { name } }, org.adminToken);
  expect(r.data?.updateConnection.__typename).toBe('MutationUpdateConnectionSuccess');
}

useWorld({ orgs: { org: { customers: ['a', 'b'] }, other: { customers: ['x'] } } }, async (w) => {
  ({ gw, org, other } = w);
  for (const o of [org, other]) {
    const fields = [{ key: 'token', label: 'Token', type: 'STRING', required: true, secret: true }];
    await makeConnector(gw.app, o.orgId, { key: 'chat', name: 'Chat', authType: 'SECRET_TEXT', fields });
    const c = await makeConnection(gw.app, o.orgId, { stableKey: 'everyone', name: 'Everyone', connectorKey: 'chat', type: 'ORG_ACTIVATED_GLOBAL', availableInWorkflows: true });
    await putValue(gw.app, c.id, { kind: 'GLOBAL' }, { token: 'global-secret' });
    if (o === org) connectionId = encodeId('Connection', c.id);
  }
});
afterAll(async () => {
  for (const c of clients) await c.dispose();
});

describe('shared live-feed results', () => {
  it('executes once per (document, variables, visibility), per customer, and never crosses customers', async () => {
    const [a, b] = org.customers as [SeededOrg['customers'][0], SeededOrg['customers'][0]];
    const customerA = encodeId('Customer', a.id);
    const customerB = encodeId('Customer', b.id);
    const secondUserOfA = await signEmbedToken(org.signer, { userId: 'second-builder', customerExternalId: 'a' });
    const readOnlyKey = (await makeApiKey(gw.app, org.orgId, { readOnly: true })).secret;
    const after = await currentCursor(gw.db.prisma);

    // Every subscriber sends the same document; the customer it follows is its only variable.
    const subscribers = {
      userA: [a.userToken, customerA],
      secondUserA: [secondUserOfA, customerA], // another user of the same customer: shares with userA
      apiKeyA: [org.apiKey, customerA],
      readOnlyKeyA: [readOnlyKey, customerA], // other limits: its own result
      adminA: [org.adminToken, customerA],
      userB: [b.userToken, customerB],
      apiKeyB: [org.apiKey, customerB],
      userX: [other.customers[0]!.userToken, encodeId('Customer', other.customers[0]!.id)],
    } as const;
    const got = Object.fromEntries(
      Object.entries(subscribers).map(([name, [token, customerId]]) => {
        const client = wsClient(gw.url, token);
        clients.push(client);
        return [name, new Collector(client, Feed, { customerId, after })];
      }),
    ) as Record<keyof typeof subscribers, Collector>;
    // Customer B's user with customer A's variables, the very document and variables others share: refused.
    const intruderClient = wsClient(gw.url, b.userToken);
    clients.push(intruderClient);
    const intruder = new Collector(intruderClient, Feed, { customerId: customerA, after });
    await intruder.until((c) => c.errors.length > 0 || c.completed, 30_000, 'refusal');
    expect(JSON.stringify(intruder.errors)).toContain('NOT_FOUND');

    // A first change proves every subscription live (replayed or live: either way, before the measured one).
    await rename('warm-up');
    for (const [name, c] of Object.entries(got)) {
      if (name === 'userX') continue;
      await c.until((x) => x.events.some((e) => e.connection?.name === 'warm-up'), 30_000, `warm-up on ${name}`);
    }
    const before = await counters();

    await rename('renamed');
    const acme = Object.entries(got).filter(([name]) => name !== 'userX');
    for (const [name, c] of acme) await c.until((x) => x.events.some((e) => e.connection?.name === 'renamed'), 30_000, `rename on ${name}`);
    const delivered = Object.fromEntries(acme.map(([name, c]) => [name, c.events.find((e) => e.connection?.name === 'renamed')!]));

    // Customer A's subscribers all receive A's event; B's receive B's (another cursor), never A's.
    const onA = ['userA', 'secondUserA', 'apiKeyA', 'readOnlyKeyA', 'adminA'].map((n) => delivered[n]!);
    const onB = ['userB', 'apiKeyB'].map((n) => delivered[n]!);
    for (const e of [...onA, ...onB]) expect(e).toMatchObject({ kind: 'UPDATED', connection: { id: connectionId, name: 'renamed' } });
    expect(new Set(onA.map((e) => e.cursor)).size).toBe(1);
    expect(new Set(onB.map((e) => e.cursor)).size).toBe(1);
    expect(onA[0]!.cursor).not.toBe(onB[0]!.cursor);
    for (const [name, c] of Object.entries(got)) {
      const cursors = c.events.map((e) => e.cursor);
      expect(new Set(cursors).size, `${name}: nothing twice`).toBe(cursors.length);
    }
    for (const name of ['userB', 'apiKeyB'] as const) expect(got[name].events.map((e) => e.cursor)).not.toContain(onA[0]!.cursor);
    for (const name of ['userA', 'secondUserA', 'apiKeyA', 'readOnlyKeyA', 'adminA'] as const) {
      expect(got[name].events.map((e) => e.cursor)).not.toContain(onB[0]!.cursor);
    }
    // Another organization hears nothing of it, and the refused subscriber nothing at all.
    expect(got.userX.events).toHaveLength(0);
    expect(intruder.events).toHaveLength(0);

    // 7 deliveries, 6 audiences: the two users of customer A share one result.
    const after2 = await counters();
    expect({ executed: after2.executed - before.executed, shared: after2.shared - before.shared }).toEqual({ executed: 6, shared: 1 });
  });

  it('many subscribers of one customer: one execution per event, one event each', async () => {
    const customerId = encodeId('Customer', org.customers[0]!.id);
    const n = 25;
    const after = await currentCursor(gw.db.prisma);
    const many: Collector[] = [];
    for (let i = 0; i < n; i++) {
      const token = await signEmbedToken(org.signer, { userId: `builder-${i}`, customerExternalId: 'a' });
      const client = wsClient(gw.url, token);
      clients.push(client);
      many.push(new Collector(client, Feed, { customerId, after }));
    }
    await rename('warm-up 2');
    for (const c of many) await c.until((x) => x.events.some((e) => e.connection?.name === 'warm-up 2'), 30_000, 'warm-up 2');
    const before = await counters();
    await rename('many');
    for (const c of many) await c.until((x) => x.events.some((e) => e.connection?.name === 'many'), 30_000, 'many');
    const now = await counters();
    // The first test's subscribers are still open, with another cursor (`after` chooses the replay, not the
    // result): the 25 join userA's audience. Still 6 audiences.
    expect(now.executed - before.executed).toBe(6);
    expect(now.shared - before.shared).toBe(1 + n);
  });
});
