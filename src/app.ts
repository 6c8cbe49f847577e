import { pino, type Logger } from 'pino';
import { TokenService } from './auth/tokens.js';
import type { Config } from './config.js';
import type { Database } from './db/database.js';
import { FeedHub } from './modules/feed/hub.js';

/**
 * The long-lived collaborators of one gateway process, shared by every
 * request and every service call (as `op.app` / `ctx.app`).
 */
export interface App {
  config: Config;
  db: Database;
  log: Logger;
  tokens: TokenService;
  /** The live feed of this process (started by the HTTP edge). */
  feed: FeedHub;
}

export function createLogger(config: Pick<Config, 'logLevel'>): Logger {
  return pino({
    level: config.logLevel,
    // Defence in depth: whatever a caller passes, these never reach a log line.
    redact: {
      paths: ['authorization', '*.authorization', 'headers.authorization', 'secret', '*.secret', 'token', '*.token', 'password', '*.password', 'value', '*.value'],
      censor: '[redacted]',
    },
  });
}

export function createApp(config: Config, db: Database, log: Logger = createLogger(config)): App {
  const feed = new FeedHub({
    prisma: db.prisma,
    log,
    redisUrl: config.redisUrl,
    retentionHours: config.feedRetentionHours,
    pollMs: config.feedPollMs,
  });
  return { config, db, log, tokens: new TokenService(config.authSecret, db.prisma), feed };
}
