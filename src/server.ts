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
}

export function createGateway(app: App): Gateway {
  const graphql = createGraphQLServer(app);
  const http = createServer(createEdge(app, graphql));
  const ws = attachWebSocket(http, app, graphql);
  app.feed.start();
  if (app.config.health.workers) app.health.start();

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
      await app.health.close();
      await app.outbound.close();
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
      await app.tracing.shutdown();
    },
  };
}
