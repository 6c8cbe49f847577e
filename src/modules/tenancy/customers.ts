import { z } from 'zod';
import { lockKey } from '../../db/locks.js';
import { transaction } from '../../db/transaction.js';
import { NotFoundError } from '../../errors.js';
import { builder } from '../../schema/builder.js';
import { mutationErrors } from '../../schema/errors.js';
import { parseInput } from '../../validation.js';
import { audit } from '../audit/audit.js';
import { createCustomerRecord } from './service.js';
import { customerWhere, orgOwnedWhere, uuidOrNone } from './scope.js';
import { CustomerRef } from './types.js';

const externalId = z.string().trim().min(1, 'must not be empty').max(200, 'at most 200 characters');
const CustomerFields = z.object({
  externalId,
  name: z.string().trim().min(1, 'must not be empty').max(200),
  description: z.string().max(2000).optional(),
  metadata: z.record(z.string(), z.unknown()).optional(),
});

const CustomerInput = builder.inputType('CustomerInput', {
  fields: (t) => ({
    externalId: t.string({ required: true, description: "The vendor's own id; unique per organization." }),
    name: t.string({ required: true }),
    description: t.string(),
    metadata: t.field({ type: 'JSON' }),
  }),
});

const CustomerPatch = builder.inputType('CustomerPatch', {
  fields: (t) => ({
    name: t.string(),
    description: t.string(),
    metadata: t.field({ type: 'JSON' }),
  }),
});

builder.queryFields((t) => ({
  customers: t.prismaConnection({
    type: 'Customer',
    cursor: 'id',
    description: 'Customers of your organization. Customer users and runtimes see only their own.',
    authScopes: { authenticated: true },
    args: {
      search: t.arg.string({ description: 'Case-insensitive match on name or externalId.' }),
    },
    resolve: (query, _root, args, ctx) =>
      ctx.prisma.customer.findMany({
        ...query,
        where: {
          AND: [
            customerWhere(ctx.principal),
            args.search
              ? {
                  OR: [
                    { name: { contains: args.search, mode: 'insensitive' } },
                    { externalId: { contains: args.search, mode: 'insensitive' } },
                  ],
                }
              : {},
          ],
        },
        orderBy: { createdAt: 'asc' },
      }),
  }),
  customer: t.prismaField({
    type: 'Customer',
    nullable: true,
    description: 'A customer by id, or null if it does not exist or is not yours to see.',
    authScopes: { authenticated: true },
    args: { id: t.arg.globalID({ required: true, for: CustomerRef }) },
    resolve: (query, _root, args, ctx) =>
      ctx.prisma.customer.findFirst({
        ...query,
        where: { id: uuidOrNone(args.id.id), AND: [customerWhere(ctx.principal)] },
      }),
  }),
  customerByExternalId: t.prismaField({
    type: 'Customer',
    nullable: true,
    authScopes: { authenticated: true },
    args: { externalId: t.arg.string({ required: true }) },
    resolve: (query, _root, args, ctx) =>
      ctx.prisma.customer.findFirst({
        ...query,
        where: { externalId: args.externalId, AND: [customerWhere(ctx.principal)] },
      }),
  }),
}));

builder.mutationFields((t) => ({
  createCustomer: t.prismaField({
    type: 'Customer',
    authScopes: { orgWrite: true },
    errors: { types: mutationErrors },
    args: { input: t.arg({ type: CustomerInput, required: true }) },
    resolve: async (query, _root, args, ctx) => {
      const input = parseInput(CustomerFields, args.input);
      const { orgId } = orgOwnedWhere(ctx.principal);
      return transaction(ctx, async (tx) => {
        const customer = await createCustomerRecord(tx, ctx.principal, { ...input, orgId });
        return tx.customer.findUniqueOrThrow({ ...query, where: { id: customer.id } });
      });
    },
  }),
  upsertCustomer: t.prismaField({
    type: 'Customer',
    description: 'Creates the customer with this externalId, or updates it. Safe to repeat.',
    authScopes: { orgWrite: true },
    errors: { types: mutationErrors },
    args: { input: t.arg({ type: CustomerInput, required: true }) },
    resolve: async (query, _root, args, ctx) => {
      const input = parseInput(CustomerFields, args.input);
      const { orgId } = orgOwnedWhere(ctx.principal);
      const data = { name: input.name, description: input.description, metadata: input.metadata as object | undefined };
      return transaction(ctx, async (tx) => {
        // Same lock as the REST projects API: concurrent upserts of one externalId create it once.
        await lockKey(tx, 'customer.externalId', `${orgId}:${input.externalId}`);
        const existing = await tx.customer.findUnique({
          where: { orgId_externalId: { orgId, externalId: input.externalId } },
          select: { id: true },
        });
        let id: string;
        if (existing) {
          // Name and metadata do not change what the customer may pick: no availability refresh.
          await tx.customer.update({ where: { id: existing.id }, data });
          await audit(tx, ctx.principal, 'customer.upsert', 'Customer', existing.id);
          id = existing.id;
        } else {
          id = (await createCustomerRecord(tx, ctx.principal, { ...input, orgId }, { action: 'customer.upsert' })).id;
        }
        return tx.customer.findUniqueOrThrow({ ...query, where: { id } });
      });
    },
  }),
  updateCustomer: t.prismaField({
    type: 'Customer',
    authScopes: { orgWrite: true },
    errors: { types: mutationErrors },
    args: {
      id: t.arg.globalID({ required: true, for: CustomerRef }),
      patch: t.arg({ type: CustomerPatch, required: true }),
    },
    resolve: async (query, _root, args, ctx) => {
      const patch = parseInput(CustomerFields.omit({ externalId: true }).partial(), args.patch, 'patch');
      return transaction(ctx, async (tx) => {
        const found = await tx.customer.findFirst({
          where: { id: uuidOrNone(args.id.id), ...orgOwnedWhere(ctx.principal) },
          select: { id: true },
        });
        if (!found) throw new NotFoundError('Customer');
        const customer = await tx.customer.update({
          ...query,
          where: { id: found.id },
          data: { ...patch, metadata: patch.metadata as object | undefined },
        });
        await audit(tx, ctx.principal, 'customer.update', 'Customer', customer.id);
        return customer;
      });
    },
  }),
  deleteCustomer: t.field({
    type: 'ID',
    description: 'Deletes the customer with its users, credential values, instances and workflows. Returns its id.',
    authScopes: { orgWrite: true },
    errors: { types: mutationErrors },
    args: { id: t.arg.globalID({ required: true, for: CustomerRef }) },
    resolve: async (_root, args, ctx) =>
      transaction(ctx, async (tx) => {
        const { count } = await tx.customer.deleteMany({
          where: { id: uuidOrNone(args.id.id), ...orgOwnedWhere(ctx.principal) },
        });
        if (count === 0) throw new NotFoundError('Customer');
        // The materialized picker set has no foreign keys; its rows go with the customer.
        await tx.availableSelection.deleteMany({ where: { customerId: args.id.id } });
        await audit(tx, ctx.principal, 'customer.delete', 'Customer', args.id.id);
        return args.id.id;
      }),
  }),
}));
