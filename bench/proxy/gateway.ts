/**
 * The gateway of the proxy benchmark: a real gateway on the database named by
 * DATABASE_URL (migrated here), with one organization whose customer `acme`
 * has a SECRET_TEXT connection `bench` proxied to UPSTREAM_URL. Prints
 * `{"url", "token"}` (acme's runtime token) once listening.
 *
 * It runs the gateway as deployed: the compiled build in dist/ (`npm run
 * build`, what `npm run start:prod` runs), not the TypeScript sources through
 * the loader, which wraps every function (`__name`) and costs a few per cent
 * of a proxy call. BENCH_SOURCES=1 runs the sources instead.
 */
const root = process.env.BENCH_SOURCES === '1' ? '../../src' : '../../dist';
const load = <T>(path: string): Promise<T> => import(`${root}/${path}.js`) as Promise<T>;
const { createApp } = await load<typeof import('../../src/app.js')>('app');
const { loadConfig } = await load<typeof import('../../src/config.js')>('config');
const { openDatabase } = await load<typeof import('../../src/db/database.js')>('db/database');
const { write } = await load<typeof import('../../src/op.js')>('op');
const { createConnection, findConnection } = await load<typeof import('../../src/modules/connections/service.js')>('modules/connections/service');
const { createConnector } = await load<typeof import('../../src/modules/connectors/service.js')>('modules/connectors/service');
const { setValue } = await load<typeof import('../../src/modules/values/service.js')>('modules/values/service');
const { adminOf, seedOrg } = await load<typeof import('../../src/seed/demo.js')>('seed/demo');
const { createGateway } = await load<typeof import('../../src/server.js')>('server');

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
// Stopped by the benchmark: exit normally (so `--cpu-prof` writes its profile).
process.on('SIGTERM', () => process.exit(0));
