import { encodeGlobalID } from '@pothos/plugin-relay';
import { z } from 'zod';
import { ConflictError, NotFoundError, ValidationError, type FieldProblem } from '../../errors.js';
import type { Prisma } from '../../generated/prisma/client.js';
import { transaction } from '../../db/transaction.js';
import { builder } from '../../schema/builder.js';
import { mutationErrors } from '../../schema/errors.js';
import { parseInput } from '../../validation.js';
import { audit } from '../audit/audit.js';
import { KEY_MESSAGE, KEY_PATTERN } from '../connections/service.js';
import { orgOwnedWhere, uuidOrNone } from '../tenancy/scope.js';
import { rowId } from './ids.js';
import { integrationWhere } from './scope.js';
import { IntegrationRef } from './types.js';

type Tx = Prisma.TransactionClient;

// The one key rule shared with connections, connectors and the manifest.
const stableKey = z.string().regex(KEY_PATTERN, KEY_MESSAGE);
const IntegrationFields = z.object({
  stableKey,
  name: z.string().trim().min(1, 'must not be empty').max(200),
  description: z.string().max(5000).optional(),
});

export const RequiredConnectionInput = builder.inputType('RequiredConnectionInput', {
  description: 'A connection an integration uses: give exactly one of connectionId or connectionStableKey.',
  fields: (t) => ({
    connectionId: t.id(),
    connectionStableKey: t.string(),
    required: t.boolean({ description: 'Default true.' }),
  }),
});

const IntegrationInput = builder.inputType('IntegrationInput', {
  fields: (t) => ({
    stableKey: t.string({ required: true, description: 'Immutable once created; unique per organization.' }),
    name: t.string({ required: true }),
    description: t.string(),
    connections: t.field({
      type: [RequiredConnectionInput],
      description: 'Replaces the set of connections it uses. Omitted: unchanged on upsert, none on create.',
    }),
  }),
});

const IntegrationPatch = builder.inputType('IntegrationPatch', {
  description: 'stableKey is immutable and cannot be patched.',
  fields: (t) => ({
    name: t.string(),
    description: t.string(),
  }),
});

type RequirementInput = { connectionId?: string | number | bigint | null; connectionStableKey?: string | null; required?: boolean | null };

/**
 * Resolves requirement inputs to connections of the org. Unknown (or another
 * org's) connections are reported per input field, all at once.
 */
async function resolveRequirements(
  tx: Tx,
  orgId: string,
  inputs: readonly RequirementInput[],
  path: string,
): Promise<{ connectionId: string; required: boolean }[]> {
  const problems: FieldProblem[] = [];
  const byId = inputs.map((i) => (i.connectionId != null ? rowId(i.connectionId, 'Connection') : null));
  const keys = inputs.map((i) => i.connectionStableKey ?? null);
  const found = await tx.connection.findMany({
    where: {
      orgId,
      OR: [{ id: { in: byId.filter((x): x is string => !!x) } }, { stableKey: { in: keys.filter((x): x is string => !!x) } }],
    },
    select: { id: true, stableKey: true },
  });
  const ids = new Set(found.map((c) => c.id));
  const idByKey = new Map(found.map((c) => [c.stableKey, c.id]));
  const result: { connectionId: string; required: boolean }[] = [];
  const seen = new Set<string>();
  inputs.forEach((input, i) => {
    let id: string | undefined;
    if ((byId[i] == null) === (keys[i] == null)) {
      problems.push({ path: `${path}.${i}`, message: 'give exactly one of connectionId or connectionStableKey' });
      return;
    }
    if (byId[i] != null) {
      if (!ids.has(byId[i]!)) problems.push({ path: `${path}.${i}.connectionId`, message: 'no such connection' });
      else id = byId[i]!;
    } else {
      id = idByKey.get(keys[i]!);
      if (!id) problems.push({ path: `${path}.${i}.connectionStableKey`, message: `no connection with stableKey "${keys[i]}"` });
    }
    if (!id) return;
    if (seen.has(id)) {
      problems.push({ path: `${path}.${i}`, message: 'the same connection is listed twice' });
      return;
    }
    seen.add(id);
    result.push({ connectionId: id, required: input.required ?? true });
  });
  if (problems.length) throw new ValidationError(problems);
  return result;
}

async function replaceRequirements(tx: Tx, integrationId: string, reqs: { connectionId: string; required: boolean }[]) {
  await tx.integrationConnection.deleteMany({ where: { integrationId } });
  if (reqs.length) await tx.integrationConnection.createMany({ data: reqs.map((r) => ({ ...r, integrationId })) });
}

builder.queryFields((t) => ({
  integrations: t.prismaConnection({
    type: 'Integration',
    cursor: 'id',
    description: 'Integrations of your organization (customer users: those deployed to their customer).',
    authScopes: { org: true, customerUser: true },
    args: {
      stableKey: t.arg.string({ description: 'Exact stableKey.' }),
      search: t.arg.string({ description: 'Case-insensitive match on name.' }),
    },
    resolve: (query, _root, args, ctx) =>
      ctx.prisma.integration.findMany({
        ...query,
        where: {
          AND: [
            integrationWhere(ctx.principal),
            args.stableKey != null ? { stableKey: args.stableKey } : {},
            args.search ? { name: { contains: args.search, mode: 'insensitive' } } : {},
          ],
        },
        orderBy: { createdAt: 'asc' },
      }),
  }),
  integrationByStableKey: t.prismaField({
    type: 'Integration',
    nullable: true,
    authScopes: { org: true, customerUser: true },
    args: { stableKey: t.arg.string({ required: true }) },
    resolve: (query, _root, args, ctx) =>
      ctx.prisma.integration.findFirst({ ...query, where: { stableKey: args.stableKey, AND: [integrationWhere(ctx.principal)] } }),
  }),
}));

async function findOwnIntegration(tx: Tx, orgId: string, id: string) {
  const found = await tx.integration.findFirst({ where: { id: uuidOrNone(id), orgId }, select: { id: true } });
  if (!found) throw new NotFoundError('Integration');
  return found;
}

builder.mutationFields((t) => ({
  createIntegration: t.prismaField({
    type: 'Integration',
    authScopes: { orgWrite: true },
    errors: { types: mutationErrors },
    args: { input: t.arg({ type: IntegrationInput, required: true }) },
    resolve: async (query, _root, args, ctx) => {
      const input = parseInput(IntegrationFields, args.input);
      const { orgId } = orgOwnedWhere(ctx.principal);
      return transaction(ctx, async (tx) => {
        const reqs = await resolveRequirements(tx, orgId, args.input.connections ?? [], 'input.connections');
        const exists = await tx.integration.findUnique({ where: { orgId_stableKey: { orgId, stableKey: input.stableKey } }, select: { id: true } });
        if (exists) throw new ConflictError(`An integration with stableKey "${input.stableKey}" already exists`);
        const created = await tx.integration.create({ data: { ...input, orgId } });
        await replaceRequirements(tx, created.id, reqs);
        await audit(tx, ctx.principal, 'integration.create', 'Integration', created.id);
        return tx.integration.findUniqueOrThrow({ ...query, where: { id: created.id } });
      });
    },
  }),
  upsertIntegration: t.prismaField({
    type: 'Integration',
    description: 'Creates the integration with this stableKey, or updates it (automation). Safe to repeat.',
    authScopes: { orgWrite: true },
    errors: { types: mutationErrors },
    args: { input: t.arg({ type: IntegrationInput, required: true }) },
    resolve: async (query, _root, args, ctx) => {
      const input = parseInput(IntegrationFields, args.input);
      const { orgId } = orgOwnedWhere(ctx.principal);
      return transaction(ctx, async (tx) => {
        const reqs = args.input.connections ? await resolveRequirements(tx, orgId, args.input.connections, 'input.connections') : null;
        const integration = await tx.integration.upsert({
          where: { orgId_stableKey: { orgId, stableKey: input.stableKey } },
          create: { ...input, orgId },
          update: { name: input.name, description: input.description },
        });
        if (reqs) await replaceRequirements(tx, integration.id, reqs);
        await audit(tx, ctx.principal, 'integration.upsert', 'Integration', integration.id);
        return tx.integration.findUniqueOrThrow({ ...query, where: { id: integration.id } });
      });
    },
  }),
  updateIntegration: t.prismaField({
    type: 'Integration',
    authScopes: { orgWrite: true },
    errors: { types: mutationErrors },
    args: {
      id: t.arg.globalID({ required: true, for: IntegrationRef }),
      patch: t.arg({ type: IntegrationPatch, required: true }),
    },
    resolve: async (query, _root, args, ctx) => {
      const patch = parseInput(IntegrationFields.omit({ stableKey: true }).partial(), args.patch, 'patch');
      const { orgId } = orgOwnedWhere(ctx.principal);
      return transaction(ctx, async (tx) => {
        const found = await findOwnIntegration(tx, orgId, args.id.id);
        const integration = await tx.integration.update({ ...query, where: { id: found.id }, data: patch });
        await audit(tx, ctx.principal, 'integration.update', 'Integration', found.id);
        return integration;
      });
    },
  }),
  setIntegrationConnections: t.prismaField({
    type: 'Integration',
    description: 'Replaces the connections an integration uses (by connection id or stableKey).',
    authScopes: { orgWrite: true },
    errors: { types: mutationErrors },
    args: {
      id: t.arg.globalID({ required: true, for: IntegrationRef }),
      connections: t.arg({ type: [RequiredConnectionInput], required: true }),
    },
    resolve: async (query, _root, args, ctx) => {
      const { orgId } = orgOwnedWhere(ctx.principal);
      return transaction(ctx, async (tx) => {
        const found = await findOwnIntegration(tx, orgId, args.id.id);
        const reqs = await resolveRequirements(tx, orgId, args.connections, 'connections');
        await replaceRequirements(tx, found.id, reqs);
        await audit(tx, ctx.principal, 'integration.setConnections', 'Integration', found.id, {
          connections: reqs.map((r) => r.connectionId),
        });
        return tx.integration.findUniqueOrThrow({ ...query, where: { id: found.id } });
      });
    },
  }),
  deleteIntegration: t.field({
    type: 'ID',
    description:
      'Deletes the integration. Refused with CONFLICT while it has instances, unless `force` (then its instances are deleted too). Returns its global id.',
    authScopes: { orgWrite: true },
    errors: { types: mutationErrors },
    args: {
      id: t.arg.globalID({ required: true, for: IntegrationRef }),
      force: t.arg.boolean(),
    },
    resolve: async (_root, args, ctx) => {
      const { orgId } = orgOwnedWhere(ctx.principal);
      return transaction(ctx, async (tx) => {
        const found = await findOwnIntegration(tx, orgId, args.id.id);
        const instances = await tx.instance.count({ where: { integrationId: found.id } });
        if (instances > 0 && !args.force) {
          throw new ConflictError(`The integration has ${instances} instance(s); delete them first or pass force: true`);
        }
        await tx.integration.delete({ where: { id: found.id } });
        await audit(tx, ctx.principal, 'integration.delete', 'Integration', found.id, { instances });
        return encodeGlobalID('Integration', found.id);
      });
    },
  }),
}));
