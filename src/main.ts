import { ConfigError, loadConfig } from './config.js';
import { openDatabase } from './db/database.js';
import { demoBanner, seedDemoContent, seedOrg } from './seed/demo.js';
import { createGateway } from './server.js';
import { createApp, createLogger } from './app.js';

/** Entry point: validate config, open and migrate the database, listen. */
async function main(): Promise<void> {
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

  const db = await openDatabase(config.database);
  const applied = await db.migrate();
  if (applied.length) log.info({ applied }, 'applied migrations');

  const app = createApp(config, db, log);
  // First start of a new embedded data directory: make it usable at once.
  if (db.kind === 'pglite' && config.seedDemo && (await db.prisma.organization.count()) === 0) {
    const seeded = await seedOrg(app, { name: 'Demo Org', slug: 'demo', customers: ['acme-corp', 'globex'] });
    await seedDemoContent(app, seeded);
    console.log('\n' + demoBanner(seeded, config.port) + '\n');
  }
  const gateway = createGateway(app);
  await new Promise<void>((resolve) => gateway.http.listen(config.port, config.host, resolve));
  log.info(
    { database: db.kind === 'pglite' ? `PGlite (${config.database.kind === 'pglite' ? config.database.dataDir : ''})` : 'PostgreSQL' },
    `connections gateway listening on http://localhost:${config.port}/graphql`,
  );

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    await gateway.close();
    await db.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

void main().catch((err: unknown) => {
  console.error('fatal:', err instanceof Error ? err.message : err);
  process.exit(1);
});
