/**
 * Start-up benchmark (not a test): how long a gateway process takes from
 * spawn to its first answered `/health` (listening) and to `/ready` answering
 * 200 (its database open: GraphQL answers), and its resident memory once it
 * has answered a GraphQL query, for the TypeScript loader (`node --import tsx
 * src/main.ts`, what `npm start` runs) and the compiled build (`node
 * dist/main.js`, `npm run start:prod`; run `npm run build` first). Runs
 * alternate between the two so a noisy machine affects both alike. On the
 * embedded database it also measures the first start of an empty data
 * directory (created and migrated; a new directory each run).
 *
 *   npm run build && npm run bench:start                 # embedded PGlite (a data directory made once)
 *   DATABASE_URL=postgres://… npm run bench:start        # a fresh PostgreSQL database, dropped after
 *   npm run bench:start -- --runs 5
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { newKeySpec } from '../src/crypto/keyring.js';

const args = process.argv.slice(2);
const runs = Number(args[args.indexOf('--runs') + 1] ?? 3) || 3;
if (!existsSync('dist/main.js')) {
  console.error('dist/main.js is missing: run `npm run build` first.');
  process.exit(2);
}

const modes = {
  'tsx (node --import tsx src/main.ts)': ['--import', 'tsx', 'src/main.ts'],
  'compiled (node --enable-source-maps dist/main.js)': ['--enable-source-maps', 'dist/main.js'],
  'compiled, no source maps (node dist/main.js)': ['dist/main.js'],
} as const;

const dataDir = mkdtempSync(path.join(os.tmpdir(), 'cg-start-'));
const env: NodeJS.ProcessEnv = {
  ...process.env,
  PORT: '0',
  HOST: '127.0.0.1',
  LOG_FORMAT: 'json',
  AUTH_SECRET: randomBytes(32).toString('base64url'),
  ENCRYPTION_KEYS: newKeySpec('start'),
  DATA_DIR: dataDir,
  SEED_DEMO: 'false',
};
let drop = async () => {};
if (process.env.DATABASE_URL) {
  const name = `cg_start_${randomBytes(5).toString('hex')}`;
  const admin = new pg.Client({ connectionString: process.env.DATABASE_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(process.env.DATABASE_URL);
  url.pathname = `/${name}`;
  env.DATABASE_URL = url.toString();
  drop = async () => {
    const c = new pg.Client({ connectionString: process.env.DATABASE_URL });
    await c.connect();
    await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await c.end();
  };
} else {
  delete env.DATABASE_URL;
}

interface Start {
  healthMs: number;
  readyMs: number;
  rssMiB: number;
}

/** One start: spawn → first 200 from /health and from /ready (ms); RSS after one GraphQL query (MiB). */
async function start(argv: readonly string[], dir = dataDir): Promise<Start> {
  const t0 = performance.now();
  const child = spawn(process.execPath, [...argv], { env: { ...env, DATA_DIR: dir }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr.on('data', (b: Buffer) => (err += String(b)));
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (b: Buffer) => {
      out += String(b);
      const m = /listening on (http:\/\/localhost:\d+)\/graphql/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`exited with ${code}: ${err}${out}`)));
  });
  // The log line comes just before the socket accepts: the first answered /health is "listening".
  const until = async (path: string) => {
    for (;;) {
      const ok = await fetch(`${url}${path}`).then((r) => r.ok, () => false);
      if (ok) return performance.now() - t0;
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  const healthMs = await until('/health');
  // A first start listens (and says what it does) while it creates the database; /ready says when it answers.
  const readyMs = await until('/ready');
  await fetch(`${url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query":"{ __typename }"}' });
  const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
  const rssMiB = Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
  return { healthMs, readyMs, rssMiB };
}

try {
  // The first start creates (PGlite) and migrates the database: not measured.
  await start(modes['compiled (node --enable-source-maps dist/main.js)']);
  const results = new Map<string, Start[]>();
  for (let i = 0; i < runs; i++) {
    for (const [name, argv] of Object.entries(modes)) {
      const r = await start(argv);
      results.set(name, [...(results.get(name) ?? []), r]);
      if (!process.env.DATABASE_URL) {
        // The first start of an empty data directory, measured: a directory of its own, removed after.
        const fresh = mkdtempSync(path.join(os.tmpdir(), 'cg-first-'));
        try {
          const first = await start(argv, path.join(fresh, 'data'));
          results.set(`${name}, first start of an empty data directory`, [...(results.get(`${name}, first start of an empty data directory`) ?? []), first]);
        } finally {
          rmSync(fresh, { recursive: true, force: true });
        }
      }
    }
  }
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  console.log(`# start-up — ${new Date().toISOString()}, ${os.cpus().length} cores, Node ${process.version}, load ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  console.log(`# database: ${process.env.DATABASE_URL ? 'PostgreSQL' : 'PGlite (data directory re-opened)'}; ${runs} runs each, median (min–max)`);
  console.log('| how | spawn → /health answered | spawn → /ready 200 | RSS after one query |');
  console.log('|---|---|---|---|');
  const cell = (xs: number[], unit: string) => `${median([...xs]).toFixed(0)} ${unit} (${Math.min(...xs).toFixed(0)}–${Math.max(...xs).toFixed(0)})`;
  for (const [name, rs] of results) {
    console.log(`| ${name} | ${cell(rs.map((r) => r.healthMs), 'ms')} | ${cell(rs.map((r) => r.readyMs), 'ms')} | ${cell(rs.map((r) => r.rssMiB), 'MiB')} |`);
  }
} finally {
  await drop();
  rmSync(dataDir, { recursive: true, force: true });
}
