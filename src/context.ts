import type { YogaInitialContext } from 'graphql-yoga';
import type { Principal } from './auth/principal.js';
import type { PrismaClient } from './generated/prisma/client.js';
import type { Services } from './services.js';

/** What the gateway adds to every operation's context (HTTP and WebSocket alike). */
export interface AppContext {
  principal: Principal | null;
  prisma: PrismaClient;
  services: Services;
}

export type Context = YogaInitialContext & AppContext;
