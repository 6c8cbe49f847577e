import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { KeyRing, newKeySpec, parseKeyRing } from '../src/crypto/keyring.js';
import { keyIdsInUse, rotateSecrets } from '../src/crypto/rotation.js';
import { oauthStateAad } from '../src/crypto/secrets.js';
import type { SeededOrg } from '../src/seed/demo.js';
import { graphql } from './gql/index.js';
import { findLeaks, gql, responseLog } from './helpers/client.js';
import { makeConnection, makeConnector, putValue, secretsOf, valueOf } from './helpers/fixtures.js';
import { capturedLogs, startGateway, type TestGateway } from './helpers/gateway.js';
import { useWorld } from './helpers/world.js';

/**
 * Key rotation without downtime: a gateway fleet first learns the new key
 * (ring `k2,test1`: new primary, old still readable), then `keys:rotate`
 * re-encrypts every row under k2 while reads and writes go on; afterwards a
 * gateway that only holds k2 reads everything.
 */
const Resolve = graphql(`
  query RotationResolve($stableKey: String!) {
    resolveConnection(stableKey: $stableKey) {
      __typename
      ... on ResolvedCredential { secrets }
      ... on ResolutionProblem { code message }
    }
  }
`);

const CUSTOMERS = 24;
const oldSpec = newKeySpec('test1');
const newSpec = newKeySpec('k2');
let gw: TestGateway;
let org: SeededOrg;
let connectionId: string;
const secretOf = (i: number) => `rotation-secret-${i}-${'x'.repeat(8)}`;

// Every log line, debug included, is scanned for secrets at the end.
useWorld({ env: { ENCRYPTION_KEYS: oldSpec, LOG_LEVEL: 'debug' }, orgs: { org: { customers: Array.from({ length: CUSTOMERS }, (_, i) => `c${i}`) } } }, async (w) => {
  ({ gw, org } = w);
  const connector = await makeConnector(gw.app, org.orgId, {
    key: 'api',
    name: 'API',
    authType: 'OAUTH2',
    fields: [{ key: 'apiKey', label: 'API key', type: 'STRING', required: false, secret: true }],
    oauth2: { grantType: 'client_credentials', tokenUrl: 'http://127.0.0.1:9/token', clientId: 'cid', scopes: [] },
    oauthClientSecret: 'connector-client-secret-77',
  });
  const connection = await makeConnection(gw.app, org.orgId, {
    stableKey: 'api',
    name: 'API',
    connectorId: connector.id,
    type: 'ORG_ACTIVATED_CUSTOMER',
  });
  connectionId = connection.id;
  for (const [i, c] of org.customers.entries()) {
    await putValue(gw.app, connectionId, { kind: 'CUSTOMER', customerId: c.id }, { apiKey: secretOf(i), accessToken: `at-${secretOf(i)}` });
  }
  // A pending OAuth2 flow: its PKCE verifier is sealed too.
  await gw.db.prisma.oAuthState.create({
    data: {
      id: '11111111-1111-4111-8111-111111111111',
      orgId: org.orgId,
      connectionId,
      valueSlot: org.customers[0]!.id,
      codeVerifier: gw.app.config.keyRing.encrypt('pkce-verifier-abcdefgh', oauthStateAad('11111111-1111-4111-8111-111111111111')),
      redirectUri: `${gw.url}/oauth/callback`,
      expiresAt: new Date(Date.now() + 600_000),
    },
  });
});

describe('key rotation', () => {
  it('re-encrypts every secret under the new primary key while reads and writes run, without a failed read', async () => {
    expect([...(await keyIdsInUse(gw.db.prisma))]).toEqual(['test1']);
    // Step 1 (rolling deploy): an instance with the new key first, the old one still readable.
    const ring = parseKeyRing(`${newSpec},${oldSpec}`);
    const fleet = await startGateway({}, { on: gw, config: { keyRing: ring } });
    try {
      let stop = false;
      let reads = 0;
      let writes = 0;
      const failures: string[] = [];
      const reader = async (k: number) => {
        while (!stop) {
          const i = (reads + k) % CUSTOMERS;
          const r = await gql(fleet.url, Resolve, { stableKey: 'api' }, org.customers[i]!.runtimeToken, { resolution: true });
          const res = r.data?.resolveConnection;
          reads++;
          if (res?.__typename !== 'ResolvedCredential' || (res.secrets as Record<string, string>).apiKey !== secretOf(i)) {
            failures.push(JSON.stringify(r).slice(0, 200));
          }
        }
      };
      // Writes during the rotation (the fleet seals with k2): compare-and-set keeps them.
      const writer = async () => {
        while (!stop) {
          const i = writes % 4;
          await putValue(fleet.app, connectionId, { kind: 'CUSTOMER', customerId: org.customers[i]!.id }, { apiKey: secretOf(i) });
          writes++;
          // A realistic pace; on PGlite an in-process loop would otherwise never yield to HTTP.
          await new Promise((r) => setTimeout(r, 3));
        }
      };
      const load = [reader(0), reader(7), reader(13), writer()];
      // Let the load start before rotating.
      while (reads < 10) await new Promise((r) => setTimeout(r, 5));
      const report = await rotateSecrets(gw.db.prisma, ring, { batchSize: 5 });
      const readsAtEnd = reads;
      while (reads < readsAtEnd + 10) await new Promise((r) => setTimeout(r, 5));
      stop = true;
      await Promise.all(load);

      expect(failures).toEqual([]);
      expect(reads).toBeGreaterThan(20);
      expect(writes).toBeGreaterThan(0);
      expect(report.primaryKeyId).toBe('k2');
      expect(report.connectionValues.scanned).toBe(CUSTOMERS);
      expect(report.connectionValues.rotated + report.connectionValues.current).toBe(CUSTOMERS);
      expect(report.connectionValues.rotated).toBeGreaterThan(0);
      expect(report.connectors).toMatchObject({ scanned: 1, rotated: 1 });
      expect(report.oauthStates).toMatchObject({ scanned: 1, rotated: 1 });
      expect(report.remainingKeyIds).toEqual(['k2']);
    } finally {
      await fleet.close();
    }
  });

  it('after rotation a gateway holding only the new key reads everything; the old key can be retired', async () => {
    const only = await startGateway({}, { on: gw, config: { keyRing: parseKeyRing(newSpec) } });
    try {
      for (const [i, c] of org.customers.entries()) {
        const r = await gql(only.url, Resolve, { stableKey: 'api' }, c.runtimeToken, { resolution: true });
        expect(r.data?.resolveConnection).toMatchObject({ __typename: 'ResolvedCredential', secrets: { apiKey: secretOf(i) } });
      }
      const v = await valueOf(only.app, connectionId, org.customers[5]!.id);
      for (const env of Object.values(v.secrets as Record<string, string>)) expect(KeyRing.keyIdOf(env)).toBe('k2');
      expect(secretsOf(only.app, v).accessToken).toBe(`at-${secretOf(5)}`);
      const state = await gw.db.prisma.oAuthState.findFirstOrThrow();
      expect(parseKeyRing(newSpec).decrypt(state.codeVerifier, oauthStateAad(state.id))).toBe('pkce-verifier-abcdefgh');
    } finally {
      await only.close();
    }
  });

  it('a gateway that lacks the key answers a clear, typed error (no crash, no secret)', async () => {
    // The original gateway still has only test1.
    const r = await gql(gw.url, Resolve, { stableKey: 'api' }, org.customers[0]!.runtimeToken, { resolution: true });
    expect(r.data?.resolveConnection).toEqual({
      __typename: 'ResolutionError',
      code: 'ERROR',
      message: 'The credential cannot be decrypted by this gateway (its key is missing from ENCRYPTION_KEYS?)',
    });
    expect(capturedLogs.some((l) => l.includes('ciphertext was made with key \\"k2\\", which is not in the key ring'))).toBe(true);
  });

  it('running it again changes nothing', async () => {
    const report = await rotateSecrets(gw.db.prisma, parseKeyRing(`${newSpec},${oldSpec}`));
    expect(report.connectionValues).toMatchObject({ scanned: CUSTOMERS, rotated: 0, current: CUSTOMERS });
    expect(report.connectors).toMatchObject({ rotated: 0, current: 1 });
  });

  it.skipIf(gw_kind() !== 'postgres')('npm run keys:rotate works on a live database and reports counts', async () => {
    const third = newKeySpec('k3');
    const { stdout } = await promisify(execFile)('npx', ['tsx', 'scripts/rotate-keys.ts', '--batch=7'], {
      env: {
        ...process.env,
        DATABASE_URL: (gw.app.config.database as { url: string }).url,
        AUTH_SECRET: gw.app.config.authSecret,
        ENCRYPTION_KEYS: `${third},${newSpec}`,
        LOG_LEVEL: 'silent',
      },
    });
    expect(stdout).toContain('"primaryKeyId": "k3"');
    expect(stdout).toContain(`"rotated": ${CUSTOMERS}`);
    expect(stdout).toContain('every secret is under "k3"');
    expect(stdout).not.toContain(third.split(':')[1]);
    expect([...(await keyIdsInUse(gw.db.prisma))]).toEqual(['k3']);
    // A ring without the key that made the ciphertexts: a clear message and exit code 1.
    const failed = await promisify(execFile)('npx', ['tsx', 'scripts/rotate-keys.ts'], {
      env: {
        ...process.env,
        DATABASE_URL: (gw.app.config.database as { url: string }).url,
        AUTH_SECRET: gw.app.config.authSecret,
        ENCRYPTION_KEYS: newKeySpec('k4'),
      },
    }).catch((e: { code: number; stderr: string }) => e);
    expect((failed as { code: number }).code).toBe(1);
    expect((failed as { stderr: string }).stderr).toContain('ciphertext was made with key "k3", which is not in the key ring');
  });

  it('no response or log line contains a stored secret', async () => {
    const secrets = [...Array.from({ length: CUSTOMERS }, (_, i) => secretOf(i)), 'connector-client-secret-77', 'pkce-verifier-abcdefgh', oldSpec.split(':')[1]!, newSpec.split(':')[1]!];
    expect(findLeaks(secrets, [...responseLog, ...capturedLogs])).toEqual([]);
  });
});

function gw_kind(): string {
  return process.env.DATABASE_URL ? 'postgres' : 'pglite';
}
