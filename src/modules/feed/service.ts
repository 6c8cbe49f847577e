import type { Tx } from '../../db/transaction.js';
import { ValidationError } from '../../errors.js';
import type { Op } from '../../op.js';

/**
 * The one definition of "available to select" (design.md): for a customer and
 * a connector, the `availableInWorkflows`, non-archived connections of that
 * connector that have an ACTIVE value for that customer (per-customer types)
 * or an ACTIVE global value whose allow-list admits the customer.
 *
 * The set is materialized in `AvailableSelection` and refreshed inside the
 * transaction of every change that can alter it; each difference is written
 * as a FeedEvent in that same transaction, so an event exists exactly when
 * its change commits, and the customers' readers are woken once it has.
 */
export type FeedEventKind = 'ADDED' | 'REMOVED' | 'UPDATED';

export interface RefreshOptions {
  /**
   * The connection's visible description (name, connector…) or a value
   * changed: emit UPDATED for customers that keep it. Otherwise only
   * ADDED/REMOVED are emitted.
   */
  updated?: boolean | string[];
}

/** Customers (ids) for whom the connection is available to select right now. */
export async function computeAvailableCustomers(tx: Tx, connectionId: string): Promise<Set<string>> {
  const c = await tx.connection.findUnique({
    where: { id: connectionId },
    select: { orgId: true, type: true, availableInWorkflows: true, archivedAt: true, restrictToAllowList: true },
  });
  if (!c || !c.availableInWorkflows || c.archivedAt) return new Set();
  if (c.type === 'ORG_ACTIVATED_GLOBAL') {
    const global = await tx.connectionValue.findUnique({
      where: { connectionId_slot: { connectionId, slot: 'GLOBAL' } },
      select: { status: true },
    });
    if (global?.status !== 'ACTIVE') return new Set();
    const customers = c.restrictToAllowList
      ? await tx.globalAllowance.findMany({ where: { connectionId }, select: { customerId: true } })
      : await tx.customer.findMany({ where: { orgId: c.orgId }, select: { id: true } }).then((r) => r.map((x) => ({ customerId: x.id })));
    return new Set(customers.map((r) => r.customerId));
  }
  const values = await tx.connectionValue.findMany({
    where: { connectionId, kind: 'CUSTOMER', status: 'ACTIVE' },
    select: { customerId: true },
  });
  return new Set(values.map((v) => v.customerId!));
}

/**
 * Recomputes the available set of one connection, stores it, and records a
 * FeedEvent per changed customer. Returns the events written.
 */
export async function refreshAvailability(
  op: Op,
  connectionId: string,
  opts: RefreshOptions = {},
): Promise<{ customerId: string; kind: FeedEventKind }[]> {
  const { tx } = op;
  const connection = await tx.connection.findUnique({
    where: { id: connectionId },
    select: { orgId: true, connectorId: true },
  });
  const before = await tx.availableSelection.findMany({
    where: { connectionId },
    select: { customerId: true, orgId: true, connectorId: true },
  });
  const was = new Set(before.map((r) => r.customerId));
  const now = connection ? await computeAvailableCustomers(tx, connectionId) : new Set<string>();

  const added = [...now].filter((id) => !was.has(id));
  const removed = [...was].filter((id) => !now.has(id));
  const updatedFilter = opts.updated;
  const updated =
    updatedFilter === undefined || updatedFilter === false
      ? []
      : [...now].filter((id) => was.has(id) && (updatedFilter === true || updatedFilter.includes(id)));

  if (removed.length) {
    await tx.availableSelection.deleteMany({ where: { connectionId, customerId: { in: removed } } });
  }
  if (connection && added.length) {
    await tx.availableSelection.createMany({
      data: added.map((customerId) => ({ connectionId, customerId, orgId: connection.orgId, connectorId: connection.connectorId })),
    });
  }
  if (updated.length) {
    await tx.availableSelection.updateMany({ where: { connectionId, customerId: { in: updated } }, data: { updatedAt: new Date() } });
  }

  const events = [
    ...added.map((customerId) => ({ customerId, kind: 'ADDED' as const })),
    ...removed.map((customerId) => ({ customerId, kind: 'REMOVED' as const })),
    ...updated.map((customerId) => ({ customerId, kind: 'UPDATED' as const })),
  ];
  if (events.length) {
    // A deleted connection still gets REMOVED events: the old rows know its org and connector.
    const orgId = connection?.orgId ?? before[0]?.orgId;
    const connectorId = connection?.connectorId ?? before[0]?.connectorId;
    if (orgId && connectorId) {
      await lockFeed(tx);
      await tx.feedEvent.createMany({
        data: events.map((e) => ({ orgId, connectorId, connectionId, customerId: e.customerId, kind: e.kind })),
      });
      const customers = events.map((e) => e.customerId);
      op.afterCommit(() => op.app.feed.notify(customers));
    }
  }
  return events;
}

/**
 * Serializes the writers of FeedEvent rows until their transaction ends, so
 * cursors (FeedEvent.id, a sequence) become visible in increasing order: a
 * reader that has seen cursor N will never later find a committed event below
 * N. Without it, two concurrent transactions could commit ids out of order
 * and a subscriber reading `id > cursor` would skip the slower one forever.
 * Re-entrant within a transaction; released at commit or rollback.
 */
export const FEED_LOCK_KEY = 7_302_114_887_301n;
async function lockFeed(tx: Tx): Promise<void> {
  await tx.$executeRaw`SELECT pg_advisory_xact_lock(${FEED_LOCK_KEY})`;
}

/** Availability of every connection that a new or changed customer might get (global ones). */
export async function refreshCustomerAvailability(op: Op, orgId: string): Promise<void> {
  const globals = await op.tx.connection.findMany({
    where: { orgId, type: 'ORG_ACTIVATED_GLOBAL', availableInWorkflows: true, archivedAt: null, restrictToAllowList: false },
    select: { id: true },
  });
  for (const g of globals) await refreshAvailability(op, g.id);
}

/**
 * The one rule for a workflow step's connection: it must be in the customer's
 * available set for the step's connector. Anything else — hidden, archived,
 * unknown, another connector's, another tenant's — gets the same answer,
 * naming `path`.
 */
export async function assertSelectable(tx: Tx, customerId: string, connectorId: string, connectionId: string, path: string): Promise<string> {
  const row = await tx.availableSelection.findUnique({
    where: { connectionId_customerId: { connectionId, customerId } },
    select: { connectorId: true },
  });
  if (!row || row.connectorId !== connectorId) {
    throw ValidationError.field(path, 'is not a connection available to select for this customer and connector');
  }
  return connectionId;
}
