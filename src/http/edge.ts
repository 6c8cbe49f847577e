import { Hono } from 'hono';
import type { App } from '../app.js';
import { CALLBACK_PATH } from '../modules/oauth/service.js';
import { mountRestApi } from '../rest/index.js';
import { oauthCallback } from '../rest/oauth-callback.js';
import { RUNTIME_REST_PATH, runtimeConnection } from '../rest/runtime.js';
import type { GraphQLServer } from './graphql.js';

/**
 * Every HTTP route of the gateway, in one place (WebSocket: http/websocket.ts):
 *
 *   /graphql               GraphQL (and GraphiQL in a browser), graphql-yoga
 *   /health                liveness
 *   /ready                 readiness: a database round-trip
 *   /oauth/callback        where OAuth2 providers send the browser back
 *   /runtime/v1/connection credential resolution for runtimes without GraphQL
 *   /api/v1/…              the Activepieces-compatible automation API (+ openapi.json)
 */
export function createEdge(app: App, graphql: GraphQLServer): Hono {
  const edge = new Hono();
  edge.on(['GET', 'POST', 'OPTIONS'], graphql.graphqlEndpoint, (c) => graphql.fetch(c.req.raw));
  edge.get('/health', (c) => c.json({ message: 'alive' }));
  edge.get('/ready', async (c) => {
    try {
      await app.db.prisma.$queryRaw`SELECT 1`;
      return c.json({ status: 'ok', database: app.db.kind });
    } catch {
      return c.json({ status: 'error' }, 503);
    }
  });
  edge.get(CALLBACK_PATH, (c) => oauthCallback(app, c));
  edge.all(CALLBACK_PATH, () => new Response('Method not allowed', { status: 405, headers: { allow: 'GET' } }));
  edge.get(RUNTIME_REST_PATH, (c) => runtimeConnection(app, c));
  edge.all(RUNTIME_REST_PATH, (c) => c.json({ status: 'ERROR', message: 'Use GET' }, 405));
  mountRestApi(edge, app);
  return edge;
}
