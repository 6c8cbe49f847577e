import { visit, type DocumentNode, type GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Config } from '../config.js';
import type { AppContext } from '../context.js';
import { UnauthenticatedError, toGraphQLError } from '../errors.js';

/**
 * What the gateway shows of itself to browsers and strangers, by
 * configuration (docs/security.md): which origins may call it cross-origin,
 * whether anonymous callers may introspect the schema, whether validation
 * errors suggest field names. GraphiQL's switch is `config.graphiql`.
 */

/** The CORS decision for every route: a request's origin is answered only when configured (`CORS_ORIGINS`); nothing is reflected. */
export function allowedOrigin(config: Pick<Config, 'corsOrigins'>, origin: string | null | undefined): string | null {
  return origin && config.corsOrigins.includes(origin) ? origin : null;
}

/** Headers a cross-origin caller may send: its credential travels in `Authorization`, never in cookies. */
export const CORS_HEADERS = ['authorization', 'content-type', 'accept'];

function asksIntrospection(document: DocumentNode): boolean {
  let found = false;
  visit(document, {
    Field(node) {
      if (node.name.value === '__schema' || node.name.value === '__type') found = true;
    },
  });
  return found;
}

/**
 * Introspection only with a credential, unless ANONYMOUS_INTROSPECTION (the
 * default outside production); validation errors without suggestions unless
 * FIELD_SUGGESTIONS (other errors: `exposable`).
 */
export function exposurePlugin(config: Pick<Config, 'anonymousIntrospection' | 'fieldSuggestions'>): Plugin<AppContext> {
  return {
    onExecute({ args, setResultAndStopExecution }) {
      if (config.anonymousIntrospection || args.contextValue.principal || !asksIntrospection(args.document)) return;
      setResultAndStopExecution({ errors: [toGraphQLError(new UnauthenticatedError('Introspection needs a credential'))] });
    },
    onValidate() {
      return ({ result }) => {
        for (const error of result) exposable(error, config);
      };
    },
  };
}

/**
 * An error as it may leave the gateway, changed in place (a new error would
 * be reported by Yoga as a masked one):
 * - never `extensions.originalError`: Yoga puts the JSON parser's message
 *   there, which quotes the start of the body;
 * - without "Did you mean …?" when FIELD_SUGGESTIONS is off: graphql-js
 *   suggests field, argument, type and enum value names in validation and
 *   variable coercion errors alike. Written here because the library plugin
 *   for it (graphql-armor's) covers validation errors only.
 */
export function exposable(error: GraphQLError, config: Pick<Config, 'fieldSuggestions'>): GraphQLError {
  if (error.extensions && 'originalError' in error.extensions) delete (error.extensions as Record<string, unknown>).originalError;
  if (!config.fieldSuggestions) error.message = error.message.replace(/\s*Did you mean [^?]*\?/g, '');
  return error;
}
