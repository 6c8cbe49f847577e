import type { Server } from 'node:http';
import { GraphQLError, type ExecutionArgs } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocket, WebSocketServer } from 'ws';
import type { App } from '../app.js';
import { bearerFromParams } from '../auth/bearer.js';
import { principalOf, revokedAmong } from '../modules/access/authenticate.js';
import type { GraphQLServer, SocketExtra } from './graphql.js';
import type { RateLimits } from './rate-limit.js';
import { deliverDirectly } from './shared-subscriptions.js';
import { SocketLimits } from './socket-limits.js';

/** Bytes a socket may have unsent before its feed events wait in its subscription's queue instead (where the queue's bound applies). */
const DIRECT_BUFFER_LIMIT = 64 * 1024;

/** Yoga's enveloped execute/subscribe, carried to graphql-ws through rootValue. */
interface EnvelopedRoot {
  execute: (args: ExecutionArgs) => OperationResult;
  subscribe: (args: ExecutionArgs) => OperationResult;
}
type OperationResult = ReturnType<typeof import('graphql').execute> | ReturnType<typeof import('graphql').subscribe>;

/**
 * graphql-ws on the HTTP server's `/graphql` path. The socket authenticates
 * once, at connection_init (a socket without a valid credential is closed
 * with 4403); every operation then runs through Yoga's envelop, so
 * subscriptions get the same plugins, context and scope checks as HTTP.
 * Each new operation checks the credential again (expired, or its API key or
 * embed signing key revoked: the socket is closed with 4403); subscriptions
 * already running are ended by the feed (modules/feed/hub.ts).
 */
export function attachWebSocket(http: Server, app: App, graphql: GraphQLServer, rateLimits: RateLimits): { close(): Promise<void> } {
  // Per-socket limits (socket-limits.ts): attached before graphql-ws, so they see every message first.
  const limits = new SocketLimits(app.config);
  const wss = new WebSocketServer({ server: http, path: graphql.graphqlEndpoint, ...limits.serverOptions });
  limits.attach(wss);
  const server = useServer<Record<string, unknown>, SocketExtra>(
    {
      execute: (args) => (args.rootValue as EnvelopedRoot).execute(args),
      subscribe: (args) => (args.rootValue as EnvelopedRoot).subscribe(args),
      onConnect: async (ctx) => {
        try {
          const principal = await principalOf(app, bearerFromParams(ctx.connectionParams));
          ctx.extra.principal = principal;
          // Subscriptions always need a principal; false closes with 4403 Forbidden.
          return principal !== null;
        } catch {
          return false;
        }
      },
      onSubscribe: async (ctx, _id, params) => {
        const refused = limits.refusal(ctx.extra.socket, ctx.subscriptions) ?? (await limits.rateLimited(rateLimits, ctx));
        if (refused) return refused;
        const principal = ctx.extra.principal;
        const expired = principal && 'expiresAt' in principal && principal.expiresAt.getTime() <= Date.now();
        if (!principal || expired || (await revokedAmong(app, [principal])).size) {
          ctx.extra.socket.close(4403, 'Forbidden');
          return [new GraphQLError('The credential expired or was revoked', { extensions: { code: 'UNAUTHENTICATED' } })];
        }
        const { schema, execute, subscribe, contextFactory, parse, validate } = graphql.getEnveloped({
          ...ctx,
          req: ctx.extra.request,
          socket: ctx.extra.socket,
          params,
        });
        let document;
        try {
          document = parse(params.query);
        } catch (err) {
          // A document that does not parse (or is over MAX_TOKENS) errors its own id; the socket and its other operations live on.
          return [err instanceof GraphQLError ? err : new GraphQLError('The document does not parse', { extensions: { code: 'GRAPHQL_PARSE_FAILED' } })];
        }
        const args = {
          schema,
          operationName: params.operationName,
          document,
          variableValues: params.variables,
          contextValue: await contextFactory(),
          rootValue: { execute, subscribe },
        };
        const errors = validate(args.schema, args.document);
        if (errors.length) return errors;
        return args;
      },
      // A feed subscription's live events go straight to the socket while it keeps up (shared-subscriptions.ts):
      // the same frame graphql-ws writes, its payload serialized once per shared result.
      onOperation: (ctx, id, _payload, args) => {
        const socket = ctx.extra.socket;
        const head = `{"id":${JSON.stringify(id)},"type":"next","payload":`;
        deliverDirectly(args.contextValue, (payload) => {
          // A socket that is behind takes the queued path, where graphql-ws waits for each write (bounded, then RESYNC).
          if (socket.readyState !== WebSocket.OPEN || socket.bufferedAmount > DIRECT_BUFFER_LIMIT) return false;
          socket.send(head + payload + '}');
          return true;
        });
      },
    },
    wss,
  );
  return {
    async close() {
      await server.dispose();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
