import type { Tx } from '../../db/transaction.js';
import { Prisma, type ConnectionType, type PrismaClient, type ValueStatus } from '../../generated/prisma/client.js';
import type { EventLog } from '../feed/reader.js';
import { cursorPruned, newestCursor, pruneEvents } from '../feed/retention.js';
import type { Op } from '../../op.js';
import type { ValueSlotRef } from './history.js';

/**
 * The admin view's live health feed: one HealthEvent row per status
 * transition, failed refresh and scheduled check of a value, written in the
 * transaction of what it reports — so an event exists exactly when its
 * change committed — and read by organization with the picker feed's
 * readers and streams (feed/reader.ts, feed/stream.ts): ordered, by cursor,
 * replayed after a reconnect, nothing twice, across instances with Redis.
 *
 * Ordering: the rows of one transaction are inserted last (`lastly`), under
 * the health-feed lock, the last lock of the lock order; ids thus become
 * visible in increasing order and "everything after cursor N" never skips a
 * slower transaction's row (the same reasoning as the picker's feed lock,
 * feed/service.ts).
 */
export type HealthEventKind = 'STATUS_CHANGED' | 'REFRESH_FAILED' | 'CHECKED';

export interface HealthFacts {
  kind: HealthEventKind;
  cause: string;
  /** Never a secret: the message history and webhooks carry. */
  message?: string | null;
  from?: ValueStatus | null;
  to?: ValueStatus | null;
  /** CHECKED: whether it passed. */
  ok?: boolean | null;
}

interface Pending {
  orgId: string;
  connectionId: string;
  customerId: string | null;
  valueId: string | null;
  slot: string;
  valueKind: string;
  facts: HealthFacts;
  actorKind: string;
}

const pending = new WeakMap<Tx, Pending[]>();

/** What recording needs of an operation (a check's bookkeeping is a transaction of its own, not a `write`). */
export type HealthUnit = Pick<Op, 'tx' | 'lastly' | 'afterCommit' | 'app' | 'actor'>;

/** Records one health event in the unit's transaction; written just before it commits, its subscribers woken after. */
export function recordHealthEvent(unit: HealthUnit, value: ValueSlotRef, facts: HealthFacts): void {
  let queue = pending.get(unit.tx);
  if (!queue) {
    const fresh: Pending[] = (queue = []);
    pending.set(unit.tx, fresh);
    unit.lastly(() => writeEvents(unit, fresh));
  }
  queue.push({
    orgId: value.orgId,
    connectionId: value.connectionId,
    customerId: value.customerId,
    // A cleared value's row is gone.
    valueId: facts.kind === 'STATUS_CHANGED' && facts.to === null ? null : value.id,
    slot: value.slot,
    valueKind: value.kind,
    facts,
    actorKind: unit.actor.kind,
  });
}

async function writeEvents(unit: HealthUnit, queue: Pending[]): Promise<void> {
  pending.delete(unit.tx);
  const { tx } = unit;
  await lockHealthFeed(tx);
  // One statement: each event takes its connector from its connection (a connection deleted in this
  // transaction takes its values' events with it); ids are drawn in the queue's order.
  const rows = queue.map(
    (e, i) =>
      Prisma.sql`(${i}::int, ${e.connectionId}::uuid, ${e.customerId}::uuid, ${e.valueId}::uuid, ${e.slot}, ${e.valueKind}, ${e.facts.kind}, ${e.facts.from ?? null}::"ValueStatus", ${e.facts.to ?? null}::"ValueStatus", ${e.facts.ok ?? null}::boolean, ${e.facts.cause}, ${e.facts.message ?? null}, ${e.actorKind})`,
  );
  const written = await tx.$executeRaw`
    INSERT INTO "HealthEvent" ("orgId", "connectionId", "connectorId", "customerId", "valueId", slot, "valueKind", kind, "fromStatus", "toStatus", ok, cause, message, "actorKind")
    SELECT c."orgId", c.id, c."connectorId", e.customer, e.value, e.slot, e.vkind, e.kind, e.f, e.t, e.ok, e.cause, e.message, e.actor
    FROM (VALUES ${Prisma.join(rows)}) AS e(ord, conn, customer, value, slot, vkind, kind, f, t, ok, cause, message, actor)
    JOIN "Connection" c ON c.id = e.conn
    ORDER BY e.ord`;
  if (!written) return;
  const topics = [...new Set(queue.map((e) => healthTopic(e.orgId)))];
  unit.afterCommit(() => unit.app.feed.notify(topics));
}

/** The health feed's lock: last in the lock order (after the picker's feed lock); released at commit or rollback. */
export const HEALTH_FEED_LOCK_KEY = 7_302_114_887_302n;
async function lockHealthFeed(tx: Tx): Promise<void> {
  // Whoever holds it waits for nothing else (it is last), so a long wait only queues behind finishing writers.
  await tx.$executeRaw`SELECT set_config('lock_timeout', '20s', true), pg_advisory_xact_lock(${HEALTH_FEED_LOCK_KEY})`;
}

/** The wake-up bus topic of an organization's health events. */
export const healthTopic = (orgId: string) => `health:${orgId}`;

/** An event as subscribers receive it, with what scope needs of its connection. */
export interface HealthItem {
  cursor: bigint;
  orgId: string;
  kind: HealthEventKind | 'RESYNC';
  connectionId: string | null;
  connectorId: string | null;
  customerId: string | null;
  valueId: string | null;
  slot: string | null;
  valueKind: string | null;
  from: ValueStatus | null;
  to: ValueStatus | null;
  ok: boolean | null;
  cause: string | null;
  message: string | null;
  actorKind: string | null;
  createdAt?: Date;
  /** The connection as it is now (null: gone), for the scope rule (health/scope.ts). */
  connection: { id: string; orgId: string; type: ConnectionType; archivedAt: Date | null } | null;
}

/** Only events matching these, besides the key (SQL narrowing of a replay; the stream's filter decides). */
export interface HealthNarrowing {
  customerId?: string | null;
  connectionId?: string | null;
  connectorId?: string | null;
  kinds?: readonly HealthEventKind[] | null;
}

/** Committed health events of organizations after a cursor, oldest first. */
export async function readHealthEvents(prisma: PrismaClient, orgIds: string[], after: bigint, take: number, only: HealthNarrowing = {}): Promise<HealthItem[]> {
  const rows = await prisma.healthEvent.findMany({
    where: {
      orgId: orgIds.length === 1 ? orgIds[0]! : { in: orgIds },
      id: { gt: after },
      ...(only.customerId ? { customerId: only.customerId } : {}),
      ...(only.connectionId ? { connectionId: only.connectionId } : {}),
      ...(only.connectorId ? { connectorId: only.connectorId } : {}),
      ...(only.kinds ? { kind: { in: [...only.kinds] } } : {}),
    },
    orderBy: { id: 'asc' },
    take,
  });
  if (!rows.length) return [];
  const connections = await prisma.connection.findMany({
    where: { id: { in: [...new Set(rows.map((r) => r.connectionId))] } },
    select: { id: true, orgId: true, type: true, archivedAt: true },
  });
  const byId = new Map(connections.map((c) => [c.id, c]));
  return rows.map((r) => ({
    cursor: r.id,
    orgId: r.orgId,
    kind: r.kind as HealthEventKind,
    connectionId: r.connectionId,
    connectorId: r.connectorId,
    customerId: r.customerId,
    valueId: r.valueId,
    slot: r.slot,
    valueKind: r.valueKind,
    from: r.fromStatus,
    to: r.toStatus,
    ok: r.ok,
    cause: r.cause,
    message: r.message,
    actorKind: r.actorKind,
    createdAt: r.createdAt,
    connection: byId.get(r.connectionId) ?? null,
  }));
}

/** The health events as a log the feed hub serves (by organization). */
export function healthLog(prisma: PrismaClient): EventLog<HealthItem> {
  return {
    name: 'health feed',
    topic: healthTopic,
    keyOf: (item) => item.orgId,
    maxCursor: () => newestCursor(prisma.healthEvent),
    cursorExpired: (after) => cursorPruned(prisma.healthEvent, after),
    read: (orgIds, after, take) => readHealthEvents(prisma, orgIds, after, take),
    async keysBetween(from, to) {
      const rows = await prisma.healthEvent.findMany({ where: { id: { gt: from, lte: to } }, distinct: ['orgId'], select: { orgId: true } });
      return rows.map((r) => r.orgId);
    },
    prune: (retentionHours) => pruneEvents(prisma.healthEvent, retentionHours),
    resync: (cursor, orgId) => ({
      cursor,
      orgId,
      kind: 'RESYNC',
      connectionId: null,
      connectorId: null,
      customerId: null,
      valueId: null,
      slot: null,
      valueKind: null,
      from: null,
      to: null,
      ok: null,
      cause: null,
      message: null,
      actorKind: null,
      connection: null,
    }),
  };
}
