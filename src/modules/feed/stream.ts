import { Repeater, type RepeaterBuffer } from 'graphql-yoga';
import type { Principal } from '../../auth/principal.js';
import type { PrismaClient } from '../../generated/prisma/client.js';
import { PAGE, cursorExpired, maxCursor, readEvents, type FeedItem, type FeedListener, type FeedReaders } from './reader.js';

/**
 * One subscriber's stream of feed events. Live events are buffered while the
 * missed ones are replayed from the database, then the buffer is drained
 * skipping what the replay already delivered: no gap, no duplicate.
 */
export interface StreamOptions {
  principal: Principal;
  customerId: string;
  connectorId?: string | null;
  /** Only events of these connections (a connect link's session); null or absent: all of the customer's. */
  connectionIds?: readonly string[] | null;
  /** Replay events after this cursor first; null: only events from now on. */
  after?: bigint | null;
}

/** A subscriber this far behind gets a RESYNC instead of an ever-growing queue. */
const MAX_QUEUE = 20_000;

const resync = (cursor: bigint, customerId: string): FeedItem => ({
  cursor,
  customerId,
  kind: 'RESYNC',
  connectionId: null,
  connectorId: null,
  option: null,
});

/**
 * The queue between the feed and a slow client. Repeater's own buffers drop
 * items silently; a client this far behind must instead be told to reload,
 * so past `MAX_QUEUE` the queue collapses into one RESYNC at the newest cursor.
 */
class ResyncBuffer implements RepeaterBuffer {
  private items: FeedItem[] = [];
  readonly full = false;
  get empty(): boolean {
    return this.items.length === 0;
  }
  add(item: FeedItem): void {
    this.items.push(item);
    if (this.items.length > MAX_QUEUE) this.items = [resync(item.cursor, item.customerId)];
  }
  remove(): FeedItem {
    return this.items.shift()!;
  }
}

export function feedStream(
  prisma: PrismaClient,
  readers: FeedReaders,
  opts: StreamOptions,
  onEnd: { add(stop: () => void): void; delete(stop: () => void): void },
): AsyncIterableIterator<FeedItem> {
  return new Repeater<FeedItem>(async (push, stop) => {
    let cursor = 0n;
    let buffer: FeedItem[] | null = [];
    let done = false;
    const emit = (it: FeedItem) => {
      if (done || (it.kind !== 'RESYNC' && it.cursor <= cursor)) return;
      if (it.cursor > cursor) cursor = it.cursor;
      void push(it);
    };
    const listener: FeedListener = {
      customerId: opts.customerId,
      offer(items) {
        for (const it of items) {
          if (opts.connectorId && it.connectorId !== opts.connectorId) continue;
          if (opts.connectionIds && !(it.connectionId && opts.connectionIds.includes(it.connectionId))) continue;
          if (buffer) buffer.push(it);
          else emit(it);
        }
      },
    };
    const end = () => stop();
    onEnd.add(end);
    // Live first, so nothing committed during the replay can slip between the two.
    const attached = readers.attach(listener);
    const p = opts.principal;
    // An expired credential ends the subscription.
    const expiry =
      p.kind === 'CUSTOMER_USER' || p.kind === 'RUNTIME'
        ? setTimeout(end, Math.max(Math.min(p.expiresAt.getTime() - Date.now(), 2 ** 31 - 1), 0))
        : null;
    void stop.then(() => {
      done = true;
      if (expiry) clearTimeout(expiry);
      onEnd.delete(end);
      readers.detach(listener);
    });

    try {
      // The replay starts once the reader's starting point is fixed.
      await attached;
      const after = opts.after ?? null;
      if (after === null) {
        cursor = await maxCursor(prisma);
      } else if (await cursorExpired(prisma, after)) {
        cursor = await maxCursor(prisma);
        emit(resync(cursor, opts.customerId));
      } else {
        cursor = after;
        for (;;) {
          const items = await readEvents(prisma, [opts.customerId], cursor, PAGE, { connectorId: opts.connectorId, connectionIds: opts.connectionIds });
          if (done) return;
          for (const it of items) emit(it);
          if (items.length < PAGE) break;
        }
      }
      const buffered = buffer ?? [];
      buffer = null;
      for (const it of buffered) emit(it);
    } catch (err) {
      stop(err);
    }
  }, new ResyncBuffer());
}
