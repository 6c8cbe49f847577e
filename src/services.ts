import { pino, type Logger } from 'pino';
import { TokenService } from './auth/tokens.js';
import type { Config } from './config.js';
import type { Database } from './db/database.js';

/** Long-lived collaborators of one gateway process, shared by every request. */
export interface Services {
  config: Config;
  db: Database;
  log: Logger;
  tokens: TokenService;
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

export function createServices(config: Config, db: Database, log: Logger = createLogger(config)): Services {
  return { config, db, log, tokens: new TokenService(config.authSecret, db.prisma) };
}
