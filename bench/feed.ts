/**
 * Live-feed benchmark (not a test): N concurrent subscribers, each on its
 * own WebSocket, against one gateway process (a child, so its memory is
 * measured alone). Reports the time from a committed change to its delivery
 * (p50/p99, measured on the client side: commit timestamp from the gateway,
 * receipt timestamp here, same machine clock) and the gateway's memory per
 * subscriber.
 *
 *   npm run bench:feed                       # N = 1000, PGlite in memory
 *   npm run bench:feed -- --n 2000 --customers 50
 *   DATABASE_URL=postgres://… npm run bench:feed   # N = 1000 and 10000 (a fresh database, dropped after)
 */
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { encodeId } from '../src/ids.js';
import { createClient, type Client } from 'graphql-ws';
import pg from 'pg';
import WebSocket from 'ws';

const args = process.argv.slice(2);
const arg = (name: string, dflt: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : dflt;
};
// 10,000 subscribers on PGlite do not fit the 3-minute budget on a 2-core machine: PostgreSQL only by default.
const sizes = arg('n', process.env.DATABASE_URL ? '1000,10000' : '1000').split(',').map(Number);
const customers = Number(arg('customers', '100'));
const globalRounds = Number(arg('global-rounds', '5'));
const customerRounds = Number(arg('customer-rounds', '30'));

const QUERY = `subscription Bench($customerId: ID, $after: String) {
  availableConnectionsChanged(customerId: $customerId, after: $after) { cursor kind connection { id name } }
}`;

interface Server {
  url: string;
  apiKey: string;
  customers: string[];
  database: string;
  call(cmd: string, extra?: Record<string, unknown>): Promise<any>;
  stop(): Promise<void>;
}

async function freshPostgres(): Promise<{ url: string; drop(): Promise<void> } | null> {
  const base = process.env.DATABASE_URL;
  if (!base) return null;
  const name = `cg_bench_${randomBytes(5).toString('hex')}`;
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(base);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: base });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

async function startServer(databaseUrl: string | undefined): Promise<Server> {
  const child = fork('bench/feed-server.ts', [], {
    execArgv: ['--import', 'tsx', '--expose-gc', '--max-old-space-size=8192'],
    // 10,000 subscribers share one API key: far over a principal's budget, which is not what is measured.
    env: { ...process.env, DATABASE_URL: databaseUrl ?? '', REDIS_URL: '', BENCH_CUSTOMERS: String(customers), RATE_LIMITS: 'off' },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  // Never leave the gateway behind, whatever happens here.
  process.once('exit', () => child.kill());
  let next = 0;
  const waiting = new Map<number, (v: unknown) => void>();
  const ready = new Promise<any>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`gateway exited with ${code}`)));
    child.on('message', (m: any) => {
      if (m.ready) resolve(m);
      else waiting.get(m.id)?.(m.reply);
    });
  });
  const info = await ready;
  return {
    ...info,
    call: (cmd, extra = {}) =>
      new Promise((resolve) => {
        const id = ++next;
        waiting.set(id, resolve);
        child.send({ id, cmd, ...extra });
      }),
    stop: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.send({ id: ++next, cmd: 'stop' });
      }),
  };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function run(n: number, databaseUrl: string | undefined) {
  const server = await startServer(databaseUrl);
  const wsUrl = server.url.replace(/^http/, 'ws') + '/graphql';
  const before = await server.call('mem');
  if (process.env.BENCH_DEBUG) console.error('server ready');

  // Subscriber i follows customer i % customers. Each client gets its events here.
  const received: { customer: number; onEvent: ((kind: string, at: number) => void) | null; count: number }[] = [];
  const clients: Client[] = [];
  const t0 = performance.now();
  // Connections opened concurrently (graphql-ws closes a socket whose connection_init is not acknowledged within 3 s).
  const BATCH = 100;
  for (let start = 0; start < n; start += BATCH) {
    const batch: Promise<void>[] = [];
    for (let i = start; i < Math.min(n, start + BATCH); i++) {
      const customer = i % customers;
      const slot: (typeof received)[number] = { customer, onEvent: null, count: 0 };
      received.push(slot);
      const client = createClient({ url: wsUrl, webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${server.apiKey}` }, retryAttempts: 0 });
      clients.push(client);
      batch.push(
        new Promise<void>((resolve, reject) => {
          // after: "0" replays the two set-up events (global + per-customer ADDED): proof the subscription is live.
          client.subscribe(
            { query: QUERY, variables: { customerId: encodeId('Customer', server.customers[customer]!), after: '0' } },
            {
              next: (r) => {
                const at = performance.timeOrigin + performance.now();
                slot.count++;
                if (slot.count === 2) resolve();
                const kind = (r.data as any)?.availableConnectionsChanged?.kind as string;
                if (slot.count > 2) slot.onEvent?.(kind, at);
              },
              error: (e) => reject(e instanceof Error ? e : new Error(`subscriber ${i}: ${String((e as { code?: number }).code ?? JSON.stringify(e))}`)),
              complete: () => {},
            },
          );
        }),
      );
    }
    await Promise.all(batch);
    if (process.env.BENCH_DEBUG) console.error(`subscribed ${Math.min(n, start + BATCH)}`);
  }
  const setupMs = performance.now() - t0;
  await new Promise((r) => setTimeout(r, 500));
  const after = await server.call('mem');

  async function measure(cmd: string, targets: number[], extra: Record<string, unknown> = {}): Promise<number[]> {
    const latencies: number[] = [];
    let pending = targets.length;
    let done!: () => void;
    const all = new Promise<void>((r) => (done = r));
    let committedAt = 0;
    const early: number[] = [];
    for (const i of targets) {
      received[i]!.onEvent = (_kind, at) => {
        received[i]!.onEvent = null;
        if (committedAt) latencies.push(at - committedAt);
        else early.push(at);
        if (--pending === 0) done();
      };
    }
    const reply = await server.call(cmd, extra);
    committedAt = reply.committedAt;
    for (const at of early) latencies.push(at - committedAt);
    await Promise.race([all, new Promise((_, rej) => setTimeout(() => rej(new Error(`${cmd}: ${pending} of ${targets.length} not delivered in 60 s`)), 60_000))]);
    return latencies;
  }

  const everyone = received.map((_, i) => i);
  const fanout: number[] = [];
  // The gateway's CPU time per fan-out round (user + system): the commit of the change, reading its 100 events and
  // delivering them to every subscriber. Less sensitive to a busy machine than latency.
  const fanoutCpuMs: number[] = [];
  const cpu = async () => {
    const c = (await server.call('cpu')) as { user: number; system: number };
    return (c.user + c.system) / 1000;
  };
  // BENCH_PROF=<file.cpuprofile>: the gateway's CPU profile of the fan-out rounds.
  if (process.env.BENCH_PROF) await server.call('profile-start');
  for (let r = 0; r < globalRounds; r++) {
    const c0 = await cpu();
    fanout.push(...(await measure('toggle-global', everyone)));
    fanoutCpuMs.push((await cpu()) - c0);
  }
  if (process.env.BENCH_PROF) await server.call('profile-stop');
  fanoutCpuMs.sort((a, b) => a - b);
  const single: number[] = [];
  for (let r = 0; r < customerRounds; r++) {
    const customer = r % customers;
    const targets = everyone.filter((i) => received[i]!.customer === customer);
    single.push(...(await measure('toggle-customer', targets, { customer })));
  }

  const deliveries = (await server.call('deliveries')) as Record<string, number>;
  for (const c of clients) void c.dispose();
  await server.stop();
  fanout.sort((a, b) => a - b);
  single.sort((a, b) => a - b);
  return {
    n,
    database: server.database,
    setupS: setupMs / 1000,
    fanout: { samples: fanout.length, p50: percentile(fanout, 50), p99: percentile(fanout, 99), max: fanout.at(-1)! },
    fanoutCpuMs: percentile(fanoutCpuMs, 50),
    single: { samples: single.length, p50: percentile(single, 50), p99: percentile(single, 99), max: single.at(-1)! },
    heapPerSubKiB: (after.heapUsed - before.heapUsed) / n / 1024,
    rssPerSubKiB: (after.rss - before.rss) / n / 1024,
    rssMiB: after.rss / 1048576,
    deliveries,
  };
}

const machine = `${os.cpus().length} cores (${os.cpus()[0]?.model.trim()}), ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${os.platform()} ${os.release()}`;
console.log(`# live feed benchmark — ${new Date().toISOString()}\n# ${machine}\n# ${customers} customers; subscriber i follows customer i mod ${customers}`);
const rows: string[] = [];
for (const n of sizes) {
  const pgdb = await freshPostgres();
  const started = performance.now();
  try {
    const r = await run(n, pgdb?.url);
    const f = (x: number) => x.toFixed(1);
    const row = `| ${r.database} | ${r.n} | ${f(r.setupS)} s | ${f(r.fanout.p50)} | ${f(r.fanout.p99)} | ${f(r.single.p50)} | ${f(r.single.p99)} | ${f(r.fanoutCpuMs)} (${((r.fanoutCpuMs * 1000) / r.n).toFixed(0)} µs/sub) | ${f(r.heapPerSubKiB)} | ${f(r.rssPerSubKiB)} | ${r.rssMiB.toFixed(0)} |`;
    rows.push(row);
    console.log(JSON.stringify(r));
    console.log(`  (${((performance.now() - started) / 1000).toFixed(0)} s)`);
  } finally {
    await pgdb?.drop();
  }
}
console.log(`\n# load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
console.log('| database | subscribers | set-up | fan-out p50 ms | fan-out p99 ms | one-customer p50 ms | one-customer p99 ms | gateway CPU ms per fan-out | heap KiB/sub | RSS KiB/sub | gateway RSS MiB |');
console.log('|---|---|---|---|---|---|---|---|---|---|---|');
for (const r of rows) console.log(r);
