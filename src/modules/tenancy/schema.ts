import { decodeId } from '../../ids.js';
import { stripUndefined } from '../../validation.js';
import type { Context } from '../../context.js';
import type { Prisma } from '../../generated/prisma/client.js';
import { builder } from '../../schema/builder.js';
import { listReads } from '../../schema/list-reads.js';
import { scopedNode } from '../../schema/nodes.js';
import { mutationErrors } from '../../schema/errors.js';
import { deleteField, mutateAndLoad } from '../../schema/mutations.js';
import { customerWhere, orgOwned, orgWhere } from './scope.js';
import { createCustomer, deleteCustomer, updateCustomer, updateOrganizationSettings, upsertCustomer } from './service.js';

// ───────────────────────────── types ─────────────────────────────

export const OrganizationRef = builder.prismaNode('Organization', {
  ...scopedNode(orgWhere),
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

const OrganizationSettingsRef = builder.objectRef<{ oauthRedirectOrigins: string[]; allowProxyBaseUrlOverride: boolean }>('OrganizationSettings').implement({
  description: "The organization's settings (organization principals only).",
  fields: (t) => ({
    oauthRedirectOrigins: t.exposeStringList('oauthRedirectOrigins', {
      description: 'Origins an OAuth2 flow may send the browser back to (`successUrl`, `failureUrl` of startOAuthAuthorization).',
    }),
    allowProxyBaseUrlOverride: t.exposeBoolean('allowProxyBaseUrlOverride', {
      description: "Proxy calls may send a connection's credential to any base URL they name (`Base-Url-Override`); otherwise only to the connector's own origin.",
    }),
  }),
});

const BrandingRef = builder.objectRef<{ logoUrl: string | null; primaryColor: string | null; backgroundColor: string | null }>('Branding').implement({
  description: "How the hosted Connect page looks for the organization's customers (null: the page's defaults).",
  fields: (t) => ({
    logoUrl: t.exposeString('logoUrl', { nullable: true }),
    primaryColor: t.exposeString('primaryColor', { nullable: true, description: '#rrggbb: buttons, links, focus rings.' }),
    backgroundColor: t.exposeString('backgroundColor', { nullable: true, description: '#rrggbb: the page background.' }),
  }),
});

builder.prismaObjectFields('Organization', (t) => ({
  branding: t.field({
    type: BrandingRef,
    description: 'Anyone of the organization may read it (customer users: the Connect page).',
    authScopes: { authenticated: true },
    select: { brandLogoUrl: true, brandPrimaryColor: true, brandBackgroundColor: true },
    resolve: (o) => ({ logoUrl: o.brandLogoUrl, primaryColor: o.brandPrimaryColor, backgroundColor: o.brandBackgroundColor }),
  }),
  settings: t.field({
    type: OrganizationSettingsRef,
    authScopes: { org: true },
    select: { oauthRedirectOrigins: true, allowProxyBaseUrlOverride: true },
    resolve: (o) => ({ oauthRedirectOrigins: o.oauthRedirectOrigins, allowProxyBaseUrlOverride: o.allowProxyBaseUrlOverride }),
  }),
}));

export const OrgUserRef = builder.prismaNode('OrgUser', {
  ...scopedNode(orgOwned),
  authScopes: { org: true },
  fields: (t) => ({
    email: t.exposeString('email'),
    name: t.exposeString('name'),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

export const CustomerRef = builder.prismaNode('Customer', {
  ...scopedNode(customerWhere),
  // Select mode (see schema/builder.ts): the columns lists show, read by plain resolvers; the rest per field.
  select: { id: true, externalId: true, name: true },
  authScopes: { authenticated: true },
  fields: (t) => ({
    externalId: t.string({ description: "The vendor's own id for this customer.", resolve: (c) => c.externalId }),
    name: t.string({ resolve: (c) => c.name }),
    description: t.exposeString('description'),
    metadata: t.expose('metadata', {
      type: 'JSON',
      authScopes: { org: true },
      description: "The organization's own notes on the customer: organization principals only.",
    }),
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
  ...scopedNode(orgOwned),
  authScopes: { org: true },
  fields: (t) => ({
    externalId: t.exposeString('externalId'),
    email: t.exposeString('email', { nullable: true }),
    name: t.exposeString('name', { nullable: true }),
    customer: t.relation('customer'),
    lastSeenAt: t.expose('lastSeenAt', { type: 'DateTime' }),
  }),
});

// The hot list path (schema/list-reads.ts) reads these fields as their columns.
listReads.columns('Customer', ['externalId', 'name', 'description', 'createdAt', 'updatedAt']);

builder.prismaObjectFields('Organization', (t) => ({
  customers: t.relatedConnection('customers', {
    cursor: 'id',
    authScopes: { org: true },
    query: () => ({ orderBy: { createdAt: 'asc' } }),
  }),
}));

const CustomerInput = builder.inputType('CustomerInput', {
  fields: (t) => ({
    externalId: t.string({ required: true, description: "The vendor's own id; unique per organization." }),
    name: t.string({ required: true }),
    description: t.string(),
    metadata: t.field({ type: 'JSON' }),
  }),
});

const OrganizationSettingsInput = builder.inputType('OrganizationSettingsInput', {
  description: 'Settings to change; absent ones are kept.',
  fields: (t) => ({
    oauthRedirectOrigins: t.stringList({ description: 'scheme://host[:port] of the pages OAuth2 flows may return to; replaces the list.' }),
    brandLogoUrl: t.string({ description: 'Connect page logo: an https URL or a data:image/…;base64 URL; null clears it.' }),
    brandPrimaryColor: t.string({ description: 'Connect page accent colour, #rrggbb; null clears it.' }),
    brandBackgroundColor: t.string({ description: 'Connect page background colour, #rrggbb; null clears it.' }),
    allowProxyBaseUrlOverride: t.boolean({
      description: "Let proxy calls send a connection's credential to any base URL they name (`Base-Url-Override`), still under the outbound policy. Turning it on is a credential write.",
    }),
  }),
});

const CustomerPatch = builder.inputType('CustomerPatch', {
  fields: (t) => ({
    name: t.string(),
    description: t.string(),
    metadata: t.field({ type: 'JSON' }),
  }),
});

// ───────────────────────────── queries ─────────────────────────────

/** The rows of `customers`: this module's filter, the search, the order (the Pothos field and the hot list path alike). */
function customersQuery(args: { search?: string | null }, ctx: Context) {
  const where: Prisma.CustomerWhereInput = {
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
  };
  return { where, orderBy: { createdAt: 'asc' } as const };
}
listReads.list('Query', 'customers', customersQuery);

builder.queryFields((t) => ({
  customers: t.prismaConnection({
    type: 'Customer',
    cursor: 'id',
    description: 'Customers of your organization. Customer users and runtimes see only their own.',
    authScopes: { authenticated: true },
    args: {
      search: t.arg.string({ description: 'Case-insensitive match on name or externalId.' }),
    },
    resolve: (query, _root, args, ctx) => ctx.prisma.customer.findMany({ ...query, ...customersQuery(args, ctx) }),
  }),
  customer: t.prismaField({
    type: 'Customer',
    nullable: true,
    description: 'A customer by id, or null if it does not exist or is not yours to see.',
    authScopes: { authenticated: true },
    args: { id: t.arg.id({ required: true }) },
    resolve: (query, _root, args, ctx) =>
      ctx.prisma.customer.findFirst({ ...query, where: { id: decodeId('Customer', args.id), AND: [customerWhere(ctx.principal)] } }),
  }),
  customerByExternalId: t.prismaField({
    type: 'Customer',
    nullable: true,
    authScopes: { authenticated: true },
    args: { externalId: t.arg.string({ required: true }) },
    resolve: (query, _root, args, ctx) =>
      ctx.prisma.customer.findFirst({ ...query, where: { externalId: args.externalId, AND: [customerWhere(ctx.principal)] } }),
  }),
}));

// ───────────────────────────── mutations ─────────────────────────────

builder.mutationFields((t) => ({
  updateOrganizationSettings: t.prismaField({
    type: 'Organization',
    description: "Changes your organization's settings.",
    authScopes: { orgWrite: true },
    errors: { types: mutationErrors },
    args: { input: t.arg({ type: OrganizationSettingsInput, required: true }) },
    resolve: (query, _root, args, ctx) =>
      mutateAndLoad(ctx, query, 'Organization', async (op) => updateOrganizationSettings(op, stripUndefined(args.input)), { input: 'input' }),
  }),
  createCustomer: t.prismaField({
    type: 'Customer',
    authScopes: { orgWrite: true },
    errors: { types: mutationErrors },
    args: { input: t.arg({ type: CustomerInput, required: true }) },
    resolve: (query, _root, args, ctx) =>
      mutateAndLoad(ctx, query, 'Customer', (op) => createCustomer(op, args.input), { input: 'input' }),
  }),
  upsertCustomer: t.prismaField({
    type: 'Customer',
    description: 'Creates the customer with this externalId, or updates it. Safe to repeat.',
    authScopes: { orgWrite: true },
    errors: { types: mutationErrors },
    args: { input: t.arg({ type: CustomerInput, required: true }) },
    resolve: (query, _root, args, ctx) =>
      mutateAndLoad(ctx, query, 'Customer', (op) => upsertCustomer(op, args.input), { input: 'input' }),
  }),
  updateCustomer: t.prismaField({
    type: 'Customer',
    authScopes: { orgWrite: true },
    errors: { types: mutationErrors },
    args: {
      id: t.arg.id({ required: true }),
      patch: t.arg({ type: CustomerPatch, required: true }),
    },
    resolve: (query, _root, args, ctx) =>
      mutateAndLoad(ctx, query, 'Customer', (op) => updateCustomer(op, decodeId('Customer', args.id), args.patch), { input: 'patch' }),
  }),
  deleteCustomer: deleteField(t, {
    typename: 'Customer',
    description: 'Deletes the customer with its users, credential values, instances and workflows. Returns its global id.',
    authScopes: { orgWrite: true },
    remove: deleteCustomer,
  }),
}));
