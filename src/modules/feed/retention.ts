import type { PrismaClient } from '../../generated/prisma/client.js';

/**
 * Deletes feed events older than the retention. Always a prefix of cursors
 * (everything up to the newest expired id), and never the newest row: the
 * oldest remaining id is then the horizon below which a cursor is stale and
 * gets RESYNC instead of a silent gap.
 */
export async function pruneFeedEvents(prisma: PrismaClient, retentionHours: number, now = new Date()): Promise<number> {
  const cutoff = new Date(now.getTime() - retentionHours * 3_600_000);
  const expired = await prisma.feedEvent.aggregate({ where: { createdAt: { lt: cutoff } }, _max: { id: true } });
  let upTo = expired._max.id;
  if (upTo === null) return 0;
  const newest = await prisma.feedEvent.aggregate({ _max: { id: true } });
  if (newest._max.id !== null && upTo >= newest._max.id) upTo = newest._max.id - 1n;
  if (upTo <= 0n) return 0;
  const { count } = await prisma.feedEvent.deleteMany({ where: { id: { lte: upTo } } });
  return count;
}
