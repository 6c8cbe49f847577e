import { builder } from '../../schema/builder.js';
import { NO_ROW, customerWhere, orgOwnedWhere, uuidOrNone } from './scope.js';

export const OrganizationRef = builder.prismaNode('Organization', {
  id: { field: 'id' },
  // A principal only ever finds its own organization.
  findUnique: (id, ctx) => ({ id: ctx.principal?.orgId === id ? id : NO_ROW }),
  authScopes: { authenticated: true },
  fields: (t) => ({
    name: t.exposeString('name'),
    slug: t.exposeString('slug'),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    users: t.relatedConnection('users', {
      cursor: 'id',
      authScopes: { org: true },
      query: () => ({ orderBy: { createdAt: 'asc' } }),
    }),
  }),
});

export const OrgUserRef = builder.prismaNode('OrgUser', {
  id: { field: 'id' },
  findUnique: (id, ctx) => ({ id: uuidOrNone(id), ...orgOwnedWhere(ctx.principal) }),
  authScopes: { org: true },
  fields: (t) => ({
    email: t.exposeString('email'),
    name: t.exposeString('name'),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

export const CustomerRef = builder.prismaNode('Customer', {
  id: { field: 'id' },
  findUnique: (id, ctx) => ({ id: uuidOrNone(id), AND: [customerWhere(ctx.principal)] }),
  authScopes: { authenticated: true },
  fields: (t) => ({
    externalId: t.exposeString('externalId', { description: "The vendor's own id for this customer." }),
    name: t.exposeString('name'),
    description: t.exposeString('description'),
    metadata: t.expose('metadata', { type: 'JSON' }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
    users: t.relatedConnection('users', {
      cursor: 'id',
      authScopes: { org: true },
      query: () => ({ orderBy: { createdAt: 'asc' } }),
    }),
  }),
});

export const CustomerUserRef = builder.prismaNode('CustomerUser', {
  id: { field: 'id' },
  findUnique: (id, ctx) => ({ id: uuidOrNone(id), ...orgOwnedWhere(ctx.principal) }),
  authScopes: { org: true },
  fields: (t) => ({
    externalId: t.exposeString('externalId'),
    email: t.exposeString('email', { nullable: true }),
    name: t.exposeString('name', { nullable: true }),
    customer: t.relation('customer'),
    lastSeenAt: t.expose('lastSeenAt', { type: 'DateTime' }),
  }),
});
