import type { Principal } from '../../auth/principal.js';
import type { AppContext } from '../../context.js';
import { transaction } from '../../db/transaction.js';
import { NotFoundError, ValidationError } from '../../errors.js';
import type { Prisma } from '../../generated/prisma/client.js';
import { builder } from '../../schema/builder.js';
import { mutationErrors } from '../../schema/errors.js';
import { stripUndefined } from '../../validation.js';
import { audit } from '../audit/audit.js';
import { orgOwnedWhere, uuidOrNone } from '../tenancy/scope.js';
import { CustomerRef } from '../tenancy/types.js';
import { connectionWhere, valueWhere } from './scope.js';
import {
  clearConnectionValue,
  createConnection,
  deleteConnection,
  loadConnection,
  setArchived,
  setConnectionValue,
  updateConnection,
  upsertConnection,
  type Slot,
} from './service.js';
import { ConnectionRef, ConnectionTypeEnum, ConnectorRef, ValueKindEnum, ValueStatusEnum } from './types.js';

type Tx = Prisma.TransactionClient;

const ConnectionFilter = builder.inputType('ConnectionFilter', {
  fields: (t) => ({
    type: t.field({ type: ConnectionTypeEnum }),
    connectorId: t.globalID({ for: ConnectorRef }),
    connectorKey: t.string(),
    stableKey: t.string(),
    search: t.string({ description: 'Case-insensitive match on name or stableKey.' }),
    status: t.field({ type: ValueStatusEnum, description: 'Has a value in this status (for `customerId` if given).' }),
    customerId: t.globalID({ for: CustomerRef, description: 'Has a value for this customer.' }),
    availableInWorkflows: t.boolean(),
    includeArchived: t.boolean({ defaultValue: false }),
  }),
});

const ConnectionInput = builder.inputType('ConnectionInput', {
  fields: (t) => ({
    stableKey: t.string({ required: true, description: 'Immutable; unique per organization; the same in every tenant.' }),
    name: t.string({ required: true }),
    description: t.string(),
    connectorId: t.globalID({ for: ConnectorRef, description: 'The connector, by id…' }),
    connectorKey: t.string({ description: '…or by key.' }),
    type: t.field({ type: ConnectionTypeEnum, required: true }),
    availableInWorkflows: t.boolean(),
    restrictToAllowList: t.boolean({ description: 'Global connections: only allow-listed customers may use it.' }),
    allowedCustomerIds: t.globalIDList({ for: CustomerRef }),
    externalId: t.string({ description: 'Name for runtimes that look connections up by convention (e.g. `gelato_<project>`).' }),
    metadata: t.field({ type: 'JSON' }),
  }),
});

const ConnectionPatch = builder.inputType('ConnectionPatch', {
  fields: (t) => ({
    name: t.string(),
    description: t.string(),
    availableInWorkflows: t.boolean(),
    restrictToAllowList: t.boolean(),
    allowedCustomerIds: t.globalIDList({ for: CustomerRef }),
    externalId: t.string(),
    metadata: t.field({ type: 'JSON' }),
  }),
});

const ValueTarget = builder.inputType('ConnectionValueTarget', {
  description: 'Which credentials: a connection (by id or stableKey) and a slot (a customer by id or externalId, GLOBAL or TEST).',
  fields: (t) => ({
    connectionId: t.globalID({ for: ConnectionRef }),
    connectionStableKey: t.string(),
    slot: t.field({ type: ValueKindEnum, required: true }),
    customerId: t.globalID({ for: CustomerRef }),
    customerExternalId: t.string(),
  }),
});

// ───────────────────────────── helpers ─────────────────────────────

async function resolveConnectorId(tx: Tx, orgId: string, input: { connectorId?: { id: string } | null; connectorKey?: string | null }) {
  if (input.connectorId) return input.connectorId.id;
  if (input.connectorKey) {
    const c = await tx.connector.findUnique({ where: { orgId_key: { orgId, key: input.connectorKey } }, select: { id: true } });
    if (!c) throw ValidationError.field('input.connectorKey', 'connector not found');
    return c.id;
  }
  throw ValidationError.field('input.connectorId', 'give connectorId or connectorKey');
}

async function connectionInputToDomain(tx: Tx, orgId: string, input: typeof ConnectionInput.$inferInput) {
  const { connectorKey: _k, connectorId: _i, allowedCustomerIds, ...rest } = input;
  return stripUndefined({
    ...rest,
    connectorId: await resolveConnectorId(tx, orgId, input),
    allowedCustomerIds: allowedCustomerIds?.map((g) => g.id),
  });
}

function ownConnection(principal: Principal | null, id: string): Prisma.ConnectionWhereInput {
  return { id: uuidOrNone(id), ...orgOwnedWhere(principal) };
}

async function resolveTarget(tx: Tx, principal: Principal | null, target: typeof ValueTarget.$inferInput) {
  const org = orgOwnedWhere(principal);
  const connection = await loadConnection(
    tx,
    target.connectionId
      ? ownConnection(principal, target.connectionId.id)
      : target.connectionStableKey
        ? { ...org, stableKey: target.connectionStableKey }
        : (() => {
            throw ValidationError.field('target.connectionId', 'give connectionId or connectionStableKey');
          })(),
  );
  let slot: Slot;
  if (target.slot === 'CUSTOMER') {
    const customer = target.customerId
      ? await tx.customer.findFirst({ where: { id: uuidOrNone(target.customerId.id), ...org }, select: { id: true } })
      : target.customerExternalId
        ? await tx.customer.findFirst({ where: { externalId: target.customerExternalId, ...org }, select: { id: true } })
        : (() => {
            throw ValidationError.field('target.customerId', 'a CUSTOMER slot needs customerId or customerExternalId');
          })();
    if (!customer) throw new NotFoundError('Customer');
    slot = { kind: 'CUSTOMER', customerId: customer.id };
  } else {
    if (target.customerId || target.customerExternalId) {
      throw ValidationError.field('target.customerId', `a ${target.slot} slot has no customer`);
    }
    slot = { kind: target.slot };
  }
  return { connection, slot };
}

/** A customer user's own slot of a connection it may configure. */
async function customerSlot(tx: Tx, principal: Principal | null, connectionId: string) {
  if (principal?.kind !== 'CUSTOMER_USER') throw new NotFoundError('Connection');
  const connection = await loadConnection(tx, { id: uuidOrNone(connectionId), AND: [connectionWhere(principal)] });
  return { connection, slot: { kind: 'CUSTOMER', customerId: principal.customerId } as const };
}

function keyRing(ctx: AppContext) {
  return ctx.services.config.keyRing;
}

// ───────────────────────────── queries ─────────────────────────────

builder.queryFields((t) => ({
  connections: t.prismaConnection({
    type: 'Connection',
    cursor: 'id',
    authScopes: { org: true, customerUser: true },
    description: 'Reusable connections. Customer users see the customer-activated ones they may configure.',
    args: { filter: t.arg({ type: ConnectionFilter }) },
    resolve: (query, _root, args, ctx) => {
      const f = args.filter ?? {};
      const valueFilter: Prisma.ConnectionValueWhereInput = {
        AND: [
          valueWhere(ctx.principal),
          f.status ? { status: f.status } : {},
          f.customerId ? { customerId: uuidOrNone(f.customerId.id) } : {},
        ],
      };
      return ctx.prisma.connection.findMany({
        ...query,
        where: {
          AND: [
            connectionWhere(ctx.principal),
            f.type ? { type: f.type } : {},
            f.connectorId ? { connectorId: uuidOrNone(f.connectorId.id) } : {},
            f.connectorKey ? { connector: { key: f.connectorKey } } : {},
            f.stableKey ? { stableKey: f.stableKey } : {},
            f.availableInWorkflows != null ? { availableInWorkflows: f.availableInWorkflows } : {},
            f.includeArchived ? {} : { archivedAt: null },
            f.search
              ? { OR: [{ name: { contains: f.search, mode: 'insensitive' } }, { stableKey: { contains: f.search, mode: 'insensitive' } }] }
              : {},
            f.status || f.customerId ? { values: { some: valueFilter } } : {},
          ],
        },
        orderBy: { createdAt: 'asc' },
      });
    },
  }),
  connection: t.prismaField({
    type: 'Connection',
    nullable: true,
    authScopes: { org: true, customerUser: true },
    args: { id: t.arg.globalID({ required: true, for: ConnectionRef }) },
    resolve: (query, _root, args, ctx) =>
      ctx.prisma.connection.findFirst({ ...query, where: { id: uuidOrNone(args.id.id), AND: [connectionWhere(ctx.principal)] } }),
  }),
  connectionByStableKey: t.prismaField({
    type: 'Connection',
    nullable: true,
    authScopes: { org: true, customerUser: true },
    args: { stableKey: t.arg.string({ required: true }) },
    resolve: (query, _root, args, ctx) =>
      ctx.prisma.connection.findFirst({ ...query, where: { stableKey: args.stableKey, AND: [connectionWhere(ctx.principal)] } }),
  }),
  connectionValues: t.prismaConnection({
    type: 'ConnectionValue',
    cursor: 'id',
    authScopes: { org: true, customerUser: true },
    description: "Credential values (masked). Customer users see their own customer's.",
    args: {
      customerId: t.arg.globalID({ for: CustomerRef }),
      status: t.arg({ type: ValueStatusEnum }),
      kind: t.arg({ type: ValueKindEnum }),
    },
    resolve: (query, _root, args, ctx) =>
      ctx.prisma.connectionValue.findMany({
        ...query,
        where: {
          AND: [
            valueWhere(ctx.principal),
            args.customerId ? { customerId: uuidOrNone(args.customerId.id) } : {},
            args.status ? { status: args.status } : {},
            args.kind ? { kind: args.kind } : {},
          ],
        },
        orderBy: { createdAt: 'asc' },
      }),
  }),
}));

// ───────────────────────────── mutations ─────────────────────────────

builder.mutationFields((t) => ({
  createConnection: t.prismaField({
    type: 'Connection',
    authScopes: { orgWrite: true },
    errors: { types: mutationErrors },
    args: { input: t.arg({ type: ConnectionInput, required: true }) },
    resolve: (query, _root, args, ctx) =>
      transaction(ctx, async (tx) => {
        const { orgId } = orgOwnedWhere(ctx.principal);
        const c = await createConnection(tx, orgId, await connectionInputToDomain(tx, orgId, args.input));
        await audit(tx, ctx.principal, 'connection.create', 'Connection', c.id);
        return tx.connection.findUniqueOrThrow({ ...query, where: { id: c.id } });
      }),
  }),
  upsertConnection: t.prismaField({
    type: 'Connection',
    description: 'Creates or updates the connection with this stableKey (type and connector cannot change).',
    authScopes: { orgWrite: true },
    errors: { types: mutationErrors },
    args: { input: t.arg({ type: ConnectionInput, required: true }) },
    resolve: (query, _root, args, ctx) =>
      transaction(ctx, async (tx) => {
        const { orgId } = orgOwnedWhere(ctx.principal);
        const c = await upsertConnection(tx, orgId, await connectionInputToDomain(tx, orgId, args.input));
        await audit(tx, ctx.principal, 'connection.upsert', 'Connection', c.id);
        return tx.connection.findUniqueOrThrow({ ...query, where: { id: c.id } });
      }),
  }),
  updateConnection: t.prismaField({
    type: 'Connection',
    authScopes: { orgWrite: true },
    errors: { types: mutationErrors },
    args: {
      id: t.arg.globalID({ required: true, for: ConnectionRef }),
      patch: t.arg({ type: ConnectionPatch, required: true }),
    },
    resolve: (query, _root, args, ctx) =>
      transaction(ctx, async (tx) => {
        const existing = await loadConnection(tx, ownConnection(ctx.principal, args.id.id));
        const { allowedCustomerIds, ...rest } = args.patch;
        const c = await updateConnection(
          tx,
          existing,
          stripUndefined({ ...rest, allowedCustomerIds: allowedCustomerIds?.map((g) => g.id) }),
        );
        await audit(tx, ctx.principal, 'connection.update', 'Connection', c.id);
        return tx.connection.findUniqueOrThrow({ ...query, where: { id: c.id } });
      }),
  }),
  archiveConnection: t.prismaField({
    type: 'Connection',
    description: 'Hides the connection from customers and workflows; values are kept. Reversible.',
    authScopes: { orgWrite: true },
    errors: { types: mutationErrors },
    args: { id: t.arg.globalID({ required: true, for: ConnectionRef }), archived: t.arg.boolean({ defaultValue: true }) },
    resolve: (query, _root, args, ctx) =>
      transaction(ctx, async (tx) => {
        const existing = await loadConnection(tx, ownConnection(ctx.principal, args.id.id));
        const c = await setArchived(tx, existing, args.archived ?? true);
        await audit(tx, ctx.principal, args.archived === false ? 'connection.unarchive' : 'connection.archive', 'Connection', c.id);
        return tx.connection.findUniqueOrThrow({ ...query, where: { id: c.id } });
      }),
  }),
  deleteConnection: t.field({
    type: 'ID',
    description: 'Deletes a connection and its values. Refused with IN_USE (saying what uses it) while integrations or workflow steps reference it.',
    authScopes: { orgWrite: true },
    errors: { types: mutationErrors },
    args: { id: t.arg.globalID({ required: true, for: ConnectionRef }) },
    resolve: (_root, args, ctx) =>
      transaction(ctx, async (tx) => {
        const existing = await loadConnection(tx, ownConnection(ctx.principal, args.id.id));
        await deleteConnection(tx, existing);
        await audit(tx, ctx.principal, 'connection.delete', 'Connection', existing.id);
        return args.id.id;
      }),
  }),
  setConnectionValue: t.prismaField({
    type: 'ConnectionValue',
    description:
      'Sets credentials of a slot (org principals): per-customer, GLOBAL or TEST. Absent fields are kept unless `replace`; null clears an optional field. Secrets are write-only.',
    authScopes: { credentialWrite: true },
    errors: { types: mutationErrors },
    args: {
      target: t.arg({ type: ValueTarget, required: true }),
      values: t.arg({ type: 'JSON', required: true }),
      replace: t.arg.boolean({ defaultValue: false }),
    },
    resolve: (query, _root, args, ctx) =>
      transaction(ctx, async (tx) => {
        const { connection, slot } = await resolveTarget(tx, ctx.principal, args.target);
        const v = await setConnectionValue(tx, keyRing(ctx), { connection, slot, values: args.values, replace: args.replace ?? false });
        await audit(tx, ctx.principal, 'connectionValue.set', 'ConnectionValue', v.id, { slot: slot.kind });
        return tx.connectionValue.findUniqueOrThrow({ ...query, where: { id: v.id } });
      }),
  }),
  clearConnectionValue: t.field({
    type: 'Boolean',
    description: 'Removes the credentials of a slot. Returns whether there were any.',
    authScopes: { credentialWrite: true },
    errors: { types: mutationErrors },
    args: { target: t.arg({ type: ValueTarget, required: true }) },
    resolve: (_root, args, ctx) =>
      transaction(ctx, async (tx) => {
        const { connection, slot } = await resolveTarget(tx, ctx.principal, args.target);
        const removed = await clearConnectionValue(tx, connection, slot);
        await audit(tx, ctx.principal, 'connectionValue.clear', 'Connection', connection.id, { slot: slot.kind });
        return removed;
      }),
  }),
  setMyConnectionValue: t.prismaField({
    type: 'ConnectionValue',
    description: "A customer user sets its own customer's credentials of a customer-activated connection.",
    authScopes: { customerUser: true },
    errors: { types: mutationErrors },
    args: {
      connectionId: t.arg.globalID({ required: true, for: ConnectionRef }),
      values: t.arg({ type: 'JSON', required: true }),
      replace: t.arg.boolean({ defaultValue: false }),
    },
    resolve: (query, _root, args, ctx) =>
      transaction(ctx, async (tx) => {
        const { connection, slot } = await customerSlot(tx, ctx.principal, args.connectionId.id);
        const v = await setConnectionValue(tx, keyRing(ctx), { connection, slot, values: args.values, replace: args.replace ?? false });
        await audit(tx, ctx.principal, 'connectionValue.set', 'ConnectionValue', v.id, { slot: 'CUSTOMER' });
        return tx.connectionValue.findUniqueOrThrow({ ...query, where: { id: v.id } });
      }),
  }),
  clearMyConnectionValue: t.field({
    type: 'Boolean',
    authScopes: { customerUser: true },
    errors: { types: mutationErrors },
    args: { connectionId: t.arg.globalID({ required: true, for: ConnectionRef }) },
    resolve: (_root, args, ctx) =>
      transaction(ctx, async (tx) => {
        const { connection, slot } = await customerSlot(tx, ctx.principal, args.connectionId.id);
        const removed = await clearConnectionValue(tx, connection, slot);
        await audit(tx, ctx.principal, 'connectionValue.clear', 'Connection', connection.id, { slot: 'CUSTOMER' });
        return removed;
      }),
  }),
}));
