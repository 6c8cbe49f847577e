import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { getRequestListener } from '@hono/node-server';
import { Hono } from 'hono';
import { cors } from 'hono/cors';
import type { App } from '../app.js';
import { CALLBACK_PATH, START_PATH } from '../modules/oauth/service.js';
import { mountRestApi } from '../rest/index.js';
import { oauthCallback, oauthStart } from '../rest/oauth-callback.js';
import { RUNTIME_REST_PATH, runtimeConnection } from '../rest/runtime.js';
import { CORS_HEADERS, allowedOrigin } from './exposure.js';
import type { GraphQLServer } from './graphql.js';

/**
 * Every HTTP route of the gateway, in one place (WebSocket: http/websocket.ts):
 *
 *   /graphql               GraphQL (and GraphiQL in a browser), graphql-yoga
 *   /health                liveness
 *   /ready                 readiness: a database round-trip
 *   /oauth/start           an OAuth2 flow's link: binds the browser, then on to the provider
 *   /oauth/callback        where OAuth2 providers send the browser back
 *   /runtime/v1/connection credential resolution for runtimes without GraphQL
 *   /api/v1/…              the Activepieces-compatible automation API (+ openapi.json)
 */
export function createEdge(app: App, graphql: GraphQLServer): RequestListener {
  const edge = new Hono();
  // Cross-origin browsers: the configured origins only, on every route (GraphQL: http/graphql.ts).
  if (app.config.corsOrigins.length) {
    edge.use('*', cors({ origin: (origin) => allowedOrigin(app.config, origin), allowHeaders: CORS_HEADERS, credentials: false }));
  }
  edge.get('/health', (c) => c.json({ message: 'alive' }));
  edge.get('/ready', async (c) => {
    try {
      await app.db.prisma.$queryRaw`SELECT 1`;
      return c.json({ status: 'ok', database: app.db.kind });
    } catch {
      return c.json({ status: 'error' }, 503);
    }
  });
  edge.get(START_PATH, (c) => oauthStart(app, c));
  edge.get(CALLBACK_PATH, (c) => oauthCallback(app, c));
  edge.all(CALLBACK_PATH, () => new Response('Method not allowed', { status: 405, headers: { allow: 'GET' } }));
  edge.get(RUNTIME_REST_PATH, (c) => runtimeConnection(app, c));
  edge.all(RUNTIME_REST_PATH, (c) => c.json({ status: 'ERROR', message: 'Use GET' }, 405));
  mountRestApi(edge, app);
  // Node's own Request/Response stay as they are: the routes use the standard classes.
  const routes = getRequestListener(edge.fetch, { overrideGlobalObjects: false });
  // GraphQL goes straight to Yoga's own Node adapter: handing it a WHATWG Request through
  // the router costs about a millisecond a request (measured: 3.4 ms vs 2.3 ms for `{ viewer { kind } }`).
  return (req: IncomingMessage, res: ServerResponse) =>
    req.url?.split('?', 1)[0] === graphql.graphqlEndpoint ? void graphql(req, res) : void routes(req, res);
}
