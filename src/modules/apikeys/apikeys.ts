import { z } from 'zod';
import { newApiKeySecret } from '../../auth/tokens.js';
import { transaction } from '../../db/transaction.js';
import { ForbiddenError, NotFoundError } from '../../errors.js';
import { builder } from '../../schema/builder.js';
import { mutationErrors } from '../../schema/errors.js';
import { parseInput } from '../../validation.js';
import { audit } from '../audit/audit.js';
import { orgOwnedWhere, uuidOrNone } from '../tenancy/scope.js';

/**
 * API keys for the vendor's backend automation. The secret is returned once,
 * by `createApiKey`; only its SHA-256 is stored. Authentication looks the key
 * up in the database on every request (src/auth/tokens.ts), so a revoked key
 * stops working at once on every gateway instance — nothing caches it.
 */
export const ApiKeyRef = builder.prismaNode('ApiKey', {
  id: { field: 'id' },
  findUnique: (id, ctx) => ({ id: uuidOrNone(id), ...orgOwnedWhere(ctx.principal) }),
  authScopes: { org: true },
  description: 'An API key of your organization (never its secret).',
  fields: (t) => ({
    keyId: t.exposeString('id', { description: 'The raw key id, as recorded in audit events (`principalId`).' }),
    name: t.exposeString('name'),
    prefix: t.exposeString('prefix', { description: 'First characters of the secret, to recognise the key.' }),
    readOnly: t.exposeBoolean('readOnly', { description: 'The key may read but not change anything.' }),
    noCredentialWrites: t.exposeBoolean('noCredentialWrites', {
      description: 'The key may change configuration but not write credential values.',
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    lastUsedAt: t.expose('lastUsedAt', {
      type: 'DateTime',
      nullable: true,
      description: 'Last authentication with this key (refreshed at most once a minute).',
    }),
    revokedAt: t.expose('revokedAt', { type: 'DateTime', nullable: true }),
  }),
});

const CreatedApiKey = builder
  .objectRef<{ secret: string; key: { id: string } }>('CreatedApiKey')
  .implement({
    description: 'A new API key with its secret. The secret is shown only here, once; store it now.',
    fields: (t) => ({
      secret: t.exposeString('secret', { description: 'Send as `Authorization: Bearer <secret>`.' }),
      apiKey: t.prismaField({
        type: 'ApiKey',
        resolve: (query, parent, _args, ctx) =>
          ctx.prisma.apiKey.findUniqueOrThrow({ ...query, where: { id: parent.key.id } }),
      }),
    }),
  });

const CreateApiKeyInput = builder.inputType('CreateApiKeyInput', {
  fields: (t) => ({
    name: t.string({ required: true }),
    readOnly: t.boolean({ description: 'Default false.' }),
    noCredentialWrites: t.boolean({ description: 'Default false.' }),
  }),
});

const CreateApiKeyFields = z.object({
  name: z.string().trim().min(1, 'must not be empty').max(200, 'at most 200 characters'),
  readOnly: z.boolean().nullish().transform((v) => v ?? false),
  noCredentialWrites: z.boolean().nullish().transform((v) => v ?? false),
});

builder.queryFields((t) => ({
  apiKeys: t.prismaField({
    type: ['ApiKey'],
    description: "Your organization's API keys, newest first (revoked ones included unless `includeRevoked: false`).",
    authScopes: { org: true },
    args: { includeRevoked: t.arg.boolean({ defaultValue: true }) },
    resolve: (query, _root, args, ctx) =>
      ctx.prisma.apiKey.findMany({
        ...query,
        where: { ...orgOwnedWhere(ctx.principal), ...(args.includeRevoked === false ? { revokedAt: null } : {}) },
        orderBy: [{ createdAt: 'desc' }, { id: 'asc' }],
      }),
  }),
}));

builder.mutationFields((t) => ({
  createApiKey: t.field({
    type: CreatedApiKey,
    description:
      'Creates an API key and returns its secret once. An API key may only create keys at least as limited as itself.',
    authScopes: { orgWrite: true },
    errors: { types: mutationErrors },
    args: { input: t.arg({ type: CreateApiKeyInput, required: true }) },
    resolve: async (_root, args, ctx) => {
      const input = parseInput(CreateApiKeyFields, args.input);
      const p = ctx.principal;
      // No privilege escalation through key creation.
      if (p?.kind === 'API_KEY' && p.noCredentialWrites && !input.noCredentialWrites) {
        throw new ForbiddenError('A key without credential writes may only create keys without credential writes');
      }
      const { orgId } = orgOwnedWhere(p);
      const generated = newApiKeySecret();
      const key = await transaction(ctx, async (tx) => {
        const created = await tx.apiKey.create({
          data: {
            orgId,
            name: input.name,
            prefix: generated.prefix,
            hash: generated.hash,
            readOnly: input.readOnly,
            noCredentialWrites: input.noCredentialWrites,
          },
          select: { id: true },
        });
        await audit(tx, p, 'apiKey.create', 'ApiKey', created.id, {
          readOnly: input.readOnly,
          noCredentialWrites: input.noCredentialWrites,
        });
        return created;
      });
      return { secret: generated.secret, key };
    },
  }),
  revokeApiKey: t.prismaField({
    type: 'ApiKey',
    description: 'Revokes an API key: it stops working at once, on every instance. Idempotent.',
    authScopes: { orgWrite: true },
    errors: { types: mutationErrors },
    args: { id: t.arg.globalID({ required: true, for: ApiKeyRef }) },
    resolve: async (query, _root, args, ctx) =>
      transaction(ctx, async (tx) => {
        const found = await tx.apiKey.findFirst({
          where: { id: uuidOrNone(args.id.id), ...orgOwnedWhere(ctx.principal) },
          select: { id: true, revokedAt: true },
        });
        if (!found) throw new NotFoundError('API key');
        const key = await tx.apiKey.update({
          ...query,
          where: { id: found.id },
          data: { revokedAt: found.revokedAt ?? new Date() },
        });
        await audit(tx, ctx.principal, 'apiKey.revoke', 'ApiKey', key.id);
        return key;
      }),
  }),
}));
