import type { Prisma } from '../generated/prisma/client.js';

/**
 * Per-value mutual exclusion across every gateway instance: a transaction-
 * scoped PostgreSQL advisory lock (released at commit or rollback; works on
 * PostgreSQL and PGlite). Token refreshes and OAuth2 token stores take it;
 * any other writer of a value's secrets may take it too, to never race a
 * refresh (which would lose a rotated refresh token).
 */
export async function lockValue(tx: Prisma.TransactionClient, valueId: string): Promise<void> {
  await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${`connection-value:${valueId}`}, 0))`;
}

/**
 * Serializes "create if missing, else update" transactions on one key (an
 * org's externalId) across every gateway instance: a transaction-scoped
 * PostgreSQL advisory lock, released at commit or rollback.
 */
export async function lockKey(tx: Prisma.TransactionClient, namespace: string, key: string): Promise<void> {
  await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext(${namespace}), hashtext(${key}))`;
}

/**
 * Locks one row until the transaction ends (`SELECT … FOR NO KEY UPDATE`, the
 * lock an UPDATE takes): concurrent changes of it run one after the other,
 * each reading the other's result, while rows that merely reference it
 * (values, allow-list entries) can still be inserted.
 */
export async function lockRow(tx: Prisma.TransactionClient, table: 'Connection', id: string): Promise<void> {
  // The table name comes from the closed union above, never from input.
  await tx.$executeRawUnsafe(`SELECT 1 FROM "${table}" WHERE id = $1::uuid FOR NO KEY UPDATE`, id);
}
