import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { PrismaClient } from '../generated/prisma/client.js';
import { errorSummary } from '../logging.js';
import { Counter, Histogram, type Registry } from 'prom-client';

/**
 * One background job of a gateway process: a named piece of work run every
 * `every` milliseconds (± `jitter`, so instances started together drift
 * apart), or at once when something `wake`s it (a change committed work for
 * it). A run that is woken while it runs is followed by one more run.
 *
 * `singleton`: only one instance of the fleet runs it (audit and feed
 * retention): before each run the instance takes the job's lease in the
 * database (`JobLease`), held for two intervals and renewed by each run of
 * its holder; another instance skips the run while the lease stands, and
 * takes it over once it lapses (its holder stopped or died). Work that is
 * shared out row by row (webhook delivery, OAuth2 refresh) is not a
 * singleton: every instance runs it and the rows are claimed one by one.
 */
export interface Job {
  name: string;
  /** Milliseconds between the end of a run and the next (a function: the pace may change, e.g. during a Redis outage). */
  every: number | (() => number);
  /** The first run, this long after start (default: `every`). */
  firstAfter?: number;
  /** Spread of each interval, as a fraction of it (default 0.1). */
  jitter?: number;
  singleton?: boolean;
  /** Whether `start()` starts it (default true; `start(name)` starts it anyway). */
  enabled?: boolean;
  /** Tells `wake` when the job should run now (called once, when the job is added). */
  wakeOn?: (wake: () => void) => void;
  /** The work. `signal` aborts when the process stops: long loops check it between batches. */
  run(signal: AbortSignal): Promise<unknown>;
}

interface Slot {
  job: Job;
  started: boolean;
  timer?: NodeJS.Timeout;
  running: Promise<void> | null;
  again: boolean;
}

/**
 * Runs the background jobs of one gateway process, owned by its server's
 * lifecycle (server.ts: started with it, stopped before the database
 * closes). Each run is counted (`gateway_job_runs_total{job,outcome}`:
 * ok, failed, skipped — a singleton whose lease another instance holds),
 * timed (`gateway_job_duration_seconds{job}`), and a failure is one log
 * line naming the job.
 *
 * Hand-written rather than graphile-worker or pg-boss: those are queues of
 * jobs in their own schema driven through their own `pg` pool, which the
 * embedded default (PGlite, in-process) cannot offer; what is needed here is
 * a few periodic loops, one lease table and clean stopping.
 */
export class JobRunner {
  /** This process, as a lease holder. */
  readonly instanceId = randomUUID();
  private readonly slots = new Map<string, Slot>();
  private readonly abort = new AbortController();
  readonly runs: Counter<'job' | 'outcome'>;
  private readonly duration: Histogram<'job'>;

  constructor(private readonly deps: { prisma: PrismaClient; log: Logger; registry: Registry }) {
    this.runs = new Counter({
      name: 'gateway_job_runs_total',
      help: 'Background job runs by job and outcome (ok, failed, skipped: a single-instance job whose lease another instance holds).',
      labelNames: ['job', 'outcome'],
      registers: [deps.registry],
    });
    this.duration = new Histogram({
      name: 'gateway_job_duration_seconds',
      help: 'Background job run time by job.',
      labelNames: ['job'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60],
      registers: [deps.registry],
    });
  }

  add(...jobs: Job[]): void {
    for (const job of jobs) {
      if (this.slots.has(job.name)) throw new Error(`job ${job.name} is added twice`);
      this.slots.set(job.name, { job, started: false, running: null, again: false });
      job.wakeOn?.(() => this.wake(job.name));
    }
  }

  /** Starts every enabled job, or the one named (enabled or not). */
  start(name?: string): void {
    if (this.abort.signal.aborted) return;
    for (const slot of name ? [this.slot(name)] : [...this.slots.values()].filter((s) => s.job.enabled !== false)) {
      if (slot.started) continue;
      slot.started = true;
      this.schedule(slot, slot.job.firstAfter ?? this.interval(slot.job));
    }
  }

  /** Runs the job now, or right after its current run (a no-op for a job that is not started). */
  wake(name: string): void {
    const slot = this.slots.get(name);
    if (!slot?.started || this.abort.signal.aborted) return;
    if (slot.running) {
      slot.again = true;
      return;
    }
    clearTimeout(slot.timer);
    slot.running = this.run(slot).finally(() => {
      slot.running = null;
      if (slot.again) {
        slot.again = false;
        this.wake(name);
      } else this.schedule(slot, this.interval(slot.job));
    });
  }

  /** Stops every job: no new runs, running ones see their signal abort and are awaited; leases held are given up. */
  async stop(): Promise<void> {
    this.abort.abort();
    for (const slot of this.slots.values()) clearTimeout(slot.timer);
    await Promise.all([...this.slots.values()].map((s) => s.running));
    const singletons = [...this.slots.values()].filter((s) => s.job.singleton).map((s) => s.job.name);
    if (singletons.length) {
      await this.deps.prisma.jobLease.deleteMany({ where: { name: { in: singletons }, holder: this.instanceId } }).catch(() => undefined);
    }
  }

  private slot(name: string): Slot {
    const slot = this.slots.get(name);
    if (!slot) throw new Error(`no job named ${name}`);
    return slot;
  }

  private interval(job: Job): number {
    const base = typeof job.every === 'function' ? job.every() : job.every;
    const jitter = job.jitter ?? 0.1;
    return Math.max(0, base * (1 + (Math.random() * 2 - 1) * jitter));
  }

  private schedule(slot: Slot, ms: number): void {
    if (!slot.started || this.abort.signal.aborted) return;
    clearTimeout(slot.timer);
    slot.timer = setTimeout(() => this.wake(slot.job.name), ms);
    slot.timer.unref();
  }

  private async run(slot: Slot): Promise<void> {
    const { job } = slot;
    const { log } = this.deps;
    const started = performance.now();
    let outcome: 'ok' | 'failed' | 'skipped' = 'ok';
    try {
      if (job.singleton && !(await this.lease(job))) outcome = 'skipped';
      else await job.run(this.abort.signal);
    } catch (err) {
      outcome = 'failed';
      // A run cut short by stopping (the database closing under it) is not a failure worth a line.
      if (!this.abort.signal.aborted) log.error({ job: job.name, err: errorSummary(err) }, 'background job failed');
    }
    this.runs.inc({ job: job.name, outcome });
    if (outcome !== 'skipped') this.duration.observe({ job: job.name }, (performance.now() - started) / 1000);
  }

  /** Takes (or renews) the job's lease for two intervals; false while another instance holds it. */
  private async lease(job: Job): Promise<boolean> {
    const now = new Date();
    const until = new Date(now.getTime() + 2 * Math.max(typeof job.every === 'function' ? job.every() : job.every, 1000));
    // Timestamps as ISO text: the column is a UTC timestamp without time zone.
    const rows = await this.deps.prisma.$queryRaw<{ name: string }[]>`
      INSERT INTO "JobLease" (name, holder, until) VALUES (${job.name}, ${this.instanceId}, ${until.toISOString()}::timestamp)
      ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, until = EXCLUDED.until
      WHERE "JobLease".until <= ${now.toISOString()}::timestamp OR "JobLease".holder = EXCLUDED.holder
      RETURNING name`;
    return rows.length === 1;
  }
}

/**
 * A claiming job's pass: claims a batch (`claim` answers at most `batch`
 * ids, each now this instance's alone), works them concurrently, and goes on
 * until a batch comes back short or the job is stopped. Returns how many.
 */
export async function drainClaims(claim: () => Promise<string[]>, work: (id: string) => Promise<void>, batch: number, signal?: AbortSignal): Promise<number> {
  let done = 0;
  for (;;) {
    const claimed = await claim();
    await Promise.all(claimed.map(work));
    done += claimed.length;
    if (signal?.aborted || claimed.length < batch) return done;
  }
}
