/**
 * `npm run seed`: creates a demo organization with customers, example
 * connectors and connections, and prints a token for each kind of principal,
 * ready to paste into GraphiQL. The gateway must be stopped when it runs on
 * the embedded database (one process per PGlite data directory).
 */
import { createApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { openDatabase } from '../src/db/database.js';
import { demoBanner, seedDemoContent, seedOrg } from '../src/seed/demo.js';

const config = loadConfig();
const db = await openDatabase(config.database).catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
await db.migrate();
const app = createApp(config, db);
const seeded = await seedOrg(app, { name: 'Demo Org', customers: ['acme-corp', 'globex'] });
await seedDemoContent(app, seeded);
console.log(demoBanner(seeded, config.port));
await db.close();
