import { existsSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { ConfigError, listenAddress, loadConfig } from './config.js';
import { DatabaseError, openDatabase } from './db/database.js';
import { credentialsOf, demoBanner, reissueDemoCredentials, saveDemoSigner, saveGatewayUrl, seedDemoContent, seedOrg } from './seed/demo.js';
import { createGateway } from './server.js';
import { createApp, createLogger, type App } from './app.js';

const DEMO_SLUG = 'demo';

/** Entry point: validate config, open and migrate the database, listen. */
async function main(): Promise<void> {
  // The port first: a busy port or a bad HOST stops here, before anything is written (secrets, migrations, the demo).
  const address = listenAddress();
  const server = address ? await listen(address.port, address.host) : null;
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(2);
    }
    throw err;
  }
  const log = createLogger(config);
  for (const notice of config.notices) log.warn(notice);

  // The first start of an empty data directory creates a PostgreSQL cluster in-process (initdb) and migrates it:
  // a minute on a slow machine, so it says so before it starts.
  const embedded = config.database.kind === 'pglite' ? config.database.dataDir : null;
  if (embedded && !existsSync(path.join(embedded, 'PG_VERSION'))) {
    log.info({ dataDir: embedded }, 'first start of this data directory: creating the embedded database (this can take a minute)');
  }
  const db = await openDatabase(config.database);
  const pending = await db.pendingMigrations();
  if (pending.length) log.info({ pending: pending.length }, `applying ${pending.length} database migration${pending.length === 1 ? '' : 's'}`);
  const applied = await db.migrate();
  if (applied.length) log.info({ applied }, 'applied migrations');

  const app = createApp(config, db, log);
  await welcome(app);
  const gateway = createGateway(app, server!);
  server!.off('request', starting);
  const { port } = gateway.http.address() as AddressInfo;
  // Where `npm run seed` tells the demo's user to go, for a gateway it cannot ask (it runs with the gateway stopped).
  if (embedded) await saveGatewayUrl(config.dataDir, process.env.PUBLIC_URL ? config.publicUrl : `http://localhost:${port}`);
  log.info(
    { port, database: db.kind === 'pglite' ? `PGlite (${config.database.kind === 'pglite' ? config.database.dataDir : ''})` : 'PostgreSQL' },
    `connections gateway listening on http://localhost:${port}/graphql`,
  );

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) {
      // A second signal: stop now.
      log.warn({ signal }, 'stopping without waiting for in-flight requests');
      process.exit(1);
    }
    stopping = true;
    log.info({ signal, timeoutMs: config.shutdownTimeoutMs }, 'shutting down: draining in-flight requests');
    const { drained } = await gateway.shutdown(config.shutdownTimeoutMs);
    if (!drained) log.warn({ timeoutMs: config.shutdownTimeoutMs }, 'SHUTDOWN_TIMEOUT reached: closed the connections still in flight');
    await db.close();
    log.info('stopped');
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

/** Takes the port, or exits with one line saying why not (the port is in use, the host is unknown…). */
async function listen(port: number, host: string): Promise<Server> {
  const server = createServer();
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const reason =
      code === 'EADDRINUSE' ? `port ${port} is already in use on ${host} (another gateway?); stop it or set PORT`
      : code === 'EACCES' ? `permission denied for port ${port} on ${host}; use a port above 1023`
      : code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EAI_NONAME' ? `unknown host "${host}"; set HOST to an address of this machine (0.0.0.0 for all)`
      : code === 'EADDRNOTAVAIL' ? `"${host}" is not an address of this machine; set HOST to one (0.0.0.0 for all)`
      : err instanceof Error ? err.message : String(err);
    console.error(`Cannot start: ${code === 'EADDRINUSE' || code === 'EACCES' ? 'PORT' : 'HOST'}: ${reason}`);
    process.exit(1);
  }
  server.on('request', starting);
  return server;
}

/** Until the gateway is ready (migrations, the demo): a typed, retryable answer rather than a hanging request. */
function starting(_req: IncomingMessage, res: ServerResponse): void {
  res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '1' });
  res.end(JSON.stringify({ statusCode: 503, code: 'SERVICE_UNAVAILABLE', message: 'The gateway is starting; retry shortly', retryable: true }));
}

/**
 * What the person starting the gateway needs next. The embedded default seeds
 * a demo organization on its first start and prints fresh demo tokens on
 * every later one (they last 24 hours); an empty database otherwise says how
 * to create the first organization. Tokens go to the terminal (stderr), never
 * to the log.
 */
async function welcome(app: App): Promise<void> {
  const { config, db, log } = app;
  const demo = db.kind === 'pglite' && config.seedDemo;
  if ((await db.prisma.organization.count()) === 0) {
    if (!demo) {
      log.warn(
        'No organization yet. Create the first one and its admin (prints a token): ' +
          'npm run admin -- org create --name "<name>" --slug <slug> --admin-email <email>' +
          (db.kind === 'pglite' ? ' (stop the gateway first: one process per data directory)' : '') +
          '; or the demo organization: npm run seed',
      );
      return;
    }
    log.info('creating the demo organization');
    const seeded = await seedOrg(app, { name: 'Demo Org', slug: DEMO_SLUG, customers: ['acme-corp', 'globex'] });
    await seedDemoContent(app, seeded);
    await saveDemoSigner(config.dataDir, seeded.signer);
    process.stderr.write(`\n${demoBanner(credentialsOf(seeded), config.publicUrl, `Demo organization "${DEMO_SLUG}" created. Tokens are valid for 24 hours.`)}\n\n`);
    return;
  }
  const existing = demo ? await reissueDemoCredentials(app, DEMO_SLUG, config.dataDir) : null;
  if (existing) {
    process.stderr.write(`\n${demoBanner(existing, config.publicUrl, `Demo organization "${DEMO_SLUG}" (from ${config.dataDir}): new tokens, valid for 24 hours.`)}\n\n`);
  }
}

void main().catch((err: unknown) => {
  // Expected failures (configuration, database) name what to fix; anything else keeps its stack.
  console.error(err instanceof DatabaseError ? err.message : err);
  process.exit(1);
});
