import { beforeAll, describe, expect, it } from 'vitest';
import { openValue } from '../src/modules/values/service.js';
import { GlobalConnection } from '../src/rest/global-connections.js';
import { Project } from '../src/rest/projects.js';
import type { SeededOrg } from '../src/seed/demo.js';
import { graphql } from './gql/index.js';
import { gql, http } from './helpers/client.js';
import { makeApiKey } from './helpers/fixtures.js';
import type { TestGateway } from './helpers/gateway.js';
import { useWorld } from './helpers/world.js';

const UpsertOAuthConnector = graphql(`
  mutation RestUpsertOAuthConnector($input: ConnectorInput!) {
    upsertConnector(input: $input) { __typename ... on MutationUpsertConnectorSuccess { data { key } } ... on Error { code message } }
  }
`);

const IssueRuntimeToken = graphql(`
  mutation RestIssueRuntimeToken($customerId: ID!) {
    issueRuntimeToken(customerId: $customerId) {
      __typename
      ... on MutationIssueRuntimeTokenSuccess { data { token } }
    }
  }
`);

const AdminView = graphql(`
  query RestAdminView($stableKey: String!) {
    connectionByStableKey(stableKey: $stableKey) {
      type externalId name restrictToAllowList availableInWorkflows
      connector { key authType }
      allowedCustomers(first: 10) { edges { node { customer { externalId } } } }
      globalValue { status fields secrets { key } }
    }
  }
`);

/** What the seed's piece does: `connections.get('gelato_' + projectExternalId)`. */
const ResolveByExternalId = graphql(`
  query RestResolveByExternalId($externalId: String!) {
    resolveConnectionByExternalId(externalId: $externalId) {
      __typename
      ... on ResolvedCredential { externalId stableKey connectorKey authType valueKind props }
      ... on ResolutionProblem { code }
    }
  }
`);

/*
 * An Activepieces-style backend's functions (getOrCreateProject, ensure a
 * global connection), with exactly the request shapes such a backend sends.
 */
async function getOrCreateProject({
  projectExternalId,
  apiKey,
  instanceUrl,
}: {
  projectExternalId: string;
  apiKey: string;
  instanceUrl: string;
}): Promise<{ id: string; externalId: string }> {
  const projects = await fetch(`${instanceUrl}/api/v1/projects?externalId=${projectExternalId}`, {
    method: 'GET',
    headers: {
      Authorization: `Bearer ${apiKey}`,
      'Content-Type': 'application/json',
    },
  })
    .then((response) => response.json())
    .then((data) => data.data)
    .catch((err) => {
      console.error('Error fetching projects:', err);
      return [];
    });
  if (projects.length > 0) {
    return {
      id: projects[0].id,
      externalId: projects[0].externalId,
    };
  }
  const newProject = await fetch(`${instanceUrl}/api/v1/projects`, {
    method: 'POST',
    headers: {
      Authorization: `Bearer ${apiKey}`,
      'Content-Type': 'application/json',
    },
    body: JSON.stringify({
      displayName: projectExternalId,
      metadata: {},
      externalId: projectExternalId,
    }),
  })
    .then((response) => response.json())
    .catch((err) => {
      console.error('Error creating project:', err);
      throw err;
    });
  return {
    id: newProject.id,
    externalId: newProject.externalId,
  };
}

async function createGlobalConnection({
  projectId,
  externalProjectId,
  apiKey,
  instanceUrl,
  pieceName,
  props,
  pieceAuthType,
}: {
  projectId: string;
  externalProjectId: string;
  apiKey: string;
  instanceUrl: string;
  pieceName: string;
  props: Record<string, any>;
  pieceAuthType: string;
}) {
  const displayName = 'Gelato Connection';
  const connectionExternalId = 'gelato_' + externalProjectId;
  return fetch(`${instanceUrl}/api/v1/global-connections`, {
    method: 'POST',
    headers: {
      Authorization: `Bearer ${apiKey}`,
      'Content-Type': 'application/json',
    },
    body: JSON.stringify({
      displayName,
      pieceName,
      metadata: {},
      type: pieceAuthType,
      value: {
        type: pieceAuthType,
        props,
      },
      scope: 'PLATFORM',
      projectIds: [projectId],
      externalId: connectionExternalId,
    }),
  });
}

let gw: TestGateway;
let acme: SeededOrg;
let other: SeededOrg;

useWorld({ orgs: { acme: { customers: ['a'] }, other: { customers: ['a'] } } }, (w) => ({ gw, acme, other } = w));

async function call(method: string, path: string, key: string | null, body?: unknown, raw?: string) {
  const res = await http(`${gw.url}/api/v1${path}`, { method, token: key, body, ...(raw !== undefined ? { raw } : {}), headers: { 'content-type': 'application/json' } });
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  return { status: res.status, text: res.body, body: res.json() as any };
}

async function newKey(org: SeededOrg, limits: { readOnly?: boolean; noCredentialWrites?: boolean } = {}) {
  return makeApiKey(gw.app, org.orgId, limits);
}

const GELATO_SECRET = 'gelato-live-key-0123456789abcdef';

describe("the seed's backend snippet, unchanged", () => {
  it('creates the project and the global connection once, however often it runs', async () => {
    const apiKey = acme.apiKey;
    const instanceUrl = gw.url;
    const externalProjectId = 'org_1234';
    const pieceName = '@activepieces/piece-gelato';
    const pieceAuthType = 'CUSTOM_AUTH';
    const props = { api_key: GELATO_SECRET, base_url: 'https://order.gelatoapis.com' };

    for (let run = 0; run < 2; run++) {
      const { id: projectId, externalId } = await getOrCreateProject({ projectExternalId: externalProjectId, apiKey, instanceUrl });
      expect(externalId).toBe(externalProjectId);
      const res = await createGlobalConnection({ projectId, externalProjectId, apiKey, instanceUrl, pieceName, props, pieceAuthType });
      expect(res.status).toBe(run === 0 ? 201 : 200);
      const text = await res.text();
      expect(text).not.toContain(GELATO_SECRET);
      // The response is exactly what the OpenAPI document says.
      GlobalConnection.strict().parse(JSON.parse(text));
      expect(JSON.parse(text)).toMatchObject({
        displayName: 'Gelato Connection',
        externalId: 'gelato_org_1234',
        pieceName: '@activepieces/piece-gelato',
        type: 'CUSTOM_AUTH',
        status: 'ACTIVE',
        scope: 'PLATFORM',
        projectIds: [projectId],
        value: { type: 'CUSTOM_AUTH', props: { base_url: 'https://order.gelatoapis.com', api_key: '****cdef' } },
      });
    }

    // One customer, one connector, one connection with one global value.
    const customers = await gw.db.prisma.customer.findMany({ where: { orgId: acme.orgId, externalId: 'org_1234' } });
    expect(customers).toHaveLength(1);
    const connections = await gw.db.prisma.connection.findMany({
      where: { orgId: acme.orgId, externalId: 'gelato_org_1234' },
      include: { connector: true, values: true, allowances: true },
    });
    expect(connections).toHaveLength(1);
    const c = connections[0]!;
    expect(c).toMatchObject({
      type: 'ORG_ACTIVATED_GLOBAL',
      stableKey: 'gelato_org_1234',
      restrictToAllowList: true,
      availableInWorkflows: true,
    });
    expect(c.allowances.map((a) => a.customerId)).toEqual([customers[0]!.id]);
    expect(c.connector).toMatchObject({ key: '@activepieces/piece-gelato', authType: 'CUSTOM_AUTH' });
    expect(c.connector.fields).toEqual([
      expect.objectContaining({ key: 'api_key', type: 'STRING', secret: true }),
      expect.objectContaining({ key: 'base_url', type: 'STRING', secret: false }),
    ]);
    expect(c.values).toHaveLength(1);
    const value = c.values[0]!;
    expect(value).toMatchObject({ kind: 'GLOBAL', status: 'ACTIVE' });
    // Encrypted at rest, and the stored credential is what the seed sent.
    expect(JSON.stringify(value)).not.toContain(GELATO_SECRET);
    const opened = openValue(gw.app.config.keyRing, value);
    expect({ ...opened.fields, ...opened.secrets }).toEqual(props);

    // The same data through the admin GraphQL view, secrets masked.
    const admin = await gql(gw.url, AdminView, { stableKey: 'gelato_org_1234' }, acme.adminToken);
    expect(admin.errors).toBeUndefined();
    expect(admin.data?.connectionByStableKey).toMatchObject({
      type: 'ORG_ACTIVATED_GLOBAL',
      externalId: 'gelato_org_1234',
      name: 'Gelato Connection',
      restrictToAllowList: true,
      connector: { key: '@activepieces/piece-gelato', authType: 'CUSTOM_AUTH' },
      allowedCustomers: { edges: [{ node: { customer: { externalId: 'org_1234' } } }] },
      globalValue: { status: 'ACTIVE', fields: { base_url: 'https://order.gelatoapis.com' }, secrets: [{ key: 'api_key' }] },
    });
    expect(JSON.stringify(admin.data)).not.toContain(GELATO_SECRET);

    // The runtime of that project fetches it by the seed's naming convention…
    const customerGid = Buffer.from(`Customer:${customers[0]!.id}`).toString('base64');
    const issued = await gql(gw.url, IssueRuntimeToken, { customerId: customerGid }, acme.adminToken);
    if (issued.data?.issueRuntimeToken.__typename !== 'MutationIssueRuntimeTokenSuccess') throw new Error(JSON.stringify(issued));
    const runtimeToken = issued.data.issueRuntimeToken.data.token;
    const resolved = await gql(gw.url, ResolveByExternalId, { externalId: 'gelato_' + externalProjectId }, runtimeToken);
    expect(resolved.errors).toBeUndefined();
    expect(resolved.data?.resolveConnectionByExternalId).toEqual({
      __typename: 'ResolvedCredential',
      externalId: 'gelato_org_1234',
      stableKey: 'gelato_org_1234',
      connectorKey: '@activepieces/piece-gelato',
      authType: 'CUSTOM_AUTH',
      valueKind: 'GLOBAL',
      props,
    });
    // …and a project outside the allow-list does not get it.
    const outsider = await gql(
      gw.url,
      ResolveByExternalId,
      { externalId: 'gelato_' + externalProjectId },
      acme.customers[0]!.runtimeToken,
    );
    expect(outsider.data?.resolveConnectionByExternalId).toMatchObject({ code: expect.stringMatching(/NOT_PERMITTED|NOT_FOUND/) });

    // The customer can now select it in workflow steps.
    const available = await gw.db.prisma.availableSelection.findMany({ where: { connectionId: c.id } });
    expect(available.map((a) => a.customerId)).toEqual([customers[0]!.id]);

    // Audited with the API key's id.
    const seedKey = await gw.db.prisma.apiKey.findFirstOrThrow({ where: { orgId: acme.orgId, name: 'seed' } });
    const actions = await gw.db.prisma.auditEvent.findMany({
      where: { principalId: seedKey.id, targetId: c.id },
      orderBy: { id: 'asc' },
    });
    expect(actions.map((a) => a.action)).toEqual([
      'connection.create',
      'connectionValue.set',
      'connection.update',
      'connectionValue.set',
    ]);
  });

  it('two simultaneous creates make one project and one connection', async () => {
    const creates = await Promise.all(
      Array.from({ length: 5 }, () =>
        call('POST', '/projects', acme.apiKey, { displayName: 'Race', metadata: {}, externalId: 'race' }),
      ),
    );
    expect(creates.map((r) => r.status).sort()).toEqual([200, 200, 200, 200, 201]);
    expect(new Set(creates.map((r) => r.body.id)).size).toBe(1);
    for (const r of creates) Project.strict().parse(r.body);
    const projectId = creates[0]!.body.id as string;

    const conns = await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        call('POST', '/global-connections', acme.apiKey, {
          displayName: `Race ${i}`,
          pieceName: '@activepieces/piece-race',
          metadata: {},
          type: 'SECRET_TEXT',
          value: { type: 'SECRET_TEXT', props: { secret_text: `race-secret-${i}` } },
          scope: 'PLATFORM',
          projectIds: [projectId],
          externalId: 'race_conn',
        }),
      ),
    );
    expect(conns.map((r) => r.status).sort()).toEqual([200, 200, 200, 200, 201]);
    expect(new Set(conns.map((r) => r.body.id)).size).toBe(1);
    expect(await gw.db.prisma.connection.count({ where: { orgId: acme.orgId, externalId: 'race_conn' } })).toBe(1);
    expect(await gw.db.prisma.connector.count({ where: { orgId: acme.orgId, key: '@activepieces/piece-race' } })).toBe(1);
    expect(await gw.db.prisma.customer.count({ where: { orgId: acme.orgId, externalId: 'race' } })).toBe(1);
  });
});

describe('global connections', () => {
  let projectId: string;
  let connectionId: string;

  beforeAll(async () => {
    projectId = (await call('POST', '/projects', acme.apiKey, { displayName: 'GC', externalId: 'gc-project' })).body.id;
  });

  it('maps SECRET_TEXT and BASIC_AUTH onto connectors with the conventional fields', async () => {
    const secret = await call('POST', '/global-connections', acme.apiKey, {
      displayName: 'Text',
      pieceName: '@activepieces/piece-text',
      type: 'SECRET_TEXT',
      value: { type: 'SECRET_TEXT', props: { secret_text: 'sk_live_abcdefghijkl' } },
      projectIds: [projectId],
      externalId: 'text_1',
    });
    expect(secret.status).toBe(201);
    expect(secret.body.value).toEqual({ type: 'SECRET_TEXT', props: { secret_text: '****ijkl' } });
    connectionId = secret.body.id;

    const basic = await call('POST', '/global-connections', acme.apiKey, {
      displayName: 'Basic',
      pieceName: '@activepieces/piece-basic',
      type: 'BASIC_AUTH',
      value: { type: 'BASIC_AUTH', props: { username: 'bob', password: 'hunter2' } },
      projectIds: [],
      externalId: 'basic_1',
    });
    expect(basic.status).toBe(201);
    expect(basic.body.value.props).toEqual({ username: 'bob', password: '****' });
    expect(basic.text).not.toContain('hunter2');
  });

  it('takes OAuth2 tokens for an existing OAuth2 connector', async () => {
    const body = {
      displayName: 'Slack',
      pieceName: '@activepieces/piece-slack',
      type: 'PLATFORM_OAUTH2',
      value: {
        type: 'PLATFORM_OAUTH2',
        props: { access_token: 'xoxb-access-token-0123456789', refresh_token: 'xoxe-refresh-token-0123456789', token_type: 'bearer', expires_in: 3600 },
      },
      projectIds: [projectId],
      externalId: 'slack_1',
    };
    const missing = await call('POST', '/global-connections', acme.apiKey, body);
    expect(missing.status).toBe(400);
    expect(missing.body.problems[0].path).toBe('body.pieceName');

    const c = await gql(gw.url, UpsertOAuthConnector, {
      input: {
        key: '@activepieces/piece-slack',
        name: 'Slack',
        authType: 'OAUTH2',
        oauth2: { authorizeUrl: 'https://slack.com/oauth/v2/authorize', tokenUrl: 'https://slack.com/api/oauth.v2.access', clientId: 'slack-client' },
      },
    }, acme.adminToken);
    expect(c.data?.upsertConnector.__typename).toBe('MutationUpsertConnectorSuccess');
    const created = await call('POST', '/global-connections', acme.apiKey, body);
    expect(created.status).toBe(201);
    expect(created.text).not.toContain('0123456789');
    expect(created.body).toMatchObject({
      type: 'OAUTH2',
      status: 'ACTIVE',
      value: { props: { accessToken: '****6789', refreshToken: '****6789', tokenType: 'bearer' } },
    });
    const value = await gw.db.prisma.connectionValue.findFirstOrThrow({ where: { connectionId: created.body.id } });
    expect(value.expiresAt!.getTime()).toBeGreaterThan(Date.now() + 3000_000);
    const noToken = await call('POST', '/global-connections', acme.apiKey, { ...body, value: { type: 'PLATFORM_OAUTH2', props: { code: 'abc' } } });
    expect(noToken.status).toBe(400);
    expect(noToken.body.problems[0].path).toBe('body.value.props.access_token');
  });

  it('gets, lists with pagination, updates and deletes', async () => {
    const got = await call('GET', `/global-connections/${connectionId}`, acme.apiKey);
    expect(got.status).toBe(200);
    expect(got.body).toMatchObject({ id: connectionId, externalId: 'text_1' });

    const all = await gw.db.prisma.connection.count({ where: { orgId: acme.orgId, type: 'ORG_ACTIVATED_GLOBAL' } });
    expect(all).toBeGreaterThanOrEqual(3);
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page = await call('GET', `/global-connections?limit=2${cursor ? `&cursor=${cursor}` : ''}`, acme.apiKey);
      expect(page.status).toBe(200);
      expect(page.body.data.length).toBeLessThanOrEqual(2);
      seen.push(...page.body.data.map((c: { id: string }) => c.id));
      if (pages > 0) expect(page.body.previous).not.toBeNull();
      cursor = page.body.next;
      pages++;
    } while (cursor);
    expect(seen).toHaveLength(all);
    expect(new Set(seen).size).toBe(all);
    // Back one page from the second.
    const first = await call('GET', '/global-connections?limit=2', acme.apiKey);
    const second = await call('GET', `/global-connections?limit=2&cursor=${first.body.next}`, acme.apiKey);
    const back = await call('GET', `/global-connections?limit=2&cursor=${second.body.previous}`, acme.apiKey);
    expect(back.body.data.map((c: { id: string }) => c.id)).toEqual(first.body.data.map((c: { id: string }) => c.id));

    const filtered = await call('GET', '/global-connections?pieceName=@activepieces/piece-basic', acme.apiKey);
    expect(filtered.body.data.map((c: { externalId: string }) => c.externalId)).toEqual(['basic_1']);

    const updated = await call('POST', `/global-connections/${connectionId}`, acme.apiKey, {
      displayName: 'Text renamed',
      value: { type: 'SECRET_TEXT', props: { secret_text: 'sk_live_mnopqrstuvwx' } },
    });
    expect(updated.status).toBe(200);
    expect(updated.body).toMatchObject({ displayName: 'Text renamed', value: { props: { secret_text: '****uvwx' } } });

    const del = await call('DELETE', `/global-connections/${connectionId}`, acme.apiKey);
    expect(del.status).toBe(204);
    expect((await call('GET', `/global-connections/${connectionId}`, acme.apiKey)).status).toBe(404);
  });

  it('concurrent updates of one connection all succeed, one after the other', async () => {
    const c = (await call('GET', '/global-connections?externalId=basic_1', acme.apiKey)).body.data[0];
    const updates = await Promise.all([
      ...Array.from({ length: 4 }, (_, i) =>
        call('POST', `/global-connections/${c.id}`, acme.apiKey, { displayName: `Basic ${i}`, projectIds: i % 2 ? [projectId] : [] }),
      ),
      call('POST', '/global-connections', acme.apiKey, {
        displayName: 'Basic',
        pieceName: '@activepieces/piece-basic',
        type: 'BASIC_AUTH',
        value: { type: 'BASIC_AUTH', props: { username: 'bob', password: 'hunter2' } },
        projectIds: [projectId],
        externalId: 'basic_1',
      }),
    ]);
    expect(updates.map((u) => u.status)).toEqual([200, 200, 200, 200, 200]);
    const allowances = await gw.db.prisma.globalAllowance.count({ where: { connectionId: c.id } });
    const final = (await call('GET', `/global-connections/${c.id}`, acme.apiKey)).body;
    expect(final.projectIds).toHaveLength(allowances);
    await call('POST', `/global-connections/${c.id}`, acme.apiKey, { displayName: 'Basic', projectIds: [] });
  });

  it("answers 404 for another organization's ids", async () => {
    const mine = await call('GET', '/global-connections?externalId=basic_1', acme.apiKey);
    const id = mine.body.data[0].id as string;
    expect((await call('GET', `/global-connections/${id}`, other.apiKey)).status).toBe(404);
    expect((await call('POST', `/global-connections/${id}`, other.apiKey, { displayName: 'x' })).status).toBe(404);
    expect((await call('DELETE', `/global-connections/${id}`, other.apiKey)).status).toBe(404);
    expect((await call('GET', `/projects/${projectId}`, other.apiKey)).status).toBe(404);
    expect((await call('GET', `/global-connections/not-a-uuid`, other.apiKey)).status).toBe(404);
    // And another org's project cannot be put on an allow-list.
    const foreign = await call('POST', '/global-connections', other.apiKey, {
      displayName: 'x',
      pieceName: 'x',
      type: 'SECRET_TEXT',
      value: { type: 'SECRET_TEXT', props: { secret_text: 'abc' } },
      projectIds: [projectId],
      externalId: 'foreign',
    });
    expect(foreign.status).toBe(400);
    expect(foreign.body.problems[0].path).toBe('body.projectIds');
    expect((await call('GET', `/global-connections/${id}`, acme.apiKey)).body.displayName).toBe('Basic');
  });
});

describe('validation and authorization', () => {
  const good = {
    displayName: 'V',
    pieceName: '@activepieces/piece-v',
    type: 'SECRET_TEXT',
    value: { type: 'SECRET_TEXT', props: { secret_text: 'v' } },
    projectIds: [] as string[],
    externalId: 'v_1',
  };

  it('names the field of a malformed body', async () => {
    const cases: [unknown, string][] = [
      [{ ...good, displayName: undefined }, 'body.displayName'],
      [{ ...good, type: 'PASSWORD' }, 'body.type'],
      [{ ...good, value: { type: 'BASIC_AUTH', props: {} } }, 'body.value.type'],
      [{ ...good, projectIds: ['nope'] }, 'body.projectIds.0'],
      [{ ...good, externalId: '-bad id' }, 'body.externalId'],
      [{ ...good, value: { type: 'SECRET_TEXT', props: {} } }, 'body.value.props.secret_text'],
      [{ ...good, value: { type: 'SECRET_TEXT', props: { secret_text: 'x', extra: 1 } } }, 'body.value.props.extra'],
      [{ ...good, pieceName: '@activepieces/piece-new', type: 'CUSTOM_AUTH', value: { type: 'CUSTOM_AUTH', props: { 'api-key': 'x' } } }, 'body.value.props.api-key'],
      ['a string', 'body'],
    ];
    for (const [body, path] of cases) {
      const r = await call('POST', '/global-connections', acme.apiKey, body);
      expect(r.status, path).toBe(400);
      expect(r.body).toMatchObject({ statusCode: 400, code: 'VALIDATION_FAILED' });
      expect(r.body.problems.map((p: { path: string }) => p.path), path).toContain(path);
    }
    const notJson = await call('POST', '/projects', acme.apiKey, undefined, '{"displayName":');
    expect(notJson.status).toBe(400);
    expect(notJson.body.problems).toEqual([{ path: 'body', message: 'must be valid JSON' }]);
    const noName = await call('POST', '/projects', acme.apiKey, { externalId: 'x' });
    expect(noName.body.problems[0].path).toBe('body.displayName');
    const badLimit = await call('GET', '/projects?limit=1000', acme.apiKey);
    expect(badLimit.body.problems[0].path).toBe('query.limit');
    expect(await gw.db.prisma.connection.count({ where: { orgId: acme.orgId, externalId: 'v_1' } })).toBe(0);
  });

  it('refuses missing, unknown and revoked keys with 401', async () => {
    expect((await call('GET', '/projects', null)).status).toBe(401);
    expect((await call('GET', '/projects', 'cgk_not-a-key')).status).toBe(401);
    const key = await newKey(acme);
    expect((await call('GET', '/projects', key.secret)).status).toBe(200);
    await gw.db.prisma.apiKey.update({ where: { id: key.id }, data: { revokedAt: new Date() } });
    const revoked = await call('POST', '/global-connections', key.secret, good);
    expect(revoked.status).toBe(401);
    expect(revoked.body.code).toBe('UNAUTHENTICATED');
    // Customer users and runtimes are not org principals.
    expect((await call('GET', '/projects', acme.customers[0]!.userToken)).status).toBe(403);
    expect((await call('GET', '/projects', acme.customers[0]!.runtimeToken)).status).toBe(403);
  });

  it('a read-only key reads but may not write; a no-credential-writes key may not write credentials', async () => {
    const ro = await newKey(acme, { readOnly: true });
    expect((await call('GET', '/projects?externalId=a', ro.secret)).body.data).toHaveLength(1);
    expect((await call('GET', '/global-connections', ro.secret)).status).toBe(200);
    const p = await call('POST', '/projects', ro.secret, { displayName: 'ro', externalId: 'ro' });
    expect(p.status).toBe(403);
    expect(p.body.code).toBe('FORBIDDEN');
    expect((await call('POST', '/global-connections', ro.secret, good)).status).toBe(403);

    const nc = await newKey(acme, { noCredentialWrites: true });
    expect((await call('POST', '/projects', nc.secret, { displayName: 'nc', externalId: 'nc' })).status).toBe(201);
    expect((await call('POST', '/global-connections', nc.secret, good)).status).toBe(403);
    expect(await gw.db.prisma.customer.count({ where: { orgId: acme.orgId, externalId: 'ro' } })).toBe(0);
    expect(await gw.db.prisma.connection.count({ where: { orgId: acme.orgId, externalId: 'v_1' } })).toBe(0);
  });

  it('unknown routes and methods', async () => {
    expect((await call('GET', '/nothing', acme.apiKey)).status).toBe(404);
    expect((await call('DELETE', '/projects', acme.apiKey)).status).toBe(405);
  });
});

describe('OpenAPI document', () => {
  it('is served and generated from the route schemas', async () => {
    const res = await fetch(`${gw.url}/api/v1/openapi.json`);
    expect(res.status).toBe(200);
    const doc = (await res.json()) as {
      openapi: string;
      paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: { required: string[]; properties: Record<string, { enum?: string[] }> } }> } }>>;
    };
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths).sort()).toEqual([
      '/api/v1/connect-links',
      '/api/v1/connect-links/{id}',
      '/api/v1/global-connections',
      '/api/v1/global-connections/{id}',
      '/api/v1/projects',
      '/api/v1/projects/{id}',
      '/api/v1/webhook-deliveries/{id}/redeliver',
      '/api/v1/webhook-endpoints',
      '/api/v1/webhook-endpoints/{id}',
      '/api/v1/webhook-endpoints/{id}/deliveries',
    ]);
    expect(Object.keys(doc.paths['/api/v1/global-connections']!).sort()).toEqual(['get', 'post']);
    expect(Object.keys(doc.paths['/api/v1/global-connections/{id}']!).sort()).toEqual(['delete', 'get', 'post']);
    const body = doc.paths['/api/v1/global-connections']!.post!.requestBody!.content['application/json']!.schema;
    expect(body.required).toEqual(expect.arrayContaining(['displayName', 'pieceName', 'type', 'value', 'projectIds']));
    expect(body.properties.type!.enum).toEqual(expect.arrayContaining(['SECRET_TEXT', 'BASIC_AUTH', 'CUSTOM_AUTH', 'PLATFORM_OAUTH2']));
  });
});
