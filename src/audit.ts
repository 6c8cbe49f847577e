import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { Actor } from './auth/principal.js';
import { GroupWriter } from './db/group-writer.js';
import type { Tx } from './db/transaction.js';
import { Prisma, type PrismaClient } from './generated/prisma/client.js';

/**
 * The audit log: who did what, through which surface. A change writes its
 * row in its own transaction (op.ts: `op.audit`); reads that change nothing
 * (runtime resolutions) are group-committed (`auditTrail`); old rows are
 * pruned by the `audit.retention` job (src/jobs).
 */
export type Surface = 'graphql' | 'rest' | 'runtime' | 'proxy' | 'manifest' | 'oauth' | 'oidc' | 'connect' | 'system';

/**
 * Writes one audit row. GraphQL is the default surface; others are named in
 * `detail.via` (rest, manifest, runtime…).
 */
export async function audit(
  tx: Pick<Tx, 'auditEvent'>,
  actor: Actor,
  via: Surface,
  action: string,
  targetType: string,
  targetId: string | null,
  detail: Record<string, unknown> = {},
): Promise<void> {
  await tx.auditEvent.create({ data: auditRow(actor, via, action, targetType, targetId, detail) });
}

export function auditRow(actor: Actor, via: Surface, action: string, targetType: string, targetId: string | null, detail: Record<string, unknown> = {}) {
  return {
    orgId: actor.orgId,
    principalKind: actor.kind,
    principalId: actor.id,
    action,
    targetType,
    targetId,
    detail: (via === 'graphql' ? detail : { ...detail, via }) as object,
  };
}

/** An audit row; with `aggregateKey`, one of many alike that share a row and its `count` (see `aggregateKey`). */
export type AuditRow = ReturnType<typeof auditRow> & { aggregateKey?: string };

/**
 * The key under which repeated outcomes share one audit row: its parts
 * (principal, target, outcome…) and the minute. Hashed: parts may hold
 * caller input of any length.
 */
export function aggregateKey(parts: (string | null)[], at = new Date()): string {
  const text = JSON.stringify([...parts, at.toISOString().slice(0, 16)]);
  // The same parts in the same minute (a busy caller): hashed once (the proxy's hot path).
  let key = recentKeys.get(text);
  if (key === undefined) recentKeys.set(text, (key = createHash('sha256').update(text).digest('base64url')));
  return key;
}

/** Aggregate keys computed lately, by their text (which names the minute: an old entry is simply never asked for again). */
const recentKeys = new LRUCache<string, string>({ max: 10_000 });

/**
 * Audit rows of operations that change nothing (runtime resolutions): each is
 * committed before its caller is answered, concurrent ones in one statement
 * (db/group-writer.ts); rows with an aggregate key add to their minute's row.
 */
export function auditTrail(prisma: PrismaClient): GroupWriter<AuditRow> {
  return new GroupWriter(async (rows) => {
    const plain = rows.filter((r) => !r.aggregateKey);
    const grouped = new Map<string, AuditRow & { count: number }>();
    for (const r of rows) {
      if (!r.aggregateKey) continue;
      const g = grouped.get(r.aggregateKey);
      if (g) g.count += 1;
      else grouped.set(r.aggregateKey, { ...r, count: 1 });
    }
    const values = [...grouped.values()].map(
      (g) =>
        Prisma.sql`(${g.orgId}::uuid, ${g.principalKind}, ${g.principalId}, ${g.action}, ${g.targetType}, ${g.targetId}, ${JSON.stringify(g.detail)}::jsonb, ${g.aggregateKey}, ${g.count})`,
    );
    await Promise.all([
      plain.length > 0 && prisma.auditEvent.createMany({ data: plain }),
      values.length > 0 &&
        prisma.$executeRaw`INSERT INTO "AuditEvent" ("orgId", "principalKind", "principalId", "action", "targetType", "targetId", "detail", "aggregateKey", "count")
          VALUES ${Prisma.join(values)}
          ON CONFLICT ("aggregateKey") DO UPDATE SET "count" = "AuditEvent"."count" + EXCLUDED."count"`,
    ]);
  });
}

/** Deletes audit rows older than the retention (in batches, so a large backlog never holds one long transaction). */
export async function pruneAuditEvents(prisma: PrismaClient, retentionDays: number, now = new Date()): Promise<number> {
  const cutoff = new Date(now.getTime() - retentionDays * 86_400_000);
  let total = 0;
  for (;;) {
    const n = await prisma.$executeRaw`DELETE FROM "AuditEvent" WHERE id IN (SELECT id FROM "AuditEvent" WHERE "createdAt" < ${cutoff} LIMIT 5000)`;
    total += n;
    if (n < 5000) return total;
  }
}
