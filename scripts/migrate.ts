/** `npm run migrate`: applies committed migrations to the configured database (also done at start-up). */
import { ConfigError, loadConfig } from '../src/config.js';
import { openDatabase } from '../src/db/database.js';

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
