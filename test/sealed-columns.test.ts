import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { newKeySpec, parseKeyRing } from '../src/crypto/keyring.js';
import { keyIdsInUse, rotateSecrets } from '../src/crypto/rotation.js';
import { SEALED_COLUMNS, SEALED_COLUMN_NAMES } from '../src/crypto/sealed.js';
import { oauthStateAad } from '../src/crypto/secrets.js';
import type { SeededOrg } from '../src/seed/demo.js';
import { graphql } from './gql/index.js';
import { gql, http } from './helpers/client.js';
import { makeConnection, makeConnector, putValue } from './helpers/fixtures.js';
import { startGateway, type TestGateway } from './helpers/gateway.js';
import { Receiver } from './helpers/webhook-receiver.js';
import { useWorld } from './helpers/world.js';

/**
 * One registry of sealed columns (src/crypto/sealed.ts): every column that
 * holds ciphertext is in it — checked in the code (every place that seals
 * uses associated data of a registered column) and in the database (after a
 * world that seals one of everything, no unregistered column holds a
 * ciphertext envelope) — and rotation, which reads the registry, re-encrypts
 * webhook signing secrets: after rotating and removing the old key, a
 * delivery still verifies.
 */
const CreateEndpoint = graphql(`
  mutation SealedCreateEndpoint($input: WebhookEndpointInput!) {
    createWebhookEndpoint(input: $input) {
      __typename
      ... on MutationCreateWebhookEndpointSuccess { data { secret endpoint { id } } }
    }
  }
`);

const oldSpec = newKeySpec('old1');
const newSpec = newKeySpec('new1');
/** `v1.<keyId>.<96-bit nonce>.<ciphertext‖tag>` (crypto/keyring.ts). */
const ENVELOPE = /v1\.[A-Za-z0-9_-]{1,32}\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{22,}/;

let gw: TestGateway;
let org: SeededOrg;
let receiver: Receiver;
let webhookSecret: string;

useWorld(
  {
    // No delivery worker here: only the gateway holding the new key alone delivers (below).
    env: { ENCRYPTION_KEYS: oldSpec, HEALTH_WORKERS: 'false', OUTBOUND_ALLOWED_NETWORKS: '127.0.0.1/32', WEBHOOK_POLL_MS: '50', WEBHOOK_RETRY_BASE_MS: '100' },
    orgs: { org: { customers: ['acme'] } },
    timeout: 60_000,
  },
  async (w) => {
    ({ gw, org } = w);
    receiver = await new Receiver().listen();
    // One of every sealed thing: a webhook endpoint, a connector's OAuth client secret, a value's secret fields, a pending OAuth2 flow.
    const res = await gql(gw.url, CreateEndpoint, { input: { url: receiver.url, eventTypes: ['CUSTOMER_CREATED'] } as never }, org.adminToken);
    const out = res.data?.createWebhookEndpoint;
    if (out?.__typename !== 'MutationCreateWebhookEndpointSuccess') throw new Error(JSON.stringify(res));
    webhookSecret = out.data.secret;
    receiver.secret = webhookSecret;
    const connector = await makeConnector(gw.app, org.orgId, {
      key: 'api',
      name: 'API',
      authType: 'OAUTH2',
      fields: [{ key: 'apiKey', label: 'API key', type: 'STRING', required: false, secret: true }],
      oauth2: { grantType: 'client_credentials', tokenUrl: 'http://127.0.0.1:9/token', clientId: 'cid', scopes: [] },
      oauthClientSecret: 'sealed-columns-client-secret',
    });
    const connection = await makeConnection(gw.app, org.orgId, { stableKey: 'api', name: 'API', connectorId: connector.id, type: 'ORG_ACTIVATED_CUSTOMER' });
    await putValue(gw.app, connection.id, { kind: 'CUSTOMER', customerId: org.customers[0]!.id }, { apiKey: 'sealed-columns-api-key', accessToken: 'sealed-columns-token' });
    const stateId = '22222222-2222-4222-8222-222222222222';
    await gw.db.prisma.oAuthState.create({
      data: {
        id: stateId,
        orgId: org.orgId,
        connectionId: connection.id,
        valueSlot: org.customers[0]!.id,
        codeVerifier: gw.app.config.keyRing.encrypt('pkce-verifier-sealed', oauthStateAad(stateId)),
        redirectUri: `${gw.url}/oauth/callback`,
        expiresAt: new Date(Date.now() + 600_000),
      },
    });
  },
);

const registered = new Set(SEALED_COLUMN_NAMES.map((n) => `${SEALED_COLUMNS[n].table}.${SEALED_COLUMNS[n].column}`));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const file = path.join(dir, name);
    if (statSync(file).isDirectory()) return name === 'generated' ? [] : sourceFiles(file);
    return file.endsWith('.ts') ? [file] : [];
  });
}

describe('one registry of sealed columns', () => {
  it('every place in the code that seals a secret uses the associated data of a registered column', () => {
    const aads = new Set<string>(SEALED_COLUMN_NAMES.map((n) => SEALED_COLUMNS[n].aad.name));
    const unregistered: string[] = [];
    let sealing = 0;
    for (const file of sourceFiles(path.resolve('src'))) {
      if (file.endsWith(path.join('crypto', 'keyring.ts'))) continue;
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/\.encrypt\(([^()]*(?:\([^()]*\))?[^()]*)\)/g)) {
        sealing++;
        const aad = /,\s*(\w+)\(/.exec(m[1]!)?.[1];
        if (!aad || !aads.has(aad)) unregistered.push(`${path.relative('.', file)}: ${m[0]}`);
      }
    }
    expect(sealing).toBeGreaterThanOrEqual(3);
    expect(unregistered).toEqual([]);
  });

  it('no column outside the registry holds a ciphertext, and every registered column does', async () => {
    const columns = await gw.db.prisma.$queryRawUnsafe<{ table_name: string; column_name: string }[]>(
      `SELECT table_name, column_name FROM information_schema.columns
        WHERE table_schema = current_schema() AND data_type IN ('text', 'character varying', 'jsonb', 'json')`,
    );
    const holding = new Set<string>();
    for (const { table_name: table, column_name: column } of columns) {
      const rows = await gw.db.prisma.$queryRawUnsafe<{ v: string }[]>(`SELECT "${column}"::text AS v FROM "${table}" WHERE "${column}" IS NOT NULL`);
      if (rows.some((r) => ENVELOPE.test(r.v))) holding.add(`${table}.${column}`);
    }
    expect([...holding].sort()).toEqual([...registered].sort());
  });

  it('rotation re-encrypts webhook signing secrets: with the old key removed, a delivery still verifies', async () => {
    const report = await rotateSecrets(gw.db.prisma, parseKeyRing(`${newSpec},${oldSpec}`));
    expect(report.webhookEndpoints).toMatchObject({ scanned: 1, rotated: 1 });
    for (const name of SEALED_COLUMN_NAMES) expect(report[name].rotated, name).toBeGreaterThan(0);
    expect([...(await keyIdsInUse(gw.db.prisma))]).toEqual(['new1']);

    // A gateway that holds only the new key delivers the next event, signed with the same secret.
    const only = await startGateway({}, { on: gw, config: { keyRing: parseKeyRing(newSpec), health: { ...gw.app.config.health, workers: true } } });
    try {
      const created = await http(`${only.url}/api/v1/projects`, { method: 'POST', token: org.apiKey, body: { displayName: 'Globex', externalId: 'globex' } });
      expect(created.status).toBe(201);
      await receiver.until(() => receiver.received.some((r) => r.type === 'customer.created'));
      expect(receiver.received.find((r) => r.type === 'customer.created')!.payload.data).toMatchObject({ externalId: 'globex' });
    } finally {
      await only.close();
      await receiver.close();
    }
  });
});
