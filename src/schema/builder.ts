import SchemaBuilder from '@pothos/core';
import ComplexityPlugin from '@pothos/plugin-complexity';
import ErrorsPlugin from '@pothos/plugin-errors';
import PrismaPlugin from '@pothos/plugin-prisma';
import RelayPlugin from '@pothos/plugin-relay';
import ScopeAuthPlugin from '@pothos/plugin-scope-auth';
import { GraphQLObjectType, type GraphQLResolveInfo } from 'graphql';
import { DateTimeResolver, JSONResolver } from 'graphql-scalars';
import { scopesOf, type Scope } from '../auth/scopes.js';
import type { Context } from '../context.js';
import { BadUserInputError, ForbiddenError, NotFoundError, fromPrismaError, QueryTooComplexError, UnauthenticatedError } from '../errors.js';
import { NO_ROW, decodeNodeId, encodeId } from '../ids.js';
import type PrismaTypes from '../generated/pothos-prisma-types.js';
import { datamodel } from '../db/datamodel.js';

/** `nodes(ids:)` answers at most this many ids; each counts in the complexity. */
export const MAX_NODE_IDS = 100;

type NodeId = { typename: string; id: string };

/** The most a query may ask for (plugin-complexity checks it on the regular execution, schema/list-reads.ts on its own). */
export function complexityLimits(ctx: Context): { complexity: number; depth: number; breadth: number } {
  return { complexity: ctx.app.config.maxComplexity, depth: ctx.app.config.maxDepth, breadth: 200 };
}

/** A decoded global id that names a node type of this schema and a well-formed row id (else: nothing to load). */
function loadable(info: GraphQLResolveInfo, g: NodeId | null): g is NodeId {
  if (!g || g.id === NO_ROW) return false;
  const type = info.schema.getType(g.typename);
  return type instanceof GraphQLObjectType && type.getInterfaces().some((i) => i.name === 'Node');
}

function nullWhenNotFound(err: unknown): null {
  if (err instanceof NotFoundError || fromPrismaError(err) instanceof NotFoundError) return null;
  throw err;
}

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
    dmmf: datamodel,
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
    // A malformed id, one of a type that is no node, or one the caller may not see: null, as for a row that does not exist.
    nodeQueryOptions: {
      resolve: (_root, args, _ctx, info, resolveNode) => (loadable(info, args.id) ? Promise.resolve(resolveNode(args.id)).catch(nullWhenNotFound) : null),
    },
    nodesQueryOptions: {
      complexity: (args) => ({ field: 1, multiplier: Math.max(1, (args.ids as unknown[]).length) }),
      resolve: async (_root, args, _ctx, info, resolveNodes) => {
        if (args.ids.length > MAX_NODE_IDS) throw new BadUserInputError(`Argument "ids" takes at most ${MAX_NODE_IDS} ids`);
        // One by one, so one id the caller may not see is one null, not a failed list (Prisma batches
        // the findUniques of one tick into one query). plugin-relay's callback loads `args.ids`, not its argument.
        const ids = args.ids;
        return ids.map((g) => {
          if (!loadable(info, g)) return null;
          args.ids = [g];
          return resolveNodes([g]).then((found) => found[0] ?? null, nullWhenNotFound);
        });
      },
    },
  },
  errors: {
    defaultTypes: [],
  },
  complexity: {
    defaultComplexity: 1,
    defaultListMultiplier: 10,
    limit: (ctx) => complexityLimits(ctx),
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
