import { AuthType } from '../../generated/prisma/enums.js';
import { decodeId } from '../../ids.js';
import { builder } from '../../schema/builder.js';
import { scopedNode } from '../../schema/nodes.js';
import { enumFrom } from '../../schema/enums.js';
import { listReads } from '../../schema/list-reads.js';
import { mutationErrors } from '../../schema/errors.js';
import { deleteField, mutateAndLoad } from '../../schema/mutations.js';
import { stripUndefined } from '../../validation.js';
import { connectionWhere } from '../connections/scope.js';
import { injectionOf, proxySettingsOf, type ProxyInjection, type ProxyRateLimit } from '../proxy/settings.js';
import { FIELD_TYPES, connectorFields, parseFieldDefs, type FieldDef } from './fields.js';
import { connectorWhere } from './scope.js';
import { createConnector, deleteConnector, updateConnector, upsertConnector, type OAuth2Settings, type TestRequest } from './service.js';

// ───────────────────────────── types ─────────────────────────────

export const AuthTypeEnum = enumFrom('AuthType', AuthType);

export const FieldTypeEnum = builder.enumType('FieldType', { values: FIELD_TYPES });

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
    checkIntervalSeconds: t.exposeInt('checkIntervalSeconds', {
      nullable: true,
      description: "How often every value is checked with this request on a schedule (held within the gateway's bounds); null: the gateway's default; 0: never on a schedule.",
    }),
  }),
});

const ProxyRateLimitScopeEnum = builder.enumType('ProxyRateLimitScope', {
  values: {
    VALUE: { description: "One budget per connection value: each customer's credential (or the global one) has its own." },
    CONNECTION: { description: 'One budget for the whole connection, whichever value a call uses.' },
  } as const,
});

const ProxyInjectionRef = builder.objectRef<ProxyInjection>('ProxyInjection').implement({
  description: 'How the proxy adds the credential: header and query templates over the value\'s fields and secrets (`{{field}}`), or HTTP Basic.',
  fields: (t) => ({
    headers: t.field({ type: 'JSON', resolve: (i) => i.headers }),
    query: t.field({ type: 'JSON', resolve: (i) => i.query }),
    basicUsername: t.string({ nullable: true, resolve: (i) => i.basic?.username ?? null }),
    basicPassword: t.string({ nullable: true, description: 'A template (`{{password}}`), never a value.', resolve: (i) => i.basic?.password ?? null }),
  }),
});

const ProxyRateLimitRef = builder.objectRef<ProxyRateLimit>('ProxyRateLimit').implement({
  description: 'A budget shared by every gateway instance: requests per window and requests at once.',
  fields: (t) => ({
    requests: t.exposeInt('requests', { nullable: true, description: 'Requests per window of `intervalSeconds`.' }),
    intervalSeconds: t.exposeInt('intervalSeconds'),
    concurrency: t.exposeInt('concurrency', { nullable: true, description: 'Requests in flight at once.' }),
    per: t.field({ type: ProxyRateLimitScopeEnum, resolve: (r) => r.per }),
    maxWaitMs: t.exposeInt('maxWaitMs', { nullable: true, description: 'How long a call may wait for room before a 429 (default PROXY_MAX_WAIT_MS).' }),
  }),
});

type ProxyView = { baseUrl: string; inject: ProxyInjection | null; injectIsDefault: boolean; rateLimit: ProxyRateLimit | null };

const ProxySettingsRef = builder.objectRef<ProxyView>('ProxySettings').implement({
  description: 'How runtimes call the API through the gateway (`/proxy/…`) with a value\'s credential, which never leaves the gateway.',
  fields: (t) => ({
    baseUrl: t.exposeString('baseUrl', { description: 'A template over the value\'s non-secret fields (`https://{{subdomain}}.example.com/api`).' }),
    inject: t.field({ type: ProxyInjectionRef, nullable: true, description: 'What the proxy sends (the auth type\'s convention unless the connector says).', resolve: (p) => p.inject }),
    injectIsDefault: t.exposeBoolean('injectIsDefault'),
    rateLimit: t.field({ type: ProxyRateLimitRef, nullable: true, resolve: (p) => p.rateLimit }),
  }),
});

export const ConnectorRef = builder.prismaNode('Connector', {
  ...scopedNode(connectorWhere),
  // Select mode: never the sealed client secret unless asked whether one is set.
  select: { id: true, key: true, name: true, authType: true },
  authScopes: { authenticated: true },
  fields: (t) => ({
    key: t.string({ description: 'Stable key, the same in every tenant.', resolve: (c) => c.key }),
    name: t.string({ resolve: (c) => c.name }),
    description: t.exposeString('description'),
    authType: t.field({ type: AuthTypeEnum, resolve: (c) => c.authType }),
    fields: t.field({ type: [FieldDefinition], select: { fields: true }, resolve: (c) => parseFieldDefs(c.fields) }),
    oauth2: t.field({
      type: OAuth2SettingsRef,
      nullable: true,
      authScopes: { org: true },
      description: 'OAuth2 settings: organization principals only (customer users start flows without them).',
      select: { oauth2: true, oauthClientSecret: true },
      resolve: (c) => (c.oauth2 ? { ...(c.oauth2 as OAuth2Settings), hasClientSecret: !!c.oauthClientSecret } : null),
    }),
    testable: t.boolean({
      description: 'Whether "test connection" can run: the connector has a test request (its details: `testRequest`, org principals).',
      select: { testRequest: true },
      resolve: (c) => c.testRequest !== null,
    }),
    testRequest: t.field({
      type: TestRequestRef,
      nullable: true,
      authScopes: { org: true },
      select: { testRequest: true },
      resolve: (c) => (c.testRequest as TestRequest | null) ?? null,
    }),
    proxy: t.field({
      type: ProxySettingsRef,
      nullable: true,
      authScopes: { org: true },
      description: 'Proxy settings: organization principals only.',
      select: { proxy: true, authType: true, fields: true },
      resolve: (c) => {
        const settings = proxySettingsOf(c);
        if (!settings) return null;
        return {
          baseUrl: settings.baseUrl,
          inject: injectionOf(settings, c.authType, connectorFields(c)),
          injectIsDefault: !settings.inject,
          rateLimit: settings.rateLimit ?? null,
        };
      },
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

// The hot list path (schema/list-reads.ts) reads these fields as their columns.
listReads.columns('Connector', ['key', 'name', 'description', 'authType', 'createdAt', 'updatedAt']);

builder.prismaObjectFields('Organization', (t) => ({
  connectors: t.relatedConnection('connectors', {
    cursor: 'id',
    authScopes: { org: true },
    query: () => ({ orderBy: { createdAt: 'asc' } }),
  }),
}));

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
    checkIntervalSeconds: t.int({ description: "How often every value is checked with this request on a schedule (held within the gateway's bounds); absent: the gateway's default; 0: never on a schedule." }),
  }),
});

const ProxyBasicAuthInput = builder.inputType('ProxyBasicAuthInput', {
  fields: (t) => ({
    username: t.string({ required: true, description: 'A template, e.g. `{{username}}`.' }),
    password: t.string({ required: true, description: 'A template, e.g. `{{password}}`.' }),
  }),
});

const ProxyInjectionInput = builder.inputType('ProxyInjectionInput', {
  description: 'Templates over the value\'s fields and secrets (`{{field}}`).',
  fields: (t) => ({
    headers: t.field({ type: 'JSON', description: 'Header name → template, e.g. `{ "X-Api-Key": "{{apiKey}}" }`.' }),
    query: t.field({ type: 'JSON', description: 'Query parameter → template, e.g. `{ "api_key": "{{apiKey}}" }`.' }),
    basic: t.field({ type: ProxyBasicAuthInput, description: '`Authorization: Basic` from a username and a password template.' }),
  }),
});

const ProxyRateLimitInput = builder.inputType('ProxyRateLimitInput', {
  fields: (t) => ({
    requests: t.int({ description: 'Requests per window of `intervalSeconds`.' }),
    intervalSeconds: t.int({ description: 'Default 1.' }),
    concurrency: t.int({ description: 'Requests in flight at once.' }),
    per: t.field({ type: ProxyRateLimitScopeEnum, description: 'Default VALUE.' }),
    maxWaitMs: t.int({ description: 'How long a call may wait for room before a 429 (at most PROXY_MAX_WAIT_MS, the default).' }),
  }),
});

const ProxySettingsInput = builder.inputType('ProxySettingsInput', {
  fields: (t) => ({
    baseUrl: t.string({
      required: true,
      description: 'A template over the value\'s non-secret fields: `https://{{subdomain}}.example.com/api`, or `{{baseUrl}}` for a URL field.',
    }),
    inject: t.field({ type: ProxyInjectionInput, description: 'How the credential is sent. Default: the auth type\'s convention (OAuth2 and a single secret: `Authorization: Bearer`; basic auth: `Authorization: Basic`).' }),
    rateLimit: t.field({ type: ProxyRateLimitInput }),
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
    proxy: t.field({ type: ProxySettingsInput, description: 'How runtimes call the API through the gateway (`/proxy/…`).' }),
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
    proxy: t.field({ type: ProxySettingsInput, description: 'null removes the proxy settings.' }),
  }),
});

// ───────────────────────────── queries ─────────────────────────────

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
    args: { id: t.arg.id({ required: true }) },
    resolve: (query, _root, args, ctx) =>
      ctx.prisma.connector.findFirst({ ...query, where: { id: decodeId('Connector', args.id), AND: [connectorWhere(ctx.principal)] } }),
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

// ───────────────────────────── mutations ─────────────────────────────

builder.mutationFields((t) => ({
  createConnector: t.prismaField({
    type: 'Connector',
    authScopes: { credentialWrite: true },
    errors: { types: mutationErrors },
    args: { input: t.arg({ type: ConnectorInput, required: true }) },
    resolve: (query, _root, args, ctx) =>
      mutateAndLoad(ctx, query, 'Connector', (op) => createConnector(op, stripUndefined(args.input)), { input: 'input' }),
  }),
  upsertConnector: t.prismaField({
    type: 'Connector',
    description: 'Creates the connector with this key or updates it (automation, tenant sync).',
    authScopes: { credentialWrite: true },
    errors: { types: mutationErrors },
    args: { input: t.arg({ type: ConnectorInput, required: true }) },
    resolve: (query, _root, args, ctx) =>
      mutateAndLoad(ctx, query, 'Connector', (op) => upsertConnector(op, stripUndefined(args.input)), { input: 'input' }),
  }),
  updateConnector: t.prismaField({
    type: 'Connector',
    authScopes: { credentialWrite: true },
    errors: { types: mutationErrors },
    args: {
      id: t.arg.id({ required: true }),
      patch: t.arg({ type: ConnectorPatch, required: true }),
    },
    resolve: (query, _root, args, ctx) =>
      mutateAndLoad(ctx, query, 'Connector', (op) => updateConnector(op, decodeId('Connector', args.id), stripUndefined(args.patch)), {
        input: 'patch',
      }),
  }),
  deleteConnector: deleteField(t, {
    typename: 'Connector',
    description: 'Deletes a connector no connection uses (otherwise IN_USE says which do). Returns its global id.',
    authScopes: { orgWrite: true },
    remove: deleteConnector,
  }),
}));
