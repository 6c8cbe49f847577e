import { describe, expect, it } from 'vitest';
import { schema } from '../src/schema/index.js';
import type { SeededOrg } from '../src/seed/demo.js';
import { graphql } from './gql/index.js';
import { gid, gql } from './helpers/client.js';
import type { TestGateway } from './helpers/gateway.js';
import { seedConnections, setStatus, type ConnectionFixture } from './helpers/fixtures.js';
import { useWorld } from './helpers/world.js';

const CreateWorkflow = graphql(`
  mutation WfCreate($input: WorkflowInput!) {
    createWorkflow(input: $input) {
      __typename
      ... on MutationCreateWorkflowSuccess { data { id name customer { externalId } } }
      ... on Error { code }
      ... on ValidationError { problems { path } }
    }
  }
`);
const UpdateWorkflow = graphql(`
  mutation WfUpdate($id: ID!, $patch: WorkflowPatch!) {
    updateWorkflow(id: $id, patch: $patch) { __typename ... on MutationUpdateWorkflowSuccess { data { name } } ... on Error { code } }
  }
`);
const DeleteWorkflow = graphql(`
  mutation WfDelete($id: ID!) {
    deleteWorkflow(id: $id) { __typename ... on Error { code } }
  }
`);
const CreateStep = graphql(`
  mutation WfCreateStep($input: WorkflowStepInput!) {
    createWorkflowStep(input: $input) {
      __typename
      ... on MutationCreateWorkflowStepSuccess {
        data {
          id position name connectorKey connectionSelectable
          connection { stableKey }
          selectedConnection { id name connectorKey }
        }
      }
      ... on Error { code message }
      ... on ValidationError { problems { path message } }
    }
  }
`);
const UpdateStep = graphql(`
  mutation WfUpdateStep($id: ID!, $patch: WorkflowStepPatch!) {
    updateWorkflowStep(id: $id, patch: $patch) {
      __typename
      ... on MutationUpdateWorkflowStepSuccess { data { name position selectedConnection { id } } }
      ... on Error { code }
      ... on ValidationError { problems { path message } }
    }
  }
`);
const DeleteStep = graphql(`
  mutation WfDeleteStep($id: ID!) {
    deleteWorkflowStep(id: $id) { __typename ... on Error { code } }
  }
`);
const Workflows = graphql(`
  query WfList($customerId: ID) {
    workflows(customerId: $customerId) {
      edges { node { id name customer { externalId } steps { name connectorKey selectedConnection { name } } } }
    }
  }
`);
const Picker = graphql(`
  query WfPicker($connectorKey: String, $connectorId: ID, $customerId: ID) {
    availableConnections(connectorKey: $connectorKey, connectorId: $connectorId, customerId: $customerId) {
      id name connectorKey connectorName
    }
  }
`);
const Overview = graphql(`
  query WfOverview($customerId: ID) {
    customerConnectionOverview(customerId: $customerId) {
      customer { externalId }
      connections {
        opaque selectable allowed
        option { id name connectorKey }
        connection { stableKey type }
        value { status }
        instances { name }
        workflows { name }
      }
    }
  }
`);
const Node = graphql(`
  query WfNode($id: ID!) { node(id: $id) { id __typename } }
`);

let gw: TestGateway;
let acme: SeededOrg;
let other: SeededOrg;
let fx: ConnectionFixture;
let otherFx: ConnectionFixture;
const userA = () => acme.customers[0]!.userToken;
const userB = () => acme.customers[1]!.userToken;

useWorld({ orgs: { acme: {}, other: {} } }, async (w) => {
  ({ gw, acme, other } = w);
  fx = await seedConnections(gw.app, acme);
  otherFx = await seedConnections(gw.app, other);
});

function data<T>(r: { data?: unknown }, field: string): T {
  const res = (r.data as Record<string, { __typename: string; data?: T }> | null | undefined)?.[field];
  if (!res?.__typename.endsWith('Success')) throw new Error(`expected success: ${JSON.stringify(r)}`);
  return res.data as T;
}

describe('step picker', () => {
  it("offers a customer user its own selectable connections of the connector, org-activated ones opaquely", async () => {
    const r = await gql(gw.url, Picker, { connectorKey: 'slack' }, userA());
    expect(r.errors).toBeUndefined();
    expect(r.data?.availableConnections).toEqual([
      { id: fx.gid.cust, name: 'cust connection', connectorKey: 'slack', connectorName: 'Slack' },
      { id: fx.gid.global, name: 'global connection', connectorKey: 'slack', connectorName: 'Slack' },
      { id: fx.gid.orgCust, name: 'orgCust connection', connectorKey: 'slack', connectorName: 'Slack' },
    ]);
    // `hidden` (not availableInWorkflows) and twilio are not offered; by connector id the same.
    const byId = await gql(gw.url, Picker, { connectorId: fx.connectorGid.slack }, userA());
    expect(byId.data?.availableConnections.map((o) => o.id)).toEqual([fx.gid.cust, fx.gid.global, fx.gid.orgCust]);
  });

  it('an option carries nothing but id, name and connector: no type, no values, no stableKey', () => {
    const option = schema.getType('SelectableConnection') as unknown as { getFields(): Record<string, unknown> };
    expect(Object.keys(option.getFields()).sort()).toEqual(['connectorKey', 'connectorName', 'id', 'name']);
  });

  it('customer B sees nothing yet: pending value, no org value, not on the allow-list', async () => {
    expect((await gql(gw.url, Picker, { connectorKey: 'slack' }, userB())).data?.availableConnections).toEqual([]);
    // Asking for customer A's options with B's token shows B's own (none) — never A's.
    const guessed = await gql(gw.url, Picker, { connectorKey: 'slack', customerId: gid('Customer', acme.customers[0]!.id) }, userB());
    expect(guessed.data?.availableConnections).toEqual([]);
  });

  it('follows availability: B activates its own credentials', async () => {
    await setStatus(gw.app, fx.ids.cust, acme.customers[1]!.id, 'ACTIVE');
    expect((await gql(gw.url, Picker, { connectorKey: 'slack' }, userB())).data?.availableConnections.map((o) => o.id)).toEqual([fx.gid.cust]);
  });

  it('org principals name the customer; unknown connectors, customers and other orgs give nothing', async () => {
    const a = gid('Customer', acme.customers[0]!.id);
    const r = await gql(gw.url, Picker, { connectorKey: 'slack', customerId: a }, acme.apiKey);
    expect(r.data?.availableConnections).toHaveLength(3);
    expect((await gql(gw.url, Picker, { connectorKey: 'nope', customerId: a }, acme.apiKey)).data?.availableConnections).toEqual([]);
    expect((await gql(gw.url, Picker, { connectorKey: 'slack', customerId: a }, other.adminToken)).data?.availableConnections).toEqual([]);
    const missing = await gql(gw.url, Picker, { connectorKey: 'slack' }, acme.adminToken);
    expect(missing.errors?.[0]?.extensions?.code).toBe('VALIDATION_FAILED');
  });

  it('runtime tokens and anonymous callers are refused', async () => {
    expect((await gql(gw.url, Picker, { connectorKey: 'slack' }, acme.customers[0]!.runtimeToken)).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect((await gql(gw.url, Picker, { connectorKey: 'slack' })).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });
});

describe('workflows and steps', () => {
  let wfA: string;
  let stepId: string;

  it('a customer user creates a workflow for its own customer; org principals name the customer', async () => {
    wfA = data<{ id: string }>(await gql(gw.url, CreateWorkflow, { input: { name: 'Sync' } }, userA()), 'createWorkflow').id;
    const foreign = await gql(gw.url, CreateWorkflow, { input: { name: 'x', customerId: gid('Customer', acme.customers[1]!.id) } }, userA());
    const res = foreign.data?.createWorkflow;
    expect(res?.__typename === 'ValidationError' && res.problems[0]?.path).toBe('input.customerId');
    const byOrg = await gql(gw.url, CreateWorkflow, { input: { name: 'B flow', customerId: gid('Customer', acme.customers[1]!.id) } }, acme.adminToken);
    expect(data<{ customer: { externalId: string } }>(byOrg, 'createWorkflow').customer.externalId).toBe('customer-b');
    const noCustomer = await gql(gw.url, CreateWorkflow, { input: { name: 'x' } }, acme.apiKey);
    expect(noCustomer.data?.createWorkflow.__typename).toBe('ValidationError');
    const otherOrg = await gql(gw.url, CreateWorkflow, { input: { name: 'x', customerId: gid('Customer', acme.customers[0]!.id) } }, other.apiKey);
    expect(otherOrg.data?.createWorkflow.__typename).toBe('ValidationError');
  });

  it('a step selects a connection available to select; org-activated ones stay opaque to the customer', async () => {
    const r = await gql(gw.url, CreateStep, { input: { workflowId: wfA, name: 'Post', connectorKey: 'slack', connectionId: fx.gid.cust } }, userA());
    const step = data<{ id: string; position: number; connection: { stableKey: string } | null; connectionSelectable: boolean }>(r, 'createWorkflowStep');
    stepId = step.id;
    expect(step).toMatchObject({ position: 0, connection: { stableKey: 'cust' }, connectionSelectable: true });
    const org = await gql(
      gw.url,
      CreateStep,
      { input: { workflowId: wfA, name: 'Global', connectorId: fx.connectorGid.slack, connectionId: fx.gid.global } },
      userA(),
    );
    expect(data(org, 'createWorkflowStep')).toMatchObject({
      position: 1,
      connection: null,
      selectedConnection: { id: fx.gid.global, name: 'global connection', connectorKey: 'slack' },
    });
  });

  it('refuses a connection that is not available to select, the same way whatever the reason', async () => {
    const cases = [
      fx.gid.hidden, // exists, org-activated, not in workflows
      fx.gid.twilio, // another connector
      otherFx.gid.cust, // another org
      gid('Connection', '00000000-0000-4000-8000-000000000000'), // does not exist
      gid('Customer', acme.customers[0]!.id), // not a connection id
      'garbage',
    ];
    const messages = new Set<string>();
    for (const connectionId of cases) {
      const r = await gql(gw.url, CreateStep, { input: { workflowId: wfA, name: 'x', connectorKey: 'slack', connectionId } }, userA());
      const res = r.data?.createWorkflowStep;
      expect(res?.__typename).toBe('ValidationError');
      if (res?.__typename === 'ValidationError') {
        expect(res.problems.map((p) => p.path)).toEqual(['input.connectionId']);
        messages.add(res.problems[0]!.message);
      }
    }
    expect(messages.size).toBe(1);
    // Customer B may not pick the global connection (not on the allow-list), even by its id.
    const wfB = data<{ id: string }>(await gql(gw.url, CreateWorkflow, { input: { name: 'B' } }, userB()), 'createWorkflow').id;
    const r = await gql(gw.url, CreateStep, { input: { workflowId: wfB, name: 'x', connectorKey: 'slack', connectionId: fx.gid.global } }, userB());
    expect(r.data?.createWorkflowStep.__typename).toBe('ValidationError');
    expect(await gw.db.prisma.workflowStep.count({ where: { name: 'x' } })).toBe(0);
  });

  it('updates and clears a selection with the same rule', async () => {
    const bad = await gql(gw.url, UpdateStep, { id: stepId, patch: { connectionId: fx.gid.hidden } }, userA());
    const res = bad.data?.updateWorkflowStep;
    expect(res?.__typename === 'ValidationError' && res.problems[0]?.path).toBe('patch.connectionId');
    const good = await gql(gw.url, UpdateStep, { id: stepId, patch: { connectionId: fx.gid.orgCust, name: 'Post 2' } }, userA());
    expect(data(good, 'updateWorkflowStep')).toEqual({ name: 'Post 2', position: 0, selectedConnection: { id: fx.gid.orgCust } });
    const cleared = await gql(gw.url, UpdateStep, { id: stepId, patch: { connectionId: null } }, userA());
    expect(data(cleared, 'updateWorkflowStep')).toMatchObject({ selectedConnection: null });
    await gql(gw.url, UpdateStep, { id: stepId, patch: { connectionId: fx.gid.cust } }, userA());
  });

  it("another customer's user, another org and runtimes cannot see or change the workflow", async () => {
    for (const token of [userB(), other.adminToken]) {
      expect((await gql(gw.url, Node, { id: wfA }, token)).data?.node).toBeNull();
      expect((await gql(gw.url, Node, { id: stepId }, token)).data?.node).toBeNull();
      expect((await gql(gw.url, UpdateWorkflow, { id: wfA, patch: { name: 'pwn' } }, token)).data?.updateWorkflow.__typename).toBe('NotFoundError');
      expect((await gql(gw.url, UpdateStep, { id: stepId, patch: { name: 'pwn' } }, token)).data?.updateWorkflowStep.__typename).toBe('NotFoundError');
      expect((await gql(gw.url, DeleteStep, { id: stepId }, token)).data?.deleteWorkflowStep.__typename).toBe('NotFoundError');
      expect((await gql(gw.url, DeleteWorkflow, { id: wfA }, token)).data?.deleteWorkflow.__typename).toBe('NotFoundError');
      const step = await gql(gw.url, CreateStep, { input: { workflowId: wfA, name: 'y', connectorKey: 'slack' } }, token);
      const res = step.data?.createWorkflowStep;
      expect(res?.__typename === 'ValidationError' && res.problems[0]?.path).toBe('input.workflowId');
    }
    const rt = await gql(gw.url, UpdateWorkflow, { id: wfA, patch: { name: 'pwn' } }, acme.customers[0]!.runtimeToken);
    expect(rt.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const list = await gql(gw.url, Workflows, {}, userB());
    expect(list.data?.workflows.edges.map((e) => e.node.customer.externalId)).toEqual(['customer-b', 'customer-b']);
    const orgList = await gql(gw.url, Workflows, { customerId: gid('Customer', acme.customers[0]!.id) }, acme.adminToken);
    expect(orgList.data?.workflows.edges.map((e) => e.node.name)).toEqual(['Sync']);
    expect(orgList.data?.workflows.edges[0]?.node.steps.map((s) => [s.name, s.selectedConnection?.name])).toEqual([
      ['Post 2', 'cust connection'],
      ['Global', 'global connection'],
    ]);
  });

  it("the customer connection overview shows status and usage, opaque for org-activated ones", async () => {
    const mine = await gql(gw.url, Overview, {}, userA());
    const entries = mine.data!.customerConnectionOverview!.connections;
    expect(entries.map((e) => [e.option.name, e.opaque, e.selectable, e.connection?.type ?? null, e.value?.status ?? null, e.workflows.map((w) => w.name)])).toEqual([
      ['cust connection', false, true, 'CUSTOMER_ACTIVATED', 'ACTIVE', ['Sync']],
      ['global connection', true, true, null, null, ['Sync']],
      ['orgCust connection', true, true, null, null, []],
      ['twilio connection', false, true, 'CUSTOMER_ACTIVATED', 'ACTIVE', []],
    ]);
    // `hidden` never appears for the customer user; the org sees everything.
    const org = await gql(gw.url, Overview, { customerId: gid('Customer', acme.customers[0]!.id) }, acme.adminToken);
    const orgEntries = org.data!.customerConnectionOverview!.connections;
    expect(orgEntries.map((e) => [e.connection?.stableKey, e.value?.status ?? null, e.allowed])).toEqual([
      ['cust', 'ACTIVE', true],
      ['global', 'ACTIVE', true],
      ['hidden', 'ACTIVE', true],
      ['orgCust', 'ACTIVE', true],
      ['twilio', 'ACTIVE', true],
    ]);
    const forB = await gql(gw.url, Overview, { customerId: gid('Customer', acme.customers[1]!.id) }, acme.adminToken);
    expect(forB.data!.customerConnectionOverview!.connections.find((e) => e.connection?.stableKey === 'global')?.allowed).toBe(false);
    // Another customer's id from a customer user, or another org's, is unknown.
    expect((await gql(gw.url, Overview, { customerId: gid('Customer', acme.customers[0]!.id) }, userB())).data?.customerConnectionOverview).toBeNull();
    expect((await gql(gw.url, Overview, { customerId: gid('Customer', acme.customers[0]!.id) }, other.adminToken)).data?.customerConnectionOverview).toBeNull();
  });

  it('deletes steps and workflows', async () => {
    expect((await gql(gw.url, DeleteStep, { id: stepId }, userA())).data?.deleteWorkflowStep.__typename).toBe('MutationDeleteWorkflowStepSuccess');
    expect((await gql(gw.url, DeleteWorkflow, { id: wfA }, acme.adminToken)).data?.deleteWorkflow.__typename).toBe('MutationDeleteWorkflowSuccess');
    expect(await gw.db.prisma.workflowStep.count({ where: { workflowId: { not: undefined }, workflow: { name: 'Sync' } } })).toBe(0);
  });
});
