/**
 * `npm run seed`: creates a demo organization with customers and prints a
 * token for each kind of principal, ready to paste into GraphiQL.
 */
import { loadConfig } from '../src/config.js';
import { openDatabase } from '../src/db/database.js';
import { demoBanner, seedOrg } from '../src/seed/demo.js';
import { createLogger, createServices } from '../src/services.js';

const config = loadConfig();
const db = await openDatabase(config.database).catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
await db.migrate();
const services = createServices(config, db, createLogger({ logLevel: 'warn' }));
const seeded = await seedOrg(db.prisma, services.tokens, {
  name: 'Demo Org',
  customers: ['acme-corp', 'globex'],
});
console.log(demoBanner(seeded, config.port));
await db.close();
