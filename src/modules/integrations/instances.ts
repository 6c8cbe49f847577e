import { encodeGlobalID } from '@pothos/plugin-relay';
import { z } from 'zod';
import { ConflictError, NotFoundError, ValidationError } from '../../errors.js';
import { transaction } from '../../db/transaction.js';
import { builder } from '../../schema/builder.js';
import { mutationErrors } from '../../schema/errors.js';
import { parseInput } from '../../validation.js';
import { audit } from '../audit/audit.js';
import { orgOwnedWhere, uuidOrNone } from '../tenancy/scope.js';
import { rowId } from './ids.js';
import { instanceWhere } from './scope.js';
import { InstanceRef } from './types.js';

const InstanceFields = z.object({
  name: z.string().trim().min(1, 'must not be empty').max(200).optional(),
  enabled: z.boolean().optional(),
});

const InstanceInput = builder.inputType('InstanceInput', {
  fields: (t) => ({
    integrationId: t.id({ required: true }),
    customerId: t.id({ required: true }),
    name: t.string({ description: "Defaults to the integration's name." }),
    enabled: t.boolean(),
  }),
});

const InstancePatch = builder.inputType('InstancePatch', {
  fields: (t) => ({
    name: t.string(),
    enabled: t.boolean(),
  }),
});

builder.queryFields((t) => ({
  instances: t.prismaConnection({
    type: 'Instance',
    cursor: 'id',
    description: 'Instances (integration × customer). Customer users see only their own customer’s.',
    authScopes: { org: true, customerUser: true },
    args: {
      customerId: t.arg.id(),
      integrationId: t.arg.id(),
    },
    resolve: (query, _root, args, ctx) =>
      ctx.prisma.instance.findMany({
        ...query,
        where: {
          AND: [
            instanceWhere(ctx.principal),
            args.customerId != null ? { customerId: rowId(args.customerId, 'Customer') } : {},
            args.integrationId != null ? { integrationId: rowId(args.integrationId, 'Integration') } : {},
          ],
        },
        orderBy: { createdAt: 'asc' },
      }),
  }),
}));

builder.mutationFields((t) => ({
  createInstance: t.prismaField({
    type: 'Instance',
    description: 'Deploys an integration to a customer. One instance per (integration, customer).',
    authScopes: { orgWrite: true },
    errors: { types: mutationErrors },
    args: { input: t.arg({ type: InstanceInput, required: true }) },
    resolve: async (query, _root, args, ctx) => {
      const input = parseInput(InstanceFields, { name: args.input.name ?? undefined, enabled: args.input.enabled ?? undefined });
      const { orgId } = orgOwnedWhere(ctx.principal);
      return transaction(ctx, async (tx) => {
        // Sequential: a transaction runs on one connection.
        const integration = await tx.integration.findFirst({
          where: { id: rowId(args.input.integrationId, 'Integration'), orgId },
          select: { id: true, name: true },
        });
        const customer = await tx.customer.findFirst({ where: { id: rowId(args.input.customerId, 'Customer'), orgId }, select: { id: true } });
        const problems = [
          ...(integration ? [] : [{ path: 'input.integrationId', message: 'no such integration' }]),
          ...(customer ? [] : [{ path: 'input.customerId', message: 'no such customer' }]),
        ];
        if (problems.length) throw new ValidationError(problems);
        const existing = await tx.instance.findUnique({
          where: { integrationId_customerId: { integrationId: integration!.id, customerId: customer!.id } },
          select: { id: true },
        });
        if (existing) throw new ConflictError('This integration is already deployed to this customer');
        const instance = await tx.instance.create({
          ...query,
          data: { orgId, integrationId: integration!.id, customerId: customer!.id, name: input.name ?? integration!.name, enabled: input.enabled },
        });
        await audit(tx, ctx.principal, 'instance.create', 'Instance', instance.id);
        return instance;
      });
    },
  }),
  updateInstance: t.prismaField({
    type: 'Instance',
    authScopes: { orgWrite: true },
    errors: { types: mutationErrors },
    args: {
      id: t.arg.globalID({ required: true, for: InstanceRef }),
      patch: t.arg({ type: InstancePatch, required: true }),
    },
    resolve: async (query, _root, args, ctx) => {
      const patch = parseInput(InstanceFields, { name: args.patch.name ?? undefined, enabled: args.patch.enabled ?? undefined }, 'patch');
      return transaction(ctx, async (tx) => {
        const found = await tx.instance.findFirst({ where: { id: uuidOrNone(args.id.id), ...orgOwnedWhere(ctx.principal) }, select: { id: true } });
        if (!found) throw new NotFoundError('Instance');
        const instance = await tx.instance.update({ ...query, where: { id: found.id }, data: patch });
        await audit(tx, ctx.principal, 'instance.update', 'Instance', found.id);
        return instance;
      });
    },
  }),
  deleteInstance: t.field({
    type: 'ID',
    description: 'Removes an instance. Returns its global id.',
    authScopes: { orgWrite: true },
    errors: { types: mutationErrors },
    args: { id: t.arg.globalID({ required: true, for: InstanceRef }) },
    resolve: async (_root, args, ctx) =>
      transaction(ctx, async (tx) => {
        const { count } = await tx.instance.deleteMany({ where: { id: uuidOrNone(args.id.id), ...orgOwnedWhere(ctx.principal) } });
        if (count === 0) throw new NotFoundError('Instance');
        await audit(tx, ctx.principal, 'instance.delete', 'Instance', args.id.id);
        return encodeGlobalID('Instance', args.id.id);
      }),
  }),
}));
