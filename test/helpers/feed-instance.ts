/**
 * A second gateway process for the live-feed cluster tests: `tsx` runs this
 * file with the environment of the instance (DATABASE_URL, REDIS_URL,
 * AUTH_SECRET, ENCRYPTION_KEYS…); it prints `{"url": …}` once listening and
 * stops on SIGTERM.
 */
import { createApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { openDatabase } from '../../src/db/database.js';
import { createGateway } from '../../src/server.js';

const config = loadConfig({ ...process.env, PORT: '0', HOST: '127.0.0.1' });
const db = await openDatabase(config.database);
const gateway = createGateway(createApp(config, db));
await new Promise<void>((resolve) => gateway.http.listen(0, '127.0.0.1', resolve));
process.stdout.write(JSON.stringify({ url: gateway.url }) + '\n');
process.on('SIGTERM', () => {
  void gateway
    .close()
    .then(() => db.close())
    .finally(() => process.exit(0));
});
