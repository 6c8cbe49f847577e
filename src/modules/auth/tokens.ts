import { createPublicKey } from 'node:crypto';
import { z } from 'zod';
import { NotFoundError, ValidationError } from '../../errors.js';
import { builder } from '../../schema/builder.js';
import { mutationErrors } from '../../schema/errors.js';
import { parseInput } from '../../validation.js';
import { audit } from '../audit/audit.js';
import { orgOwnedWhere, uuidOrNone } from '../tenancy/scope.js';
import { CustomerRef } from '../tenancy/types.js';

const RuntimeToken = builder
  .objectRef<{ token: string; expiresAt: Date }>('RuntimeToken')
  .implement({
    description: 'A bearer token for the step runtime of one customer. Shown once.',
    fields: (t) => ({
      token: t.exposeString('token'),
      expiresAt: t.expose('expiresAt', { type: 'DateTime' }),
    }),
  });

export const EmbedSigningKeyRef = builder.prismaObject('EmbedSigningKey', {
  description:
    "A public key your backend signs embedded customer-user tokens with (RS256 or ES256, `kid` = this key's keyId).",
  fields: (t) => ({
    keyId: t.exposeString('id'),
    alg: t.exposeString('alg'),
    publicKey: t.exposeString('publicKey'),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    revokedAt: t.expose('revokedAt', { type: 'DateTime', nullable: true }),
  }),
});

builder.queryField('embedSigningKeys', (t) =>
  t.prismaField({
    type: ['EmbedSigningKey'],
    authScopes: { org: true },
    resolve: (query, _root, _args, ctx) =>
      ctx.prisma.embedSigningKey.findMany({ ...query, where: orgOwnedWhere(ctx.principal), orderBy: { createdAt: 'asc' } }),
  }),
);

builder.mutationFields((t) => ({
  issueRuntimeToken: t.field({
    type: RuntimeToken,
    description: "Issues a runtime token for one customer (optionally bound to one instance or workflow).",
    authScopes: { orgWrite: true },
    errors: { types: mutationErrors },
    args: {
      customerId: t.arg.globalID({ required: true, for: CustomerRef }),
      ttlSeconds: t.arg.int({ description: 'Lifetime, 60 s to 24 h; default 1 h.' }),
      instanceId: t.arg.id(),
      workflowId: t.arg.id(),
    },
    resolve: async (_root, args, ctx) => {
      const ttl = parseInput(z.number().int().min(60).max(86_400).default(3600), args.ttlSeconds ?? undefined, 'ttlSeconds');
      const customer = await ctx.prisma.customer.findFirst({
        where: { id: uuidOrNone(args.customerId.id), ...orgOwnedWhere(ctx.principal) },
      });
      if (!customer) throw new NotFoundError('Customer');
      const token = await ctx.services.tokens.signRuntime(
        {
          orgId: customer.orgId,
          customerId: customer.id,
          instanceId: args.instanceId ? String(args.instanceId) : null,
          workflowId: args.workflowId ? String(args.workflowId) : null,
        },
        ttl,
      );
      await audit(ctx.prisma, ctx.principal, 'runtimeToken.issue', 'Customer', customer.id);
      return { token, expiresAt: new Date(Date.now() + ttl * 1000) };
    },
  }),
  registerEmbedSigningKey: t.prismaField({
    type: 'EmbedSigningKey',
    description: 'Registers a public key (SPKI PEM) for verifying embedded customer-user tokens.',
    authScopes: { orgWrite: true },
    errors: { types: mutationErrors },
    args: {
      publicKey: t.arg.string({ required: true }),
      alg: t.arg.string({ required: true, description: 'RS256 or ES256' }),
    },
    resolve: async (query, _root, args, ctx) => {
      if (args.alg !== 'RS256' && args.alg !== 'ES256') throw ValidationError.field('alg', 'must be RS256 or ES256');
      let keyType: string | undefined;
      try {
        const key = createPublicKey(args.publicKey);
        keyType = key.asymmetricKeyType;
      } catch {
        throw ValidationError.field('publicKey', 'must be a PEM-encoded public key');
      }
      if ((args.alg === 'RS256') !== (keyType === 'rsa') || (args.alg === 'ES256' && keyType !== 'ec')) {
        throw ValidationError.field('publicKey', `is not a key for ${args.alg}`);
      }
      const { orgId } = orgOwnedWhere(ctx.principal);
      const key = await ctx.prisma.embedSigningKey.create({ ...query, data: { orgId, publicKey: args.publicKey, alg: args.alg } });
      await audit(ctx.prisma, ctx.principal, 'embedSigningKey.register', 'EmbedSigningKey', key.id);
      return key;
    },
  }),
  revokeEmbedSigningKey: t.prismaField({
    type: 'EmbedSigningKey',
    authScopes: { orgWrite: true },
    errors: { types: mutationErrors },
    args: { keyId: t.arg.string({ required: true }) },
    resolve: async (query, _root, args, ctx) => {
      const found = await ctx.prisma.embedSigningKey.findFirst({
        where: { id: uuidOrNone(args.keyId), ...orgOwnedWhere(ctx.principal) },
      });
      if (!found) throw new NotFoundError('Signing key');
      const key = await ctx.prisma.embedSigningKey.update({ ...query, where: { id: found.id }, data: { revokedAt: found.revokedAt ?? new Date() } });
      await audit(ctx.prisma, ctx.principal, 'embedSigningKey.revoke', 'EmbedSigningKey', key.id);
      return key;
    },
  }),
}));
