/**
 * Concurrent writers and readers on PostgreSQL (`npm run bench:writes`).
 *
 *   npm run bench:writes -- [--duration 60] [--writers 50] [--readers 10] [--url postgres://…]
 *
 * Creates a database of its own on the server of `--url` (default
 * DATABASE_URL, else postgres://postgres@127.0.0.1:5432/postgres), starts one
 * gateway process on it, and runs `--writers` clients looping over the write
 * mix of bench/write-mix.ts (every path that takes key, row and value locks
 * and writes the availability set) beside `--readers` clients reading
 * connections, for `--duration` seconds. Reports PostgreSQL's deadlock count,
 * 5xx answers, typed errors by code, untyped errors, p50/p99 latency of
 * writes and reads, and lost writes (customers acknowledged but missing),
 * with the machine's load, into BENCHMARKS.md between
 * `<!-- bench:writes:start -->` and `<!-- bench:writes:end -->`.
 * Run it on a quiet machine: the figures are only as good as the load says.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { createApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { newKeySpec } from '../src/crypto/keyring.js';
import { openDatabase } from '../src/db/database.js';
import { startGatewayProcess } from '../test/faults/servers.js';
import { WRITE_KINDS, graphql, readOnce, seedWriteWorld, writeOnce, type Outcome } from './write-mix.js';

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '60' },
    writers: { type: 'string', default: '50' },
    readers: { type: 'string', default: '10' },
    url: { type: 'string', default: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres' },
    help: { type: 'boolean', default: false },
  },
});
if (args.help) {
  console.log('npm run bench:writes -- [--duration 60] [--writers 50] [--readers 10] [--url postgres://…]');
  process.exit(0);
}
const durationS = Number(args.duration);
const writers = Number(args.writers);
const readers = Number(args.readers);
const log = (m: string) => console.error(`[bench:writes] ${m}`);

const base = new URL(args.url);
const name = `cg_bench_writes_${randomBytes(4).toString('hex')}`;
async function admin(sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: base.toString() });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}
await admin(`CREATE DATABASE ${name}`);
const url = new URL(base);
url.pathname = `/${name}`;
const env = { DATABASE_URL: url.toString(), AUTH_SECRET: randomBytes(32).toString('base64url'), ENCRYPTION_KEYS: newKeySpec('bench1') };

let gatewayKill = () => {};
try {
  const config = loadConfig({ ...env, LOG_LEVEL: 'silent' });
  const db = await openDatabase(config.database);
  await db.migrate();
  const world = await seedWriteWorld(createApp(config, db), '');
  const deadlocks = async () => Number((await db.prisma.$queryRaw<{ n: bigint }[]>`SELECT deadlocks AS n FROM pg_stat_database WHERE datname = current_database()`)[0]!.n);

  log('starting a gateway process');
  const g = await startGatewayProcess({ ...env, LOG_LEVEL: 'warn' });
  gatewayKill = () => g.kill('SIGTERM');
  const w = { ...world, url: g.url };
  const deadlocksBefore = await deadlocks();
  const loadBefore = os.loadavg();

  log(`${writers} writers, ${readers} readers, ${durationS} s`);
  const writes: Outcome[] = [];
  const reads: Outcome[] = [];
  const acked: string[] = [];
  const deadline = Date.now() + durationS * 1000;
  const run = randomBytes(3).toString('hex');
  await Promise.all([
    ...Array.from({ length: writers }, async (_, writer) => {
      for (let i = 0; Date.now() < deadline; i++) {
        const kind = WRITE_KINDS[(writer + i) % WRITE_KINDS.length]!;
        const o = await writeOnce(w, kind, writer, i, run);
        writes.push(o);
        if (o.ok && kind === 'newCustomer') acked.push(`mix-new-${run}-${writer}-${i}`);
      }
    }),
    ...Array.from({ length: readers }, async () => {
      while (Date.now() < deadline) reads.push(await readOnce(w));
    }),
  ]);
  const loadAfter = os.loadavg();
  const deadlockCount = (await deadlocks()) - deadlocksBefore;
  const present = new Set(
    (await db.prisma.customer.findMany({ where: { orgId: w.org.orgId, externalId: { in: acked } }, select: { externalId: true } })).map((c) => c.externalId),
  );
  const lost = acked.filter((e) => !present.has(e)).length;
  // Sanity: the gateway still answers.
  const alive = (await graphql(w.url, w.org.adminToken, '{ viewer { kind } }')).ok;
  g.kill('SIGTERM');
  await g.exited;
  await db.close();

  const pct = (xs: number[], p: number) => {
    if (!xs.length) return 0;
    const s = [...xs].sort((a, b) => a - b);
    return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
  };
  const typed: Record<string, number> = {};
  let untyped = 0;
  let fiveXX = 0;
  for (const o of [...writes, ...reads]) {
    if (o.status >= 500) fiveXX++;
    if (o.ok) continue;
    const isTyped = o.code && !['INTERNAL_SERVER_ERROR', 'NOT_JSON', 'UNKNOWN', 'NETWORK'].includes(o.code);
    if (isTyped) typed[o.code!] = (typed[o.code!] ?? 0) + 1;
    else untyped++;
  }
  const ms = (x: number) => `${x.toFixed(0)} ms`;
  const byKind = WRITE_KINDS.map((k) => {
    const xs = writes.filter((o) => o.kind === k);
    return `| ${k} | ${xs.length} | ${xs.filter((o) => !o.ok).length} | ${ms(pct(xs.map((o) => o.ms), 50))} | ${ms(pct(xs.map((o) => o.ms), 99))} |`;
  });
  const lines = [
    `### Results — ${new Date().toISOString().slice(0, 10)}`,
    '',
    `${writers} writers and ${readers} readers for ${durationS} s against one gateway process on PostgreSQL ` +
      `(${os.cpus().length} CPUs; load average ${loadBefore.map((x) => x.toFixed(1)).join(' / ')} before, ${loadAfter.map((x) => x.toFixed(1)).join(' / ')} after).`,
    '',
    '| measure | value |',
    '|---|---|',
    `| writes (ok / total) | ${writes.filter((o) => o.ok).length} / ${writes.length} (${(writes.length / durationS).toFixed(1)}/s) |`,
    `| reads (ok / total) | ${reads.filter((o) => o.ok).length} / ${reads.length} (${(reads.length / durationS).toFixed(1)}/s) |`,
    `| deadlocks (pg_stat_database) | ${deadlockCount} |`,
    `| 5xx answers | ${fiveXX} |`,
    `| typed errors | ${Object.entries(typed).map(([k, v]) => `${k} ${v}`).join(', ') || '0'} |`,
    `| untyped errors | ${untyped} |`,
    `| lost writes (acknowledged, missing) | ${lost} of ${acked.length} new customers |`,
    `| write latency p50 / p99 | ${ms(pct(writes.map((o) => o.ms), 50))} / ${ms(pct(writes.map((o) => o.ms), 99))} |`,
    `| read latency p50 / p99 | ${ms(pct(reads.map((o) => o.ms), 50))} / ${ms(pct(reads.map((o) => o.ms), 99))} |`,
    `| gateway answers afterwards | ${alive ? 'yes' : 'no'} |`,
    '',
    '| write kind | count | failed | p50 | p99 |',
    '|---|---|---|---|---|',
    ...byKind,
  ];
  const report = lines.join('\n');
  console.log(report);
  const file = new URL('../BENCHMARKS.md', import.meta.url);
  const doc = readFileSync(file, 'utf8');
  const START = '<!-- bench:writes:start -->';
  const END = '<!-- bench:writes:end -->';
  const block = `${START}\n${report}\n${END}`;
  writeFileSync(
    file,
    doc.includes(START)
      ? doc.replace(new RegExp(`${START}[\\s\\S]*${END}`), block)
      : `${doc.trimEnd()}\n\n## Concurrent writes (\`npm run bench:writes\`)\n\nWhat the write mix is, and what "typed" means: \`bench/writes.ts\`, \`bench/write-mix.ts\`.\n\n${block}\n`,
  );
  log('written to BENCHMARKS.md');
} finally {
  gatewayKill();
  await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => {});
}
process.exit(0);
