import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { App } from './app.js';
import { createEdge } from './http/edge.js';
import { createGraphQLServer, type GraphQLServer } from './http/graphql.js';
import { RateLimits } from './http/rate-limit.js';
import { attachWebSocket } from './http/websocket.js';
import { errorSummary } from './logging.js';
import { pruneAuditEvents } from './op.js';

/** One gateway process's HTTP and WebSocket server, wired to its app. */
export interface Gateway {
  http: Server;
  graphql: GraphQLServer;
  url: string;
  close(): Promise<void>;
}

export function createGateway(app: App): Gateway {
  const graphql = createGraphQLServer(app);
  const rateLimits = new RateLimits(app.config, app.log);
  const http = createServer(createEdge(app, graphql, rateLimits));
  const ws = attachWebSocket(http, app, graphql, rateLimits);
  app.feed.start();
  const pruneAudit = () =>
    void pruneAuditEvents(app.db.prisma, app.config.auditRetentionDays).catch((err: unknown) => app.log.warn({ err: errorSummary(err) }, 'audit retention failed'));
  // A minute after start (so short-lived processes prune too), then hourly.
  const auditRetention = [setTimeout(pruneAudit, 60_000), setInterval(pruneAudit, 3_600_000)];
  for (const t of auditRetention) t.unref();

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
      for (const t of auditRetention) clearTimeout(t);
      await app.feed.close();
      await app.outbound.close();
      await rateLimits.close();
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
      await app.tracing.shutdown();
    },
  };
}
