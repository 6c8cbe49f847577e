/**
 * API benchmark (not a test): the gateway side by side, in one run, with a
 * hand-written baseline (node:http + pg, the same pool, the same bearer
 * check, byte-identical JSON; for resolutions also without its audit insert)
 * and a bare Yoga serving the same answers from memory, on a realistic
 * dataset in a fresh PostgreSQL database; with `--postgraphile`, PostGraphile
 * v4 and v5 over the same data. The gateway runs compiled (dist/, built
 * first; BENCH_SOURCES=1: its sources through tsx). Each server is pinned to
 * CPU 0, autocannon runs here (pinned to the others when there are some);
 * every workload × system is run in interleaved rounds, and each ratio is
 * taken round by round, then the median of the rounds.
 *
 *   npm run bench:api                          # 30k values, then the 1M-value scale point
 *   npm run bench:api -- --skip-1m --seconds 5 # quicker
 *   DATABASE_URL=postgres://…/postgres npm run bench:api   # another server (a database is created and dropped)
 *   npm run bench:api -- --skip-1m --only admin --profile /tmp/prof   # one workload, a CPU profile of each server
 *   npm run bench:api -- --pglite             # also the gateway on PGlite (the embedded default), the same data copied in
 *   npm run bench:api -- --postgraphile       # also PostGraphile v4 and v5 (dev-only: `npm --prefix bench/postgraphile ci`
 *                                              # and `npm --prefix bench/postgraphile5 ci` first)
 *
 * Prints req/s, p50/p99, SQL statements per request and the ratios, the
 * filters' latency at 30k and at 1M values with their query plans, and
 * writes the results into BENCHMARKS.md with the machine's load.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import autocannon from 'autocannon';
import pg from 'pg';
import { copyToPGlite, loadDataset, type Dataset } from './api/dataset.js';
import { ADMIN_LIST, CONNECTIONS_LIST, FILTERS, RESOLVE } from './api/documents.js';

const args = process.argv.slice(2);
const flag = (name: string) => args.includes(`--${name}`);
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : dflt;
};
const seconds = Number(opt('seconds', '10'));
const rounds = Number(opt('rounds', '3'));
const connections = Number(opt('connections', '50'));
const base = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const pin = spawnSync('taskset', ['--version']).status === 0 && os.cpus().length > 1;
const log = (line: string) => process.stderr.write(line + '\n');
const sources = process.env.BENCH_SOURCES === '1';
// Node refuses --cpu-prof in NODE_OPTIONS: the flag goes on each server's command line.
const profileDir = opt('profile', '');
const only = opt('only', '');

type System = 'gateway' | 'gateway-pglite' | 'baseline' | 'baseline-noaudit' | 'yoga' | 'postgraphile4' | 'postgraphile5';
const SYSTEM_NAMES: Record<System, string> = {
  gateway: 'gateway',
  'gateway-pglite': 'the gateway on PGlite (the embedded default)',
  baseline: 'baseline (raw SQL)',
  'baseline-noaudit': 'baseline without the audit insert',
  yoga: 'bare Yoga (static)',
  postgraphile4: 'PostGraphile v4 (no authz)',
  postgraphile5: 'PostGraphile v5 (no authz)',
};
interface Running {
  system: System;
  url: string;
  child: ChildProcess;
  ask(cmd: string): Promise<any>;
}

async function start(system: System, dataset: Dataset, extra: Record<string, string> = {}): Promise<Running> {
  const node =
    system === 'postgraphile4'
      ? [process.execPath, 'bench/postgraphile/server.cjs']
      : system === 'postgraphile5'
        ? [process.execPath, 'bench/postgraphile5/server.mjs']
        : system === 'gateway' || system === 'gateway-pglite'
          ? [process.execPath, ...(sources ? ['--import', 'tsx'] : ['--enable-source-maps']), 'bench/api/gateway.ts']
          : [process.execPath, '--import', 'tsx', 'bench/api/server.ts'];
  if (profileDir) node.splice(1, 0, '--cpu-prof', `--cpu-prof-dir=${profileDir}/${system}`);
  const [cmd, ...argv] = pin ? ['taskset', '-c', '0', ...node] : node;
  const child = spawn(cmd!, argv, {
    // Throughput, not the limiter, is measured: one API key sends far more than a principal's budget.
    env: { ...process.env, ...dataset.env, BENCH_SYSTEM: system, NODE_ENV: 'production', RATE_LIMITS: 'off', ...extra },
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  });
  process.once('exit', () => child.kill());
  const url = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${system} exited with ${code}`)));
    createInterface({ input: child.stdout! }).once('line', (line) => resolve((JSON.parse(line) as { url: string }).url));
  });
  return {
    system,
    url,
    child,
    ask: (what) =>
      new Promise((resolve) => {
        child.once('message', resolve);
        child.send({ cmd: what });
      }),
  };
}

const stop = (r: Running) => new Promise<void>((resolve) => (r.child.once('exit', () => resolve()), r.child.kill()));

interface Workload {
  name: string;
  request(ds: Dataset): { method: 'GET' | 'POST'; path: string; body?: string; token: string };
  systems: System[];
  /** The same data through PostGraphile's own schema (its answer has its own shape; v4 and v5 name it alike). */
  postgraphile?: string;
}

const WORKLOADS: Workload[] = [
  {
    name: 'admin list: customers(first:50) → connectionValues(first:10) → connection → connector',
    request: (ds) => ({ method: 'POST', path: '/graphql', body: JSON.stringify({ query: ADMIN_LIST }), token: ds.adminToken }),
    systems: ['gateway', 'baseline', 'yoga'],
    postgraphile: `{ allCustomers(first: 50, orderBy: CREATED_AT_ASC) { nodes { id externalId name connectionValuesByCustomerId(first: 10, orderBy: CREATED_AT_ASC) { nodes { id status updatedAt connectionByConnectionId { id stableKey name connectorByConnectorId { id key name } } } } } } }`,
  },
  {
    name: 'connections(first:50) { stableKey type connector { key } }',
    request: (ds) => ({ method: 'POST', path: '/graphql', body: JSON.stringify({ query: CONNECTIONS_LIST }), token: ds.adminToken }),
    systems: ['gateway', 'baseline', 'yoga'],
    postgraphile: `{ allConnections(first: 50, orderBy: CREATED_AT_ASC, condition: { archivedAt: null }) { nodes { stableKey type connectorByConnectorId { key } } } }`,
  },
  {
    name: 'runtime resolveConnection (GraphQL)',
    request: (ds) => ({ method: 'POST', path: '/graphql', body: JSON.stringify({ query: RESOLVE, variables: { stableKey: ds.resolvable } }), token: ds.runtimeToken }),
    systems: ['gateway', 'baseline', 'baseline-noaudit', 'yoga'],
  },
  {
    name: 'runtime GET /runtime/v1/connection (REST)',
    request: (ds) => ({ method: 'GET', path: `/runtime/v1/connection?stableKey=${ds.resolvable}`, token: ds.runtimeToken }),
    systems: ['gateway', 'baseline', 'baseline-noaudit'],
  },
];

// `--only <text>`: the workloads whose name contains it (a profile of one workload).
if (only) WORKLOADS.splice(0, WORKLOADS.length, ...WORKLOADS.filter((w) => w.name.includes(only)));

async function once(url: string, r: ReturnType<Workload['request']>): Promise<{ status: number; body: string }> {
  const res = await fetch(url + r.path, {
    method: r.method,
    headers: { authorization: `Bearer ${r.token}`, 'content-type': 'application/json' },
    ...(r.body ? { body: r.body } : {}),
  });
  return { status: res.status, body: await res.text() };
}

/** What may differ between two answers of the same resolution: nothing but the secret's value is compared here, by shape. */
const comparable = (body: string) => body;

async function cannon(url: string, r: ReturnType<Workload['request']>) {
  const result = await autocannon({
    url: url + r.path,
    method: r.method,
    headers: { authorization: `Bearer ${r.token}`, 'content-type': 'application/json' },
    ...(r.body ? { body: r.body } : {}),
    connections,
    duration: seconds,
  });
  return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, errors: result.errors + result.non2xx };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const fmt = (n: number) => n.toLocaleString('en-US', { maximumFractionDigits: 0 });

async function throughput(ds: Dataset) {
  const servers = new Map<System, Running>();
  servers.set('gateway', await start('gateway', ds));
  servers.set('baseline', await start('baseline', ds));
  servers.set('baseline-noaudit', await start('baseline-noaudit', ds));
  // The bare Yoga answers what the gateway answered.
  const answers: Record<string, unknown> = {};
  const sql: Record<string, number> = {};
  for (const w of WORKLOADS) {
    const r = w.request(ds);
    // Statements of a request once the gateway is warm (the first of a document may take another path: hot-lists.ts).
    await once(servers.get('gateway')!.url, r);
    await servers.get('gateway')!.ask('queries');
    const g = await once(servers.get('gateway')!.url, r);
    sql[w.name] = ((await servers.get('gateway')!.ask('queries')) as { queries: unknown[] }).queries.length;
    if (g.status !== 200) throw new Error(`${w.name}: the gateway answered ${g.status} ${g.body.slice(0, 300)}`);
    const b = await once(servers.get('baseline')!.url, r);
    if (comparable(b.body) !== comparable(g.body) && r.method === 'POST') {
      throw new Error(`${w.name}: the baseline's answer differs from the gateway's\n  gateway:  ${g.body.slice(0, 400)}\n  baseline: ${b.body.slice(0, 400)}`);
    }
    if (r.method === 'POST') Object.assign(answers, (JSON.parse(g.body) as { data: object }).data);
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-api-'));
  writeFileSync(path.join(dir, 'answers.json'), JSON.stringify(answers));
  servers.set('yoga', await start('yoga', ds, { BENCH_ANSWERS: path.join(dir, 'answers.json') }));
  if (flag('pglite')) {
    // The embedded default on the same data: its own process, DATA_DIR instead of DATABASE_URL.
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'bench-api-pglite-'));
    await copyToPGlite(ds, dataDir, log);
    servers.set('gateway-pglite', await start('gateway-pglite', ds, { DATA_DIR: dataDir, DATABASE_URL: undefined as unknown as string }));
    // The lists (issue 24's embedded target is the admin list's).
    for (const w of WORKLOADS.filter((x) => x.postgraphile)) {
      const l = await once(servers.get('gateway-pglite')!.url, w.request(ds));
      const g = await once(servers.get('gateway')!.url, w.request(ds));
      if (l.body !== g.body) throw new Error(`${w.name}: the gateway on PGlite answers differently from the gateway on PostgreSQL\n  PostgreSQL: ${g.body.slice(0, 400)}\n  PGlite: ${l.body.slice(0, 400)}`);
      w.systems.push('gateway-pglite');
    }
  }
  const withPostgraphile = flag('postgraphile');
  if (withPostgraphile) {
    for (const system of ['postgraphile4', 'postgraphile5'] as const) {
      servers.set(system, await start(system, ds));
      for (const w of WORKLOADS.filter((x) => x.postgraphile)) {
        w.systems.push(system);
        const r = await once(servers.get(system)!.url, { ...w.request(ds), body: JSON.stringify({ query: w.postgraphile }) });
        if (r.status !== 200 || r.body.includes('"errors"')) throw new Error(`${w.name}: ${system} answered ${r.body.slice(0, 300)}`);
      }
    }
  }
  for (const w of WORKLOADS.filter((x) => x.systems.includes('yoga') && x.request(ds).method === 'POST')) {
    const y = await once(servers.get('yoga')!.url, w.request(ds));
    const g = await once(servers.get('gateway')!.url, w.request(ds));
    if (y.body !== g.body) throw new Error(`${w.name}: the bare Yoga's answer differs from the gateway's`);
  }
  log('  answers: byte-identical (gateway = baseline = bare Yoga)');

  const results = new Map<string, { rps: number[]; p50: number[]; p99: number[]; errors: number }>();
  for (let round = 1; round <= rounds; round++) {
    for (const w of WORKLOADS) {
      for (const system of w.systems) {
        const request = system.startsWith('postgraphile') ? { ...w.request(ds), body: JSON.stringify({ query: w.postgraphile }) } : w.request(ds);
        const r = await cannon(servers.get(system)!.url, request);
        const key = `${w.name}|${system}`;
        const acc = results.get(key) ?? { rps: [], p50: [], p99: [], errors: 0 };
        acc.rps.push(r.rps);
        acc.p50.push(r.p50);
        acc.p99.push(r.p99);
        acc.errors += r.errors;
        results.set(key, acc);
        log(`  round ${round} · ${system.padEnd(16)} · ${fmt(r.rps).padStart(6)} req/s · p50 ${r.p50} ms · p99 ${r.p99} ms${r.errors ? ` · ${r.errors} errors` : ''} · ${w.name}`);
      }
    }
  }
  for (const s of servers.values()) await stop(s);
  return { results, sql };
}

/** Latency of the admin UI's filters (sequential requests) and the plans of the statements behind them. */
async function scale(ds: Dataset) {
  const gateway = await start('gateway', ds);
  const client = new pg.Client({ connectionString: ds.url });
  await client.connect();
  const out: Record<string, { p50: number; p99: number; plans: string[] }> = {};
  for (const [name, query] of Object.entries(FILTERS)) {
    const r = { method: 'POST' as const, path: '/graphql', body: JSON.stringify({ query }), token: ds.adminToken };
    for (let i = 0; i < 5; i++) await once(gateway.url, r);
    const times: number[] = [];
    for (let i = 0; i < 40; i++) {
      const t = performance.now();
      const res = await once(gateway.url, r);
      times.push(performance.now() - t);
      if (res.status !== 200 || res.body.includes('"errors"')) throw new Error(`${name}: ${res.body.slice(0, 300)}`);
    }
    await gateway.ask('queries');
    await once(gateway.url, r);
    const { queries } = (await gateway.ask('queries')) as { queries: { sql: string; params: string }[] };
    const plans: string[] = [];
    for (const q of queries) {
      const plan = await client.query(`EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) ${q.sql}`, JSON.parse(q.params) as unknown[]);
      plans.push(plan.rows.map((row: Record<string, string>) => row['QUERY PLAN']).join('\n'));
    }
    times.sort((a, b) => a - b);
    out[name] = { p50: times[Math.floor(times.length / 2)]!, p99: times[Math.floor(times.length * 0.99)]!, plans };
  }
  await client.end();
  await stop(gateway);
  return out;
}

async function machine(): Promise<string> {
  const c = new pg.Client({ connectionString: base });
  await c.connect();
  const version = ((await c.query('SHOW server_version')).rows[0] as { server_version: string }).server_version;
  await c.end();
  const cpu = os.cpus();
  return `${cpu.length} × ${cpu[0]?.model.trim()}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Linux ${os.release()}, Node ${process.version}, PostgreSQL ${version} on the same machine; the gateway ${sources ? 'from its sources through tsx' : 'compiled (dist/)'}; servers pinned to CPU 0${pin ? '' : ' (taskset unavailable: not pinned)'}, autocannon ${connections} connections × ${seconds} s × ${rounds} rounds`;
}

const load = () => os.loadavg().map((x) => x.toFixed(2)).join(' / ');

// The gateway runs compiled, as deployed (`npm run build`, incremental).
if (!sources && spawnSync('npm', ['run', '--silent', 'build'], { stdio: 'inherit' }).status !== 0) throw new Error('npm run build failed');
const startedAt = new Date();
const loadBefore = load();
log(`machine load before: ${loadBefore}`);
log('dataset: 1,000 customers × 30 per-customer connections + 20 global');
const small = await loadDataset(base, { customers: 1000, perCustomer: 30, globals: 20 }, log);
log('throughput');
const { results, sql } = await throughput(small);
log('scale at 30k');
const scale30k = await scale(small);
await small.drop();
let scale1m: Awaited<ReturnType<typeof scale>> | null = null;
let values1m = 0;
if (!flag('skip-1m')) {
  log('dataset: 33,334 customers × 30 per-customer connections + 20 global (1M values)');
  const big = await loadDataset(base, { customers: 33_334, perCustomer: 30, globals: 20 }, log);
  values1m = big.values;
  log('scale at 1M');
  scale1m = await scale(big);
  await big.drop();
}
const loadAfter = load();

// ───────────────────────────── report ─────────────────────────────

const lines: string[] = [];
lines.push(`### Results — ${startedAt.toISOString().slice(0, 10)}`, '');
lines.push(`Machine: ${await machine()}. Load average (1/5/15 min) before: ${loadBefore}; after: ${loadAfter}.`, '');
lines.push(
  'Each row: one system on one workload, medians of the rounds; the last column is the gateway\'s throughput as a share of that system\'s, taken in each round (the systems ran seconds apart, interleaved), then the median of the rounds.',
  '',
  '| workload | system | req/s | p50 | p99 | errors | SQL / request | gateway ÷ system |',
  '|---|---|---|---|---|---|---|---|',
);
for (const w of WORKLOADS) {
  const gateway = results.get(`${w.name}|gateway`)!;
  for (const s of w.systems) {
    const r = results.get(`${w.name}|${s}`)!;
    const share = s === 'gateway' ? '–' : `${(median(gateway.rps.map((g, i) => g / r.rps[i]!)) * 100).toFixed(0)} %`;
    lines.push(
      `| ${s === w.systems[0] ? w.name : ''} | ${SYSTEM_NAMES[s]} | ${fmt(median(r.rps))} | ${median(r.p50)} ms | ${median(r.p99)} ms | ${r.errors} | ${s === 'gateway' ? sql[w.name] : ''} | ${share} |`,
    );
  }
}
for (const w of WORKLOADS.filter((x) => x.systems.includes('gateway-pglite'))) {
  const lite = results.get(`${w.name}|gateway-pglite`)!;
  const onPg = results.get(`${w.name}|gateway`)!;
  lines.push('', `The embedded default (PGlite) ÷ PostgreSQL, ${w.name.startsWith('admin') ? 'admin list' : 'connections list'}: **${median(lite.rps.map((l, i) => l / onPg.rps[i]!)).toFixed(2)}×** (per round: ${lite.rps.map((l, i) => (l / onPg.rps[i]!).toFixed(2)).join(', ')}), p99 on PGlite ${median(lite.p99)} ms.`);
}
lines.push('', '| filter (sequential requests) | p50 at 30k values | p99 at 30k | p50 at 1M values | p99 at 1M | 1M ÷ 30k (p50) |', '|---|---|---|---|---|---|');
for (const name of Object.keys(FILTERS)) {
  const a = scale30k[name]!;
  const b = scale1m?.[name];
  lines.push(`| ${name} | ${a.p50.toFixed(1)} ms | ${a.p99.toFixed(1)} ms | ${b ? `${b.p50.toFixed(1)} ms` : '–'} | ${b ? `${b.p99.toFixed(1)} ms` : '–'} | ${b ? `${(b.p50 / a.p50).toFixed(2)}×` : '–'} |`);
}
if (scale1m) {
  lines.push('', `<details><summary>Query plans at 1M values (${fmt(values1m)} values; EXPLAIN ANALYZE of every statement a request sends)</summary>`, '');
  for (const [name, r] of Object.entries(scale1m)) lines.push(`**${name}**`, '', '```', ...r.plans.map((p) => p + '\n'), '```', '');
  lines.push('</details>');
}
const report = lines.join('\n');
console.log('\n' + report);

// A part of the run (`--only`) or a profiled one is not a result to record.
if (only || profileDir) {
  log('not written to BENCHMARKS.md (--only or --profile)');
  process.exit(0);
}
const file = new URL('../BENCHMARKS.md', import.meta.url);
const doc = readFileSync(file, 'utf8');
const START = '<!-- bench:api:start -->';
const END = '<!-- bench:api:end -->';
const block = `${START}\n${report}\n${END}`;
writeFileSync(file, doc.includes(START) ? doc.replace(new RegExp(`${START}[\\s\\S]*${END}`), block) : `${doc.trimEnd()}\n\n## API (\`npm run bench:api\`)\n\n${block}\n`);
log('written to BENCHMARKS.md');
process.exit(0);
