import { GraphQLError, getOperationAST, type DocumentNode } from 'graphql';
import { createYoga, type Plugin, type YogaServerInstance } from 'graphql-yoga';
import type { App } from '../app.js';
import { bearerFromHeader, principalOf } from '../auth/bearer.js';
import type { Principal } from '../auth/principal.js';
import type { AppContext } from '../context.js';
import { DomainError, fromPrismaError, toGraphQLError } from '../errors.js';
import { currentRequest } from '../observability/request.js';
import { schema } from '../schema/index.js';
import { graphiqlOptions, renderGraphiQL } from './graphiql.js';

export type GraphQLServer = YogaServerInstance<Record<string, unknown>, AppContext>;

/** What the WebSocket edge keeps per socket: the principal it authenticated once, at connection_init. */
export type SocketExtra = { principal?: Principal | null };

/**
 * GraphQL over HTTP and WebSocket (graphql-yoga): error masking (domain
 * errors keep their code; Prisma's known errors become domain errors;
 * anything else is an opaque INTERNAL_SERVER_ERROR, logged without values)
 * and the per-operation context with the caller's principal.
 */
/** `query viewer`: the operation's type and first root field — from the schema, so the label set stays small (never the client's operation name). */
function nameOperation(document: DocumentNode, operationName: string | null | undefined): void {
  const request = currentRequest();
  const op = getOperationAST(document, operationName);
  if (!request || !op) return;
  const first = op.selectionSet.selections.find((s) => s.kind === 'Field');
  request.operation = `${op.operation} ${first?.name.value ?? '…'}`;
}

function markFailed(): void {
  const request = currentRequest();
  if (request) request.failed = true;
}

export function createGraphQLServer(app: App): GraphQLServer {
  const { log } = app;
  return createYoga<Record<string, unknown>, AppContext>({
    schema,
    graphqlEndpoint: '/graphql',
    landingPage: false,
    graphiql: graphiqlOptions,
    renderGraphiQL,
    plugins: [
      <Plugin>{
        // Names the HTTP request's operation for metrics and traces, and notes a result with errors.
        onExecute: ({ args }) => {
          nameOperation(args.document, args.operationName);
          return { onExecuteDone: ({ result }) => void ('errors' in result && result.errors?.length && markFailed()) };
        },
        onSubscribe: ({ args }) => void nameOperation(args.document, args.operationName),
      },
    ],
    logging: {
      debug: (...args) => log.debug(args.map(String).join(' ')),
      info: (...args) => log.info(args.map(String).join(' ')),
      warn: (...args) => log.warn(args.map(String).join(' ')),
      error: (...args) => log.error(args.map((a) => (a instanceof Error ? a.message : String(a))).join(' ')),
    },
    maskedErrors: {
      maskError(error, message) {
        const original = error instanceof GraphQLError ? error.originalError : error;
        if (original instanceof DomainError) return toGraphQLError(original);
        const prismaMapped = fromPrismaError(original);
        if (prismaMapped) return toGraphQLError(prismaMapped);
        if (error instanceof GraphQLError && !error.originalError) return error;
        log.error({ err: original instanceof Error ? { name: original.name, message: original.message } : 'unknown' }, 'unexpected error');
        return new GraphQLError(message, { extensions: { code: 'INTERNAL_SERVER_ERROR' } });
      },
    },
    context: async (initial): Promise<AppContext> => {
      // Over WebSocket the socket authenticated once (http/websocket.ts); over HTTP, every request carries its bearer.
      const extra = (initial as { extra?: SocketExtra }).extra;
      const principal =
        extra && 'principal' in extra ? (extra.principal ?? null) : await principalOf(app.tokens, bearerFromHeader(initial.request.headers.get('authorization')));
      return { principal, app, prisma: app.db.prisma };
    },
  });
}
