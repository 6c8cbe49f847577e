import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { App } from './app.js';
import { createEdge } from './http/edge.js';
import { createGraphQLServer, type GraphQLServer } from './http/graphql.js';
import { attachWebSocket } from './http/websocket.js';

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
  const edge = createEdge(app, graphql);
  const http = server ?? createServer();
  http.on('request', edge);
  const ws = attachWebSocket(http, app, graphql);
  app.feed.start();
  const closeRest = async () => {
    await app.feed.close();
    await app.outbound.close();
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
      await app.feed.close();
      await app.outbound.close();
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
      await app.tracing.shutdown();
    },
    async shutdown(timeoutMs) {
      const closed = new Promise<void>((resolve) => http.close(() => resolve()));
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
