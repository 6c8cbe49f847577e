import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { createApp, createLogger, type App } from '../../src/app.js';
import { type Config, loadConfig } from '../../src/config.js';
import { newKeySpec } from '../../src/crypto/keyring.js';
import { openDatabase, type Database } from '../../src/db/database.js';
import { createGateway, type Gateway } from '../../src/server.js';
import { freshDatabase } from './database.js';

/**
 * The one way tests start a gateway: a real one (HTTP + WebSocket on an
 * ephemeral port) on a fresh copy of the migrated test database, or — with
 * `on` — another instance on an existing gateway's database (its own pool on
 * PostgreSQL, as behind a load balancer; the same in-process database on
 * PGlite). Its log lines are captured (the production logger, redaction
 * included; `LOG_LEVEL` says which, none by default) and every SQL statement
 * it sends is recorded. `PUBLIC_URL` is the gateway's real address, so OAuth2
 * callbacks reach it.
 */
export interface TestGateway {
  url: string;
  app: App;
  db: Database;
  gateway: Gateway;
  /** Every log line this gateway wrote. */
  logs: string[];
  /** SQL statements sent since the last `resetQueries()`. */
  queries: string[];
  resetQueries(): void;
  close(): Promise<void>;
}

/** The log lines of every gateway this test file started (secret scans). */
export const capturedLogs: string[] = [];

function captureLogger(config: Config, sink: string[]) {
  const log = createLogger(config);
  const stream = new Writable({
    write(chunk, _enc, cb) {
      const line = String(chunk);
      sink.push(line);
      capturedLogs.push(line);
      cb();
    },
  });
  (log as unknown as Record<symbol, unknown>)[pino.symbols.streamSym] = stream;
  return log;
}

export async function startGateway(
  env: Record<string, string> = {},
  opts: { on?: TestGateway; config?: Partial<Pick<Config, 'keyRing' | 'database' | 'health' | 'listReads' | 'maxComplexity'>> } = {},
): Promise<TestGateway> {
  const queries: string[] = [];
  const onQuery = (sql: string) => queries.push(sql);
  let config: Config;
  let db: Database;
  let drop = async () => {};
  if (opts.on) {
    config = { ...opts.on.app.config, ...opts.config };
    db = config.database.kind === 'postgres' ? await openDatabase(config.database, { onQuery }) : opts.on.db;
  } else {
    const fresh = await freshDatabase();
    config = {
      ...loadConfig({
        PORT: '0',
        HOST: '127.0.0.1',
        AUTH_SECRET: randomBytes(32).toString('base64url'),
        ENCRYPTION_KEYS: newKeySpec('test1'),
        LOG_LEVEL: 'silent',
        // The suite sends far more per credential than a principal's budget; test/robust-rate-limit.test.ts turns them on.
        RATE_LIMITS: 'off',
        // Health workers stay quiet (no background refresh racing the lazy path, no polling statements in SQL counts);
        // the health tests ask for short intervals, and a change in this process still wakes the webhook worker.
        HEALTH_REFRESH_POLL_MS: '3600000',
        HEALTH_CHECK_POLL_MS: '3600000',
        WEBHOOK_POLL_MS: '3600000',
        ...env,
      }),
      database: fresh.database,
      ...opts.config,
    };
    db = await openDatabase(config.database, { onQuery, ...(fresh.loadDataDir ? { loadDataDir: fresh.loadDataDir } : {}) });
    drop = fresh.drop;
  }
  const ownsDb = db !== opts.on?.db;
  const logs: string[] = [];
  const app = createApp(config, db, captureLogger(config, logs));
  const gateway = createGateway(app);
  await new Promise<void>((resolve) => gateway.http.listen(0, '127.0.0.1', resolve));
  config.publicUrl = gateway.url;
  return {
    url: gateway.url,
    app,
    db,
    gateway,
    logs,
    queries,
    resetQueries: () => void queries.splice(0),
    async close() {
      await gateway.close();
      if (ownsDb) {
        await db.close();
        await drop();
      }
    },
  };
}
