/**
 * The gateway of the proxy benchmark: a real gateway on the database named by
 * DATABASE_URL (migrated here), with one organization whose customer `acme`
 * has a SECRET_TEXT connection `bench` proxied to UPSTREAM_URL. Prints
 * `{"url", "token"}` (acme's runtime token) once listening.
 */
import { createApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { openDatabase } from '../../src/db/database.js';
import { write } from '../../src/op.js';
import { createConnection, findConnection } from '../../src/modules/connections/service.js';
import { createConnector } from '../../src/modules/connectors/service.js';
import { setValue } from '../../src/modules/values/service.js';
import { adminOf, seedOrg } from '../../src/seed/demo.js';
import { createGateway } from '../../src/server.js';

const config = loadConfig({ ...process.env, PORT: '0', HOST: '127.0.0.1' });
const db = await openDatabase(config.database);
await db.migrate();
const app = createApp(config, db);
const org = await seedOrg(app, { customers: ['acme'] });
await write(app, await adminOf(app, org.orgId), 'system', async (op) => {
  await createConnector(op, { key: 'bench', name: 'Bench API', authType: 'SECRET_TEXT', proxy: { baseUrl: process.env.UPSTREAM_URL! } });
  const c = await createConnection(op, { stableKey: 'bench', name: 'Bench API', connectorKey: 'bench', type: 'CUSTOMER_ACTIVATED' });
  await setValue(op, await findConnection(op, { id: c.id }), { kind: 'CUSTOMER', customerId: org.customers[0]!.id }, { values: { secret_text: process.env.BENCH_SECRET! } });
});
const gateway = createGateway(app);
await new Promise<void>((resolve) => gateway.http.listen(0, '127.0.0.1', resolve));
process.stdout.write(JSON.stringify({ url: gateway.url, token: org.customers[0]!.runtimeToken }) + '\n');
// Stopped by the benchmark: exit normally (so `--cpu-prof` in NODE_OPTIONS writes its profile).
process.on('SIGTERM', () => process.exit(0));
