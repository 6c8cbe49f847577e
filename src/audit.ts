import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { systemActor, type Actor } from './auth/principal.js';
import { GroupWriter } from './db/group-writer.js';
import type { Logger } from 'pino';
import type { Database } from './db/database.js';
import type { Tx } from './db/transaction.js';
import { Prisma, type PrismaClient } from './generated/prisma/client.js';

/**
 * The audit log: who did what, through which surface. A change writes its
 * row in its own transaction (op.ts: `op.audit`); reads that change nothing
 * (runtime resolutions) are group-committed (`auditTrail`); old rows are
 * pruned by the `audit.retention` job (src/jobs).
 */
export type Surface = 'graphql' | 'rest' | 'runtime' | 'proxy' | 'nango' | 'manifest' | 'oauth' | 'oidc' | 'connect' | 'system';

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

/**
 * Counts one more of a repeated action in the row of its actor, target and
 * action for this minute (`aggregateKey`), in the caller's transaction: the
 * gateway's own routine work (renewals, scheduled checks) is audited as
 * such without a row per occurrence.
 */
export async function auditCounted(
  tx: Pick<Tx, 'auditEvent'>,
  actor: Actor,
  via: Surface,
  action: string,
  targetType: string,
  targetId: string | null,
): Promise<void> {
  const key = aggregateKey([actor.kind, actor.id, actor.orgId, action, targetType, targetId]);
  await tx.auditEvent.upsert({
    where: { aggregateKey: key },
    create: { ...auditRow(actor, via, action, targetType, targetId), aggregateKey: key, count: 1 },
    update: { count: { increment: 1 } },
  });
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
export function aggregateKey(parts: readonly (string | null)[], at = new Date()): string {
  const text = JSON.stringify([...parts, at.toISOString().slice(0, 16)]);
  // The same parts in the same minute (a busy caller: runtime resolutions): hashed once.
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
export function auditTrail(db: Pick<Database, 'prisma' | 'driverQuery'>): GroupWriter<AuditRow> {
  const prisma = db.prisma;
  return new GroupWriter(async (rows) => {
    const plain = rows.filter((r) => !r.aggregateKey);
    const grouped = new Map<string, AggregateRow>();
    for (const r of rows) {
      if (!r.aggregateKey) continue;
      const g = grouped.get(r.aggregateKey);
      if (g) g.count += 1;
      else grouped.set(r.aggregateKey, { ...r, aggregateKey: r.aggregateKey, count: 1 });
    }
    await Promise.all([plain.length > 0 && insertPlain(db, plain), addCounts(prisma, [...grouped.values()])]);
  });
}

type AggregateRow = AuditRow & { aggregateKey: string; count: number };

/**
 * Rows without an aggregate key, in one statement on the driver: every
 * runtime resolution writes one, and the ORM compiled a new plan for each
 * batch size (a tenth of a resolution's CPU).
 */
async function insertPlain(db: Pick<Database, 'driverQuery'>, rows: AuditRow[]): Promise<void> {
  await db.driverQuery(
    `INSERT INTO "AuditEvent" ("orgId", "principalKind", "principalId", "action", "targetType", "targetId", "detail")
     SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::jsonb[])`,
    [
      rows.map((r) => r.orgId),
      rows.map((r) => r.principalKind),
      rows.map((r) => r.principalId),
      rows.map((r) => r.action),
      rows.map((r) => r.targetType),
      rows.map((r) => r.targetId),
      rows.map((r) => JSON.stringify(r.detail)),
    ],
  );
}

/** Adds each row's count to its aggregate row (creating it), in one statement. */
async function addCounts(prisma: PrismaClient, rows: AggregateRow[]): Promise<void> {
  if (rows.length === 0) return;
  const values = rows.map(
    (g) =>
      Prisma.sql`(${g.orgId}::uuid, ${g.principalKind}, ${g.principalId}, ${g.action}, ${g.targetType}, ${g.targetId}, ${JSON.stringify(g.detail)}::jsonb, ${g.aggregateKey}, ${g.count})`,
  );
  await prisma.$executeRaw`INSERT INTO "AuditEvent" ("orgId", "principalKind", "principalId", "action", "targetType", "targetId", "detail", "aggregateKey", "count")
    VALUES ${Prisma.join(values)}
    ON CONFLICT ("aggregateKey") DO UPDATE SET "count" = "AuditEvent"."count" + EXCLUDED."count"`;
}

/**
 * Counted uses that need not be durable before their answer (proxy calls:
 * the credential never leaves the gateway, so the row counts calls rather
 * than records a disclosure). Each `count` adds to its aggregate row in
 * memory; the rows are written in one statement every `flushMs` — and
 * before any read of the audit log on this instance (`Database.beforeAuditRead`),
 * and when the gateway stops (`close`), so no call of a clean stop goes
 * uncounted. What a crash loses is at most the last `flushMs` of counts.
 * A failed write keeps its counts for the next flush (logged).
 */
export class UsageAudit {
  private pending = new Map<string, AggregateRow>();
  private timer: NodeJS.Timeout | null = null;
  private writing: Promise<void> | null = null;
  private closed = false;
  private readonly unhook: () => void;

  constructor(
    private readonly db: Pick<Database, 'prisma' | 'beforeAuditRead'>,
    private readonly flushMs: number,
    private readonly log: Logger,
  ) {
    this.unhook = db.beforeAuditRead(() => this.flush());
  }

  /**
   * One more use of the kind `parts` names (principal, target, outcome…), in
   * this minute's row. The row (`row()`) and its hashed aggregate key are made
   * once per kind and flush, not per use: this is the proxy's hot path.
   */
  count(parts: readonly (string | null)[], row: () => AuditRow): void {
    const minute = Math.floor(Date.now() / 60_000);
    const kind = `${minute} ${JSON.stringify(parts)}`;
    const g = this.pending.get(kind);
    if (g) g.count += 1;
    else this.pending.set(kind, { ...row(), aggregateKey: aggregateKey(parts, new Date(minute * 60_000)), count: 1 });
    this.scheduleFlush();
  }

  /** A write within `flushMs`, unless one is due already (or the gateway stopped). */
  private scheduleFlush(): void {
    if (this.timer || this.closed) return;
    this.timer = setTimeout(() => void this.flush(), this.flushMs);
    this.timer.unref();
  }

  /** Writes every count held now (and waits for a write in progress). */
  async flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    while (this.writing) await this.writing;
    if (this.pending.size === 0) return;
    const held = this.pending;
    this.pending = new Map();
    this.writing = addCounts(this.db.prisma, [...held.values()])
      .catch((err: unknown) => {
        this.log.warn({ err: err instanceof Error ? err.name : typeof err, rows: held.size }, 'audit counts not written: kept for the next flush');
        for (const [kind, r] of held) {
          const g = this.pending.get(kind);
          if (g) g.count += r.count;
          else this.pending.set(kind, r);
        }
        this.scheduleFlush();
      })
      .finally(() => {
        this.writing = null;
      });
    await this.writing;
  }

  /** The last write, before the database closes. */
  async close(): Promise<void> {
    this.unhook();
    this.closed = true;
    await this.flush();
  }
}

/**
 * Deletes audit rows older than the retention (in batches, so a large backlog
 * never holds one long transaction), then writes what it did into each
 * organization's log as the gateway's own work (SYSTEM, `audit.pruned`).
 */
export async function pruneAuditEvents(prisma: PrismaClient, retentionDays: number, now = new Date()): Promise<number> {
  const cutoff = new Date(now.getTime() - retentionDays * 86_400_000);
  const byOrg = new Map<string, number>();
  let total = 0;
  for (;;) {
    const gone = await prisma.$queryRaw<{ orgId: string }[]>`DELETE FROM "AuditEvent" WHERE id IN (SELECT id FROM "AuditEvent" WHERE "createdAt" < ${cutoff} LIMIT 5000) RETURNING "orgId"::text AS "orgId"`;
    for (const r of gone) byOrg.set(r.orgId, (byOrg.get(r.orgId) ?? 0) + 1);
    total += gone.length;
    if (gone.length < 5000) break;
  }
  // The gateway's own work, audited as such: each organization learns how much of its log went, and why.
  if (byOrg.size) {
    await prisma.auditEvent.createMany({
      data: [...byOrg].map(([orgId, rows]) =>
        auditRow(systemActor(orgId, 'retention'), 'system', 'audit.pruned', 'AuditEvent', null, { rows, olderThan: cutoff.toISOString(), retentionDays }),
      ),
    });
  }
  return total;
}
