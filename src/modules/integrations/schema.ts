import DataLoader from 'dataloader';
import type { Context } from '../../context.js';
import { decodeId, decodeOptionalId } from '../../ids.js';
import { builder } from '../../schema/builder.js';
import { scopedNode } from '../../schema/nodes.js';
import { mutationErrors } from '../../schema/errors.js';
import { rowsById } from '../../schema/loaders.js';
import { deleteField, mutateAndLoad, mutateDelete } from '../../schema/mutations.js';
import { canSeeConnection, connectionWhere } from '../connections/scope.js';
import { instanceWhere, integrationWhere, showsRequirement } from './scope.js';
import {
  computeReadiness,
  createInstance,
  createIntegration,
  deleteInstance,
  deleteIntegration,
  setIntegrationConnections,
  updateInstance,
  updateIntegration,
  upsertIntegration,
  type InstanceKey,
  type MissingConnection,
  type Readiness,
  type RequirementInput,
} from './service.js';

// ───────────────────────────── types ─────────────────────────────

export const IntegrationRef = builder.prismaNode('Integration', {
  ...scopedNode(integrationWhere),
  description: 'An integration the organization ships; it requires reusable connections.',
  fields: (t) => ({
    stableKey: t.exposeString('stableKey', { description: 'Immutable; the same key in every tenant.' }),
    name: t.exposeString('name'),
    description: t.exposeString('description'),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
    connections: t.relation('connections', {
      description: 'The reusable connections this integration uses (customer users see only customer-activated ones).',
      query: (_args, ctx) => ({
        where: { connection: connectionWhere(ctx.principal) },
        orderBy: { connection: { stableKey: 'asc' } },
      }),
    }),
    instances: t.relatedConnection('instances', {
      cursor: 'id',
      description: 'Deployments of this integration (customer users see only their own).',
      query: (_args, ctx) => ({ where: instanceWhere(ctx.principal), orderBy: { createdAt: 'asc' } }),
    }),
  }),
});

builder.prismaObject('IntegrationConnection', {
  description: 'A reusable connection an integration uses.',
  fields: (t) => ({
    connection: t.relation('connection'),
    required: t.exposeBoolean('required', {
      description: 'An instance is ready only when every required connection resolves for its customer.',
    }),
  }),
});

const MissingReasonEnum = builder.enumType('MissingReason', {
  values: {
    NO_VALUE: { description: 'No credentials have been entered for this customer (or globally).' },
    PENDING: { description: 'Credentials exist but are not activated yet (e.g. OAuth2 flow not completed).' },
    ERROR: { description: 'The credentials failed (see the value status).' },
    EXPIRED: { description: 'The credentials expired and could not be refreshed.' },
    NOT_ALLOWED: { description: "The global connection's allow-list does not include this customer." },
    ARCHIVED: { description: 'The connection is archived.' },
  } as const,
});

const MissingConnectionRef = builder.objectRef<MissingConnection>('MissingConnection').implement({
  description: 'A required connection that does not resolve for the instance customer.',
  fields: (t) => ({
    reason: t.field({ type: MissingReasonEnum, resolve: (m) => m.reason }),
    orgActivated: t.boolean({
      description: 'True when the organization, not the customer, must provide these credentials.',
      resolve: (m) => m.connection.type !== 'CUSTOMER_ACTIVATED',
    }),
    connection: t.prismaField({
      type: 'Connection',
      nullable: true,
      description: 'The connection; null when it is not yours to see (org-activated, for customer users).',
      // With the client's selection, every missing connection of the response in one statement.
      resolve: async (query, m, _args, ctx) =>
        canSeeConnection(ctx.principal, m.connection) ? ((await rowsById(ctx, 'Connection', query, [m.connection.id]))[0] ?? null) : null,
    }),
    stableKey: t.string({
      nullable: true,
      description: "The connection's stableKey; null when it is not yours to see.",
      resolve: (m, _args, ctx) => (canSeeConnection(ctx.principal, m.connection) ? m.connection.stableKey : null),
    }),
  }),
});

const ReadinessRef = builder.objectRef<Readiness>('Readiness').implement({
  fields: (t) => ({
    ready: t.exposeBoolean('ready'),
    missing: t.field({ type: [MissingConnectionRef], resolve: (r, _args, ctx) => r.missing.filter((m) => showsRequirement(ctx.principal, m.connection)) }),
  }),
});

/** One loader per request: readiness of every instance a response lists is computed in one batch. */
const readinessLoaders = new WeakMap<object, DataLoader<InstanceKey, Readiness, string>>();
function readinessLoader(ctx: Context): DataLoader<InstanceKey, Readiness, string> {
  let loader = readinessLoaders.get(ctx);
  if (!loader) {
    loader = new DataLoader((keys) => computeReadiness(ctx.prisma, keys), { cacheKeyFn: (k) => k.id });
    readinessLoaders.set(ctx, loader);
  }
  return loader;
}

export const InstanceRef = builder.prismaNode('Instance', {
  ...scopedNode(instanceWhere),
  description: 'An integration deployed to one customer.',
  fields: (t) => ({
    name: t.exposeString('name'),
    enabled: t.exposeBoolean('enabled'),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
    integration: t.relation('integration'),
    customer: t.relation('customer'),
    readiness: t.field({
      type: ReadinessRef,
      description: 'Ready when every required connection resolves for this customer. Batched across a list.',
      resolve: (instance, _args, ctx) => readinessLoader(ctx).load(instance),
    }),
  }),
});

builder.prismaObjectFields('Customer', (t) => ({
  instances: t.relatedConnection('instances', {
    cursor: 'id',
    description: 'Integrations deployed to this customer.',
    query: (_args, ctx) => ({ where: instanceWhere(ctx.principal), orderBy: { createdAt: 'asc' } }),
  }),
}));

const RequiredConnectionInput = builder.inputType('RequiredConnectionInput', {
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

/** Requirement inputs in service terms (connection ids decoded). */
function requirements(list: readonly { connectionId?: string | number | bigint | null; connectionStableKey?: string | null; required?: boolean | null }[]): RequirementInput[] {
  return list.map((r) => ({ ...r, connectionId: decodeOptionalId('Connection', r.connectionId) }));
}

// ───────────────────────────── queries ─────────────────────────────

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
            args.customerId != null ? { customerId: decodeId('Customer', args.customerId) } : {},
            args.integrationId != null ? { integrationId: decodeId('Integration', args.integrationId) } : {},
          ],
        },
        orderBy: { createdAt: 'asc' },
      }),
  }),
}));

// ───────────────────────────── mutations ─────────────────────────────

builder.mutationFields((t) => ({
  createIntegration: t.prismaField({
    type: 'Integration',
    authScopes: { orgWrite: true },
    errors: { types: mutationErrors },
    args: { input: t.arg({ type: IntegrationInput, required: true }) },
    resolve: (query, _root, args, ctx) =>
      mutateAndLoad(ctx, query, 'Integration', (op) => createIntegration(op, { ...args.input, connections: requirements(args.input.connections ?? []) }), {
        input: 'input',
      }),
  }),
  upsertIntegration: t.prismaField({
    type: 'Integration',
    description: 'Creates the integration with this stableKey, or updates it (automation). Safe to repeat.',
    authScopes: { orgWrite: true },
    errors: { types: mutationErrors },
    args: { input: t.arg({ type: IntegrationInput, required: true }) },
    resolve: (query, _root, args, ctx) =>
      mutateAndLoad(
        ctx,
        query,
        'Integration',
        (op) => upsertIntegration(op, { ...args.input, connections: args.input.connections ? requirements(args.input.connections) : null }),
        { input: 'input' },
      ),
  }),
  updateIntegration: t.prismaField({
    type: 'Integration',
    authScopes: { orgWrite: true },
    errors: { types: mutationErrors },
    args: {
      id: t.arg.id({ required: true }),
      patch: t.arg({ type: IntegrationPatch, required: true }),
    },
    resolve: (query, _root, args, ctx) =>
      mutateAndLoad(ctx, query, 'Integration', (op) => updateIntegration(op, decodeId('Integration', args.id), args.patch), { input: 'patch' }),
  }),
  setIntegrationConnections: t.prismaField({
    type: 'Integration',
    description: 'Replaces the connections an integration uses (by connection id or stableKey).',
    authScopes: { orgWrite: true },
    errors: { types: mutationErrors },
    args: {
      id: t.arg.id({ required: true }),
      connections: t.arg({ type: [RequiredConnectionInput], required: true }),
    },
    resolve: (query, _root, args, ctx) =>
      mutateAndLoad(ctx, query, 'Integration', (op) =>
        setIntegrationConnections(op, decodeId('Integration', args.id), requirements(args.connections)),
      ),
  }),
  deleteIntegration: t.field({
    type: 'ID',
    description:
      'Deletes the integration. Refused with CONFLICT while it has instances, unless `force` (then its instances are deleted too). Returns its global id.',
    authScopes: { orgWrite: true },
    errors: { types: mutationErrors },
    args: {
      id: t.arg.id({ required: true }),
      force: t.arg.boolean(),
    },
    resolve: (_root, args, ctx) => mutateDelete(ctx, 'Integration', args.id, (op, id) => deleteIntegration(op, id, args.force ?? false)),
  }),
  createInstance: t.prismaField({
    type: 'Instance',
    description: 'Deploys an integration to a customer. One instance per (integration, customer).',
    authScopes: { orgWrite: true },
    errors: { types: mutationErrors },
    args: { input: t.arg({ type: InstanceInput, required: true }) },
    resolve: (query, _root, args, ctx) =>
      mutateAndLoad(
        ctx,
        query,
        'Instance',
        (op) =>
          createInstance(op, {
            ...args.input,
            integrationId: decodeId('Integration', args.input.integrationId),
            customerId: decodeId('Customer', args.input.customerId),
          }),
        { input: 'input' },
      ),
  }),
  updateInstance: t.prismaField({
    type: 'Instance',
    authScopes: { orgWrite: true },
    errors: { types: mutationErrors },
    args: {
      id: t.arg.id({ required: true }),
      patch: t.arg({ type: InstancePatch, required: true }),
    },
    resolve: (query, _root, args, ctx) =>
      mutateAndLoad(ctx, query, 'Instance', (op) => updateInstance(op, decodeId('Instance', args.id), args.patch), { input: 'patch' }),
  }),
  deleteInstance: deleteField(t, {
    typename: 'Instance',
    description: 'Removes an instance. Returns its global id.',
    authScopes: { orgWrite: true },
    remove: deleteInstance,
  }),
}));
