/**
 * Direct delivery: a live source (the feed's streams) that can hand an item
 * straight to its transport while nothing of its own is in flight.
 *
 * A subscription normally travels as an async iterator: the source queues an
 * item, the transport pulls it through every layer (the shared execution,
 * envelop's result hooks, graphql-ws' loop) and writes one frame. For a feed
 * fanning one change out to thousands of sockets, those layers cost more than
 * the frame itself. A source offering direct delivery calls the transport's
 * sink instead, but only while its consumer waits on an empty queue: every
 * earlier item was written already, so frames stay in order. A sink that
 * cannot take an item (a result that needs the hooks, a socket that is behind)
 * says no and the item is queued as before; from then on the queue carries
 * every item until the consumer has caught up again.
 */
export const DIRECT = Symbol('direct delivery');

/** Takes an item now (true), or declines it (false) and the source queues it. */
export type DirectSink<T> = (item: T) => boolean;

export interface DirectSource<T> {
  /** Sets the sink the source may hand items to (until the source stops). */
  [DIRECT](sink: DirectSink<T>): void;
}

export function isDirectSource<T = unknown>(source: unknown): source is DirectSource<T> {
  return typeof source === 'object' && source !== null && typeof (source as Partial<DirectSource<T>>)[DIRECT] === 'function';
}
