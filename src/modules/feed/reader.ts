import type { Logger } from 'pino';
import type { PrismaClient } from '../../generated/prisma/client.js';
import type { WakeupBus } from '../../pubsub/wakeups.js';
import { cursorPruned, newestCursor, pruneFeedEvents } from './retention.js';

/**
 * Reading event logs, the only source of live events: rows are written in
 * the transaction of the change (feed/service.ts, health/events.ts) under a
 * lock that makes their ids visible in increasing order, so "everything
 * after cursor N" is a plain indexed read. Per stream key (a customer, an
 * organization), one reader per process reads new rows once and offers them
 * to that process's subscribers (stream.ts).
 */
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
export function maxCursor(prisma: PrismaClient): Promise<bigint> {
  return newestCursor(prisma.feedEvent);
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

/** An event of a log: its position, and when it was written (absent for RESYNC). */
export interface LogItem {
  cursor: bigint;
  createdAt?: Date;
}

/**
 * A table of events written with their changes under a lock that makes ids
 * visible in increasing order, read by stream key: the picker's FeedEvent
 * by customer (`pickerLog`), the admin view's HealthEvent by organization
 * (health/events.ts).
 */
export interface EventLog<I extends LogItem> {
  /** Names the log in logs. */
  readonly name: string;
  /** The wake-up bus topic of a stream key. */
  topic(key: string): string;
  /** The stream key an event belongs to. */
  keyOf(item: I): string;
  /** Highest committed cursor (0 when there is none). */
  maxCursor(): Promise<bigint>;
  /** Whether events after `after` may have been pruned (or the cursor is not one of this log's). */
  cursorExpired(after: bigint): Promise<boolean>;
  /** Committed events of these keys after a cursor, oldest first, at most `take`. */
  read(keys: string[], after: bigint, take: number): Promise<I[]>;
  /** Keys with events in (from, to]: what a sweep wakes. */
  keysBetween(from: bigint, to: bigint): Promise<string[]>;
  /** Deletes events older than the retention (a prefix of cursors, never the newest row). */
  prune(retentionHours: number): Promise<number>;
  /** A RESYNC item at `cursor` for the stream `key`. */
  resync(cursor: bigint, key: string): I;
}

/** The picker's log: FeedEvent rows by customer; the bus topic is the customer id. */
export function pickerLog(prisma: PrismaClient): EventLog<FeedItem> {
  return {
    name: 'live feed',
    topic: (customerId) => customerId,
    keyOf: (item) => item.customerId,
    maxCursor: () => maxCursor(prisma),
    cursorExpired: (after) => cursorPruned(prisma.feedEvent, after),
    read: (customerIds, after, take) => readEvents(prisma, customerIds, after, take),
    async keysBetween(from, to) {
      const rows = await prisma.feedEvent.findMany({ where: { id: { gt: from, lte: to } }, distinct: ['customerId'], select: { customerId: true } });
      return rows.map((r) => r.customerId);
    },
    prune: (retentionHours) => pruneFeedEvents(prisma, retentionHours),
    resync: (cursor, customerId) => ({ cursor, customerId, kind: 'RESYNC', connectionId: null, connectorId: null, option: null }),
  };
}

/** A local subscriber of one stream key's events. */
export interface FeedListener<I extends LogItem = FeedItem> {
  readonly key: string;
  /** Newly committed events of its key, in cursor order. */
  offer(items: I[]): void;
}

/** The local listeners of one stream key, and where this process has read that key's events up to. */
class KeyReader<I extends LogItem> {
  readonly listeners = new Set<FeedListener<I>>();
  tail: bigint | null = null;
  closed = false;
  /** Resolves once the reader knows where it starts: events after that reach its listeners. */
  readonly initialized: Promise<void>;
  markInitialized!: () => void;
  readonly listening: { ready: Promise<void>; stop: () => void };

  constructor(
    readonly key: string,
    topic: string,
    bus: WakeupBus,
    private readonly schedule: (r: KeyReader<I>) => void,
  ) {
    this.listening = bus.listen(topic, () => this.wake());
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

/**
 * Every stream reader of one log in one process, read in batched rounds:
 * each key's new rows are read once per process and offered to its local
 * subscribers; readers woken together share one query (a change of a global
 * connection reaches every customer at once).
 */
export class FeedReaders<I extends LogItem = FeedItem> {
  private readonly readers = new Map<string, KeyReader<I>>();
  private readonly dirty = new Set<KeyReader<I>>();
  private reading = false;
  private readScheduled = false;
  /** Seconds from an event's commit to its live delivery here (metrics). */
  lagObserver: ((seconds: number) => void) | null = null;

  constructor(
    readonly log: EventLog<I>,
    private readonly bus: WakeupBus,
    private readonly logger: Logger,
  ) {}

  get size(): number {
    return this.readers.size;
  }

  /** Starts offering a key's new events to `listener`; resolves once its reader's starting point is fixed. */
  attach(listener: FeedListener<I>): Promise<void> {
    let reader = this.readers.get(listener.key);
    if (!reader) {
      reader = new KeyReader<I>(listener.key, this.log.topic(listener.key), this.bus, (r) => this.schedule(r));
      this.readers.set(listener.key, reader);
    }
    reader.listeners.add(listener);
    // A new reader must be initialized; a running one needs no read for a newcomer (it replays for itself).
    if (reader.tail === null) reader.wake();
    return reader.initialized;
  }

  detach(listener: FeedListener<I>): void {
    const reader = this.readers.get(listener.key);
    if (!reader) return;
    reader.listeners.delete(listener);
    if (!reader.listeners.size) {
      reader.close();
      this.readers.delete(listener.key);
    }
  }

  wake(key: string): void {
    this.readers.get(key)?.wake();
  }

  wakeAll(): void {
    for (const r of this.readers.values()) r.wake();
  }

  /** Queues a reader; all queued readers are served by one query per round. */
  private schedule(reader: KeyReader<I>): void {
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
    let readers: KeyReader<I>[] = [];
    try {
      while (this.dirty.size) {
        readers = [...this.dirty].filter((r) => !r.closed);
        this.dirty.clear();
        const fresh = readers.filter((r) => r.tail === null);
        if (fresh.length) {
          // Wake-ups must reach a reader before its starting point is fixed,
          // or one published in between would wait for the next sweep.
          await Promise.all(fresh.map((r) => r.listening.ready));
          const start = await this.log.maxCursor();
          for (const r of fresh) {
            r.tail = start;
            r.markInitialized();
          }
        }
        if (!readers.length) continue;
        let from = readers[0]!.tail!;
        for (const r of readers) if (r.tail! < from) from = r.tail!;
        const items = await this.log.read(readers.map((r) => r.key), from, BATCH_PAGE);
        const byKey = new Map<string, I[]>();
        for (const it of items) {
          const key = this.log.keyOf(it);
          let list = byKey.get(key);
          if (!list) byKey.set(key, (list = []));
          list.push(it);
        }
        for (const r of readers) {
          const mine = (byKey.get(r.key) ?? []).filter((it) => it.cursor > r.tail!);
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
      this.logger.warn({ err: err instanceof Error ? err.message : String(err) }, `${this.log.name}: read failed, retrying`);
      const retry = readers;
      setTimeout(() => retry.forEach((r) => r.wake()), 1000).unref();
    } finally {
      this.reading = false;
      const next = [...this.dirty][0];
      if (next) this.schedule(next);
    }
  }
}
