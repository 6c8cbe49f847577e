import type { AppContext } from '../context.js';
import { fromPrismaError } from '../errors.js';
import type { Prisma } from '../generated/prisma/client.js';

/**
 * The one way mutations open a transaction: a change and everything it
 * implies (audit row, availability set, feed events) commit together or not
 * at all. Listeners registered on the services run after a successful commit.
 */
export async function transaction<T>(ctx: Pick<AppContext, 'prisma' | 'services'>, fn: (tx: Prisma.TransactionClient) => Promise<T>): Promise<T> {
  let result: T;
  try {
    result = await ctx.prisma.$transaction(fn, { timeout: 30_000, maxWait: 10_000 });
  } catch (err) {
    // Unique violations and the like become typed errors (CONFLICT…), so
    // mutations report them as their union members.
    throw fromPrismaError(err) ?? err;
  }
  for (const listener of ctx.services.afterCommit) listener();
  return result;
}
