import { pino, type Logger } from 'pino';
import { TokenService } from './auth/tokens.js';
import type { Config } from './config.js';
import type { Database } from './db/database.js';
import { FeedHub } from './modules/feed/hub.js';
import { createOutbound, type Outbound } from './outbound.js';

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
  /** Every request the gateway sends out goes through its policy. */
  outbound: Outbound;
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
  const tokens = new TokenService(config.authSecret, db.prisma);
  const feed = new FeedHub({
    prisma: db.prisma,
    log,
    redisUrl: config.redisUrl,
    retentionHours: config.feedRetentionHours,
    pollMs: config.feedPollMs,
    revoked: (principals) => tokens.revokedAmong(principals),
  });
  return { config, db, log, tokens, feed, outbound: createOutbound({ allowedNetworks: config.outboundAllowedNetworks }) };
}
