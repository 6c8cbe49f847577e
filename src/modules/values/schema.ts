import type { SecretHint } from '../../crypto/secrets.js';
import { inputAt } from '../../errors.js';
import { ValueKind, ValueStatus } from '../../generated/prisma/enums.js';
import type { Principal } from '../../auth/principal.js';
import type { Context } from '../../context.js';
import type { Tx } from '../../db/transaction.js';
import type { Prisma, PrismaClient } from '../../generated/prisma/client.js';
import { decodeId, decodeOptionalId } from '../../ids.js';
import type { Op } from '../../op.js';
import { builder } from '../../schema/builder.js';
import { scopedNode } from '../../schema/nodes.js';
import { enumFrom } from '../../schema/enums.js';
import { listReads } from '../../schema/list-reads.js';
import { mutationErrors } from '../../schema/errors.js';
import { mutate, mutateAndLoad } from '../../schema/mutations.js';
import { valueTarget, valueWhere, type ValueTargetSpec } from './scope.js';
import { clearValue, setValue } from './service.js';

// ───────────────────────────── types ─────────────────────────────

export const ValueStatusEnum = enumFrom('ValueStatus', ValueStatus);

export const ValueKindEnum = enumFrom('ValueKind', ValueKind, {
  CUSTOMER: "One customer's credentials.",
  GLOBAL: 'The single value of a global connection.',
  TEST: 'Test credentials, used only by the test runner.',
});

const SecretHintRef = builder.objectRef<SecretHint & { key: string }>('SecretHint').implement({
  description: 'A secret field, masked: whether it is set and, for long secrets, its last 4 characters.',
  fields: (t) => ({
    key: t.exposeString('key'),
    set: t.exposeBoolean('set'),
    last4: t.exposeString('last4', { nullable: true }),
  }),
});

export const ConnectionValueRef = builder.prismaNode('ConnectionValue', {
  ...scopedNode(valueWhere),
  // Select mode: never the ciphertext; JSON columns only when their field is asked for.
  select: { id: true, kind: true, status: true },
  authScopes: { authenticated: true },
  description: 'Credentials of one slot of a connection. Secret fields are write-only: reads show masked hints.',
  fields: (t) => ({
    kind: t.field({ type: ValueKindEnum, resolve: (v) => v.kind }),
    status: t.field({ type: ValueStatusEnum, resolve: (v) => v.status }),
    lastError: t.exposeString('lastError', { nullable: true }),
    lastErrorAt: t.expose('lastErrorAt', { type: 'DateTime', nullable: true }),
    activatedAt: t.expose('activatedAt', { type: 'DateTime', nullable: true }),
    expiresAt: t.expose('expiresAt', { type: 'DateTime', nullable: true }),
    version: t.exposeInt('version'),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
    fields: t.field({
      type: 'JSON',
      description: 'Non-secret field values.',
      select: { fields: true },
      resolve: (v) => v.fields,
    }),
    secrets: t.field({
      type: [SecretHintRef],
      select: { secretHints: true },
      resolve: (v) => Object.entries(v.secretHints as unknown as Record<string, SecretHint>).map(([key, h]) => ({ key, ...h })),
    }),
    connection: t.relation('connection'),
    customer: t.relation('customer', { nullable: true }),
  }),
});

// The hot list path (schema/list-reads.ts) reads these fields as their columns, these relations as the related row.
listReads.columns('ConnectionValue', ['kind', 'status', 'lastError', 'lastErrorAt', 'activatedAt', 'expiresAt', 'version', 'createdAt', 'updatedAt']);
listReads.relations('ConnectionValue', ['connection', 'customer']);

/** The rows of `Customer.connectionValues` (the Pothos field and the hot list path alike). */
function customerValuesQuery(args: { status?: ValueStatus | null }, ctx: Context) {
  const where: Prisma.ConnectionValueWhereInput = { AND: [valueWhere(ctx.principal), args.status ? { status: args.status } : {}] };
  return { where, orderBy: { createdAt: 'asc' } as const };
}
listReads.list('Customer', 'connectionValues', customerValuesQuery);

builder.prismaObjectFields('Customer', (t) => ({
  connectionValues: t.relatedConnection('connectionValues', {
    cursor: 'id',
    description: "This customer's credential values (masked) that the caller may see.",
    args: { status: t.arg({ type: ValueStatusEnum }) },
    query: customerValuesQuery,
  }),
}));

const ValueTarget = builder.inputType('ConnectionValueTarget', {
  description: 'Which credentials: a connection (by id or stableKey) and a slot (a customer by id or externalId, GLOBAL or TEST).',
  fields: (t) => ({
    connectionId: t.id(),
    connectionStableKey: t.string(),
    slot: t.field({ type: ValueKindEnum, required: true }),
    customerId: t.id(),
    customerExternalId: t.string(),
  }),
});

/** A target as GraphQL names it, in service terms (ids decoded). */
export function targetSpec(t: {
  connectionId?: string | number | bigint | null;
  connectionStableKey?: string | null;
  slot?: ValueKind | null;
  customerId?: string | number | bigint | null;
  customerExternalId?: string | null;
}): ValueTargetSpec {
  return {
    connectionId: decodeOptionalId('Connection', t.connectionId),
    connectionStableKey: t.connectionStableKey,
    kind: t.slot,
    customerId: decodeOptionalId('Customer', t.customerId),
    customerExternalId: t.customerExternalId,
  };
}

/** The arguments of a credential operation on one value (OAuth2 start, client credentials, test connection). */
export const valueTargetArgs = builder.args((t) => ({
  connectionId: t.id({ required: true }),
  slot: t.field({ type: ValueKindEnum, description: 'Default: GLOBAL for global connections, else CUSTOMER.' }),
  customerId: t.id({ description: 'For a CUSTOMER value (org principals).' }),
}));

/** The value those arguments name, for this principal (archived connections are not found). */
export function valueTargetOf(
  db: PrismaClient | Tx,
  principal: Principal,
  args: { connectionId: string | number | bigint; slot?: ValueKind | null; customerId?: string | number | bigint | null },
) {
  return valueTarget(db, principal, { connectionId: decodeId('Connection', args.connectionId), kind: args.slot, customerId: decodeOptionalId('Customer', args.customerId) }, 'hidden');
}

/** The value a mutation acts on, its problems named under `target` when it came as one. */
function targetOf(op: Op, spec: ValueTargetSpec, archived: 'refused' | 'allowed', at = '') {
  return inputAt(at, () => valueTarget(op.tx, op.actor, spec, archived));
}

// ───────────────────────────── queries ─────────────────────────────

/** The rows of `connectionValues` (the Pothos field and the hot list path alike). */
function valuesQuery(
  args: { customerId?: string | number | bigint | null; status?: ValueStatus | null; kind?: ValueKind | null },
  ctx: Context,
) {
  const where: Prisma.ConnectionValueWhereInput = {
    AND: [
      valueWhere(ctx.principal),
      args.customerId != null ? { customerId: decodeId('Customer', args.customerId) } : {},
      args.status ? { status: args.status } : {},
      args.kind ? { kind: args.kind } : {},
    ],
  };
  return { where, orderBy: { createdAt: 'asc' } as const };
}
listReads.list('Query', 'connectionValues', valuesQuery);

builder.queryField('connectionValues', (t) =>
  t.prismaConnection({
    type: 'ConnectionValue',
    cursor: 'id',
    authScopes: { org: true, customerUser: true },
    description: "Credential values (masked). Customer users see their own customer's.",
    args: {
      customerId: t.arg.id(),
      status: t.arg({ type: ValueStatusEnum }),
      kind: t.arg({ type: ValueKindEnum }),
    },
    resolve: (query, _root, args, ctx) => ctx.prisma.connectionValue.findMany({ ...query, ...valuesQuery(args, ctx) }),
  }),
);

// ───────────────────────────── mutations ─────────────────────────────

builder.mutationFields((t) => ({
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
      mutateAndLoad(ctx, query, 'ConnectionValue', async (op) => {
        const { connection, slot } = await targetOf(op, targetSpec(args.target), 'refused', 'target');
        return setValue(op, connection, slot, { values: args.values, replace: args.replace ?? false });
      }),
  }),
  clearConnectionValue: t.field({
    type: 'Boolean',
    description: 'Removes the credentials of a slot. Returns whether there were any.',
    authScopes: { credentialWrite: true },
    errors: { types: mutationErrors },
    args: { target: t.arg({ type: ValueTarget, required: true }) },
    resolve: (_root, args, ctx) =>
      mutate(ctx, async (op) => {
        const { connection, slot } = await targetOf(op, targetSpec(args.target), 'allowed', 'target');
        return clearValue(op, connection, slot);
      }),
  }),
  setMyConnectionValue: t.prismaField({
    type: 'ConnectionValue',
    description: "A customer user sets its own customer's credentials of a customer-activated connection.",
    authScopes: { customerUser: true },
    errors: { types: mutationErrors },
    args: {
      connectionId: t.arg.id({ required: true }),
      values: t.arg({ type: 'JSON', required: true }),
      replace: t.arg.boolean({ defaultValue: false }),
    },
    resolve: (query, _root, args, ctx) =>
      mutateAndLoad(ctx, query, 'ConnectionValue', async (op) => {
        const { connection, slot } = await targetOf(op, { connectionId: decodeId('Connection', args.connectionId) }, 'refused');
        return setValue(op, connection, slot, { values: args.values, replace: args.replace ?? false });
      }),
  }),
  clearMyConnectionValue: t.field({
    type: 'Boolean',
    authScopes: { customerUser: true },
    errors: { types: mutationErrors },
    args: { connectionId: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) =>
      mutate(ctx, async (op) => {
        const { connection, slot } = await targetOf(op, { connectionId: decodeId('Connection', args.connectionId) }, 'allowed');
        return clearValue(op, connection, slot);
      }),
  }),
}));
