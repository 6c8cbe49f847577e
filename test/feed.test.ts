import { encodeId } from '../src/ids.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findConnection } from '../src/modules/connections/service.js';
import { setValue, setValueStatus } from '../src/modules/values/service.js';
import { pruneFeedEvents } from '../src/modules/feed/retention.js';
import { seedOrg, type SeededOrg } from '../src/seed/demo.js';
import { signEmbedToken } from '../src/seed/embed.js';
import { graphql } from './gql/index.js';
import { gql } from './helpers/client.js';
import type { TestGateway } from './helpers/gateway.js';
import { Collector, currentCursor, wsClient } from './helpers/feed.js';
import { asOrg, makeConnector } from './helpers/fixtures.js';
import { useWorld } from './helpers/world.js';

/**
 * The live feed over real graphql-ws clients: every cause of a change of the
 * "available to select" set reaches exactly the subscribers of the affected
 * customer, once, in order; reconnecting with a cursor loses nothing.
 */
const Feed = graphql(`
  subscription Feed($customerId: ID, $connectorId: ID, $after: String) {
    availableConnectionsChanged(customerId: $customerId, connectorId: $connectorId, after: $after) {
      cursor
      kind
      connectionId
      connection { id name connectorKey connectorName }
    }
  }
`);

const CreateConnection = graphql(`
  mutation FeedCreateConnection($input: ConnectionInput!) {
    createConnection(input: $input) {
      __typename
      ... on MutationCreateConnectionSuccess { data { id } }
      ... on Error { code message }
    }
  }
`);

const UpdateConnection = graphql(`
  mutation FeedUpdateConnection($id: ID!, $patch: ConnectionPatch!) {
    updateConnection(id: $id, patch: $patch) {
      __typename
      ... on MutationUpdateConnectionSuccess { data { id } }
      ... on Error { code message }
    }
  }
`);

const ArchiveConnection = graphql(`
  mutation FeedArchiveConnection($id: ID!) {
    archiveConnection(id: $id) {
      __typename
      ... on MutationArchiveConnectionSuccess { data { id } }
      ... on Error { code message }
    }
  }
`);

const DeleteConnection = graphql(`
  mutation FeedDeleteConnection($id: ID!) {
    deleteConnection(id: $id) {
      __typename
      ... on Error { code message }
    }
  }
`);

const SetValue = graphql(`
  mutation FeedSetValue($target: ConnectionValueTarget!, $values: JSON!) {
    setConnectionValue(target: $target, values: $values) {
      __typename
      ... on MutationSetConnectionValueSuccess { data { id status } }
      ... on Error { code message }
    }
  }
`);

const SetMyValue = graphql(`
  mutation FeedSetMyValue($connectionId: ID!, $values: JSON!) {
    setMyConnectionValue(connectionId: $connectionId, values: $values) {
      __typename
      ... on MutationSetMyConnectionValueSuccess { data { id status } }
      ... on Error { code message }
    }
  }
`);

const CreateCustomer = graphql(`
  mutation FeedCreateCustomer($input: CustomerInput!) {
    createCustomer(input: $input) {
      __typename
      ... on MutationCreateCustomerSuccess { data { id } }
    }
  }
`);

let gw: TestGateway;
let acme: SeededOrg;
let other: SeededOrg;
let slack: string;
let twilio: string;
let otherSlack: string;
const gidCustomer = (id: string) => encodeId('Customer', id);

async function ok<T extends { errors?: unknown; data?: unknown }>(p: Promise<T>): Promise<T> {
  const r = await p;
  expect(r.errors).toBeUndefined();
  const payload = Object.values((r.data ?? {}) as Record<string, { __typename?: string; message?: string }>)[0];
  expect(payload?.__typename, JSON.stringify(payload)).toMatch(/Success$/);
  return r;
}

async function createConnection(org: SeededOrg, input: Record<string, unknown>): Promise<string> {
  const r = await ok(gql(gw.url, CreateConnection, { input: input as never }, org.adminToken));
  return (r.data!.createConnection as { data: { id: string } }).data.id;
}

async function connector(orgId: string, key: string): Promise<string> {
  const fields = [{ key: 'token', label: 'Token', type: 'STRING', required: true, secret: true }];
  const c = await makeConnector(gw.app, orgId, { key, name: key.toUpperCase(), authType: 'SECRET_TEXT', fields });
  return encodeId('Connector', c.id);
}

useWorld({ env: { LOG_LEVEL: process.env.FEED_LOG ?? 'silent' }, orgs: { acme: { customers: ['a', 'b'] }, other: { customers: ['x'] } } }, async (w) => {
  ({ gw, acme, other } = w);
  slack = await connector(acme.orgId, 'slack');
  twilio = await connector(acme.orgId, 'twilio');
  otherSlack = await connector(other.orgId, 'slack');
});

describe('authentication and scope', () => {
  it('closes the socket with 4403 for a missing or bad credential', async () => {
    for (const token of [null, 'not-a-token', 'cgk_nope']) {
      const client = wsClient(gw.url, token);
      const c = new Collector(client, Feed, {});
      await c.until((x) => x.errors.length > 0, 10_000, 'close');
      expect(client.closeCode()).toBe(4403);
      await client.dispose();
    }
  });

  it('refuses runtimes, hides other orgs’ customers and requires customerId for org principals', async () => {
    const cases: [string, Record<string, unknown>, string][] = [
      [acme.customers[0]!.runtimeToken, {}, 'FORBIDDEN'],
      [acme.adminToken, { customerId: gidCustomer(other.customers[0]!.id) }, 'NOT_FOUND'],
      [acme.adminToken, { customerId: 'bm9wZQ==' }, 'NOT_FOUND'],
      [acme.adminToken, {}, 'VALIDATION_FAILED'],
      [acme.customers[0]!.userToken, { customerId: gidCustomer(acme.customers[1]!.id) }, 'NOT_FOUND'],
      [acme.adminToken, { customerId: gidCustomer(acme.customers[0]!.id), connectorId: otherSlack }, 'NOT_FOUND'],
      [acme.adminToken, { customerId: gidCustomer(acme.customers[0]!.id), after: 'abc' }, 'VALIDATION_FAILED'],
    ];
    for (const [token, vars, code] of cases) {
      const client = wsClient(gw.url, token);
      const c = new Collector(client, Feed, vars);
      await c.until((x) => x.errors.length > 0 || x.completed, 10_000, code);
      expect(JSON.stringify(c.errors), JSON.stringify(vars)).toContain(code);
      expect(c.events).toHaveLength(0);
      await client.dispose();
    }
  });

  it('ends the subscription when the embed token expires', async () => {
    const token = await signEmbedToken(acme.signer, { userId: 'short-lived', customerExternalId: 'a' }, 2);
    const client = wsClient(gw.url, token);
    const c = new Collector(client, Feed, {});
    await c.until((x) => x.completed || x.errors.length > 0, 10_000, 'completion at expiry');
    expect(c.completed).toBe(true);
    expect(c.errors).toHaveLength(0);
    await client.dispose();
  });
});

describe('every cause reaches exactly the affected customers', () => {
  let a: Collector, b: Collector, orgA: Collector, orgASlack: Collector, x: Collector;
  const clients: ReturnType<typeof wsClient>[] = [];
  let marker: string;
  let markerRound = 0;
  const seen = { a: 0, b: 0, orgA: 0, orgASlack: 0, x: 0 };

  beforeAll(async () => {
    const after = await currentCursor(gw.db.prisma);
    const open = (token: string, vars: Record<string, unknown>) => {
      const client = wsClient(gw.url, token);
      clients.push(client);
      return new Collector(client, Feed, { after, ...vars });
    };
    a = open(acme.customers[0]!.userToken, {});
    b = open(acme.customers[1]!.userToken, { customerId: gidCustomer(acme.customers[1]!.id) });
    orgA = open(acme.apiKey, { customerId: gidCustomer(acme.customers[0]!.id) });
    orgASlack = open(acme.adminToken, { customerId: gidCustomer(acme.customers[0]!.id), connectorId: slack });
    x = open(other.customers[0]!.userToken, {});
    // A global connection of each org, available to everyone: renaming it is a
    // marker every subscriber of that org receives (UPDATED), after everything before it.
    marker = await createConnection(acme, {
      stableKey: 'marker',
      name: 'marker',
      connectorId: slack,
      type: 'ORG_ACTIVATED_GLOBAL',
      availableInWorkflows: true,
    });
    await ok(gql(gw.url, SetValue, { target: { connectionId: marker, slot: 'GLOBAL' }, values: { token: 'm-secret' } }, acme.adminToken));
    const otherMarker = await createConnection(other, {
      stableKey: 'marker',
      name: 'marker',
      connectorId: otherSlack,
      type: 'ORG_ACTIVATED_GLOBAL',
      availableInWorkflows: true,
    });
    await ok(gql(gw.url, SetValue, { target: { connectionId: otherMarker, slot: 'GLOBAL' }, values: { token: 'm-secret' } }, other.adminToken));
    for (const c of [a, b, orgA, orgASlack]) await c.count(1);
    await x.count(1);
    for (const [k, c] of Object.entries({ a, b, orgA, orgASlack, x })) {
      expect(c.events.map((e) => e.kind)).toEqual(['ADDED']);
      seen[k as keyof typeof seen] = 1;
    }
  });
  afterAll(async () => {
    for (const c of clients) await c.dispose();
  });

  /**
   * Runs a change, then the marker; returns what each acme subscriber received
   * in between (other org's subscriber must receive nothing at all).
   */
  async function change(fn: () => Promise<unknown>) {
    await fn();
    markerRound++;
    await ok(gql(gw.url, UpdateConnection, { id: marker, patch: { name: `marker ${markerRound}` } }, acme.adminToken));
    const got: Record<string, { kind: string; name: string | null; connectionId: string | null }[]> = {};
    for (const [k, c] of Object.entries({ a, b, orgA, orgASlack })) {
      await c.until((col) => col.events.slice(seen[k as keyof typeof seen]).some((e) => e.connection?.name === `marker ${markerRound}`), 15_000, `marker ${markerRound} on ${k}`);
      const fresh = c.events.slice(seen[k as keyof typeof seen]);
      seen[k as keyof typeof seen] = c.events.length;
      const markerIdx = fresh.findIndex((e) => e.connection?.name === `marker ${markerRound}`);
      expect(markerIdx, `marker is the last event of ${k}`).toBe(fresh.length - 1);
      got[k] = fresh.slice(0, -1).map((e) => ({ kind: e.kind, name: e.connection?.name ?? null, connectionId: e.connectionId ?? null }));
    }
    return got;
  }

  it('a customer finishing its credentials: ADDED for that customer only', async () => {
    const cust = await createConnection(acme, { stableKey: 'cust', name: 'Cust', connectorId: slack, type: 'CUSTOMER_ACTIVATED', availableInWorkflows: true });
    const got = await change(() => ok(gql(gw.url, SetMyValue, { connectionId: cust, values: { token: 'a-secret' } }, acme.customers[0]!.userToken)));
    expect(got.a).toEqual([{ kind: 'ADDED', name: 'Cust', connectionId: cust }]);
    expect(got.orgA).toEqual(got.a);
    expect(got.orgASlack).toEqual(got.a);
    expect(got.b).toEqual([]);
    // Changing the credentials again: UPDATED.
    const again = await change(() => ok(gql(gw.url, SetMyValue, { connectionId: cust, values: { token: 'a-secret-2' } }, acme.customers[0]!.userToken)));
    expect(again.a).toEqual([{ kind: 'UPDATED', name: 'Cust', connectionId: cust }]);
    expect(again.b).toEqual([]);
    // Toggling availableInWorkflows off, then on.
    const off = await change(() => ok(gql(gw.url, UpdateConnection, { id: cust, patch: { availableInWorkflows: false } }, acme.adminToken)));
    expect(off.a).toEqual([{ kind: 'REMOVED', name: 'Cust', connectionId: cust }]);
    expect(off.b).toEqual([]);
    const on = await change(() => ok(gql(gw.url, UpdateConnection, { id: cust, patch: { availableInWorkflows: true } }, acme.adminToken)));
    expect(on.a).toEqual([{ kind: 'ADDED', name: 'Cust', connectionId: cust }]);
  });

  it('the org setting a per-customer value, which then goes ERROR and EXPIRED', async () => {
    const orgCust = await createConnection(acme, { stableKey: 'orgcust', name: 'OrgCust', connectorId: twilio, type: 'ORG_ACTIVATED_CUSTOMER', availableInWorkflows: true });
    let valueId = '';
    const got = await change(async () => {
      const r = await ok(gql(gw.url, SetValue, { target: { connectionId: orgCust, slot: 'CUSTOMER', customerId: gidCustomer(acme.customers[1]!.id) }, values: { token: 'b-secret' } }, acme.adminToken));
      valueId = (r.data!.setConnectionValue as { data: { id: string } }).data.id;
    });
    expect(got.b).toEqual([{ kind: 'ADDED', name: 'OrgCust', connectionId: orgCust }]);
    expect(got.a).toEqual([]);
    const rawId = Buffer.from(valueId, 'base64').toString().split(':')[1]!;
    const error = await change(() => asOrg(gw.app, acme.orgId, (op) => setValueStatus(op, rawId, 'ERROR', 'token rejected')));
    expect(error.b).toEqual([{ kind: 'REMOVED', name: 'OrgCust', connectionId: orgCust }]);
    expect(error.a).toEqual([]);
    await change(() => asOrg(gw.app, acme.orgId, (op) => setValueStatus(op, rawId, 'ACTIVE')));
    const expired = await change(() => asOrg(gw.app, acme.orgId, (op) => setValueStatus(op, rawId, 'EXPIRED', 'token expired')));
    expect(expired.b).toEqual([{ kind: 'REMOVED', name: 'OrgCust', connectionId: orgCust }]);
    // The connector filter: a twilio connection never reaches the slack-only subscriber.
    expect(expired.orgASlack).toEqual([]);
  });

  it('a global value, its allow-list, archive and delete', async () => {
    const global = await createConnection(acme, { stableKey: 'global', name: 'Global', connectorId: slack, type: 'ORG_ACTIVATED_GLOBAL', availableInWorkflows: true });
    const set = await change(() => ok(gql(gw.url, SetValue, { target: { connectionId: global, slot: 'GLOBAL' }, values: { token: 'g' } }, acme.adminToken)));
    expect(set.a).toEqual([{ kind: 'ADDED', name: 'Global', connectionId: global }]);
    expect(set.b).toEqual([{ kind: 'ADDED', name: 'Global', connectionId: global }]);
    const restrict = await change(() =>
      ok(gql(gw.url, UpdateConnection, { id: global, patch: { restrictToAllowList: true, allowedCustomerIds: [gidCustomer(acme.customers[0]!.id)] } }, acme.adminToken)),
    );
    expect(restrict.a).toEqual([]);
    expect(restrict.b).toEqual([{ kind: 'REMOVED', name: 'Global', connectionId: global }]);
    const archived = await change(() => ok(gql(gw.url, ArchiveConnection, { id: global }, acme.adminToken)));
    expect(archived.a).toEqual([{ kind: 'REMOVED', name: 'Global', connectionId: global }]);
    expect(archived.b).toEqual([]);

    const doomed = await createConnection(acme, { stableKey: 'doomed', name: 'Doomed', connectorId: slack, type: 'ORG_ACTIVATED_GLOBAL', availableInWorkflows: true });
    await change(() => ok(gql(gw.url, SetValue, { target: { connectionId: doomed, slot: 'GLOBAL' }, values: { token: 'd' } }, acme.adminToken)));
    const deleted = await change(() => ok(gql(gw.url, DeleteConnection, { id: doomed }, acme.adminToken)));
    // The connection is gone: the event still names it, without the option.
    expect(deleted.a).toEqual([{ kind: 'REMOVED', name: null, connectionId: doomed }]);
    expect(deleted.b).toEqual([{ kind: 'REMOVED', name: null, connectionId: doomed }]);
  });

  it('the other organization’s subscriber heard nothing but its own marker', () => {
    expect(x.events.map((e) => e.kind)).toEqual(['ADDED']);
    expect(x.errors).toEqual([]);
  });

  it('a new customer gets the unrestricted global connections, in the transaction that creates it', async () => {
    const before = await currentCursor(gw.db.prisma);
    const r = await ok(gql(gw.url, CreateCustomer, { input: { externalId: 'newcomer', name: 'Newcomer' } }, acme.adminToken));
    const id = (r.data!.createCustomer as { data: { id: string } }).data.id;
    const client = wsClient(gw.url, acme.adminToken);
    const c = new Collector(client, Feed, { customerId: id, after: before });
    await c.count(1);
    expect(c.events.map((e) => [e.kind, e.connection?.name])).toEqual([['ADDED', `marker ${markerRound}`]]);
    await client.dispose();
  });
});

describe('cursors', () => {
  it('reconnecting with a cursor during a burst of 1,000 changes receives every event exactly once, in order', { timeout: 180_000 }, async () => {
    const org = await seedOrg(gw.app, { customers: ['burst'] });
    const conn = await connector(org.orgId, 'burst');
    const id = await createConnection(org, { stableKey: 'burst', name: 'Burst', connectorId: conn, type: 'CUSTOMER_ACTIVATED', availableInWorkflows: true });
    const token = org.customers[0]!.userToken;
    const start = await currentCursor(gw.db.prisma);

    const first = wsClient(gw.url, token);
    const c1 = new Collector(first, Feed, { after: start });
    const N = 1000;
    // The same service calls the mutations make, without HTTP, so the burst is dense.
    const rawId = Buffer.from(id, 'base64').toString().split(':')[1]!;
    const slot = { kind: 'CUSTOMER' as const, customerId: org.customers[0]!.id };
    const burst = (async () => {
      for (let i = 0; i < N; i++) {
        await asOrg(gw.app, org.orgId, async (op) => setValue(op, await findConnection(op, { id: rawId }), slot, { values: { token: `t${i}` } }));
        // Real writers arrive over the network; a tight loop inside the gateway's own
        // process would monopolize PGlite's single connection and starve the sockets.
        await new Promise((r) => setImmediate(r));
      }
    })();
    await c1.count(150, 60_000);
    c1.close();
    await first.dispose();
    const last = c1.events.at(-1)!.cursor;

    const second = wsClient(gw.url, token);
    const c2 = new Collector(second, Feed, { after: last });
    await burst;
    const total = c1.events.length + c2.events.length;
    await c2.until((c) => c1.events.length + c.events.length >= N, 60_000, `${N} events`);
    // Give any duplicate a chance to show up before counting.
    const marker = await createConnection(org, { stableKey: 'm', name: 'm', connectorId: conn, type: 'CUSTOMER_ACTIVATED', availableInWorkflows: true });
    await ok(gql(gw.url, SetMyValue, { connectionId: marker, values: { token: 'x' } }, token));
    await c2.until((c) => c.events.some((e) => e.connection?.name === 'm'), 15_000, 'end marker');
    await second.dispose();

    const all = [...c1.events, ...c2.events].filter((e) => e.connection?.name !== 'm');
    expect(total).toBeLessThanOrEqual(N);
    expect(all).toHaveLength(N);
    expect(all.map((e) => e.kind)).toEqual(['ADDED', ...Array<string>(N - 1).fill('UPDATED')]);
    const cursors = all.map((e) => BigInt(e.cursor));
    expect(new Set(cursors).size).toBe(N);
    expect(cursors.every((c, i) => i === 0 || c > cursors[i - 1]!)).toBe(true);
  });

  it('a rolled-back change produces no event', async () => {
    const org = await seedOrg(gw.app, { customers: ['rb'] });
    const conn = await connector(org.orgId, 'rb');
    const id = await createConnection(org, { stableKey: 'rb', name: 'Rolled back', connectorId: conn, type: 'CUSTOMER_ACTIVATED', availableInWorkflows: true });
    const start = await currentCursor(gw.db.prisma);
    const client = wsClient(gw.url, org.customers[0]!.userToken);
    const c = new Collector(client, Feed, { after: start });
    const rawId = Buffer.from(id, 'base64').toString().split(':')[1]!;
    await expect(
      asOrg(gw.app, org.orgId, async (op) => {
        await setValue(op, await findConnection(op, { id: rawId }), { kind: 'CUSTOMER', customerId: org.customers[0]!.id }, { values: { token: 'nope' } });
        throw new Error('abort');
      }),
    ).rejects.toThrow('abort');
    await ok(gql(gw.url, SetMyValue, { connectionId: id, values: { token: 'yes' } }, org.customers[0]!.userToken));
    await c.count(1);
    await new Promise((r) => setTimeout(r, 300));
    expect(c.events).toHaveLength(1);
    expect(c.events[0]!.kind).toBe('ADDED');
    await client.dispose();
  });

  it('a cursor older than the retention gets RESYNC, then live events continue from its cursor', async () => {
    const org = await seedOrg(gw.app, { customers: ['old'] });
    const conn = await connector(org.orgId, 'old');
    const id = await createConnection(org, { stableKey: 'old', name: 'Old', connectorId: conn, type: 'CUSTOMER_ACTIVATED', availableInWorkflows: true });
    const token = org.customers[0]!.userToken;
    const stale = await currentCursor(gw.db.prisma);
    await ok(gql(gw.url, SetMyValue, { connectionId: id, values: { token: '1' } }, token));
    await ok(gql(gw.url, SetMyValue, { connectionId: id, values: { token: '2' } }, token));
    // Everything is older than a retention of zero hours, except the newest row, which is always kept.
    const pruned = await pruneFeedEvents(gw.db.prisma, 0, new Date(Date.now() + 1000));
    expect(pruned).toBeGreaterThan(0);
    expect(await gw.db.prisma.feedEvent.count()).toBe(1);

    const client = wsClient(gw.url, token);
    const c = new Collector(client, Feed, { after: stale });
    await c.count(1);
    expect(c.events[0]!.kind).toBe('RESYNC');
    expect(c.events[0]!.connection).toBeNull();
    const resyncCursor = c.events[0]!.cursor;
    await ok(gql(gw.url, SetMyValue, { connectionId: id, values: { token: '3' } }, token));
    await c.count(2);
    expect(c.events[1]!.kind).toBe('UPDATED');
    await client.dispose();

    // The RESYNC cursor is a valid resume point.
    const again = wsClient(gw.url, token);
    const c2 = new Collector(again, Feed, { after: resyncCursor });
    await c2.count(1);
    expect(c2.events.map((e) => e.kind)).toEqual(['UPDATED']);
    await again.dispose();
  });
});
