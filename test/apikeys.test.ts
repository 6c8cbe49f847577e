import { describe, expect, it } from 'vitest';
import { hashApiKey } from '../src/auth/tokens.js';
import type { SeededOrg } from '../src/seed/demo.js';
import { graphql } from './gql/index.js';
import { gql } from './helpers/client.js';
import { startGateway, type TestGateway } from './helpers/gateway.js';
import { useWorld } from './helpers/world.js';

const CreateApiKey = graphql(`
  mutation CreateApiKey($input: CreateApiKeyInput!) {
    createApiKey(input: $input) {
      __typename
      ... on MutationCreateApiKeySuccess {
        data { secret apiKey { id keyId name prefix readOnly noCredentialWrites credentialReads createdAt lastUsedAt revokedAt } }
      }
      ... on Error { code message }
      ... on ValidationError { problems { path message } }
    }
  }
`);

const ApiKeys = graphql(`
  query ApiKeys($includeRevoked: Boolean) {
    apiKeys(includeRevoked: $includeRevoked) { id keyId name prefix readOnly noCredentialWrites createdAt lastUsedAt revokedAt }
  }
`);

const RevokeApiKey = graphql(`
  mutation RevokeApiKey($id: ID!) {
    revokeApiKey(id: $id) {
      __typename
      ... on MutationRevokeApiKeySuccess { data { id revokedAt } }
      ... on Error { code }
    }
  }
`);

const UpsertCustomer = graphql(`
  mutation ApiKeyUpsertCustomer($input: CustomerInput!) {
    upsertCustomer(input: $input) {
      __typename
      ... on MutationUpsertCustomerSuccess { data { id } }
      ... on Error { code }
    }
  }
`);

const ViewerKind = graphql(`query ApiKeyViewer { viewer { kind id readOnly } }`);

let gw: TestGateway;
let acme: SeededOrg;
let other: SeededOrg;

useWorld({ orgs: { acme: { customers: ['a'] }, other: { customers: ['a'] } } }, (w) => ({ gw, acme, other } = w));

async function createKey(token: string, input: { name: string; readOnly?: boolean; noCredentialWrites?: boolean; credentialReads?: boolean }) {
  const r = await gql(gw.url, CreateApiKey, { input }, token);
  expect(r.errors).toBeUndefined();
  return r.data!.createApiKey;
}

describe('API keys', () => {
  it('creates a key whose secret is shown once and stored only as a hash', async () => {
    const res = await createKey(acme.adminToken, { name: 'backend' });
    if (res.__typename !== 'MutationCreateApiKeySuccess') throw new Error(res.__typename);
    const { secret, apiKey } = res.data;
    expect(secret.startsWith(apiKey.prefix)).toBe(true);
    expect(apiKey).toMatchObject({ name: 'backend', readOnly: false, noCredentialWrites: false, credentialReads: false, revokedAt: null, lastUsedAt: null });
    const row = await gw.db.prisma.apiKey.findUniqueOrThrow({ where: { id: apiKey.keyId } });
    expect(row.hash).toBe(hashApiKey(secret));
    expect(JSON.stringify(row)).not.toContain(secret);

    // The listing never shows a secret, and records the last use.
    const viewer = await gql(gw.url, ViewerKind, {}, secret);
    expect(viewer.data?.viewer).toMatchObject({ kind: 'API_KEY', id: apiKey.keyId, readOnly: false });
    const list = await gql(gw.url, ApiKeys, {}, acme.adminToken);
    const listed = list.data!.apiKeys.find((k) => k.keyId === apiKey.keyId)!;
    expect(listed.lastUsedAt).not.toBeNull();
    expect(JSON.stringify(list.data)).not.toContain(secret);
  });

  it('lists only keys of the own organization', async () => {
    const mine = await gql(gw.url, ApiKeys, {}, acme.adminToken);
    const theirs = await gql(gw.url, ApiKeys, {}, other.adminToken);
    const mineIds = new Set(mine.data!.apiKeys.map((k) => k.keyId));
    expect(theirs.data!.apiKeys.some((k) => mineIds.has(k.keyId))).toBe(false);
    const ownRows = await gw.db.prisma.apiKey.count({ where: { orgId: acme.orgId } });
    expect(mine.data!.apiKeys).toHaveLength(ownRows);
  });

  it('validates input', async () => {
    const res = await createKey(acme.adminToken, { name: '  ' });
    expect(res).toMatchObject({ __typename: 'ValidationError', problems: [{ path: 'input.name' }] });
  });

  it('a revoked key stops working at once, everywhere', async () => {
    const res = await createKey(acme.adminToken, { name: 'to revoke' });
    if (res.__typename !== 'MutationCreateApiKeySuccess') throw new Error(res.__typename);
    const { secret, apiKey } = res.data;
    // A second instance on the same database.
    const second = await startGateway({}, { on: gw });
    try {
      expect((await gql(gw.url, ViewerKind, {}, secret)).data?.viewer.kind).toBe('API_KEY');
      expect((await gql(second.url, ViewerKind, {}, secret)).data?.viewer.kind).toBe('API_KEY');

      // Another org cannot revoke it: not found.
      const foreign = await gql(gw.url, RevokeApiKey, { id: apiKey.id }, other.adminToken);
      expect(foreign.data?.revokeApiKey).toMatchObject({ __typename: 'NotFoundError', code: 'NOT_FOUND' });

      const revoked = await gql(gw.url, RevokeApiKey, { id: apiKey.id }, acme.adminToken);
      expect(revoked.data?.revokeApiKey.__typename).toBe('MutationRevokeApiKeySuccess');

      const after = await gql(gw.url, ViewerKind, {}, secret);
      expect(after.status).toBe(401);
      expect(after.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
      // The other instance refuses it too, over GraphQL and REST.
      expect((await gql(second.url, ViewerKind, {}, secret)).status).toBe(401);
      const rest = await fetch(`${second.url}/api/v1/projects`, { headers: { authorization: `Bearer ${secret}` } });
      expect(rest.status).toBe(401);
    } finally {
      await second.close();
    }

    const active = await gql(gw.url, ApiKeys, { includeRevoked: false }, acme.adminToken);
    expect(active.data!.apiKeys.some((k) => k.keyId === apiKey.keyId)).toBe(false);
  });

  it('revokes by the keyId the listing shows as well as by the global id', async () => {
    const res = await createKey(acme.adminToken, { name: 'by keyId' });
    if (res.__typename !== 'MutationCreateApiKeySuccess') throw new Error(res.__typename);
    const listed = (await gql(gw.url, ApiKeys, { includeRevoked: false }, acme.adminToken)).data!.apiKeys.find((k) => k.name === 'by keyId')!;
    const foreign = await gql(gw.url, RevokeApiKey, { id: listed.keyId }, other.adminToken);
    expect(foreign.data?.revokeApiKey).toMatchObject({ __typename: 'NotFoundError', code: 'NOT_FOUND' });
    const revoked = await gql(gw.url, RevokeApiKey, { id: listed.keyId }, acme.adminToken);
    expect(revoked.errors).toBeUndefined();
    expect(revoked.data?.revokeApiKey).toMatchObject({ __typename: 'MutationRevokeApiKeySuccess', data: { id: listed.id } });
    expect((await gql(gw.url, ViewerKind, {}, res.data.secret)).status).toBe(401);
  });

  it('a read-only key reads but cannot change anything', async () => {
    const res = await createKey(acme.adminToken, { name: 'reader', readOnly: true });
    if (res.__typename !== 'MutationCreateApiKeySuccess') throw new Error(res.__typename);
    const { secret } = res.data;
    expect((await gql(gw.url, ApiKeys, {}, secret)).data?.apiKeys.length).toBeGreaterThan(0);
    const write = await gql(gw.url, UpsertCustomer, { input: { externalId: 'ro', name: 'ro' } }, secret);
    expect(write.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const mint = await gql(gw.url, CreateApiKey, { input: { name: 'escalate' } }, secret);
    expect(mint.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect(await gw.db.prisma.customer.count({ where: { orgId: acme.orgId, externalId: 'ro' } })).toBe(0);
  });

  it('a key without credential writes cannot mint a key with them', async () => {
    const res = await createKey(acme.adminToken, { name: 'config only', noCredentialWrites: true });
    if (res.__typename !== 'MutationCreateApiKeySuccess') throw new Error(res.__typename);
    const escalate = await createKey(res.data.secret, { name: 'full' });
    expect(escalate).toMatchObject({ __typename: 'ForbiddenError', code: 'FORBIDDEN' });
    const same = await createKey(res.data.secret, { name: 'also limited', noCredentialWrites: true });
    expect(same.__typename).toBe('MutationCreateApiKeySuccess');
  });

  it('only a signed-in admin grants credentialReads (reading decrypted credentials); no key mints it, even a key that has it', async () => {
    const res = await createKey(acme.adminToken, { name: 'nango', credentialReads: true });
    if (res.__typename !== 'MutationCreateApiKeySuccess') throw new Error(res.__typename);
    expect(res.data.apiKey.credentialReads).toBe(true);
    expect((await gw.db.prisma.apiKey.findUniqueOrThrow({ where: { id: res.data.apiKey.keyId } })).credentialReads).toBe(true);
    for (const key of [acme.apiKey, res.data.secret]) {
      expect(await createKey(key, { name: 'escalate', credentialReads: true })).toMatchObject({ __typename: 'ForbiddenError', code: 'FORBIDDEN' });
    }
    expect(await gw.db.prisma.apiKey.count({ where: { orgId: acme.orgId, name: 'escalate' } })).toBe(0);
    const audit = await gw.db.prisma.auditEvent.findFirstOrThrow({ where: { action: 'apiKey.create', targetId: res.data.apiKey.keyId } });
    expect(audit.detail).toMatchObject({ credentialReads: true });
  });

  it("audits every mutation an API key makes with the key's id", async () => {
    const res = await createKey(acme.adminToken, { name: 'audited' });
    if (res.__typename !== 'MutationCreateApiKeySuccess') throw new Error(res.__typename);
    const { secret, apiKey } = res.data;
    const up = await gql(gw.url, UpsertCustomer, { input: { externalId: 'audited', name: 'Audited' } }, secret);
    expect(up.data?.upsertCustomer.__typename).toBe('MutationUpsertCustomerSuccess');
    const rest = await fetch(`${gw.url}/api/v1/projects`, {
      method: 'POST',
      headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
      body: JSON.stringify({ displayName: 'Via REST', externalId: 'via-rest', metadata: {} }),
    });
    expect(rest.status).toBe(201);
    const minted = await createKey(secret, { name: 'child' });
    expect(minted.__typename).toBe('MutationCreateApiKeySuccess');

    const events = await gw.db.prisma.auditEvent.findMany({ where: { principalId: apiKey.keyId }, orderBy: { id: 'asc' } });
    expect(events.map((e) => [e.principalKind, e.action])).toEqual([
      ['API_KEY', 'customer.upsert'],
      ['API_KEY', 'customer.create'],
      ['API_KEY', 'apiKey.create'],
    ]);
    expect(events.every((e) => e.orgId === acme.orgId)).toBe(true);
  });
});
