import { describe, expect, it } from 'vitest';
import type { SeededOrg } from '../src/seed/demo.js';
import { graphql } from './gql/index.js';
import { gql, responseLog } from './helpers/client.js';
import { makeApiKey } from './helpers/fixtures.js';
import type { TestGateway } from './helpers/gateway.js';
import { useWorld } from './helpers/world.js';

const CreateConnector = graphql(`
  mutation CCCreateConnector($input: ConnectorInput!) {
    createConnector(input: $input) {
      __typename
      ... on MutationCreateConnectorSuccess { data { id key authType fields { key secret required } } }
      ... on Error { code message }
      ... on ValidationError { problems { path message } }
    }
  }
`);

const CreateConnection = graphql(`
  mutation CCCreateConnection($input: ConnectionInput!) {
    createConnection(input: $input) {
      __typename
      ... on MutationCreateConnectionSuccess { data { id stableKey type availableInWorkflows connector { key } } }
      ... on Error { code message }
      ... on ValidationError { problems { path message } }
    }
  }
`);

const SetValue = graphql(`
  mutation CCSetValue($target: ConnectionValueTarget!, $values: JSON!, $replace: Boolean) {
    setConnectionValue(target: $target, values: $values, replace: $replace) {
      __typename
      ... on MutationSetConnectionValueSuccess {
        data { id kind status fields secrets { key set last4 } customer { externalId } }
      }
      ... on Error { code message }
      ... on ValidationError { problems { path message } }
    }
  }
`);

const SetMyValue = graphql(`
  mutation CCSetMyValue($connectionId: ID!, $values: JSON!) {
    setMyConnectionValue(connectionId: $connectionId, values: $values) {
      __typename
      ... on MutationSetMyConnectionValueSuccess { data { id status secrets { key set last4 } } }
      ... on Error { code message }
      ... on ValidationError { problems { path message } }
    }
  }
`);

const Connections = graphql(`
  query CCConnections($filter: ConnectionFilter) {
    connections(filter: $filter) {
      edges { node { id stableKey type name connector { key } } }
    }
  }
`);

const ConnectionDetail = graphql(`
  query CCConnectionDetail($id: ID!) {
    connection(id: $id) {
      id stableKey
      values { edges { node { status customer { externalId } secrets { key set last4 } fields } } }
      globalValue { status }
      testValue { status }
      usage { type name }
    }
  }
`);

const MyConnection = graphql(`
  query CCMyConnection($id: ID!) {
    connection(id: $id) { id stableKey myValue { status secrets { key set last4 } } }
  }
`);

const Archive = graphql(`
  mutation CCArchive($id: ID!, $archived: Boolean) {
    archiveConnection(id: $id, archived: $archived) {
      __typename
      ... on MutationArchiveConnectionSuccess { data { id archivedAt } }
      ... on Error { code }
    }
  }
`);

const Delete = graphql(`
  mutation CCDelete($id: ID!) {
    deleteConnection(id: $id) {
      __typename
      ... on MutationDeleteConnectionSuccess { data }
      ... on Error { code message }
      ... on InUseError { usedBy { type name } }
    }
  }
`);

const UpdateConnection = graphql(`
  mutation CCUpdate($id: ID!, $patch: ConnectionPatch!) {
    updateConnection(id: $id, patch: $patch) {
      __typename
      ... on MutationUpdateConnectionSuccess { data { id name availableInWorkflows } }
      ... on Error { code message }
    }
  }
`);

const SECRET = 'sk_live_4242424242abcdef';
const CUSTOMER_SECRET = 'customer-own-secret-123456';
let gw: TestGateway;
let org: SeededOrg;
let other: SeededOrg;
const ids: Record<string, string> = {};

function ok<T extends { __typename: string }>(r: { data?: Record<string, T> | null; errors?: unknown }, field: string) {
  const v = r.data?.[field];
  if (!v || !v.__typename.endsWith('Success')) throw new Error(`${field} failed: ${JSON.stringify(r)}`);
  return (v as unknown as { data: any }).data;
}

useWorld({ orgs: { org: { customers: ['a', 'b'] }, other: { customers: ['a'] } } }, async (w) => {
  ({ gw, org, other } = w);

  const custom = ok(
    await gql(gw.url, CreateConnector, {
      input: {
        key: 'acme-api',
        name: 'Acme API',
        authType: 'CUSTOM_AUTH',
        fields: [
          { key: 'baseUrl', label: 'Base URL', type: 'URL', required: true },
          { key: 'apiKey', label: 'API key', type: 'STRING', required: true, secret: true },
          { key: 'region', label: 'Region', type: 'STRING', required: false },
        ],
      },
    }, org.adminToken),
    'createConnector',
  );
  ids.custom = custom.id;
  const twilio = ok(await gql(gw.url, CreateConnector, { input: { key: 'twilio', name: 'Twilio', authType: 'SECRET_TEXT' } }, org.apiKey), 'createConnector');
  ids.twilio = twilio.id;
  expect(twilio.fields).toEqual([{ key: 'secret_text', secret: true, required: true }]);

  for (const [key, type, connectorKey] of [
    ['acme-customer', 'CUSTOMER_ACTIVATED', 'acme-api'],
    ['acme-org', 'ORG_ACTIVATED_CUSTOMER', 'acme-api'],
    ['twilio-global', 'ORG_ACTIVATED_GLOBAL', 'twilio'],
  ] as const) {
    const c = ok(
      await gql(gw.url, CreateConnection, { input: { stableKey: key, name: key, type, connectorKey, availableInWorkflows: true } }, org.adminToken),
      'createConnection',
    );
    ids[key] = c.id;
  }
});

describe('connectors', () => {
  it('rejects bad definitions with a typed error naming the field', async () => {
    const r = await gql(gw.url, CreateConnector, {
      input: { key: 'x', name: 'x', authType: 'OAUTH2' },
    }, org.adminToken);
    expect(r.data?.createConnector).toMatchObject({ __typename: 'ValidationError', problems: [{ path: 'input.oauth2' }] });
    const dup = await gql(gw.url, CreateConnector, { input: { key: 'twilio', name: 'again', authType: 'SECRET_TEXT' } }, org.adminToken);
    expect(dup.data?.createConnector).toMatchObject({ __typename: 'ConflictError', code: 'CONFLICT' });
  });
});

describe('connections', () => {
  it('stableKey is unique per org but free in another org', async () => {
    const again = await gql(gw.url, CreateConnection, { input: { stableKey: 'acme-customer', name: 'x', type: 'CUSTOMER_ACTIVATED', connectorKey: 'acme-api' } }, org.adminToken);
    expect(again.data?.createConnection).toMatchObject({ __typename: 'ConflictError' });
    await gql(gw.url, CreateConnector, { input: { key: 'acme-api', name: 'Acme', authType: 'NO_AUTH' } }, other.adminToken);
    const elsewhere = await gql(gw.url, CreateConnection, { input: { stableKey: 'acme-customer', name: 'x', type: 'CUSTOMER_ACTIVATED', connectorKey: 'acme-api' } }, other.adminToken);
    expect(elsewhere.data?.createConnection.__typename).toBe('MutationCreateConnectionSuccess');
  });

  it('a connector of another org cannot be used', async () => {
    const r = await gql(gw.url, CreateConnection, { input: { stableKey: 'steal', name: 'x', type: 'CUSTOMER_ACTIVATED', connectorId: ids.custom } }, other.adminToken);
    expect(r.data?.createConnection).toMatchObject({ __typename: 'ValidationError', problems: [{ path: 'input.connectorId' }] });
  });

  it('filters by type, connector, stableKey and name', async () => {
    const byType = await gql(gw.url, Connections, { filter: { type: 'ORG_ACTIVATED_GLOBAL' } }, org.adminToken);
    expect(byType.data?.connections.edges.map((e) => e.node.stableKey)).toEqual(['twilio-global']);
    const byConnector = await gql(gw.url, Connections, { filter: { connectorKey: 'acme-api' } }, org.adminToken);
    expect(byConnector.data?.connections.edges.map((e) => e.node.stableKey)).toEqual(['acme-customer', 'acme-org']);
    const search = await gql(gw.url, Connections, { filter: { search: 'TWILIO' } }, org.adminToken);
    expect(search.data?.connections.edges).toHaveLength(1);
  });
});

describe('values', () => {
  it('validates values against the connector: missing, wrong type, unknown — all named', async () => {
    const r = await gql(gw.url, SetValue, {
      target: { connectionId: ids['acme-org']!, slot: 'CUSTOMER', customerExternalId: 'a' },
      values: { baseUrl: 'not a url', colour: 'red' },
    }, org.adminToken);
    const res = r.data?.setConnectionValue;
    expect(res?.__typename).toBe('ValidationError');
    if (res?.__typename === 'ValidationError') {
      expect(res.problems.map((p) => p.path).sort()).toEqual(['values.apiKey', 'values.baseUrl', 'values.colour']);
    }
    expect(await gw.db.prisma.connectionValue.count()).toBe(0);
  });

  it('stores secrets encrypted and returns them masked only', async () => {
    const v = ok(
      await gql(gw.url, SetValue, {
        target: { connectionId: ids['acme-org']!, slot: 'CUSTOMER', customerExternalId: 'a' },
        values: { baseUrl: 'https://api.acme.test', apiKey: SECRET },
      }, org.apiKey),
      'setConnectionValue',
    );
    expect(v).toMatchObject({ kind: 'CUSTOMER', status: 'ACTIVE', fields: { baseUrl: 'https://api.acme.test' }, customer: { externalId: 'a' } });
    expect(v.secrets).toEqual([{ key: 'apiKey', set: true, last4: 'cdef' }]);
    const row = await gw.db.prisma.connectionValue.findFirstOrThrow({ where: { connectionId: (await gw.db.prisma.connection.findFirstOrThrow({ where: { stableKey: 'acme-org', orgId: org.orgId } })).id } });
    expect(JSON.stringify(row)).not.toContain(SECRET);
    expect((row.secrets as Record<string, string>).apiKey).toMatch(/^v1\.test1\./);
  });

  it('a partial update keeps secrets; null clears an optional field; replace starts over', async () => {
    const target = { connectionId: ids['acme-org']!, slot: 'CUSTOMER' as const, customerExternalId: 'a' };
    const withRegion = ok(await gql(gw.url, SetValue, { target, values: { region: 'eu' } }, org.adminToken), 'setConnectionValue');
    expect(withRegion.fields).toEqual({ baseUrl: 'https://api.acme.test', region: 'eu' });
    expect(withRegion.secrets[0].set).toBe(true);
    const cleared = ok(await gql(gw.url, SetValue, { target, values: { region: null } }, org.adminToken), 'setConnectionValue');
    expect(cleared.fields).toEqual({ baseUrl: 'https://api.acme.test' });
    const required = await gql(gw.url, SetValue, { target, values: { apiKey: null } }, org.adminToken);
    expect(required.data?.setConnectionValue).toMatchObject({ __typename: 'ValidationError', problems: [{ path: 'values.apiKey' }] });
    const replaced = await gql(gw.url, SetValue, { target, values: { baseUrl: 'https://x.test' }, replace: true }, org.adminToken);
    expect(replaced.data?.setConnectionValue).toMatchObject({ __typename: 'ValidationError', problems: [{ path: 'values.apiKey' }] });
  });

  it('global connections have one GLOBAL value; per-customer slots are refused', async () => {
    const wrong = await gql(gw.url, SetValue, { target: { connectionId: ids['twilio-global']!, slot: 'CUSTOMER', customerExternalId: 'a' }, values: { secret_text: SECRET } }, org.adminToken);
    expect(wrong.data?.setConnectionValue.__typename).toBe('ValidationError');
    ok(await gql(gw.url, SetValue, { target: { connectionStableKey: 'twilio-global', slot: 'GLOBAL' }, values: { secret_text: SECRET } }, org.adminToken), 'setConnectionValue');
    ok(await gql(gw.url, SetValue, { target: { connectionStableKey: 'twilio-global', slot: 'TEST' }, values: { secret_text: 'test-secret-value-0000' } }, org.adminToken), 'setConnectionValue');
    const d = await gql(gw.url, ConnectionDetail, { id: ids['twilio-global']! }, org.adminToken);
    expect(d.data?.connection).toMatchObject({ globalValue: { status: 'ACTIVE' }, testValue: { status: 'ACTIVE' } });
    // The test value is not one of the connection's production values.
    expect(d.data?.connection?.values.edges.length).toBe(1);
  });

  it('a customer user sets its own customer-activated credentials and sees only those', async () => {
    const a = org.customers[0]!;
    const b = org.customers[1]!;
    const mine = ok(await gql(gw.url, SetMyValue, { connectionId: ids['acme-customer']!, values: { baseUrl: 'https://a.test', apiKey: CUSTOMER_SECRET } }, a.userToken), 'setMyConnectionValue');
    expect(mine.secrets).toEqual([{ key: 'apiKey', set: true, last4: '3456' }]);
    const seenByA = await gql(gw.url, MyConnection, { id: ids['acme-customer']! }, a.userToken);
    expect(seenByA.data?.connection?.myValue?.status).toBe('ACTIVE');
    const seenByB = await gql(gw.url, MyConnection, { id: ids['acme-customer']! }, b.userToken);
    expect(seenByB.data?.connection?.myValue).toBeNull();
    // Org-activated connections do not exist for customer users.
    for (const key of ['acme-org', 'twilio-global']) {
      expect((await gql(gw.url, MyConnection, { id: ids[key]! }, a.userToken)).data?.connection).toBeNull();
      const set = await gql(gw.url, SetMyValue, { connectionId: ids[key]!, values: { apiKey: 'x' } }, a.userToken);
      expect(set.data?.setMyConnectionValue).toMatchObject({ __typename: 'NotFoundError' });
    }
    const list = await gql(gw.url, Connections, {}, a.userToken);
    expect(list.data?.connections.edges.map((e) => e.node.stableKey)).toEqual(['acme-customer']);
  });

  it('other orgs see nothing of it, whatever id they guess', async () => {
    for (const key of ['acme-customer', 'acme-org', 'twilio-global']) {
      expect((await gql(gw.url, ConnectionDetail, { id: ids[key]! }, other.adminToken)).data?.connection).toBeNull();
      const set = await gql(gw.url, SetValue, { target: { connectionId: ids[key]!, slot: 'GLOBAL' }, values: {} }, other.adminToken);
      expect(set.data?.setConnectionValue).toMatchObject({ __typename: 'NotFoundError' });
    }
  });

  it('runtime tokens and anonymous callers cannot read connections through GraphQL', async () => {
    const rt = await gql(gw.url, Connections, {}, org.customers[0]!.runtimeToken);
    expect(rt.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const anon = await gql(gw.url, Connections, {});
    expect(anon.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });
});

const DeleteEach = graphql(`
  mutation CCDeleteEach($connection: ID!, $connector: ID!, $customer: ID!) {
    deleteConnection(id: $connection) { __typename ... on MutationDeleteConnectionSuccess { data } ... on Error { code } }
    deleteConnector(id: $connector) { __typename ... on MutationDeleteConnectorSuccess { data } ... on Error { code } }
    deleteCustomer(id: $customer) { __typename ... on MutationDeleteCustomerSuccess { data } ... on Error { code } }
  }
`);

const CreateForDelete = graphql(`
  mutation CCCreateForDelete($connector: ConnectorInput!, $customer: CustomerInput!) {
    createConnector(input: $connector) { ... on MutationCreateConnectorSuccess { data { id } } }
    createCustomer(input: $customer) { ... on MutationCreateCustomerSuccess { data { id } } }
  }
`);

describe('archive and delete', () => {
  it('deletes answer the global id of what they deleted, as every GraphQL id is', async () => {
    const made = await gql(gw.url, CreateForDelete, { connector: { key: 'doomed', name: 'Doomed', authType: 'NO_AUTH' }, customer: { externalId: 'doomed', name: 'Doomed' } }, org.adminToken);
    const connectorId = (made.data?.createConnector as { data: { id: string } }).data.id;
    const customerId = (made.data?.createCustomer as { data: { id: string } }).data.id;
    const connection = ok(
      await gql(gw.url, CreateConnection, { input: { stableKey: 'doomed', name: 'Doomed', type: 'CUSTOMER_ACTIVATED', connectorId } }, org.adminToken),
      'createConnection',
    );
    const r = await gql(gw.url, DeleteEach, { connection: connection.id, connector: connectorId, customer: customerId }, org.adminToken);
    expect(r.data).toEqual({
      deleteConnection: { __typename: 'MutationDeleteConnectionSuccess', data: connection.id },
      deleteConnector: { __typename: 'MutationDeleteConnectorSuccess', data: connectorId },
      deleteCustomer: { __typename: 'MutationDeleteCustomerSuccess', data: customerId },
    });
    for (const [id, type] of [[connection.id, 'Connection'], [connectorId, 'Connector'], [customerId, 'Customer']] as const) {
      expect(Buffer.from(id, 'base64').toString()).toMatch(new RegExp(`^${type}:`));
    }
  });

  it('archiving hides a customer-activated connection from customer users; unarchive brings it back', async () => {
    const a = org.customers[0]!;
    ok(await gql(gw.url, Archive, { id: ids['acme-customer']! }, org.adminToken), 'archiveConnection');
    expect((await gql(gw.url, MyConnection, { id: ids['acme-customer']! }, a.userToken)).data?.connection).toBeNull();
    const hidden = await gql(gw.url, Connections, {}, org.adminToken);
    expect(hidden.data?.connections.edges.map((e) => e.node.stableKey)).not.toContain('acme-customer');
    const all = await gql(gw.url, Connections, { filter: { includeArchived: true } }, org.adminToken);
    expect(all.data?.connections.edges.map((e) => e.node.stableKey)).toContain('acme-customer');
    ok(await gql(gw.url, Archive, { id: ids['acme-customer']!, archived: false }, org.adminToken), 'archiveConnection');
    expect((await gql(gw.url, MyConnection, { id: ids['acme-customer']! }, a.userToken)).data?.connection?.stableKey).toBe('acme-customer');
  });

  it('deleting a connection in use says what uses it and changes nothing', async () => {
    const connection = await gw.db.prisma.connection.findFirstOrThrow({ where: { orgId: org.orgId, stableKey: 'acme-org' } });
    await gw.db.prisma.integration.create({
      data: { orgId: org.orgId, stableKey: 'sync', name: 'Nightly sync', connections: { create: { connectionId: connection.id } } },
    });
    const r = await gql(gw.url, Delete, { id: ids['acme-org']! }, org.adminToken);
    expect(r.data?.deleteConnection).toMatchObject({ __typename: 'InUseError', code: 'IN_USE', usedBy: [{ type: 'Integration', name: 'Nightly sync' }] });
    expect(await gw.db.prisma.connection.count({ where: { id: connection.id } })).toBe(1);
    const usage = await gql(gw.url, ConnectionDetail, { id: ids['acme-org']! }, org.adminToken);
    expect(usage.data?.connection?.usage).toEqual([{ type: 'Integration', name: 'Nightly sync' }]);
  });

  it('deleting an unused connection removes it and its values', async () => {
    const r = await gql(gw.url, Delete, { id: ids['twilio-global']! }, org.adminToken);
    expect(r.data?.deleteConnection.__typename).toBe('MutationDeleteConnectionSuccess');
    expect(await gw.db.prisma.connectionValue.count({ where: { connection: { stableKey: 'twilio-global' } } })).toBe(0);
  });

  it('read-only API keys cannot change connections', async () => {
    const key = await makeApiKey(gw.app, org.orgId, { name: 'ro', readOnly: true });
    const r = await gql(gw.url, UpdateConnection, { id: ids['acme-customer']!, patch: { name: 'renamed' } }, key.secret);
    expect(r.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const read = await gql(gw.url, Connections, {}, key.secret);
    expect(read.data?.connections.edges.length).toBeGreaterThan(0);
  });
});

describe('secrecy', () => {
  it('no response ever contained a stored secret', () => {
    expect(responseLog.length).toBeGreaterThan(30);
    const all = responseLog.join('\n');
    for (const s of [SECRET, CUSTOMER_SECRET, 'test-secret-value-0000']) expect(all).not.toContain(s);
  });
});
