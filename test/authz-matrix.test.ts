/**
 * The authorization matrix: every query, mutation and subscription of the
 * schema × every kind of principal (org admin, API key, read-only API key,
 * API key without credential writes, customer users of customers A and B,
 * runtime token of A, anonymous, the other org's admin), through real HTTP /
 * graphql-ws; then every key limit × every path that reaches the same
 * effect (GraphQL, REST, manifest import, a credential the key minted).
 *
 * - The schema is introspected: a Query/Mutation field without an entry here
 *   fails the test, so a new field cannot ship unclassified.
 * - Targets are objects of org "acme" that belong to customer A, so the other
 *   org's admin and customer B's user are guessing ids across tenants; they
 *   must get exactly what a nonexistent id gets.
 * - Every response is also scanned for ids the principal may not know (the
 *   other tenant's objects): no list, union member or nested field may leak them.
 *
 * Outcomes: ok (allowed, did it) · hidden (null / empty / NOT_FOUND, as if it
 * did not exist) · invalid (allowed, refused by a typed input error) ·
 * forbidden (FORBIDDEN) · unauth (UNAUTHENTICATED).
 */
import { createWebhookEndpoint } from '../src/modules/webhooks/service.js';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { encodeId } from '../src/ids.js';
import {
  getNamedType,
  isEnumType,
  isInterfaceType,
  isObjectType,
  isScalarType,
  isUnionType,
  parse,
  validate,
  type GraphQLField,
  type GraphQLObjectType,
  type GraphQLOutputType,
} from 'graphql';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Op } from '../src/op.js';
import { createApiKey, registerEmbedSigningKey } from '../src/modules/access/service.js';
import { createConnectLink } from '../src/modules/connect/service.js';
import { createInstance, createIntegration } from '../src/modules/integrations/service.js';
import { createCustomer } from '../src/modules/tenancy/service.js';
import { createStep, createWorkflow } from '../src/modules/workflows/service.js';
import { schema } from '../src/schema/index.js';
import type { SeededOrg } from '../src/seed/demo.js';
import { newEmbedKeyPair, signEmbedToken } from '../src/seed/embed.js';
import { gql } from './helpers/client.js';
import type { TestGateway } from './helpers/gateway.js';
import { Collector, wsClient } from './helpers/feed.js';
import { asOrg, makeConnection, makeConnector, seedConnections, setStatus, type ConnectionFixture } from './helpers/fixtures.js';
import { useWorld } from './helpers/world.js';

const PRINCIPALS = ['ADMIN', 'KEY', 'KEY_RO', 'KEY_NCW', 'CUST_A', 'CUST_B', 'RUNTIME', 'ANON', 'OTHER'] as const;
type P = (typeof PRINCIPALS)[number];
type Outcome = 'ok' | 'hidden' | 'invalid' | 'forbidden' | 'unauth';
/**
 * KEY_RO, a read-only API key, may be left out: it then reads like KEY and is
 * FORBIDDEN on every mutation. KEY_NCW, a key without credential writes, may
 * be left out too: it then does what KEY does (credential mutations say
 * `KEY_NCW: 'forbidden'`, see `credentialWrite`).
 */
type Expect = Record<Exclude<P, 'KEY_RO' | 'KEY_NCW'>, Outcome> & { KEY_RO?: Outcome; KEY_NCW?: Outcome };
const expected = (kind: string, e: Expect, p: P): Outcome =>
  p === 'KEY_RO' ? (e.KEY_RO ?? (kind === 'Mutation' ? 'forbidden' : e.KEY)) : p === 'KEY_NCW' ? (e.KEY_NCW ?? e.KEY) : e[p];
/** A credential effect (auth/limits.ts): refused to keys without credential writes. */
const credentialWrite = (e: Expect): Expect => ({ ...e, KEY_NCW: 'forbidden' });
type Args = Record<string, unknown>;

interface Case {
  /** Label of the case when a field has several. */
  name?: string;
  /** Arguments; called once per principal, so destructive mutations get a fresh target each time. */
  args: (p: P) => Args | Promise<Args>;
  expect: Expect;
}

// Common rows.
const orgOnlyRead: Expect = { ADMIN: 'ok', KEY: 'ok', CUST_A: 'forbidden', CUST_B: 'forbidden', RUNTIME: 'forbidden', ANON: 'unauth', OTHER: 'ok' };
const orgWriteOwn: Expect = orgOnlyRead; // creates in the caller's own org
const orgWriteTarget: Expect = { ...orgOnlyRead, OTHER: 'hidden' }; // acts on one of acme's objects
const builderRead = (a: Outcome, b: Outcome, other: Outcome): Expect => ({
  ADMIN: 'ok',
  KEY: 'ok',
  CUST_A: a,
  CUST_B: b,
  RUNTIME: 'forbidden',
  ANON: 'unauth',
  OTHER: other,
});
const customerUserOnly = (a: Outcome, b: Outcome): Expect => ({
  ADMIN: 'forbidden',
  KEY: 'forbidden',
  CUST_A: a,
  CUST_B: b,
  RUNTIME: 'forbidden',
  ANON: 'unauth',
  OTHER: 'forbidden',
});
const runtimeOnly = (rt: Outcome): Expect => ({
  ADMIN: 'forbidden',
  KEY: 'forbidden',
  CUST_A: 'forbidden',
  CUST_B: 'forbidden',
  RUNTIME: rt,
  ANON: 'unauth',
  OTHER: 'forbidden',
});

let gw: TestGateway;
let acme: SeededOrg;
let other: SeededOrg;
let fx: ConnectionFixture;
let n = 0;
const uniq = (prefix: string) => `${prefix}-${++n}-${randomBytes(3).toString('hex')}`;
const g = encodeId;

/** Acme's objects the cases act on (global ids), created in beforeAll. */
const t = {} as {
  custA: string;
  custB: string;
  integration: string;
  instanceA: string;
  workflowA: string;
  stepA: string;
  workflowB: string;
  valueA: string;
  valueB: string;
  oauthConnection: string;
  oauthConnector: string;
  otherCustomer: string;
  otherConnection: string;
};

async function freshConnection(type: 'CUSTOMER_ACTIVATED' | 'ORG_ACTIVATED_CUSTOMER' = 'CUSTOMER_ACTIVATED', withValueFor?: string) {
  const c = await makeConnection(gw.app, acme.orgId, { stableKey: uniq('c'), name: 'fresh', connectorId: fx.connectors.slack, type, availableInWorkflows: true });
  if (withValueFor) await setStatus(gw.app, c.id, withValueFor, 'ACTIVE');
  return c;
}
const asAcme = <T>(fn: (op: Op) => Promise<T>) => asOrg(gw.app, acme.orgId, fn);
async function freshEndpoint() {
  return (await asAcme((op) => createWebhookEndpoint(op, { url: 'https://hooks.example.invalid/in', eventTypes: ['customer.created'] }))).endpoint;
}
function freshIntegration() {
  return asAcme((op) => createIntegration(op, { stableKey: uniq('i'), name: 'fresh' }));
}
function freshWorkflowA() {
  return asAcme((op) => createWorkflow(op, { customerId: acme.customers[0]!.id, name: 'fresh' }));
}

const publicKeyPem = () => generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
const secretValues = { secret_text: 'matrix-secret-value-0001' };

/** One entry per Query / Mutation field. */
const MATRIX: Record<'Query' | 'Mutation' | 'Subscription', Record<string, Case[]>> = {
  Query: {
    viewer: [{ args: () => ({}), expect: { ADMIN: 'ok', KEY: 'ok', CUST_A: 'ok', CUST_B: 'ok', RUNTIME: 'ok', ANON: 'unauth', OTHER: 'ok' } }],
    apiKeys: [{ args: () => ({}), expect: orgOnlyRead }],
    // Acme's links: the other org's admin lists none of them.
    connectLinks: [
      {
        args: async () => (await asAcme((op) => createConnectLink(op, { customerId: acme.customers[0]!.id, connections: ['cust'] })), {}),
        expect: { ...orgOnlyRead, OTHER: 'hidden' },
      },
    ],
    // Acme has an endpoint; the other org has none (an empty list).
    webhookEndpoints: [{ args: async () => (await freshEndpoint(), {}), expect: { ...orgOnlyRead, OTHER: 'hidden' } }],
    connectionHealthSummary: [{ args: () => ({}), expect: orgOnlyRead }],
    embedSigningKeys: [{ args: () => ({}), expect: orgOnlyRead }],
    exportManifest: [{ args: () => ({}), expect: orgOnlyRead }],
    customers: [{ args: () => ({}), expect: { ADMIN: 'ok', KEY: 'ok', CUST_A: 'ok', CUST_B: 'ok', RUNTIME: 'ok', ANON: 'unauth', OTHER: 'ok' } }],
    customer: [
      { args: () => ({ id: t.custA }), expect: { ADMIN: 'ok', KEY: 'ok', CUST_A: 'ok', CUST_B: 'hidden', RUNTIME: 'ok', ANON: 'unauth', OTHER: 'hidden' } },
    ],
    customerByExternalId: [
      {
        // The other org has a customer with the same externalId: it finds its own, never acme's (see the leak scan).
        args: () => ({ externalId: 'customer-a' }),
        expect: { ADMIN: 'ok', KEY: 'ok', CUST_A: 'ok', CUST_B: 'hidden', RUNTIME: 'ok', ANON: 'unauth', OTHER: 'ok' },
      },
    ],
    connectors: [{ args: () => ({}), expect: builderRead('ok', 'ok', 'ok') }],
    connector: [{ args: () => ({ id: fx.connectorGid.slack }), expect: builderRead('ok', 'ok', 'hidden') }],
    connectorByKey: [{ args: () => ({ key: 'slack' }), expect: builderRead('ok', 'ok', 'ok') }],
    connections: [{ args: () => ({}), expect: builderRead('ok', 'ok', 'ok') }],
    connection: [
      { name: 'customer-activated', args: () => ({ id: fx.gid.cust }), expect: builderRead('ok', 'ok', 'hidden') },
      { name: 'org-activated', args: () => ({ id: fx.gid.orgCust }), expect: builderRead('hidden', 'hidden', 'hidden') },
    ],
    connectionByStableKey: [
      { name: 'customer-activated', args: () => ({ stableKey: 'cust' }), expect: builderRead('ok', 'ok', 'ok') },
      { name: 'org-activated', args: () => ({ stableKey: 'hidden' }), expect: builderRead('hidden', 'hidden', 'ok') },
    ],
    connectionValues: [
      { name: 'all', args: () => ({}), expect: builderRead('ok', 'ok', 'ok') },
      { name: "customer A's", args: () => ({ customerId: t.custA }), expect: builderRead('ok', 'hidden', 'hidden') },
    ],
    integrations: [{ args: () => ({}), expect: builderRead('ok', 'hidden', 'hidden') }],
    integrationByStableKey: [{ args: () => ({ stableKey: 'crm' }), expect: builderRead('ok', 'hidden', 'hidden') }],
    instances: [{ args: () => ({}), expect: builderRead('ok', 'hidden', 'hidden') }],
    workflows: [
      { name: 'own', args: () => ({}), expect: builderRead('ok', 'ok', 'hidden') },
      { name: "customer A's", args: () => ({ customerId: t.custA }), expect: builderRead('ok', 'hidden', 'hidden') },
    ],
    availableConnections: [
      {
        args: (p) => (p === 'CUST_A' || p === 'CUST_B' ? { connectorKey: 'slack' } : { connectorKey: 'slack', customerId: t.custA }),
        expect: builderRead('ok', 'hidden', 'hidden'),
      },
      {
        name: "customer A's id",
        args: () => ({ connectorKey: 'slack', customerId: t.custA }),
        expect: builderRead('ok', 'hidden', 'hidden'),
      },
    ],
    customerConnectionOverview: [{ args: () => ({ customerId: t.custA }), expect: builderRead('ok', 'hidden', 'hidden') }],
    node: [
      { name: 'customer A', args: () => ({ id: t.custA }), expect: { ADMIN: 'ok', KEY: 'ok', CUST_A: 'ok', CUST_B: 'hidden', RUNTIME: 'ok', ANON: 'hidden', OTHER: 'hidden' } },
      { name: 'instance of A', args: () => ({ id: t.instanceA }), expect: { ...builderRead('ok', 'hidden', 'hidden'), RUNTIME: 'hidden', ANON: 'hidden' } },
      { name: 'workflow of A', args: () => ({ id: t.workflowA }), expect: { ...builderRead('ok', 'hidden', 'hidden'), RUNTIME: 'hidden', ANON: 'hidden' } },
      { name: 'step of A', args: () => ({ id: t.stepA }), expect: { ...builderRead('ok', 'hidden', 'hidden'), RUNTIME: 'hidden', ANON: 'hidden' } },
      { name: 'integration', args: () => ({ id: t.integration }), expect: { ...builderRead('ok', 'hidden', 'hidden'), RUNTIME: 'hidden', ANON: 'hidden' } },
      { name: 'org-activated connection', args: () => ({ id: fx.gid.orgCust }), expect: { ...builderRead('hidden', 'hidden', 'hidden'), RUNTIME: 'hidden', ANON: 'hidden' } },
      { name: "A's value", args: () => ({ id: t.valueA }), expect: { ...builderRead('ok', 'hidden', 'hidden'), RUNTIME: 'hidden', ANON: 'hidden' } },
      {
        name: "the other org's customer",
        args: () => ({ id: t.otherCustomer }),
        expect: { ADMIN: 'hidden', KEY: 'hidden', CUST_A: 'hidden', CUST_B: 'hidden', RUNTIME: 'hidden', ANON: 'hidden', OTHER: 'ok' },
      },
      {
        name: "the other org's connection",
        args: () => ({ id: t.otherConnection }),
        expect: { ADMIN: 'hidden', KEY: 'hidden', CUST_A: 'hidden', CUST_B: 'hidden', RUNTIME: 'hidden', ANON: 'hidden', OTHER: 'ok' },
      },
    ],
    nodes: [
      {
        args: () => ({ ids: [t.workflowA, t.instanceA, t.valueA] }),
        expect: { ...builderRead('ok', 'hidden', 'hidden'), RUNTIME: 'hidden', ANON: 'hidden' },
      },
    ],
    resolveConnection: [
      { name: 'resolvable', args: () => ({ stableKey: 'cust' }), expect: runtimeOnly('ok') },
      { name: 'not resolvable', args: () => ({ stableKey: 'hidden-nope' }), expect: runtimeOnly('hidden') },
    ],
    resolveConnectionByExternalId: [{ args: () => ({ externalId: 'nope_1' }), expect: runtimeOnly('hidden') }],
  },
  Mutation: {
    // tenancy & auth
    createCustomer: [{ args: () => ({ input: { externalId: uniq('x'), name: 'x' } }), expect: orgWriteOwn }],
    upsertCustomer: [{ args: () => ({ input: { externalId: 'customer-a', name: 'customer-a' } }), expect: orgWriteOwn }],
    updateCustomer: [
      { args: () => ({ id: t.custA, patch: { description: 'd' } }), expect: orgWriteTarget },
      {
        name: "the other org's customer",
        args: () => ({ id: t.otherCustomer, patch: { description: 'd' } }),
        expect: { ...orgWriteTarget, ADMIN: 'hidden', KEY: 'hidden', OTHER: 'ok' },
      },
    ],
    deleteCustomer: [
      {
        args: async () => ({ id: g('Customer', (await asAcme((op) => createCustomer(op, { externalId: uniq('d'), name: 'd' }))).id) }),
        expect: orgWriteTarget,
      },
    ],
    issueRuntimeToken: [{ args: () => ({ customerId: t.custA }), expect: credentialWrite(orgWriteTarget) }],
    registerEmbedSigningKey: [{ args: () => ({ alg: 'ES256', publicKey: publicKeyPem() }), expect: credentialWrite(orgWriteOwn) }],
    revokeEmbedSigningKey: [
      {
        args: async () => ({
          keyId: (await asAcme((op) => registerEmbedSigningKey(op, { publicKey: publicKeyPem(), alg: 'ES256' }))).id,
        }),
        expect: orgWriteTarget,
      },
    ],
    // Without limits asked for: a limited key may not mint a key with fewer limits than its own.
    createApiKey: [{ args: () => ({ input: { name: uniq('k') } }), expect: credentialWrite(orgWriteOwn) }],
    updateOrganizationSettings: [{ args: () => ({ input: { oauthRedirectOrigins: ['https://app.example'] } }), expect: orgWriteOwn }],
    createConnectLink: [{ args: () => ({ customerId: t.custA, connections: ['cust'] }), expect: credentialWrite(orgWriteTarget) }],
    revokeConnectLink: [
      {
        args: async () => ({
          id: g('ConnectLink', (await asAcme((op) => createConnectLink(op, { customerId: acme.customers[0]!.id, connections: ['cust'] }))).link.id),
        }),
        expect: credentialWrite(orgWriteTarget),
      },
    ],
    revokeApiKey: [
      {
        args: async () => {
          const { key } = await asAcme((op) => createApiKey(op, { name: 'r' }));
          return { id: g('ApiKey', key.id) };
        },
        expect: orgWriteTarget,
      },
    ],
    // webhooks
    createWebhookEndpoint: [{ args: () => ({ input: { url: 'https://hooks.example.invalid/in' } }), expect: orgWriteOwn }],
    updateWebhookEndpoint: [{ args: async () => ({ id: g('WebhookEndpoint', (await freshEndpoint()).id), patch: { description: 'd' } }), expect: orgWriteTarget }],
    deleteWebhookEndpoint: [{ args: async () => ({ id: g('WebhookEndpoint', (await freshEndpoint()).id) }), expect: orgWriteTarget }],
    redeliverWebhook: [
      {
        args: async () => {
          const endpoint = await freshEndpoint();
          await asAcme((op) => createCustomer(op, { externalId: uniq('w'), name: 'w' }));
          const delivery = await gw.app.db.prisma.webhookDelivery.findFirstOrThrow({ where: { endpointId: endpoint.id } });
          return { deliveryId: g('WebhookDelivery', delivery.id) };
        },
        expect: orgWriteTarget,
      },
    ],
    // connectors & connections
    createConnector: [{ args: () => ({ input: { key: uniq('k'), name: 'K', authType: 'SECRET_TEXT' } }), expect: credentialWrite(orgWriteOwn) }],
    upsertConnector: [{ args: () => ({ input: { key: 'slack', name: 'Slack', authType: 'SECRET_TEXT' } }), expect: credentialWrite(orgWriteOwn) }],
    updateConnector: [{ args: () => ({ id: fx.connectorGid.slack, patch: { description: 'd' } }), expect: credentialWrite(orgWriteTarget) }],
    deleteConnector: [
      {
        args: async () => ({
          id: g('Connector', (await makeConnector(gw.app, acme.orgId, { key: uniq('del'), name: 'D', authType: 'NO_AUTH' })).id),
        }),
        expect: orgWriteTarget,
      },
    ],
    createConnection: [
      { args: () => ({ input: { stableKey: uniq('c'), name: 'C', connectorKey: 'slack', type: 'CUSTOMER_ACTIVATED' } }), expect: orgWriteOwn },
    ],
    upsertConnection: [
      { args: () => ({ input: { stableKey: 'cust', name: 'cust connection', connectorKey: 'slack', type: 'CUSTOMER_ACTIVATED', availableInWorkflows: true } }), expect: orgWriteOwn },
    ],
    updateConnection: [
      { args: () => ({ id: fx.gid.cust, patch: { description: 'd' } }), expect: orgWriteTarget },
      {
        name: "the other org's connection",
        args: () => ({ id: t.otherConnection, patch: { description: 'd' } }),
        expect: { ...orgWriteTarget, ADMIN: 'hidden', KEY: 'hidden', OTHER: 'ok' },
      },
    ],
    archiveConnection: [{ args: async () => ({ id: g('Connection', (await freshConnection()).id) }), expect: orgWriteTarget }],
    deleteConnection: [{ args: async () => ({ id: g('Connection', (await freshConnection()).id) }), expect: orgWriteTarget }],
    setConnectionValue: [
      {
        args: () => ({ target: { connectionId: fx.gid.orgCust, slot: 'CUSTOMER', customerId: t.custB }, values: secretValues }),
        expect: credentialWrite(orgWriteTarget),
      },
    ],
    clearConnectionValue: [
      {
        args: async () => {
          const c = await freshConnection('ORG_ACTIVATED_CUSTOMER', acme.customers[0]!.id);
          return { target: { connectionId: g('Connection', c.id), slot: 'CUSTOMER', customerId: t.custA } };
        },
        expect: credentialWrite(orgWriteTarget),
      },
    ],
    setMyConnectionValue: [
      { name: 'customer-activated', args: () => ({ connectionId: fx.gid.cust, values: secretValues }), expect: customerUserOnly('ok', 'ok') },
      { name: 'org-activated', args: () => ({ connectionId: fx.gid.orgCust, values: secretValues }), expect: customerUserOnly('hidden', 'hidden') },
    ],
    clearMyConnectionValue: [
      {
        name: 'customer-activated',
        args: async () => ({ connectionId: g('Connection', (await freshConnection('CUSTOMER_ACTIVATED', acme.customers[0]!.id)).id) }),
        expect: customerUserOnly('ok', 'ok'),
      },
      { name: 'org-activated', args: () => ({ connectionId: fx.gid.hidden }), expect: customerUserOnly('hidden', 'hidden') },
    ],
    startOAuthAuthorization: [
      {
        args: (p) => (p === 'CUST_A' || p === 'CUST_B' ? { connectionId: t.oauthConnection } : { connectionId: t.oauthConnection, customerId: t.custA }),
        expect: credentialWrite(builderRead('ok', 'ok', 'hidden')),
      },
    ],
    connectOAuthClientCredentials: [
      {
        // An authorization-code connector: every caller that gets past authorization is refused on the grant type.
        args: (p) => (p === 'CUST_A' || p === 'CUST_B' ? { connectionId: t.oauthConnection } : { connectionId: t.oauthConnection, customerId: t.custA }),
        expect: credentialWrite({ ...builderRead('invalid', 'invalid', 'hidden'), ADMIN: 'invalid', KEY: 'invalid' }),
      },
    ],
    testConnection: [
      {
        // The connector has no test request: allowed callers get a typed refusal, others not-found.
        args: (p) => (p === 'CUST_A' || p === 'CUST_B' ? { connectionId: fx.gid.cust } : { connectionId: fx.gid.cust, customerId: t.custA }),
        expect: credentialWrite({ ...builderRead('invalid', 'invalid', 'hidden'), ADMIN: 'invalid', KEY: 'invalid' }),
      },
    ],
    // integrations & instances
    createIntegration: [{ args: () => ({ input: { stableKey: uniq('i'), name: 'I', connections: [{ connectionStableKey: 'cust' }] } }), expect: orgWriteOwn }],
    upsertIntegration: [{ args: () => ({ input: { stableKey: 'crm', name: 'CRM' } }), expect: orgWriteOwn }],
    updateIntegration: [{ args: () => ({ id: t.integration, patch: { description: 'd' } }), expect: orgWriteTarget }],
    setIntegrationConnections: [
      { args: () => ({ id: t.integration, connections: [{ connectionStableKey: 'cust' }, { connectionStableKey: 'global' }] }), expect: orgWriteTarget },
    ],
    deleteIntegration: [{ args: async () => ({ id: g('Integration', (await freshIntegration()).id) }), expect: orgWriteTarget }],
    createInstance: [
      {
        args: async () => ({ input: { integrationId: g('Integration', (await freshIntegration()).id), customerId: t.custA } }),
        expect: { ...orgWriteTarget, OTHER: 'invalid' },
      },
    ],
    updateInstance: [{ args: () => ({ id: t.instanceA, patch: { name: 'renamed' } }), expect: orgWriteTarget }],
    deleteInstance: [
      {
        args: async () => {
          const i = await freshIntegration();
          const inst = await asAcme((op) => createInstance(op, { integrationId: i.id, customerId: acme.customers[0]!.id, name: 'x' }));
          return { id: g('Instance', inst.id) };
        },
        expect: orgWriteTarget,
      },
    ],
    // workflows
    createWorkflow: [
      {
        args: (p) => (p === 'CUST_A' || p === 'CUST_B' ? { input: { name: 'w' } } : { input: { name: 'w', customerId: t.custA } }),
        expect: builderRead('ok', 'ok', 'invalid'),
      },
      { name: "naming customer A", args: () => ({ input: { name: 'w', customerId: t.custA } }), expect: builderRead('ok', 'invalid', 'invalid') },
    ],
    updateWorkflow: [{ args: () => ({ id: t.workflowA, patch: { name: 'renamed' } }), expect: builderRead('ok', 'hidden', 'hidden') }],
    deleteWorkflow: [{ args: async () => ({ id: g('Workflow', (await freshWorkflowA()).id) }), expect: builderRead('ok', 'hidden', 'hidden') }],
    createWorkflowStep: [
      {
        args: () => ({ input: { workflowId: t.workflowA, name: 's', connectorKey: 'slack', connectionId: fx.gid.cust } }),
        expect: builderRead('ok', 'invalid', 'invalid'),
      },
    ],
    updateWorkflowStep: [{ args: () => ({ id: t.stepA, patch: { name: 'renamed' } }), expect: builderRead('ok', 'hidden', 'hidden') }],
    deleteWorkflowStep: [
      {
        args: async () => {
          const workflowId = (await freshWorkflowA()).id;
          const s = await asAcme((op) => createStep(op, { workflowId, name: 's', connectorId: fx.connectors.slack }));
          return { id: g('WorkflowStep', s.id) };
        },
        expect: builderRead('ok', 'hidden', 'hidden'),
      },
    ],
    // manifest
    importManifest: [
      {
        name: 'dry run',
        args: () => ({ manifest: { version: 1, connectors: [], connections: [], integrations: [] }, dryRun: true }),
        // A dry run only reads: read-only keys may plan.
        expect: { ...orgWriteOwn, KEY_RO: 'ok' },
      },
    ],
  },
  // Over graphql-ws. `after: "0"` replays customer A's feed, so an allowed subscriber receives an event at once.
  Subscription: {
    availableConnectionsChanged: [
      {
        name: "customer A's feed",
        args: (p) => (p === 'CUST_A' ? { after: '0' } : { after: '0', customerId: t.custA }),
        expect: { ...builderRead('ok', 'hidden', 'hidden'), ANON: 'unauth' },
      },
    ],
    // `after: "0"` replays the health events of the fixtures' values: each principal's first is its own organization's or customer's.
    connectionHealthChanged: [
      { name: "the caller's organization (customer users: their customer's values)", args: () => ({ after: '0' }), expect: { ...builderRead('ok', 'ok', 'ok'), ANON: 'unauth' } },
      { name: "customer A's values", args: () => ({ after: '0', customerId: t.custA }), expect: { ...builderRead('ok', 'hidden', 'hidden'), ANON: 'unauth' } },
      { name: 'an org-activated connection', args: () => ({ after: '0', connectionId: fx.gid.orgCust }), expect: { ...builderRead('hidden', 'hidden', 'hidden'), ANON: 'unauth' } },
    ],
  },
};

// ───────────────────────────── the driver ─────────────────────────────

/** A selection set that reaches ids and type names of whatever a field returns. */
function selection(type: GraphQLOutputType, depth = 0): string {
  const named = getNamedType(type);
  if (isScalarType(named) || isEnumType(named)) return '';
  if (depth > 3) return '{ __typename }';
  if (isUnionType(named)) {
    const members = named
      .getTypes()
      .map((m) => {
        const inner = selection(m, depth + 1);
        return inner && inner !== '{ __typename }' ? `... on ${m.name} ${inner}` : '';
      })
      .join(' ');
    return `{ __typename ${members} }`;
  }
  if (isObjectType(named) || isInterfaceType(named)) {
    const fields = named.getFields();
    const parts = ['__typename'];
    if (fields.id) parts.push('id');
    if (fields.code && fields.message) parts.push('code');
    if (fields.problems) parts.push('problems { path message }');
    if (fields.edges) {
      const edge = getNamedType(fields.edges.type) as GraphQLObjectType;
      parts.push(`edges { node ${selection(edge.getFields().node!.type, depth + 1)} }`);
    }
    if (fields.data) parts.push(`data ${selection(fields.data.type, depth + 1)}`);
    if (fields.node && !fields.edges) parts.push(`node ${selection(fields.node.type, depth + 1)}`);
    return `{ ${parts.join(' ')} }`;
  }
  return '';
}

function document(kind: 'Query' | 'Mutation' | 'Subscription', field: GraphQLField<unknown, unknown>, args: Args): string {
  const used = field.args.filter((a) => args[a.name] !== undefined);
  const vars = used.map((a) => `$${a.name}: ${a.type.toString()}`).join(', ');
  const call = used.length ? `(${used.map((a) => `${a.name}: $${a.name}`).join(', ')})` : '';
  return `${kind.toLowerCase()} Matrix${vars ? `(${vars})` : ''} { result: ${field.name}${call} ${selection(field.type)} }`;
}

function isEmpty(v: unknown): boolean {
  if (v === null || v === undefined) return true;
  if (Array.isArray(v)) return v.length === 0 || v.every((x) => x === null);
  if (typeof v === 'object' && 'edges' in (v as object)) return ((v as { edges: unknown[] }).edges ?? []).length === 0;
  return false;
}

function classify(kind: 'Query' | 'Mutation', body: { data?: { result?: unknown } | null; errors?: { extensions?: { code?: string } }[] }): string {
  const code = body.errors?.[0]?.extensions?.code;
  if (code === 'UNAUTHENTICATED') return 'unauth';
  if (code === 'FORBIDDEN') return 'forbidden';
  if (code === 'NOT_FOUND') return 'hidden';
  if (code === 'VALIDATION_FAILED') return 'invalid';
  if (code) return `error:${code}`;
  const result = body.data?.result;
  const typename = (result as { __typename?: string } | null)?.__typename;
  if (typename) {
    if (typename.endsWith('Success')) return 'ok';
    if (typename === 'NotFoundError' || typename === 'ResolutionNotFound' || typename === 'ResolutionNotPermitted') return 'hidden';
    if (typename === 'ForbiddenError') return 'forbidden';
    if (typename === 'ValidationError' || typename === 'ConflictError' || typename === 'InUseError') return 'invalid';
    if (typename.startsWith('Resolution')) return 'invalid';
    if (kind === 'Mutation' && typename.endsWith('Error')) return `typed:${typename}`;
  }
  if (kind === 'Query') return isEmpty(result) ? 'hidden' : 'ok';
  return 'ok';
}

/** The first thing a subscription yields: an event, or the error (a refused WebSocket counts as UNAUTHENTICATED). */
async function firstMessage(source: string, args: Args, token: string | undefined): Promise<unknown> {
  const client = wsClient(gw.url, token ?? null);
  const c = new Collector<unknown>(client, parse(source) as never, args, 'result');
  try {
    await c.until((x) => x.events.length > 0 || x.errors.length > 0 || x.completed, 15_000, 'a first message');
    if (c.events.length) return { data: { result: c.events[0] } };
    const err = c.errors[0] as { extensions?: { code?: string } }[] | { code?: number } | undefined;
    if (Array.isArray(err)) return { errors: err };
    if (client.closeCode() === 4403 || (err as { code?: number } | undefined)?.code === 4403) return { errors: [{ extensions: { code: 'UNAUTHENTICATED' } }] };
    return { errors: [{ extensions: { code: `CLOSED_${client.closeCode() ?? 'unknown'}` } }] };
  } finally {
    c.close();
    await client.dispose();
  }
}

const tokens = {} as Record<P, string | undefined>;
/** Ids each principal must never see in any response. */
const forbiddenIds = {} as Record<P, string[]>;

useWorld({ orgs: { acme: { customers: ['customer-a', 'customer-b'] }, other: { customers: ['customer-a', 'customer-b'] } } }, async (w) => {
  ({ gw, acme, other } = w);
  fx = await seedConnections(gw.app, acme);
  const otherFx = await seedConnections(gw.app, other);
  t.otherCustomer = g('Customer', other.customers[0]!.id);
  t.otherConnection = otherFx.gid.cust;
  const [a, b] = acme.customers;
  const db = gw.db.prisma;
  t.custA = g('Customer', a!.id);
  t.custB = g('Customer', b!.id);
  const integration = await asAcme((op) =>
    createIntegration(op, { stableKey: 'crm', name: 'CRM', connections: [{ connectionId: fx.ids.cust }, { connectionId: fx.ids.orgCust }] }),
  );
  t.integration = g('Integration', integration.id);
  t.instanceA = g('Instance', (await asAcme((op) => createInstance(op, { integrationId: integration.id, customerId: a!.id, name: 'crm A' }))).id);
  const wfA = await asAcme((op) => createWorkflow(op, { customerId: a!.id, name: 'A flow' }));
  t.workflowA = g('Workflow', wfA.id);
  const stepA = await asAcme((op) => createStep(op, { workflowId: wfA.id, name: 'step', connectorId: fx.connectors.slack, connectionId: fx.ids.orgCust }));
  t.stepA = g('WorkflowStep', stepA.id);
  t.workflowB = g('Workflow', (await asAcme((op) => createWorkflow(op, { customerId: b!.id, name: 'B flow' }))).id);
  const valueA = await db.connectionValue.findUniqueOrThrow({ where: { connectionId_slot: { connectionId: fx.ids.cust, slot: a!.id } } });
  const valueB = await db.connectionValue.findUniqueOrThrow({ where: { connectionId_slot: { connectionId: fx.ids.cust, slot: b!.id } } });
  t.valueA = g('ConnectionValue', valueA.id);
  t.valueB = g('ConnectionValue', valueB.id);
  const oauth = await makeConnector(gw.app, acme.orgId, {
    key: 'oauthapp',
    name: 'OAuth app',
    authType: 'OAUTH2',
    oauth2: { grantType: 'authorization_code', authorizeUrl: 'https://auth.example/authorize', tokenUrl: 'https://auth.example/token', scopes: ['read'], clientId: 'client', pkce: true },
    testRequest: { method: 'GET', url: 'https://api.example/me', headers: { authorization: 'Bearer {{accessToken}}' } },
  });
  t.oauthConnector = g('Connector', oauth.id);
  t.oauthConnection = g(
    'Connection',
    (await makeConnection(gw.app, acme.orgId, { stableKey: 'oauth', name: 'OAuth', connectorId: oauth.id, type: 'CUSTOMER_ACTIVATED', availableInWorkflows: true })).id,
  );

  tokens.ADMIN = acme.adminToken;
  tokens.KEY = acme.apiKey;
  tokens.KEY_RO = (await asAcme((op) => createApiKey(op, { name: 'read-only', readOnly: true }))).secret;
  tokens.KEY_NCW = (await asAcme((op) => createApiKey(op, { name: 'no credential writes', noCredentialWrites: true }))).secret;
  tokens.CUST_A = a!.userToken;
  tokens.CUST_B = b!.userToken;
  tokens.RUNTIME = a!.runtimeToken;
  tokens.ANON = undefined;
  tokens.OTHER = other.adminToken;

  const acmeIds = [t.custA, t.custB, t.integration, t.instanceA, t.workflowA, t.stepA, t.workflowB, t.valueA, t.valueB, ...Object.values(fx.gid), fx.connectorGid.slack];
  const otherIds = [...other.customers.map((c) => g('Customer', c.id)), ...Object.values(otherFx.gid), otherFx.connectorGid.slack];
  forbiddenIds.OTHER = acmeIds;
  forbiddenIds.ADMIN = otherIds;
  forbiddenIds.KEY = otherIds;
  forbiddenIds.KEY_RO = otherIds;
  forbiddenIds.KEY_NCW = otherIds;
  forbiddenIds.CUST_A = [...otherIds, t.custB, t.workflowB, t.valueB, fx.gid.hidden];
  forbiddenIds.CUST_B = [...otherIds, t.custA, t.instanceA, t.workflowA, t.stepA, t.valueA, t.integration, fx.gid.hidden, fx.gid.orgCust, fx.gid.global];
  forbiddenIds.RUNTIME = [...otherIds, t.custB, t.workflowB, t.valueB];
  forbiddenIds.ANON = [...acmeIds, ...otherIds];
});

const KINDS = ['Query', 'Mutation', 'Subscription'] as const;
const rootType = (kind: (typeof KINDS)[number]) =>
  (kind === 'Query' ? schema.getQueryType() : kind === 'Mutation' ? schema.getMutationType() : schema.getSubscriptionType())!;

describe('authorization matrix', () => {
  it('covers every query and mutation of the schema (a new field must be classified here)', () => {
    for (const kind of KINDS) {
      const fields = Object.keys(rootType(kind).getFields()).sort();
      const missing = fields.filter((f) => !MATRIX[kind][f]?.length);
      const stale = Object.keys(MATRIX[kind]).filter((f) => !fields.includes(f));
      expect(missing, `${kind} fields without a matrix entry`).toEqual([]);
      expect(stale, `${kind} matrix entries for fields that no longer exist`).toEqual([]);
    }
  });

  it('deep reads through every relation leak nothing across orgs or customers', async () => {
    // Nested relations are where a missing scope filter hides: walk them all and scan for foreign ids.
    // Several queries: one would exceed the complexity limit.
    const deep = [
      `query DeepInstances { customers(first: 5) { edges { node { id
        instances(first: 5) { edges { node { id integration { id } readiness { missing { connection { __typename id } } } } } } } } } }`,
      `query DeepRequirements { integrations(first: 10) { edges { node { id connections { connection { __typename id } } } } } }`,
      `query DeepWorkflows { customers(first: 5) { edges { node { id
        workflows(first: 5) { edges { node { id steps { id connection { __typename id } } } } } } } } }`,
      `query DeepSteps { workflows(first: 10) { edges { node { id steps { id connection { __typename id } selectedConnection { id } } } } } }`,
      `query DeepValues { customers(first: 5) { edges { node { id
        connectionValues(first: 10) { edges { node { id connection { __typename id connector { id } } } } } } } } }`,
      `query DeepCatalogue {
        connections(first: 10) { edges { node { __typename id connector { id } } } }
        connectors(first: 10) { edges { node { id } } }
        integrations(first: 10) { edges { node { id instances(first: 10) { edges { node { id customer { id } } } } } } }
        workflows(first: 10) { edges { node { id customer { id } } } } }`,
      `query DeepOverview($a: ID) { customerConnectionOverview(customerId: $a) {
        connections { option { id } connection { __typename id } value { id } instances { id } workflows { id } } } }`,
    ];
    for (const q of deep) {
      expect(validate(schema, parse(q)).map((e) => e.message)).toEqual([]);
      for (const p of ['ADMIN', 'KEY', 'KEY_RO', 'KEY_NCW', 'CUST_A', 'CUST_B', 'OTHER'] as const) {
        const vars = q.includes('$a') ? { a: p === 'CUST_A' || p === 'CUST_B' ? undefined : t.custA } : {};
        const r = await gql(gw.url, parse(q) as never, vars as never, tokens[p]);
        expect(r.errors, `${p}: ${q.slice(0, 40)}`).toBeUndefined();
        const text = JSON.stringify(r.data);
        expect(forbiddenIds[p].filter((id) => text.includes(id)), p).toEqual([]);
        // Customer users may hold an org-activated connection's id (an opaque option) but never the Connection itself.
        if (p === 'CUST_A' || p === 'CUST_B') {
          const orgActivated = [fx.gid.orgCust, fx.gid.global, fx.gid.hidden];
          expect(orgActivated.filter((id) => text.includes(`"__typename":"Connection","id":"${id}"`)), p).toEqual([]);
        }
      }
    }
  });

  for (const kind of KINDS) {
    const type = rootType(kind);
    for (const [fieldName, cases] of Object.entries(MATRIX[kind])) {
      for (const c of cases) {
        it(`${kind}.${fieldName}${c.name ? ` (${c.name})` : ''}`, async () => {
          const field = type.getFields()[fieldName];
          if (!field) return; // reported by the coverage test
          const got = {} as Record<P, string>;
          const leaks: string[] = [];
          for (const p of PRINCIPALS) {
            const args = await c.args(p);
            const source = document(kind, field, args);
            const errors = validate(schema, parse(source));
            expect(errors.map((e) => e.message), source).toEqual([]);
            const r = kind === 'Subscription' ? await firstMessage(source, args, tokens[p]) : await gql(gw.url, parse(source) as never, args as never, tokens[p]);
            got[p] = classify(kind === 'Subscription' ? 'Query' : kind, r as never);
            const text = JSON.stringify(r);
            for (const id of forbiddenIds[p]) if (text.includes(id)) leaks.push(`${p} saw ${id} in ${text.slice(0, 300)}`);
            if (got[p] !== expected(kind, c.expect, p)) got[p] += ` ← ${text.slice(0, 400)}`;
          }
          expect(leaks).toEqual([]);
          const mismatches = PRINCIPALS.filter((p) => got[p].includes('←')).map(
            (p) => `${p}: expected ${expected(kind, c.expect, p)}, got ${got[p]}`,
          );
          expect(mismatches).toEqual([]);
        });
      }
    }
  }
});

// ───────────────────────────── field rules ─────────────────────────────

/**
 * Fields narrower than their type (docs/security.md, "Who reads what"):
 * the vendor's notes on a customer, OAuth2 settings and test requests of
 * connectors, and the organization's settings are organization-only.
 */
const connectorSettings: Expect = { ADMIN: 'ok', KEY: 'ok', CUST_A: 'forbidden', CUST_B: 'forbidden', RUNTIME: 'forbidden', ANON: 'unauth', OTHER: 'hidden' };
const FIELD_RULES: { field: string; query: string; vars: () => Args; expect: Expect }[] = [
  {
    field: 'Customer.metadata',
    query: 'query F($id: ID!) { result: customer(id: $id) { metadata } }',
    vars: () => ({ id: t.custA }),
    expect: { ADMIN: 'ok', KEY: 'ok', CUST_A: 'forbidden', CUST_B: 'hidden', RUNTIME: 'forbidden', ANON: 'unauth', OTHER: 'hidden' },
  },
  {
    field: 'Connector.oauth2',
    query: 'query F($id: ID!) { result: connector(id: $id) { oauth2 { clientId tokenUrl } } }',
    vars: () => ({ id: t.oauthConnector }),
    expect: connectorSettings,
  },
  {
    field: 'Connector.testRequest',
    query: 'query F($id: ID!) { result: connector(id: $id) { testRequest { url } } }',
    vars: () => ({ id: t.oauthConnector }),
    expect: connectorSettings,
  },
  {
    field: 'Organization.settings',
    query: 'query F { result: viewer { organization { settings { oauthRedirectOrigins } } } }',
    vars: () => ({}),
    expect: { ADMIN: 'ok', KEY: 'ok', CUST_A: 'forbidden', CUST_B: 'forbidden', RUNTIME: 'forbidden', ANON: 'unauth', OTHER: 'ok' },
  },
];

describe('field rules', () => {
  for (const rule of FIELD_RULES) {
    it(rule.field, async () => {
      const got: string[] = [];
      for (const p of PRINCIPALS) {
        const r = await gql(gw.url, parse(rule.query) as never, rule.vars() as never, tokens[p]);
        const outcome = classify('Query', r as never);
        if (outcome !== expected('Query', rule.expect, p)) got.push(`${p}: expected ${expected('Query', rule.expect, p)}, got ${outcome} ← ${JSON.stringify(r).slice(0, 300)}`);
      }
      expect(got).toEqual([]);
    });
  }
});

// ───────────────────────────── key limits × paths ─────────────────────────────

/**
 * A limit holds whatever door the operation comes through (auth/limits.ts):
 * every path to an effect, tried with an unlimited key, a key without
 * credential writes and a read-only key. Whether it took effect is read back
 * from the database (or from what the path obtained), not from the answer.
 */
type Key = 'KEY' | 'KEY_NCW' | 'KEY_RO';
const KEYS: Key[] = ['KEY', 'KEY_NCW', 'KEY_RO'];
const ADMITS: Record<'change' | 'credentials', Key[]> = { change: ['KEY', 'KEY_NCW'], credentials: ['KEY'] };

interface LimitPath {
  name: string;
  effect: 'change' | 'credentials';
  /** Tries the path with this key; answers whether the effect happened. */
  attempt(token: string): Promise<boolean>;
}

const call = async (source: string, vars: Args, token: string | undefined) => {
  const r = await gql(gw.url, parse(source) as never, vars as never, token);
  return r.data as Record<string, { __typename?: string; data?: Record<string, unknown> } | null> | null;
};
const rest = (path: string, token: string, init: { method?: string; body?: unknown } = {}) =>
  fetch(`${gw.url}${path}`, {
    method: init.method ?? 'GET',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
  }).then(async (r) => ({ status: r.status, body: (await r.json()) as Record<string, unknown> }));
const valueFor = (connectionId: string, slot: string) =>
  gw.db.prisma.connectionValue.findUnique({ where: { connectionId_slot: { connectionId, slot } } });
const notRefused = (r: Record<string, { __typename?: string } | null> | null) => !!r && !Object.values(r).some((v) => v?.__typename === 'ForbiddenError');

const limitsFx = {} as { connector: string; oauthConnector: string; ccConnection: string; tested: string; globalId: string; renamed: string; proxied: string };

/** Proxy calls audited for the org so far (aggregated rows count several). */
const proxyCalls = async () => (await gw.db.prisma.auditEvent.aggregate({ where: { orgId: acme.orgId, action: 'connection.proxy' }, _sum: { count: true } }))._sum.count ?? 0;
const viaProxy = (token: string) =>
  fetch(`${gw.url}/proxy/me`, { headers: { authorization: `Bearer ${token}`, 'provider-config-key': 'limits-proxied', 'connection-id': acme.customers[0]!.externalId } }).then((r) => r.status);

const LIMIT_PATHS: LimitPath[] = [
  {
    name: 'setConnectionValue (GraphQL)',
    effect: 'credentials',
    async attempt(token) {
      const c = await freshConnection('ORG_ACTIVATED_CUSTOMER');
      await call('mutation($t: ConnectionValueTarget!, $v: JSON!) { setConnectionValue(target: $t, values: $v) { __typename } }', { t: { connectionId: g('Connection', c.id), slot: 'CUSTOMER', customerId: t.custA }, v: secretValues }, token);
      return !!(await valueFor(c.id, acme.customers[0]!.id));
    },
  },
  {
    name: 'clearConnectionValue (GraphQL)',
    effect: 'credentials',
    async attempt(token) {
      const c = await freshConnection('ORG_ACTIVATED_CUSTOMER', acme.customers[0]!.id);
      await call('mutation($t: ConnectionValueTarget!) { clearConnectionValue(target: $t) { __typename } }', { t: { connectionId: g('Connection', c.id), slot: 'CUSTOMER', customerId: t.custA } }, token);
      return !(await valueFor(c.id, acme.customers[0]!.id));
    },
  },
  {
    name: 'POST /api/v1/global-connections (REST, with its value)',
    effect: 'credentials',
    async attempt(token) {
      const externalId = uniq('gc');
      await rest('/api/v1/global-connections', token, {
        method: 'POST',
        body: { displayName: 'G', pieceName: 'limits-piece', type: 'SECRET_TEXT', value: { type: 'SECRET_TEXT', props: { secret_text: 'limit-secret-000001' } }, projectIds: [acme.customers[0]!.id], externalId },
      });
      return (await gw.db.prisma.connection.count({ where: { orgId: acme.orgId, externalId } })) > 0;
    },
  },
  {
    name: 'POST /api/v1/global-connections/:id (REST, a new value)',
    effect: 'credentials',
    async attempt(token) {
      const before = (await valueFor(limitsFx.globalId, 'GLOBAL'))!.version;
      await rest(`/api/v1/global-connections/${limitsFx.globalId}`, token, { method: 'POST', body: { value: { type: 'SECRET_TEXT', props: { secret_text: uniq('new-secret-value') } } } });
      return (await valueFor(limitsFx.globalId, 'GLOBAL'))!.version !== before;
    },
  },
  {
    name: 'registerEmbedSigningKey, then setMyConnectionValue as any customer user it signs for',
    effect: 'credentials',
    async attempt(token) {
      const pair = await newEmbedKeyPair();
      const r = await call('mutation($k: String!) { registerEmbedSigningKey(publicKey: $k, alg: "ES256") { __typename ... on MutationRegisterEmbedSigningKeySuccess { data { keyId } } } }', { k: pair.publicKeyPem }, token);
      const keyId = (r?.registerEmbedSigningKey?.data as { keyId?: string } | undefined)?.keyId;
      if (!keyId) return false;
      const c = await freshConnection('CUSTOMER_ACTIVATED');
      const user = await signEmbedToken({ keyId, privateKey: pair.privateKey }, { userId: uniq('u'), customerExternalId: 'customer-a' });
      await call('mutation($c: ID!, $v: JSON!) { setMyConnectionValue(connectionId: $c, values: $v) { __typename } }', { c: g('Connection', c.id), v: secretValues }, user);
      return !!(await valueFor(c.id, acme.customers[0]!.id));
    },
  },
  {
    name: 'createConnectLink, then setMyConnectionValue through the session it opens',
    effect: 'credentials',
    async attempt(token) {
      const c = await freshConnection('CUSTOMER_ACTIVATED');
      const r = await call('mutation($c: ID!, $k: [String!]!) { createConnectLink(customerId: $c, connections: $k) { __typename ... on MutationCreateConnectLinkSuccess { data { token } } } }', { c: t.custA, k: [c.stableKey] }, token);
      const link = (r?.createConnectLink?.data as { token?: string } | undefined)?.token;
      if (!link) return false;
      const res = await fetch(`${gw.url}/connect/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ link }) });
      const { accessToken } = (await res.json()) as { accessToken: string };
      await call('mutation($c: ID!, $v: JSON!) { setMyConnectionValue(connectionId: $c, values: $v) { __typename } }', { c: g('Connection', c.id), v: secretValues }, accessToken);
      return !!(await valueFor(c.id, acme.customers[0]!.id));
    },
  },
  {
    name: 'issueRuntimeToken, then resolveConnection (credentials in plaintext)',
    effect: 'credentials',
    async attempt(token) {
      const r = await call('mutation($c: ID!) { issueRuntimeToken(customerId: $c) { __typename ... on MutationIssueRuntimeTokenSuccess { data { token } } } }', { c: t.custA }, token);
      const runtime = (r?.issueRuntimeToken?.data as { token?: string } | undefined)?.token;
      if (!runtime) return false;
      const resolved = await call('query { resolveConnection(stableKey: "cust") { __typename } }', {}, runtime);
      return resolved?.resolveConnection?.__typename === 'ResolvedCredential';
    },
  },
  {
    name: 'the proxy: an API called with a customer\'s credential',
    effect: 'credentials',
    async attempt(token) {
      const before = await proxyCalls();
      await viaProxy(token);
      return (await proxyCalls()) > before;
    },
  },
  {
    name: 'issueRuntimeToken(proxyOnly), then the proxy',
    effect: 'credentials',
    async attempt(token) {
      const r = await call('mutation($c: ID!) { issueRuntimeToken(customerId: $c, proxyOnly: true) { __typename ... on MutationIssueRuntimeTokenSuccess { data { token } } } }', { c: t.custA }, token);
      const runtime = (r?.issueRuntimeToken?.data as { token?: string } | undefined)?.token;
      if (!runtime) return false;
      const before = await proxyCalls();
      await viaProxy(runtime);
      return (await proxyCalls()) > before;
    },
  },
  {
    name: 'updateConnection: a proxy-only credential let out again',
    effect: 'credentials',
    async attempt(token) {
      await gw.db.prisma.connection.update({ where: { id: limitsFx.proxied }, data: { proxyOnly: true } });
      await call('mutation($id: ID!) { updateConnection(id: $id, patch: { proxyOnly: false }) { __typename } }', { id: g('Connection', limitsFx.proxied) }, token);
      return !(await gw.db.prisma.connection.findUniqueOrThrow({ where: { id: limitsFx.proxied } })).proxyOnly;
    },
  },
  {
    name: 'updateOrganizationSettings: proxy calls may send credentials to any base URL',
    effect: 'credentials',
    async attempt(token) {
      await gw.db.prisma.organization.update({ where: { id: acme.orgId }, data: { allowProxyBaseUrlOverride: false } });
      await call('mutation { updateOrganizationSettings(input: { allowProxyBaseUrlOverride: true }) { __typename } }', {}, token);
      const allowed = (await gw.db.prisma.organization.findUniqueOrThrow({ where: { id: acme.orgId } })).allowProxyBaseUrlOverride;
      await gw.db.prisma.organization.update({ where: { id: acme.orgId }, data: { allowProxyBaseUrlOverride: false } });
      return allowed;
    },
  },
  {
    name: 'updateConnector: where a test request sends credentials',
    effect: 'credentials',
    async attempt(token) {
      const url = `https://${uniq('api')}.example/me`;
      await call('mutation($id: ID!, $p: ConnectorPatch!) { updateConnector(id: $id, patch: $p) { __typename } }', { id: g('Connector', limitsFx.connector), p: { testRequest: { url, headers: { 'x-key': '{{secret_text}}' } } } }, token);
      return ((await gw.db.prisma.connector.findUniqueOrThrow({ where: { id: limitsFx.connector } })).testRequest as { url?: string } | null)?.url === url;
    },
  },
  {
    name: 'importManifest: the same change to a connector',
    effect: 'credentials',
    async attempt(token) {
      const url = `https://${uniq('api')}.example/me`;
      const exported = await call('query { exportManifest }', {}, token);
      const manifest = exported!.exportManifest as unknown as { connectors: { key: string; testRequest: unknown }[] };
      manifest.connectors.find((c) => c.key === 'limits-app')!.testRequest = { method: 'GET', url, headers: { 'x-key': '{{secret_text}}' } };
      await call('mutation($m: JSON!) { importManifest(manifest: $m, dryRun: false) { __typename } }', { m: manifest }, token);
      return ((await gw.db.prisma.connector.findUniqueOrThrow({ where: { id: limitsFx.connector } })).testRequest as { url?: string } | null)?.url === url;
    },
  },
  {
    name: 'updateConnector: the OAuth2 token URL (client secret entered again)',
    effect: 'credentials',
    async attempt(token) {
      const tokenUrl = `https://${uniq('idp')}.example/token`;
      await call(
        'mutation($id: ID!, $p: ConnectorPatch!) { updateConnector(id: $id, patch: $p) { __typename } }',
        { id: g('Connector', limitsFx.oauthConnector), p: { oauth2: { grantType: 'client_credentials', tokenUrl, clientId: 'cid', scopes: [] }, oauthClientSecret: uniq('client-secret') } },
        token,
      );
      return ((await gw.db.prisma.connector.findUniqueOrThrow({ where: { id: limitsFx.oauthConnector } })).oauth2 as { tokenUrl: string }).tokenUrl === tokenUrl;
    },
  },
  {
    name: 'startOAuthAuthorization',
    effect: 'credentials',
    async attempt(token) {
      const before = await gw.db.prisma.oAuthState.count();
      await call('mutation($c: ID!, $cu: ID) { startOAuthAuthorization(connectionId: $c, customerId: $cu) { __typename } }', { c: t.oauthConnection, cu: t.custA }, token);
      return (await gw.db.prisma.oAuthState.count()) > before;
    },
  },
  {
    name: 'connectOAuthClientCredentials (the provider is asked)',
    effect: 'credentials',
    async attempt(token) {
      return notRefused(await call('mutation($c: ID!) { connectOAuthClientCredentials(connectionId: $c) { __typename } }', { c: g('Connection', limitsFx.ccConnection) }, token));
    },
  },
  {
    name: 'testConnection (credentials sent to the test host)',
    effect: 'credentials',
    async attempt(token) {
      const before = await gw.db.prisma.auditEvent.count({ where: { action: 'connection.test' } });
      await call('mutation($c: ID!, $cu: ID) { testConnection(connectionId: $c, customerId: $cu) { __typename } }', { c: g('Connection', limitsFx.tested), cu: t.custA }, token);
      return (await gw.db.prisma.auditEvent.count({ where: { action: 'connection.test' } })) > before;
    },
  },
  {
    name: 'createApiKey without limits',
    effect: 'credentials',
    async attempt(token) {
      const name = uniq('minted');
      await call('mutation($n: String!) { createApiKey(input: { name: $n }) { __typename } }', { n: name }, token);
      return (await gw.db.prisma.apiKey.count({ where: { name, readOnly: false, noCredentialWrites: false } })) > 0;
    },
  },
  {
    name: 'importManifest: a connection renamed',
    effect: 'change',
    async attempt(token) {
      const name = uniq('renamed');
      const exported = await call('query { exportManifest }', {}, token);
      const manifest = exported!.exportManifest as unknown as { connections: { stableKey: string; name: string }[] };
      manifest.connections.find((c) => c.stableKey === limitsFx.renamed)!.name = name;
      await call('mutation($m: JSON!) { importManifest(manifest: $m, dryRun: false) { __typename } }', { m: manifest }, token);
      return (await gw.db.prisma.connection.findFirstOrThrow({ where: { orgId: acme.orgId, stableKey: limitsFx.renamed } })).name === name;
    },
  },
  {
    name: 'POST /api/v1/projects (REST, a customer)',
    effect: 'change',
    async attempt(token) {
      const externalId = uniq('project');
      await rest('/api/v1/projects', token, { method: 'POST', body: { displayName: externalId, externalId, metadata: {} } });
      return (await gw.db.prisma.customer.count({ where: { orgId: acme.orgId, externalId } })) > 0;
    },
  },
  {
    name: 'createCustomer (GraphQL)',
    effect: 'change',
    async attempt(token) {
      const externalId = uniq('customer');
      await call('mutation($e: String!) { createCustomer(input: { externalId: $e, name: "c" }) { __typename } }', { e: externalId }, token);
      return (await gw.db.prisma.customer.count({ where: { orgId: acme.orgId, externalId } })) > 0;
    },
  },
];

describe('key limits × every path to the same effect', () => {
  beforeAll(async () => {
    limitsFx.connector = (await makeConnector(gw.app, acme.orgId, { key: 'limits-app', name: 'Limits app', authType: 'SECRET_TEXT' })).id;
    limitsFx.oauthConnector = (
      await makeConnector(gw.app, acme.orgId, {
        key: 'limits-oauth',
        name: 'Limits OAuth',
        authType: 'OAUTH2',
        oauth2: { grantType: 'client_credentials', tokenUrl: 'https://idp.example/token', clientId: 'cid', scopes: [] },
        oauthClientSecret: 'limits-client-secret-01',
      })
    ).id;
    limitsFx.ccConnection = (await makeConnection(gw.app, acme.orgId, { stableKey: 'limits-cc', name: 'cc', connectorId: limitsFx.oauthConnector, type: 'ORG_ACTIVATED_GLOBAL' })).id;
    const tested = await makeConnector(gw.app, acme.orgId, {
      key: 'limits-tested',
      name: 'Tested',
      authType: 'SECRET_TEXT',
      // An address the outbound policy refuses: the test runs and fails without leaving the machine.
      testRequest: { method: 'GET', url: 'http://10.255.255.1/me', headers: { 'x-key': '{{secret_text}}' } },
    });
    limitsFx.tested = (await makeConnection(gw.app, acme.orgId, { stableKey: 'limits-tested', name: 't', connectorId: tested.id, type: 'ORG_ACTIVATED_CUSTOMER' })).id;
    await setStatus(gw.app, limitsFx.tested, acme.customers[0]!.id, 'ACTIVE');
    const created = await rest('/api/v1/global-connections', acme.apiKey, {
      method: 'POST',
      body: { displayName: 'Limits', pieceName: 'limits-piece', type: 'SECRET_TEXT', value: { type: 'SECRET_TEXT', props: { secret_text: 'limit-secret-000000' } }, projectIds: [acme.customers[0]!.id], externalId: 'limits-global' },
    });
    limitsFx.globalId = created.body.id as string;
    limitsFx.renamed = (await freshConnection()).stableKey;
    // Proxied to an address the outbound policy refuses: a call that gets past its credential's limits is audited, and nothing leaves the machine.
    const proxied = await makeConnector(gw.app, acme.orgId, { key: 'limits-proxied', name: 'Proxied', authType: 'SECRET_TEXT', proxy: { baseUrl: 'http://10.255.255.1/api' } });
    limitsFx.proxied = (await makeConnection(gw.app, acme.orgId, { stableKey: 'limits-proxied', name: 'p', connectorId: proxied.id, type: 'ORG_ACTIVATED_CUSTOMER' })).id;
    await setStatus(gw.app, limitsFx.proxied, acme.customers[0]!.id, 'ACTIVE');
  });

  for (const path of LIMIT_PATHS) {
    it(`${path.effect}: ${path.name}`, async () => {
      const got = {} as Record<Key, boolean>;
      const want = {} as Record<Key, boolean>;
      for (const k of KEYS) {
        got[k] = await path.attempt(tokens[k]!);
        want[k] = ADMITS[path.effect].includes(k);
      }
      expect(got).toEqual(want);
    });
  }
});
