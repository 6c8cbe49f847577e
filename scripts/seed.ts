/**
 * `npm run seed`: creates a demo organization with customers, example
 * connectors and connections, and prints a token for each kind of principal,
 * ready to paste into GraphiQL. The gateway must be stopped when it runs on
 * the embedded database (one process per PGlite data directory).
 */
import { createApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { openDatabase } from '../src/db/database.js';
import { credentialsOf, demoBanner, lastGatewayUrl, seedDemoContent, seedOrg } from '../src/seed/demo.js';
import { runCli } from './cli.js';

runCli('seed', {
  usage: `
Usage: npm run seed [-- --slug <slug>]

Creates a demo organization (customers acme-corp and globex, a global Twilio
connection, a customer-activated Acme API connection) and prints a token for
each kind of principal, valid 24 hours, and the same as shell variables for
the README's examples. Without --slug the organization gets a random one.

Configuration comes from the environment, as for the gateway: DATABASE_URL
(with AUTH_SECRET and ENCRYPTION_KEYS) for PostgreSQL, else the embedded
database in DATA_DIR (stop the gateway first: one process per data directory).
The address printed is PUBLIC_URL, else http://localhost:PORT when PORT is set,
else — on the embedded database — the one the gateway last started on.
`,
  options: { slug: { type: 'string' } },
  async run({ values }) {
    const config = loadConfig();
    const db = await openDatabase(config.database);
    try {
      await db.migrate();
      const app = createApp(config, db);
      const seeded = await seedOrg(app, { name: 'Demo Org', ...(values.slug ? { slug: values.slug } : {}), customers: ['acme-corp', 'globex'] });
      await seedDemoContent(app, seeded);
      // The gateway's address, not this process's defaults: it may run on another port than 4000.
      const url = process.env.PUBLIC_URL || process.env.PORT || config.database.kind !== 'pglite' ? config.publicUrl : ((await lastGatewayUrl(config.dataDir)) ?? config.publicUrl);
      console.log(demoBanner(credentialsOf(seeded), url, `Demo organization "${seeded.slug}" created. Tokens are valid for 24 hours.`));
    } finally {
      await db.close();
    }
  },
});
