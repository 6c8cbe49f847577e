/**
 * In-process signal from the writers of FeedEvent rows (availability.ts,
 * inside a transaction) to the feed hubs of this process. The rows are not
 * committed yet when this fires: a hub only uses it to watch for their commit
 * and then wake subscribers, so a rolled-back change never reaches anyone.
 */
export interface WrittenFeedEvent {
  id: bigint;
  customerId: string;
}

type Listener = (events: WrittenFeedEvent[]) => void;
const listeners = new Set<Listener>();

export function onFeedWrite(listener: Listener): () => void {
  listeners.add(listener);
  return () => void listeners.delete(listener);
}

export function noteFeedWrite(events: WrittenFeedEvent[]): void {
  if (!events.length) return;
  for (const l of listeners) l(events);
}
