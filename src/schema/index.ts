import { lexicographicSortSchema, type GraphQLSchema } from 'graphql';
import { builder } from './builder.js';
import './errors.js';
import '../modules/tenancy/schema.js';
import '../modules/access/schema.js';
import '../modules/connectors/schema.js';
import '../modules/connections/schema.js';
import '../modules/values/schema.js';
import '../modules/health/schema.js';
import '../modules/webhooks/schema.js';
import '../modules/oauth/schema.js';
import '../modules/runtime/schema.js';
import '../modules/integrations/schema.js';
import '../modules/workflows/schema.js';
import '../modules/feed/schema.js';
import '../modules/manifest/schema.js';
import '../modules/connect/schema.js';

/** Root fields open to anyone: relay's node lookups, which apply each type's row filter. */
const PUBLIC_ROOT_FIELDS = new Set(['Query.node', 'Query.nodes']);

/**
 * Closed by default: every root field must name the operation scopes that may
 * call it (`authScopes`), or the schema does not build.
 */
export function assertEveryRootFieldIsScoped(schema: GraphQLSchema): GraphQLSchema {
  const open: string[] = [];
  for (const root of [schema.getQueryType(), schema.getMutationType(), schema.getSubscriptionType()]) {
    for (const field of Object.values(root?.getFields() ?? {})) {
      const name = `${root!.name}.${field.name}`;
      const options = (field.extensions as { pothosOptions?: { authScopes?: unknown } }).pothosOptions;
      if (!options?.authScopes && !PUBLIC_ROOT_FIELDS.has(name)) open.push(name);
    }
  }
  if (open.length) throw new Error(`Root fields without authScopes: ${open.join(', ')}`);
  return schema;
}

export const schema = assertEveryRootFieldIsScoped(lexicographicSortSchema(builder.toSchema()));
