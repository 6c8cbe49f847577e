import { Repeater, type RepeaterBuffer } from 'graphql-yoga';
import type { Principal } from '../../auth/principal.js';
import { PAGE, type FeedListener, type FeedReaders, type LogItem } from './reader.js';

/**
 * One subscriber's stream of a log's events (the picker's, the admin health
 * view's). Live events are buffered while the missed ones are replayed from
 * the database, then the buffer is drained skipping what the replay already
 * delivered: no gap, no duplicate.
 */
export interface StreamOptions<I extends LogItem> {
  principal: Principal;
  /** The stream key: a customer (picker), an organization (health). */
  key: string;
  /** Which of the key's live events this subscriber gets (its filters and scope); RESYNC always passes. */
  admits(item: I): boolean;
  /** The key's events after a cursor, oldest first, at most `take` — narrowed in SQL as far as it can; `admits` decides each. */
  replay(after: bigint, take: number): Promise<I[]>;
  /** Replay events after this cursor first; null: only events from now on. */
  after?: bigint | null;
}

/** A subscriber this far behind gets a RESYNC instead of an ever-growing queue. */
const MAX_QUEUE = 20_000;

/**
 * The queue between the feed and a slow client. Repeater's own buffers drop
 * items silently; a client this far behind must instead be told to reload,
 * so past `MAX_QUEUE` the queue collapses into one RESYNC at the newest cursor.
 */
class ResyncBuffer<I extends LogItem> implements RepeaterBuffer {
  private items: I[] = [];
  readonly full = false;
  constructor(private readonly resync: (cursor: bigint) => I) {}
  get empty(): boolean {
    return this.items.length === 0;
  }
  add(item: I): void {
    this.items.push(item);
    if (this.items.length > MAX_QUEUE) this.items = [this.resync(item.cursor)];
  }
  remove(): I {
    return this.items.shift()!;
  }
}

export function feedStream<I extends LogItem>(
  readers: FeedReaders<I>,
  opts: StreamOptions<I>,
  onEnd: { add(stop: () => void): void; delete(stop: () => void): void },
): AsyncIterableIterator<I> {
  const { log } = readers;
  const resync = (cursor: bigint) => log.resync(cursor, opts.key);
  return new Repeater<I>(async (push, stop) => {
    let cursor = 0n;
    let buffer: I[] | null = [];
    let done = false;
    const emit = (it: I, isResync = false) => {
      if (done || (!isResync && it.cursor <= cursor)) return;
      if (it.cursor > cursor) cursor = it.cursor;
      void push(it);
    };
    const listener: FeedListener<I> = {
      key: opts.key,
      offer(items) {
        for (const it of items) {
          if (!opts.admits(it)) continue;
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
        cursor = await log.maxCursor();
      } else if (await log.cursorExpired(after)) {
        cursor = await log.maxCursor();
        emit(resync(cursor), true);
      } else {
        cursor = after;
        for (;;) {
          const items = await opts.replay(cursor, PAGE);
          if (done) return;
          for (const it of items) if (opts.admits(it)) emit(it);
          if (items.length < PAGE) break;
          cursor = items[items.length - 1]!.cursor;
        }
      }
      const buffered = buffer ?? [];
      buffer = null;
      for (const it of buffered) emit(it);
    } catch (err) {
      stop(err);
    }
  }, new ResyncBuffer<I>(resync));
}
