import type { Principal } from '../../auth/principal.js';
import type { Connection } from '../../generated/prisma/client.js';
import { builder } from '../../schema/builder.js';
import { connectionWhere } from '../connections/scope.js';
import { uuidOrNone } from '../tenancy/scope.js';
import { ConnectionRef } from '../connections/types.js';
import { readinessLoader, type MissingConnection, type Readiness } from './readiness.js';
import { instanceWhere, integrationWhere } from './scope.js';

/** Whether a principal may see a connection's details (mirrors connectionWhere for loaded rows). */
export function connectionVisible(p: Principal | null, c: Pick<Connection, 'orgId' | 'type' | 'archivedAt'>): boolean {
  if (p?.kind === 'ORG_USER' || p?.kind === 'API_KEY') return p.orgId === c.orgId;
  if (p?.kind === 'CUSTOMER_USER') return p.orgId === c.orgId && c.type === 'CUSTOMER_ACTIVATED' && !c.archivedAt;
  return false;
}

export const IntegrationRef = builder.prismaNode('Integration', {
  id: { field: 'id' },
  description: 'An integration the organization ships; it requires reusable connections.',
  findUnique: (id, ctx) => ({ id: uuidOrNone(id), AND: [integrationWhere(ctx.principal)] }),
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

export const MissingReasonEnum = builder.enumType('MissingReason', {
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
    connection: t.field({
      type: ConnectionRef,
      nullable: true,
      description: 'The connection; null when it is not yours to see (org-activated, for customer users).',
      resolve: (m, _args, ctx) => (connectionVisible(ctx.principal, m.connection) ? m.connection : null),
    }),
    stableKey: t.string({
      nullable: true,
      description: "The connection's stableKey; null when it is not yours to see.",
      resolve: (m, _args, ctx) => (connectionVisible(ctx.principal, m.connection) ? m.connection.stableKey : null),
    }),
  }),
});

const ReadinessRef = builder.objectRef<Readiness>('Readiness').implement({
  fields: (t) => ({
    ready: t.exposeBoolean('ready'),
    missing: t.field({ type: [MissingConnectionRef], resolve: (r) => r.missing }),
  }),
});

export const InstanceRef = builder.prismaNode('Instance', {
  id: { field: 'id' },
  description: 'An integration deployed to one customer.',
  findUnique: (id, ctx) => ({ id: uuidOrNone(id), AND: [instanceWhere(ctx.principal)] }),
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
