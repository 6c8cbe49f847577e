import type { Op } from '../../op.js';

/**
 * The webhook outbox. A change that the organization may want to hear about
 * writes its event here, in its own transaction: one message, and one pending
 * delivery per enabled endpoint subscribed to the event's type. The delivery
 * job (worker.ts) sends them after commit; a rolled-back change sends
 * nothing, a committed one is never lost.
 */
export const EVENT_TYPES = [
  'value.activated',
  'value.error',
  'value.expired',
  'value.refresh_failed',
  'value.recovered',
  'value.cleared',
  'connection.created',
  'connection.archived',
  'connection.deleted',
  'customer.created',
  'customer.deleted',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** The delivery job's name (worker.ts, src/jobs): a committed change that wrote deliveries wakes it. */
export const DELIVERY_JOB = 'webhooks.deliver';

/** How long a message is retried (from the event, or from a manual redelivery). */
export const DELIVERY_WINDOW_MS = 24 * 3600_000;

/**
 * Writes one event to the outbox when some enabled endpoint of the org takes
 * its type. `data` is computed only then (it may cost a query). The payload is
 * the Standard Webhooks shape: `{ type, timestamp, data }`.
 */
export async function emitEvent(op: Op, orgId: string, type: EventType, data: () => Promise<Record<string, unknown>> | Record<string, unknown>): Promise<void> {
  const endpoints = await op.tx.webhookEndpoint.findMany({
    where: { orgId, enabled: true, OR: [{ eventTypes: { isEmpty: true } }, { eventTypes: { has: type } }] },
    select: { id: true },
  });
  if (!endpoints.length) return;
  const now = new Date();
  const message = await op.tx.webhookMessage.create({
    data: { orgId, eventType: type, payload: { type, timestamp: now.toISOString(), data: await data() } as object, createdAt: now },
  });
  await op.tx.webhookDelivery.createMany({
    data: endpoints.map((e) => ({ orgId, endpointId: e.id, messageId: message.id, nextAttemptAt: now, deadline: new Date(now.getTime() + DELIVERY_WINDOW_MS) })),
  });
  wakeDeliveryWorkers(op);
}

/** Wakes this process's delivery job once the transaction commits (other instances find the rows when they poll). */
export function wakeDeliveryWorkers(op: Pick<Op, 'afterCommit' | 'app'>): void {
  op.afterCommit(() => op.app.jobs.wake(DELIVERY_JOB));
}
