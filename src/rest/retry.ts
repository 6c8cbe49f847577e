import { ConflictError } from '../errors.js';
import type { Prisma } from '../generated/prisma/client.js';

export { lockKey } from '../db/locks.js';

/**
 * Runs `fn` again when it lost a race on a unique key that no lock covered
 * (e.g. a customer created through GraphQL at the same time). `fn` must be
 * a whole transaction; the shared transaction helper reports unique
 * violations as ConflictError.
 */
export async function retryOnUniqueRace<T>(fn: () => Promise<T>, attempts = 4): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      const code = (err as { code?: unknown } | null)?.code;
      if ((code !== 'P2002' && !(err instanceof ConflictError)) || i >= attempts) throw err;
    }
  }
}

/** Locks one connection row until the transaction ends: concurrent updates of it run one after the other. */
export async function lockConnection(tx: Prisma.TransactionClient, id: string): Promise<void> {
  await tx.$executeRaw`SELECT 1 FROM "Connection" WHERE id = ${id}::uuid FOR UPDATE`;
}
