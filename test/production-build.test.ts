import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, createLogger } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { newKeySpec } from '../src/crypto/keyring.js';
import { openDatabase } from '../src/db/database.js';
import { seedOrg } from '../src/seed/demo.js';
import { graphql } from './gql/index.js';
import { gql, http } from './helpers/client.js';
import { freshDatabase, type FreshDatabase } from './helpers/database.js';

/**
 * Production start: `npm run build` compiles the gateway to dist/ and
 * `node dist/main.js` runs it with no TypeScript loader in the process, on
 * the database of this run (an embedded data directory, or a fresh PostgreSQL
 * database). The build is incremental, so a second run of this file only
 * checks that dist/ is current.
 */
const run = promisify(execFile);
let env: Record<string, string>;
let fresh: FreshDatabase | undefined;
let dataDir: string;
let adminToken: string;
let server: ChildProcess | undefined;
let url: string;
let stderr = '';

const Viewer = graphql(`
  query ProductionViewer {
    viewer { kind organization { slug } }
  }
`);

beforeAll(async () => {
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  // Incremental: seconds when dist/ is current, a few minutes from scratch on a busy machine.
  await run(npm, ['run', '--silent', 'build'], { timeout: 420_000 });

  dataDir = mkdtempSync(path.join(tmpdir(), 'cg-prod-'));
  const common = { AUTH_SECRET: randomBytes(32).toString('base64url'), ENCRYPTION_KEYS: newKeySpec('prod1'), LOG_LEVEL: 'info', LOG_FORMAT: 'json' };
  if (process.env.DATABASE_URL) {
    fresh = await freshDatabase();
    env = { ...common, DATABASE_URL: (fresh.database as { url: string }).url };
  } else {
    env = { ...common, DATA_DIR: dataDir, SEED_DEMO: 'false' };
  }
  // An organization to ask about, made here through the services; the compiled gateway then serves it.
  const config = loadConfig({ ...env, PORT: '0', LOG_LEVEL: 'silent' });
  const db = await openDatabase(config.database);
  await db.migrate();
  const app = createApp(config, db, createLogger(config));
  adminToken = (await seedOrg(app, { slug: 'compiled', customers: [] })).adminToken;
  await db.close();

  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env, PORT: '0', HOST: '127.0.0.1' };
  if (!process.env.DATABASE_URL) delete childEnv.DATABASE_URL;
  // Exactly what `npm run start:prod` runs, without npm in between (so the process is ours to stop).
  const child = spawn(process.execPath, ['--enable-source-maps', 'dist/main.js'], { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  server = child;
  let out = '';
  url = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (b: Buffer) => {
      out += String(b);
      const m = /listening on (http:\/\/localhost:\d+)\/graphql/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.stderr.on('data', (b: Buffer) => (stderr += String(b)));
    child.once('exit', (code) => reject(new Error(`dist/main.js exited with ${code}: ${stderr}${out}`)));
  });
}, 480_000);

afterAll(async () => {
  if (server && server.exitCode === null) {
    const exited = new Promise((r) => server!.once('exit', r));
    server.kill('SIGTERM');
    await exited;
  }
  await fresh?.drop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

describe('the compiled gateway', () => {
  it('is plain JavaScript: dist/ holds the gateway and the generated Prisma client, as .js', () => {
    expect(existsSync('dist/main.js')).toBe(true);
    expect(existsSync('dist/generated/prisma/client.js')).toBe(true);
  });

  it('answers /health', async () => {
    const res = await http(`${url}/health`);
    expect(res.status).toBe(200);
    expect(res.json()).toEqual({ message: 'alive' });
  });

  it('answers a GraphQL query with a credential, through the compiled schema and Prisma client', async () => {
    const res = await gql(url, Viewer, {}, adminToken);
    expect(res.errors).toBeUndefined();
    expect(res.data?.viewer).toEqual({ kind: 'ORG_USER', organization: { slug: 'compiled' } });
    expect((await gql(url, Viewer, {}, 'not-a-token')).status).toBe(401);
  });
});
