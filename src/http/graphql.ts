import { GraphQLError } from 'graphql';
import { createYoga, type YogaServerInstance } from 'graphql-yoga';
import type { App } from '../app.js';
import { bearerFromHeader, principalOf } from '../auth/bearer.js';
import type { Principal } from '../auth/principal.js';
import type { AppContext } from '../context.js';
import { DomainError, fromPrismaError, toGraphQLError } from '../errors.js';
import { errorSummary, yogaLogger } from '../logging.js';
import { schema } from '../schema/index.js';
import { CORS_HEADERS, allowedOrigin, exposable, exposurePlugin } from './exposure.js';

export type GraphQLServer = YogaServerInstance<Record<string, unknown>, AppContext>;

/** What the WebSocket edge keeps per socket: the principal it authenticated once, at connection_init. */
export type SocketExtra = { principal?: Principal | null };

/**
 * GraphQL over HTTP and WebSocket (graphql-yoga): error masking (domain
 * errors keep their code; Prisma's known errors become domain errors;
 * anything else is an opaque INTERNAL_SERVER_ERROR, logged without values)
 * and the per-operation context with the caller's principal.
 */
export function createGraphQLServer(app: App): GraphQLServer {
  const { log } = app;
  return createYoga<Record<string, unknown>, AppContext>({
    schema,
    graphqlEndpoint: '/graphql',
    landingPage: false,
    graphiql: app.config.graphiql ? { subscriptionsProtocol: 'WS', title: 'Connections gateway' } : false,
    // Browsers of the configured origins only (exposure.ts); credentials travel in headers, never cookies.
    cors: (request) => {
      const origin = allowedOrigin(app.config, request.headers.get('origin'));
      return origin ? { origin: [origin], credentials: false, allowedHeaders: CORS_HEADERS, methods: ['GET', 'POST'] } : false;
    },
    // Never request variables, bodies or error messages that quote them (logging.ts).
    logging: yogaLogger(log),
    plugins: [exposurePlugin(app.config)],
    maskedErrors: {
      maskError(error, message) {
        const original = error instanceof GraphQLError ? error.originalError : error;
        if (original instanceof DomainError) return toGraphQLError(original);
        const prismaMapped = fromPrismaError(original);
        if (prismaMapped) return toGraphQLError(prismaMapped);
        if (error instanceof GraphQLError && !error.originalError) return exposable(error, app.config);
        log.error({ err: errorSummary(original) }, 'unexpected error');
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
