import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SeededOrg } from '../src/seed/demo.js';
import { gid, http, rawPost } from './helpers/client.js';
import { archive, makeApiKey, makeConnection, putValue, seedConnections, setStatus, type ConnectionFixture } from './helpers/fixtures.js';
import { startGateway, type TestGateway } from './helpers/gateway.js';
import { useWorld } from './helpers/world.js';

/**
 * The hot list path (src/schema/list-reads.ts) answers the admin lists in one
 * SQL statement. It must answer exactly what the resolvers answer: every
 * document below runs, for every kind of principal, on a gateway with the
 * path and on a second instance of the same database without it
 * (`LIST_READS=false`), and the two response bodies must be the same bytes.
 * Documents the path serves must cost one statement; the others (cursors, a
 * search, a denied field, a query over the complexity limit) must fall back
 * to the resolvers, errors included.
 */

let gw: TestGateway;
let off: TestGateway;
let org: SeededOrg;
let other: SeededOrg;
let fx: ConnectionFixture;
const tokens: Record<string, string> = {};

useWorld({ orgs: { org: { customers: ['a', 'b', 'c'] }, other: { customers: ['a', 'z'] } } }, async (w) => {
  ({ gw, org, other } = w);
  fx = await seedConnections(gw.app, org);
  await seedConnections(gw.app, other);
  const [a, b, c] = org.customers;
  // More states than the fixture's: an error with its message, an expired value, a TEST value, an archived connection with values.
  await setStatus(gw.app, fx.ids.orgCust, b!.id, 'ERROR', 'Test request answered HTTP 401');
  await setStatus(gw.app, fx.ids.twilio, c!.id, 'EXPIRED');
  await putValue(gw.app, fx.ids.global, { kind: 'TEST' }, { secret_text: 'test-secret-value' });
  const old = await makeConnection(gw.app, org.orgId, { stableKey: 'old', name: 'Old "quoted" \\ connection', connectorId: fx.connectors.twilio, type: 'CUSTOMER_ACTIVATED' });
  await setStatus(gw.app, old.id, a!.id, 'ACTIVE');
  await archive(gw.app, old.id);
  // Dates whose JSON drops the fraction, or part of it (the path formats them as toISOString does).
  await gw.db.prisma.$executeRawUnsafe(
    `UPDATE "ConnectionValue" SET "updatedAt" = '2026-01-01 00:00:01', "lastErrorAt" = '2026-01-01 00:00:01.5', "activatedAt" = '2026-01-01 00:00:01.05' WHERE "connectionId" = $1::uuid`,
    fx.ids.orgCust,
  );
  tokens.admin = org.adminToken;
  tokens.apiKey = org.apiKey;
  tokens.readOnlyKey = (await makeApiKey(gw.app, org.orgId, { readOnly: true })).secret;
  tokens.customerUser = a!.userToken;
  tokens.otherCustomerUser = b!.userToken;
  tokens.runtime = a!.runtimeToken;
  tokens.otherOrg = other.adminToken;
  const link = await http(`${gw.url}/api/v1/connect-links`, { method: 'POST', token: org.apiKey, body: { customerId: a!.id, connections: ['cust'] } });
  const session = await http(`${gw.url}/connect/session`, { method: 'POST', body: { link: (link.json() as { token: string }).token } });
  tokens.linkSession = (session.json() as { accessToken: string }).accessToken;
});

beforeAll(async () => {
  off = await startGateway({}, { on: gw, config: { listReads: false } });
});
afterAll(() => off?.close());

const VALUE = 'id kind status lastError lastErrorAt activatedAt expiresAt version createdAt updatedAt __typename';
const CONNECTION = 'id stableKey name description type availableInWorkflows restrictToAllowList proxyOnly externalId archivedAt createdAt updatedAt';
const CONNECTOR = 'id key name description authType createdAt updatedAt';
const PAGE = 'pageInfo { hasNextPage hasPreviousPage startCursor endCursor __typename }';

/** Documents the path serves: every registered field, aliases, fragments, directives, variables, several roots. */
const SERVED: Record<string, { query: string; variables?: Record<string, unknown> }> = {
  'the admin list': {
    query: `query { customers(first: 50) { edges { node { id externalId name connectionValues(first: 10) { edges { node { id status updatedAt connection { id stableKey name connector { id key name } } } } } } } } }`,
  },
  'every column of every type, cursors and page info': {
    query: `query { customers(first: 2) { __typename ${PAGE} edges { __typename cursor node { id externalId name description createdAt updatedAt
      connectionValues(first: 1) { ${PAGE} edges { cursor node { ${VALUE} connection { ${CONNECTION} connector { ${CONNECTOR} } } customer { id externalId } } } } } } } }`,
  },
  'the connections list': { query: `query { connections(first: 50) { edges { node { stableKey type connector { key } } } } }` },
  'connections with every column, archived included': {
    query: `query { connections(first: 100, filter: { includeArchived: true }) { ${PAGE} edges { cursor node { ${CONNECTION} connector { ${CONNECTOR} } } } } }`,
  },
  'connections filtered by type, connector key, status and customer': {
    query: `query Filtered($customer: ID) {
      byType: connections(filter: { type: CUSTOMER_ACTIVATED }) { edges { node { stableKey } } }
      byConnector: connections(filter: { connectorKey: "twilio" }) { edges { node { stableKey } } }
      byStatus: connections(filter: { status: ERROR }) { edges { node { stableKey } } }
      byCustomer: connections(filter: { customerId: $customer, availableInWorkflows: true }) { edges { node { stableKey } } }
    }`,
    variables: {},
  },
  'values, filtered and paged': {
    query: `query V($status: ValueStatus, $n: Int) {
      all: connectionValues(first: $n) { ${PAGE} edges { node { ${VALUE} customer { externalId } connection { stableKey } } } }
      errors: connectionValues(status: $status, first: 50) { edges { node { id lastError customer { externalId } connection { stableKey } } } }
      tests: connectionValues(kind: TEST) { edges { node { id kind } } }
    }`,
    variables: { status: 'ERROR', n: 3 },
  },
  'aliases, fragments, @include and @skip, __typename at the root': {
    query: `query Shaped($with: Boolean!) {
      __typename
      first: customers(first: 1) { edges { node { ...C } } }
      page: customers(first: 2) { more: pageInfo { next: hasNextPage end: endCursor } edges { node { ... on Customer { key: externalId } id @skip(if: $with) name @include(if: $with) } } }
    }
    fragment C on Customer { externalId values: connectionValues(first: 2, status: ACTIVE) { edges { node { s: status connection { ...K } } } } }
    fragment K on Connection { stableKey connector { key } }`,
    variables: { with: true },
  },
  'a page of one value per customer, ordered': {
    query: `query { customers(first: 3) { edges { node { externalId connectionValues(first: 1) { ${PAGE} edges { cursor node { id } } } } } } }`,
  },
};

/** Documents the path leaves to the resolvers. */
const FALLBACK: Record<string, string> = {
  'a cursor': `query { customers(first: 1, after: "R1BDOlM6MDAwMDAwMDAtMDAwMC0wMDAwLTAwMDAtMDAwMDAwMDAwMDAw") { edges { node { id } } } }`,
  'a search': `query { customers(search: "b", first: 5) { edges { node { externalId } } } }`,
  'a field it does not know': `query { customers(first: 5) { edges { node { externalId users(first: 1) { edges { node { id } } } } } } }`,
  'an org-only field': `query { customers(first: 5) { edges { node { externalId metadata } } } }`,
  'a root field it does not serve beside one it does': `query { viewer { kind } customers(first: 5) { edges { node { id } } } }`,
  'last instead of first': `query { connections(last: 2) { edges { node { stableKey } } } }`,
  'a page over 100': `query { connections(first: 101) { edges { node { stableKey } } } }`,
  'a search in connections': `query { connections(filter: { search: "cu" }) { edges { node { stableKey } } } }`,
  'a total count': `query { customers(first: 1) { totalCount } }`,
  'two operations': `query A { customers(first: 1) { edges { node { id } } } } query B { connections { edges { node { id } } } }`,
};

const PRINCIPALS = ['admin', 'apiKey', 'readOnlyKey', 'customerUser', 'otherCustomerUser', 'runtime', 'linkSession', 'otherOrg', 'anonymous'] as const;

async function both(query: string, variables: Record<string, unknown> | undefined, principal: (typeof PRINCIPALS)[number], operationName?: string) {
  const headers: Record<string, string> = principal === 'anonymous' ? {} : { authorization: `Bearer ${tokens[principal]}` };
  const body = JSON.stringify({ query, variables, ...(operationName ? { operationName } : {}) });
  gw.resetQueries();
  const fast = await rawPost(gw.url, body, headers);
  const statements = gw.queries.filter((q) => !/"(FeedEvent|HealthEvent)"/.test(q));
  const slow = await rawPost(off.url, body, headers);
  return { fast, slow, statements };
}

describe('the hot list path answers what the resolvers answer', () => {
  for (const [name, { query, variables }] of Object.entries(SERVED)) {
    it(`${name}: the same bytes for every principal, in one statement where its scopes allow it`, async () => {
      const variablesNow = name.startsWith('connections filtered') ? { customer: gid('Customer', org.customers[1]!.id) } : variables;
      let served = 0;
      for (const principal of PRINCIPALS) {
        const { fast, slow, statements } = await both(query, variablesNow, principal);
        expect(fast.status, principal).toBe(slow.status);
        expect(fast.body, `${principal}: ${fast.body}`).toBe(slow.body);
        const parsed = JSON.parse(fast.body) as { errors?: unknown };
        if (!parsed.errors) {
          // Served here: the whole answer in one statement (authentication is cached after the first request).
          const lists = statements.filter((q) => q.includes('json_agg'));
          if (lists.length) {
            served++;
            expect(lists, principal).toHaveLength(1);
          }
        }
      }
      // The org principals at least (others may be refused a field, then the resolvers answer).
      expect(served).toBeGreaterThanOrEqual(3);
    });
  }

  it('the answers hold what they should (not merely the same on both sides)', async () => {
    const { fast } = await both(SERVED['the admin list']!.query, undefined, 'admin');
    const data = JSON.parse(fast.body).data;
    const customers = data.customers.edges.map((e: { node: { externalId: string } }) => e.node.externalId);
    expect(customers).toEqual(['a', 'b', 'c']);
    const a = data.customers.edges[0].node;
    expect(a.id).toBe(gid('Customer', org.customers[0]!.id));
    expect(a.connectionValues.edges.map((e: { node: { connection: { stableKey: string } } }) => e.node.connection.stableKey)).toEqual(['cust', 'orgCust', 'hidden', 'twilio', 'old']);
    expect(a.connectionValues.edges[0].node.updatedAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    // Another org's admin sees its own customers only; a customer user its own customer only.
    const theirs = JSON.parse((await both(SERVED['the admin list']!.query, undefined, 'otherOrg')).fast.body).data;
    expect(theirs.customers.edges.map((e: { node: { externalId: string } }) => e.node.externalId)).toEqual(['a', 'z']);
    const mine = JSON.parse((await both(SERVED['the admin list']!.query, undefined, 'customerUser')).fast.body).data;
    expect(mine.customers.edges.map((e: { node: { externalId: string } }) => e.node.externalId)).toEqual(['a']);
    // A connect-link session sees the link's connection only.
    const link = JSON.parse((await both(SERVED['the connections list']!.query, undefined, 'linkSession')).fast.body).data;
    expect(link.connections.edges.map((e: { node: { stableKey: string } }) => e.node.stableKey)).toEqual(['cust']);
  });

  for (const [name, query] of Object.entries(FALLBACK)) {
    it(`${name}: left to the resolvers, the same bytes`, async () => {
      for (const principal of PRINCIPALS) {
        const { fast, slow, statements } = await both(query, undefined, principal, name === 'two operations' ? 'A' : undefined);
        expect(fast.status, principal).toBe(slow.status);
        expect(fast.body, principal).toBe(slow.body);
        expect(statements.filter((q) => q.includes('json_agg')), principal).toEqual([]);
      }
    });
  }


  it('over the complexity limit: the same error from both, no list statement', async () => {
    const [fast, slow] = await Promise.all([
      startGateway({}, { on: gw, config: { maxComplexity: 8 } }),
      startGateway({}, { on: gw, config: { maxComplexity: 8, listReads: false } }),
    ]);
    try {
      const body = JSON.stringify({ query: SERVED['the admin list']!.query });
      const auth = { authorization: `Bearer ${org.adminToken}` };
      gw.resetQueries();
      fast.resetQueries();
      const a = await rawPost(fast.url, body, auth);
      expect(JSON.parse(a.body).errors[0].extensions.code).toBe('QUERY_TOO_COMPLEX');
      expect(a.body).toBe((await rawPost(slow.url, body, auth)).body);
      expect([...gw.queries, ...fast.queries].filter((q) => q.includes('json_agg'))).toEqual([]);
    } finally {
      await Promise.all([fast.close(), slow.close()]);
    }
  });
});

/**
 * A document the pipeline served is answered ahead of it from then on
 * (src/http/hot-lists.ts): the same bytes and headers, one statement (an org
 * user's token check folded into it); and what the pipeline refuses it leaves
 * to the pipeline, which refuses it as before.
 */
describe('hot lists answered ahead of the pipeline', () => {
  const LIST = SERVED['the connections list']!.query;

  async function early(): Promise<number> {
    const text = (await http(`${gw.url}/metrics`)).body;
    return Number(/gateway_list_reads_total\{path="early"\} (\d+)/.exec(text)?.[1] ?? 0);
  }

  async function post(url: string, body: string, headers: Record<string, string>) {
    const res = await fetch(`${url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
    return { status: res.status, type: res.headers.get('content-type'), length: res.headers.get('content-length'), body: await res.text() };
  }

  it('the same status, headers and bytes for every Accept it answers, in one statement for an org user', async () => {
    const body = JSON.stringify({ query: LIST });
    const auth = { authorization: `Bearer ${org.adminToken}` };
    await post(gw.url, body, auth);
    for (const accept of [undefined, '*/*', 'application/json', 'application/graphql-response+json']) {
      const headers = { ...auth, ...(accept ? { accept } : {}) };
      const before = await early();
      gw.resetQueries();
      const fast = await post(gw.url, body, headers);
      const statements = gw.queries.filter((q) => !/"(FeedEvent|HealthEvent)"/.test(q));
      expect(await early(), String(accept)).toBe(before + 1);
      // The token's check and the list: one statement, one round trip.
      expect(statements, String(accept)).toHaveLength(1);
      expect(statements[0]).toContain('"OrgUser"');
      expect(fast, String(accept)).toEqual(await post(off.url, body, headers));
    }
    // An API key: its own check, then the list.
    await post(gw.url, body, { authorization: `Bearer ${tokens.apiKey}` });
    const before = await early();
    const fast = await post(gw.url, body, { authorization: `Bearer ${tokens.apiKey}` });
    expect(await early()).toBe(before + 1);
    expect(fast).toEqual(await post(off.url, body, { authorization: `Bearer ${tokens.apiKey}` }));
  });

  it('planned once per body and visibility: principals that may see different things each get their own answer', async () => {
    const body = JSON.stringify({ query: `query { connections(first: 20) { edges { node { id stableKey } } } }` });
    const sessions: string[] = [];
    for (const connections of [['cust'], ['twilio'], ['cust', 'twilio']]) {
      const link = await http(`${gw.url}/api/v1/connect-links`, { method: 'POST', token: org.apiKey, body: { customerId: org.customers[0]!.id, connections } });
      const session = await http(`${gw.url}/connect/session`, { method: 'POST', body: { link: (link.json() as { token: string }).token } });
      sessions.push((session.json() as { accessToken: string }).accessToken);
    }
    const second = await gw.db.prisma.orgUser.create({ data: { orgId: org.orgId, email: 'second@example.com', name: 'Second' } });
    const principals = [org.adminToken, await gw.app.tokens.signOrgUser({ id: second.id, orgId: org.orgId }), other.adminToken, tokens.customerUser!, tokens.otherCustomerUser!, ...sessions];
    await post(gw.url, body, { authorization: `Bearer ${org.adminToken}` });
    const answers: string[] = [];
    // Twice round: the second time every plan comes from the cache.
    for (let round = 0; round < 2; round++) {
      for (const token of principals) {
        const before = await early();
        const fast = await post(gw.url, body, { authorization: `Bearer ${token}` });
        expect(await early()).toBe(before + 1);
        expect(fast).toEqual(await post(off.url, body, { authorization: `Bearer ${token}` }));
        if (round === 0) answers.push(fast.body);
        else expect(fast.body).toBe(answers[principals.indexOf(token)]);
      }
    }
    const keys = (b: string) => (JSON.parse(b) as { data: { connections: { edges: { node: { stableKey: string } }[] } } }).data.connections.edges.map((e) => e.node.stableKey);
    expect(keys(answers[5]!)).toEqual(['cust']);
    expect(keys(answers[6]!)).toEqual(['twilio']);
    expect(keys(answers[7]!)).toEqual(['cust', 'twilio']);
    expect(answers[0]).toBe(answers[1]);
    expect(answers[0]).not.toBe(answers[2]);
  });

  it('a deleted org user, a revoked API key, bad variables and unusual requests: left to the pipeline, which answers as before', async () => {
    const query = `query Page($n: Int) { connections(first: $n) { edges { node { stableKey } } } }`;
    const body = JSON.stringify({ query, variables: { n: 5 } });
    const admin = { authorization: `Bearer ${org.adminToken}` };
    await post(gw.url, body, admin);
    const gone = await gw.db.prisma.orgUser.create({ data: { orgId: org.orgId, email: 'gone@example.com', name: 'Gone' } });
    const goneToken = await gw.app.tokens.signOrgUser({ id: gone.id, orgId: org.orgId });
    const key = await makeApiKey(gw.app, org.orgId);
    // Both work (answered early), then the user is deleted and the key revoked.
    const warm = await early();
    expect((await post(gw.url, body, { authorization: `Bearer ${goneToken}` })).status).toBe(200);
    expect((await post(gw.url, body, { authorization: `Bearer ${key.secret}` })).status).toBe(200);
    expect(await early()).toBe(warm + 2);
    await gw.db.prisma.orgUser.delete({ where: { id: gone.id } });
    await gw.db.prisma.apiKey.update({ where: { id: key.id }, data: { revokedAt: new Date() } });

    const cases: [string, string, Record<string, string>][] = [
      ['a deleted org user', body, { authorization: `Bearer ${goneToken}` }],
      ['a revoked API key', body, { authorization: `Bearer ${key.secret}` }],
      ['no credential', body, {}],
      ['a malformed bearer', body, { authorization: 'Bearer not-a-token' }],
      ['a variable of the wrong type', JSON.stringify({ query, variables: { n: 'five' } }), admin],
      ['a NUL in a variable', JSON.stringify({ query, variables: { n: 5, x: 'a\u0000b' } }), admin],
      ['another operation name', JSON.stringify({ query, variables: { n: 5 }, operationName: 'Other' }), admin],
      ['a page over 100', JSON.stringify({ query, variables: { n: 101 } }), admin],
      ['an extensions member', JSON.stringify({ query, variables: { n: 5 }, extensions: {} }), admin],
      ['a browser (Origin)', body, { ...admin, origin: 'https://elsewhere.example' }],
      ['an Accept it does not answer', body, { ...admin, accept: 'text/html' }],
    ];
    for (const [name, payload, headers] of cases) {
      const before = await early();
      const fast = await post(gw.url, payload, headers);
      expect(await early(), name).toBe(before);
      expect(fast, name).toEqual(await post(off.url, payload, headers));
    }
    // Refused, not answered: what the two were refused with.
    expect((await post(gw.url, body, { authorization: `Bearer ${goneToken}` })).status).toBe(401);
    expect((await post(gw.url, body, { authorization: `Bearer ${key.secret}` })).status).toBe(401);
  });
});
