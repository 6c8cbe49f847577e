import type { SecretHint } from '../../crypto/secrets.js';
import { builder } from '../../schema/builder.js';
import { UsageRef } from '../../schema/errors.js';
import { uuidOrNone } from '../tenancy/scope.js';
import { CustomerRef } from '../tenancy/types.js';
import { parseFieldDefs, type FieldDef } from './fields.js';
import { connectionWhere, connectorWhere, valueWhere } from './scope.js';
import { connectionUsage, type OAuth2Settings, type TestRequest } from './service.js';

export const AuthTypeEnum = builder.enumType('AuthType', {
  values: ['OAUTH2', 'SECRET_TEXT', 'BASIC_AUTH', 'CUSTOM_AUTH', 'NO_AUTH'] as const,
});

export const ConnectionTypeEnum = builder.enumType('ConnectionType', {
  values: {
    CUSTOMER_ACTIVATED: { description: 'Each customer enters its own credentials (or runs the OAuth2 flow) once.' },
    ORG_ACTIVATED_CUSTOMER: { description: 'Per-customer credentials the organization provides; customers never see them.' },
    ORG_ACTIVATED_GLOBAL: { description: 'One credential owned by the organization, shared by all (or allow-listed) customers.' },
  } as const,
});

export const ValueStatusEnum = builder.enumType('ValueStatus', {
  values: ['PENDING', 'ACTIVE', 'ERROR', 'EXPIRED'] as const,
});

export const ValueKindEnum = builder.enumType('ValueKind', {
  values: {
    CUSTOMER: { description: "One customer's credentials." },
    GLOBAL: { description: 'The single value of a global connection.' },
    TEST: { description: 'Test credentials, used only by the test runner.' },
  } as const,
});

export const FieldTypeEnum = builder.enumType('FieldType', {
  values: ['STRING', 'TEXT', 'NUMBER', 'BOOLEAN', 'URL', 'EMAIL', 'JSON'] as const,
});

const FieldDefinition = builder.objectRef<FieldDef>('FieldDefinition').implement({
  description: 'An input field of a connector.',
  fields: (t) => ({
    key: t.exposeString('key'),
    label: t.exposeString('label'),
    type: t.field({ type: FieldTypeEnum, resolve: (f) => f.type }),
    required: t.exposeBoolean('required'),
    secret: t.exposeBoolean('secret', { description: 'Write-only: reads show only whether it is set.' }),
    default: t.field({ type: 'JSON', nullable: true, resolve: (f) => f.default ?? null }),
    description: t.string({ nullable: true, resolve: (f) => f.description ?? null }),
  }),
});

const OAuth2SettingsRef = builder.objectRef<OAuth2Settings & { hasClientSecret: boolean }>('OAuth2Settings').implement({
  fields: (t) => ({
    grantType: t.exposeString('grantType'),
    authorizeUrl: t.exposeString('authorizeUrl', { nullable: true }),
    tokenUrl: t.exposeString('tokenUrl'),
    scopes: t.exposeStringList('scopes'),
    clientId: t.exposeString('clientId'),
    pkce: t.exposeBoolean('pkce'),
    hasClientSecret: t.exposeBoolean('hasClientSecret', { description: 'The client secret itself is write-only.' }),
  }),
});

const TestRequestRef = builder.objectRef<TestRequest>('TestRequest').implement({
  fields: (t) => ({
    method: t.exposeString('method'),
    url: t.exposeString('url'),
    headers: t.field({ type: 'JSON', resolve: (r) => r.headers }),
    expectStatus: t.exposeIntList('expectStatus', { nullable: true }),
  }),
});

const SecretHintRef = builder.objectRef<SecretHint & { key: string }>('SecretHint').implement({
  description: 'A secret field, masked: whether it is set and, for long secrets, its last 4 characters.',
  fields: (t) => ({
    key: t.exposeString('key'),
    set: t.exposeBoolean('set'),
    last4: t.exposeString('last4', { nullable: true }),
  }),
});

export const ConnectorRef = builder.prismaNode('Connector', {
  id: { field: 'id' },
  findUnique: (id, ctx) => ({ id: uuidOrNone(id), AND: [connectorWhere(ctx.principal)] }),
  authScopes: { authenticated: true },
  fields: (t) => ({
    key: t.exposeString('key', { description: 'Stable key, the same in every tenant.' }),
    name: t.exposeString('name'),
    description: t.exposeString('description'),
    authType: t.field({ type: AuthTypeEnum, resolve: (c) => c.authType }),
    fields: t.field({ type: [FieldDefinition], resolve: (c) => parseFieldDefs(c.fields) }),
    oauth2: t.field({
      type: OAuth2SettingsRef,
      nullable: true,
      resolve: (c) => (c.oauth2 ? { ...(c.oauth2 as OAuth2Settings), hasClientSecret: !!c.oauthClientSecret } : null),
    }),
    testRequest: t.field({
      type: TestRequestRef,
      nullable: true,
      authScopes: { org: true },
      resolve: (c) => (c.testRequest as TestRequest | null) ?? null,
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
    connections: t.relatedConnection('connections', {
      cursor: 'id',
      authScopes: { org: true },
      query: (_args, ctx) => ({ where: connectionWhere(ctx.principal), orderBy: { createdAt: 'asc' } }),
    }),
  }),
});

export const ConnectionRef = builder.prismaNode('Connection', {
  id: { field: 'id' },
  findUnique: (id, ctx) => ({ id: uuidOrNone(id), AND: [connectionWhere(ctx.principal)] }),
  authScopes: { authenticated: true },
  fields: (t) => ({
    stableKey: t.exposeString('stableKey', { description: 'Immutable; the same key in every tenant.' }),
    name: t.exposeString('name'),
    description: t.exposeString('description'),
    type: t.field({ type: ConnectionTypeEnum, resolve: (c) => c.type }),
    availableInWorkflows: t.exposeBoolean('availableInWorkflows'),
    restrictToAllowList: t.exposeBoolean('restrictToAllowList', { authScopes: { org: true } }),
    externalId: t.exposeString('externalId', { nullable: true, authScopes: { org: true } }),
    metadata: t.expose('metadata', { type: 'JSON', authScopes: { org: true } }),
    archivedAt: t.expose('archivedAt', { type: 'DateTime', nullable: true }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
    connector: t.relation('connector'),
    values: t.relatedConnection('values', {
      cursor: 'id',
      authScopes: { org: true },
      description: 'Per-customer and global values (test value excluded), masked.',
      args: {
        status: t.arg({ type: ValueStatusEnum }),
        customerId: t.arg.globalID({ for: CustomerRef }),
      },
      query: (args, ctx) => ({
        where: {
          AND: [
            valueWhere(ctx.principal),
            { kind: { not: 'TEST' } },
            args.status ? { status: args.status } : {},
            args.customerId ? { customerId: uuidOrNone(args.customerId.id) } : {},
          ],
        },
        orderBy: { createdAt: 'asc' },
      }),
    }),
    testValue: t.prismaField({
      type: 'ConnectionValue',
      nullable: true,
      authScopes: { org: true },
      resolve: (query, c, _args, ctx) =>
        ctx.prisma.connectionValue.findUnique({ ...query, where: { connectionId_slot: { connectionId: c.id, slot: 'TEST' } } }),
    }),
    globalValue: t.prismaField({
      type: 'ConnectionValue',
      nullable: true,
      authScopes: { org: true },
      resolve: (query, c, _args, ctx) =>
        ctx.prisma.connectionValue.findUnique({ ...query, where: { connectionId_slot: { connectionId: c.id, slot: 'GLOBAL' } } }),
    }),
    myValue: t.prismaField({
      type: 'ConnectionValue',
      nullable: true,
      description: "A customer user's own value of this connection.",
      authScopes: { customerUser: true },
      resolve: (query, c, _args, ctx) =>
        ctx.principal?.kind === 'CUSTOMER_USER'
          ? ctx.prisma.connectionValue.findFirst({
              ...query,
              where: { connectionId: c.id, slot: ctx.principal.customerId, AND: [valueWhere(ctx.principal)] },
            })
          : null,
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
      resolve: (c, _args, ctx) => connectionUsage(ctx.prisma, c.id),
    }),
  }),
});

builder.prismaObject('GlobalAllowance', {
  fields: (t) => ({
    customer: t.relation('customer'),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

export const ConnectionValueRef = builder.prismaNode('ConnectionValue', {
  id: { field: 'id' },
  findUnique: (id, ctx) => ({ id: uuidOrNone(id), AND: [valueWhere(ctx.principal)] }),
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
      resolve: (v) => v.fields,
    }),
    secrets: t.field({
      type: [SecretHintRef],
      resolve: (v) =>
        Object.entries(v.secretHints as unknown as Record<string, SecretHint>).map(([key, h]) => ({ key, ...h })),
    }),
    connection: t.relation('connection'),
    customer: t.relation('customer', { nullable: true }),
  }),
});

// Relations into this module from tenancy types (kept here so tenancy does not depend on connections).
builder.prismaObjectFields('Customer', (t) => ({
  connectionValues: t.relatedConnection('connectionValues', {
    cursor: 'id',
    description: "This customer's credential values (masked) that the caller may see.",
    args: { status: t.arg({ type: ValueStatusEnum }) },
    query: (args, ctx) => ({
      where: { AND: [valueWhere(ctx.principal), args.status ? { status: args.status } : {}] },
      orderBy: { createdAt: 'asc' },
    }),
  }),
}));

builder.prismaObjectFields('Organization', (t) => ({
  customers: t.relatedConnection('customers', {
    cursor: 'id',
    authScopes: { org: true },
    query: () => ({ orderBy: { createdAt: 'asc' } }),
  }),
  connectors: t.relatedConnection('connectors', {
    cursor: 'id',
    authScopes: { org: true },
    query: () => ({ orderBy: { createdAt: 'asc' } }),
  }),
  connections: t.relatedConnection('connections', {
    cursor: 'id',
    authScopes: { org: true },
    query: () => ({ orderBy: { createdAt: 'asc' } }),
  }),
}));
