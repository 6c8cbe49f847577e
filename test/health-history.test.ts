import { describe, expect, it } from 'vitest';
import type { SeededOrg } from '../src/seed/demo.js';
import { graphql } from './gql/index.js';
import { gid, gql } from './helpers/client.js';
import { makeConnection, makeConnector, setStatus } from './helpers/fixtures.js';
import type { TestGateway } from './helpers/gateway.js';
import { useWorld } from './helpers/world.js';

const History = graphql(`
  query HealthHistory($id: ID!, $first: Int, $after: String) {
    node(id: $id) {
      ... on ConnectionValue {
        status
        history(first: $first, after: $after) {
          pageInfo { hasNextPage endCursor }
          edges { node { from to cause message actorKind via at } }
        }
      }
    }
  }
`);

const SetMine = graphql(`
  mutation HealthSetMine($connectionId: ID!, $values: JSON!) {
    setMyConnectionValue(connectionId: $connectionId, values: $values) {
      __typename
      ... on MutationSetMyConnectionValueSuccess { data { id status } }
      ... on Error { code message }
    }
  }
`);

const ClearMine = graphql(`
  mutation HealthClearMine($connectionId: ID!) {
    clearMyConnectionValue(connectionId: $connectionId) { __typename ... on MutationClearMyConnectionValueSuccess { data } }
  }
`);

const SetAsAdmin = graphql(`
  mutation HealthSetAsAdmin($target: ConnectionValueTarget!, $values: JSON!) {
    setConnectionValue(target: $target, values: $values) { __typename ... on Error { code } }
  }
`);

const ConnectionHistory = graphql(`
  query HealthConnectionHistory($id: ID!) {
    node(id: $id) { ... on Connection { statusHistory(first: 50) { edges { node { from to cause } } } } }
  }
`);

let gw: TestGateway;
let org: SeededOrg;
let other: SeededOrg;
let connectionId: string;

useWorld({ orgs: { org: { customers: ['acme', 'globex'] }, other: { customers: ['initech'] } }, timeout: 60_000 }, async (w) => {
  ({ gw, org, other } = w);
  const connector = await makeConnector(gw.app, org.orgId, { key: 'crm', name: 'CRM', authType: 'SECRET_TEXT' });
  connectionId = (await makeConnection(gw.app, org.orgId, { stableKey: 'crm', name: 'CRM', connectorId: connector.id, type: 'CUSTOMER_ACTIVATED' })).id;
});

const transitions = (res: Awaited<ReturnType<typeof readHistory>>) =>
  res.data?.node && 'history' in res.data.node ? res.data.node.history.edges.map((e) => `${e.node.from ?? '∅'}→${e.node.to ?? '∅'} ${e.node.cause}`) : null;

function readHistory(valueId: string, token: string, page: { first?: number; after?: string } = {}) {
  return gql(gw.url, History, { id: gid('ConnectionValue', valueId), ...page }, token);
}

describe('status history of a connection value', () => {
  it('records every transition with cause, time and actor, in order, cleared values included, readable with the value', async () => {
    const [acme, globex] = org.customers;
    const connection = gid('Connection', connectionId);
    const first = await gql(gw.url, SetMine, { connectionId: connection, values: { secret_text: 'first-secret-1234' } }, acme!.userToken);
    expect(first.data?.setMyConnectionValue.__typename).toBe('MutationSetMyConnectionValueSuccess');
    const firstId = (first.data?.setMyConnectionValue as { data: { id: string } }).data.id;
    const valueRow = await gw.app.db.prisma.connectionValue.findFirstOrThrow({ where: { connectionId, slot: acme!.id } });
    await setStatus(gw.app, connectionId, acme!.id, 'ERROR', 'The API answered 401');
    // Entering the same credentials again while ERROR: recovered.
    const reentered = await gql(gw.url, SetMine, { connectionId: connection, values: { secret_text: 'second-secret-5678' } }, acme!.userToken);
    // Reconnect in place: re-entering credentials keeps the value's id (and so whatever refers to it).
    expect((reentered.data?.setMyConnectionValue as { data: { id: string } }).data.id).toBe(firstId);
    await setStatus(gw.app, connectionId, acme!.id, 'EXPIRED', 'Authorization expired');
    const beforeClear = await readHistory(valueRow.id, org.adminToken);
    await gql(gw.url, ClearMine, { connectionId: connection }, acme!.userToken);
    const again = await gql(gw.url, SetMine, { connectionId: connection, values: { secret_text: 'third-secret-9012' } }, acme!.userToken);
    const newId = (again.data?.setMyConnectionValue as { data: { id: string } }).data.id;
    expect(newId).not.toBe(firstId);
    const newRow = await gw.app.db.prisma.connectionValue.findFirstOrThrow({ where: { connectionId, slot: acme!.id } });

    const expected = [
      '∅→ACTIVE connectionValue.set',
      'ACTIVE→ERROR status.set',
      'ERROR→ACTIVE connectionValue.set',
      'ACTIVE→EXPIRED status.set',
      'EXPIRED→∅ connectionValue.clear',
      '∅→ACTIVE connectionValue.set',
    ];
    const asAdmin = beforeClear;
    expect(transitions(asAdmin)).toEqual(expected.slice(0, 4));
    expect(transitions(await readHistory(newRow.id, org.adminToken))).toEqual(expected.slice(5));
    // The connection's history keeps the cleared value's transitions, for whoever may see that slot.
    const slotHistory = async (token: string) => {
      const res = await gql(gw.url, ConnectionHistory, { id: connection }, token);
      const node = res.data?.node;
      return node && 'statusHistory' in node ? node.statusHistory.edges.map((e) => `${e.node.from ?? '∅'}→${e.node.to ?? '∅'} ${e.node.cause}`) : null;
    };
    expect(await slotHistory(org.adminToken)).toEqual(expected);
    expect(await slotHistory(acme!.userToken)).toEqual(expected);
    expect(await slotHistory(globex!.userToken)).toEqual([]);
    expect(await slotHistory(other.adminToken)).toBeNull();
    const nodes = (asAdmin.data!.node as { history: { edges: { node: { message: string | null; actorKind: string; via: string; at: string } }[] } }).history.edges.map((e) => e.node);
    expect(nodes[1]).toMatchObject({ message: 'The API answered 401', actorKind: 'ORG_USER', via: 'system' });
    expect(nodes[0]).toMatchObject({ message: null, actorKind: 'CUSTOMER_USER', via: 'graphql' });
    expect(new Date(nodes[0]!.at).getTime()).toBeLessThanOrEqual(new Date(nodes[3]!.at).getTime());
    expect(valueRow.id).not.toBe(newRow.id);

    // The customer user who owns the value reads the same history; another customer, another org: it does not exist.
    const [mine, reset] = [await readHistory(newRow.id, acme!.userToken), await setStatus(gw.app, connectionId, acme!.id, 'ERROR', 'again')];
    expect(transitions(mine)).toEqual(expected.slice(5));
    expect(reset.status).toBe('ERROR');
    await setStatus(gw.app, connectionId, acme!.id, 'ACTIVE');
    await setStatus(gw.app, connectionId, acme!.id, 'EXPIRED', 'gone');
    expect((await readHistory(newRow.id, globex!.userToken)).data?.node).toBeNull();
    expect((await readHistory(newRow.id, other.adminToken)).data?.node).toBeNull();
    expect((await readHistory(newRow.id, acme!.runtimeToken)).data?.node ?? null).toBeNull();

    // Paginated: two at a time, in order, nothing twice.
    const all = ['∅→ACTIVE connectionValue.set', 'ACTIVE→ERROR status.set', 'ERROR→ACTIVE status.set', 'ACTIVE→EXPIRED status.set'];
    const seen: string[] = [];
    let after: string | undefined;
    for (;;) {
      const page = await readHistory(newRow.id, org.adminToken, { first: 2, ...(after ? { after } : {}) });
      seen.push(...transitions(page)!);
      const info = (page.data!.node as { history: { pageInfo: { hasNextPage: boolean; endCursor: string | null } } }).history.pageInfo;
      if (!info.hasNextPage) break;
      after = info.endCursor!;
    }
    expect(seen).toEqual(all);
  });

  it('records nothing for a change that did not happen (refused input) or did not change the status', async () => {
    const [, globex] = org.customers;
    const before = await gw.app.db.prisma.valueStatusChange.count();
    const refused = await gql(gw.url, SetAsAdmin, { target: { connectionId: gid('Connection', connectionId), slot: 'CUSTOMER', customerId: gid('Customer', globex!.id) }, values: { nope: 1 } }, org.adminToken);
    expect(refused.errors).toBeUndefined();
    expect(refused.data?.setConnectionValue.__typename).toBe('ValidationError');
    expect(await gw.app.db.prisma.valueStatusChange.count()).toBe(before);
    await gql(gw.url, SetAsAdmin, { target: { connectionId: gid('Connection', connectionId), slot: 'CUSTOMER', customerId: gid('Customer', globex!.id) }, values: { secret_text: 'globex-secret-1' } }, org.adminToken);
    await gql(gw.url, SetAsAdmin, { target: { connectionId: gid('Connection', connectionId), slot: 'CUSTOMER', customerId: gid('Customer', globex!.id) }, values: { secret_text: 'globex-secret-2' } }, org.adminToken);
    expect(await gw.app.db.prisma.valueStatusChange.count()).toBe(before + 1);
  });
});
