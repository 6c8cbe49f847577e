import type { Tx } from '../../db/transaction.js';
import { ValidationError } from '../../errors.js';
import type { Op } from '../../op.js';
import type { FeedEventKind } from './reader.js';

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

/** What one transaction still has to refresh, by connection (merged options). */
const pending = new WeakMap<Tx, Map<string, RefreshOptions>>();

function merged(a: RefreshOptions | undefined, b: RefreshOptions): RefreshOptions {
  const x = a?.updated;
  const y = b.updated;
  if (x === true || y === true) return { updated: true };
  if (Array.isArray(x) || Array.isArray(y)) return { updated: [...new Set([...(Array.isArray(x) ? x : []), ...(Array.isArray(y) ? y : [])])] };
  return { updated: x ?? y };
}

/**
 * Marks the available set of one connection for a refresh in this
 * transaction. The refresh itself runs once per connection just before
 * commit (`settleAvailability`), after every lock the change took: the lock
 * order of docs/architecture.md (keys, rows, values, then the feed lock,
 * then AvailableSelection rows in connection order).
 */
export async function refreshAvailability(op: Op, connectionId: string, opts: RefreshOptions = {}): Promise<void> {
  let queue = pending.get(op.tx);
  if (!queue) {
    const fresh = (queue = new Map());
    pending.set(op.tx, fresh);
    op.beforeCommit(() => settleAvailability(op, fresh));
  }
  queue.set(connectionId, merged(queue.get(connectionId), opts));
}

async function settleAvailability(op: Op, queue: Map<string, RefreshOptions>): Promise<void> {
  pending.delete(op.tx);
  if (!queue.size) return;
  // Under the feed lock, refreshes of one connection run one after the other, each seeing the other's rows.
  await lockAvailability(op.tx);
  for (const connectionId of [...queue.keys()].sort()) await refreshNow(op, connectionId, queue.get(connectionId)!);
}

/**
 * Recomputes the available set of one connection, stores it, and records a
 * FeedEvent per changed customer. Returns the events written. The caller
 * holds the feed lock.
 */
async function refreshNow(op: Op, connectionId: string, opts: RefreshOptions): Promise<{ customerId: string; kind: FeedEventKind }[]> {
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
      // Idempotent (ON CONFLICT DO NOTHING): the row is the fact, whoever wrote it first.
      skipDuplicates: true,
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
 * The feed lock: serializes the writers of AvailableSelection and FeedEvent
 * rows until their transaction ends. Cursors (FeedEvent.id, a sequence) thus
 * become visible in increasing order: a reader that has seen cursor N will
 * never later find a committed event below N (without it, two concurrent
 * transactions could commit ids out of order and a subscriber reading
 * `id > cursor` would skip the slower one forever); and two refreshes of one
 * connection never insert the same row. Taken after every other lock of the
 * transaction (docs/architecture.md, lock order). Re-entrant within a
 * transaction; released at commit or rollback.
 */
export const FEED_LOCK_KEY = 7_302_114_887_301n;
export async function lockAvailability(tx: Tx): Promise<void> {
  // Last in the lock order (docs/architecture.md): whoever holds it waits for nothing else, so a
  // longer wait than the pool's lock_timeout cannot deadlock; it only queues behind writers that
  // are finishing, and a busy machine does not turn them into 503s. (set_config runs first: a
  // select list is evaluated left to right.)
  await tx.$executeRaw`SELECT set_config('lock_timeout', ${FEED_LOCK_TIMEOUT}, true), pg_advisory_xact_lock(${FEED_LOCK_KEY})`;
}

/** How long a writer waits for the feed lock (within the transaction's own 30 s). */
const FEED_LOCK_TIMEOUT = '20s';

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
export async function assertSelectable(op: Op, customerId: string, connectorId: string, connectionId: string, path: string): Promise<string> {
  // The set as this transaction leaves it (a manifest import selects connections it has just created).
  await op.settle();
  const row = await op.tx.availableSelection.findUnique({
    where: { connectionId_customerId: { connectionId, customerId } },
    select: { connectorId: true },
  });
  if (!row || row.connectorId !== connectorId) {
    throw ValidationError.field(path, 'is not a connection available to select for this customer and connector');
  }
  return connectionId;
}
