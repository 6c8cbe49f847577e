import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { newKeySpec } from '../src/crypto/keyring.js';
import { openDatabase } from '../src/db/database.js';
import { newEmbedKeyPair } from '../src/seed/embed.js';
import { createGateway } from '../src/server.js';
import { graphql } from './gql/index.js';
import { gql, http } from './helpers/client.js';
import { freshDatabase, type FreshDatabase } from './helpers/database.js';

/**
 * The operator's way in, `npm run admin`, on the database this run uses
 * (an embedded data directory, or a fresh PostgreSQL database): an
 * organization and its admin, tokens, API keys, embed keys — then a gateway
 * on that database accepts what it printed. An empty database's gateway
 * says what to run.
 */
const run = promisify(execFile);
let env: Record<string, string>;
let fresh: FreshDatabase | undefined;
let dataDir: string;

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(tmpdir(), 'cg-admin-'));
  const common = { AUTH_SECRET: randomBytes(32).toString('base64url'), ENCRYPTION_KEYS: newKeySpec('adm1'), LOG_LEVEL: 'silent' };
  if (process.env.DATABASE_URL) {
    fresh = await freshDatabase();
    env = { ...common, DATABASE_URL: (fresh.database as { url: string }).url };
  } else {
    env = { ...common, DATA_DIR: dataDir, SEED_DEMO: 'false' };
  }
});
afterAll(async () => {
  await fresh?.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

async function admin(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const childEnv = { ...process.env, ...env };
  if (!process.env.DATABASE_URL) delete childEnv.DATABASE_URL;
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', 'scripts/admin.ts', ...args], { env: childEnv });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const Viewer = graphql(`
  query AdminCliViewer {
    viewer { kind organization { name slug } }
  }
`);

describe('npm run admin', () => {
  it('has --help, and bad usage exits 2 naming what is wrong', { timeout: 120_000 }, async () => {
    const help = await admin('--help');
    expect(help.code).toBe(0);
    for (const cmd of ['org create', 'token', 'apikey create', 'apikey list', 'apikey revoke', 'embedkey register']) expect(help.stdout).toContain(cmd);
    const unknown = await admin('frobnicate');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown command "frobnicate"');
    const missing = await admin('token');
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('missing --org');
  });

  it('an empty database: the gateway says how to create the first organization', { timeout: 120_000 }, async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      env: { ...process.env, ...env, PORT: '0', LOG_LEVEL: 'info', LOG_FORMAT: 'json', ...(process.env.DATABASE_URL ? {} : { DATABASE_URL: '' }) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    try {
      await expect.poll(() => out, { timeout: 60_000, interval: 200 }).toContain('listening');
      expect(out).toContain('No organization yet');
      expect(out).toContain('npm run admin -- org create');
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
  });

  it('creates an organization with its admin, tokens, API keys and embed keys, which a gateway then accepts', async () => {
    const bad = await admin('org', 'create', '--name', 'Acme', '--slug', 'Not A Slug', '--admin-email', 'nope');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('--slug');
    expect(bad.stderr).toContain('--admin-email');

    const created = await admin('org', 'create', '--name', 'Acme Inc', '--slug', 'acme', '--admin-email', 'Ops@Acme.example', '--admin-name', 'Ops');
    expect(created.code, created.stderr).toBe(0);
    expect(created.stderr).toContain('Created organization "acme"');
    const firstToken = created.stdout.trim();
    expect(firstToken.split('.')).toHaveLength(3);

    const again = await admin('org', 'create', '--name', 'Acme again', '--slug', 'acme', '--admin-email', 'x@acme.example');
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('CONFLICT');

    const listed = await admin('org', 'list');
    expect(listed.stdout).toMatch(/acme\s+Acme Inc\s+1\s+0/);

    expect((await admin('user', 'add', '--org', 'acme', '--email', 'dev@acme.example', '--name', 'Dev')).code).toBe(0);
    const devToken = await admin('token', '--org', 'acme', '--email', 'dev@acme.example', '--ttl-hours', '2');
    expect(devToken.code, devToken.stderr).toBe(0);
    expect((await admin('token', '--org', 'nope')).stderr).toContain('no organization with slug "nope"');

    const key = await admin('apikey', 'create', '--org', 'acme', '--name', 'backend', '--read-only');
    expect(key.code, key.stderr).toBe(0);
    const secret = key.stdout.trim();
    expect(secret).toMatch(/^cgk_/);
    const keys = await admin('apikey', 'list', '--org', 'acme');
    expect(keys.stdout).toContain('backend');
    expect(keys.stdout).not.toContain(secret);
    const keyId = /^([0-9a-f-]{36})\s+backend/m.exec(keys.stdout)?.[1];
    expect(keyId).toBeTruthy();
    const second = (await admin('apikey', 'create', '--org', 'acme', '--name', 'other', '--credential-reads')).stdout.trim();
    expect((await admin('apikey', 'list', '--org', 'acme')).stdout).toMatch(/other\s.*true/);

    const pem = path.join(dataDir, 'embed.pem');
    writeFileSync(pem, (await newEmbedKeyPair()).publicKeyPem);
    const embed = await admin('embedkey', 'register', '--org', 'acme', '--alg', 'ES256', '--public-key-file', pem);
    expect(embed.code, embed.stderr).toBe(0);
    expect(embed.stdout.trim()).toMatch(/^[0-9a-f-]{36}$/);
    expect((await admin('embedkey', 'list', '--org', 'acme')).stdout).toContain(embed.stdout.trim());
    expect((await admin('embedkey', 'register', '--org', 'acme', '--alg', 'RS256', '--public-key-file', pem)).stderr).toContain('publicKey');

    expect((await admin('apikey', 'revoke', '--org', 'acme', 'not-a-key-id')).code).toBe(2);
    const revoked = await admin('apikey', 'revoke', '--org', 'acme', keyId!);
    expect(revoked.code, revoked.stderr).toBe(0);

    // A gateway on the same database accepts what the CLI printed.
    const config = loadConfig({ PORT: '0', ...env });
    const db = await openDatabase(config.database);
    const gateway = createGateway(createApp(config, db));
    await new Promise<void>((resolve) => gateway.http.listen(0, '127.0.0.1', resolve));
    try {
      for (const token of [firstToken, devToken.stdout.trim(), second]) {
        const res = await gql(gateway.url, Viewer, {}, token);
        expect(res.data?.viewer.organization).toEqual({ name: 'Acme Inc', slug: 'acme' });
      }
      expect((await gql(gateway.url, Viewer, {}, devToken.stdout.trim())).data?.viewer.kind).toBe('ORG_USER');
      expect((await http(`${gateway.url}/api/v1/projects`, { token: secret })).status).toBe(401);
    } finally {
      await gateway.close();
      await db.close();
    }
    // Each command is a process of its own (tsx, the database opened and migrated): slow on a busy machine.
  }, 300_000);
});

describe('configuration and database errors name what to fix, without a stack trace', () => {
  async function cli(script: string, vars: Record<string, string>, args = script.endsWith('admin.ts') ? ['org', 'list'] : []): Promise<{ code: number; stderr: string }> {
    const childEnv: Record<string, string | undefined> = { ...process.env, DATABASE_URL: undefined, AUTH_SECRET: undefined, ENCRYPTION_KEYS: undefined, ...vars };
    try {
      await run(process.execPath, ['--import', 'tsx', script, ...args], { env: childEnv as NodeJS.ProcessEnv });
      return { code: 0, stderr: '' };
    } catch (err) {
      const e = err as { code: number; stderr: string };
      return { code: e.code, stderr: e.stderr };
    }
  }
  const secrets = { AUTH_SECRET: randomBytes(32).toString('base64url'), ENCRYPTION_KEYS: newKeySpec('e1') };
  const server = process.env.DATABASE_URL ? new URL(process.env.DATABASE_URL) : new URL('postgres://postgres@127.0.0.1:5432/postgres');

  it('DATABASE_URL: a missing database, an unreachable server; AUTH_SECRET missing', { timeout: 120_000 }, async () => {
    const missing = new URL(server);
    missing.pathname = '/cg_no_such_db';
    const noDb = await cli('scripts/admin.ts', { ...secrets, DATABASE_URL: missing.toString() });
    expect(noDb.code).toBe(1);
    expect(noDb.stderr).toContain(`DATABASE_URL: cannot connect to PostgreSQL at ${missing.hostname}:${missing.port || 5432}, database "cg_no_such_db"`);
    expect(noDb.stderr).toContain('does not exist');

    const noServer = await cli('scripts/admin.ts', { ...secrets, DATABASE_URL: 'postgres://postgres:pw-not-shown@127.0.0.1:1/gateway' });
    expect(noServer.stderr).toContain('DATABASE_URL: cannot connect to PostgreSQL at 127.0.0.1:1, database "gateway"');
    expect(noServer.stderr).toContain('connection refused');
    expect(noServer.stderr).not.toContain('pw-not-shown');

    const noSecret = await cli('scripts/seed.ts', { DATABASE_URL: missing.toString() });
    expect(noSecret.code).toBe(2);
    expect(noSecret.stderr).toContain('AUTH_SECRET: required when DATABASE_URL is set');
    for (const r of [noDb, noServer, noSecret]) expect(r.stderr).not.toMatch(/^\s+at /m);
  });

  it('DATA_DIR: a file where the directory should be', { timeout: 120_000 }, async () => {
    const file = path.join(dataDir, 'a-file');
    writeFileSync(file, 'not a directory');
    for (const dir of [file, path.join(file, 'below')]) {
      const r = await cli('scripts/admin.ts', { DATA_DIR: dir });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`DATA_DIR: cannot keep auth-secret in ${dir}`);
      expect(r.stderr).not.toMatch(/EEXIST|ENOTDIR|^\s+at /m);
    }
  });
});

describe.skipIf(!!process.env.DATABASE_URL)('the embedded demo', () => {
  /** Starts the gateway on a demo data directory until it listens; returns what it printed to the terminal and its port. */
  async function start(dir: string, listenOn = 0): Promise<{ terminal: string; port: number; log: string }> {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      env: { ...process.env, DATABASE_URL: '', AUTH_SECRET: '', ENCRYPTION_KEYS: '', DATA_DIR: dir, PORT: String(listenOn), LOG_FORMAT: 'json', LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    await expect.poll(() => out, { timeout: 90_000, interval: 200 }).toContain('listening');
    const port = Number(/"port":(\d+)/.exec(out)?.[1] ?? NaN);
    stops.push(async () => {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    });
    return { terminal: err, port, log: out };
  }
  const stops: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const stop of stops.splice(0)) await stop();
  };
  afterAll(stopAll);

  /** A command-line tool on the demo's data directory, without a PORT of its own. */
  async function tool(script: string, dir: string, args: string[] = []): Promise<{ code: number; stdout: string; stderr: string }> {
    const childEnv: Record<string, string | undefined> = { ...process.env, DATABASE_URL: undefined, AUTH_SECRET: undefined, ENCRYPTION_KEYS: undefined, PORT: undefined, PUBLIC_URL: undefined, DATA_DIR: dir };
    try {
      const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', script, ...args], { env: childEnv as NodeJS.ProcessEnv });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  }
  const messages = (log: string) => log.split('\n').flatMap((l) => {
    try {
      return [(JSON.parse(l) as { msg: string }).msg];
    } catch {
      return [];
    }
  });

  it('issue 20: the first start of an empty data directory says what it is doing, before it listens; a later start has nothing to say', async () => {
    const dir = path.join(dataDir, 'first-start');
    const said = messages((await start(dir)).log);
    const at = (pattern: RegExp) => said.findIndex((m) => pattern.test(m));
    // In order: the database being created, migrated, the demo being seeded, then listening.
    expect(at(/creating the embedded database/)).toBeGreaterThanOrEqual(0);
    expect(at(/^applying \d+ database migrations$/)).toBeGreaterThan(at(/creating the embedded database/));
    expect(at(/creating the demo organization/)).toBeGreaterThan(at(/^applying \d+ database migrations$/));
    expect(at(/listening/)).toBeGreaterThan(at(/creating the demo organization/));
    await stopAll();
    const again = messages((await start(dir)).log);
    expect(again.some((m) => /creating the embedded database|database migration|creating the demo/.test(m))).toBe(false);
    await stopAll();
  }, 300_000);

  it('issue 20: admin and seed refuse a running gateway’s data directory in one line (exit 1, no stack trace); seed prints the port the gateway runs on', async () => {
    const dir = path.join(dataDir, 'in-use');
    const port = 20000 + Math.floor(Math.random() * 20000);
    await start(dir, port);
    for (const [script, args] of [['scripts/admin.ts', ['org', 'list']], ['scripts/seed.ts', []]] as const) {
      const r = await tool(script, dir, [...args]);
      expect(r.code).toBe(1);
      const lines = r.stderr.trim().split('\n');
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(/DATA_DIR: the embedded database in .* is in use by process \d+ \(probably a running gateway\)/);
    }
    await stopAll();
    // Seed, without PORT in its environment: the gateway's address, not 4000.
    const seeded = await tool('scripts/seed.ts', dir);
    expect(seeded.code, seeded.stderr).toBe(0);
    expect(seeded.stdout).toContain(`export GATEWAY=http://localhost:${port}\n`);
    expect(seeded.stdout).not.toContain('localhost:4000');
  }, 300_000);

  it('prints tokens at the first start and fresh ones at every later start, that work', async () => {
    const dir = path.join(dataDir, 'demo');
    const first = await start(dir);
    expect(first.terminal).toContain('Demo organization "demo" created');
    expect(first.terminal).toMatch(/^export API_KEY=cgk_/m);
    await stopAll();

    const second = await start(dir);
    expect(second.terminal).toContain('new tokens, valid for 24 hours');
    const exported = Object.fromEntries([...second.terminal.matchAll(/^export (\w+)=(\S+)$/gm)].map((m) => [m[1], m[2]]));
    expect(Object.keys(exported).sort()).toEqual(['ADMIN_TOKEN', 'GATEWAY', 'RUNTIME_TOKEN', 'USER_TOKEN']);
    const url = `http://127.0.0.1:${second.port}`;
    expect((await gql(url, Viewer, {}, exported.ADMIN_TOKEN)).data?.viewer.organization?.slug).toBe('demo');
    expect((await gql(url, Viewer, {}, exported.USER_TOKEN)).data?.viewer.kind).toBe('CUSTOMER_USER');
    expect((await gql(url, Viewer, {}, exported.RUNTIME_TOKEN)).data?.viewer.kind).toBe('RUNTIME');
    await stopAll();
  }, 300_000);
});
