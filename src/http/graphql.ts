import { GraphQLError, getOperationAST, type DocumentNode } from 'graphql';
import { createYoga, type Plugin, type YogaServerInstance } from 'graphql-yoga';
import type { App } from '../app.js';
import { credentialFromHeader } from '../auth/bearer.js';
import type { Principal } from '../auth/principal.js';
import type { AppContext } from '../context.js';
import { domainErrorOf, toGraphQLError } from '../errors.js';
import { errorSummary, yogaLogger } from '../logging.js';
import { principalOf } from '../modules/access/authenticate.js';
import { currentRequest } from '../observability/request.js';
import { schema } from '../schema/index.js';
import { listReadPlugin } from '../schema/list-reads.js';
import { asRequestError, clientInputPlugin, graphqlRequestPlugin } from './client-input.js';
import { documentCaches, observeDocumentCaches, operationLimitPlugins } from './operation-limits.js';
import { CORS_HEADERS, allowedOrigin, exposable, exposurePlugin } from './exposure.js';
import { graphiqlOffPlugin, graphiqlOptions, renderGraphiQL } from './graphiql.js';
import type { HotLists } from './hot-lists.js';
import { sharedSubscriptionResults } from './shared-subscriptions.js';

export type GraphQLServer = YogaServerInstance<Record<string, unknown>, AppContext>;

/** What the WebSocket edge keeps per socket: the principal it authenticated once, at connection_init. */
export type SocketExtra = { principal?: Principal | null };

/** `query viewer`: the operation's type and first root field — from the schema, so the label set stays small (never the client's operation name). */
export function nameOperation(document: DocumentNode, operationName: string | null | undefined): void {
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

/**
 * GraphQL over HTTP and WebSocket (graphql-yoga): error masking (domain
 * errors keep their code; Prisma's known errors become domain errors;
 * anything else is an opaque INTERNAL_SERVER_ERROR, logged without values)
 * and the per-operation context with the caller's principal.
 */
export function createGraphQLServer(app: App, hotLists: HotLists | null = null): GraphQLServer {
  const { log } = app;
  const caches = documentCaches(app.config);
  observeDocumentCaches(app, caches);
  return createYoga<Record<string, unknown>, AppContext>({
    schema,
    graphqlEndpoint: '/graphql',
    landingPage: false,
    graphiql: app.config.graphiql ? graphiqlOptions : false,
    renderGraphiQL,
    // Browsers of the configured origins only (exposure.ts); credentials travel in headers, never cookies.
    cors: (request) => {
      const origin = allowedOrigin(app.config, request.headers.get('origin'));
      return origin ? { origin: [origin], credentials: false, allowedHeaders: CORS_HEADERS, methods: ['GET', 'POST'] } : false;
    },
    // Never request variables, bodies or error messages that quote them (logging.ts).
    logging: yogaLogger(log),
    // Parsed documents and parse errors, bounded in bytes (operation-limits.ts); validation results live as long as their document.
    parserAndValidationCache: caches,
    // The edge limits every body already (MAX_BODY_BYTES, http/body-limit.ts, declared and chunked);
    // Yoga's own limit re-streamed each body through a TransformStream (a pipeline and an AbortController a request).
    maxRequestBodySize: false,
    plugins: [
      ...operationLimitPlugins(app.config),
      exposurePlugin(app.config),
      // A live-feed event is executed once per audience, not once per subscriber.
      sharedSubscriptionResults(app.metrics.subscriptionResults, app.metrics.subscriptionDeliveries),
      clientInputPlugin(),
      graphqlRequestPlugin(),
      ...(app.config.graphiql ? [] : [graphiqlOffPlugin()]),
      <Plugin>{
        // Names the HTTP request's operation for metrics and traces, and notes a result with errors.
        onExecute: ({ args }) => {
          nameOperation(args.document, args.operationName);
          return { onExecuteDone: ({ result }) => void ('errors' in result && result.errors?.length && markFailed()) };
        },
        onSubscribe: ({ args }) => void nameOperation(args.document, args.operationName),
      },
      // Last: a hot list query, past every check above, runs as one SQL statement (schema/list-reads.ts).
      ...(app.config.listReads ? [listReadPlugin(app.metrics.listReads, (text, document) => hotLists?.remember(text, document))] : []),
    ],
    maskedErrors: {
      maskError(error, message) {
        // Expected errors keep their code, `path` and `locations`; client mistakes become BAD_USER_INPUT (client-input.ts).
        const typed = domainErrorOf(error);
        if (typed) return exposable(toGraphQLError(typed, error instanceof GraphQLError ? error : undefined), app.config);
        if (error instanceof GraphQLError && !error.originalError) return exposable(asRequestError(error), app.config);
        const original = error instanceof GraphQLError ? error.originalError : error;
        log.error({ err: errorSummary(original) }, 'unexpected error');
        return new GraphQLError(message, { extensions: { code: 'INTERNAL_SERVER_ERROR' } });
      },
    },
    context: async (initial): Promise<AppContext> => {
      // Over WebSocket the socket authenticated once (http/websocket.ts); over HTTP, every request carries its bearer.
      const extra = (initial as { extra?: SocketExtra }).extra;
      const principal =
        extra && 'principal' in extra ? (extra.principal ?? null) : await principalOf(app, credentialFromHeader(initial.request.headers.get('authorization')));
      return { principal, app, prisma: app.db.prisma };
    },
  });
}
