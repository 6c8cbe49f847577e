import type { Principal } from '../../auth/principal.js';
import { transaction } from '../../db/transaction.js';
import type { Prisma } from '../../generated/prisma/client.js';
import { NotFoundError } from '../../errors.js';
import { builder } from '../../schema/builder.js';
import { mutationErrors } from '../../schema/errors.js';
import { stripUndefined } from '../../validation.js';
import { audit } from '../audit/audit.js';
import { orgOwnedWhere, uuidOrNone } from '../tenancy/scope.js';
import { connectorWhere } from './scope.js';
import { createConnector, deleteConnector, updateConnector, upsertConnector } from './service.js';
import { AuthTypeEnum, ConnectorRef, FieldTypeEnum } from './types.js';

const FieldDefinitionInput = builder.inputType('FieldDefinitionInput', {
  fields: (t) => ({
    key: t.string({ required: true }),
    label: t.string({ required: true }),
    type: t.field({ type: FieldTypeEnum, required: true }),
    required: t.boolean({ defaultValue: false }),
    secret: t.boolean({ defaultValue: false, description: 'Write-only; encrypted at rest.' }),
    default: t.field({ type: 'JSON' }),
    description: t.string(),
  }),
});

const OAuth2SettingsInput = builder.inputType('OAuth2SettingsInput', {
  fields: (t) => ({
    grantType: t.string({ description: '`authorization_code` (default) or `client_credentials`.' }),
    authorizeUrl: t.string(),
    tokenUrl: t.string({ required: true }),
    scopes: t.stringList(),
    clientId: t.string({ required: true }),
    pkce: t.boolean({ defaultValue: true }),
    audience: t.string(),
    extraAuthorizeParams: t.field({ type: 'JSON' }),
  }),
});

const TestRequestInput = builder.inputType('TestRequestInput', {
  description: 'A request that proves credentials work. Strings may use `{{field}}` placeholders.',
  fields: (t) => ({
    method: t.string({ defaultValue: 'GET' }),
    url: t.string({ required: true }),
    headers: t.field({ type: 'JSON' }),
    body: t.string(),
    expectStatus: t.intList(),
  }),
});

const ConnectorInput = builder.inputType('ConnectorInput', {
  fields: (t) => ({
    key: t.string({ required: true, description: 'Stable key, unique per organization.' }),
    name: t.string({ required: true }),
    description: t.string(),
    authType: t.field({ type: AuthTypeEnum, required: true }),
    fields: t.field({ type: [FieldDefinitionInput] }),
    oauth2: t.field({ type: OAuth2SettingsInput }),
    oauthClientSecret: t.string({ description: 'Write-only; encrypted at rest.' }),
    testRequest: t.field({ type: TestRequestInput }),
  }),
});

const ConnectorPatch = builder.inputType('ConnectorPatch', {
  fields: (t) => ({
    name: t.string(),
    description: t.string(),
    authType: t.field({ type: AuthTypeEnum }),
    fields: t.field({ type: [FieldDefinitionInput] }),
    oauth2: t.field({ type: OAuth2SettingsInput }),
    oauthClientSecret: t.string({ description: 'Write-only; null clears it.' }),
    testRequest: t.field({ type: TestRequestInput }),
  }),
});


builder.queryFields((t) => ({
  connectors: t.prismaConnection({
    type: 'Connector',
    cursor: 'id',
    authScopes: { org: true, customerUser: true },
    description: 'Connectors. Customer users see those of connections they may configure.',
    args: {
      search: t.arg.string({ description: 'Case-insensitive match on name or key.' }),
      authType: t.arg({ type: AuthTypeEnum }),
    },
    resolve: (query, _root, args, ctx) =>
      ctx.prisma.connector.findMany({
        ...query,
        where: {
          AND: [
            connectorWhere(ctx.principal),
            args.authType ? { authType: args.authType } : {},
            args.search
              ? { OR: [{ name: { contains: args.search, mode: 'insensitive' } }, { key: { contains: args.search, mode: 'insensitive' } }] }
              : {},
          ],
        },
        orderBy: { createdAt: 'asc' },
      }),
  }),
  connector: t.prismaField({
    type: 'Connector',
    nullable: true,
    authScopes: { org: true, customerUser: true },
    args: { id: t.arg.globalID({ required: true, for: ConnectorRef }) },
    resolve: (query, _root, args, ctx) =>
      ctx.prisma.connector.findFirst({ ...query, where: { id: uuidOrNone(args.id.id), AND: [connectorWhere(ctx.principal)] } }),
  }),
  connectorByKey: t.prismaField({
    type: 'Connector',
    nullable: true,
    authScopes: { org: true, customerUser: true },
    args: { key: t.arg.string({ required: true }) },
    resolve: (query, _root, args, ctx) =>
      ctx.prisma.connector.findFirst({ ...query, where: { key: args.key, AND: [connectorWhere(ctx.principal)] } }),
  }),
}));

async function findOwnConnector(tx: Prisma.TransactionClient, ctx: { principal: Principal | null }, id: string) {
  const connector = await tx.connector.findFirst({ where: { id: uuidOrNone(id), ...orgOwnedWhere(ctx.principal) } });
  if (!connector) throw new NotFoundError('Connector');
  return connector;
}

builder.mutationFields((t) => ({
  createConnector: t.prismaField({
    type: 'Connector',
    authScopes: { credentialWrite: true },
    errors: { types: mutationErrors },
    args: { input: t.arg({ type: ConnectorInput, required: true }) },
    resolve: (query, _root, args, ctx) =>
      transaction(ctx, async (tx) => {
        const c = await createConnector(tx, ctx.services.config.keyRing, orgOwnedWhere(ctx.principal).orgId, stripUndefined(args.input));
        await audit(tx, ctx.principal, 'connector.create', 'Connector', c.id);
        return tx.connector.findUniqueOrThrow({ ...query, where: { id: c.id } });
      }),
  }),
  upsertConnector: t.prismaField({
    type: 'Connector',
    description: 'Creates the connector with this key or updates it (automation, tenant sync).',
    authScopes: { credentialWrite: true },
    errors: { types: mutationErrors },
    args: { input: t.arg({ type: ConnectorInput, required: true }) },
    resolve: (query, _root, args, ctx) =>
      transaction(ctx, async (tx) => {
        const c = await upsertConnector(tx, ctx.services.config.keyRing, orgOwnedWhere(ctx.principal).orgId, stripUndefined(args.input));
        await audit(tx, ctx.principal, 'connector.upsert', 'Connector', c.id);
        return tx.connector.findUniqueOrThrow({ ...query, where: { id: c.id } });
      }),
  }),
  updateConnector: t.prismaField({
    type: 'Connector',
    authScopes: { credentialWrite: true },
    errors: { types: mutationErrors },
    args: {
      id: t.arg.globalID({ required: true, for: ConnectorRef }),
      patch: t.arg({ type: ConnectorPatch, required: true }),
    },
    resolve: (query, _root, args, ctx) =>
      transaction(ctx, async (tx) => {
        const existing = await findOwnConnector(tx, ctx, args.id.id);
        const c = await updateConnector(tx, ctx.services.config.keyRing, existing, stripUndefined(args.patch));
        await audit(tx, ctx.principal, 'connector.update', 'Connector', c.id);
        return tx.connector.findUniqueOrThrow({ ...query, where: { id: c.id } });
      }),
  }),
  deleteConnector: t.field({
    type: 'ID',
    description: 'Deletes a connector no connection uses (otherwise IN_USE says which do). Returns its id.',
    authScopes: { orgWrite: true },
    errors: { types: mutationErrors },
    args: { id: t.arg.globalID({ required: true, for: ConnectorRef }) },
    resolve: (_root, args, ctx) =>
      transaction(ctx, async (tx) => {
        const existing = await findOwnConnector(tx, ctx, args.id.id);
        await deleteConnector(tx, existing);
        await audit(tx, ctx.principal, 'connector.delete', 'Connector', existing.id);
        return args.id.id;
      }),
  }),
}));
