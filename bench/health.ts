/**
 * Connection-health benchmark (not a test): what the health workers get
 * through on one gateway instance and on two sharing one database.
 *
 *   refresh  N OAuth2 client-credentials values (`--values`, default 100,000)
 *            against a local token endpoint that answers at once, expiry
 *            staggered over `--window` s from the phase's start (default 60 s
 *            = the refresh margin: every value is due at once, so the workers,
 *            not the schedule, set the pace — capacity);
 *   check    C values (`--checked`, default 10,000) of a SECRET_TEXT connector
 *            whose test request calls a local server that answers 200 at
 *            once, every one due at the start;
 *   webhook  `--events` status changes (one message each) delivered to a local
 *            receiver.
 *
 * Each phase runs once per instance count (`--instances 1,2`) from the same
 * starting state, passes back to back for at most `--seconds`, stopped early
 * once everything is done. Reported per phase: items done and per minute (per
 * second for webhooks), SQL statements per item, duplicates (a value renewed
 * or checked twice, a message delivered twice), the workers' CPU and, on a
 * local PostgreSQL server, the CPU time of its processes.
 *
 * On PostgreSQL (DATABASE_URL: a fresh database is created beside it and
 * dropped after) each instance is a child process (bench/health-worker.ts);
 * on PGlite in memory (no DATABASE_URL) one instance runs in this process,
 * and two are not possible (they need a shared server database).
 *
 *   DATABASE_URL=postgres://… npm run bench:health       # the full run, on a quiet machine
 *   DATABASE_URL=postgres://… npm run bench:health -- --values 3000 --checked 500 --seconds 8 --events 50
 *   npm run bench:health -- --values 2000 --checked 200 --seconds 10 --events 50   # PGlite, one instance
 */
import { fork, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { createApp, createLogger } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { newKeySpec } from '../src/crypto/keyring.js';
import { hintFor, sealSecrets } from '../src/crypto/secrets.js';
import { openDatabase, type Database } from '../src/db/database.js';
import { write } from '../src/op.js';
import { createConnection } from '../src/modules/connections/service.js';
import { createConnector } from '../src/modules/connectors/service.js';
import { setValueStatus } from '../src/modules/values/service.js';
import { createWebhookEndpoint } from '../src/modules/webhooks/service.js';
import { adminOf, seedOrg } from '../src/seed/demo.js';
import { runPhase, type FromWorker, type Phase, type ToWorker, type WorkerResult } from './health-worker.js';

const args = process.argv.slice(2);
const arg = (name: string, dflt: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : dflt;
};
const N = Number(arg('values', '100000'));
const CHECKED = Number(arg('checked', '10000'));
const seconds = Number(arg('seconds', '60'));
const windowSec = Number(arg('window', '60'));
const events = Number(arg('events', '1000'));
let instances = arg('instances', '1,2').split(',').map(Number);
const MARGIN_S = 60;
// Renewed tokens outlive the phase and its margin: a value refreshed once is not due again in the same phase.
const TOKEN_LIFETIME_S = Math.max(3600, 2 * (seconds + MARGIN_S));
const WORKER = fileURLToPath(new URL('./health-worker.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('..', import.meta.url));

// ───────────────────────────── clean-up, whatever happens ─────────────────────────────

const children = new Set<ChildProcess>();
const closers: (() => void)[] = [];
let db: Database | undefined;
let drop = async () => {};
let cleaning: Promise<void> | undefined;
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (const c of children) c.kill('SIGKILL');
    for (const close of closers) close();
    await db?.close().catch(() => undefined);
    await drop().catch((err) => console.error(`could not drop the benchmark database: ${(err as Error).message}`));
  })();
  return cleaning;
}
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    console.error(`${sig}: stopping, dropping the benchmark database`);
    void cleanup().finally(() => process.exit(130));
  });
}

// ───────────────────────────── measuring ─────────────────────────────

const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/**
 * CPU time of the local PostgreSQL server so far, in clock ticks: utime +
 * stime of every process whose name starts with `postgres`, plus cutime +
 * cstime (the postmaster's reaped children: backends that exited, e.g. an
 * idle pool connection closed mid-phase, still count). Null when none is
 * visible (a remote server).
 */
function postgresTicks(): number | null {
  let ticks = 0;
  let seen = false;
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    const close = stat.lastIndexOf(')');
    if (!stat.slice(stat.indexOf('(') + 1, close).startsWith('postgres')) continue;
    // Fields after "(comm) ": state is field 3, utime 14, stime 15, cutime 16, cstime 17.
    const f = stat.slice(close + 2).split(' ');
    ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
    seen = true;
  }
  return seen ? ticks : null;
}

async function listen(handler: Parameters<typeof createServer>[1]): Promise<{ url: string }> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  closers.push(() => {
    server.closeAllConnections();
    server.close();
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

// ───────────────────────────── instances ─────────────────────────────

interface Run {
  instances: number;
  elapsedS: number;
  results: WorkerResult[];
  /** Seconds of database-server CPU; null: in this process (PGlite) or not visible. */
  dbCpuS: number | null;
  load: number;
  /** Lines the workers wrote (their logs are at level error). */
  log: string[];
  /** When `go` was given (Date.now()). */
  startedAt: number;
}

function waitFor(child: ChildProcess, type: FromWorker['type'], log: string[]): Promise<FromWorker> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: FromWorker) => {
      if (m.type !== type) return;
      off();
      resolve(m);
    };
    const onExit = (code: number | null) => {
      off();
      reject(new Error(`a worker exited (${code}) before "${type}"; its output:\n${log.join('\n')}`));
    };
    const off = () => {
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    child.on('message', onMessage);
    child.on('exit', onExit);
  });
}

/**
 * One phase on `n` instances: each a child process on PostgreSQL, this
 * process on PGlite. Runs until `finished()` (polled) or `limitS`, then stops
 * the workers and waits for their last batch.
 */
async function runInstances(phase: Phase, n: number, finished: () => boolean, limitS: number, workerEnv: Record<string, string>): Promise<Run> {
  const log: string[] = [];
  if (!dbUrl) {
    const stop = new AbortController();
    const load = os.loadavg()[0]!;
    const startedAt = Date.now();
    const t0 = performance.now();
    const running = runPhase(app, phase, stop.signal, () => statements);
    while (!finished() && performance.now() - t0 < limitS * 1000) await sleep(20);
    stop.abort();
    const result = await running;
    return { instances: 1, elapsedS: (performance.now() - t0) / 1000, results: [result], dbCpuS: null, load, log, startedAt };
  }
  const workers = Array.from({ length: n }, () => {
    const child = fork(WORKER, [], {
      cwd: ROOT,
      execArgv: ['--import', 'tsx'],
      env: { ...process.env, BENCH_HEALTH_WORKER: JSON.stringify({ phase, env: workerEnv }) },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    children.add(child);
    child.on('exit', () => children.delete(child));
    for (const s of [child.stdout!, child.stderr!]) s.on('data', (d: Buffer) => log.push(...String(d).split('\n').filter(Boolean)));
    return { child, ready: waitFor(child, 'ready', log) };
  });
  await Promise.all(workers.map((w) => w.ready));
  const results = workers.map((w) => waitFor(w.child, 'result', log));
  // Awaited below; a worker dying meanwhile must not be an unhandled rejection first.
  for (const r of results) r.catch(() => undefined);
  const send = (m: ToWorker) => workers.forEach((w) => w.child.send(m));
  const load = os.loadavg()[0]!;
  const ticks0 = postgresTicks();
  const startedAt = Date.now();
  const t0 = performance.now();
  send({ type: 'go' });
  while (!finished() && performance.now() - t0 < limitS * 1000 && workers.every((w) => w.child.exitCode === null)) await sleep(20);
  send({ type: 'stop' });
  const done = (await Promise.all(results)).map((m) => (m as Extract<FromWorker, { type: 'result' }>).result);
  const elapsedS = (performance.now() - t0) / 1000;
  // Read before the workers close their connections (a backend's CPU is counted either way: cutime).
  const ticks1 = postgresTicks();
  send({ type: 'exit' });
  await Promise.all(
    workers.map(async ({ child }) => {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      if ((await Promise.race([exited, sleep(10_000, 'late')])) === 'late') child.kill('SIGKILL');
    }),
  );
  const dbCpuS = ticks0 !== null && ticks1 !== null ? (ticks1 - ticks0) / CLK_TCK : null;
  return { instances: n, elapsedS, results: done, dbCpuS, load, log, startedAt };
}

/** Between runs: the same starting state for the next (dead rows vacuumed, dirty pages written), outside any measurement. */
async function settleDatabase(): Promise<void> {
  await db!.prisma.$executeRawUnsafe(`VACUUM ANALYZE "ConnectionValue", "ValueRefreshLease", "WebhookDelivery"`).catch(() => undefined);
  if (dbUrl) await db!.prisma.$executeRawUnsafe('CHECKPOINT').catch(() => undefined);
}

// ───────────────────────────── output ─────────────────────────────

const int = (x: number) => Math.round(x).toLocaleString('en-US');
const dec = (x: number, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '–');

function table(head: string[], rows: string[][]): string {
  const width = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(width[i]!) : c.padStart(width[i]!))).join(' | ')} |`;
  return [line(head), `|${width.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : '-'.repeat(w + 1) + ':')).join('|')}|`, ...rows.map(line)].join('\n');
}

/** A sum over the instances, with each one's part when there are several (is the work shared out?). */
function split(run: Run, k: keyof WorkerResult, show: (x: number) => string): string {
  const parts = run.results.map((r) => r[k]);
  const total = show(parts.reduce((a, b) => a + b, 0));
  return parts.length > 1 ? `${total} (${parts.map(show).join(' + ')})` : total;
}

/** The columns every phase shares, after its own. */
function common(run: Run, items: number): string[] {
  const sum = (k: keyof WorkerResult) => run.results.reduce((s, r) => s + r[k], 0);
  const cpu = split(run, 'cpuMs', (ms) => dec(ms / 1000));
  return [
    dec(sum('statements') / Math.max(items, 1)),
    dbUrl ? cpu : `${cpu} (in process)`,
    run.dbCpuS === null ? (dbUrl ? 'not visible' : 'in process') : dec(run.dbCpuS),
    run.dbCpuS === null ? '–' : dec((run.dbCpuS * 1000) / Math.max(items, 1), 2),
    dec(run.load, 2),
  ];
}
const COMMON = ['SQL / item', 'worker CPU s', 'DB CPU s', 'DB CPU ms / item', 'load before'];

function notes(run: Run): void {
  const failed = run.results.reduce((s, r) => s + r.failedPasses, 0);
  if (failed) console.log(`  ${run.instances} instance(s): ${failed} pass(es) failed`);
  if (run.log.length) console.log(`  ${run.instances} instance(s): ${run.log.length} log line(s) from the workers, the first:\n    ${run.log.slice(0, 5).join('\n    ')}`);
}

// ───────────────────────────── the database ─────────────────────────────

let dbUrl: string | undefined;
let statements = 0;
// Set in main before any phase runs (the PGlite phases use it).
let app: ReturnType<typeof createApp>;

async function main(): Promise<void> {
  if (process.env.DATABASE_URL) {
    const name = `cg_bench_${randomBytes(5).toString('hex')}`;
    const admin = new pg.Client({ connectionString: process.env.DATABASE_URL });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    await admin.end();
    drop = async () => {
      const c = new pg.Client({ connectionString: process.env.DATABASE_URL });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    };
    const u = new URL(process.env.DATABASE_URL);
    u.pathname = `/${name}`;
    dbUrl = u.toString();
  } else if (instances.some((n) => n !== 1)) {
    console.log('PGlite in memory: one instance only (several need a shared server database: set DATABASE_URL to a PostgreSQL server)');
    instances = [1];
  }

  // The gateway's environment, the same in this process and every worker (secrets sealed here are opened there).
  const workerEnv: Record<string, string> = {
    AUTH_SECRET: randomBytes(32).toString('base64url'),
    ENCRYPTION_KEYS: newKeySpec('bench'),
    LOG_LEVEL: 'error',
    LOG_FORMAT: 'json',
    OUTBOUND_ALLOWED_NETWORKS: '127.0.0.1/32',
    HEALTH_REFRESH_MARGIN_MS: String(MARGIN_S * 1000),
    // Belt and braces: createApp adds no jobs (the server does), and the workers run their passes by hand.
    HEALTH_WORKERS: 'false',
    WEBHOOK_POLL_MS: '50',
    DATA_DIR: `/tmp/cg-bench-health-${process.pid}`,
    ...(dbUrl ? { DATABASE_URL: dbUrl } : {}),
  };
  const config = loadConfig(workerEnv);
  db = await openDatabase(dbUrl ? config.database : { kind: 'pglite', dataDir: ':memory:' }, { onQuery: () => void statements++ });
  await db.migrate();
  app = createApp(config, db, createLogger(config));
  const prisma = db.prisma;
  const version = (await prisma.$queryRawUnsafe<{ v: string }[]>('SELECT version() AS v'))[0]!.v.split(' ').slice(0, 2).join(' ');

  // The local servers, counting what reaches them.
  let issued = 0;
  const tokens = await listen((req, res) => {
    issued++;
    req.resume();
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: randomBytes(16).toString('hex'), token_type: 'Bearer', expires_in: TOKEN_LIFETIME_S }));
  });
  const hits = new Map<string, number>();
  let requests = 0;
  const api = await listen((req, res) => {
    const key = (req.headers.authorization ?? '').replace(/^Bearer /, '');
    hits.set(key, (hits.get(key) ?? 0) + 1);
    requests++;
    req.resume();
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  });
  const deliveredIds = new Set<string>();
  let deliveries = 0;
  const receiver = await listen((req, res) => {
    req.resume().on('end', () => {
      deliveries++;
      deliveredIds.add(String(req.headers['webhook-id']));
      res.writeHead(204).end();
    });
  });

  const org = await seedOrg(app, { customers: ['bench'] });
  const admin = await adminOf(app, org.orgId);
  const { oauth, checked } = await write(app, admin, 'system', async (op) => {
    const oauthConnector = await createConnector(op, {
      key: 'bench-oauth',
      name: 'Bench OAuth',
      authType: 'OAUTH2',
      oauth2: { grantType: 'client_credentials', tokenUrl: `${tokens.url}/token`, scopes: [], clientId: 'bench', pkce: false },
      oauthClientSecret: 'bench-secret',
    });
    const checkedConnector = await createConnector(op, {
      key: 'bench-checked',
      name: 'Bench checked',
      authType: 'SECRET_TEXT',
      testRequest: { method: 'GET', url: `${api.url}/me`, headers: { authorization: 'Bearer {{secret_text}}' } },
    });
    return {
      oauth: await createConnection(op, { stableKey: 'bench', name: 'Bench', connectorId: oauthConnector.id, type: 'ORG_ACTIVATED_CUSTOMER' }),
      checked: await createConnection(op, { stableKey: 'bench-checked', name: 'Bench checked', connectorId: checkedConnector.id, type: 'ORG_ACTIVATED_CUSTOMER' }),
    };
  });

  // N OAuth2 values by SQL (slots without customers: the refresher needs none); their expiry is set before each run.
  let t = Date.now();
  await prisma.$executeRawUnsafe(
    `INSERT INTO "ConnectionValue" (id, "orgId", "connectionId", kind, slot, status, "updatedAt")
     SELECT gen_random_uuid(), $1::uuid, $2::uuid, 'CUSTOMER', 'bench-' || i, 'ACTIVE', now()
     FROM generate_series(1, $3::int) AS i`,
    org.orgId,
    oauth.id,
    N,
  );
  // C checked values, each with its own key (sealed as the gateway seals it), so the API can tell them apart.
  for (let from = 0; from < CHECKED; from += 2000) {
    const rows = Array.from({ length: Math.min(2000, CHECKED - from) }, (_, k) => {
      const id = randomUUID();
      const key = `bench-check-key-${from + k}`;
      return { id, slot: `check-${from + k}`, secrets: sealSecrets(config.keyRing, id, { secret_text: key }), hints: { secret_text: hintFor(key) } };
    });
    await prisma.$executeRawUnsafe(
      `INSERT INTO "ConnectionValue" (id, "orgId", "connectionId", kind, slot, status, secrets, "secretHints", "updatedAt")
       SELECT r.id, $1::uuid, $2::uuid, 'CUSTOMER', r.slot, 'ACTIVE', r.secrets, r.hints, now()
       FROM jsonb_to_recordset($3::jsonb) AS r(id uuid, slot text, secrets jsonb, hints jsonb)`,
      org.orgId,
      checked.id,
      JSON.stringify(rows),
    );
  }
  console.log(`${int(N)} OAuth2 values and ${int(CHECKED)} checked values inserted in ${dec((Date.now() - t) / 1000)} s`);
  const load0 = os.loadavg();
  console.log(
    `machine: ${os.cpus().length} CPUs (${os.cpus()[0]?.model.trim()}), load average ${load0.map((l) => l.toFixed(2)).join(' ')}; ` +
      `node ${process.version}; database: ${dbUrl ? `PostgreSQL (${version}), a fresh database` : `PGlite in memory (${version}), in this process`}`,
  );
  if (load0[0]! > 1.5) console.log(`NOTE: load average ${load0[0]!.toFixed(2)} > 1.5: the machine is not quiet; these figures are not evidence`);
  console.log(`each run: at most ${seconds} s, stopped once everything is done; instances: ${instances.join(', ')}${dbUrl ? ' (child processes)' : ' (this process)'}`);

  // ── Refresh ──
  const allDue = windowSec <= MARGIN_S;
  console.log(
    `\n## Refresh: ${int(N)} OAuth2 values (client credentials, local token endpoint), expiry staggered over ${windowSec} s from the run's start, margin ${MARGIN_S} s` +
      (allDue ? ': all due at the start — the rate is the workers\' capacity' : ': due as the schedule says — the rate may be the schedule\'s, not the workers\''),
  );
  const refreshRows: string[][] = [];
  const refreshRuns: Run[] = [];
  for (const n of instances) {
    await prisma.$executeRawUnsafe(
      `UPDATE "ConnectionValue" SET "expiresAt" = (now() AT TIME ZONE 'UTC') + ((split_part(slot, '-', 2)::int - 1) * $2::float / $3) * interval '1 second',
         version = 1, status = 'ACTIVE', "refreshFailures" = 0, "lastError" = NULL, "lastErrorAt" = NULL
       WHERE "connectionId" = $1::uuid`,
      oauth.id,
      windowSec,
      N,
    );
    await prisma.valueRefreshLease.deleteMany({});
    const resetAt = Date.now();
    await settleDatabase();
    issued = 0;
    const run = await runInstances('refresh', n, () => allDue && issued >= N, seconds, workerEnv);
    const [row] = await prisma.$queryRawUnsafe<{ refreshed: number; failed: number }[]>(
      `SELECT count(*) FILTER (WHERE version > 1)::int AS refreshed, count(*) FILTER (WHERE status <> 'ACTIVE' OR "refreshFailures" > 0)::int AS failed
       FROM "ConnectionValue" WHERE "connectionId" = $1::uuid`,
      oauth.id,
    );
    const { refreshed, failed } = row!;
    // Due by the schedule: expiry within the margin, counted from the reset that staggered it.
    const dueAt = (s: number) => Math.min(N, Math.round((((run.startedAt - resetAt) / 1000 + s + MARGIN_S) / windowSec) * N));
    refreshRows.push([
      String(n),
      int(refreshed),
      `${int(dueAt(0))} → ${int(dueAt(run.elapsedS))}`,
      dec(run.elapsedS),
      int((refreshed / run.elapsedS) * 60),
      split(run, 'claimed', int),
      int(issued),
      int(Math.max(0, issued - refreshed)),
      int(failed),
      ...common(run, refreshed),
    ]);
    refreshRuns.push(run);
  }
  console.log(table(['instances', 'refreshed', 'due start → end', 'in s', 'per minute', 'claimed', 'provider calls', 'duplicates', 'failed', ...COMMON], refreshRows));
  console.log(
    '  refreshed: values whose token was renewed and written back; duplicates: provider calls beyond one per refreshed value ' +
      '(a value renewed twice, or a call whose write-back lost); failed: values not ACTIVE or with a refresh failure; item = one refresh',
  );
  refreshRuns.forEach(notes);

  // ── Checks ──
  console.log(`\n## Scheduled checks: ${int(CHECKED)} SECRET_TEXT values, test request to a local API answering 200 at once, all due at the start`);
  const checkRows: string[][] = [];
  const checkRuns: Run[] = [];
  for (const n of instances) {
    await prisma.connectionValue.updateMany({
      where: { connectionId: checked.id },
      data: { nextCheckAt: null, lastCheckAt: null, lastCheckOk: null, lastCheckMessage: null, checkFailures: 0, status: 'ACTIVE' },
    });
    await settleDatabase();
    hits.clear();
    requests = 0;
    const run = await runInstances('check', n, () => hits.size >= CHECKED, seconds, workerEnv);
    const [row] = await prisma.$queryRawUnsafe<{ checked: number; failed: number }[]>(
      `SELECT count(*) FILTER (WHERE "lastCheckAt" IS NOT NULL)::int AS checked, count(*) FILTER (WHERE "lastCheckOk" = false)::int AS failed
       FROM "ConnectionValue" WHERE "connectionId" = $1::uuid`,
      checked.id,
    );
    checkRows.push([
      String(n),
      int(row!.checked),
      dec(run.elapsedS),
      int((row!.checked / run.elapsedS) * 60),
      split(run, 'claimed', int),
      int(requests),
      int(requests - hits.size),
      int(row!.failed),
      ...common(run, row!.checked),
    ]);
    checkRuns.push(run);
  }
  console.log(table(['instances', 'checked', 'in s', 'per minute', 'claimed', 'test requests', 'duplicates', 'failed', ...COMMON], checkRows));
  console.log('  checked: values with a recorded check; duplicates: test requests beyond one per value seen by the API; failed: checks recorded as failed; item = one check');
  checkRuns.forEach(notes);

  // ── Webhooks ──
  console.log(`\n## Webhooks: ${int(events)} status changes, one message each, to one endpoint on a local receiver (204 at once)`);
  await write(app, admin, 'system', (op) => createWebhookEndpoint(op, { url: `${receiver.url}/hooks` }));
  const ids = (await prisma.connectionValue.findMany({ where: { connectionId: oauth.id }, select: { id: true }, take: events })).map((v) => v.id);
  const hookRows: string[][] = [];
  const hookRuns: Run[] = [];
  for (const [k, n] of instances.entries()) {
    // Each run its own changes (ERROR, then back to ACTIVE, …): `ids.length` new messages, all due.
    t = Date.now();
    for (const id of ids) await write(app, admin, 'system', (op) => setValueStatus(op, id, k % 2 === 0 ? 'ERROR' : 'ACTIVE', k % 2 === 0 ? 'bench' : null));
    const made = (Date.now() - t) / 1000;
    await settleDatabase();
    deliveredIds.clear();
    deliveries = 0;
    const run = await runInstances('webhook', n, () => deliveredIds.size >= ids.length, Math.max(seconds, 120), workerEnv);
    hookRows.push([
      String(n),
      int(deliveredIds.size),
      dec(run.elapsedS),
      int(deliveredIds.size / run.elapsedS),
      int(deliveries - deliveredIds.size),
      dec(made),
      ...common(run, deliveredIds.size),
    ]);
    hookRuns.push(run);
  }
  console.log(table(['instances', 'delivered', 'in s', 'per second', 'duplicates', 'events made in s', ...COMMON], hookRows));
  console.log('  delivered: distinct messages received; duplicates: deliveries beyond one per message; item = one delivery');
  hookRuns.forEach(notes);

  console.log(
    `\nworker CPU: the instances' processes during the run (${dbUrl ? 'child processes; the local servers run in the parent' : 'this process: PGlite and the local servers included'}); ` +
      `DB CPU: ${dbUrl ? `utime + stime of the local PostgreSQL server's processes (/proc, CLK_TCK ${CLK_TCK}), backends and background processes alike` : 'PGlite runs in this process (in the worker CPU)'}`,
  );
}

try {
  await main();
} catch (err) {
  console.error(err);
  process.exitCode = 1;
} finally {
  await cleanup();
}
