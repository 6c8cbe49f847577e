import type { Logger } from 'pino';
import type { Principal } from '../../auth/principal.js';
import type { PrismaClient } from '../../generated/prisma/client.js';
import { LocalWakeupBus, RedisWakeupBus, type WakeupBus } from '../../pubsub/wakeups.js';
import { pruneFeedEvents } from './retention.js';
import { onFeedWrite, type WrittenFeedEvent } from './signals.js';

/**
 * The live feed of one gateway process.
 *
 * The FeedEvent table is the only source of events: rows are written in the
 * transaction of the change (availability.ts) under a lock that makes their
 * ids visible in increasing order, so "everything after cursor N" is a plain
 * indexed read. Everything else here is about *when* to read:
 *
 * - the writing process watches its own uncommitted rows (signals.ts) and,
 *   once they are committed, wakes the customer's topic locally and on every
 *   instance (Redis); rolled-back rows are never seen, so never announced;
 * - every process also sweeps the table periodically (quickly while Redis is
 *   down), which catches anything a lost wake-up missed;
 * - per customer one reader per process (CustomerFeed) reads new rows once
 *   and fans them out to that process's subscribers, each of which keeps its
 *   own cursor, so nothing is delivered twice.
 */
export type FeedKind = 'ADDED' | 'REMOVED' | 'UPDATED' | 'RESYNC';

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
}

export interface FeedHubOptions {
  prisma: PrismaClient;
  log: Logger;
  redisUrl?: string | undefined;
  retentionHours: number;
  /** Sweep interval while wake-ups work (ms). */
  pollMs: number;
  /** Sweep interval while Redis is configured but unreachable (ms). */
  outagePollMs?: number;
  /** Redis channel prefix (tests isolate themselves with it). */
  channelPrefix?: string;
}

export interface SubscribeOptions {
  principal: Principal;
  customerId: string;
  connectorId?: string | null;
  /** Replay events after this cursor first; null: only events from now on. */
  after?: bigint | null;
}

const PAGE = 500;
/** Rows per batched read of several customers' readers. */
const BATCH_PAGE = 2000;
/** A subscriber this far behind gets a RESYNC instead of an ever-growing queue. */
const MAX_QUEUE = 20_000;
/** Pending own writes not seen committed after this long are forgotten (the sweep covers them). */
const PENDING_TTL_MS = 60_000;
const WATCH_BACKOFF_MS = [0, 2, 5, 10, 20, 50, 100, 200, 500, 1000];

export class FeedHub {
  readonly bus: WakeupBus;
  private readonly feeds = new Map<string, CustomerFeed>();
  private readonly pending = new Map<bigint, { customerId: string; at: number }>();
  private watchTimer: NodeJS.Timeout | null = null;
  private watchStep = 0;
  private checking = false;
  private checkAgain = false;
  private sweepTimer: NodeJS.Timeout | null = null;
  private pruneTimer: NodeJS.Timeout | null = null;
  private sweepMark: bigint | null = null;
  private stopWrites: (() => void) | null = null;
  private closed = false;

  constructor(private readonly opts: FeedHubOptions) {
    this.bus = opts.redisUrl ? new RedisWakeupBus(opts.redisUrl, opts.log, opts.channelPrefix) : new LocalWakeupBus();
  }

  get prisma(): PrismaClient {
    return this.opts.prisma;
  }

  get log(): Logger {
    return this.opts.log;
  }

  /** Number of live subscribers in this process. */
  get subscriberCount(): number {
    let n = 0;
    for (const f of this.feeds.values()) n += f.subs.size;
    return n;
  }

  start(): void {
    if (this.stopWrites || this.closed) return;
    this.stopWrites = onFeedWrite((events) => this.noteWrites(events));
    this.bus.onStatus((crossInstance) => {
      // Down: sweep at the outage pace from now on. Back: catch up at once.
      this.scheduleSweep();
      if (crossInstance) this.wakeAll();
    });
    this.scheduleSweep();
    const pruneEvery = Math.min(Math.max((this.opts.retentionHours * 3_600_000) / 4, 1000), 10 * 60_000);
    this.pruneTimer = setInterval(() => {
      pruneFeedEvents(this.prisma, this.opts.retentionHours).catch((err: unknown) =>
        this.log.warn({ err: errMessage(err) }, 'live feed: pruning failed'),
      );
    }, pruneEvery);
    this.pruneTimer.unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.stopWrites?.();
    for (const t of [this.watchTimer, this.sweepTimer]) if (t) clearTimeout(t);
    if (this.pruneTimer) clearInterval(this.pruneTimer);
    for (const feed of [...this.feeds.values()]) for (const s of [...feed.subs]) s.finish();
    await this.bus.close();
  }

  /**
   * Post-commit hook: call after a transaction that may have written feed
   * events commits (the mutation transaction helper does). Cheap when there
   * is nothing pending.
   */
  afterCommit(): void {
    if (this.pending.size) void this.checkPending();
  }

  /** Wakes subscribers of these customers on every instance. Safe to call any time. */
  notify(customerIds: Iterable<string>): void {
    this.bus.publish(customerIds);
  }

  subscribe(opts: SubscribeOptions): FeedSubscription {
    const sub = new FeedSubscription(this, opts);
    sub.start();
    return sub;
  }

  // ───────────── internals used by CustomerFeed / FeedSubscription ─────────────

  attach(sub: FeedSubscription): Promise<void> {
    let feed = this.feeds.get(sub.customerId);
    if (!feed) {
      feed = new CustomerFeed(this, sub.customerId);
      this.feeds.set(sub.customerId, feed);
    }
    feed.subs.add(sub);
    // A new reader must be initialized; a running one needs no read for a newcomer (it replays for itself).
    if (feed.tail === null) feed.wake();
    return feed.initialized;
  }

  detach(sub: FeedSubscription): void {
    const feed = this.feeds.get(sub.customerId);
    if (!feed) return;
    feed.subs.delete(sub);
    if (!feed.subs.size) {
      feed.close();
      this.feeds.delete(sub.customerId);
    }
  }

  /** Highest committed cursor (0 when there is none). */
  async maxCursor(): Promise<bigint> {
    const r = await this.prisma.feedEvent.aggregate({ _max: { id: true } });
    return r._max.id ?? 0n;
  }

  /** Committed events of a customer after a cursor, oldest first, with what the subscriber may know. */
  async readEvents(customerId: string, after: bigint, connectorId?: string | null): Promise<FeedItem[]> {
    return this.readEventsOf([customerId], after, PAGE, connectorId);
  }

  private async readEventsOf(customerIds: string[], after: bigint, take: number, connectorId?: string | null): Promise<FeedItem[]> {
    const rows = await this.prisma.feedEvent.findMany({
      where: {
        customerId: customerIds.length === 1 ? customerIds[0]! : { in: customerIds },
        id: { gt: after },
        ...(connectorId ? { connectorId } : {}),
      },
      orderBy: { id: 'asc' },
      take,
      select: { id: true, kind: true, customerId: true, connectionId: true, connectorId: true },
    });
    if (!rows.length) return [];
    const connections = await this.prisma.connection.findMany({
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
        option: c ? { connectionId: c.id, name: c.name, connectorKey: c.connector.key, connectorName: c.connector.name } : null,
      };
    });
  }

  /** Whether events after `after` may have been pruned (or the cursor is not one of ours). */
  async cursorExpired(after: bigint): Promise<boolean> {
    const r = await this.prisma.feedEvent.aggregate({ _min: { id: true }, _max: { id: true } });
    const min = r._min.id;
    const max = r._max.id;
    if (min === null || max === null) return after !== 0n;
    // Pruning removes a prefix of ids and always keeps the newest row, so
    // everything below the oldest remaining id may be gone.
    return after > max || after < min - 1n;
  }

  // ───────────── commit watching, sweeping ─────────────

  private noteWrites(events: WrittenFeedEvent[]): void {
    const now = Date.now();
    for (const e of events) this.pending.set(e.id, { customerId: e.customerId, at: now });
    this.watchStep = 0;
    this.scheduleWatch();
  }

  private scheduleWatch(): void {
    if (this.closed || this.watchTimer || !this.pending.size) return;
    const delay = WATCH_BACKOFF_MS[Math.min(this.watchStep++, WATCH_BACKOFF_MS.length - 1)]!;
    this.watchTimer = setTimeout(() => {
      this.watchTimer = null;
      void this.checkPending();
    }, delay);
  }

  /** Announces own writes that have committed; forgets rolled-back ones. */
  private async checkPending(): Promise<void> {
    if (this.checking) {
      this.checkAgain = true;
      return;
    }
    this.checking = true;
    try {
      do {
        this.checkAgain = false;
        const ids = [...this.pending.keys()];
        if (!ids.length) break;
        // The maximum first: an id at or below it belongs to a finished transaction
        // (the feed lock), so the lookup that follows sees it if it committed.
        const max = await this.maxCursor();
        const found = await this.prisma.feedEvent.findMany({ where: { id: { in: ids } }, select: { id: true } });
        const committed = new Set(found.map((f) => f.id));
        const topics = new Set<string>();
        const now = Date.now();
        for (const id of ids) {
          const p = this.pending.get(id);
          if (!p) continue;
          if (committed.has(id)) {
            topics.add(p.customerId);
            this.pending.delete(id);
          } else if (id <= max || now - p.at > PENDING_TTL_MS) {
            // A later id committed, so this writer has finished: rolled back.
            this.pending.delete(id);
          }
        }
        if (topics.size) this.bus.publish(topics);
      } while (this.checkAgain);
    } catch (err) {
      this.log.warn({ err: errMessage(err) }, 'live feed: commit check failed');
    } finally {
      this.checking = false;
    }
    this.scheduleWatch();
  }

  private scheduleSweep(): void {
    if (this.closed) return;
    if (this.sweepTimer) clearTimeout(this.sweepTimer);
    const outage = this.opts.redisUrl !== undefined && !this.bus.crossInstance;
    const delay = outage ? Math.min(this.opts.outagePollMs ?? 250, this.opts.pollMs) : this.opts.pollMs;
    this.sweepTimer = setTimeout(() => {
      this.sweepTimer = null;
      this.sweep()
        .catch((err: unknown) => this.log.warn({ err: errMessage(err) }, 'live feed: sweep failed'))
        .finally(() => this.scheduleSweep());
    }, delay);
    this.sweepTimer.unref();
  }

  /** Wakes local readers of customers with events committed since the last sweep. */
  private async sweep(): Promise<void> {
    const max = await this.maxCursor();
    const mark = this.sweepMark;
    this.sweepMark = max;
    if (mark === null || max <= mark || !this.feeds.size) return;
    if (max - mark > 10_000n) return this.wakeAll();
    const rows = await this.prisma.feedEvent.findMany({
      where: { id: { gt: mark, lte: max } },
      distinct: ['customerId'],
      select: { customerId: true },
    });
    for (const r of rows) this.feeds.get(r.customerId)?.wake();
  }

  private wakeAll(): void {
    for (const f of this.feeds.values()) f.wake();
  }

  // ───────────── batched reading ─────────────

  private readonly dirty = new Set<CustomerFeed>();
  private reading = false;
  private readScheduled = false;

  /** Queues a customer's reader; all queued readers are served by one query per round. */
  scheduleRead(feed: CustomerFeed): void {
    this.dirty.add(feed);
    if (this.reading || this.readScheduled) return;
    this.readScheduled = true;
    setImmediate(() => {
      this.readScheduled = false;
      void this.readRound();
    });
  }

  private async readRound(): Promise<void> {
    if (this.reading) return;
    this.reading = true;
    let feeds: CustomerFeed[] = [];
    try {
      while (this.dirty.size) {
        feeds = [...this.dirty].filter((f) => !f.closed);
        this.dirty.clear();
        const fresh = feeds.filter((f) => f.tail === null);
        if (fresh.length) {
          // Wake-ups must reach a reader before its starting point is fixed,
          // or one published in between would wait for the next sweep.
          await Promise.all(fresh.map((f) => f.listening.ready));
          const start = await this.maxCursor();
          for (const f of fresh) {
            f.tail = start;
            f.markInitialized();
          }
        }
        if (!feeds.length) continue;
        let from = feeds[0]!.tail!;
        for (const f of feeds) if (f.tail! < from) from = f.tail!;
        const items = await this.readEventsOf(feeds.map((f) => f.customerId), from, BATCH_PAGE);
        const byCustomer = new Map<string, FeedItem[]>();
        for (const it of items) {
          let list = byCustomer.get(it.customerId);
          if (!list) byCustomer.set(it.customerId, (list = []));
          list.push(it);
        }
        for (const f of feeds) {
          const mine = (byCustomer.get(f.customerId) ?? []).filter((it) => it.cursor > f.tail!);
          if (!mine.length) continue;
          f.tail = mine[mine.length - 1]!.cursor;
          for (const sub of f.subs) sub.offer(mine);
        }
        // A full page: there may be more for any of them.
        if (items.length === BATCH_PAGE) for (const f of feeds) this.dirty.add(f);
        feeds = [];
      }
    } catch (err) {
      this.log.warn({ err: errMessage(err) }, 'live feed: read failed, retrying');
      const retry = feeds;
      setTimeout(() => retry.forEach((f) => f.wake()), 1000).unref();
    } finally {
      this.reading = false;
      if (this.dirty.size) this.scheduleRead([...this.dirty][0]!);
    }
  }
}

/**
 * The local subscribers of one customer, and where this process has read that
 * customer's events up to. Reading is batched by the hub: a change reaching
 * many customers at once (a global connection) costs one query, not one per
 * customer.
 */
class CustomerFeed {
  readonly subs = new Set<FeedSubscription>();
  /** Resolves once the reader knows where it starts: events after that reach its subscribers. */
  readonly initialized: Promise<void>;
  markInitialized!: () => void;
  tail: bigint | null = null;
  readonly listening: { ready: Promise<void>; stop: () => void };
  closed = false;

  constructor(
    private readonly hub: FeedHub,
    readonly customerId: string,
  ) {
    this.listening = hub.bus.listen(customerId, () => this.wake());
    this.initialized = new Promise((resolve) => (this.markInitialized = resolve));
  }

  wake(): void {
    if (!this.closed) this.hub.scheduleRead(this);
  }

  close(): void {
    this.closed = true;
    this.listening.stop();
  }
}

/**
 * One subscriber: an async iterator of FeedItems. Live events are buffered
 * while the missed ones are replayed from the database, then the buffer is
 * drained skipping what the replay already delivered: no gap, no duplicate.
 */
export class FeedSubscription implements AsyncIterableIterator<FeedItem> {
  readonly customerId: string;
  private readonly connectorId: string | null;
  private cursor: bigint = 0n;
  private buffer: FeedItem[] | null = [];
  private queue: FeedItem[] = [];
  private waiter: ((r: IteratorResult<FeedItem>) => void) | null = null;
  private failer: ((err: unknown) => void) | null = null;
  private failure: unknown = null;
  private done = false;
  private expiryTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly hub: FeedHub,
    private readonly opts: SubscribeOptions,
  ) {
    this.customerId = opts.customerId;
    this.connectorId = opts.connectorId ?? null;
  }

  start(): void {
    // Live first, so nothing committed during the replay can slip between the two.
    const attached = this.hub.attach(this);
    const p = this.opts.principal;
    if (p.kind === 'CUSTOMER_USER' || p.kind === 'RUNTIME') {
      // An expired credential ends the subscription.
      const ms = Math.min(p.expiresAt.getTime() - Date.now(), 2 ** 31 - 1);
      this.expiryTimer = setTimeout(() => this.finish(), Math.max(ms, 0));
    }
    void this.catchUp(attached).catch((err: unknown) => this.fail(err));
  }

  private async catchUp(attached: Promise<void>): Promise<void> {
    // The replay must start after the reader's starting point is fixed.
    await attached;
    const after = this.opts.after ?? null;
    if (after === null) {
      this.cursor = await this.hub.maxCursor();
    } else if (await this.hub.cursorExpired(after)) {
      this.cursor = await this.hub.maxCursor();
      this.emit({ cursor: this.cursor, customerId: this.customerId, kind: 'RESYNC', connectionId: null, connectorId: null, option: null });
    } else {
      this.cursor = after;
      for (;;) {
        const items = await this.hub.readEvents(this.customerId, this.cursor, this.connectorId);
        if (this.done) return;
        for (const it of items) this.emit(it);
        if (items.length < PAGE) break;
      }
    }
    const buffered = this.buffer ?? [];
    this.buffer = null;
    for (const it of buffered) if (it.cursor > this.cursor) this.emit(it);
  }

  /** Called by the customer's reader with newly committed events, in cursor order. */
  offer(items: FeedItem[]): void {
    if (this.done) return;
    for (const it of items) {
      if (this.connectorId && it.connectorId !== this.connectorId) continue;
      if (this.buffer) this.buffer.push(it);
      else if (it.cursor > this.cursor) this.emit(it);
    }
  }

  private emit(it: FeedItem): void {
    if (this.done) return;
    if (it.kind !== 'RESYNC' && it.cursor <= this.cursor) return;
    this.cursor = it.cursor > this.cursor ? it.cursor : this.cursor;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = this.failer = null;
      w({ value: it, done: false });
      return;
    }
    this.queue.push(it);
    if (this.queue.length > MAX_QUEUE) {
      // A client this slow has to reload anyway; tell it so instead of buffering without bound.
      this.queue = [{ cursor: this.cursor, customerId: this.customerId, kind: 'RESYNC', connectionId: null, connectorId: null, option: null }];
    }
  }

  private fail(err: unknown): void {
    if (this.done) return;
    this.hub.log.warn({ err: errMessage(err) }, 'live feed: subscription failed');
    if (this.failer) {
      const f = this.failer;
      this.waiter = this.failer = null;
      this.cleanup();
      f(err);
    } else {
      this.failure = err;
      this.cleanup();
    }
  }

  /** Ends the subscription (expired token, shutdown). */
  finish(): void {
    if (this.done) return;
    this.cleanup();
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = this.failer = null;
      w({ value: undefined, done: true });
    }
  }

  private cleanup(): void {
    this.done = true;
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    this.hub.detach(this);
  }

  next(): Promise<IteratorResult<FeedItem>> {
    if (this.queue.length) return Promise.resolve({ value: this.queue.shift()!, done: false });
    if (this.failure) {
      const err = this.failure;
      this.failure = null;
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    if (this.done) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => {
      this.waiter = resolve;
      this.failer = reject;
    });
  }

  return(): Promise<IteratorResult<FeedItem>> {
    this.queue = [];
    this.finish();
    return Promise.resolve({ value: undefined, done: true });
  }

  throw(err?: unknown): Promise<IteratorResult<FeedItem>> {
    this.queue = [];
    this.finish();
    return Promise.reject(err instanceof Error ? err : new Error(String(err)));
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}

function errMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
