/**
 * Proxy benchmark (not a test): the same GET of a 1 KiB JSON from a local
 * API, three ways, in one run —
 *
 *   direct        autocannon → the API
 *   pass-through  autocannon → a hand-written pass-through (node:http + undici, a fixed credential, nothing else) → the API
 *   proxy         autocannon → the gateway's /proxy (runtime token, lookup, credential injection, budget, audit) → the API
 *
 * in interleaved rounds (direct, pass-through, proxy, direct, …), so a
 * change of the machine's load touches all three alike. The gateway runs on
 * a fresh PostgreSQL database (created, migrated, dropped) in production
 * mode, compiled (dist/, as `npm run start:prod` runs it; BENCH_SOURCES=1:
 * the sources through the loader); the gateway and the pass-through are pinned to CPU 0, the API and
 * autocannon to the others (when taskset and a second CPU exist).
 *
 *   npm run bench:proxy                                   # 50 connections × 10 s × 5 rounds; writes BENCHMARKS.md
 *   npm run bench:proxy -- --smoke                        # a few seconds: checks it runs; writes nothing
 *   npm run bench:proxy -- --seconds 5 --rounds 3 --connections 20
 *   DATABASE_URL=postgres://…/postgres npm run bench:proxy   # another server
 *
 * Reports req/s, p50 and p99 for each, the latency the proxy and the
 * pass-through add to a direct call (p50, p99), and the proxy's throughput
 * as a share of the pass-through's, with the machine's load before and after.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { createInterface } from 'node:readline';
import autocannon from 'autocannon';
import { newKeySpec } from '../src/crypto/keyring.js';
import { admin } from './api/dataset.js';

const args = process.argv.slice(2);
const flag = (name: string) => args.includes(`--${name}`);
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : dflt;
};
const smoke = flag('smoke');
const seconds = Number(opt('seconds', smoke ? '1' : '10'));
const rounds = Number(opt('rounds', smoke ? '1' : '5'));
const connections = Number(opt('connections', smoke ? '10' : '50'));
// Node refuses --cpu-prof in NODE_OPTIONS: the flag goes on each helper's command line.
const profileDir = opt('profile', '');
const base = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
// The gateway runs as deployed with PostgreSQL: with Redis, which tells every instance of a change (the proxy's cache depends on it).
const redis = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const multi = os.cpus().length > 1;
const pin = spawnSync('taskset', ['--version']).status === 0 && multi;
const log = (line: string) => process.stderr.write(line + '\n');
const secret = `bench-${randomBytes(12).toString('hex')}`;

const children: ChildProcess[] = [];
let stopping = false;
process.once('exit', () => children.forEach((c) => c.kill()));

/** Starts a helper process (on `cpus` when pinning) and reads the JSON line it prints once listening. */
async function start(script: string, cpus: string, env: Record<string, string>, loader = true): Promise<Record<string, string>> {
  // Without the loader, Node strips the script's types itself (it imports only compiled code).
  const node = [process.execPath, ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []), ...(loader ? ['--import', 'tsx'] : ['--enable-source-maps']), script];
  const [cmd, ...argv] = pin ? ['taskset', '-c', cpus, ...node] : node;
  const child = spawn(cmd!, argv, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  child.once('exit', (code, signal) => {
    if (!stopping) log(`${script} exited (${code ?? signal})`);
  });
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code}`)));
    createInterface({ input: child.stdout! }).once('line', (line) => resolve(JSON.parse(line) as Record<string, string>));
  });
}


type Target = 'direct' | 'pass-through' | 'proxy';
interface Shot {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
}

async function cannon(url: string, headers: Record<string, string>): Promise<Shot> {
  const r = await autocannon({ url, headers, connections, duration: seconds });
  if (r.non2xx && process.env.BENCH_DEBUG) log(JSON.stringify(r.statusCodeStats));
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors + r.non2xx };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const load = () => os.loadavg().map((x) => x.toFixed(2)).join(' / ');

// The gateway runs compiled, as deployed (`npm run build`, incremental: quick when dist/ is current).
const sources = process.env.BENCH_SOURCES === '1';
if (!sources && spawnSync('npm', ['run', '--silent', 'build'], { stdio: 'inherit' }).status !== 0) throw new Error('npm run build failed');
const database = `cg_bench_proxy_${randomBytes(4).toString('hex')}`;
const loadBefore = load();
const startedAt = new Date();
log(`machine load before: ${loadBefore}`);
await admin(base, `CREATE DATABASE ${database}`);
try {
  const dbUrl = new URL(base);
  dbUrl.pathname = `/${database}`;
  const others = multi ? `1-${os.cpus().length - 1}` : '0';
  const api = await start('bench/proxy/upstream.ts', others, { BENCH_SECRET: secret }, false);
  const passthrough = await start('bench/proxy/passthrough.ts', '0', { UPSTREAM_URL: api.url!, BENCH_SECRET: secret }, false);
  const gateway = await start('bench/proxy/gateway.ts', '0', {
    DATABASE_URL: dbUrl.toString(),
    REDIS_URL: redis,
    AUTH_SECRET: randomBytes(32).toString('base64url'),
    ENCRYPTION_KEYS: newKeySpec('bench'),
    NODE_ENV: 'production',
    LOG_LEVEL: 'warn',
    // Throughput, not the gateway's own per-credential limiter, is measured (the connection has no budget of its own).
    RATE_LIMITS: 'off',
    HEALTH_WORKERS: 'false',
    OUTBOUND_ALLOWED_NETWORKS: '127.0.0.1/32',
    UPSTREAM_URL: api.url!,
    BENCH_SECRET: secret,
  }, sources);
  const targets: Record<Target, { url: string; headers: Record<string, string> }> = {
    direct: { url: `${api.url}/v1/items?limit=16`, headers: { authorization: `Bearer ${secret}` } },
    'pass-through': { url: `${passthrough.url}/proxy/v1/items?limit=16`, headers: { 'provider-config-key': 'bench' } },
    proxy: { url: `${gateway.url}/proxy/v1/items?limit=16`, headers: { authorization: `Bearer ${gateway.token}`, 'provider-config-key': 'bench', 'connection-id': 'acme' } },
  };
  // Every way gives the same answer before anything is measured.
  const answers = await Promise.all(Object.values(targets).map(async (t) => fetch(t.url, { headers: t.headers }).then(async (r) => `${r.status} ${await r.text()}`)));
  if (new Set(answers).size !== 1 || !answers[0]!.startsWith('200 ')) throw new Error(`the three ways answer differently: ${answers.map((a) => a.slice(0, 80)).join(' | ')}`);

  const shots = new Map<Target, Shot[]>();
  // A warm-up of each (connections, JIT, the gateway's caches), not counted.
  for (const t of Object.keys(targets) as Target[]) await cannon(targets[t].url, targets[t].headers);
  for (let round = 1; round <= rounds; round++) {
    for (const t of Object.keys(targets) as Target[]) {
      const shot = await cannon(targets[t].url, targets[t].headers);
      shots.set(t, [...(shots.get(t) ?? []), shot]);
      log(`round ${round} ${t}: ${fmt(shot.rps)} req/s, p50 ${shot.p50} ms, p99 ${shot.p99} ms${shot.errors ? `, ${shot.errors} errors` : ''}`);
    }
  }
  const loadAfter = load();
  const m = (t: Target, k: keyof Shot) => median(shots.get(t)!.map((s) => s[k]));
  // The share is taken in each round (the two ran seconds apart, under the same load), then the median of those.
  const ratios = shots.get('proxy')!.map((p, i) => p.rps / shots.get('pass-through')![i]!.rps);
  const cpu = os.cpus();
  const lines = [
    `### Results — ${startedAt.toISOString().slice(0, 10)}${smoke ? ' (smoke run: not a measurement)' : ''}`,
    '',
    `Machine: ${cpu.length} × ${cpu[0]?.model.trim()}, Linux ${os.release()}, Node ${process.version}, PostgreSQL on the same machine; the gateway ${sources ? 'from its sources through tsx' : 'compiled (dist/)'}, the pass-through and the API run by Node without a loader; gateway and pass-through pinned to CPU 0${pin ? '' : ' (taskset unavailable or one CPU: not pinned)'}; autocannon ${connections} connections × ${seconds} s × ${rounds} interleaved rounds (medians). Load average (1/5/15 min) before: ${loadBefore}; after: ${loadAfter}.`,
    '',
    '| way | req/s | p50 | p99 | added p50 | added p99 | errors |',
    '|---|---|---|---|---|---|---|',
    ...(Object.keys(targets) as Target[]).map((t) => {
      const added = (k: 'p50' | 'p99') => (t === 'direct' ? '–' : `${fmt(m(t, k) - m('direct', k), 1)} ms`);
      return `| ${t} | ${fmt(m(t, 'rps'))} | ${m(t, 'p50')} ms | ${m(t, 'p99')} ms | ${added('p50')} | ${added('p99')} | ${shots.get(t)!.reduce((a, s) => a + s.errors, 0)} |`;
    }),
    '',
    `Proxy ÷ pass-through, round by round: ${ratios.map((r) => `${(r * 100).toFixed(0)} %`).join(', ')}; median **${(median(ratios) * 100).toFixed(0)} %** of the throughput (target ≥ 60 %); the proxy adds ${fmt(m('proxy', 'p50') - m('direct', 'p50'), 1)} ms at the median over a direct call (target ≤ 2 ms).`,
  ];
  const report = lines.join('\n');
  console.log('\n' + report);
  if (!smoke) {
    const file = new URL('../BENCHMARKS.md', import.meta.url);
    const doc = readFileSync(file, 'utf8');
    const START = '<!-- bench:proxy:start -->';
    const END = '<!-- bench:proxy:end -->';
    const block = `${START}\n${report}\n${END}`;
    writeFileSync(file, doc.includes(START) ? doc.replace(new RegExp(`${START}[\\s\\S]*${END}`), block) : `${doc.trimEnd()}\n\n${block}\n`);
    log('written to BENCHMARKS.md');
  }
} finally {
  stopping = true;
  children.forEach((c) => c.kill());
  await new Promise((r) => setTimeout(r, 300));
  await admin(base, `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
}
process.exit(0);
