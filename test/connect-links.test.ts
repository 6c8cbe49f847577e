import { beforeAll, describe, expect, it } from 'vitest';
import { seedDemoContent, type SeededOrg } from '../src/seed/demo.js';
import { graphql } from './gql/index.js';
import { gid, gql, http } from './helpers/client.js';
import { createInstance, createIntegration } from '../src/modules/integrations/service.js';
import { createStep, createWorkflow } from '../src/modules/workflows/service.js';
import { Collector, wsClient } from './helpers/feed.js';
import { asOrg, makeApiKey, makeConnection, makeConnector, putValue } from './helpers/fixtures.js';
import type { TestGateway } from './helpers/gateway.js';
import { useWorld } from './helpers/world.js';

/**
 * Connect links through the API: created by the vendor (GraphQL and REST),
 * exchanged once for a session that is a customer user limited — on every
 * path — to the link's connections, revocable, time-limited.
 */
const CreateLink = graphql(`
  mutation ConnectLinkCreate($customerId: ID, $customerExternalId: String, $connections: [String!]!, $expiresIn: Int) {
    createConnectLink(customerId: $customerId, customerExternalId: $customerExternalId, connections: $connections, expiresIn: $expiresIn) {
      __typename
      ... on MutationCreateConnectLinkSuccess { data { url token link { id linkId status expiresAt customer { externalId } connections { stableKey } } } }
      ... on Error { code message }
      ... on ValidationError { problems { path message } }
    }
  }
`);

const RevokeLink = graphql(`
  mutation ConnectLinkRevoke($id: ID!) {
    revokeConnectLink(id: $id) { __typename ... on MutationRevokeConnectLinkSuccess { data { status revokedAt } } ... on Error { code } }
  }
`);

const ListLinks = graphql(`
  query ConnectLinkList($customerId: ID) { connectLinks(first: 10, customerId: $customerId) { edges { node { linkId status } } } }
`);

const SessionView = graphql(`
  query ConnectLinkSessionView($other: ID!) {
    viewer { kind customer { externalId } organization { name branding { primaryColor } } }
    connections(first: 10) { edges { node { stableKey } } }
    other: connection(id: $other) { stableKey }
    customerConnectionOverview { connections { connection { stableKey } option { name } } }
    connectionValues(first: 10) { edges { node { connection { stableKey } } } }
  }
`);

const SetMine = graphql(`
  mutation ConnectLinkSetMine($connectionId: ID!, $values: JSON!) {
    setMyConnectionValue(connectionId: $connectionId, values: $values) {
      __typename ... on MutationSetMyConnectionValueSuccess { data { status } } ... on Error { code }
    }
  }
`);

const StartOAuth = graphql(`
  mutation ConnectLinkStartOAuth($connectionId: ID!, $successUrl: String, $failureUrl: String) {
    startOAuthAuthorization(connectionId: $connectionId, successUrl: $successUrl, failureUrl: $failureUrl) {
      __typename ... on MutationStartOAuthAuthorizationSuccess { data { authorizeUrl } } ... on Error { code message }
    }
  }
`);

const CreateWorkflow = graphql(`
  mutation ConnectLinkCreateWorkflow($name: String!) {
    createWorkflow(input: { name: $name }) { __typename ... on Error { code } }
  }
`);

const Branding = graphql(`
  mutation ConnectLinkBranding($input: OrganizationSettingsInput!) {
    updateOrganizationSettings(input: $input) {
      __typename
      ... on MutationUpdateOrganizationSettingsSuccess { data { branding { logoUrl primaryColor backgroundColor } } }
      ... on ValidationError { problems { path message } }
    }
  }
`);

let gw: TestGateway;
let org: SeededOrg;
let other: SeededOrg;
let acmeId: string;
let secondId: string;

useWorld({ orgs: { org: { customers: ['acme-corp', 'globex'] }, other: { customers: ['x'] } } }, async (w) => {
  ({ gw, org, other } = w);
  await seedDemoContent(gw.app, org);
  acmeId = (await gw.app.db.prisma.connection.findFirstOrThrow({ where: { orgId: org.orgId, stableKey: 'acme-api' } })).id;
  secondId = (await makeConnection(gw.app, org.orgId, { stableKey: 'second-api', name: 'Second API', connectorKey: 'acme-api', type: 'CUSTOMER_ACTIVATED' })).id;
});

const globex = () => org.customers.find((c) => c.externalId === 'globex')!;

async function newLink(connections = ['acme-api'], expiresIn?: number) {
  const r = await gql(gw.url, CreateLink, { customerId: gid('Customer', globex().id), connections, ...(expiresIn ? { expiresIn } : {}) }, org.adminToken);
  const res = r.data!.createConnectLink;
  if (res.__typename !== 'MutationCreateConnectLinkSuccess') throw new Error(JSON.stringify(res));
  return res.data;
}

const exchange = (link: string) => http(`${gw.url}/connect/session`, { method: 'POST', body: { link } });

describe('createConnectLink', () => {
  it('returns a single-use URL to the page, valid 30 minutes by default, for the named connections only', async () => {
    const before = Date.now();
    const link = await newLink();
    expect(link.url).toBe(`${gw.url}/connect#link=${link.token}`);
    expect(link.link).toMatchObject({ status: 'ACTIVE', customer: { externalId: 'globex' }, connections: [{ stableKey: 'acme-api' }] });
    const ttl = new Date(link.link.expiresAt).getTime() - before;
    expect(ttl).toBeGreaterThan(29 * 60_000);
    expect(ttl).toBeLessThan(31 * 60_000);
    // Only the hash is kept.
    const row = await gw.app.db.prisma.connectLink.findUniqueOrThrow({ where: { id: link.link.linkId } });
    expect(JSON.stringify(row)).not.toContain(link.token);
  });

  it('refuses unknown, org-activated and too long-lived links, naming the argument', async () => {
    const r = await gql(gw.url, CreateLink, { customerExternalId: 'globex', connections: ['acme-api', 'nope', 'twilio-sms'], expiresIn: 90_000 }, org.adminToken);
    expect(r.data!.createConnectLink).toMatchObject({ __typename: 'ValidationError', problems: [{ path: 'expiresIn' }] });
    const r2 = await gql(gw.url, CreateLink, { customerExternalId: 'globex', connections: ['acme-api', 'nope', 'twilio-sms'] }, org.adminToken);
    const res = r2.data!.createConnectLink;
    expect(res.__typename).toBe('ValidationError');
    expect(res.__typename === 'ValidationError' && res.problems.map((p) => p.path)).toEqual(['connections.1', 'connections.2']);
    expect(await gw.app.db.prisma.connectLink.count({ where: { customerId: globex().id, connectionIds: { has: acmeId }, usedAt: null, revokedAt: null } })).toBe(1);
  });

  it("is not found for another org's customer, forbidden to customer users and to keys that may not write credentials", async () => {
    const r = await gql(gw.url, CreateLink, { customerId: gid('Customer', globex().id), connections: ['acme-api'] }, other.adminToken);
    expect(r.data!.createConnectLink).toMatchObject({ __typename: 'NotFoundError' });
    const asUser = await gql(gw.url, CreateLink, { customerExternalId: 'globex', connections: ['acme-api'] }, globex().userToken);
    expect(asUser.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const { secret: limited } = await makeApiKey(gw.app, org.orgId, { name: 'no-creds', noCredentialWrites: true });
    const asLimited = await http(`${gw.url}/api/v1/connect-links`, { method: 'POST', token: limited, body: { customerExternalId: 'globex', connections: ['acme-api'] } });
    expect(asLimited.status).toBe(403);
  });
});

describe('a link session', () => {
  it('is issued once; the session sees and sets only the named connections of its customer', async () => {
    const link = await newLink();
    const first = await exchange(link.token);
    expect(first.status).toBe(200);
    const { accessToken } = first.json() as { accessToken: string };
    expect((await exchange(link.token)).status).toBe(401);

    // Something to see for each connection: values of the customer on both.
    const second = await gql(gw.url, SetMine, { connectionId: gid('Connection', secondId), values: { baseUrl: 'https://b.example', apiKey: 'second-secret-0123' } }, globex().userToken);
    expect(second.data!.setMyConnectionValue.__typename).toBe('MutationSetMyConnectionValueSuccess');

    const view = await gql(gw.url, SessionView, { other: gid('Connection', secondId) }, accessToken);
    expect(view.errors).toBeUndefined();
    expect(view.data!.viewer).toMatchObject({ kind: 'CUSTOMER_USER', customer: { externalId: 'globex' } });
    expect(view.data!.connections.edges.map((e) => e.node.stableKey)).toEqual(['acme-api']);
    expect(view.data!.other).toBeNull();
    expect(view.data!.customerConnectionOverview!.connections.map((c) => c.option.name)).toEqual(['Acme API']);
    expect(view.data!.connectionValues.edges).toEqual([]);

    const refused = await gql(gw.url, SetMine, { connectionId: gid('Connection', secondId), values: { baseUrl: 'https://x.example', apiKey: 'x-0123456789' } }, accessToken);
    expect(refused.data!.setMyConnectionValue).toMatchObject({ __typename: 'NotFoundError' });
    const set = await gql(gw.url, SetMine, { connectionId: gid('Connection', acmeId), values: { baseUrl: 'https://g.example', apiKey: 'globex-acme-0123' } }, accessToken);
    expect(set.data!.setMyConnectionValue).toMatchObject({ __typename: 'MutationSetMyConnectionValueSuccess', data: { status: 'ACTIVE' } });

    // It sets credentials, nothing else: no workflows.
    const workflow = await gql(gw.url, CreateWorkflow, { name: 'from a link' }, accessToken);
    expect(workflow.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect(await gw.app.db.prisma.workflow.count({ where: { name: 'from a link' } })).toBe(0);

    // Revoked: the open session ends at once.
    const revoked = await gql(gw.url, RevokeLink, { id: link.link.id }, org.adminToken);
    expect(revoked.data!.revokeConnectLink).toMatchObject({ data: { status: 'REVOKED' } });
    expect((await gql(gw.url, SessionView, { other: gid('Connection', secondId) }, accessToken)).status).toBe(401);
  });

  it('is refused for an expired, revoked or unknown link, the same way', async () => {
    const expired = await newLink(['acme-api'], 60);
    await gw.app.db.prisma.connectLink.update({ where: { id: expired.link.linkId }, data: { expiresAt: new Date(Date.now() - 1000) } });
    const revoked = await newLink();
    await gql(gw.url, RevokeLink, { id: revoked.link.linkId }, org.adminToken);
    const answers = await Promise.all([exchange(expired.token), exchange(revoked.token), exchange('cgl_unknown'), exchange('cgl_' + 'x'.repeat(1000))]);
    expect(answers.map((a) => a.status)).toEqual([401, 401, 401, 401]);
    expect(new Set(answers.map((a) => (a.json() as { message: string }).message)).size).toBe(1);
    const huge = await http(`${gw.url}/connect/session`, { method: 'POST', raw: JSON.stringify({ link: 'cgl_' + 'x'.repeat(10_000) }) });
    expect(huge.status).toBe(400);
    expect(huge.json()).toMatchObject({ problems: [{ path: 'body' }] });
    const bad = await http(`${gw.url}/connect/session`, { method: 'POST', raw: '{"link": 5}' });
    expect(bad.status).toBe(400);
    expect(bad.json()).toMatchObject({ problems: [{ path: 'body.link' }] });
    const list = await gql(gw.url, ListLinks, { customerId: gid('Customer', globex().id) }, org.adminToken);
    const statuses = new Map(list.data!.connectLinks.edges.map((e) => [e.node.linkId, e.node.status]));
    expect(statuses.get(expired.link.linkId)).toBe('EXPIRED');
    expect(statuses.get(revoked.link.linkId)).toBe('REVOKED');
  });

  it("another org's admin can neither list nor revoke it", async () => {
    const link = await newLink();
    const r = await gql(gw.url, RevokeLink, { id: link.link.id }, other.adminToken);
    expect(r.data!.revokeConnectLink).toMatchObject({ __typename: 'NotFoundError' });
    const list = await gql(gw.url, ListLinks, {}, other.adminToken);
    expect(list.data!.connectLinks.edges).toEqual([]);
    expect((await exchange(link.token)).status).toBe(200);
  });
});

describe('an OAuth2 flow a link session started', () => {
  it('returns to the Connect page, and is refused at the callback once the link is revoked', async () => {
    const connector = await makeConnector(gw.app, org.orgId, {
      key: 'far-idp',
      name: 'Far IdP',
      authType: 'OAUTH2',
      oauth2: { grantType: 'authorization_code', authorizeUrl: 'https://idp.example/authorize', tokenUrl: 'https://idp.example/token', scopes: [], clientId: 'c', pkce: true },
      oauthClientSecret: 'client-secret-0123',
    });
    await makeConnection(gw.app, org.orgId, { stableKey: 'far', name: 'Far', connectorId: connector.id, type: 'CUSTOMER_ACTIVATED' });
    const link = await newLink(['far']);
    const { accessToken } = (await exchange(link.token)).json() as { accessToken: string };
    const far = await gw.app.db.prisma.connection.findFirstOrThrow({ where: { orgId: org.orgId, stableKey: 'far' } });
    const back = `${gw.url}/connect/oauth-return`;
    // The Connect page's return is always allowed; another page of the gateway is not an org redirect origin.
    const elsewhere = await gql(gw.url, StartOAuth, { connectionId: gid('Connection', far.id), successUrl: `${gw.url}/graphql` }, accessToken);
    expect(elsewhere.data!.startOAuthAuthorization.__typename).toBe('ValidationError');
    const started = await gql(gw.url, StartOAuth, { connectionId: gid('Connection', far.id), successUrl: back, failureUrl: back }, accessToken);
    const res = started.data!.startOAuthAuthorization;
    if (res.__typename !== 'MutationStartOAuthAuthorizationSuccess') throw new Error(JSON.stringify(res));
    const opened = await http(res.data.authorizeUrl);
    expect(opened.location).toMatch(/^https:\/\/idp\.example\/authorize\?/);
    const state = new URL(opened.location!).searchParams.get('state')!;
    const cookie = opened.headers.getSetCookie()[0]!.split(';')[0]!;

    await gql(gw.url, RevokeLink, { id: link.link.id }, org.adminToken);
    const callback = await http(`${gw.url}/oauth/callback?state=${encodeURIComponent(state)}&code=abc`, { headers: { cookie } });
    expect(callback.status).toBe(303);
    expect(callback.location).toBe(`${back}?error=access_revoked&connection=${far.id}`);
  });
});

describe('REST /api/v1/connect-links', () => {
  it('creates, lists and revokes with an API key', async () => {
    const created = await http(`${gw.url}/api/v1/connect-links`, {
      method: 'POST',
      token: org.apiKey,
      body: { customerId: globex().id, connections: ['acme-api'], expiresIn: 600 },
    });
    expect(created.status).toBe(201);
    const body = created.json() as { id: string; url: string; token: string; status: string; connectionIds: string[] };
    expect(body).toMatchObject({ status: 'ACTIVE', connectionIds: [acmeId] });
    expect(body.url).toBe(`${gw.url}/connect#link=${body.token}`);
    const list = await http(`${gw.url}/api/v1/connect-links?customerId=${globex().id}&limit=100`, { token: org.apiKey });
    expect((list.json() as { data: { id: string }[] }).data.map((l) => l.id)).toContain(body.id);
    const revoked = await http(`${gw.url}/api/v1/connect-links/${body.id}`, { method: 'DELETE', token: org.apiKey });
    expect(revoked.json()).toMatchObject({ id: body.id, status: 'REVOKED' });
    expect((await exchange(body.token)).status).toBe(401);
    expect((await http(`${gw.url}/api/v1/connect-links/${body.id}`, { method: 'DELETE', token: other.apiKey })).status).toBe(404);
    const invalid = await http(`${gw.url}/api/v1/connect-links`, { method: 'POST', token: org.apiKey, body: { customerId: globex().id, connections: [] } });
    expect(invalid.status).toBe(400);
    expect(invalid.json()).toMatchObject({ problems: [{ path: 'body.connections' }] });
  });
});

describe('branding settings', () => {
  it('are validated and readable by customer users', async () => {
    const bad = await gql(gw.url, Branding, { input: { brandLogoUrl: 'javascript:alert(1)', brandPrimaryColor: 'red' } }, org.adminToken);
    const res = bad.data!.updateOrganizationSettings;
    expect(res.__typename === 'ValidationError' && res.problems.map((p) => p.path).sort()).toEqual(['input.brandLogoUrl', 'input.brandPrimaryColor']);
    const ok = await gql(gw.url, Branding, { input: { brandLogoUrl: 'https://cdn.example/logo.png', brandPrimaryColor: '#1D4ED8' } }, org.adminToken);
    expect(ok.data!.updateOrganizationSettings).toMatchObject({ data: { branding: { logoUrl: 'https://cdn.example/logo.png', primaryColor: '#1d4ed8', backgroundColor: null } } });
    const link = await newLink();
    const { accessToken } = (await exchange(link.token)).json() as { accessToken: string };
    const view = await gql(gw.url, SessionView, { other: gid('Connection', secondId) }, accessToken);
    expect(view.data!.viewer.organization.branding.primaryColor).toBe('#1d4ed8');
  });
});

/**
 * Issue 20: a link session sees only its link's connections through any
 * query: the picker's options and its live feed, workflows and their steps,
 * integrations, instances and their readiness — not only connections, values
 * and connectors. The same customer's embed-token user (a workflow builder)
 * still sees everything, as before.
 */
const LinkReads = graphql(`
  query ConnectLinkReads($wfOut: ID!, $instOut: ID!, $intOut: ID!) {
    acme: availableConnections(connectorKey: "acme-api") { id name }
    sms: availableConnections(connectorKey: "twilio") { id name }
    workflows(first: 20) { edges { node { name steps { name selectedConnection { name } connection { stableKey } } } } }
    integrations(first: 20) { edges { node { stableKey connections { connection { stableKey } } instances(first: 10) { edges { node { name } } } } } }
    instances(first: 20) { edges { node { name integration { stableKey } readiness { ready missing { stableKey orgActivated } } } } }
    integrationByStableKey(stableKey: "reads-out") { stableKey }
    viewer { customer { workflows(first: 20) { edges { node { name } } } instances(first: 20) { edges { node { name } } } } }
    wfOut: node(id: $wfOut) { id }
    instOut: node(id: $instOut) { id }
    intOut: node(id: $intOut) { id }
    customerConnectionOverview { connections { option { name } workflows { name steps { name } } instances { name } } }
  }
`);

const LinkFeed = graphql(`
  subscription ConnectLinkFeed {
    availableConnectionsChanged { kind connection { name } }
  }
`);

const RenameConnection = graphql(`
  mutation ConnectLinkRename($id: ID!, $name: String!) {
    updateConnection(id: $id, patch: { name: $name }) { __typename }
  }
`);

describe('a link session reads only its connections, on every read (issue 20)', () => {
  let fixture: { l: string; o: string; wfOut: string; instOut: string; intOut: string };

  beforeAll(async () => {
    const customerId = globex().id;
    const l = acmeId;
    const o = (await makeConnection(gw.app, org.orgId, { stableKey: 'reads-other', name: 'Other API', connectorKey: 'acme-api', type: 'CUSTOMER_ACTIVATED', availableInWorkflows: true })).id;
    const g = (await gw.app.db.prisma.connection.findFirstOrThrow({ where: { orgId: org.orgId, stableKey: 'twilio-sms' } })).id;
    for (const id of [l, o]) await putValue(gw.app, id, { kind: 'CUSTOMER', customerId }, { baseUrl: 'https://reads.example', apiKey: `reads-${id.slice(0, 8)}-secret` });
    fixture = await asOrg(gw.app, org.orgId, async (op) => {
      const workflow = async (name: string, steps: [string, string, string][]) => {
        const wf = await createWorkflow(op, { customerId, name });
        for (const [step, connectorKey, connectionId] of steps) await createStep(op, { workflowId: wf.id, name: step, connectorKey, connectionId });
        return wf.id;
      };
      await workflow('wf-in', [['in: L', 'acme-api', l]]);
      const wfOut = await workflow('wf-out', [['out: O', 'acme-api', o], ['out: G', 'twilio', g]]);
      await workflow('wf-mixed', [['mixed: O', 'acme-api', o], ['mixed: L', 'acme-api', l]]);
      const integration = async (stableKey: string, connections: string[]) => {
        const i = await createIntegration(op, { stableKey, name: stableKey, connections: connections.map((connectionId) => ({ connectionId })) });
        return { integration: i.id, instance: (await createInstance(op, { integrationId: i.id, customerId, name: `inst-${stableKey.slice(6)}` })).id };
      };
      await integration('reads-in', [l]);
      const out = await integration('reads-out', [o, g]);
      await integration('reads-mixed', [l, o, g]);
      return { l, o, wfOut, instOut: out.instance, intOut: out.integration };
    });
  });

  const readAs = async (token: string) => {
    const r = await gql(
      gw.url,
      LinkReads,
      { wfOut: gid('Workflow', fixture.wfOut), instOut: gid('Instance', fixture.instOut), intOut: gid('Integration', fixture.intOut) },
      token,
    );
    expect(r.errors).toBeUndefined();
    return r.data!;
  };

  it('the picker, workflows and their steps, integrations, instances and the overview', async () => {
    const { token } = await newLink(['acme-api']);
    const { accessToken } = (await exchange(token)).json() as { accessToken: string };
    const seen = await readAs(accessToken);

    expect(seen.acme.map((o) => o.name)).toEqual(['Acme API']);
    expect(seen.sms).toEqual([]);
    // Workflows with a step on the link's connection, and only those steps.
    expect(seen.workflows.edges.map((e) => e.node)).toEqual([
      { name: 'wf-in', steps: [{ name: 'in: L', selectedConnection: { name: 'Acme API' }, connection: { stableKey: 'acme-api' } }] },
      { name: 'wf-mixed', steps: [{ name: 'mixed: L', selectedConnection: { name: 'Acme API' }, connection: { stableKey: 'acme-api' } }] },
    ]);
    expect(seen.viewer.customer!.workflows.edges.map((e) => e.node.name)).toEqual(['wf-in', 'wf-mixed']);
    // Integrations and instances that use the link's connection; of their requirements, only that one.
    expect(seen.integrations.edges.map((e) => e.node)).toEqual([
      { stableKey: 'reads-in', connections: [{ connection: { stableKey: 'acme-api' } }], instances: { edges: [{ node: { name: 'inst-in' } }] } },
      { stableKey: 'reads-mixed', connections: [{ connection: { stableKey: 'acme-api' } }], instances: { edges: [{ node: { name: 'inst-mixed' } }] } },
    ]);
    expect(seen.instances.edges.map((e) => e.node.name)).toEqual(['inst-in', 'inst-mixed']);
    const mixed = seen.instances.edges.find((e) => e.node.name === 'inst-mixed')!.node;
    expect(mixed.readiness.missing.every((m) => m.stableKey === 'acme-api')).toBe(true);
    expect(seen.viewer.customer!.instances.edges.map((e) => e.node.name)).toEqual(['inst-in', 'inst-mixed']);
    expect(seen.integrationByStableKey).toBeNull();
    expect([seen.wfOut, seen.instOut, seen.intOut]).toEqual([null, null, null]);
    expect(seen.customerConnectionOverview!.connections).toEqual([
      {
        option: { name: 'Acme API' },
        workflows: [
          { name: 'wf-in', steps: [{ name: 'in: L' }] },
          { name: 'wf-mixed', steps: [{ name: 'mixed: L' }] },
        ],
        instances: [{ name: 'inst-in' }, { name: 'inst-mixed' }],
      },
    ]);
    // Nothing of the other connections, by id or by name, anywhere in the answer.
    const text = JSON.stringify(seen);
    for (const hidden of ['Other API', 'Twilio SMS', gid('Connection', fixture.o), 'wf-out', 'inst-out', 'reads-out', 'out: ']) expect(text).not.toContain(hidden);

    // The customer's own user (embed token) still sees everything.
    const builder = await readAs(globex().userToken);
    expect(builder.acme.map((o) => o.name).sort()).toEqual(['Acme API', 'Other API']);
    expect(builder.sms.map((o) => o.name)).toEqual(['Twilio SMS']);
    expect(builder.workflows.edges.map((e) => e.node.name)).toEqual(['wf-in', 'wf-out', 'wf-mixed']);
    expect(builder.workflows.edges.find((e) => e.node.name === 'wf-mixed')!.node.steps).toHaveLength(2);
    expect(builder.instances.edges.map((e) => e.node.name)).toEqual(['inst-in', 'inst-out', 'inst-mixed']);
    expect(builder.wfOut).not.toBeNull();
  });

  it('the picker’s live feed carries only events of the link’s connections', async () => {
    const { token } = await newLink(['acme-api']);
    const { accessToken } = (await exchange(token)).json() as { accessToken: string };
    const asLink = wsClient(gw.url, accessToken);
    const asBuilder = wsClient(gw.url, globex().userToken);
    const link = new Collector(asLink, LinkFeed, {});
    const builder = new Collector(asBuilder, LinkFeed, {});
    try {
      // Both subscriptions are live once a first change reaches the builder.
      await new Promise((r) => setTimeout(r, 500));
      expect((await gql(gw.url, RenameConnection, { id: gid('Connection', fixture.o), name: 'Other API (renamed)' }, org.adminToken)).data?.updateConnection.__typename).toBe('MutationUpdateConnectionSuccess');
      expect((await gql(gw.url, RenameConnection, { id: gid('Connection', fixture.l), name: 'Acme API (renamed)' }, org.adminToken)).data?.updateConnection.__typename).toBe('MutationUpdateConnectionSuccess');
      await builder.count(2);
      await link.count(1);
      await new Promise((r) => setTimeout(r, 300));
      expect(link.events.map((e) => e.connection?.name)).toEqual(['Acme API (renamed)']);
      expect(builder.events.map((e) => e.connection?.name)).toEqual(['Other API (renamed)', 'Acme API (renamed)']);
    } finally {
      link.close();
      builder.close();
      await asLink.dispose();
      await asBuilder.dispose();
      await gql(gw.url, RenameConnection, { id: gid('Connection', fixture.l), name: 'Acme API' }, org.adminToken);
      await gql(gw.url, RenameConnection, { id: gid('Connection', fixture.o), name: 'Other API' }, org.adminToken);
    }
  });
});
