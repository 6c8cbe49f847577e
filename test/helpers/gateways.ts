import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { type Config, loadConfig } from '../../src/config.js';
import { newKeySpec } from '../../src/crypto/keyring.js';
import { openDatabase, type Database } from '../../src/db/database.js';
import { createGateway, type Gateway } from '../../src/server.js';
import { createLogger, createServices, type Services } from '../../src/services.js';
import { freshDatabase } from './database.js';

/**
 * Gateways for the credential tests, with their log lines captured (from the
 * production logger, redaction included) so tests can scan them for secrets.
 *
 * `startCapturedGateway()` starts a gateway on a fresh database;
 * `startGatewayOn(first)` starts another gateway instance on the *same*
 * database — its own connection pool on PostgreSQL (a separate instance as
 * behind a load balancer), the same in-process database on PGlite (which is
 * single-process by nature). `PUBLIC_URL` is the gateway's real address, so
 * OAuth2 callbacks reach it.
 */
export interface CapturedGateway {
  url: string;
  db: Database;
  services: Services;
  gateway: Gateway;
  /** Every log line this gateway wrote. */
  logs: string[];
  close(): Promise<void>;
}

/** Shared by every gateway of a test file. */
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
  // Redirect the production logger's output into the sink (same redaction, same format).
  (log as unknown as Record<symbol, unknown>)[pino.symbols.streamSym] = stream;
  return log;
}

async function boot(config: Config, db: Database, ownDb: boolean, drop: () => Promise<void>): Promise<CapturedGateway> {
  const logs: string[] = [];
  const services = createServices(config, db, captureLogger(config, logs));
  const gateway = createGateway(services);
  await new Promise<void>((resolve) => gateway.http.listen(0, '127.0.0.1', resolve));
  // The OAuth2 callback must point at this very gateway.
  config.publicUrl = gateway.url;
  return {
    url: gateway.url,
    db,
    services,
    gateway,
    logs,
    async close() {
      await gateway.close();
      if (ownDb) {
        await db.close();
        await drop();
      }
    },
  };
}

export async function startCapturedGateway(env: Record<string, string> = {}): Promise<CapturedGateway & { drop(): Promise<void> }> {
  const fresh = await freshDatabase();
  const config: Config = {
    ...loadConfig({
      PORT: '0',
      HOST: '127.0.0.1',
      AUTH_SECRET: randomBytes(32).toString('base64url'),
      ENCRYPTION_KEYS: newKeySpec('test1'),
      LOG_LEVEL: 'debug',
      ...env,
    }),
    database: fresh.database,
  };
  const db = await openDatabase(config.database);
  await db.migrate();
  const gw = await boot(config, db, false, fresh.drop);
  return {
    ...gw,
    drop: fresh.drop,
    async close() {
      await gw.close();
      await db.close();
      await fresh.drop();
    },
  };
}

/** Another gateway instance on the first one's database (same AUTH_SECRET; key ring overridable). */
export async function startGatewayOn(
  first: { services: Services; db: Database },
  overrides: Partial<Pick<Config, 'keyRing'>> = {},
): Promise<CapturedGateway> {
  const config: Config = { ...first.services.config, ...overrides };
  if (config.database.kind === 'postgres') {
    const db = await openDatabase(config.database);
    return boot(config, db, true, async () => {});
  }
  return boot(config, first.db, false, async () => {});
}
