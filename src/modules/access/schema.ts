import type { Principal } from '../../auth/principal.js';
import { decodeId, decodeIdOrRaw, rawId } from '../../ids.js';
import { builder } from '../../schema/builder.js';
import { scopedNode } from '../../schema/nodes.js';
import { mutationErrors } from '../../schema/errors.js';
import { mutate, mutateAndLoad } from '../../schema/mutations.js';
import { customerWhere } from '../tenancy/scope.js';
import { apiKeyWhere, embedKeyWhere } from './scope.js';
import { createApiKey, issueRuntimeToken, registerEmbedSigningKey, revokeApiKey, revokeEmbedSigningKey } from './service.js';

/**
 * Who you are (`viewer`), and the org's credentials of access: API keys,
 * embed signing keys, runtime tokens. Authentication itself (bearer →
 * principal) is in src/auth/.
 */

// ───────────────────────────── viewer ─────────────────────────────

const PrincipalKind = builder.enumType('PrincipalKind', {
  values: {
    ORG_USER: { description: "A person of the vendor's organization (admin UI)." },
    API_KEY: { description: "The vendor's backend automation." },
    CUSTOMER_USER: { description: "A customer's user in the embedded workflow builder." },
    RUNTIME: { description: 'The step runtime, scoped to one customer.' },
  } as const,
});

const Viewer = builder.objectRef<Principal>('Viewer').implement({
  description: 'Who the current credential authenticates as.',
  fields: (t) => ({
    kind: t.field({ type: PrincipalKind, resolve: (p) => p.kind }),
    id: t.exposeID('id', { description: 'Id of the user, API key or token.' }),
    organization: t.prismaField({
      type: 'Organization',
      resolve: (query, p, _args, ctx) => ctx.prisma.organization.findUniqueOrThrow({ ...query, where: { id: p.orgId } }),
    }),
    customer: t.prismaField({
      type: 'Customer',
      nullable: true,
      description: 'The customer a customer user or runtime token belongs to.',
      resolve: (query, p, _args, ctx) =>
        p.kind === 'CUSTOMER_USER' || p.kind === 'RUNTIME'
          ? ctx.prisma.customer.findFirst({ ...query, where: customerWhere(p) })
          : null,
    }),
    orgUser: t.prismaField({
      type: 'OrgUser',
      nullable: true,
      resolve: (query, p, _args, ctx) =>
        p.kind === 'ORG_USER' ? ctx.prisma.orgUser.findUnique({ ...query, where: { id: p.id } }) : null,
    }),
    readOnly: t.boolean({ resolve: (p) => p.kind === 'API_KEY' && p.readOnly }),
    proxyOnly: t.boolean({ description: 'A runtime token that may only call APIs through the proxy.', resolve: (p) => p.kind === 'RUNTIME' && p.proxyOnly }),
    expiresAt: t.field({
      type: 'DateTime',
      nullable: true,
      resolve: (p) => (p.kind === 'CUSTOMER_USER' || p.kind === 'RUNTIME' ? p.expiresAt : null),
    }),
  }),
});

builder.queryField('viewer', (t) =>
  t.field({
    type: Viewer,
    description: 'Who you are. Fails with UNAUTHENTICATED without a valid credential.',
    authScopes: { authenticated: true },
    resolve: (_root, _args, ctx) => ctx.principal!,
  }),
);

// ───────────────────────────── API keys ─────────────────────────────

export const ApiKeyRef = builder.prismaNode('ApiKey', {
  ...scopedNode(apiKeyWhere),
  authScopes: { org: true },
  description: 'An API key of your organization (never its secret).',
  fields: (t) => ({
    keyId: t.exposeString('id', { description: 'The raw key id, as recorded in audit events (`principalId`).' }),
    name: t.exposeString('name'),
    prefix: t.exposeString('prefix', { description: 'First characters of the secret, to recognise the key.' }),
    readOnly: t.exposeBoolean('readOnly', { description: 'The key may read but not change anything.' }),
    noCredentialWrites: t.exposeBoolean('noCredentialWrites', {
      description: 'The key may change configuration but not write credential values.',
    }),
    credentialReads: t.exposeBoolean('credentialReads', {
      description:
        'The key may read decrypted credentials through the Nango-compatible routes (`GET /connections/:connectionId`); without it they answer metadata and status only.',
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    lastUsedAt: t.expose('lastUsedAt', {
      type: 'DateTime',
      nullable: true,
      description: 'Last authentication with this key (refreshed at most once a minute).',
    }),
    revokedAt: t.expose('revokedAt', { type: 'DateTime', nullable: true }),
  }),
});

const CreatedApiKey = builder.objectRef<{ secret: string; key: { id: string } }>('CreatedApiKey').implement({
  description: 'A new API key with its secret. The secret is shown only here, once; store it now.',
  fields: (t) => ({
    secret: t.exposeString('secret', { description: 'Send as `Authorization: Bearer <secret>`.' }),
    apiKey: t.prismaField({
      type: 'ApiKey',
      resolve: (query, parent, _args, ctx) => ctx.prisma.apiKey.findUniqueOrThrow({ ...query, where: { id: parent.key.id } }),
    }),
  }),
});

const CreateApiKeyInput = builder.inputType('CreateApiKeyInput', {
  fields: (t) => ({
    name: t.string({ required: true }),
    readOnly: t.boolean({ description: 'Default false.' }),
    noCredentialWrites: t.boolean({ description: 'Default false.' }),
    credentialReads: t.boolean({
      description:
        "Default false. The key may read decrypted credentials through the Nango-compatible routes (like Nango's `read_credentials`); only a signed-in org admin may set it.",
    }),
  }),
});

// ───────────────────────────── embed signing keys, runtime tokens ─────────────────────────────

const RuntimeToken = builder.objectRef<{ token: string; expiresAt: Date }>('RuntimeToken').implement({
  description: 'A bearer token for the step runtime of one customer. Shown once.',
  fields: (t) => ({
    token: t.exposeString('token'),
    expiresAt: t.expose('expiresAt', { type: 'DateTime' }),
  }),
});

builder.prismaObject('EmbedSigningKey', {
  description: "A public key your backend signs embedded customer-user tokens with (RS256 or ES256, `kid` = this key's keyId).",
  fields: (t) => ({
    keyId: t.exposeString('id'),
    alg: t.exposeString('alg'),
    publicKey: t.exposeString('publicKey'),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    revokedAt: t.expose('revokedAt', { type: 'DateTime', nullable: true }),
  }),
});

// ───────────────────────────── queries, mutations ─────────────────────────────

builder.queryFields((t) => ({
  apiKeys: t.prismaField({
    type: ['ApiKey'],
    description: "Your organization's API keys, newest first (revoked ones included unless `includeRevoked: false`).",
    authScopes: { org: true },
    args: { includeRevoked: t.arg.boolean({ defaultValue: true }) },
    resolve: (query, _root, args, ctx) =>
      ctx.prisma.apiKey.findMany({
        ...query,
        where: { ...apiKeyWhere(ctx.principal), ...(args.includeRevoked === false ? { revokedAt: null } : {}) },
        orderBy: [{ createdAt: 'desc' }, { id: 'asc' }],
      }),
  }),
  embedSigningKeys: t.prismaField({
    type: ['EmbedSigningKey'],
    authScopes: { org: true },
    resolve: (query, _root, _args, ctx) =>
      ctx.prisma.embedSigningKey.findMany({ ...query, where: embedKeyWhere(ctx.principal), orderBy: { createdAt: 'asc' } }),
  }),
}));

builder.mutationFields((t) => ({
  createApiKey: t.field({
    type: CreatedApiKey,
    description: 'Creates an API key and returns its secret once. An API key may only create keys at least as limited as itself.',
    authScopes: { orgWrite: true },
    errors: { types: mutationErrors },
    args: { input: t.arg({ type: CreateApiKeyInput, required: true }) },
    resolve: (_root, args, ctx) => mutate(ctx, (op) => createApiKey(op, args.input), { input: 'input' }),
  }),
  revokeApiKey: t.prismaField({
    type: 'ApiKey',
    description: 'Revokes an API key (by its global `id` or its `keyId`): it stops working at once, on every instance. Idempotent.',
    authScopes: { orgWrite: true },
    errors: { types: mutationErrors },
    args: { id: t.arg.id({ required: true }) },
    resolve: (query, _root, args, ctx) => mutateAndLoad(ctx, query, 'ApiKey', (op) => revokeApiKey(op, decodeIdOrRaw('ApiKey', args.id))),
  }),
  issueRuntimeToken: t.field({
    type: RuntimeToken,
    description:
      'Issues a runtime token for one customer (optionally bound to one of its instances or workflows). It reads credentials decrypted: ' +
      'keys limited to noCredentialWrites may not issue one.',
    authScopes: { credentialWrite: true },
    errors: { types: mutationErrors },
    args: {
      customerId: t.arg.id({ required: true }),
      ttlSeconds: t.arg.int({ description: 'Lifetime, 60 s to 24 h; default 1 h.' }),
      instanceId: t.arg.id(),
      workflowId: t.arg.id(),
      proxyOnly: t.arg.boolean({ description: 'The token calls APIs through the proxy (`/proxy/…`) and never reads a credential: resolution answers PROXY_ONLY. Default false.' }),
    },
    resolve: (_root, args, ctx) =>
      mutate(ctx, (op) => issueRuntimeToken(op, { ...args, customerId: decodeId('Customer', args.customerId) })),
  }),
  registerEmbedSigningKey: t.prismaField({
    type: 'EmbedSigningKey',
    description:
      'Registers a public key (SPKI PEM) for verifying embedded customer-user tokens. Its users set their own credentials: ' +
      'keys limited to noCredentialWrites may not register one.',
    authScopes: { credentialWrite: true },
    errors: { types: mutationErrors },
    args: {
      publicKey: t.arg.string({ required: true }),
      alg: t.arg.string({ required: true, description: 'RS256 or ES256' }),
    },
    resolve: (query, _root, args, ctx) => mutateAndLoad(ctx, query, 'EmbedSigningKey', (op) => registerEmbedSigningKey(op, args)),
  }),
  revokeEmbedSigningKey: t.prismaField({
    type: 'EmbedSigningKey',
    authScopes: { orgWrite: true },
    errors: { types: mutationErrors },
    args: { keyId: t.arg.string({ required: true }) },
    resolve: (query, _root, args, ctx) =>
      mutateAndLoad(ctx, query, 'EmbedSigningKey', (op) => revokeEmbedSigningKey(op, rawId(args.keyId))),
  }),
}));
