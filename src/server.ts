import { createServer as createHttpServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GraphQLError, type ExecutionArgs } from 'graphql';
import { createYoga, type Plugin, type YogaServerInstance } from 'graphql-yoga';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import { AuthError } from './auth/tokens.js';
import type { Principal } from './auth/principal.js';
import type { AppContext } from './context.js';
import { DomainError, UnauthenticatedError, fromPrismaError, toGraphQLError } from './errors.js';
import { oauthCallbackPlugin } from './modules/oauth/callback.js';
import { runtimeRestPlugin } from './modules/runtime/rest.js';
import { restPlugin } from './rest/index.js';
import { schema } from './schema/index.js';
import type { Services } from './services.js';

/** Yoga's enveloped execute/subscribe, carried to graphql-ws through rootValue. */
interface EnvelopedRoot {
  execute: (args: ExecutionArgs) => OperationResult;
  subscribe: (args: ExecutionArgs) => OperationResult;
}
type OperationResult = ReturnType<typeof import('graphql').execute> | ReturnType<typeof import('graphql').subscribe>;

export interface Gateway {
  http: Server;
  yoga: YogaServerInstance<Record<string, unknown>, AppContext>;
  url: string;
  close(): Promise<void>;
}

/** Bearer credential from an HTTP header or graphql-ws connection params. */
function bearerFrom(value: unknown): string | null {
  if (typeof value !== 'string' || value.trim() === '') return null;
  const m = /^Bearer\s+(.+)$/i.exec(value.trim());
  return (m ? m[1]! : value).trim();
}

function credentialFromParams(params: Record<string, unknown>): string | null {
  return bearerFrom(params.authorization ?? params.Authorization ?? params.token);
}

async function principalFor(services: Services, credential: string | null): Promise<Principal | null> {
  if (!credential) return null;
  try {
    return await services.tokens.authenticate(credential);
  } catch (err) {
    if (err instanceof AuthError) {
      throw toGraphQLError(new UnauthenticatedError(`Invalid credential: ${err.message}`));
    }
    throw err;
  }
}

export function createGateway(services: Services): Gateway {
  const { config, log } = services;

  const yoga = createYoga<Record<string, unknown>, AppContext>({
    schema,
    graphqlEndpoint: '/graphql',
    landingPage: false,
    graphiql: { subscriptionsProtocol: 'WS', title: 'Connections gateway' },
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
    context: async ({ request, connectionParams }): Promise<AppContext> => {
      const credential = connectionParams
        ? credentialFromParams(connectionParams as Record<string, unknown>)
        : bearerFrom(request.headers.get('authorization'));
      const principal = await principalFor(services, credential);
      return { principal, prisma: services.db.prisma, services };
    },
    plugins: [healthPlugin(services), oauthCallbackPlugin(services), runtimeRestPlugin(services), restPlugin(services)],
  });

  const http = createHttpServer(yoga);
  const wss = new WebSocketServer({ server: http, path: yoga.graphqlEndpoint });

  // graphql-ws runs every operation through Yoga's envelop, so subscriptions
  // get the same plugins, context and authentication as HTTP requests.
  const wsServer = useServer(
    {
      execute: (args) => (args.rootValue as EnvelopedRoot).execute(args),
      subscribe: (args) => (args.rootValue as EnvelopedRoot).subscribe(args),
      onConnect: async (ctx) => {
        const credential = credentialFromParams(ctx.connectionParams ?? {});
        try {
          const principal = await principalFor(services, credential);
          // Subscriptions always need a principal; false closes with 4403 Forbidden.
          if (!principal) return false;
          (ctx.extra as Record<string, unknown>).principal = principal;
          return true;
        } catch {
          return false;
        }
      },
      onSubscribe: async (ctx, _id, params) => {
        const { schema: s, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
          ...ctx,
          req: ctx.extra.request,
          socket: ctx.extra.socket,
          params,
        });
        const args = {
          schema: s,
          operationName: params.operationName,
          document: parse(params.query),
          variableValues: params.variables,
          contextValue: await contextFactory(),
          rootValue: { execute, subscribe },
        };
        const errors = validate(args.schema, args.document);
        if (errors.length) return errors;
        return args;
      },
    },
    wss,
  );

  services.feed.start();

  let url = '';
  return {
    http,
    yoga,
    get url() {
      if (!url) {
        const addr = http.address() as AddressInfo | null;
        url = addr ? `http://127.0.0.1:${addr.port}` : '';
      }
      return url;
    },
    async close() {
      // Sockets close first (clients reconnect elsewhere with their cursor), then the feed stops.
      await wsServer.dispose();
      await services.feed.close();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}

/** `GET /ready`: readiness, with a database round-trip (Yoga serves liveness at /health). */
function healthPlugin(services: Services): Plugin {
  return {
    async onRequest({ url, endResponse, fetchAPI }) {
      if (url.pathname !== '/ready') return;
      try {
        await services.db.prisma.$queryRaw`SELECT 1`;
        endResponse(fetchAPI.Response.json({ status: 'ok', database: services.db.kind }));
      } catch {
        endResponse(fetchAPI.Response.json({ status: 'error' }, { status: 503 }));
      }
    },
  };
}
