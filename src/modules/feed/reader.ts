import type { Logger } from 'pino';
import type { PrismaClient } from '../../generated/prisma/client.js';
import type { WakeupBus } from '../../pubsub/wakeups.js';

/**
 * Reading the FeedEvent table, the only source of events: rows are written
 * in the transaction of the change (service.ts) under a lock that makes their
 * ids visible in increasing order, so "everything after cursor N" is a plain
 * indexed read. Per customer, one reader per process reads new rows once and
 * offers them to that process's subscribers; readers woken together share
 * one query (a change of a global connection reaches every customer at once).
 */
/** What the table stores, plus RESYNC: "you may have missed some; reload". */
/** What a committed change did to a customer's picker set (service.ts writes one event per change). */
export type FeedEventKind = 'ADDED' | 'REMOVED' | 'UPDATED';
export type FeedKind = FeedEventKind | 'RESYNC';

/** What a subscriber may learn about a connection it can (or no longer can) pick. */
export interface FeedOption {
  connectionId: string;
  name: string;
  connectorKey: string;
  connectorName: string;
}

export interface FeedItem {
  cursor: bigint;
  customerId: string;
  kind: FeedKind;
  connectionId: string | null;
  connectorId: string | null;
  /** Null for RESYNC and for a connection that no longer exists. */
  option: FeedOption | null;
  /** When the event was written (with the change); absent for RESYNC. */
  createdAt?: Date;
}

/** Rows per read of one subscriber's replay. */
export const PAGE = 500;
/** Rows per batched read of several customers' readers. */
const BATCH_PAGE = 2000;

/** Highest committed cursor (0 when there is none). */
export async function maxCursor(prisma: PrismaClient): Promise<bigint> {
  const r = await prisma.feedEvent.aggregate({ _max: { id: true } });
  return r._max.id ?? 0n;
}

/** Whether events after `after` may have been pruned (or the cursor is not one of ours). */
export async function cursorExpired(prisma: PrismaClient, after: bigint): Promise<boolean> {
  const r = await prisma.feedEvent.aggregate({ _min: { id: true }, _max: { id: true } });
  const min = r._min.id;
  const max = r._max.id;
  if (min === null || max === null) return after !== 0n;
  // Pruning removes a prefix of ids and always keeps the newest row, so
  // everything below the oldest remaining id may be gone.
  return after > max || after < min - 1n;
}

/** Committed events of customers after a cursor, oldest first, with what a subscriber may know. */
export async function readEvents(
  prisma: PrismaClient,
  customerIds: string[],
  after: bigint,
  take = PAGE,
  only: { connectorId?: string | null | undefined; connectionIds?: readonly string[] | null | undefined } = {},
): Promise<FeedItem[]> {
  const rows = await prisma.feedEvent.findMany({
    where: {
      customerId: customerIds.length === 1 ? customerIds[0]! : { in: customerIds },
      id: { gt: after },
      ...(only.connectorId ? { connectorId: only.connectorId } : {}),
      ...(only.connectionIds ? { connectionId: { in: [...only.connectionIds] } } : {}),
    },
    orderBy: { id: 'asc' },
    take,
    select: { id: true, kind: true, customerId: true, connectionId: true, connectorId: true, createdAt: true },
  });
  if (!rows.length) return [];
  const connections = await prisma.connection.findMany({
    where: { id: { in: [...new Set(rows.map((r) => r.connectionId))] } },
    select: { id: true, name: true, connector: { select: { key: true, name: true } } },
  });
  const byId = new Map(connections.map((c) => [c.id, c]));
  return rows.map((r) => {
    const c = byId.get(r.connectionId);
    return {
      cursor: r.id,
      customerId: r.customerId,
      kind: r.kind as FeedKind,
      connectionId: r.connectionId,
      connectorId: r.connectorId,
      createdAt: r.createdAt,
      option: c ? { connectionId: c.id, name: c.name, connectorKey: c.connector.key, connectorName: c.connector.name } : null,
    };
  });
}

/** A local subscriber of one customer's events. */
export interface FeedListener {
  readonly customerId: string;
  /** Newly committed events of its customer, in cursor order. */
  offer(items: FeedItem[]): void;
}

/** The local listeners of one customer, and where this process has read that customer's events up to. */
class CustomerReader {
  readonly listeners = new Set<FeedListener>();
  tail: bigint | null = null;
  closed = false;
  /** Resolves once the reader knows where it starts: events after that reach its listeners. */
  readonly initialized: Promise<void>;
  markInitialized!: () => void;
  readonly listening: { ready: Promise<void>; stop: () => void };

  constructor(
    readonly customerId: string,
    bus: WakeupBus,
    private readonly schedule: (r: CustomerReader) => void,
  ) {
    this.listening = bus.listen(customerId, () => this.wake());
    this.initialized = new Promise((resolve) => (this.markInitialized = resolve));
  }

  wake(): void {
    if (!this.closed) this.schedule(this);
  }

  close(): void {
    this.closed = true;
    this.listening.stop();
  }
}

/** Every customer reader of one process, read in batched rounds. */
export class FeedReaders {
  private readonly readers = new Map<string, CustomerReader>();
  private readonly dirty = new Set<CustomerReader>();
  private reading = false;
  private readScheduled = false;
  /** Seconds from an event's commit to its live delivery here (metrics). */
  lagObserver: ((seconds: number) => void) | null = null;

  constructor(
    private readonly prisma: PrismaClient,
    private readonly bus: WakeupBus,
    private readonly log: Logger,
  ) {}

  get size(): number {
    return this.readers.size;
  }

  /** Starts offering a customer's new events to `listener`; resolves once its reader's starting point is fixed. */
  attach(listener: FeedListener): Promise<void> {
    let reader = this.readers.get(listener.customerId);
    if (!reader) {
      reader = new CustomerReader(listener.customerId, this.bus, (r) => this.schedule(r));
      this.readers.set(listener.customerId, reader);
    }
    reader.listeners.add(listener);
    // A new reader must be initialized; a running one needs no read for a newcomer (it replays for itself).
    if (reader.tail === null) reader.wake();
    return reader.initialized;
  }

  detach(listener: FeedListener): void {
    const reader = this.readers.get(listener.customerId);
    if (!reader) return;
    reader.listeners.delete(listener);
    if (!reader.listeners.size) {
      reader.close();
      this.readers.delete(listener.customerId);
    }
  }

  wake(customerId: string): void {
    this.readers.get(customerId)?.wake();
  }

  wakeAll(): void {
    for (const r of this.readers.values()) r.wake();
  }

  /** Queues a reader; all queued readers are served by one query per round. */
  private schedule(reader: CustomerReader): void {
    this.dirty.add(reader);
    if (this.reading || this.readScheduled) return;
    this.readScheduled = true;
    setImmediate(() => {
      this.readScheduled = false;
      void this.round();
    });
  }

  private async round(): Promise<void> {
    if (this.reading) return;
    this.reading = true;
    let readers: CustomerReader[] = [];
    try {
      while (this.dirty.size) {
        readers = [...this.dirty].filter((r) => !r.closed);
        this.dirty.clear();
        const fresh = readers.filter((r) => r.tail === null);
        if (fresh.length) {
          // Wake-ups must reach a reader before its starting point is fixed,
          // or one published in between would wait for the next sweep.
          await Promise.all(fresh.map((r) => r.listening.ready));
          const start = await maxCursor(this.prisma);
          for (const r of fresh) {
            r.tail = start;
            r.markInitialized();
          }
        }
        if (!readers.length) continue;
        let from = readers[0]!.tail!;
        for (const r of readers) if (r.tail! < from) from = r.tail!;
        const items = await readEvents(this.prisma, readers.map((r) => r.customerId), from, BATCH_PAGE);
        const byCustomer = new Map<string, FeedItem[]>();
        for (const it of items) {
          let list = byCustomer.get(it.customerId);
          if (!list) byCustomer.set(it.customerId, (list = []));
          list.push(it);
        }
        for (const r of readers) {
          const mine = (byCustomer.get(r.customerId) ?? []).filter((it) => it.cursor > r.tail!);
          if (!mine.length) continue;
          r.tail = mine[mine.length - 1]!.cursor;
          for (const l of r.listeners) l.offer(mine);
          const now = Date.now();
          if (this.lagObserver) for (const it of mine) if (it.createdAt) this.lagObserver((now - it.createdAt.getTime()) / 1000);
        }
        // A full page: there may be more for any of them.
        if (items.length === BATCH_PAGE) for (const r of readers) this.dirty.add(r);
        readers = [];
      }
    } catch (err) {
      this.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'live feed: read failed, retrying');
      const retry = readers;
      setTimeout(() => retry.forEach((r) => r.wake()), 1000).unref();
    } finally {
      this.reading = false;
      const next = [...this.dirty][0];
      if (next) this.schedule(next);
    }
  }
}
