import { UniqueViolation, fromPrismaError } from '../errors.js';
import type { Prisma, PrismaClient } from '../generated/prisma/client.js';

export type Tx = Prisma.TransactionClient;

/** What runs inside one transaction: its client, and the one post-commit hook. */
export interface Unit {
  tx: Tx;
  /** Runs `fn` once the transaction has committed (never after a rollback), e.g. to wake live-feed readers. */
  afterCommit(fn: () => void): void;
}

export interface TransactionOptions {
  timeout?: number;
  maxWait?: number;
}

/**
 * The one way to open a transaction. A change and everything it implies
 * (audit row, availability set, feed events) commit together or not at all;
 * hooks registered with `afterCommit` run after a successful commit, in order.
 * Unique violations and the like come back as typed errors (CONFLICT…).
 */
export async function transaction<T>(prisma: PrismaClient, fn: (unit: Unit) => Promise<T>, opts: TransactionOptions = {}): Promise<T> {
  const hooks: (() => void)[] = [];
  let result: T;
  try {
    result = await prisma.$transaction((tx) => fn({ tx, afterCommit: (hook) => void hooks.push(hook) }), {
      timeout: opts.timeout ?? 30_000,
      maxWait: opts.maxWait ?? 10_000,
    });
  } catch (err) {
    throw fromPrismaError(err) ?? err;
  }
  for (const hook of hooks) hook();
  return result;
}

/** Runs `fn` again when it lost a race on a unique key (UniqueViolation); never for a deliberate CONFLICT. */
export async function retryUniqueRace<T>(fn: () => Promise<T>, attempts = 4): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (!(err instanceof UniqueViolation) || i >= attempts) throw err;
    }
  }
}
