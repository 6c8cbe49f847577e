import SchemaBuilder from '@pothos/core';
import ComplexityPlugin from '@pothos/plugin-complexity';
import ErrorsPlugin from '@pothos/plugin-errors';
import PrismaPlugin from '@pothos/plugin-prisma';
import RelayPlugin from '@pothos/plugin-relay';
import ScopeAuthPlugin from '@pothos/plugin-scope-auth';
import { DateTimeResolver, JSONResolver } from 'graphql-scalars';
import { scopesOf, type Scope } from '../auth/scopes.js';
import type { Context } from '../context.js';
import { ForbiddenError, QueryTooComplexError, UnauthenticatedError } from '../errors.js';
import { decodeNodeId, encodeId } from '../ids.js';
import type PrismaTypes from '../generated/pothos-prisma-types.js';
import { getDatamodel } from '../generated/pothos-prisma-types.js';

/** The one SchemaBuilder. Modules add their types to it; schema/index.ts builds. */
export const builder = new SchemaBuilder<{
  Context: Context;
  PrismaTypes: PrismaTypes;
  DefaultFieldNullability: false;
  /** The operation scopes of auth/scopes.ts. */
  AuthScopes: Record<Scope, boolean>;
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
    // Every root field names the scopes that may call it (schema/index.ts
    // refuses to build a schema with one that does not); nested fields may
    // narrow further. Subscriptions are checked when they start.
    defaultStrategy: 'any',
    authorizeOnSubscribe: true,
    authScopes: (ctx) => scopesOf(ctx.principal),
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
    // The one ID codec (ids.ts), for node ids too.
    encodeGlobalID: (typename, id) => encodeId(typename, String(id)),
    decodeGlobalID: (globalId) => decodeNodeId(globalId),
  },
  errors: {
    defaultTypes: [],
  },
  complexity: {
    defaultComplexity: 1,
    defaultListMultiplier: 10,
    limit: (ctx) => ({ complexity: ctx.app.config.maxComplexity, depth: ctx.app.config.maxDepth, breadth: 200 }),
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
