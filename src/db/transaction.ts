import { AsyncLocalStorage } from 'node:async_hooks';
import { E_TIMEOUT, Semaphore, withTimeout, type SemaphoreInterface } from 'async-mutex';
import { ServiceUnavailableError, UniqueViolation, fromPrismaError, sqlStateOf } from '../errors.js';
import type { Prisma, PrismaClient } from '../generated/prisma/client.js';

export type Tx = Prisma.TransactionClient;

/** What runs inside one transaction: its client, and the hooks around its commit. */
export interface Unit {
  tx: Tx;
  /**
   * Runs `fn` once the transaction has committed (never after a rollback),
   * e.g. to wake live-feed readers. When `fn` returns a promise, the caller's
   * answer waits for it (ending a revoked credential's subscriptions on every
   * instance before the revocation answers); it must not reject: the change
   * is committed whatever it does.
   */
  afterCommit(fn: () => void | Promise<void>): void;
  /**
   * Queues `fn` to run in this transaction after the change itself, just
   * before commit: work that takes the later locks of the lock order
   * (the availability set and its feed events; docs/architecture.md).
   */
  beforeCommit(fn: () => Promise<void>): void;
  /** Runs the queued `beforeCommit` work now, for a read in this transaction that needs its result. */
  settle(): Promise<void>;
  /**
   * Queues `fn` to run last, after all `beforeCommit` work (which `settle`
   * may run early; this never runs early): the last lock of the lock order,
   * the health feed's (docs/architecture.md), is taken only here.
   */
  lastly(fn: () => Promise<void>): void;
}

export interface TransactionOptions {
  timeout?: number;
  maxWait?: number;
  /** Run `fn` again after a lost race (default). Off for work that talks to the outside world (an OAuth2 refresh must not be sent twice). */
  retryRaces?: boolean;
}

/**
 * At most `slots` write transactions hold a pooled connection at once, so a
 * burst of writers queueing on each other's locks never takes the whole pool
 * and readers always find a connection; a writer that waits longer than
 * `maxWaitMs` for a slot gets SERVICE_UNAVAILABLE (retryable) instead of
 * waiting forever. Set by db/database.ts per client (PostgreSQL).
 */
const writeGates = new WeakMap<PrismaClient, SemaphoreInterface>();
export function limitWriters(prisma: PrismaClient, slots: number, maxWaitMs: number): void {
  writeGates.set(prisma, withTimeout(new Semaphore(slots), maxWaitMs, E_TIMEOUT));
}

// A transaction opened inside another one (same async context) already holds a slot.
const inTransaction = new AsyncLocalStorage<true>();

/** Lost races worth running the whole transaction again for: a unique key, a deadlock, a serialization failure. */
const RETRIED_STATES = new Set(['40P01', '40001']);
const ATTEMPTS = 4;

/**
 * The one way to open a transaction. A change and everything it implies
 * (audit row, availability set, feed events) commit together or not at all;
 * hooks registered with `afterCommit` run after a successful commit, in order.
 * A lost race (unique key, deadlock) runs `fn` again — a deliberate CONFLICT a
 * service finds never is —, and the database being unavailable or a lock not
 * granted in time (lock_timeout) is SERVICE_UNAVAILABLE. Other known errors
 * come back typed (CONFLICT…).
 */
export async function transaction<T>(prisma: PrismaClient, fn: (unit: Unit) => Promise<T>, opts: TransactionOptions = {}): Promise<T> {
  const gate = inTransaction.getStore() ? undefined : writeGates.get(prisma);
  let release: (() => void) | undefined;
  if (gate) {
    try {
      [, release] = await gate.acquire();
    } catch (err) {
      if (err === E_TIMEOUT) throw new ServiceUnavailableError('Too many writes in progress; retry shortly', 1);
      throw err;
    }
  }
  let committed: { value: T; hooks: (() => void | Promise<void>)[] };
  try {
    committed = await inTransaction.run(true, () => attempt(prisma, fn, opts));
  } finally {
    release?.();
  }
  // In order, after the write slot is given back: a hook that waits (on other instances) holds no connection.
  for (const hook of committed.hooks) await hook();
  return committed.value;
}

async function attempt<T>(prisma: PrismaClient, fn: (unit: Unit) => Promise<T>, opts: TransactionOptions): Promise<{ value: T; hooks: (() => void | Promise<void>)[] }> {
  for (let i = 1; ; i++) {
    const hooks: (() => void | Promise<void>)[] = [];
    let result: T;
    try {
      result = await prisma.$transaction(
        async (tx) => {
          let queued: (() => Promise<void>)[] = [];
          const last: (() => Promise<void>)[] = [];
          const settle = async () => {
            while (queued.length) {
              const now = queued;
              queued = [];
              for (const work of now) await work();
            }
          };
          const value = await fn({
            tx,
            afterCommit: (hook) => void hooks.push(hook),
            beforeCommit: (work) => void queued.push(work),
            settle,
            lastly: (work) => void last.push(work),
          });
          await settle();
          for (const work of last) await work();
          return value;
        },
        { timeout: opts.timeout ?? 30_000, maxWait: opts.maxWait ?? 10_000 },
      );
    } catch (err) {
      const typed = fromPrismaError(err);
      const state = sqlStateOf(err);
      const lostRace = typed instanceof UniqueViolation || (state !== undefined && RETRIED_STATES.has(state));
      if (lostRace && opts.retryRaces !== false && i < ATTEMPTS) continue;
      throw typed ?? err;
    }
    return { value: result, hooks };
  }
}
