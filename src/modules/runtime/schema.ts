import { z } from 'zod';
import type { RuntimePrincipal } from '../../auth/principal.js';
import type { Context } from '../../context.js';
import { encodeId } from '../../ids.js';
import { builder } from '../../schema/builder.js';
import { mutationErrors } from '../../schema/errors.js';
import { parseInput } from '../../validation.js';
import { ConnectionTypeEnum } from '../connections/schema.js';
import { AuthTypeEnum } from '../connectors/schema.js';
import { ValueKindEnum, ValueStatusEnum, valueTargetArgs, valueTargetOf } from '../values/schema.js';
import { DEFAULT_TEST_TIMEOUT_MS, resolveConnection, testConnection, type Resolution, type ResolveBy, type TestOutcome } from './service.js';

/**
 * GraphQL surface of runtime resolution (runtime tokens only). The answer is
 * a union: the decrypted credential, or why not — the runtime needs to tell
 * "ask the customer to authorize again" (EXPIRED) from "retry later" (ERROR)
 * from "not for you" (NOT_PERMITTED) and "no such thing" (NOT_FOUND).
 */
type Resolved = Extract<Resolution, { kind: 'RESOLVED' }>;
type NotFound = Extract<Resolution, { kind: 'NOT_FOUND' }>;
type NotPermitted = Extract<Resolution, { kind: 'NOT_PERMITTED' }>;
type Expired = Extract<Resolution, { kind: 'EXPIRED' }>;
type Failed = Extract<Resolution, { kind: 'ERROR' }>;
type ProxyOnly = Extract<Resolution, { kind: 'PROXY_ONLY' }>;

const ResolutionProblem = builder.interfaceRef<Exclude<Resolution, Resolved>>('ResolutionProblem').implement({
  description: 'Why a connection did not resolve.',
  fields: (t) => ({
    code: t.string({ description: 'NOT_FOUND, NOT_PERMITTED, EXPIRED, ERROR or PROXY_ONLY.', resolve: (r) => r.kind }),
    message: t.exposeString('message'),
  }),
});

const NotFoundReasonEnum = builder.enumType('ResolutionNotFoundReason', {
  values: {
    CONNECTION: { description: 'No such connection (or not visible to this runtime).' },
    VALUE: { description: 'The connection exists but has no active credentials for this customer yet (activate it).' },
  } as const,
});

const ResolvedCredentialRef = builder.objectRef<Resolved>('ResolvedCredential').implement({
  description: 'The decrypted credential, with a fresh OAuth2 access token. For the step runtime only.',
  isTypeOf: (r) => (r as Resolution).kind === 'RESOLVED',
  fields: (t) => ({
    connectionId: t.id({ resolve: (r) => encodeId('Connection', r.connection.id) }),
    stableKey: t.string({ resolve: (r) => r.connection.stableKey }),
    externalId: t.string({ nullable: true, resolve: (r) => r.connection.externalId }),
    name: t.string({ resolve: (r) => r.connection.name }),
    type: t.field({ type: ConnectionTypeEnum, resolve: (r) => r.connection.type }),
    connectorKey: t.string({ resolve: (r) => r.connection.connector.key }),
    authType: t.field({ type: AuthTypeEnum, resolve: (r) => r.connection.connector.authType }),
    valueKind: t.field({ type: ValueKindEnum, description: 'CUSTOMER (own value) or GLOBAL (shared).', resolve: (r) => r.value.kind }),
    fields: t.field({ type: 'JSON', description: 'Non-secret field values.', resolve: (r) => r.fields }),
    secrets: t.field({ type: 'JSON', description: 'Decrypted secret field values.', resolve: (r) => r.secrets }),
    props: t.field({
      type: 'JSON',
      description: "Fields and secrets in one object (Activepieces' `value.props` shape).",
      resolve: (r) => ({ ...r.fields, ...r.secrets }),
    }),
    accessToken: t.string({ nullable: true, description: 'OAuth2 access token (fresh).', resolve: (r) => r.secrets.accessToken ?? null }),
    tokenType: t.string({ nullable: true, resolve: (r) => (typeof r.fields.tokenType === 'string' ? r.fields.tokenType : null) }),
    expiresAt: t.field({ type: 'DateTime', nullable: true, description: 'OAuth2 access-token expiry.', resolve: (r) => r.value.expiresAt }),
  }),
});

const ResolutionNotFoundRef = builder.objectRef<NotFound>('ResolutionNotFound').implement({
  interfaces: [ResolutionProblem],
  isTypeOf: (r) => (r as Resolution).kind === 'NOT_FOUND',
  fields: (t) => ({
    reason: t.field({ type: NotFoundReasonEnum, resolve: (r) => r.reason }),
  }),
});

const ResolutionNotPermittedRef = builder.objectRef<NotPermitted>('ResolutionNotPermitted').implement({
  description: 'The connection exists but this token may not use it (allow-list, instance or workflow binding).',
  interfaces: [ResolutionProblem],
  isTypeOf: (r) => (r as Resolution).kind === 'NOT_PERMITTED',
  fields: (t) => ({
    connectionId: t.id({ resolve: (r) => encodeId('Connection', r.connection.id) }),
  }),
});

const ResolutionExpiredRef = builder.objectRef<Expired>('ResolutionExpired').implement({
  description: 'The authorization expired or was revoked: the credential must be authorized again.',
  interfaces: [ResolutionProblem],
  isTypeOf: (r) => (r as Resolution).kind === 'EXPIRED',
  fields: (t) => ({
    connectionId: t.id({ resolve: (r) => encodeId('Connection', r.connection.id) }),
  }),
});

const ResolutionErrorRef = builder.objectRef<Failed>('ResolutionError').implement({
  description: "The credential is in error (its last error), or a refresh failed; `retryable` says whether trying later may help.",
  interfaces: [ResolutionProblem],
  isTypeOf: (r) => (r as Resolution).kind === 'ERROR',
  fields: (t) => ({
    connectionId: t.id({ resolve: (r) => encodeId('Connection', r.connection.id) }),
    retryable: t.exposeBoolean('retryable'),
  }),
});

const ResolutionProxyOnlyRef = builder.objectRef<ProxyOnly>('ResolutionProxyOnly').implement({
  description:
    'The credential never leaves the gateway: the connection is proxy-only, or the runtime token is. Call the API through `/proxy/…` instead.',
  interfaces: [ResolutionProblem],
  isTypeOf: (r) => (r as Resolution).kind === 'PROXY_ONLY',
  fields: (t) => ({
    connectionId: t.id({ resolve: (r) => encodeId('Connection', r.connection.id) }),
    stableKey: t.string({ description: 'The `Provider-Config-Key` of a proxy call.', resolve: (r) => r.connection.stableKey }),
  }),
});

const ConnectionResolutionUnion = builder.unionType('ConnectionResolution', {
  types: [ResolvedCredentialRef, ResolutionNotFoundRef, ResolutionNotPermittedRef, ResolutionExpiredRef, ResolutionErrorRef, ResolutionProxyOnlyRef],
});

const keySchema = z.string().min(1, 'must not be empty').max(256);

function resolveFor(ctx: Context, by: ResolveBy): Promise<Resolution> {
  // The `runtime` scope guarantees a RUNTIME principal.
  return resolveConnection(ctx.app, ctx.principal as RuntimePrincipal, by);
}

builder.queryFields((t) => ({
  resolveConnection: t.field({
    type: ConnectionResolutionUnion,
    description: "Runtime: the decrypted credential of a connection for the token's customer, by stable key.",
    authScopes: { runtime: true },
    args: { stableKey: t.arg.string({ required: true }) },
    resolve: (_root, args, ctx) => resolveFor(ctx, { stableKey: parseInput(keySchema, args.stableKey, 'stableKey') }),
  }),
  resolveConnectionByExternalId: t.field({
    type: ConnectionResolutionUnion,
    description:
      "Runtime: the same, by the connection's external id (Activepieces' convention `connections.get('<prefix>_' + projectExternalId)`).",
    authScopes: { runtime: true },
    args: { externalId: t.arg.string({ required: true }) },
    resolve: (_root, args, ctx) => resolveFor(ctx, { externalId: parseInput(keySchema, args.externalId, 'externalId') }),
  }),
}));

const TestFailureEnum = builder.enumType('ConnectionTestFailure', {
  values: {
    TIMEOUT: { description: 'No answer within the time limit.' },
    CONNECTION_REFUSED: { description: 'The server refused the connection.' },
    HOST_NOT_FOUND: { description: 'The host name does not resolve.' },
    NETWORK: { description: 'Another network failure, or an invalid URL.' },
    NOT_ALLOWED: { description: "The destination is refused by the gateway's outbound policy (loopback, private, link-local… addresses)." },
    UNEXPECTED_STATUS: { description: 'The server answered with a status the connector does not expect.' },
    CREDENTIAL: { description: 'The credential could not be used (expired authorization, failed refresh, undecryptable).' },
  } as const,
});

const ConnectionTestResult = builder.objectRef<TestOutcome>('ConnectionTestResult').implement({
  description: "Outcome of a test request; also recorded on the value's status.",
  fields: (t) => ({
    ok: t.exposeBoolean('ok'),
    failure: t.field({ type: TestFailureEnum, nullable: true, resolve: (o) => o.failure }),
    httpStatus: t.exposeInt('httpStatus', { nullable: true }),
    message: t.exposeString('message'),
    status: t.field({ type: ValueStatusEnum, description: "The value's status after the test.", resolve: (o) => o.value.status }),
    value: t.prismaField({
      type: 'ConnectionValue',
      resolve: (query, o, _args, ctx) => ctx.prisma.connectionValue.findUniqueOrThrow({ ...query, where: { id: o.value.id } }),
    }),
  }),
});

builder.mutationField('testConnection', (t) =>
  t.field({
    type: ConnectionTestResult,
    description:
      "Runs the connector's test request with one value (a customer's, GLOBAL, or the TEST credentials) and records the outcome " +
      'on its status. Time-outs and refused connections come back as a failed result, never a hang.',
    authScopes: { credentialWrite: true, customerUser: true },
    errors: { types: mutationErrors },
    args: {
      ...valueTargetArgs,
      timeoutMs: t.arg.int({ description: `1000–30000; default ${DEFAULT_TEST_TIMEOUT_MS}.` }),
    },
    resolve: async (_root, args, ctx) => {
      const timeoutMs = parseInput(z.number().int().min(1000).max(30_000).default(DEFAULT_TEST_TIMEOUT_MS), args.timeoutMs ?? undefined, 'timeoutMs');
      const target = await valueTargetOf(ctx.prisma, ctx.principal!, args);
      return testConnection(ctx.app, ctx.principal!, target, timeoutMs);
    },
  }),
);
