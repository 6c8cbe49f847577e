import { readFileSync } from 'node:fs';
import { GraphQLObjectType, GraphQLSchema, GraphQLString, printSchema } from 'graphql';
import { describe, expect, it } from 'vitest';
import { assertEveryRootFieldIsScoped, schema } from '../src/schema/index.js';
import { seedDemoContent, seedOrg, type SeededOrg } from '../src/seed/demo.js';
import { signEmbedToken } from '../src/seed/embed.js';
import { graphql } from './gql/index.js';
import { gid, gql, rawPost } from './helpers/client.js';
import type { TestGateway } from './helpers/gateway.js';
import { useWorld } from './helpers/world.js';

const Viewer = graphql(`
  query Viewer {
    viewer {
      kind
      id
      organization { id name }
      customer { id externalId }
      orgUser { email }
    }
  }
`);

const Customers = graphql(`
  query Customers($search: String, $first: Int, $after: String) {
    customers(search: $search, first: $first, after: $after) {
      edges { cursor node { id externalId name } }
      pageInfo { hasNextPage endCursor }
    }
  }
`);

const UpsertCustomerTypenameOnly = graphql(`
  mutation UpsertCustomerTypenameOnly($input: CustomerInput!) {
    upsertCustomer(input: $input) { __typename }
  }
`);

const DeleteCustomer = graphql(`
  mutation DeleteCustomer($id: ID!) {
    deleteCustomer(id: $id) { __typename ... on Error { code } }
  }
`);

const CustomerById = graphql(`
  query CustomerById($id: ID!) {
    customer(id: $id) { id externalId }
  }
`);

const UpsertCustomer = graphql(`
  mutation UpsertCustomer($input: CustomerInput!) {
    upsertCustomer(input: $input) {
      __typename
      ... on MutationUpsertCustomerSuccess { data { id externalId name } }
      ... on Error { code message }
      ... on ValidationError { problems { path message } }
    }
  }
`);

let gw: TestGateway;
let acme: SeededOrg;
let other: SeededOrg;

useWorld({ orgs: { acme: { customers: ['a', 'b'] }, other: { customers: ['a'] } } }, (w) => ({ gw, acme, other } = w));

describe('schema file', () => {
  it('committed schema.graphql matches the Pothos schema', () => {
    expect(readFileSync(new URL('../schema.graphql', import.meta.url), 'utf8')).toBe(printSchema(schema) + '\n');
  });

  it('is closed by default: every root field names its scopes, and a schema with one that does not is refused', () => {
    const open = new GraphQLSchema({ query: new GraphQLObjectType({ name: 'Query', fields: { node: { type: GraphQLString }, leak: { type: GraphQLString } } }) });
    expect(() => assertEveryRootFieldIsScoped(open)).toThrow(/Query\.leak/);
    expect(() => assertEveryRootFieldIsScoped(schema)).not.toThrow();
  });
});

const ConnectorById = graphql(`
  query FoundationConnectorById($id: ID!) {
    connector(id: $id) { key }
  }
`);

const UpdateConnectorById = graphql(`
  mutation FoundationUpdateConnector($id: ID!) {
    updateConnector(id: $id, patch: { name: "x" }) {
      __typename
      ... on Error { code }
    }
  }
`);

describe('ids', () => {
  it('a malformed id, or the id of another type, is the id of nothing: null on reads, NOT_FOUND on writes', async () => {
    const customerId = gid('Customer', acme.customers[0]!.id);
    for (const id of ['garbage', 'Q29ubmVjdG9yOm5vdC1hLXV1aWQ=', customerId]) {
      const read = await gql(gw.url, ConnectorById, { id }, acme.adminToken);
      expect(read.errors, id).toBeUndefined();
      expect(read.data?.connector, id).toBeNull();
      const write = await gql(gw.url, UpdateConnectorById, { id }, acme.adminToken);
      expect(write.errors, id).toBeUndefined();
      expect(write.data?.updateConnector, id).toEqual({ __typename: 'NotFoundError', code: 'NOT_FOUND' });
    }
  });
});

describe('viewer', () => {
  it('knows an org user', async () => {
    const r = await gql(gw.url, Viewer, {}, acme.adminToken);
    expect(r.errors).toBeUndefined();
    expect(r.data?.viewer).toMatchObject({ kind: 'ORG_USER', customer: null, orgUser: { email: `admin@${acme.slug}.example` } });
  });

  it('knows an API key', async () => {
    const r = await gql(gw.url, Viewer, {}, acme.apiKey);
    expect(r.data?.viewer.kind).toBe('API_KEY');
  });

  it('knows a customer user by its embed token and creates the user on first use', async () => {
    const r = await gql(gw.url, Viewer, {}, acme.customers[0]!.userToken);
    expect(r.data?.viewer).toMatchObject({ kind: 'CUSTOMER_USER', customer: { externalId: 'a' }, orgUser: null });
    expect(await gw.db.prisma.customerUser.count({ where: { customerId: acme.customers[0]!.id } })).toBe(1);
  });

  it('knows a runtime token', async () => {
    const r = await gql(gw.url, Viewer, {}, acme.customers[1]!.runtimeToken);
    expect(r.data?.viewer).toMatchObject({ kind: 'RUNTIME', customer: { externalId: 'b' } });
  });

  it('without a credential answers UNAUTHENTICATED', async () => {
    const r = await gql(gw.url, Viewer, {});
    expect(r.data ?? null).toBeNull();
    expect(r.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });

  it.each([
    ['garbage', 'not-a-token'],
    ['unknown API key', 'cgk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'],
    ['tampered JWT', () => acme.adminToken.slice(0, -4) + 'AAAA'],
  ])('rejects a bad credential (%s) with 401 UNAUTHENTICATED', async (_name, tok) => {
    const token = typeof tok === 'function' ? tok() : tok;
    const r = await gql(gw.url, Viewer, {}, token);
    expect(r.status).toBe(401);
    expect(r.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });

  it('rejects an expired runtime token and an expired embed token', async () => {
    const expiredRuntime = await gw.app.tokens.signRuntime({ orgId: acme.orgId, customerId: acme.customers[0]!.id }, -10);
    const expiredEmbed = await signEmbedToken(acme.signer, { userId: 'u', customerExternalId: 'a' }, -10);
    for (const t of [expiredRuntime, expiredEmbed]) {
      const r = await gql(gw.url, Viewer, {}, t);
      expect(r.status).toBe(401);
      expect(r.errors?.[0]?.message).toMatch(/expired/);
    }
  });

  it('rejects an embed token for a customer that does not exist', async () => {
    const t = await signEmbedToken(acme.signer, { userId: 'u', customerExternalId: 'nope' });
    const r = await gql(gw.url, Viewer, {}, t);
    expect(r.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });

  it('rejects an embed token signed with another org key for this org customer', async () => {
    // The other org's key resolves to the other org: its customer "a" is not acme's.
    const t = await signEmbedToken(other.signer, { userId: 'u', customerExternalId: 'a' });
    const r = await gql(gw.url, Viewer, {}, t);
    expect(r.data?.viewer.organization.id).not.toBe((await gql(gw.url, Viewer, {}, acme.adminToken)).data?.viewer.organization.id);
  });
});

describe('customers', () => {
  it('an org sees its own customers only', async () => {
    const r = await gql(gw.url, Customers, {}, acme.adminToken);
    expect(r.data?.customers.edges.map((e) => e.node.externalId)).toEqual(['a', 'b']);
  });

  it('a customer user and a runtime see only their own customer', async () => {
    for (const token of [acme.customers[1]!.userToken, acme.customers[1]!.runtimeToken]) {
      const r = await gql(gw.url, Customers, {}, token);
      expect(r.data?.customers.edges.map((e) => e.node.externalId)).toEqual(['b']);
    }
  });

  it('a customer id of another org or customer behaves as not found', async () => {
    const list = await gql(gw.url, Customers, {}, other.adminToken);
    const foreignId = list.data!.customers.edges[0]!.node.id;
    expect((await gql(gw.url, CustomerById, { id: foreignId }, acme.adminToken)).data?.customer).toBeNull();
    const own = await gql(gw.url, Customers, {}, acme.adminToken);
    const bId = own.data!.customers.edges[1]!.node.id;
    expect((await gql(gw.url, CustomerById, { id: bId }, acme.customers[0]!.userToken)).data?.customer).toBeNull();
    expect((await gql(gw.url, CustomerById, { id: bId }, acme.adminToken)).data?.customer?.externalId).toBe('b');
  });

  it('paginates with cursors', async () => {
    const first = await gql(gw.url, Customers, { first: 1 }, acme.adminToken);
    expect(first.data?.customers.pageInfo.hasNextPage).toBe(true);
    const next = await gql(gw.url, Customers, { first: 1, after: first.data!.customers.pageInfo.endCursor }, acme.adminToken);
    expect(next.data?.customers.edges.map((e) => e.node.externalId)).toEqual(['b']);
  });

  it('upsert by externalId is idempotent', async () => {
    const input = { externalId: 'ext-42', name: 'Forty Two' };
    const one = await gql(gw.url, UpsertCustomer, { input }, acme.apiKey);
    const two = await gql(gw.url, UpsertCustomer, { input: { ...input, name: 'Renamed' } }, acme.apiKey);
    expect(one.data?.upsertCustomer.__typename).toBe('MutationUpsertCustomerSuccess');
    const a = one.data?.upsertCustomer;
    const b = two.data?.upsertCustomer;
    if (a?.__typename !== 'MutationUpsertCustomerSuccess' || b?.__typename !== 'MutationUpsertCustomerSuccess') throw new Error('expected success');
    expect(b.data.id).toBe(a.data.id);
    expect(b.data.name).toBe('Renamed');
  });

  it('a mutation whose result selects only __typename still runs and commits', async () => {
    const r = await gql(gw.url, UpsertCustomerTypenameOnly, { input: { externalId: 'typename-only', name: 'T' } }, acme.adminToken);
    expect(r.data?.upsertCustomer.__typename).toBe('MutationUpsertCustomerSuccess');
    expect(await gw.db.prisma.customer.count({ where: { externalId: 'typename-only', orgId: acme.orgId } })).toBe(1);
  });

  it('bad input gets a typed validation error naming the field and writes nothing', async () => {
    const before = await gw.db.prisma.customer.count();
    const r = await gql(gw.url, UpsertCustomer, { input: { externalId: '   ', name: 'x' } }, acme.adminToken);
    const res = r.data?.upsertCustomer;
    expect(res?.__typename).toBe('ValidationError');
    if (res?.__typename === 'ValidationError') expect(res.problems[0]?.path).toBe('input.externalId');
    expect(await gw.db.prisma.customer.count()).toBe(before);
  });

  it('deleting a customer removes its rows, including its picker set', async () => {
    const created = await gql(gw.url, UpsertCustomer, { input: { externalId: 'to-delete', name: 'Doomed' } }, acme.adminToken);
    const res = created.data?.upsertCustomer;
    if (res?.__typename !== 'MutationUpsertCustomerSuccess') throw new Error('expected success');
    const rawId = (await gw.db.prisma.customer.findFirstOrThrow({ where: { externalId: 'to-delete', orgId: acme.orgId } })).id;
    const connector = await gw.db.prisma.connector.create({ data: { orgId: acme.orgId, key: 'del-c', name: 'c', authType: 'NO_AUTH' } });
    const connection = await gw.db.prisma.connection.create({
      data: { orgId: acme.orgId, stableKey: 'del-conn', name: 'x', connectorId: connector.id, type: 'CUSTOMER_ACTIVATED' },
    });
    await gw.db.prisma.availableSelection.create({ data: { connectionId: connection.id, customerId: rawId, orgId: acme.orgId, connectorId: connector.id } });
    const del = await gql(gw.url, DeleteCustomer, { id: res.data.id }, acme.adminToken);
    expect(del.data?.deleteCustomer.__typename).toBe('MutationDeleteCustomerSuccess');
    expect(await gw.db.prisma.customer.count({ where: { id: rawId } })).toBe(0);
    expect(await gw.db.prisma.availableSelection.count({ where: { customerId: rawId } })).toBe(0);
    const again = await gql(gw.url, DeleteCustomer, { id: res.data.id }, acme.adminToken);
    expect(again.data?.deleteCustomer.__typename).toBe('NotFoundError');
  });

  it('customer users and runtimes cannot create customers', async () => {
    for (const token of [acme.customers[0]!.userToken, acme.customers[0]!.runtimeToken]) {
      const r = await gql(gw.url, UpsertCustomer, { input: { externalId: 'x', name: 'x' } }, token);
      expect(r.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    }
  });
});

describe('demo data', () => {
  it('the demo seed gives a newcomer connections to query, with masked secrets', async () => {
    const demo = await seedOrg(gw.app, { customers: ['acme-corp', 'globex'] });
    await seedDemoContent(gw.app, demo);
    const r = await rawPost(gw.url, JSON.stringify({ query: '{ connections { edges { node { stableKey values { edges { node { status secrets { set } } } } } } } }' }), {
      authorization: `Bearer ${demo.adminToken}`,
    });
    const edges = JSON.parse(r.body).data.connections.edges as { node: { stableKey: string; values: { edges: { node: { status: string } }[] } } }[];
    expect(edges.map((e) => e.node.stableKey)).toEqual(['twilio-sms', 'acme-api']);
    expect(edges.every((e) => e.node.values.edges[0]?.node.status === 'ACTIVE')).toBe(true);
    expect(r.body).not.toMatch(/demo-[0-9a-f]{24}/);
  });
});

describe('bad requests', () => {
  it('malformed JSON is a 400 with a GraphQL error, not a crash', async () => {
    const r = await rawPost(gw.url, '{"query": "{ viewer { kind } }"', { authorization: `Bearer ${acme.adminToken}` });
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body).errors[0].message).toBeTruthy();
  });

  it('a syntax error is reported with its location', async () => {
    const r = await rawPost(gw.url, JSON.stringify({ query: '{ viewer { kind ' }), { authorization: `Bearer ${acme.adminToken}` });
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body).errors[0].message).toMatch(/Syntax Error/);
  });

  it('an unknown field is a validation error', async () => {
    const r = await rawPost(gw.url, JSON.stringify({ query: '{ viewer { secretStuff } }' }), { authorization: `Bearer ${acme.adminToken}` });
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body).errors[0].message).toMatch(/Cannot query field "secretStuff"/);
  });

  it('a query deeper than MAX_DEPTH is refused with QUERY_TOO_COMPLEX, not an internal error', async () => {
    const deep = '{ viewer { organization { customers { edges { node { connectionValues { edges { node { connection { connector { connections { edges { node { id } } } } } } } } } } } } } }';
    const r = await rawPost(gw.url, JSON.stringify({ query: deep }), { authorization: `Bearer ${acme.adminToken}` });
    const body = JSON.parse(r.body);
    expect(body.errors[0].extensions.code).toBe('QUERY_TOO_COMPLEX');
    expect(body.errors[0].message).toMatch(/depth limit of 12 exceeded/);
    expect(r.status).toBe(400);
  });

  it('readiness answers with the database kind', async () => {
    const r = await fetch(`${gw.url}/ready`);
    expect(r.status).toBe(200);
    expect(await r.json()).toMatchObject({ status: 'ok' });
  });
});
