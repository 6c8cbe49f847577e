import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { SeededOrg } from '../src/seed/demo.js';
import { gid, http, rawPost } from './helpers/client.js';
import { wsClient } from './helpers/feed.js';
import { makeConnection, makeConnector } from './helpers/fixtures.js';
import { capturedLogs, type TestGateway } from './helpers/gateway.js';
import { useWorld } from './helpers/world.js';

/**
 * Issue 20, "secrets echoed in errors": no request input of any kind is
 * quoted back in an error message. A distinctive string (or number) is sent
 * through every kind of input mistake — GraphQL variables and literals of
 * every type, input objects, lists, enums, syntax errors, the operation name,
 * cursors, the services' own checks, REST bodies and query strings, the
 * runtime path, the Connect and OAuth2 routes, the Authorization header,
 * WebSocket subscriptions — and no response body, nor any log line (at debug
 * level), may contain it. Each error must still say where the mistake is.
 */
let gw: TestGateway;
let org: SeededOrg;
let connectionId: string;
let oauthConnectionId: string;

useWorld({ env: { LOG_LEVEL: 'debug' }, orgs: { org: { customers: ['acme-corp'] } } }, async (w) => {
  ({ gw, org } = w);
  const connector = await makeConnector(gw.app, org.orgId, { key: 'echo-api', name: 'Echo API', authType: 'SECRET_TEXT' });
  connectionId = (await makeConnection(gw.app, org.orgId, { stableKey: 'echo-api', name: 'Echo', connectorId: connector.id, type: 'CUSTOMER_ACTIVATED' })).id;
  const oauth = await makeConnector(gw.app, org.orgId, {
    key: 'echo-oauth',
    name: 'Echo OAuth',
    authType: 'OAUTH2',
    oauth2: { grantType: 'authorization_code', authorizeUrl: 'https://idp.example.com/a', tokenUrl: 'https://idp.example.com/t', clientId: 'echo-client', scopes: [] },
  });
  oauthConnectionId = (await makeConnection(gw.app, org.orgId, { stableKey: 'echo-oauth', name: 'Echo OAuth', connectorId: oauth.id, type: 'CUSTOMER_ACTIVATED' })).id;
});

const RUN = randomBytes(4).toString('hex');
/** Every mark sent, for the final scan of the logs. */
const marks: string[] = [];
/** A distinctive string that is also a GraphQL name (so it fits enum and name positions). */
const mark = (n: number) => {
  const m = `zq${RUN}x${n}`;
  marks.push(m);
  return m;
};
/** A distinctive whole number, larger than GraphQL's Int. */
const bigNumber = (n: number) => {
  const m = `7${String(parseInt(RUN, 16) % 1_000_000).padStart(6, '0')}${String(n).padStart(3, '0')}`;
  marks.push(m);
  return m;
};

interface Answer {
  status: number;
  text: string;
}

const gqlPost = async (query: string, variables?: unknown, extra: Record<string, unknown> = {}, token: string | null = org.adminToken): Promise<Answer> => {
  const r = await rawPost(gw.url, JSON.stringify({ query, variables, ...extra }), token ? { authorization: `Bearer ${token}` } : {});
  return { status: r.status, text: r.body };
};

const rest = async (path: string, init: Parameters<typeof http>[1] = {}): Promise<Answer> => {
  const r = await http(`${gw.url}${path}`, init);
  return { status: r.status, text: `${r.location ?? ''} ${r.body}` };
};

/** A probe: what it sends (with its mark), and what the answer must say instead (where, and why). */
type Probe = [name: string, send: (m: string) => Promise<Answer>, says: RegExp, markOf?: (n: number) => string];

const gqlError = (a: Answer) => (JSON.parse(a.text) as { errors?: { message: string }[] }).errors?.map((e) => e.message).join(' | ') ?? '';
const mutationError = (a: Answer) => a.text;

const probes: Probe[] = [
  // ─── GraphQL variables ───
  ['a string for an Int variable', (m) => gqlPost('query($n: Int) { customers(first: $n) { edges { node { id } } } }', { n: m }), /\$n.*Int/],
  ['a number too large for an Int variable', (m) => gqlPost('query($n: Int) { customers(first: $n) { edges { node { id } } } }', { n: Number(m) }), /\$n.*Int/, bigNumber],
  ['a string for a Boolean variable', (m) => gqlPost('query($b: Boolean!) { viewer @include(if: $b) { kind } }', { b: m }), /\$b.*Boolean/],
  ['an unknown enum value in a variable', (m) => gqlPost('query($s: ValueStatus) { connectionValues(status: $s) { edges { node { id } } } }', { s: m }), /\$s.*ValueStatus/],
  [
    'an object where an input object expects a string (the audit’s example)',
    (m) => gqlPost('mutation($i: ConnectorInput!) { createConnector(input: $i) { __typename } }', { i: { key: 'k1', name: 'n', authType: 'SECRET_TEXT', oauthClientSecret: { s: m } } }),
    /\$i\.oauthClientSecret.*String/,
  ],
  [
    'an unknown field in an input object variable',
    (m) => gqlPost('mutation($i: CustomerInput!) { createCustomer(input: $i) { __typename } }', { i: { externalId: 'c1', name: 'n', bogus: m } }),
    /bogus.*CustomerInput/,
  ],
  [
    'a missing required field beside a bad value',
    (m) => gqlPost('mutation($i: CustomerInput!) { createCustomer(input: $i) { __typename } }', { i: { name: m, metadata: 5 } }),
    /externalId/,
  ],
  [
    'an enum inside a list inside an input object',
    (m) => gqlPost('mutation($i: ConnectorInput!) { createConnector(input: $i) { __typename } }', { i: { key: 'k2', name: 'n', authType: 'SECRET_TEXT', fields: [{ key: 'a', label: 'A', type: m }] } }),
    /\$i\.fields\[0\]\.type.*FieldType/,
  ],
  ['an object in a list of IDs', (m) => gqlPost('query($ids: [ID!]!) { nodes(ids: $ids) { id } }', { ids: ['x', { v: m }] }), /\$ids\[1\].*ID/],
  ['a list for a String variable', (m) => gqlPost('query($e: String!) { customerByExternalId(externalId: $e) { id } }', { e: [m, m] }), /\$e.*String/],
  // ─── GraphQL literals ───
  ['a string literal for a Boolean (the audit’s example)', (m) => gqlPost(`{ viewer @include(if: "${m}") { kind } }`), /"if".*Boolean/],
  ['a string literal for an Int', (m) => gqlPost(`{ customers(first: "${m}") { edges { node { id } } } }`), /"first".*Int/],
  ['an Int literal out of range', (m) => gqlPost(`{ customers(first: ${m}) { edges { node { id } } } }`), /"first".*Int/, bigNumber],
  ['a Float literal for an Int', (m) => gqlPost(`{ customers(first: ${m}.5) { edges { node { id } } } }`), /"first".*Int/, bigNumber],
  ['an unknown enum literal', (m) => gqlPost(`{ connectionValues(status: ${m}) { edges { node { id } } } }`), /"status".*ValueStatus/],
  ['an enum-like literal for a String', (m) => gqlPost(`{ customerByExternalId(externalId: ${m}) { id } }`), /"externalId".*String/],
  [
    'an object literal for a String inside an input object',
    (m) => gqlPost(`mutation { createConnector(input: { key: "k3", name: "n", authType: SECRET_TEXT, oauthClientSecret: { s: "${m}" } }) { __typename } }`),
    /input\.oauthClientSecret.*String/,
  ],
  ['an object in a list literal of IDs', (m) => gqlPost(`{ nodes(ids: ["x", { v: "${m}" }]) { id } }`), /ids\[1\].*ID/],
  // ─── syntax ───
  ['a stray string in the document', (m) => gqlPost(`{ viewer { kind } "${m}" }`), /Syntax Error/],
  ['a stray block string in the document', (m) => gqlPost(`{ viewer { kind } """${m}""" }`), /Syntax Error/],
  ['a stray number in the document', (m) => gqlPost(`{ viewer { kind } ${m} }`), /Syntax Error/, bigNumber],
  ['an argument value where a name belongs', (m) => gqlPost(`{ customerByExternalId("${m}") { id } }`), /Syntax Error/],
  // ─── the request around the document ───
  ['an operation name the document does not have', (m) => gqlPost('query A { viewer { kind } }', undefined, { operationName: m }), /operation/i],
  ['a garbage cursor', (m) => gqlPost(`{ customers(after: "${m}") { edges { node { id } } } }`), /cursor/i],
  ['a cursor of the right shape around a garbage id', (m) => gqlPost(`{ customers(after: "${Buffer.from(`GPC:S:${m}`).toString('base64')}") { edges { node { id } } } }`), /cursor|form/i],
  // ─── the services' own checks ───
  [
    'an externalId that exists already',
    async (m) => {
      const q = 'mutation($i: CustomerInput!) { createCustomer(input: $i) { __typename ... on Error { message } } }';
      await gqlPost(q, { i: { externalId: m, name: 'First' } });
      return gqlPost(q, { i: { externalId: m, name: 'Second' } });
    },
    /externalId/,
  ],
  [
    'a connector key that exists already',
    async (m) => {
      const q = 'mutation($i: ConnectorInput!) { createConnector(input: $i) { __typename ... on Error { message } } }';
      await gqlPost(q, { i: { key: m, name: 'First', authType: 'SECRET_TEXT' } });
      return gqlPost(q, { i: { key: m, name: 'Second', authType: 'SECRET_TEXT' } });
    },
    /key/,
  ],
  [
    'a duplicate field key in a connector',
    (m) =>
      gqlPost('mutation($i: ConnectorInput!) { createConnector(input: $i) { __typename ... on ValidationError { problems { path message } } } }', {
        i: { key: 'k4', name: 'n', authType: 'SECRET_TEXT', fields: [{ key: m, label: 'A', type: 'STRING' }, { key: m, label: 'B', type: 'STRING' }] },
      }),
    /input\.fields\.1\.key/,
  ],
  [
    'a connection stableKey that exists already',
    async (m) => {
      const q = `mutation($i: ConnectionInput!) { createConnection(input: $i) { __typename ... on Error { message } } }`;
      const i = { stableKey: m, name: 'n', connectorId: gid('Connector', (await gw.db.prisma.connector.findFirstOrThrow({ where: { orgId: org.orgId, key: 'echo-api' } })).id), type: 'CUSTOMER_ACTIVATED' };
      await gqlPost(q, { i });
      return gqlPost(q, { i });
    },
    /stableKey/,
  ],
  [
    'an unknown stableKey in a connect link',
    (m) => gqlPost(`mutation { createConnectLink(customerExternalId: "acme-corp", connections: ["echo-api", "${m}"]) { __typename ... on ValidationError { problems { path message } } } }`),
    /connections\.1/,
  ],
  [
    'an unknown stableKey among an integration’s connections',
    (m) =>
      gqlPost('mutation($i: IntegrationInput!) { createIntegration(input: $i) { __typename ... on ValidationError { problems { path message } } } }', {
        i: { stableKey: 'int-1', name: 'Int', connections: [{ connectionStableKey: m }] },
      }),
    /connections\.0\.connectionStableKey/,
  ],
  [
    'an integration stableKey that exists already',
    async (m) => {
      const q = 'mutation($i: IntegrationInput!) { createIntegration(input: $i) { __typename ... on Error { message } } }';
      await gqlPost(q, { i: { stableKey: m, name: 'First' } });
      return gqlPost(q, { i: { stableKey: m, name: 'Second' } });
    },
    /stableKey/,
  ],
  [
    'an unknown connector in a manifest',
    (m) =>
      gqlPost('mutation($m: JSON!) { importManifest(manifest: $m, dryRun: true) { __typename ... on ValidationError { problems { path message } } } }', {
        m: { version: 1, connections: [{ stableKey: 'manifest-conn', name: 'n', connector: m, type: 'CUSTOMER_ACTIVATED' }] },
      }),
    /manifest\.connections\.0\.connector/,
  ],
  [
    'a redirect origin the organization does not allow',
    (m) =>
      gqlPost(
        'mutation($c: ID!, $u: String) { startOAuthAuthorization(connectionId: $c, successUrl: $u) { __typename ... on ValidationError { problems { path message } } ... on Error { message } } }',
        { c: gid('Connection', oauthConnectionId), u: `https://${m}.example/done` },
        {},
        org.customers[0]!.userToken,
      ),
    /successUrl.*redirect origins/,
  ],
  [
    'a value of the wrong type for a connection field',
    (m) =>
      gqlPost('mutation($c: ID!, $v: JSON!) { setMyConnectionValue(connectionId: $c, values: $v) { __typename ... on ValidationError { problems { path message } } } }', { c: gid('Connection', connectionId), v: { secret_text: { s: m } } }, {}, org.customers[0]!.userToken),
    /values\.secret_text/,
  ],
  // ─── REST ───
  ['a REST body that is not JSON', (m) => rest('/api/v1/projects', { method: 'POST', token: org.apiKey, raw: `{"displayName": "${m}"` }), /body/],
  ['a REST body field of the wrong type', (m) => rest('/api/v1/projects', { method: 'POST', token: org.apiKey, body: { displayName: { s: m }, externalId: 'p-1' } }), /displayName/],
  ['a REST enum of the wrong value', (m) => rest('/api/v1/global-connections', { method: 'POST', token: org.apiKey, body: { displayName: 'x', pieceName: 'echo-api', type: m, value: {} } }), /type/],
  ['a REST query parameter of the wrong form', (m) => rest(`/api/v1/projects?limit=${m}`, { token: org.apiKey }), /limit/],
  ['a REST path id that is not one', (m) => rest(`/api/v1/projects/${m}`, { token: org.apiKey }), /not found/i],
  ['an unknown stableKey in a REST connect link', (m) => rest('/api/v1/connect-links', { method: 'POST', token: org.apiKey, body: { customerExternalId: 'acme-corp', connections: [m] } }), /connections\.0/],
  // ─── runtime, Connect, OAuth2 ───
  ['an unknown stableKey on the runtime path', (m) => rest(`/runtime/v1/connection?stableKey=${m}`, { token: org.customers[0]!.runtimeToken }), /not found/i],
  // ─── drop-in routes (Nango's SDK, the Activepieces engine) ───
  ['an unknown provider_config_key on the Nango route', (m) => rest(`/connections/acme-corp?provider_config_key=${m}`, { token: org.apiKey }), /unknown_provider_config/],
  ['an unknown connection id on the Nango route', (m) => rest(`/connections/${m}?provider_config_key=echo-api`, { token: org.apiKey }), /not_found/],
  ['a Nango flag that is not a boolean', (m) => rest(`/connections/acme-corp?provider_config_key=echo-api&force_refresh=${m}`, { token: org.apiKey }), /force_refresh/],
  ['a Nango list filter of the wrong form', (m) => rest(`/connections?limit=${m}`, { token: org.apiKey }), /limit/],
  ['an unknown externalId on the Activepieces engine route', (m) => rest(`/v1/worker/app-connections/${m}?projectId=${m}`, { token: org.customers[0]!.runtimeToken }), /ENTITY_NOT_FOUND/],
  ['a connect link that is not one', (m) => rest('/connect/session', { method: 'POST', body: { link: `cgl_${m}` } }), /link/],
  ['an OAuth2 start link that is not one', (m) => rest(`/oauth/start?flow=${m}`), /link/],
  ['an OAuth2 callback with a forged state and error', (m) => rest(`/oauth/callback?state=${m}&error=${m}&error_description=${m}`), /state/],
  // ─── credentials ───
  ['a bearer credential that is not one', (m) => gqlPost('{ viewer { kind } }', undefined, {}, m), /credential/i],
  ['a bearer credential shaped like an API key', (m) => gqlPost('{ viewer { kind } }', undefined, {}, `cgk_${m}`), /credential/i],
  ['a bearer credential shaped like a JWT', (m) => gqlPost('{ viewer { kind } }', undefined, {}, `${Buffer.from(JSON.stringify({ alg: 'ES256', kid: m })).toString('base64url')}.e30.sig`), /credential/i],
];

describe('no request input is quoted in an error message', () => {
  it.each(probes.map((p, i) => [p[0], i] as const))('%s', async (_name, i) => {
    const [, send, says, markOf = mark] = probes[i]!;
    const m = markOf(i);
    const answer = await send(m);
    expect(answer.status, answer.text).toBeGreaterThanOrEqual(200);
    expect(answer.text, 'the answer quotes what was sent').not.toContain(m);
    // Still an error that says where and why.
    const said = answer.text.startsWith('{') && answer.text.includes('"errors"') ? gqlError(answer) || mutationError(answer) : answer.text;
    expect(said).toMatch(says);
  });

  it('a WebSocket subscription with a bad variable', async () => {
    const m = mark(1000);
    const client = wsClient(gw.url, org.adminToken);
    try {
      const error = await new Promise<unknown>((resolve) => {
        client.subscribe(
          { query: 'subscription($c: ID) { availableConnectionsChanged(customerId: $c) { kind } }', variables: { c: { v: m } } },
          { next: (r) => resolve(r), error: (e) => resolve(e), complete: () => resolve('complete') },
        );
      });
      const text = JSON.stringify(error);
      expect(text).not.toContain(m);
      expect(text).toMatch(/\$c.*ID/);
    } finally {
      await client.dispose();
    }
  });

  it('no log line of this file quotes any of it', () => {
    expect(marks.length).toBeGreaterThan(probes.length);
    const leaks = marks.filter((m) => capturedLogs.some((l) => l.includes(m)));
    expect(leaks, capturedLogs.filter((l) => leaks.some((m) => l.includes(m))).slice(0, 3).join('\n')).toEqual([]);
  });
});
