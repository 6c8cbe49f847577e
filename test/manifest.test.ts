import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { seedOrg, type SeededOrg } from '../src/seed/demo.js';
import { graphql } from './gql/index.js';
import { gql } from './helpers/client.js';
import { makeApiKey } from './helpers/fixtures.js';
import type { TestGateway } from './helpers/gateway.js';
import { useWorld } from './helpers/world.js';

const run = promisify(execFile);

const ExportManifest = graphql(`query ManifestExport { exportManifest }`);

const ImportManifest = graphql(`
  mutation ManifestImport($manifest: JSON!, $dryRun: Boolean!, $prune: Boolean) {
    importManifest(manifest: $manifest, dryRun: $dryRun, prune: $prune) {
      __typename
      ... on MutationImportManifestSuccess { data { dryRun applied prune changed items { kind key action changes } } }
      ... on Error { code message }
      ... on ValidationError { problems { path message } }
    }
  }
`);

const UpsertConnector = graphql(`
  mutation ManifestUpsertConnector($input: ConnectorInput!) {
    upsertConnector(input: $input) { __typename ... on MutationUpsertConnectorSuccess { data { id } } ... on Error { code message } }
  }
`);

const UpsertConnection = graphql(`
  mutation ManifestUpsertConnection($input: ConnectionInput!) {
    upsertConnection(input: $input) { __typename ... on MutationUpsertConnectionSuccess { data { id } } ... on Error { code message } }
  }
`);

const UpsertIntegration = graphql(`
  mutation ManifestUpsertIntegration($input: IntegrationInput!) {
    upsertIntegration(input: $input) { __typename ... on MutationUpsertIntegrationSuccess { data { id } } ... on Error { code message } }
  }
`);

const SetValue = graphql(`
  mutation ManifestSetValue($target: ConnectionValueTarget!, $values: JSON!) {
    setConnectionValue(target: $target, values: $values) { __typename ... on MutationSetConnectionValueSuccess { data { id } } ... on Error { code message } }
  }
`);

const CLIENT_SECRET = 'oauth-client-secret-do-not-export';
const VALUE_SECRET = 'sk_live_value_secret_do_not_export';

let a: TestGateway;
let b: TestGateway;
let orgA: SeededOrg;
let orgB: SeededOrg;

// Two gateways with separate databases: a holds the content to export, b receives it.
useWorld({ orgs: { orgA: { customers: ['us-1'] } } }, async (w) => {
  ({ gw: a, orgA } = w);

  const ok = (r: { errors?: unknown; data?: unknown }) => {
    expect(r.errors).toBeUndefined();
    expect(JSON.stringify(r.data)).toContain('Success');
  };
  const t = orgA.adminToken;
  ok(
    await gql(a.url, UpsertConnector, {
      input: {
        key: 'salesforce',
        name: 'Salesforce',
        authType: 'OAUTH2',
        oauth2: {
          authorizeUrl: 'https://login.salesforce.com/services/oauth2/authorize',
          tokenUrl: 'https://login.salesforce.com/services/oauth2/token',
          clientId: 'sf-client',
          scopes: ['api', 'refresh_token'],
        },
        oauthClientSecret: CLIENT_SECRET,
      },
    }, t),
  );
  ok(
    await gql(a.url, UpsertConnector, {
      input: {
        key: 'acme-api',
        name: 'Acme API',
        authType: 'CUSTOM_AUTH',
        fields: [
          { key: 'baseUrl', label: 'Base URL', type: 'URL', required: true },
          { key: 'apiKey', label: 'API key', type: 'STRING', required: true, secret: true },
        ],
        testRequest: { method: 'GET', url: '{{baseUrl}}/me', headers: { authorization: 'Bearer {{apiKey}}' } },
      },
    }, t),
  );
  ok(await gql(a.url, UpsertConnection, { input: { stableKey: 'sf-main', name: 'Salesforce', connectorKey: 'salesforce', type: 'CUSTOMER_ACTIVATED', availableInWorkflows: true } }, t));
  ok(
    await gql(a.url, UpsertConnection, {
      input: { stableKey: 'acme-shared', name: 'Acme (shared)', connectorKey: 'acme-api', type: 'ORG_ACTIVATED_GLOBAL', metadata: { team: 'ops', b: 1, a: 2 } },
    }, t),
  );
  ok(
    await gql(a.url, SetValue, {
      target: { connectionStableKey: 'acme-shared', slot: 'GLOBAL' },
      values: { baseUrl: 'https://acme.example', apiKey: VALUE_SECRET },
    }, t),
  );
  ok(
    await gql(a.url, UpsertIntegration, {
      input: {
        stableKey: 'crm-sync',
        name: 'CRM sync',
        connections: [{ connectionStableKey: 'sf-main' }, { connectionStableKey: 'acme-shared', required: false }],
      },
    }, t),
  );
  // A global connection made through the Activepieces-compatible REST API syncs too.
  const project = await fetch(`${a.url}/api/v1/projects?externalId=us-1`, { headers: { authorization: `Bearer ${orgA.apiKey}` } }).then((r) => r.json());
  const created = await fetch(`${a.url}/api/v1/global-connections`, {
    method: 'POST',
    headers: { authorization: `Bearer ${orgA.apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      displayName: 'Gelato Connection',
      pieceName: '@activepieces/piece-gelato',
      metadata: {},
      type: 'SECRET_TEXT',
      value: { type: 'SECRET_TEXT', props: { secret_text: VALUE_SECRET } },
      scope: 'PLATFORM',
      projectIds: [project.data[0].id],
      externalId: 'gelato_us-1',
    }),
  });
  expect(created.status).toBe(201);
});
useWorld({ orgs: { orgB: { customers: ['eu-1'] } } }, (w) => ({ gw: b, orgB } = w));

async function exported(gw: TestGateway, token: string) {
  const r = await gql(gw.url, ExportManifest, {}, token);
  expect(r.errors).toBeUndefined();
  return r.data!.exportManifest as {
    version: number;
    connectors: { key: string }[];
    connections: { stableKey: string; name: string }[];
    integrations: { stableKey: string }[];
  };
}

async function sync(...args: string[]) {
  try {
    const { stdout } = await run('npm', ['run', '--silent', 'sync', '--', '--from', a.url, '--from-key', orgA.apiKey, '--to', b.url, '--to-key', orgB.apiKey, ...args], {
      cwd: new URL('..', import.meta.url).pathname,
    });
    return { code: 0, stdout };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout + e.stderr };
  }
}

describe('exportManifest', () => {
  it('keys everything by stable keys, deterministically, without secrets or ids', async () => {
    const m = await exported(a, orgA.apiKey);
    expect(m.version).toBe(1);
    expect(m.connectors.map((c) => c.key)).toEqual(['@activepieces/piece-gelato', 'acme-api', 'salesforce']);
    expect(m.connections.map((c) => c.stableKey)).toEqual(['acme-shared', 'gelato_us-1', 'sf-main']);
    expect(m.integrations).toEqual([
      {
        stableKey: 'crm-sync',
        name: 'CRM sync',
        description: '',
        connections: [
          { required: false, stableKey: 'acme-shared' },
          { required: true, stableKey: 'sf-main' },
        ],
      },
    ]);
    const text = JSON.stringify(m);
    expect(text).not.toContain(CLIENT_SECRET);
    expect(text).not.toContain(VALUE_SECRET);
    expect(text).not.toMatch(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/i);
    // No customers: allow-lists are per tenant.
    expect(text).not.toMatch(/allowedCustomer|"customers?"|"us-1"/);
    expect(JSON.stringify(await exported(a, orgA.adminToken))).toBe(text);
  });
});

describe('importManifest', () => {
  it('names the field of an invalid manifest', async () => {
    const r = await gql(b.url, ImportManifest, {
      manifest: { version: 1, connections: [{ stableKey: 'x', name: 'X', connector: 'nope', type: 'CUSTOMER_ACTIVATED' }] },
      dryRun: true,
    }, orgB.apiKey);
    expect(r.data?.importManifest).toMatchObject({
      __typename: 'ValidationError',
      problems: [{ path: 'manifest.connections.0.connector', message: 'no connector has this key (in the manifest or the organization)' }],
    });
    const bad = await gql(b.url, ImportManifest, { manifest: { version: 2 }, dryRun: true }, orgB.apiKey);
    expect(bad.data?.importManifest).toMatchObject({ __typename: 'ValidationError', problems: [{ path: 'manifest.version' }] });
  });

  it('a hand-written minimal manifest imports once, then is unchanged', async () => {
    const org = await seedOrg(b.app, { customers: [] });
    const manifest = {
      version: 1,
      connectors: [{ key: 'twilio', name: 'Twilio', authType: 'SECRET_TEXT' }],
      connections: [{ stableKey: 'twilio-sms', name: 'Twilio SMS', connector: 'twilio', type: 'ORG_ACTIVATED_GLOBAL' }],
      integrations: [{ stableKey: 'notify', name: 'Notify', connections: [{ stableKey: 'twilio-sms' }] }],
    };
    const first = await gql(b.url, ImportManifest, { manifest, dryRun: false }, org.apiKey);
    expect(first.data?.importManifest).toMatchObject({ data: { applied: true, changed: 3 } });
    const second = await gql(b.url, ImportManifest, { manifest, dryRun: false }, org.apiKey);
    expect(second.data?.importManifest).toMatchObject({ data: { applied: false, changed: 0 } });
    const twilio = await b.db.prisma.connector.findFirstOrThrow({ where: { orgId: org.orgId, key: 'twilio' } });
    expect(twilio.fields).toEqual([expect.objectContaining({ key: 'secret_text', secret: true })]);
  });

  it('a read-only key may plan but not apply', async () => {
    const k = await makeApiKey(b.app, orgB.orgId, { name: 'ro', readOnly: true });
    const manifest = await exported(a, orgA.apiKey);
    const dry = await gql(b.url, ImportManifest, { manifest, dryRun: true }, k.secret);
    expect(dry.data?.importManifest.__typename).toBe('MutationImportManifestSuccess');
    const real = await gql(b.url, ImportManifest, { manifest, dryRun: false }, k.secret);
    expect(real.data?.importManifest).toMatchObject({ __typename: 'ForbiddenError' });
    expect(await b.db.prisma.connector.count({ where: { orgId: orgB.orgId } })).toBe(0);
  });

  it('applies in one transaction: a failing item leaves nothing behind', async () => {
    const t = orgB.adminToken;
    await gql(b.url, UpsertConnector, { input: { key: 'locked', name: 'Locked', authType: 'SECRET_TEXT' } }, t);
    await gql(b.url, UpsertConnection, { input: { stableKey: 'locked-conn', name: 'L', connectorKey: 'locked', type: 'ORG_ACTIVATED_GLOBAL' } }, t);
    await gql(b.url, SetValue, { target: { connectionStableKey: 'locked-conn', slot: 'GLOBAL' }, values: { secret_text: 'x' } }, t);
    const before = await exported(b, t);
    const r = await gql(b.url, ImportManifest, {
      manifest: {
        version: 1,
        connectors: [
          { key: 'aaa-new', name: 'New', authType: 'NO_AUTH' },
          // Changing the auth type of a connector whose connections hold values is refused.
          { key: 'locked', name: 'Locked', authType: 'BASIC_AUTH' },
        ],
      },
      dryRun: false,
    }, t);
    expect(r.data?.importManifest).toMatchObject({ __typename: 'ValidationError', problems: [{ path: 'manifest.connectors.1.authType' }] });
    expect(await exported(b, t)).toEqual(before);
    // Clean up for the sync tests below.
    await b.db.prisma.connection.deleteMany({ where: { orgId: orgB.orgId } });
    await b.db.prisma.connector.deleteMany({ where: { orgId: orgB.orgId } });
  });
});

describe('sync CLI between two gateways with separate databases', () => {
  it('dry run plans, real run applies, a second run changes nothing, prune deletes extras', async () => {
    const dry = await sync('--dry-run');
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(/^CREATE\s+connector\s+salesforce$/m);
    expect(dry.stdout).toMatch(/^CREATE\s+integration\s+crm-sync$/m);
    expect(dry.stdout).toContain('Dry run: nothing was changed.');
    expect(await b.db.prisma.connector.count({ where: { orgId: orgB.orgId } })).toBe(0);

    const real = await sync();
    expect(real.code).toBe(0);
    expect(real.stdout).toContain('7 to create, 0 to update, 0 unchanged, 0 to delete.');
    expect(real.stdout).toContain('Applied in one transaction.');
    expect(await exported(b, orgB.apiKey)).toEqual(await exported(a, orgA.apiKey));
    // Configuration only: no credential values travelled.
    expect(await b.db.prisma.connectionValue.count({ where: { orgId: orgB.orgId } })).toBe(0);
    const sf = await b.db.prisma.connector.findFirstOrThrow({ where: { orgId: orgB.orgId, key: 'salesforce' } });
    expect(sf.oauthClientSecret).toBeNull();

    const again = await sync('--json');
    expect(again.code).toBe(0);
    const plan = JSON.parse(again.stdout) as { applied: boolean; changed: number; items: { action: string }[] };
    expect(plan.applied).toBe(false);
    expect(plan.changed).toBe(0);
    expect(plan.items.length).toBe(7);
    expect(new Set(plan.items.map((i) => i.action))).toEqual(new Set(['UNCHANGED']));

    // A change in the source and an extra in the target.
    await gql(a.url, UpsertConnection, {
      input: { stableKey: 'sf-main', name: 'Salesforce (prod)', connectorKey: 'salesforce', type: 'CUSTOMER_ACTIVATED', availableInWorkflows: true },
    }, orgA.adminToken);
    await gql(b.url, UpsertConnector, { input: { key: 'only-in-b', name: 'Only in B', authType: 'NO_AUTH' } }, orgB.adminToken);
    const update = await sync();
    expect(update.stdout).toMatch(/^UPDATE\s+connection\s+sf-main\s+\(name\)$/m);
    expect(update.stdout).toMatch(/^EXTRA\s+connector\s+only-in-b$/m);
    expect(await b.db.prisma.connector.count({ where: { orgId: orgB.orgId, key: 'only-in-b' } })).toBe(1);

    const prune = await sync('--prune');
    expect(prune.stdout).toMatch(/^DELETE\s+connector\s+only-in-b$/m);
    expect(await exported(b, orgB.apiKey)).toEqual(await exported(a, orgA.apiKey));

    const audited = await b.db.prisma.auditEvent.findMany({ where: { orgId: orgB.orgId, action: 'manifest.import' } });
    const keyRow = await b.db.prisma.apiKey.findFirstOrThrow({ where: { orgId: orgB.orgId, name: 'seed' } });
    expect(audited.length).toBe(3);
    expect(audited.every((e) => e.principalId === keyRow.id)).toBe(true);
  });

  it('two simultaneous imports apply once', async () => {
    const manifest = await exported(a, orgA.apiKey);
    const changed = { ...manifest, connectors: [...manifest.connectors, { key: 'concurrent', name: 'Concurrent', authType: 'NO_AUTH' }] };
    const results = await Promise.all([1, 2, 3].map(() => gql(b.url, ImportManifest, { manifest: changed, dryRun: false }, orgB.apiKey)));
    const plans = results.map((r) => {
      if (r.data?.importManifest.__typename !== 'MutationImportManifestSuccess') throw new Error(JSON.stringify(r));
      return r.data.importManifest.data;
    });
    expect(plans.map((p) => p.changed).sort()).toEqual([0, 0, 1]);
    expect(await b.db.prisma.connector.count({ where: { orgId: orgB.orgId, key: 'concurrent' } })).toBe(1);
  });

  it('reports bad usage and refused manifests with a non-zero exit', async () => {
    const noKey = await run('npm', ['run', '--silent', 'sync', '--', '--from', a.url], { cwd: new URL('..', import.meta.url).pathname }).catch(
      (e: { code: number; stderr: string }) => e,
    );
    expect((noKey as { code: number }).code).toBe(2);
    expect((noKey as { stderr: string }).stderr).toContain('missing --from-key, --to, --to-key');
    const badKey = await run('npm', ['run', '--silent', 'sync', '--', '--from', a.url, '--from-key', 'cgk_wrong', '--to', b.url, '--to-key', orgB.apiKey], {
      cwd: new URL('..', import.meta.url).pathname,
    }).catch((e: { code: number; stderr: string }) => e);
    expect((badKey as { code: number }).code).toBe(2);
    expect((badKey as { stderr: string }).stderr).toContain('UNAUTHENTICATED');
  });
});
