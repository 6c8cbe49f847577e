import { describe, expect, it } from 'vitest';
import type { SeededOrg } from '../src/seed/demo.js';
import { graphql } from './gql/index.js';
import { gid, gql } from './helpers/client.js';
import type { TestGateway } from './helpers/gateway.js';
import { archive, seedConnections, setStatus, type ConnectionFixture } from './helpers/fixtures.js';
import { useWorld } from './helpers/world.js';

const CreateIntegration = graphql(`
  mutation ItCreateIntegration($input: IntegrationInput!) {
    createIntegration(input: $input) {
      __typename
      ... on MutationCreateIntegrationSuccess {
        data { id stableKey name connections { required connection { stableKey } } }
      }
      ... on Error { code message }
      ... on ValidationError { problems { path message } }
    }
  }
`);

const UpsertIntegration = graphql(`
  mutation ItUpsertIntegration($input: IntegrationInput!) {
    upsertIntegration(input: $input) {
      __typename
      ... on MutationUpsertIntegrationSuccess { data { id stableKey name description connections { required connection { stableKey } } } }
      ... on Error { code }
      ... on ValidationError { problems { path } }
    }
  }
`);

const UpdateIntegration = graphql(`
  mutation ItUpdateIntegration($id: ID!, $patch: IntegrationPatch!) {
    updateIntegration(id: $id, patch: $patch) {
      __typename
      ... on MutationUpdateIntegrationSuccess { data { id stableKey name } }
      ... on Error { code }
    }
  }
`);

const SetConnections = graphql(`
  mutation ItSetConnections($id: ID!, $connections: [RequiredConnectionInput!]!) {
    setIntegrationConnections(id: $id, connections: $connections) {
      __typename
      ... on MutationSetIntegrationConnectionsSuccess { data { connections { required connection { stableKey } } } }
      ... on Error { code }
      ... on ValidationError { problems { path message } }
    }
  }
`);

const DeleteIntegration = graphql(`
  mutation ItDeleteIntegration($id: ID!, $force: Boolean) {
    deleteIntegration(id: $id, force: $force) {
      __typename
      ... on MutationDeleteIntegrationSuccess { data }
      ... on Error { code message }
    }
  }
`);

const Integrations = graphql(`
  query ItIntegrations($stableKey: String, $search: String) {
    integrations(stableKey: $stableKey, search: $search) { edges { node { id stableKey name } } }
  }
`);

const IntegrationByKey = graphql(`
  query ItIntegrationByKey($stableKey: String!) {
    integrationByStableKey(stableKey: $stableKey) { id stableKey connections { connection { stableKey } } }
  }
`);

const NodeIntegration = graphql(`
  query ItNode($id: ID!) {
    node(id: $id) { id __typename ... on Integration { stableKey } ... on Instance { name } }
  }
`);

const CreateInstance = graphql(`
  mutation ItCreateInstance($input: InstanceInput!) {
    createInstance(input: $input) {
      __typename
      ... on MutationCreateInstanceSuccess { data { id name enabled customer { externalId } integration { stableKey } } }
      ... on Error { code message }
      ... on ValidationError { problems { path } }
    }
  }
`);

const UpdateInstance = graphql(`
  mutation ItUpdateInstance($id: ID!, $patch: InstancePatch!) {
    updateInstance(id: $id, patch: $patch) {
      __typename
      ... on MutationUpdateInstanceSuccess { data { id name enabled } }
      ... on Error { code }
    }
  }
`);

const DeleteInstance = graphql(`
  mutation ItDeleteInstance($id: ID!) {
    deleteInstance(id: $id) { __typename ... on MutationDeleteInstanceSuccess { data } ... on Error { code } }
  }
`);

const Instances = graphql(`
  query ItInstances($customerId: ID, $integrationId: ID) {
    instances(customerId: $customerId, integrationId: $integrationId) {
      edges {
        node {
          id
          name
          customer { externalId }
          readiness { ready missing { reason orgActivated stableKey connection { stableKey } } }
        }
      }
    }
  }
`);

let gw: TestGateway;
let acme: SeededOrg;
let other: SeededOrg;
let fx: ConnectionFixture;
let otherFx: ConnectionFixture;
const custGid = (org: SeededOrg, i: number) => gid('Customer', org.customers[i]!.id);

useWorld({ orgs: { acme: {}, other: {} } }, async (w) => {
  ({ gw, acme, other } = w);
  fx = await seedConnections(gw.app, acme);
  otherFx = await seedConnections(gw.app, other);
});

function ok<T extends { __typename: string }>(r: { data?: Record<string, T> | null; errors?: unknown }, field: string) {
  const res = r.data?.[field];
  if (!res || !res.__typename.endsWith('Success')) throw new Error(`expected success, got ${JSON.stringify(r)}`);
  return (res as unknown as { data: unknown }).data as never;
}

describe('integrations', () => {
  let crmId: string;

  it('creates an integration with required connections named by stableKey or id', async () => {
    const r = await gql(
      gw.url,
      CreateIntegration,
      {
        input: {
          stableKey: 'crm-sync',
          name: 'CRM sync',
          connections: [
            { connectionStableKey: 'cust' },
            { connectionId: fx.gid.orgCust },
            { connectionStableKey: 'global', required: true },
            { connectionStableKey: 'twilio', required: false },
          ],
        },
      },
      acme.adminToken,
    );
    const data = ok(r, 'createIntegration') as { id: string; connections: { required: boolean; connection: { stableKey: string } }[] };
    crmId = data.id;
    expect(data.connections.map((c) => [c.connection.stableKey, c.required])).toEqual([
      ['cust', true],
      ['global', true],
      ['orgCust', true],
      ['twilio', false],
    ]);
    const audit = await gw.db.prisma.auditEvent.count({ where: { orgId: acme.orgId, action: 'integration.create' } });
    expect(audit).toBe(1);
  });

  it('an unknown connection is a typed error naming the field, and nothing is written', async () => {
    const r = await gql(
      gw.url,
      CreateIntegration,
      {
        input: {
          stableKey: 'bad',
          name: 'Bad',
          connections: [{ connectionStableKey: 'cust' }, { connectionStableKey: 'nope' }, { connectionId: otherFx.gid.cust }, {}],
        },
      },
      acme.adminToken,
    );
    const res = r.data?.createIntegration;
    expect(res?.__typename).toBe('ValidationError');
    if (res?.__typename === 'ValidationError') {
      expect(res.problems.map((p) => p.path)).toEqual([
        'input.connections.1.connectionStableKey',
        'input.connections.2.connectionId',
        'input.connections.3',
      ]);
    }
    expect(await gw.db.prisma.integration.count({ where: { stableKey: 'bad' } })).toBe(0);
  });

  it('stableKey is unique per org (CONFLICT) but may repeat across orgs', async () => {
    const dup = await gql(gw.url, CreateIntegration, { input: { stableKey: 'crm-sync', name: 'again' } }, acme.apiKey);
    expect(dup.data?.createIntegration.__typename).toBe('ConflictError');
    const otherOrg = await gql(gw.url, CreateIntegration, { input: { stableKey: 'crm-sync', name: 'theirs' } }, other.adminToken);
    expect(otherOrg.data?.createIntegration.__typename).toBe('MutationCreateIntegrationSuccess');
  });

  it('stableKey is validated and immutable (not patchable)', async () => {
    const r = await gql(gw.url, CreateIntegration, { input: { stableKey: 'has space', name: 'x' } }, acme.adminToken);
    const res = r.data?.createIntegration;
    expect(res?.__typename === 'ValidationError' && res.problems[0]?.path).toBe('input.stableKey');
    const upd = await gql(gw.url, UpdateIntegration, { id: crmId, patch: { name: 'CRM Sync v2' } }, acme.adminToken);
    expect(ok(upd, 'updateIntegration')).toMatchObject({ stableKey: 'crm-sync', name: 'CRM Sync v2' });
    const raw = await fetch(`${gw.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${acme.adminToken}` },
      body: JSON.stringify({
        query: 'mutation($id: ID!) { updateIntegration(id: $id, patch: { stableKey: "changed" }) { __typename } }',
        variables: { id: crmId },
      }),
    });
    const body = (await raw.json()) as { errors?: { message: string }[] };
    expect(body.errors?.[0]?.message).toMatch(/stableKey/);
    expect(await gw.db.prisma.integration.count({ where: { stableKey: 'changed' } })).toBe(0);
  });

  it('upsertIntegration by stableKey is idempotent and keeps connections unless given', async () => {
    const input = { stableKey: 'billing', name: 'Billing', connections: [{ connectionStableKey: 'cust' }] };
    const one = ok(await gql(gw.url, UpsertIntegration, { input }, acme.apiKey), 'upsertIntegration') as { id: string };
    const two = ok(
      await gql(gw.url, UpsertIntegration, { input: { stableKey: 'billing', name: 'Billing 2', description: 'd' } }, acme.apiKey),
      'upsertIntegration',
    ) as { id: string; name: string; connections: unknown[] };
    expect(two.id).toBe(one.id);
    expect(two.name).toBe('Billing 2');
    expect(two.connections).toHaveLength(1);
    const bad = await gql(
      gw.url,
      UpsertIntegration,
      { input: { stableKey: 'billing', name: 'x', connections: [{ connectionStableKey: 'missing' }] } },
      acme.apiKey,
    );
    const res = bad.data?.upsertIntegration;
    expect(res?.__typename === 'ValidationError' && res.problems[0]?.path).toBe('input.connections.0.connectionStableKey');
  });

  it('setIntegrationConnections replaces the set; another org id is unknown', async () => {
    const billing = await gql(gw.url, IntegrationByKey, { stableKey: 'billing' }, acme.adminToken);
    const id = billing.data!.integrationByStableKey!.id;
    const r = await gql(gw.url, SetConnections, { id, connections: [{ connectionId: fx.gid.twilio, required: false }] }, acme.adminToken);
    expect(ok(r, 'setIntegrationConnections')).toEqual({ connections: [{ required: false, connection: { stableKey: 'twilio' } }] });
    const foreign = await gql(gw.url, SetConnections, { id, connections: [{ connectionId: otherFx.gid.twilio }] }, acme.adminToken);
    const res = foreign.data?.setIntegrationConnections;
    expect(res?.__typename === 'ValidationError' && res.problems[0]?.path).toBe('connections.0.connectionId');
    // The other org cannot touch it at all.
    const theirs = await gql(gw.url, SetConnections, { id, connections: [] }, other.adminToken);
    expect(theirs.data?.setIntegrationConnections.__typename).toBe('NotFoundError');
  });

  it('lists with filters, looks up by stableKey and by node id, never across orgs', async () => {
    const all = await gql(gw.url, Integrations, {}, acme.adminToken);
    expect(all.data?.integrations.edges.map((e) => e.node.stableKey)).toEqual(['crm-sync', 'billing']);
    const byKey = await gql(gw.url, Integrations, { stableKey: 'billing' }, acme.adminToken);
    expect(byKey.data?.integrations.edges.map((e) => e.node.stableKey)).toEqual(['billing']);
    const search = await gql(gw.url, Integrations, { search: 'crm' }, acme.adminToken);
    expect(search.data?.integrations.edges.map((e) => e.node.stableKey)).toEqual(['crm-sync']);
    const node = await gql(gw.url, NodeIntegration, { id: crmId }, acme.adminToken);
    expect(node.data?.node).toMatchObject({ __typename: 'Integration', stableKey: 'crm-sync' });
    expect((await gql(gw.url, NodeIntegration, { id: crmId }, other.adminToken)).data?.node).toBeNull();
    const theirs = await gql(gw.url, Integrations, {}, other.adminToken);
    expect(theirs.data?.integrations.edges.map((e) => e.node.stableKey)).toEqual(['crm-sync']);
    expect(theirs.data?.integrations.edges[0]?.node.id).not.toBe(crmId);
  });

  it('customer users, runtimes and read-only callers cannot change integrations', async () => {
    for (const token of [acme.customers[0]!.userToken, acme.customers[0]!.runtimeToken]) {
      const r = await gql(gw.url, CreateIntegration, { input: { stableKey: 'x', name: 'x' } }, token);
      expect(r.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    }
    const anon = await gql(gw.url, CreateIntegration, { input: { stableKey: 'x', name: 'x' } });
    expect(anon.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });

  describe('instances and readiness', () => {
    let instA: string;
    let instB: string;

    it('deploys to customers, one instance per (integration, customer)', async () => {
      const a = await gql(gw.url, CreateInstance, { input: { integrationId: crmId, customerId: custGid(acme, 0) } }, acme.adminToken);
      instA = (ok(a, 'createInstance') as { id: string }).id;
      expect(ok(a, 'createInstance')).toMatchObject({ name: 'CRM Sync v2', enabled: true, customer: { externalId: 'customer-a' } });
      const b = await gql(gw.url, CreateInstance, { input: { integrationId: crmId, customerId: custGid(acme, 1), name: 'B crm' } }, acme.apiKey);
      instB = (ok(b, 'createInstance') as { id: string }).id;
      const dup = await gql(gw.url, CreateInstance, { input: { integrationId: crmId, customerId: custGid(acme, 1) } }, acme.apiKey);
      expect(dup.data?.createInstance.__typename).toBe('ConflictError');
      const foreign = await gql(gw.url, CreateInstance, { input: { integrationId: crmId, customerId: custGid(other, 0) } }, acme.apiKey);
      const res = foreign.data?.createInstance;
      expect(res?.__typename === 'ValidationError' && res.problems.map((p) => p.path)).toEqual(['input.customerId']);
    });

    it('readiness lists each required connection that does not resolve, with the reason', async () => {
      const r = await gql(gw.url, Instances, { integrationId: crmId }, acme.adminToken);
      const [a, b] = r.data!.instances.edges.map((e) => e.node);
      expect(a!.readiness).toEqual({ ready: true, missing: [] });
      expect(b!.readiness.ready).toBe(false);
      expect(b!.readiness.missing.map((m) => [m.stableKey, m.reason, m.orgActivated])).toEqual([
        ['cust', 'PENDING', false],
        ['global', 'NOT_ALLOWED', true],
        ['orgCust', 'NO_VALUE', true],
      ]);
      // Optional connections (twilio) never block readiness.
    });

    it('follows value status changes and archiving', async () => {
      await setStatus(gw.app, fx.ids.cust, acme.customers[0]!.id, 'EXPIRED');
      await setStatus(gw.app, fx.ids.global, 'GLOBAL', 'ERROR');
      await archive(gw.app, fx.ids.orgCust);
      const r = await gql(gw.url, Instances, { customerId: custGid(acme, 0) }, acme.adminToken);
      expect(r.data!.instances.edges[0]!.node.readiness.missing.map((m) => [m.stableKey, m.reason])).toEqual([
        ['cust', 'EXPIRED'],
        ['global', 'ERROR'],
        ['orgCust', 'ARCHIVED'],
      ]);
      await setStatus(gw.app, fx.ids.cust, acme.customers[0]!.id, 'ACTIVE');
      await setStatus(gw.app, fx.ids.global, 'GLOBAL', 'ACTIVE');
      await archive(gw.app, fx.ids.orgCust, false);
      const again = await gql(gw.url, Instances, { customerId: custGid(acme, 0) }, acme.adminToken);
      expect(again.data!.instances.edges[0]!.node.readiness.ready).toBe(true);
    });

    it('a customer user sees only its own instance, with org-activated connections kept opaque', async () => {
      const r = await gql(gw.url, Instances, {}, acme.customers[1]!.userToken);
      const nodes = r.data!.instances.edges.map((e) => e.node);
      expect(nodes.map((n) => n.customer.externalId)).toEqual(['customer-b']);
      expect(nodes[0]!.readiness.missing).toEqual([
        { reason: 'PENDING', orgActivated: false, stableKey: 'cust', connection: { stableKey: 'cust' } },
        { reason: 'NOT_ALLOWED', orgActivated: true, stableKey: null, connection: null },
        { reason: 'NO_VALUE', orgActivated: true, stableKey: null, connection: null },
      ]);
      // Customer A's instance id is unknown to customer B's user.
      expect((await gql(gw.url, NodeIntegration, { id: instA }, acme.customers[1]!.userToken)).data?.node).toBeNull();
      // The integration is visible to it (deployed to its customer), but only customer-activated requirements.
      const i = await gql(gw.url, IntegrationByKey, { stableKey: 'crm-sync' }, acme.customers[1]!.userToken);
      expect(i.data?.integrationByStableKey?.connections.map((c) => c.connection.stableKey)).toEqual(['cust', 'twilio']);
      const billing = await gql(gw.url, IntegrationByKey, { stableKey: 'billing' }, acme.customers[1]!.userToken);
      expect(billing.data?.integrationByStableKey).toBeNull();
    });

    it('update and delete; other orgs get NOT_FOUND; delete of a deployed integration needs force', async () => {
      const upd = await gql(gw.url, UpdateInstance, { id: instB, patch: { enabled: false } }, acme.adminToken);
      expect(ok(upd, 'updateInstance')).toMatchObject({ enabled: false });
      expect((await gql(gw.url, UpdateInstance, { id: instB, patch: { enabled: true } }, other.adminToken)).data?.updateInstance.__typename).toBe(
        'NotFoundError',
      );
      expect((await gql(gw.url, DeleteInstance, { id: instB }, other.apiKey)).data?.deleteInstance.__typename).toBe('NotFoundError');
      expect((await gql(gw.url, DeleteInstance, { id: instB }, acme.apiKey)).data?.deleteInstance).toEqual({
        __typename: 'MutationDeleteInstanceSuccess',
        data: instB,
      });
      const refused = await gql(gw.url, DeleteIntegration, { id: crmId }, acme.adminToken);
      expect(refused.data?.deleteIntegration.__typename).toBe('ConflictError');
      expect((await gql(gw.url, DeleteIntegration, { id: crmId, force: true }, other.adminToken)).data?.deleteIntegration.__typename).toBe(
        'NotFoundError',
      );
      const forced = await gql(gw.url, DeleteIntegration, { id: crmId, force: true }, acme.adminToken);
      expect(forced.data?.deleteIntegration.__typename).toBe('MutationDeleteIntegrationSuccess');
      expect(await gw.db.prisma.instance.count({ where: { orgId: acme.orgId } })).toBe(0);
    });
  });
});
