import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { App } from './app.js';
import { createEdge } from './http/edge.js';
import { createGraphQLServer, type GraphQLServer } from './http/graphql.js';
import { RateLimits } from './http/rate-limit.js';
import { attachWebSocket } from './http/websocket.js';
import { errorSummary } from './logging.js';
import { pruneAuditEvents } from './op.js';

/** How long a stopping gateway waits for requests already sent to be read before it closes idle connections. */
const SHUTDOWN_GRACE_MS = 1000;

/** One gateway process's HTTP and WebSocket server, wired to its app. */
export interface Gateway {
  http: Server;
  graphql: GraphQLServer;
  url: string;
  close(): Promise<void>;
  /**
   * Graceful stop: no new connections; WebSockets closed with 1001 (going
   * away: clients reconnect elsewhere with their cursor); in-flight requests
   * finish (up to `timeoutMs`, then their connections are closed); then the
   * feed (and its Redis), outbound and tracing. The database is the caller's.
   */
  shutdown(timeoutMs: number): Promise<{ drained: boolean }>;
}

/** One gateway on `server` (a new one by default; main.ts passes the one that already holds the port). */
export function createGateway(app: App, server?: Server): Gateway {
  const graphql = createGraphQLServer(app);
  const rateLimits = new RateLimits(app.config, app.log);
  const edge = createEdge(app, graphql, rateLimits);
  const http = server ?? createServer();
  http.on('request', edge);
  const ws = attachWebSocket(http, app, graphql, rateLimits);
  app.feed.start();
  if (app.config.health.workers) app.health.start();
  const pruneAudit = () =>
    void pruneAuditEvents(app.db.prisma, app.config.auditRetentionDays).catch((err: unknown) => app.log.warn({ err: errorSummary(err) }, 'audit retention failed'));
  // A minute after start (so short-lived processes prune too), then hourly.
  const auditRetention = [setTimeout(pruneAudit, 60_000), setInterval(pruneAudit, 3_600_000)];
  for (const t of auditRetention) t.unref();
  const closeRest = async () => {
    for (const t of auditRetention) clearTimeout(t);
    await app.feed.close();
    await app.health.close();
    await app.outbound.close();
    await rateLimits.close();
    await app.tracing.shutdown();
  };

  let url = '';
  return {
    http,
    graphql,
    get url() {
      if (!url) {
        const addr = http.address() as AddressInfo | null;
        url = addr ? `http://127.0.0.1:${addr.port}` : '';
      }
      return url;
    },
    async close() {
      // Sockets close first (clients reconnect elsewhere with their cursor), then the feed stops.
      await ws.close();
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
      await closeRest();
    },
    async shutdown(timeoutMs) {
      const closed = new Promise<void>((resolve) => http.close(() => resolve()));
      // Requests already on the wire get a moment to be read: a connection whose request has not
      // been parsed yet counts as idle, and closing it would reset a request the client already sent.
      await new Promise((r) => setTimeout(r, Math.min(SHUTDOWN_GRACE_MS, timeoutMs / 4)));
      // Keep-alive connections go as soon as they are idle: now, and whenever an in-flight request ends.
      http.closeIdleConnections();
      const idle = setInterval(() => http.closeIdleConnections(), 50);
      await ws.close();
      let timer: NodeJS.Timeout | undefined;
      const drained = await Promise.race([
        closed.then(() => true),
        new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs))),
      ]);
      clearTimeout(timer);
      clearInterval(idle);
      if (!drained) {
        http.closeAllConnections();
        await closed;
      }
      await closeRest();
      return { drained };
    },
  };
}
