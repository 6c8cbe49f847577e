import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { getRequestListener } from '@hono/node-server';
import { Hono, type Context, type Next } from 'hono';
import { cors } from 'hono/cors';
import type { App } from '../app.js';
import { SIGN_IN_CALLBACK_PATH, SIGN_IN_PATH } from '../auth/oidc.js';
import { CONNECT_PAGE_PATH } from '../modules/connect/service.js';
import { CALLBACK_PATH, CONNECT_OAUTH_RETURN_PATH, START_PATH } from '../modules/oauth/service.js';
import { REQUEST_ID_HEADER, currentRequest, requestContext, requestIdFrom, type RequestContext } from '../observability/request.js';
import { endServerSpan } from '../observability/tracing.js';
import { fromPrismaError } from '../errors.js';
import { errorSummary } from '../logging.js';
import { connectAsset, connectOAuthReturn, connectPage, connectSdk, connectSession } from '../rest/connect.js';
import { mount, mountNode, nodeHandler } from '../rest/endpoint.js';
import { PROXY_ROUTE, isProxyPath, proxyEndpoint } from '../rest/proxy.js';
import { mountRestApi } from '../rest/index.js';
import { oauthCallback, oauthStart } from '../rest/oauth-callback.js';
import { signInCallback, signInStart } from '../rest/oidc-sign-in.js';
import { RUNTIME_REST_PATH, runtimeConnection } from '../rest/runtime.js';
import { NANGO_CONNECTIONS_PATH, NANGO_LEGACY_CONNECTION_PATH, nangoGetConnection, nangoListConnections } from '../rest/nango.js';
import { WORKER_APP_CONNECTIONS_PATHS, workerAppConnectionEndpoint } from '../rest/activepieces-worker.js';
import { errorResponse, proxyErrors, restErrors, writeEdgeError } from './answers.js';
import { limitBody } from './body-limit.js';
import { requestTargetGuard, requestTargetProblem } from './client-input.js';
import { tooManyRequests, type RateLimits } from './rate-limit.js';
import { CORS_HEADERS, allowedOrigin } from './exposure.js';
import { GRAPHIQL_PATH, graphiqlAsset } from './graphiql.js';
import type { GraphQLServer } from './graphql.js';
import type { HotLists } from './hot-lists.js';

/**
 * Every HTTP route of the gateway, in one place (WebSocket: http/websocket.ts):
 *
 *   /graphql               GraphQL (and GraphiQL in a browser), graphql-yoga
 *   /graphiql/…            GraphiQL's assets, served from the npm package (no CDN)
 *   /health                liveness
 *   /ready                 readiness: a database round-trip
 *   /metrics               Prometheus metrics (observability/metrics.ts)
 *   /oauth/start           an OAuth2 flow's link: binds the browser, then on to the provider
 *   /oauth/callback        where OAuth2 providers send the browser back
 *   /auth/oidc/…           org users' sign-in with OpenID Connect (login, callback)
 *   /runtime/v1/connection credential resolution for runtimes without GraphQL
 *   /connections, /connection/…  Nango's connections API for @nangohq/node (rest/nango.ts)
 *   /v1/worker/app-connections/…, /api/v1/worker/app-connections/…  the Activepieces engine's connection fetch
 *   /api/v1/…              the Activepieces-compatible automation API (+ openapi.json)
 *   /connect, /connect/…   the hosted Connect page, its assets, the SDK, link exchange (rest/connect.ts)
 *   /proxy/…               calls to a connection's API with its credential added (rest/proxy.ts; any method)
 */
export function createEdge(app: App, graphql: GraphQLServer, rateLimits: RateLimits, hotLists: HotLists | null = null): RequestListener {
  const edge = new Hono();
  edge.use('*', nameRoute);
  // Malformed percent-escapes and NUL characters in the request target: a typed 400 before any route (client-input.ts).
  edge.use('*', requestTargetGuard((path) => (isProxyPath(path) ? proxyErrors : restErrors)));
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
  edge.get('/metrics', async () => new Response(await app.metrics.registry.metrics(), { headers: { 'content-type': app.metrics.registry.contentType } }));
  edge.get(`${GRAPHIQL_PATH}/:version/:name`, (c) => graphiqlAsset(c.req.param('version'), c.req.param('name')));
  // Every other route through the one wrapper (rest/endpoint.ts): authentication, access, error answers.
  mount(edge, app, SIGN_IN_PATH, { GET: signInStart });
  mount(edge, app, SIGN_IN_CALLBACK_PATH, { GET: signInCallback });
  mount(edge, app, START_PATH, { GET: oauthStart });
  mount(edge, app, CALLBACK_PATH, { GET: oauthCallback });
  mount(edge, app, RUNTIME_REST_PATH, { GET: runtimeConnection });
  // Drop-in: Nango's connections API (@nangohq/node) and the Activepieces engine's connection fetch.
  mount(edge, app, NANGO_CONNECTIONS_PATH, { GET: nangoListConnections });
  mount(edge, app, `${NANGO_CONNECTIONS_PATH}/:connectionId`, { GET: nangoGetConnection });
  mount(edge, app, `${NANGO_LEGACY_CONNECTION_PATH}/:connectionId`, { GET: nangoGetConnection });
  for (const path of WORKER_APP_CONNECTIONS_PATHS) mount(edge, app, path, { GET: workerAppConnectionEndpoint });
  mount(edge, app, CONNECT_PAGE_PATH, { GET: connectPage });
  mount(edge, app, CONNECT_OAUTH_RETURN_PATH, { GET: connectOAuthReturn });
  mount(edge, app, `${CONNECT_PAGE_PATH}/assets/:name`, { GET: connectAsset });
  mount(edge, app, `${CONNECT_PAGE_PATH}/sdk.js`, { GET: connectSdk });
  mount(edge, app, `${CONNECT_PAGE_PATH}/session`, { POST: connectSession });
  mountNode(edge, app, PROXY_ROUTE, proxyEndpoint);
  mountRestApi(edge, app);
  // What escaped a route (none should: the wrapper answers its errors): JSON, never a stack trace or a source path.
  edge.onError((err) => {
    if (!fromPrismaError(err)) app.log.error({ err: errorSummary(err) }, 'unexpected HTTP error');
    return errorResponse(err);
  });
  // Node's own Request/Response stay as they are: the routes use the standard classes.
  const routes = getRequestListener(edge.fetch, { overrideGlobalObjects: false });
  // The proxy, the hot path, goes to its Node handler without the router (its Request, Response and
  // middleware chain cost a measurable share of a proxy call): what the router's middleware does for
  // it is done here (the operation's name, the request-target check). A browser's call (an Origin
  // header) takes the router when CORS is configured, so its CORS middleware answers as on every route.
  const proxy = nodeHandler(app, proxyEndpoint, PROXY_ROUTE);
  const direct = (req: IncomingMessage) => app.config.corsOrigins.length === 0 || req.headers.origin === undefined;
  const proxyDirect = (req: IncomingMessage, res: ServerResponse) => {
    const problem = requestTargetProblem(req.url ?? '/');
    if (problem) return writeEdgeError(res, problem, 'proxy');
    const request = currentRequest();
    if (request) request.operation = `${req.method} ${PROXY_ROUTE}`;
    void proxy(req, res);
  };
  // GraphQL goes straight to Yoga's own Node adapter: handing it a WHATWG Request through
  // the router costs about a millisecond a request (measured: 3.4 ms vs 2.3 ms for `{ viewer { kind } }`).
  // A hot list document it served before is answered ahead of it (hot-lists.ts).
  const graphqlServe = hotLists ? (req: IncomingMessage, res: ServerResponse) => hotLists.serve(req, res, () => void graphql(req, res)) : graphql;
  return (req: IncomingMessage, res: ServerResponse) => {
    const path = req.url?.split('?', 1)[0] ?? '';
    const isGraphQL = path === graphql.graphqlEndpoint;
    const surface = isGraphQL ? 'graphql' : 'http';
    // The proxy streams bodies of its own size (PROXY_MAX_REQUEST_BYTES) to the API: counted as they pass, never read ahead.
    const isProxy = isProxyPath(path);
    const maxBytes = isProxy ? app.config.proxy.maxRequestBytes : app.config.maxBodyBytes;
    // What the edge itself refuses (too large, too many) is answered in the proxy's error shape on the proxy.
    const shape = isProxy ? 'proxy' : surface;
    const serve = () => limitBody(req, res, maxBytes, shape, () => void (isGraphQL ? graphqlServe(req, res) : isProxy && direct(req) ? proxyDirect(req, res) : routes(req, res)), isProxy);
    observed(app, req, res, surface, () => {
      // Probes are never limited: a load balancer must see a busy instance as alive.
      if (!rateLimits.enabled || PROBES.has(req.url?.split('?', 1)[0] ?? '')) return serve();
      void rateLimits.admitRequest(req).then((admission) => {
        for (const [name, value] of Object.entries(admission.headers)) res.setHeader(name, value);
        if (admission.allowed) serve();
        else tooManyRequests(res, admission, shape);
      });
    });
  };
}

const PROBES = new Set(['/health', '/ready', '/metrics']);

/**
 * Every request: an id (the caller's `x-request-id` when sane, else a new
 * one) in the response and in every log line written on its behalf, a server
 * span when tracing is on, and its latency and outcome in the metrics, by
 * operation (GraphQL: set by http/graphql.ts) or route pattern.
 */
function observed(app: App, req: IncomingMessage, res: ServerResponse, surface: RequestContext['surface'], handle: () => void): void {
  const ctx: RequestContext = { id: requestIdFrom(req.headers[REQUEST_ID_HEADER]), surface, operation: 'none', failed: false };
  res.setHeader(REQUEST_ID_HEADER, ctx.id);
  const started = performance.now();
  requestContext.run(ctx, () =>
    app.tracing.serverSpan(req.method ?? 'GET', req.headers, (span) => {
      res.once('close', () => {
        const operation = surface === 'http' && ctx.operation === 'none' ? `${req.method} unmatched` : ctx.operation;
        app.metrics.observe(surface, operation, !ctx.failed && res.statusCode < 400, (performance.now() - started) / 1000);
        endServerSpan(span, surface === 'graphql' ? `graphql ${operation}` : operation, res.statusCode, { 'request.id': ctx.id });
      });
      handle();
    }),
  );
}

/** Names a REST request's operation by its route pattern (`GET /api/v1/projects/:id`), once routed. */
async function nameRoute(c: Context, next: Next): Promise<void> {
  await next();
  const request = currentRequest();
  if (request && c.req.routePath !== '/*') request.operation = `${c.req.method} ${c.req.routePath}`;
}
