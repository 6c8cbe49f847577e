import type { Principal } from '../../auth/principal.js';
import { DIRECT, type DirectSink, type DirectSource } from '../../pubsub/direct.js';
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

type Waiter<I> = { resolve(r: IteratorResult<I>): void; reject(err: unknown): void };

/**
 * One subscriber's stream, as an async iterator that may also deliver
 * directly (pubsub/direct.ts). Hand-written rather than a Repeater: the
 * direct path needs to know whether the consumer is waiting on an empty
 * queue, which Repeater does not tell, and the queue must collapse into one
 * RESYNC past `MAX_QUEUE` (Repeater's buffers drop items silently) — a client
 * that far behind must be told to reload. Semantics as before: nothing runs
 * until the first `next()`; `stop` lets the queued items out, then ends
 * (or fails, with an error); `return()` ends at once.
 */
class FeedStream<I extends LogItem> implements AsyncIterableIterator<I>, DirectSource<I> {
  private queue: I[] = [];
  private waiter: Waiter<I> | null = null;
  private sink: DirectSink<I> | null = null;
  private started = false;
  private stopped = false;
  private failure: { error: unknown } | null = null;
  private readonly cleanups: (() => void)[] = [];

  constructor(
    private readonly run: (stream: FeedStream<I>) => Promise<void>,
    private readonly resync: (cursor: bigint) => I,
  ) {}

  [Symbol.asyncIterator](): this {
    return this;
  }

  [DIRECT](sink: DirectSink<I>): void {
    this.sink = sink;
  }

  get done(): boolean {
    return this.stopped;
  }

  /** Runs when the stream stops, however it stops. */
  onStop(cleanup: () => void): void {
    if (this.stopped) cleanup();
    else this.cleanups.push(cleanup);
  }

  /** An item for the subscriber: straight to the transport when its consumer waits on an empty queue and the sink takes it, else queued. */
  deliver(item: I): void {
    if (this.stopped) return;
    const waiter = this.waiter;
    if (waiter) {
      if (this.sink?.(item)) return;
      this.waiter = null;
      waiter.resolve({ value: item, done: false });
      return;
    }
    this.queue.push(item);
    if (this.queue.length > MAX_QUEUE) this.queue = [this.resync(item.cursor)];
  }

  /** Ends the stream once its queued items are out (with `error`: fails it then). */
  stop(error?: unknown): void {
    if (this.stopped) return;
    this.stopped = true;
    this.sink = null;
    if (error !== undefined) this.failure = { error };
    for (const cleanup of this.cleanups.splice(0)) cleanup();
    const waiter = this.waiter;
    if (waiter) {
      this.waiter = null;
      this.settle(waiter);
    }
  }

  next(): Promise<IteratorResult<I>> {
    if (!this.started) {
      this.started = true;
      this.run(this).catch((err: unknown) => this.stop(err));
    }
    const item = this.queue.shift();
    if (item !== undefined) return Promise.resolve({ value: item, done: false });
    if (this.stopped) return new Promise((resolve, reject) => this.settle({ resolve, reject }));
    return new Promise((resolve, reject) => (this.waiter = { resolve, reject }));
  }

  return(): Promise<IteratorResult<I>> {
    this.queue = [];
    this.stop();
    this.failure = null;
    return Promise.resolve({ value: undefined, done: true });
  }

  throw(error: unknown): Promise<IteratorResult<I>> {
    this.queue = [];
    this.stop();
    this.failure = null;
    return Promise.reject(error);
  }

  /** The end of a stopped stream: its failure once, then done. */
  private settle(waiter: Waiter<I>): void {
    const failure = this.failure;
    this.failure = null;
    if (failure) waiter.reject(failure.error);
    else waiter.resolve({ value: undefined, done: true });
  }
}

export function feedStream<I extends LogItem>(
  readers: FeedReaders<I>,
  opts: StreamOptions<I>,
  onEnd: { add(stop: () => void): void; delete(stop: () => void): void },
): AsyncIterableIterator<I> & DirectSource<I> {
  const { log } = readers;
  const resync = (cursor: bigint) => log.resync(cursor, opts.key);
  return new FeedStream<I>(async (stream) => {
    let cursor = 0n;
    let buffer: I[] | null = [];
    const emit = (it: I, isResync = false) => {
      if (stream.done || (!isResync && it.cursor <= cursor)) return;
      if (it.cursor > cursor) cursor = it.cursor;
      stream.deliver(it);
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
    const end = () => stream.stop();
    onEnd.add(end);
    // Live first, so nothing committed during the replay can slip between the two.
    const attached = readers.attach(listener);
    const p = opts.principal;
    // An expired credential ends the subscription.
    const expiry =
      p.kind === 'CUSTOMER_USER' || p.kind === 'RUNTIME'
        ? setTimeout(end, Math.max(Math.min(p.expiresAt.getTime() - Date.now(), 2 ** 31 - 1), 0))
        : null;
    stream.onStop(() => {
      if (expiry) clearTimeout(expiry);
      onEnd.delete(end);
      readers.detach(listener);
    });

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
        if (stream.done) return;
        for (const it of items) if (opts.admits(it)) emit(it);
        if (items.length < PAGE) break;
        cursor = items[items.length - 1]!.cursor;
      }
    }
    const buffered = buffer ?? [];
    buffer = null;
    for (const it of buffered) emit(it);
  }, resync);
}
