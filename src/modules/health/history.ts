import type { ValueStatus } from '../../generated/prisma/client.js';
import { auditCounted } from '../../audit.js';
import type { Op } from '../../op.js';
import { emitEvent, type EventType } from '../webhooks/outbox.js';
import { recordHealthEvent } from './events.js';

/**
 * Status history of connection values, and what a transition tells the
 * organization's webhooks. The values service calls `recordTransition` for
 * every change of a value's status (its creation and clearing included), in
 * the transaction of the change: a rolled-back change leaves no history and
 * sends nothing. Each is also an event of the admin view's live health feed
 * (events.ts).
 */
export interface ValueSlotRef {
  id: string;
  orgId: string;
  connectionId: string;
  customerId: string | null;
  slot: string;
  kind: string;
}

/** The webhook event a transition means, if any. */
export function transitionEvent(from: ValueStatus | null, to: ValueStatus | null): EventType | null {
  if (to === null) return 'value.cleared';
  if (to === 'ACTIVE') return from === 'ERROR' || from === 'EXPIRED' ? 'value.recovered' : 'value.activated';
  if (to === 'ERROR') return 'value.error';
  if (to === 'EXPIRED') return 'value.expired';
  return null;
}

/**
 * Records one transition (nothing when the status did not change) and writes
 * its webhook event to the outbox. `message` is the value's error after the
 * change; it must never hold a secret.
 */
export async function recordTransition(
  op: Op,
  value: ValueSlotRef,
  from: ValueStatus | null,
  to: ValueStatus | null,
  cause: string,
  message: string | null = null,
): Promise<void> {
  if (from === to) return;
  await op.tx.valueStatusChange.create({
    data: {
      orgId: value.orgId,
      // A cleared value's row is gone; its transitions stay, attached to the slot.
      valueId: to === null ? null : value.id,
      connectionId: value.connectionId,
      customerId: value.customerId,
      slot: value.slot,
      fromStatus: from,
      toStatus: to,
      cause,
      message,
      actorKind: op.actor.kind,
      actorId: op.actor.id,
      via: op.via,
    },
  });
  recordHealthEvent(op, value, { kind: 'STATUS_CHANGED', from, to, cause, message });
  // A principal's change is audited by the operation that made it; the gateway's own (a check, a refresh) here.
  if (op.actor.kind === 'SYSTEM') await op.audit('connectionValue.status', 'ConnectionValue', value.id, { from, to, cause });
  const type = transitionEvent(from, to);
  if (type) await emitEvent(op, value.orgId, type, () => valueEventData(op, value, { status: to, previousStatus: from, cause, message }));
}

/** A refresh that failed without changing the status (a transient provider failure): only an event. */
export async function recordRefreshFailure(op: Op, value: ValueSlotRef, message: string): Promise<void> {
  recordHealthEvent(op, value, { kind: 'REFRESH_FAILED', cause: 'refresh.failed', message });
  if (op.actor.kind === 'SYSTEM') await auditCounted(op.tx, op.actor, op.via, 'oauth.renew_failed', 'Connection', value.connectionId);
  await emitEvent(op, value.orgId, 'value.refresh_failed', () => valueEventData(op, value, { status: null, previousStatus: null, cause: 'refresh.failed', message }));
}

async function valueEventData(
  op: Op,
  value: ValueSlotRef,
  change: { status: ValueStatus | null; previousStatus: ValueStatus | null; cause: string; message: string | null },
): Promise<Record<string, unknown>> {
  const [connection, customer] = await Promise.all([
    op.tx.connection.findUnique({ where: { id: value.connectionId }, select: { stableKey: true } }),
    value.customerId ? op.tx.customer.findUnique({ where: { id: value.customerId }, select: { externalId: true } }) : null,
  ]);
  return {
    valueId: value.id,
    connectionId: value.connectionId,
    connectionStableKey: connection?.stableKey ?? null,
    kind: value.kind,
    customerId: value.customerId,
    customerExternalId: customer?.externalId ?? null,
    ...change,
  };
}
