import type { PrismaClient } from '../../generated/prisma/client.js';

/** What retention needs of an event table (FeedEvent, HealthEvent: the same columns for it). */
interface EventTable {
  aggregate(args: { where?: { createdAt: { lt: Date } }; _min?: { id: true }; _max: { id: true } }): Promise<{ _min?: { id: bigint | null }; _max: { id: bigint | null } }>;
  deleteMany(args: { where: { id: { lte: bigint } } }): Promise<{ count: number }>;
}

/** Highest committed cursor of a table (0 when there is none). */
export async function newestCursor(table: EventTable): Promise<bigint> {
  return (await table.aggregate({ _max: { id: true } }))._max.id ?? 0n;
}

/** Whether events after `after` may have been pruned (or the cursor is not one of the table's). */
export async function cursorPruned(table: EventTable, after: bigint): Promise<boolean> {
  const r = await table.aggregate({ _min: { id: true }, _max: { id: true } });
  const min = r._min?.id ?? null;
  const max = r._max.id;
  if (min === null || max === null) return after !== 0n;
  // Pruning removes a prefix of ids and always keeps the newest row, so
  // everything below the oldest remaining id may be gone.
  return after > max || after < min - 1n;
}

/**
 * Deletes events older than the retention. Always a prefix of cursors
 * (everything up to the newest expired id), and never the newest row: the
 * oldest remaining id is then the horizon below which a cursor is stale and
 * gets RESYNC instead of a silent gap.
 */
export async function pruneEvents(table: EventTable, retentionHours: number, now = new Date()): Promise<number> {
  const cutoff = new Date(now.getTime() - retentionHours * 3_600_000);
  const expired = await table.aggregate({ where: { createdAt: { lt: cutoff } }, _max: { id: true } });
  let upTo = expired._max.id;
  if (upTo === null) return 0;
  const newest = await table.aggregate({ _max: { id: true } });
  if (newest._max.id !== null && upTo >= newest._max.id) upTo = newest._max.id - 1n;
  if (upTo <= 0n) return 0;
  const { count } = await table.deleteMany({ where: { id: { lte: upTo } } });
  return count;
}

/** The picker's events (feed/service.ts). */
export function pruneFeedEvents(prisma: PrismaClient, retentionHours: number, now = new Date()): Promise<number> {
  return pruneEvents(prisma.feedEvent, retentionHours, now);
}
