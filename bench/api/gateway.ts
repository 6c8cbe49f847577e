/**
 * The gateway under the API benchmark, as deployed: the compiled build in
 * dist/ (`npm run build`), run by Node without a loader (BENCH_SOURCES=1: the
 * sources through tsx). Prints `{"url": …}` on stdout when listening; answers
 * `{ cmd: 'queries' }` IPC messages with the SQL statements it sent since the
 * last ask.
 */
const root = process.env.BENCH_SOURCES === '1' ? '../../src' : '../../dist';
const load = <T>(path: string): Promise<T> => import(`${root}/${path}.js`) as Promise<T>;
const { createApp } = await load<typeof import('../../src/app.js')>('app');
const { loadConfig } = await load<typeof import('../../src/config.js')>('config');
const { openDatabase } = await load<typeof import('../../src/db/database.js')>('db/database');
const { createGateway } = await load<typeof import('../../src/server.js')>('server');

const config = loadConfig({ ...process.env, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'silent' });
const statements: { sql: string; params: string }[] = [];
const db = await openDatabase(config.database, { onQuery: (sql, params) => statements.push({ sql, params }) });
const gateway = createGateway(createApp(config, db));
await new Promise<void>((resolve) => gateway.http.listen(0, '127.0.0.1', resolve));
process.on('message', (m: { cmd: string }) => {
  if (m.cmd === 'queries') process.send!({ queries: statements.splice(0) });
});
process.stdout.write(JSON.stringify({ url: gateway.url }) + '\n');
// A normal exit on a signal, so `--cpu-prof` can write its profile.
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(0));
