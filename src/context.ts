import type { YogaInitialContext } from 'graphql-yoga';
import type { App } from './app.js';
import type { Principal } from './auth/principal.js';
import type { PrismaClient } from './generated/prisma/client.js';

/** What the gateway adds to every operation's context (HTTP and WebSocket alike). */
export interface AppContext {
  principal: Principal | null;
  /** The process's collaborators (config, database, feed…). */
  app: App;
  /** = app.db.prisma, where plugin-prisma looks for it. */
  prisma: PrismaClient;
}

export type Context = YogaInitialContext & AppContext;
