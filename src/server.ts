import { createServer, type Server } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import type { App } from './app.js';
import { createEdge } from './http/edge.js';
import { createGraphQLServer, type GraphQLServer } from './http/graphql.js';
import { HotLists } from './http/hot-lists.js';
import { RateLimits } from './http/rate-limit.js';
import { attachWebSocket } from './http/websocket.js';
import { gatewayJobs } from './jobs/index.js';

/** On shutdown, how long connections already queued at the listener get to be taken before it closes. */
const ACCEPT_GRACE_MS = 1000;

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
   * background jobs (running ones finish), the feed (and its Redis), outbound
   * and tracing. The database is the caller's.
   */
  shutdown(timeoutMs: number): Promise<{ drained: boolean }>;
}

/** One gateway on `server` (a new one by default; main.ts passes the one that already holds the port). */
export function createGateway(app: App, server?: Server): Gateway {
  const hotLists = app.config.listReads ? new HotLists(app) : null;
  const graphql = createGraphQLServer(app, hotLists);
  const rateLimits = new RateLimits(app.config, app.log);
  const edge = createEdge(app, graphql, rateLimits, hotLists);
  const http = server ?? createServer();
  let stopping = false;
  http.on('request', (req, res) => {
    if (stopping) res.shouldKeepAlive = false;
    edge(req, res);
  });
  const ws = attachWebSocket(http, app, graphql, rateLimits);
  app.feed.start();
  app.jobs.add(...gatewayJobs(app));
  app.jobs.start();
  const closeRest = async () => {
    // Every call is answered by now: its audit count is written before the database closes.
    await app.usageAudit.close();
    await app.jobs.stop();
    await app.feed.close();
    await app.outbound.close();
    await app.proxyBudgets.close();
    app.proxyCache.close();
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
      // Stop accepting, but not through http.Server#close, which also closes idle connections at once:
      // a connection whose request has not been read yet counts as idle, and closing it resets a
      // request the client already sent. Instead every response from now on closes its connection
      // (Connection: close), and connections with nothing to answer end at their keep-alive timeout.
      stopping = true;
      // Connections the kernel accepted before the signal wait in the listen backlog until the event
      // loop takes them; closing the listener would reset them. They get a moment to be taken first.
      await new Promise((r) => setTimeout(r, Math.min(ACCEPT_GRACE_MS, timeoutMs / 4)));
      const closed = new Promise<void>((resolve) => net.Server.prototype.close.call(http, () => resolve()));
      await ws.close();
      let timer: NodeJS.Timeout | undefined;
      const drained = await Promise.race([
        closed.then(() => true),
        new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs))),
      ]);
      clearTimeout(timer);
      if (!drained) {
        http.closeAllConnections();
        await closed;
      }
      await closeRest();
      return { drained };
    },
  };
}
