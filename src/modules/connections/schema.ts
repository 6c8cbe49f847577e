import DataLoader from 'dataloader';
import { ownCustomerId } from '../../auth/principal.js';
import type { Context } from '../../context.js';
import { ConnectionType } from '../../generated/prisma/enums.js';
import type { Prisma } from '../../generated/prisma/client.js';
import { decodeId, decodeOptionalId, NO_ROW } from '../../ids.js';
import { builder } from '../../schema/builder.js';
import { scopedNode } from '../../schema/nodes.js';
import { enumFrom } from '../../schema/enums.js';
import { listReads } from '../../schema/list-reads.js';
import { UsageRef, mutationErrors } from '../../schema/errors.js';
import { rowsById } from '../../schema/loaders.js';
import { deleteField, mutateAndLoad } from '../../schema/mutations.js';
import { stripUndefined } from '../../validation.js';
import { SelectableConnectionRef } from '../feed/schema.js';
import { pickerCustomer } from '../feed/scope.js';
import { InstanceRef } from '../integrations/schema.js';
import { ConnectionValueRef, ValueStatusEnum } from '../values/schema.js';
import { valueWhere } from '../values/scope.js';
import { connectionWhere } from './scope.js';
import {
  archiveConnection,
  connectionUsage,
  createConnection,
  customerOverview,
  deleteConnection,
  type CustomerConnectionEntry,
  updateConnection,
  upsertConnection,
} from './service.js';

// ───────────────────────────── types ─────────────────────────────

export const ConnectionTypeEnum = enumFrom('ConnectionType', ConnectionType, {
  CUSTOMER_ACTIVATED: 'Each customer enters its own credentials (or runs the OAuth2 flow) once.',
  ORG_ACTIVATED_CUSTOMER: 'Per-customer credentials the organization provides; customers never see them.',
  ORG_ACTIVATED_GLOBAL: 'One credential owned by the organization, shared by all (or allow-listed) customers.',
});

/** Usage of every connection a response lists, in one batch (two statements). */
const usageLoaders = new WeakMap<object, DataLoader<string, Awaited<ReturnType<typeof connectionUsage>>[number]>>();
function usageLoader(ctx: Context) {
  let loader = usageLoaders.get(ctx);
  if (!loader) usageLoaders.set(ctx, (loader = new DataLoader((ids) => connectionUsage(ctx.prisma, ids))));
  return loader;
}

/** The value of one slot, if the caller may see it: loaded with the connection's own query (no statement per row). */
function slotValue(ctx: Context, slot: string): Prisma.ConnectionValueWhereInput {
  return { slot, AND: [valueWhere(ctx.principal)] };
}

export const ConnectionRef = builder.prismaNode('Connection', {
  ...scopedNode(connectionWhere),
  // Select mode: what lists show and what canSeeConnection reads; the rest per field.
  select: { id: true, orgId: true, type: true, archivedAt: true, stableKey: true, name: true },
  authScopes: { authenticated: true },
  fields: (t) => ({
    stableKey: t.string({ description: 'Immutable; the same key in every tenant.', resolve: (c) => c.stableKey }),
    name: t.string({ resolve: (c) => c.name }),
    description: t.exposeString('description'),
    type: t.field({ type: ConnectionTypeEnum, resolve: (c) => c.type }),
    availableInWorkflows: t.exposeBoolean('availableInWorkflows'),
    restrictToAllowList: t.exposeBoolean('restrictToAllowList', { authScopes: { org: true } }),
    proxyOnly: t.exposeBoolean('proxyOnly', {
      description: 'The credential never leaves the gateway: runtimes call the API through `/proxy/…`; resolution answers PROXY_ONLY.',
    }),
    externalId: t.exposeString('externalId', { nullable: true, authScopes: { org: true } }),
    metadata: t.expose('metadata', { type: 'JSON', authScopes: { org: true } }),
    archivedAt: t.field({ type: 'DateTime', nullable: true, resolve: (c) => c.archivedAt }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
    connector: t.relation('connector'),
    values: t.relatedConnection('values', {
      cursor: 'id',
      authScopes: { org: true },
      description: 'Per-customer and global values (test value excluded), masked.',
      args: {
        status: t.arg({ type: ValueStatusEnum }),
        customerId: t.arg.id(),
      },
      query: (args, ctx) => ({
        where: {
          AND: [
            valueWhere(ctx.principal),
            { kind: { not: 'TEST' } },
            args.status ? { status: args.status } : {},
            args.customerId != null ? { customerId: decodeId('Customer', args.customerId) } : {},
          ],
        },
        orderBy: { createdAt: 'asc' },
      }),
    }),
    testValue: t.field({
      type: ConnectionValueRef,
      nullable: true,
      authScopes: { org: true },
      select: (_args, ctx, nested) => ({ values: nested({ where: slotValue(ctx, 'TEST'), take: 1 }) }),
      resolve: (c) => c.values[0] ?? null,
    }),
    globalValue: t.field({
      type: ConnectionValueRef,
      nullable: true,
      authScopes: { org: true },
      select: (_args, ctx, nested) => ({ values: nested({ where: slotValue(ctx, 'GLOBAL'), take: 1 }) }),
      resolve: (c) => c.values[0] ?? null,
    }),
    myValue: t.field({
      type: ConnectionValueRef,
      nullable: true,
      description: "A customer user's own value of this connection.",
      authScopes: { customerUser: true },
      select: (_args, ctx, nested) => ({ values: nested({ where: slotValue(ctx, ownCustomerId(ctx.principal) ?? NO_ROW), take: 1 }) }),
      resolve: (c) => c.values[0] ?? null,
    }),
    allowedCustomers: t.relatedConnection('allowances', {
      cursor: 'connectionId_customerId',
      authScopes: { org: true },
      description: 'Allow-list of a global connection (applies when restrictToAllowList).',
      query: () => ({ orderBy: { createdAt: 'asc' } }),
    }),
    usage: t.field({
      type: [UsageRef],
      authScopes: { org: true },
      description: 'Integrations that require this connection and workflow steps that selected it.',
      resolve: (c, _args, ctx) => usageLoader(ctx).load(c.id),
    }),
  }),
});

// The hot list path (schema/list-reads.ts) reads these fields as their columns, `connector` as the related row.
listReads.columns('Connection', [
  'stableKey', 'name', 'description', 'type', 'availableInWorkflows', 'restrictToAllowList', 'proxyOnly', 'externalId', 'archivedAt', 'createdAt', 'updatedAt',
]);
listReads.relations('Connection', ['connector']);

builder.prismaObject('GlobalAllowance', {
  fields: (t) => ({
    customer: t.relation('customer'),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

builder.prismaObjectFields('Organization', (t) => ({
  connections: t.relatedConnection('connections', {
    cursor: 'id',
    authScopes: { org: true },
    query: () => ({ orderBy: { createdAt: 'asc' } }),
  }),
}));

const ConnectionFilter = builder.inputType('ConnectionFilter', {
  fields: (t) => ({
    type: t.field({ type: ConnectionTypeEnum }),
    connectorId: t.id(),
    connectorKey: t.string(),
    stableKey: t.string(),
    search: t.string({ description: 'Case-insensitive match on name or stableKey.' }),
    status: t.field({ type: ValueStatusEnum, description: 'Has a value in this status (for `customerId` if given).' }),
    customerId: t.id({ description: 'Has a value for this customer.' }),
    availableInWorkflows: t.boolean(),
    includeArchived: t.boolean({ defaultValue: false }),
  }),
});

const ConnectionInput = builder.inputType('ConnectionInput', {
  fields: (t) => ({
    stableKey: t.string({ required: true, description: 'Immutable; unique per organization; the same in every tenant.' }),
    name: t.string({ required: true }),
    description: t.string(),
    connectorId: t.id({ description: 'The connector, by id…' }),
    connectorKey: t.string({ description: '…or by key.' }),
    type: t.field({ type: ConnectionTypeEnum, required: true }),
    availableInWorkflows: t.boolean(),
    restrictToAllowList: t.boolean({ description: 'Global connections: only allow-listed customers may use it.' }),
    allowedCustomerIds: t.idList(),
    externalId: t.string({ description: 'Name for runtimes that look connections up by convention (e.g. `gelato_<project>`).' }),
    metadata: t.field({ type: 'JSON' }),
    proxyOnly: t.boolean({ description: 'The credential never leaves the gateway: resolution refuses it, runtimes use the proxy. Default false.' }),
  }),
});

const ConnectionPatch = builder.inputType('ConnectionPatch', {
  fields: (t) => ({
    name: t.string(),
    description: t.string(),
    availableInWorkflows: t.boolean(),
    restrictToAllowList: t.boolean(),
    allowedCustomerIds: t.idList(),
    externalId: t.string(),
    metadata: t.field({ type: 'JSON' }),
    proxyOnly: t.boolean({ description: 'Turning it off is a credential write (keys without credential writes may not).' }),
  }),
});

/** GraphQL input → service input: global ids decoded, absent fields dropped. */
function connectionInput<T extends { connectorId?: unknown; allowedCustomerIds?: readonly unknown[] | null }>(input: T) {
  return stripUndefined({
    ...input,
    connectorId: decodeOptionalId('Connector', input.connectorId),
    allowedCustomerIds: input.allowedCustomerIds?.map((id) => decodeId('Customer', id)),
  });
}

// ───────────────────────────── queries ─────────────────────────────

/** The rows of `connections` (the Pothos field and the hot list path alike). */
function connectionsQuery(args: { filter?: typeof ConnectionFilter.$inferInput | null }, ctx: Context) {
  const f = args.filter ?? {};
  const customerId = decodeOptionalId('Customer', f.customerId);
  const valueFilter: Prisma.ConnectionValueWhereInput = {
    AND: [valueWhere(ctx.principal), f.status ? { status: f.status } : {}, customerId ? { customerId } : {}],
  };
  const where: Prisma.ConnectionWhereInput = {
    AND: [
      connectionWhere(ctx.principal),
      f.type ? { type: f.type } : {},
      f.connectorId != null ? { connectorId: decodeId('Connector', f.connectorId) } : {},
      f.connectorKey ? { connector: { key: f.connectorKey } } : {},
      f.stableKey ? { stableKey: f.stableKey } : {},
      f.availableInWorkflows != null ? { availableInWorkflows: f.availableInWorkflows } : {},
      f.includeArchived ? {} : { archivedAt: null },
      f.search
        ? { OR: [{ name: { contains: f.search, mode: 'insensitive' } }, { stableKey: { contains: f.search, mode: 'insensitive' } }] }
        : {},
      f.status || customerId ? { values: { some: valueFilter } } : {},
    ],
  };
  return { where, orderBy: { createdAt: 'asc' } as const };
}
listReads.list('Query', 'connections', connectionsQuery);

builder.queryFields((t) => ({
  connections: t.prismaConnection({
    type: 'Connection',
    cursor: 'id',
    authScopes: { org: true, customerUser: true },
    description: 'Reusable connections. Customer users see the customer-activated ones they may configure.',
    args: { filter: t.arg({ type: ConnectionFilter }) },
    resolve: (query, _root, args, ctx) => ctx.prisma.connection.findMany({ ...query, ...connectionsQuery(args, ctx) }),
  }),
  connection: t.prismaField({
    type: 'Connection',
    nullable: true,
    authScopes: { org: true, customerUser: true },
    args: { id: t.arg.id({ required: true }) },
    resolve: (query, _root, args, ctx) =>
      ctx.prisma.connection.findFirst({ ...query, where: { id: decodeId('Connection', args.id), AND: [connectionWhere(ctx.principal)] } }),
  }),
  connectionByStableKey: t.prismaField({
    type: 'Connection',
    nullable: true,
    authScopes: { org: true, customerUser: true },
    args: { stableKey: t.arg.string({ required: true }) },
    resolve: (query, _root, args, ctx) =>
      ctx.prisma.connection.findFirst({ ...query, where: { stableKey: args.stableKey, AND: [connectionWhere(ctx.principal)] } }),
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
      mutateAndLoad(ctx, query, 'Connection', (op) => createConnection(op, connectionInput(args.input)), { input: 'input' }),
  }),
  upsertConnection: t.prismaField({
    type: 'Connection',
    description: 'Creates or updates the connection with this stableKey (type and connector cannot change).',
    authScopes: { orgWrite: true },
    errors: { types: mutationErrors },
    args: { input: t.arg({ type: ConnectionInput, required: true }) },
    resolve: (query, _root, args, ctx) =>
      mutateAndLoad(ctx, query, 'Connection', (op) => upsertConnection(op, connectionInput(args.input)), { input: 'input' }),
  }),
  updateConnection: t.prismaField({
    type: 'Connection',
    authScopes: { orgWrite: true },
    errors: { types: mutationErrors },
    args: {
      id: t.arg.id({ required: true }),
      patch: t.arg({ type: ConnectionPatch, required: true }),
    },
    resolve: (query, _root, args, ctx) =>
      mutateAndLoad(ctx, query, 'Connection', (op) => updateConnection(op, decodeId('Connection', args.id), connectionInput(args.patch)), {
        input: 'patch',
      }),
  }),
  archiveConnection: t.prismaField({
    type: 'Connection',
    description: 'Hides the connection from customers and workflows; values are kept. Reversible.',
    authScopes: { orgWrite: true },
    errors: { types: mutationErrors },
    args: { id: t.arg.id({ required: true }), archived: t.arg.boolean({ defaultValue: true }) },
    resolve: (query, _root, args, ctx) =>
      mutateAndLoad(ctx, query, 'Connection', (op) => archiveConnection(op, decodeId('Connection', args.id), args.archived !== false)),
  }),
  deleteConnection: deleteField(t, {
    typename: 'Connection',
    description: 'Deletes a connection and its values. Refused with IN_USE (saying what uses it) while integrations or workflow steps reference it. Returns its global id.',
    authScopes: { orgWrite: true },
    remove: deleteConnection,
  }),
}));


// ───────────────────────────── a customer's overview ─────────────────────────────

const ConnectionUsageRef = builder.objectRef<CustomerConnectionEntry>('ConnectionUsage').implement({
  description: 'One connection in a customer connection overview: its state for the customer and what uses it.',
  fields: (t) => ({
    option: t.field({
      type: SelectableConnectionRef,
      description: 'The connection as an opaque option (id, name, connector): always present.',
      resolve: (e) => ({
        connectionId: e.connection.id,
        name: e.connection.name,
        connectorKey: e.connection.connector.key,
        connectorName: e.connection.connector.name,
      }),
    }),
    opaque: t.boolean({
      description: 'True for org-activated connections shown to customer users: only `option` and `selectable` are filled.',
      resolve: (e) => e.opaque,
    }),
    // Loaded again with the client's selection, all entries at once (the entry's rows
    // carry no selection of their own, which would cost a statement per entry).
    connection: t.prismaField({
      type: 'Connection',
      nullable: true,
      resolve: async (query, e, _args, ctx) => (e.opaque ? null : ((await rowsById(ctx, 'Connection', query, [e.connection.id]))[0] ?? null)),
    }),
    value: t.prismaField({
      type: 'ConnectionValue',
      nullable: true,
      description: 'The value that serves this customer (its own, or the global one); null when none or opaque.',
      resolve: async (query, e, _args, ctx) => (e.opaque || !e.value ? null : ((await rowsById(ctx, 'ConnectionValue', query, [e.value.id]))[0] ?? null)),
    }),
    allowed: t.boolean({
      description: 'Global connections: whether the allow-list admits this customer (true for other types).',
      resolve: (e) => e.allowed,
    }),
    selectable: t.boolean({
      description: 'Available to select in workflow steps for this customer right now.',
      resolve: (e) => e.selectable,
    }),
    instances: t.prismaField({
      type: [InstanceRef],
      description: 'Instances of this customer whose integration uses it.',
      resolve: (query, e, _args, ctx) => (e.opaque ? [] : rowsById(ctx, 'Instance', query, e.instanceIds)),
    }),
    workflows: t.prismaField({
      type: ['Workflow'],
      description: 'Workflows of this customer with a step that selects it.',
      resolve: (query, e, _args, ctx) => rowsById(ctx, 'Workflow', query, e.workflowIds),
    }),
  }),
});

const OverviewRef = builder.objectRef<{ customerId: string; entries: CustomerConnectionEntry[] }>('CustomerConnectionOverview').implement({
  fields: (t) => ({
    customer: t.prismaField({
      type: 'Customer',
      resolve: (query, o, _args, ctx) => ctx.prisma.customer.findUniqueOrThrow({ ...query, where: { id: o.customerId } }),
    }),
    connections: t.field({ type: [ConnectionUsageRef], resolve: (o) => o.entries }),
  }),
});

builder.queryField('customerConnectionOverview', (t) =>
  t.field({
    type: OverviewRef,
    nullable: true,
    description:
      "A customer's connections, their value status and the instances and workflows that use each. Customer users: their own " +
      'customer, customer-activated connections, plus org-activated ones they can select (opaquely). Null for an unknown customer.',
    authScopes: { org: true, customerUser: true },
    args: { customerId: t.arg.id({ description: 'Required for org principals; customer users: omit.' }) },
    resolve: async (_root, args, ctx) => {
      const customerId = await pickerCustomer(ctx.prisma, ctx.principal, decodeOptionalId('Customer', args.customerId));
      if (!customerId) return null;
      const p = ctx.principal;
      return { customerId, entries: await customerOverview(ctx.prisma, customerId, p?.kind === 'CUSTOMER_USER', p?.kind === 'CUSTOMER_USER' ? p.connectionIds : null) };
    },
  }),
);
