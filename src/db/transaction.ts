import type { AppContext } from '../context.js';
import type { Prisma } from '../generated/prisma/client.js';

/**
 * The one way mutations open a transaction: a change and everything it
 * implies (audit row, availability set, feed events) commit together or not
 * at all. Listeners registered on the services run after a successful commit.
 */
export async function transaction<T>(ctx: Pick<AppContext, 'prisma' | 'services'>, fn: (tx: Prisma.TransactionClient) => Promise<T>): Promise<T> {
  const result = await ctx.prisma.$transaction(fn, { timeout: 30_000, maxWait: 10_000 });
  for (const listener of ctx.services.afterCommit) listener();
  return result;
}
