import {
  getNamedType,
  isEnumType,
  isListType,
  isNonNullType,
  isObjectType,
  isScalarType,
  parse,
  print,
  type GraphQLField,
  type GraphQLObjectType,
  type GraphQLOutputType,
} from 'graphql';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { describe, expect, it } from 'vitest';
import { scopesOf, type Scope } from '../src/auth/scopes.js';
import type { Principal } from '../src/auth/principal.js';
import { schema } from '../src/schema/index.js';
import { createConnection, findConnection, type ConnectionWithConnector } from '../src/modules/connections/service.js';
import { createConnector } from '../src/modules/connectors/service.js';
import { createIntegration, createInstance } from '../src/modules/integrations/service.js';
import { setValue, setValueStatus } from '../src/modules/values/service.js';
import { createStep, createWorkflow } from '../src/modules/workflows/service.js';
import { seedOrg, type SeededOrg } from '../src/seed/demo.js';
import { graphql } from './gql/index.js';
import { gid, gql } from './helpers/client.js';
import { asOrg } from './helpers/fixtures.js';
import type { TestGateway } from './helpers/gateway.js';
import { useWorld } from './helpers/world.js';

/**
 * The SQL a request sends must not depend on how many rows it returns (no
 * N+1), and changes to it must be deliberate. Every list field with
 * relations is queried — by each kind of principal, with the fields its
 * scopes allow — against an org with 2 rows per level and one with 10; the
 * statement counts must be equal, and the statements (placeholders folded)
 * are snapshotted, as Pothos's own plugin-prisma tests do: a new N+1, or any
 * new statement, fails here first. Four hand-written deep queries go further
 * down the relations than the generated ones.
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

/**
 * An org with n customers, n connectors with one connection each (alternately customer- and
 * org-activated, plus a global one shared with the first customer), values for every
 * (customer, connection), n integrations requiring every connection, an instance per
 * (integration, customer), and n workflows of n steps per customer. Through the services.
 */
async function seedLevels(n: number): Promise<SeededOrg> {
  const org = await seedOrg(gw.app, { customers: Array.from({ length: n }, (_, i) => `c${i}`) });
  await asOrg(gw.app, org.orgId, async (op) => {
    const connections: ConnectionWithConnector[] = [];
    for (let i = 0; i < n; i++) {
      await createConnector(op, { key: `app${i}`, name: `App ${i}`, authType: 'SECRET_TEXT' });
      const type = i % 2 ? 'ORG_ACTIVATED_CUSTOMER' : 'CUSTOMER_ACTIVATED';
      const c = await createConnection(op, { stableKey: `conn${i}`, name: `Conn ${i}`, connectorKey: `app${i}`, type, availableInWorkflows: true });
      connections.push(await findConnection(op, { id: c.id }));
    }
    const secret = { values: { secret_text: 'level-secret' } };
    // Every value active while the steps select their connections; a third go pending afterwards.
    const values = new Map<string, string>();
    for (const c of org.customers) {
      for (const k of connections) values.set(`${c.id}/${k.id}`, (await setValue(op, k, { kind: 'CUSTOMER', customerId: c.id }, secret)).id);
    }
    const shared = await createConnection(op, {
      stableKey: 'shared',
      name: 'Shared',
      connectorKey: 'app0',
      type: 'ORG_ACTIVATED_GLOBAL',
      availableInWorkflows: true,
      restrictToAllowList: true,
      allowedCustomerIds: [org.customers[0]!.id],
    });
    const global = await findConnection(op, { id: shared.id });
    await setValue(op, global, { kind: 'GLOBAL' }, secret);
    await setValue(op, global, { kind: 'TEST' }, secret);
    for (let i = 0; i < n; i++) {
      const integration = await createIntegration(op, { stableKey: `int${i}`, name: `Integration ${i}`, connections: connections.map((k) => ({ connectionId: k.id })) });
      for (const c of org.customers) await createInstance(op, { integrationId: integration.id, customerId: c.id, name: `I${i} for ${c.externalId}` });
    }
    for (const c of org.customers) {
      for (let w = 0; w < n; w++) {
        const wf = await createWorkflow(op, { customerId: c.id, name: `W${w}` });
        for (const [s, k] of connections.entries()) await createStep(op, { workflowId: wf.id, name: `S${s}`, connectorId: k.connectorId, connectionId: k.id });
      }
    }
    for (const [ci, c] of org.customers.entries()) {
      for (const [ki, k] of connections.entries()) if ((ci + ki) % 3 === 0) await setValueStatus(op, values.get(`${c.id}/${k.id}`)!, 'PENDING');
    }
  });
  return org;
}

const Warm = graphql(`
  query SqlWarmUp {
    viewer { kind }
  }
`);

// Generated queries select every field of three nested lists: more than the default limit allows.
useWorld({ env: { MAX_COMPLEXITY: '1000000' } }, async (w) => {
  ({ gw } = w);
  orgs.set(2, await seedLevels(2));
  orgs.set(10, await seedLevels(10));
  // A first request per principal warms what a process warms once (authentication caches and the like).
  for (const org of orgs.values()) for (const kind of ['ADMIN', 'CUSTOMER_USER', 'RUNTIME'] as const) await gql(gw.url, Warm, {}, tokenOf(org, kind));
});

/** The statements one request sends (the live feeds' background polling — picker and health view — is not the request's). */
async function statements<R, V>(doc: TypedDocumentNode<R, V>, token: string, variables: V): Promise<{ sql: string[]; data: R }> {
  gw.resetQueries();
  const r = await gql(gw.url, doc, variables, token);
  expect(r.errors, `${JSON.stringify(r.errors)} in ${print(doc)}`).toBeUndefined();
  return { sql: gw.queries.filter((q) => !/"(FeedEvent|HealthEvent)"/.test(q)), data: r.data as R };
}

/**
 * A statement, shorter and independent of the rows: placeholders folded (`IN ($3,$4,$5)`, `IN ($1)`
 * and an empty list's `IN (NULL)` read the same), no schema or table qualifiers.
 */
const fold = (sql: string) =>
  sql
    .replace(/\$\d+(\s*,\s*\$\d+)*/g, '$…')
    .replace(/IN \(NULL\)/g, 'IN ($…)')
    .replace(/"public"\./g, '')
    .replace(/"\w+"\.(?=")/g, '');

// ───────────────────────────── generated queries ─────────────────────────────

type Kind = 'ADMIN' | 'CUSTOMER_USER' | 'RUNTIME';
const PRINCIPALS: Record<Kind, Principal> = {
  ADMIN: { kind: 'ORG_USER', id: 'x', orgId: 'x', email: 'x' },
  CUSTOMER_USER: { kind: 'CUSTOMER_USER', id: 'x', orgId: 'x', customerId: 'x', signingKeyId: 'x', connectionIds: null, expiresAt: new Date() },
  RUNTIME: { kind: 'RUNTIME', id: 'x', orgId: 'x', customerId: 'x', customerExternalId: 'x', instanceId: null, workflowId: null, proxyOnly: false, expiresAt: new Date() },
};
const tokenOf = (org: SeededOrg, kind: Kind) =>
  kind === 'ADMIN' ? org.adminToken : kind === 'CUSTOMER_USER' ? org.customers[0]!.userToken : org.customers[0]!.runtimeToken;

/** Arguments the generated queries give, by field: required ones, and values that make the field return rows. */
function argsFor(coordinate: string, org: SeededOrg, kind: Kind): string {
  const customer = kind === 'ADMIN' ? `customerId: "${gid('Customer', org.customers[0]!.id)}"` : '';
  const known: Record<string, string> = {
    'Query.availableConnections': `connectorKey: "app0" ${customer}`,
    'Query.customerConnectionOverview': customer,
  };
  return known[coordinate] ?? '';
}

function allowed(kind: Kind, options: { authScopes?: unknown } | undefined): boolean {
  const scopes = options?.authScopes as Partial<Record<Scope, boolean>> | undefined;
  if (!scopes) return true;
  const has = scopesOf(PRINCIPALS[kind]);
  return Object.entries(scopes).some(([s, v]) => v && has[s as Scope]);
}

const pothos = (x: { extensions?: unknown }) => (x.extensions as { pothosOptions?: { authScopes?: unknown } } | undefined)?.pothosOptions;
const requiredArgs = (f: GraphQLField<unknown, unknown>) => f.args.some((a) => isNonNullType(a.type) && a.defaultValue === undefined);
const isConnection = (t: GraphQLOutputType) => isObjectType(getNamedType(t)) && getNamedType(t).name.endsWith('Connection') && 'edges' in (getNamedType(t) as GraphQLObjectType).getFields();
const itemType = (t: GraphQLOutputType): GraphQLObjectType | null => {
  const named = getNamedType(t);
  if (!isObjectType(named)) return null;
  return isConnection(t) ? (getNamedType((getNamedType(named.getFields().edges!.type) as GraphQLObjectType).getFields().node!.type) as GraphQLObjectType) : named;
};
const isList = (t: GraphQLOutputType) => isConnection(t) || isListType(isNonNullType(t) ? t.ofType : t);

/** The leaves of a type a principal may read, and its object fields it may follow. */
function partsOf(item: GraphQLObjectType, kind: Kind, org: SeededOrg) {
  const leaves: string[] = [];
  const objects: GraphQLField<unknown, unknown>[] = [];
  for (const g of Object.values(item.getFields())) {
    if (!allowed(kind, pothos(g)) || (requiredArgs(g) && !argsFor(`${item.name}.${g.name}`, org, kind))) continue;
    const named = getNamedType(g.type);
    if (isScalarType(named) || isEnumType(named)) leaves.push(g.name);
    else if (itemType(g.type) && allowed(kind, pothos(itemType(g.type)!))) objects.push(g);
  }
  return { leaves, objects };
}

/** `field(args) { … }`, a connection's items under `edges { node }`. */
function wrap(f: GraphQLField<unknown, unknown>, coordinate: string, first: number, org: SeededOrg, kind: Kind, inner: string): string {
  const args = [isConnection(f.type) ? `first: ${first}` : '', argsFor(coordinate, org, kind)].filter(Boolean).join(' ');
  const head = `${f.name}${args ? `(${args})` : ''}`;
  return isConnection(f.type) ? `${head} { edges { node { ${inner} } } }` : `${head} { ${inner} }`;
}

/**
 * What to select under a list field: every leaf of its items, and — one at a time, to stay
 * under the complexity limit — one of their object fields (`follow`) with that object's leaves.
 */
function selection(item: GraphQLObjectType, kind: Kind, org: SeededOrg, follow: string): string {
  const { leaves, objects } = partsOf(item, kind, org);
  const g = objects.find((o) => o.name === follow);
  if (!g) return leaves.join(' ');
  const inner = partsOf(itemType(g.type)!, kind, org).leaves;
  return [...leaves, wrap(g, `${item.name}.${g.name}`, 10, org, kind, inner.length ? inner.join(' ') : '__typename')].join(' ');
}

interface Generated {
  name: string;
  kind: Kind;
  build: (org: SeededOrg) => string;
}

/**
 * One query per (principal, list field whose items have relations), reaching the field by the
 * shortest path of fields from Query (through lists where there are some, so rows multiply).
 */
function generate(): Generated[] {
  const out: Generated[] = [];
  for (const kind of Object.keys(PRINCIPALS) as Kind[]) {
    type Path = { field: GraphQLField<unknown, unknown>; coordinate: string }[];
    const paths = new Map<string, Path>([['Query', []]]);
    const queue: GraphQLObjectType[] = [schema.getQueryType()!];
    while (queue.length) {
      const type = queue.shift()!;
      for (const f of Object.values(type.getFields())) {
        const item = itemType(f.type);
        const coordinate = `${type.name}.${f.name}`;
        if (!item || !allowed(kind, pothos(f)) || !allowed(kind, pothos(item)) || (requiredArgs(f) && !argsFor(coordinate, orgs.get(2)!, kind))) continue;
        if (['Query.node', 'Query.nodes'].includes(coordinate)) continue;
        const path = [...paths.get(type.name)!, { field: f, coordinate }];
        const followed = partsOf(item, kind, orgs.get(2)!).objects;
        if (isList(f.type) && followed.length) {
          // Each variant selects every leaf of the items, and one of their object fields.
          for (const follow of followed.map((o) => o.name)) {
            out.push({
              name: `${kind} ${path.map((p) => p.coordinate).join(' → ')} { ${follow} }`,
              kind,
              build: (org) => {
                let q = wrap(f, coordinate, 10, org, kind, selection(item, kind, org, follow));
                // Fewer rows on the way there, to stay under the complexity limit; the field itself lists up to 10.
                for (const step of [...path].reverse().slice(1)) q = wrap(step.field, step.coordinate, 3, org, kind, q);
                return `query Generated { ${q} }`;
              },
            });
          }
        }
        if (!paths.has(item.name)) {
          paths.set(item.name, path);
          queue.push(item);
        }
      }
    }
  }
  return out;
}

describe('no N+1, and no unexpected statement', () => {
  it('every list field with relations, for every kind of principal: as many statements for 10 rows per level as for 2', async () => {
    const generated = generate();
    // Sanity: the generator reaches the fields that once had an N+1.
    expect(generated.map((g) => g.name).join('\n')).toMatch(/Query\.connections/);
    const snapshot: Record<string, string[]> = {};
    const differing: string[] = [];
    for (const g of generated) {
      const run = async (n: number) => {
        const org = orgs.get(n)!;
        return (await statements(parse(g.build(org)) as TypedDocumentNode<unknown, Record<string, never>>, tokenOf(org, g.kind), {})).sql;
      };
      const small = await run(2);
      const large = await run(10);
      if (large.length !== small.length) differing.push(`${g.name}: ${small.length} → ${large.length}\n  ${g.build(orgs.get(2)!)}\n  ${large.map(fold).join('\n  ')}`);
      // Sorted: resolvers run concurrently, and on a pool their statements may be sent in any order.
      snapshot[g.name] = large.map(fold).sort();
    }
    expect(differing, differing.join('\n\n')).toEqual([]);
    expect(snapshot).toMatchSnapshot();
  });

  it('Connection.usage and Connection.myValue load in the list query, not per row', async () => {
    const usage = graphql(`
      query SqlUsage {
        connections(first: 10) { edges { node { stableKey usage { type name } } } }
      }
    `);
    const mine = graphql(`
      query SqlMyValue {
        connections(first: 10) { edges { node { stableKey myValue { status customer { externalId } } } } }
      }
    `);
    const count = async (doc: TypedDocumentNode<unknown, Record<string, never>>, n: number, kind: Kind) =>
      (await statements(doc, tokenOf(orgs.get(n)!, kind), {})).sql.length;
    expect(await count(usage, 10, 'ADMIN')).toBe(await count(usage, 2, 'ADMIN'));
    expect(await count(mine, 10, 'CUSTOMER_USER')).toBe(await count(mine, 2, 'CUSTOMER_USER'));
  });
});

describe('deep hand-written queries', () => {
  const deep = async <R,>(doc: TypedDocumentNode<R, Record<string, never>>, n: number, check: (data: R) => void) => {
    const { sql, data } = await statements(doc, orgs.get(n)!.adminToken, {});
    check(data);
    return sql;
  };

  it('org → customers → connection values → connection → connector', async () => {
    const small = await deep(DeepValues, 2, (d) => {
      expect(d.viewer.organization.customers.edges.flatMap((e) => e.node.connectionValues.edges)).toHaveLength(4);
    });
    const large = await deep(DeepValues, 10, (d) => {
      const values = d.viewer.organization.customers.edges.flatMap((e) => e.node.connectionValues.edges);
      expect(values).toHaveLength(100);
      expect(values[0]!.node.connection.connector.key).toMatch(/^app/);
    });
    expect(large.length, `small:\n${small.join('\n')}\nlarge:\n${large.join('\n')}`).toBe(small.length);
  });

  it('integrations → connections, instances → customer, readiness (batched)', async () => {
    const small = await deep(DeepInstances, 2, (d) => {
      expect(d.integrations.edges.flatMap((e) => e.node.instances.edges)).toHaveLength(4);
    });
    const large = await deep(DeepInstances, 10, (d) => {
      const instances = d.integrations.edges.flatMap((e) => e.node.instances.edges.map((x) => x.node));
      expect(instances).toHaveLength(100);
      expect(instances.some((i) => !i.readiness.ready && i.readiness.missing.length > 0)).toBe(true);
    });
    expect(large.length, `statements:\n${large.join('\n')}`).toBe(small.length);
  });

  it('customers → workflows → steps', async () => {
    const small = await deep(DeepWorkflows, 2, (d) => {
      expect(d.customers.edges.flatMap((e) => e.node.workflows.edges.flatMap((w) => w.node.steps))).toHaveLength(8);
    });
    const large = await deep(DeepWorkflows, 10, (d) => {
      expect(d.customers.edges.flatMap((e) => e.node.workflows.edges.flatMap((w) => w.node.steps))).toHaveLength(1000);
    });
    expect(large.length, `statements:\n${large.join('\n')}`).toBe(small.length);
  });

  it('workflows → steps → connector, connection, opaque option, selectability', async () => {
    const small = await deep(DeepSteps, 2, (d) => {
      expect(d.workflows.edges.flatMap((w) => w.node.steps)).toHaveLength(8);
    });
    const large = await deep(DeepSteps, 10, (d) => {
      const steps = d.workflows.edges.flatMap((w) => w.node.steps);
      expect(steps).toHaveLength(100);
      expect(steps.filter((s) => s.connectionSelectable).length).toBeGreaterThan(0);
      expect(steps.every((s) => s.selectedConnection && s.connector?.key === s.connectorKey)).toBe(true);
    });
    expect(large.length, `statements:\n${large.join('\n')}`).toBe(small.length);
  });
});
