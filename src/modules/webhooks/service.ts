import { randomBytes, randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { KeyRing } from '../../crypto/keyring.js';
import { endpointSecretAad } from '../../crypto/secrets.js';
import { NotFoundError } from '../../errors.js';
import type { Actor } from '../../auth/principal.js';
import type { Tx } from '../../db/transaction.js';
import type { PrismaClient, WebhookDelivery, WebhookEndpoint } from '../../generated/prisma/client.js';
import type { Op } from '../../op.js';
import { parseInput } from '../../validation.js';
import { orgOwned } from '../tenancy/scope.js';
import { DELIVERY_WINDOW_MS, EVENT_TYPES, wakeDeliveryWorkers } from './outbox.js';
import { deliveryWhere, endpointWhere } from './scope.js';

/**
 * Webhook endpoints of an organization: where its events go, which types,
 * with which signing secret (Standard Webhooks: `whsec_` + base64 of 24
 * random bytes, shown once at creation, sealed at rest), and manual
 * redelivery. Every change audited.
 */
const Url = z
  .string()
  .max(2000, 'at most 2000 characters')
  .refine((v) => {
    try {
      const u = new URL(v);
      return u.protocol === 'https:' || u.protocol === 'http:';
    } catch {
      return false;
    }
  }, 'must be an http(s) URL');

const EndpointFields = z.object({
  url: Url,
  description: z.string().max(500, 'at most 500 characters').optional(),
  eventTypes: z.array(z.enum(EVENT_TYPES)).max(EVENT_TYPES.length).optional().describe('Empty or absent: every type.'),
});
const EndpointPatch = EndpointFields.partial().extend({ enabled: z.boolean().optional() });

/** The endpoint's signing secret, for the delivery worker only. */
export function openEndpointSecret(ring: KeyRing, endpoint: Pick<WebhookEndpoint, 'id' | 'secret'>): string {
  return ring.decrypt(endpoint.secret, endpointSecretAad(endpoint.id));
}

export async function createWebhookEndpoint(op: Op, raw: unknown): Promise<{ endpoint: WebhookEndpoint; secret: string }> {
  const input = parseInput(EndpointFields, raw);
  const { orgId } = orgOwned(op.actor);
  const id = randomUUID();
  const secret = `whsec_${randomBytes(24).toString('base64')}`;
  const endpoint = await op.tx.webhookEndpoint.create({
    data: {
      id,
      orgId,
      url: input.url,
      description: input.description ?? '',
      eventTypes: [...new Set(input.eventTypes ?? [])],
      secret: op.app.config.keyRing.encrypt(secret, endpointSecretAad(id)),
    },
  });
  await op.audit('webhookEndpoint.create', 'WebhookEndpoint', id, { eventTypes: endpoint.eventTypes });
  return { endpoint, secret };
}

/** The endpoint, when the actor may see it (else NOT_FOUND). */
export async function findWebhookEndpoint(db: PrismaClient | Tx, actor: Actor, id: string): Promise<WebhookEndpoint> {
  const found = await db.webhookEndpoint.findFirst({ where: { id, ...endpointWhere(actor) } });
  if (!found) throw new NotFoundError('Webhook endpoint');
  return found;
}

const findOwn = (op: Op, id: string) => findWebhookEndpoint(op.tx, op.actor, id);

/** Changes an endpoint; `enabled: true` re-enables one the gateway disabled after sustained failure. */
export async function updateWebhookEndpoint(op: Op, id: string, raw: unknown): Promise<WebhookEndpoint> {
  const patch = parseInput(EndpointPatch, raw);
  const found = await findOwn(op, id);
  const reenabled = patch.enabled === true && !found.enabled;
  const updated = await op.tx.webhookEndpoint.update({
    where: { id: found.id },
    data: {
      url: patch.url,
      description: patch.description,
      eventTypes: patch.eventTypes ? [...new Set(patch.eventTypes)] : undefined,
      enabled: patch.enabled,
      ...(patch.enabled === true ? { disabledAt: null, disabledReason: null, failingSince: null } : {}),
      ...(patch.enabled === false && found.enabled ? { disabledAt: new Date(), disabledReason: 'disabled by the organization' } : {}),
    },
  });
  // Deliveries waiting while it was disabled go out now.
  if (reenabled) wakeDeliveryWorkers(op);
  await op.audit('webhookEndpoint.update', 'WebhookEndpoint', id, { changed: Object.keys(patch) });
  return updated;
}

export async function deleteWebhookEndpoint(op: Op, id: string): Promise<void> {
  const found = await findOwn(op, id);
  await op.tx.webhookEndpoint.delete({ where: { id: found.id } });
  await op.audit('webhookEndpoint.delete', 'WebhookEndpoint', id);
}

/** Sends a delivery again (whatever its outcome so far), retried for another 24 hours. */
export async function redeliverWebhook(op: Op, deliveryId: string): Promise<WebhookDelivery> {
  const found = await op.tx.webhookDelivery.findFirst({ where: { id: deliveryId, ...deliveryWhere(op.actor) } });
  if (!found) throw new NotFoundError('Webhook delivery');
  const now = new Date();
  const delivery = await op.tx.webhookDelivery.update({
    where: { id: found.id },
    data: { status: 'PENDING', nextAttemptAt: now, deadline: new Date(now.getTime() + DELIVERY_WINDOW_MS) },
  });
  wakeDeliveryWorkers(op);
  await op.audit('webhookDelivery.redeliver', 'WebhookEndpoint', found.endpointId, { deliveryId: found.id });
  return delivery;
}
