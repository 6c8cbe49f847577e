import SchemaBuilder from '@pothos/core';
import ComplexityPlugin from '@pothos/plugin-complexity';
import ErrorsPlugin from '@pothos/plugin-errors';
import PrismaPlugin from '@pothos/plugin-prisma';
import RelayPlugin from '@pothos/plugin-relay';
import ScopeAuthPlugin from '@pothos/plugin-scope-auth';
import { DateTimeResolver, JSONResolver } from 'graphql-scalars';
import { canWrite, canWriteCredentials, isOrgPrincipal } from '../auth/principal.js';
import type { Context } from '../context.js';
import { ForbiddenError, QueryTooComplexError, UnauthenticatedError } from '../errors.js';
import type PrismaTypes from '../generated/pothos-prisma-types.js';
import { getDatamodel } from '../generated/pothos-prisma-types.js';

/** The one SchemaBuilder. Modules add their types to it; schema/index.ts builds. */
export const builder = new SchemaBuilder<{
  Context: Context;
  PrismaTypes: PrismaTypes;
  DefaultFieldNullability: false;
  AuthScopes: {
    /** Any principal. */
    authenticated: boolean;
    /** An org user or org API key. */
    org: boolean;
    /** An org principal that may change things (not a read-only key). */
    orgWrite: boolean;
    /** An org principal that may write credentials. */
    credentialWrite: boolean;
    customerUser: boolean;
    runtime: boolean;
  };
  Scalars: {
    DateTime: { Input: Date; Output: Date };
    JSON: { Input: unknown; Output: unknown };
    ID: { Input: string; Output: string | number | bigint };
  };
}>({
  // Scope checks must wrap every other plugin's resolvers.
  plugins: [ScopeAuthPlugin, ErrorsPlugin, PrismaPlugin, RelayPlugin, ComplexityPlugin],
  defaultFieldNullability: false,
  scopeAuth: {
    // Fields are closed unless they say who may use them.
    defaultStrategy: 'any',
    authScopes: (ctx) => ({
      authenticated: ctx.principal !== null,
      org: isOrgPrincipal(ctx.principal),
      orgWrite: canWrite(ctx.principal),
      credentialWrite: canWriteCredentials(ctx.principal),
      customerUser: ctx.principal?.kind === 'CUSTOMER_USER',
      runtime: ctx.principal?.kind === 'RUNTIME',
    }),
    unauthorizedError: (_parent, ctx) =>
      ctx.principal ? new ForbiddenError() : new UnauthenticatedError(),
  },
  prisma: {
    client: (ctx) => ctx.prisma,
    dmmf: getDatamodel(),
    exposeDescriptions: true,
    filterConnectionTotalCount: true,
    onUnusedQuery: null,
  },
  relay: {
    clientMutationId: 'omit',
    cursorType: 'String',
  },
  errors: {
    defaultTypes: [],
  },
  complexity: {
    defaultComplexity: 1,
    defaultListMultiplier: 10,
    limit: (ctx) => ({ complexity: 5000, depth: ctx.services.config.maxDepth, breadth: 200 }),
    complexityError: (kind, r) =>
      new QueryTooComplexError(
        `Query exceeds the maximum ${String(kind).toLowerCase()} (depth ${r.depth}/${r.maxDepth ?? '∞'}, breadth ${r.breadth}/${r.maxBreadth ?? '∞'}, complexity ${r.complexity}/${r.maxComplexity ?? '∞'})`,
      ),
  },
});

builder.addScalarType('DateTime', DateTimeResolver);
builder.addScalarType('JSON', JSONResolver);

builder.queryType({});
builder.mutationType({});
