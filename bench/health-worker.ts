/**
 * One gateway instance's health worker for bench/health.ts (not a test).
 *
 * `runPhase` runs one kind of background pass — OAuth2 refresh, scheduled
 * checks or webhook delivery — back to back until told to stop, and says
 * what it claimed, the SQL statements it sent and the CPU it used. The
 * benchmark calls it in its own process on PGlite (one instance: the
 * database is in that process), and on PostgreSQL runs this file as a child
 * process per instance, so several instances share one database as
 * gateways do:
 *
 *   parent → child: env BENCH_HEALTH_WORKER = {"phase": …, "env": {…}} (the
 *   gateway's environment, the same keys as the parent's); child → parent:
 *   `ready` once the database is open and its pool warm; parent → child:
 *   `go`, then `stop`; child → parent: `result`; parent → child: `exit`
 *   (only after the parent has read the database server's CPU, so this
 *   instance's connections are still open then).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { createApp, createLogger, type App } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { openDatabase, POOL_SIZE } from '../src/db/database.js';
import { checkDueValues } from '../src/modules/health/checks.js';
import { refreshDueTokens } from '../src/modules/health/refresh.js';
import { deliverDueWebhooks } from '../src/modules/webhooks/worker.js';

export type Phase = 'refresh' | 'check' | 'webhook';

export interface WorkerResult {
  /** Values (refresh, check) this instance claimed; webhook passes do not say (0). */
  claimed: number;
  passes: number;
  /** Passes that threw (the job runner would log them and go on; so does this loop). */
  failedPasses: number;
  statements: number;
  /** This process's CPU time during the phase (user + system), ms. */
  cpuMs: number;
}

export type ToWorker = { type: 'go' } | { type: 'stop' } | { type: 'exit' };
export type FromWorker = { type: 'ready' } | { type: 'result'; result: WorkerResult };

/** After a pass that found nothing: long enough not to spin on the database, short against a phase of seconds. */
const IDLE_PAUSE_MS = 20;

/**
 * Passes back to back until `stop` aborts (the gateway's jobs would wait
 * HEALTH_*_POLL_MS between passes, which only adds idle time). A pass in
 * flight finishes its batch — claimed values are worked and written back —
 * before the loop ends.
 */
export async function runPhase(app: App, phase: Phase, stop: AbortSignal, statements: () => number): Promise<WorkerResult> {
  const s0 = statements();
  const cpu0 = process.cpuUsage();
  let claimed = 0;
  let passes = 0;
  let failedPasses = 0;
  while (!stop.aborted) {
    let n = 0;
    try {
      if (phase === 'refresh') n = await refreshDueTokens(app, stop);
      else if (phase === 'check') n = await checkDueValues(app, stop);
      // deliverDueWebhooks says nothing of what it did; a pass drains the due deliveries, so pause after each.
      else await deliverDueWebhooks(app, stop);
    } catch (err) {
      failedPasses++;
      app.log.error({ phase, err: (err as Error)?.message }, 'bench pass failed');
    }
    passes++;
    claimed += n;
    if (n === 0) await sleep(IDLE_PAUSE_MS, undefined, { signal: stop }).catch(() => undefined);
  }
  const cpu = process.cpuUsage(cpu0);
  return { claimed, passes, failedPasses, statements: statements() - s0, cpuMs: (cpu.user + cpu.system) / 1000 };
}

async function child(spec: { phase: Phase; env: Record<string, string> }): Promise<void> {
  const send = (m: FromWorker) => process.send?.(m);
  // The parent gone (killed, crashed): nothing left to report to.
  process.on('disconnect', () => process.exit(1));
  const stop = new AbortController();
  const messages: ToWorker[] = [];
  let wakeup = () => {};
  process.on('message', (m: ToWorker) => {
    if (m.type === 'stop') stop.abort();
    messages.push(m);
    wakeup();
  });
  const next = async (type: ToWorker['type']): Promise<void> => {
    while (!messages.some((m) => m.type === type)) await new Promise<void>((r) => (wakeup = r));
  };

  let statements = 0;
  const config = loadConfig(spec.env);
  const db = await openDatabase(config.database, { onQuery: () => void statements++ });
  const app = createApp(config, db, createLogger(config));
  // Warm up: the pool's connections opened (their backends' start-up is not the phase's database CPU)
  // and the client's first query behind it.
  if (db.pool) await Promise.all(Array.from({ length: POOL_SIZE }, () => db.pool!.query('SELECT pg_sleep(0.05)')));
  await db.prisma.connectionValue.findFirst({ select: { id: true } });
  send({ type: 'ready' });
  await next('go');
  const result = await runPhase(app, spec.phase, stop.signal, () => statements);
  send({ type: 'result', result });
  await next('exit');
  await db.close();
  process.exit(0);
}

if (process.env.BENCH_HEALTH_WORKER) await child(JSON.parse(process.env.BENCH_HEALTH_WORKER));
