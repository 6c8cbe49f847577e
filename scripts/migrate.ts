/** `npm run migrate`: applies committed migrations to the configured database (also done at start-up). */
import { ConfigError, loadConfig } from '../src/config.js';
import { openDatabase } from '../src/db/database.js';
import { helpIfAsked } from './cli.js';

helpIfAsked(`
Usage: npm run migrate

Applies the committed migrations (prisma/migrations) to the configured
database: DATABASE_URL, else the embedded database in DATA_DIR. Idempotent;
the gateway also does it at start-up.
`);

try {
  const config = loadConfig();
  const db = await openDatabase(config.database);
  const applied = await db.migrate();
  console.log(applied.length ? `applied: ${applied.join(', ')}` : 'database is up to date');
  await db.close();
} catch (err) {
  console.error(err instanceof ConfigError || err instanceof Error ? err.message : err);
  process.exit(1);
}
