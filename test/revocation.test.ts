import { afterAll, describe, expect, it } from 'vitest';
import { newKeySpec } from '../src/crypto/keyring.js';
import type { SeededOrg } from '../src/seed/demo.js';
import { newEmbedKeyPair, signEmbedToken } from '../src/seed/embed.js';
import { graphql } from './gql/index.js';
import { gid, gql, http } from './helpers/client.js';
import { Collector, currentCursor, wsClient } from './helpers/feed.js';
import { makeApiKey, makeConnection, makeConnector } from './helpers/fixtures.js';
import type { TestGateway } from './helpers/gateway.js';
import { spawnInstance } from './helpers/instance.js';
import { useWorld } from './helpers/world.js';

/**
 * Issue 20, "revoked API keys": the subscriptions of a revoked credential —
 * an API key, an embed signing key, a connect link — have ended when the
 * revocation answers, on every instance: a change committed after that
 * answer reaches the other subscribers and never a revoked one. On one
 * gateway (both databases), and on two gateway processes sharing PostgreSQL
 * and Redis, the revocation sent to one while the subscribers are on the other.
 */
const Feed = graphql(`
  subscription RevocationFeed($customerId: ID, $after: String) {
    availableConnectionsChanged(customerId: $customerId, after: $after) { kind connection { name } }
  }
`);

const SetMyValue = graphql(`
  mutation RevocationSetMyValue($connectionId: ID!, $values: JSON!) {
    setMyConnectionValue(connectionId: $connectionId, values: $values) { __typename }
  }
`);

const RevokeApiKey = graphql(`
  mutation RevocationRevokeApiKey($id: ID!) {
    revokeApiKey(id: $id) { __typename }
  }
`);

const RegisterEmbedKey = graphql(`
  mutation RevocationRegisterEmbedKey($publicKey: String!, $alg: String!) {
    registerEmbedSigningKey(publicKey: $publicKey, alg: $alg) { __typename ... on MutationRegisterEmbedSigningKeySuccess { data { keyId } } }
  }
`);

const RevokeEmbedKey = graphql(`
  mutation RevocationRevokeEmbedKey($keyId: String!) {
    revokeEmbedSigningKey(keyId: $keyId) { __typename }
  }
`);

const CreateLink = graphql(`
  mutation RevocationCreateLink($customerId: ID!, $connections: [String!]!) {
    createConnectLink(customerId: $customerId, connections: $connections) { __typename ... on MutationCreateConnectLinkSuccess { data { token link { linkId } } } }
  }
`);

interface Case {
  /** The credential to revoke, and the subscription arguments it needs. */
  credential(): Promise<{ token: string; args: Record<string, unknown>; revoke(revokeUrl: string): Promise<void> }>;
}

/** The three credentials whose revocation ends subscriptions, for a world's org and connection. */
function cases(world: () => { gw: TestGateway; org: SeededOrg; connectionId: string }): [string, Case][] {
  return [
    [
      'an API key',
      {
        async credential() {
          const { gw, org } = world();
          const key = await makeApiKey(gw.app, org.orgId, { name: 'to revoke' });
          return {
            token: key.secret,
            args: { customerId: gid('Customer', org.customers[0]!.id) },
            async revoke(url) {
              const r = await gql(url, RevokeApiKey, { id: gid('ApiKey', key.id) }, org.adminToken);
              expect(r.data?.revokeApiKey.__typename).toBe('MutationRevokeApiKeySuccess');
            },
          };
        },
      },
    ],
    [
      'the embed signing key of a customer user',
      {
        async credential() {
          const { gw, org } = world();
          const pair = await newEmbedKeyPair();
          const reg = await gql(gw.url, RegisterEmbedKey, { publicKey: pair.publicKeyPem, alg: 'ES256' }, org.adminToken);
          if (reg.data?.registerEmbedSigningKey.__typename !== 'MutationRegisterEmbedSigningKeySuccess') throw new Error(JSON.stringify(reg));
          const keyId = reg.data.registerEmbedSigningKey.data.keyId;
          const token = await signEmbedToken({ keyId, privateKey: pair.privateKey }, { userId: 'revoked-user', customerExternalId: org.customers[0]!.externalId });
          return {
            token,
            args: {},
            async revoke(url) {
              const r = await gql(url, RevokeEmbedKey, { keyId }, org.adminToken);
              expect(r.data?.revokeEmbedSigningKey.__typename).toBe('MutationRevokeEmbedSigningKeySuccess');
            },
          };
        },
      },
    ],
    [
      'a connect link (revoked over REST)',
      {
        async credential() {
          const { gw, org } = world();
          const created = await gql(gw.url, CreateLink, { customerId: gid('Customer', org.customers[0]!.id), connections: ['revocation-api'] }, org.adminToken);
          if (created.data?.createConnectLink.__typename !== 'MutationCreateConnectLinkSuccess') throw new Error(JSON.stringify(created));
          const { token, link } = created.data.createConnectLink.data;
          const session = await http(`${gw.url}/connect/session`, { method: 'POST', body: { link: token } });
          return {
            token: (session.json() as { accessToken: string }).accessToken,
            args: {},
            async revoke(url) {
              const r = await http(`${url}/api/v1/connect-links/${link.linkId}`, { method: 'DELETE', token: org.apiKey });
              expect(r.status, r.body).toBe(200);
            },
          };
        },
      },
    ],
  ];
}

/**
 * Subscribes the credential and a control (the customer's own user) on
 * `subscribeUrl`; both see a first change; the credential is revoked through
 * `revokeUrl`; once that answers, a second change reaches the control and
 * not the revoked subscription, which has ended.
 */
async function revokedBeforeTheAnswer(
  world: { gw: TestGateway; org: SeededOrg; connectionId: string },
  c: Case,
  subscribeUrl: string,
  revokeUrl: string,
): Promise<void> {
  const { gw, org, connectionId } = world;
  const credential = await c.credential();
  const revokedClient = wsClient(subscribeUrl, credential.token);
  const controlClient = wsClient(subscribeUrl, org.customers[0]!.userToken);
  // From the current cursor: what follows reaches both however long they take to start.
  const after = await currentCursor(gw.db.prisma);
  const revoked = new Collector(revokedClient, Feed, { ...credential.args, after });
  const control = new Collector(controlClient, Feed, { after });
  let n = 0;
  const change = async () => {
    const r = await gql(gw.url, SetMyValue, { connectionId: gid('Connection', connectionId), values: { secret_text: `revocation-value-${n++}` } }, org.customers[0]!.userToken);
    expect(r.data?.setMyConnectionValue.__typename).toBe('MutationSetMyConnectionValueSuccess');
  };
  try {
    // Both subscriptions are live: each receives a change.
    await change();
    await Promise.all([revoked.count(1, 30_000), control.count(1, 30_000)]);
    await credential.revoke(revokeUrl);
    // From here on, nothing reaches the revoked subscription: it ended before the revocation answered.
    await change();
    await control.count(2, 30_000);
    expect(revoked.events).toHaveLength(1);
    await revoked.until((x) => x.completed || x.errors.length > 0, 5_000, 'the end of the revoked subscription');
  } finally {
    revoked.close();
    control.close();
    await revokedClient.dispose();
    await controlClient.dispose();
  }
}

async function seedConnection(gw: TestGateway, org: SeededOrg): Promise<string> {
  const connector = await makeConnector(gw.app, org.orgId, { key: 'revocation-api', name: 'Revocation API', authType: 'SECRET_TEXT' });
  const connection = await makeConnection(gw.app, org.orgId, {
    stableKey: 'revocation-api',
    name: 'Revocation API',
    connectorId: connector.id,
    type: 'CUSTOMER_ACTIVATED',
    availableInWorkflows: true,
  });
  return connection.id;
}

describe('one gateway: a revoked credential’s subscriptions have ended when the revocation answers', () => {
  let world: { gw: TestGateway; org: SeededOrg; connectionId: string };
  // No periodic recheck or sweep during the test: only the revocation itself can end the subscriptions.
  useWorld({ env: { FEED_POLL_MS: '600000', CREDENTIAL_RECHECK_MS: '600000' }, orgs: { org: { customers: ['acme-corp'] } } }, async ({ gw, org }) => {
    world = { gw, org, connectionId: await seedConnection(gw, org) };
  });

  it.each(cases(() => world))('%s', async (_name, c) => {
    await revokedBeforeTheAnswer(world, c, world.gw.url, world.gw.url);
  });
});

const cluster = !!process.env.DATABASE_URL && !!process.env.REDIS_URL;

describe.skipIf(!cluster)('two gateway processes (PostgreSQL, Redis): revoked on one, ended on the other before the answer', () => {
  let world: { gw: TestGateway; org: SeededOrg; connectionId: string };
  let b: Awaited<ReturnType<typeof spawnInstance>> | undefined;
  // Registered before the world: runs after the gateway has closed.
  afterAll(async () => {
    await b?.stop();
  });
  useWorld({ env: { REDIS_URL: process.env.REDIS_URL ?? '', FEED_POLL_MS: '600000', CREDENTIAL_RECHECK_MS: '600000' }, orgs: { org: { customers: ['acme-corp'] } } }, async ({ gw, org }) => {
    if (gw.app.config.database.kind !== 'postgres') throw new Error('needs PostgreSQL');
    b = await spawnInstance('test/helpers/feed-instance.ts', {
      DATABASE_URL: gw.app.config.database.url,
      REDIS_URL: process.env.REDIS_URL!,
      AUTH_SECRET: gw.app.config.authSecret,
      ENCRYPTION_KEYS: newKeySpec('other'),
      FEED_POLL_MS: '600000',
      CREDENTIAL_RECHECK_MS: '600000',
      RATE_LIMITS: 'off',
    });
    world = { gw, org, connectionId: await seedConnection(gw, org) };
  });

  it.each(cases(() => world))('%s', async (_name, c) => {
    await revokedBeforeTheAnswer(world, c, b!.url, world.gw.url);
  });
});
