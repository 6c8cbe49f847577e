import { createPublicKey } from 'node:crypto';
import { z } from 'zod';
import { assertWithinLimits } from '../../auth/limits.js';
import { newApiKeySecret } from '../../auth/tokens.js';
import type { App } from '../../app.js';
import { systemActor, type OrgPrincipal } from '../../auth/principal.js';
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from '../../errors.js';
import type { ApiKey, EmbedSigningKey } from '../../generated/prisma/client.js';
import { decodeIdOrRaw } from '../../ids.js';
import { audit } from '../../audit.js';
import { write, type Op } from '../../op.js';
import { parseInput } from '../../validation.js';
import { orgOwned } from '../tenancy/scope.js';
import { apiKeyWhere, assertMayMintKey, embedKeyWhere } from './scope.js';

/**
 * Credentials of access an organization manages: API keys (the secret is
 * returned once; only its SHA-256 is stored), embed signing keys (public keys
 * its backend signs customer-user tokens with) and runtime tokens.
 */
const ApiKeyFields = z.object({
  name: z.string().trim().min(1, 'must not be empty').max(200, 'at most 200 characters'),
  readOnly: z.boolean().nullish().transform((v) => v ?? false),
  noCredentialWrites: z.boolean().nullish().transform((v) => v ?? false),
  credentialReads: z.boolean().nullish().transform((v) => v ?? false),
});

export async function createApiKey(op: Op, raw: unknown): Promise<{ secret: string; key: ApiKey }> {
  const input = parseInput(ApiKeyFields, raw);
  assertMayMintKey(op.actor, input);
  const generated = newApiKeySecret();
  const key = await op.tx.apiKey.create({
    data: { ...orgOwned(op.actor), ...input, prefix: generated.prefix, hash: generated.hash },
  });
  await op.audit('apiKey.create', 'ApiKey', key.id, { readOnly: input.readOnly, noCredentialWrites: input.noCredentialWrites, credentialReads: input.credentialReads });
  return { secret: generated.secret, key };
}

/**
 * Notes an API key's use (at most once a minute per key: auth/tokens.ts):
 * `lastUsedAt`, and a row in the audit log, as the gateway's own bookkeeping.
 */
export async function recordApiKeyUse(app: App, key: { id: string; orgId: string }): Promise<void> {
  await write(app, systemActor(key.orgId, 'credential-use'), 'system', async (op) => {
    await op.tx.apiKey.update({ where: { id: key.id }, data: { lastUsedAt: new Date() } });
    await op.audit('apiKey.use', 'ApiKey', key.id);
  });
}

/**
 * Revokes a key: it stops working at once on every instance (nothing caches
 * keys), and its open subscriptions have ended everywhere when this answers.
 * Idempotent.
 */
export async function revokeApiKey(op: Op, id: string): Promise<ApiKey> {
  const found = await op.tx.apiKey.findFirst({ where: { id, ...apiKeyWhere(op.actor) }, select: { id: true, revokedAt: true } });
  if (!found) throw new NotFoundError('API key');
  const key = await op.tx.apiKey.update({ where: { id: found.id }, data: { revokedAt: found.revokedAt ?? new Date() } });
  await op.audit('apiKey.revoke', 'ApiKey', key.id);
  op.afterCommit(() => op.app.feed.endSubscriptionsOf({ kind: 'API_KEY', id: key.id }));
  return key;
}

/** A key its customer users sign in with: they set their own credentials, so registering one is a credential write. */
export async function registerEmbedSigningKey(op: Op, input: { publicKey: string; alg: string }): Promise<EmbedSigningKey> {
  assertWithinLimits(op.actor, 'credentials');
  if (input.alg !== 'RS256' && input.alg !== 'ES256') throw ValidationError.field('alg', 'must be RS256 or ES256');
  let keyType: string | undefined;
  try {
    keyType = createPublicKey(input.publicKey).asymmetricKeyType;
  } catch {
    throw ValidationError.field('publicKey', 'must be a PEM-encoded public key');
  }
  if ((input.alg === 'RS256') !== (keyType === 'rsa') || (input.alg === 'ES256' && keyType !== 'ec')) {
    throw ValidationError.field('publicKey', `is not a key for ${input.alg}`);
  }
  const key = await op.tx.embedSigningKey.create({ data: { ...orgOwned(op.actor), publicKey: input.publicKey, alg: input.alg } });
  await op.audit('embedSigningKey.register', 'EmbedSigningKey', key.id);
  return key;
}

export async function revokeEmbedSigningKey(op: Op, id: string): Promise<EmbedSigningKey> {
  const found = await op.tx.embedSigningKey.findFirst({ where: { id, ...embedKeyWhere(op.actor) } });
  if (!found) throw new NotFoundError('Signing key');
  const key = await op.tx.embedSigningKey.update({ where: { id: found.id }, data: { revokedAt: found.revokedAt ?? new Date() } });
  await op.audit('embedSigningKey.revoke', 'EmbedSigningKey', key.id);
  // The subscriptions of customer users whose tokens it signed have ended, on every instance, when this answers.
  op.afterCommit(() => op.app.feed.endSubscriptionsOf({ kind: 'SIGNING_KEY', id: key.id }));
  return key;
}

const Ttl = z.number().int().min(60).max(86_400).default(3600);

/**
 * A runtime token for one customer of the caller's org, optionally bound to
 * one of that customer's instances or workflows. It reads credentials
 * decrypted (and refreshes OAuth2 tokens): issuing one is a credential write.
 * A proxy-only token uses them through the proxy and never reads one.
 */
export async function issueRuntimeToken(
  op: Op,
  input: { customerId: string; ttlSeconds?: number | null; instanceId?: unknown; workflowId?: unknown; proxyOnly?: boolean | null },
): Promise<{ token: string; expiresAt: Date }> {
  assertWithinLimits(op.actor, 'credentials');
  const ttl = parseInput(Ttl, input.ttlSeconds ?? undefined, 'ttlSeconds');
  const customer = await op.tx.customer.findFirst({ where: { id: input.customerId, ...orgOwned(op.actor) }, select: { id: true, orgId: true } });
  if (!customer) throw new NotFoundError('Customer');
  // A binding to something this customer does not have is refused now, the same way whether it exists elsewhere or not.
  const ofCustomer = { customerId: customer.id, orgId: customer.orgId };
  const instanceId = input.instanceId != null ? decodeIdOrRaw('Instance', input.instanceId) : null;
  if (instanceId && !(await op.tx.instance.findFirst({ where: { id: instanceId, ...ofCustomer }, select: { id: true } }))) {
    throw ValidationError.field('instanceId', 'no such instance for this customer');
  }
  const workflowId = input.workflowId != null ? decodeIdOrRaw('Workflow', input.workflowId) : null;
  if (workflowId && !(await op.tx.workflow.findFirst({ where: { id: workflowId, ...ofCustomer }, select: { id: true } }))) {
    throw ValidationError.field('workflowId', 'no such workflow for this customer');
  }
  const proxyOnly = input.proxyOnly === true;
  const token = await op.app.tokens.signRuntime({ orgId: customer.orgId, customerId: customer.id, instanceId, workflowId, proxyOnly }, ttl);
  await op.audit('runtimeToken.issue', 'Customer', customer.id, proxyOnly ? { proxyOnly } : {});
  return { token, expiresAt: new Date(Date.now() + ttl * 1000) };
}

/** How long a signed-in org user's token lasts. */
export const SIGN_IN_TTL_S = 12 * 3600;

/**
 * An org user who proved an email (OpenID Connect) gets the gateway's
 * org-user token. The email must belong to exactly one org user — of the
 * organization named by `orgSlug` when it belongs to several. Audited as
 * that user, through `oidc`.
 */
export async function signInOrgUser(
  app: App,
  input: { email: string; subject: string; orgSlug: string | null },
): Promise<{ token: string; expiresAt: Date; email: string; organization: string }> {
  const users = await app.db.prisma.orgUser.findMany({
    where: { email: input.email.toLowerCase(), ...(input.orgSlug ? { org: { slug: input.orgSlug } } : {}) },
    include: { org: { select: { slug: true } } },
    take: 2,
  });
  // A refusal, not a lookup: the person signing in learns how to be let in, not whether others exist.
  if (!users.length) throw new ForbiddenError('No org user has this email. An admin can add you: npm run admin -- user add --org <slug> --email <your email>');
  if (users.length > 1) throw new ConflictError(`${input.email} is a user of several organizations; sign in naming one (?org=<slug>)`);
  const user = users[0]!;
  const token = await app.tokens.signOrgUser(user, SIGN_IN_TTL_S);
  const principal: OrgPrincipal = { kind: 'ORG_USER', id: user.id, orgId: user.orgId, email: user.email };
  await audit(app.db.prisma, principal, 'oidc', 'orgUser.signIn', 'OrgUser', user.id, { subject: input.subject });
  return { token, expiresAt: new Date(Date.now() + SIGN_IN_TTL_S * 1000), email: user.email, organization: user.org.slug };
}
