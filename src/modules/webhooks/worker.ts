import { Webhook } from 'standardwebhooks';
import type { App } from '../../app.js';
import { transaction } from '../../db/transaction.js';
import { OutboundError } from '../../outbound.js';
import { openEndpointSecret } from './service.js';

/**
 * Delivers the outbox (the `webhooks.deliver` job). Any number of gateway instances run it:
 * deliveries are claimed with `FOR UPDATE SKIP LOCKED` in a short statement
 * that also pushes `nextAttemptAt` past the attempt's time limit (a lease), so
 * each delivery goes to one worker; the HTTP request runs outside any
 * transaction; its outcome is written back only if the claim is still this
 * worker's (compare-and-set on `attempts`). A worker that dies mid-delivery
 * leaves the lease to lapse and another (or the next start) sends it again:
 * at least once, never lost.
 *
 * Hand-written rather than graphile-worker or pg-boss: both drive PostgreSQL
 * through their own `pg` pool and schema, which the embedded default (PGlite,
 * in-process) cannot offer without a wire-protocol socket, and the outbox rows
 * must be written by the change's own Prisma transaction.
 *
 * Requests are signed per Standard Webhooks (`standardwebhooks` package) and
 * sent through the outbound policy (outbound.ts). Failures are retried with
 * exponential backoff (doubling from WEBHOOK_RETRY_BASE_MS, at most an hour,
 * ±20 % jitter) until the delivery's deadline (24 hours); an endpoint that
 * has not had a single success for WEBHOOK_DISABLE_AFTER_MS is disabled.
 */
const BATCH = 20;
const MAX_DELAY_MS = 3600_000;

interface Claimed {
  id: string;
  endpointId: string;
  messageId: string;
  attempts: number;
  deadline: Date;
}

/** One pass: every due delivery this instance could claim, a batch at a time. */
export async function deliverDueWebhooks(app: App, signal?: AbortSignal): Promise<void> {
  for (;;) {
    const claimed = await claim(app);
    if (!claimed.length) return;
    await Promise.all(claimed.map((d) => deliver(app, d)));
    if (signal?.aborted || claimed.length < BATCH) return;
  }
}

async function claim(app: App): Promise<Claimed[]> {
  const now = new Date();
  const leaseUntil = new Date(now.getTime() + app.config.health.webhookTimeoutMs + 1000);
  // Timestamps as ISO text: the columns are UTC timestamps without time zone, whatever the session's zone.
  return app.db.prisma.$queryRaw<Claimed[]>`
    UPDATE "WebhookDelivery" SET "nextAttemptAt" = ${leaseUntil.toISOString()}::timestamp, attempts = attempts + 1
    WHERE id IN (
      SELECT d.id FROM "WebhookDelivery" d JOIN "WebhookEndpoint" e ON e.id = d."endpointId"
      WHERE d.status = 'PENDING' AND d."nextAttemptAt" <= ${now.toISOString()}::timestamp AND e.enabled
      ORDER BY d."nextAttemptAt" LIMIT ${BATCH}
      FOR UPDATE OF d SKIP LOCKED
    )
    RETURNING id, "endpointId", "messageId", attempts, deadline`;
}

async function deliver(app: App, d: Claimed): Promise<void> {
  const prisma = app.db.prisma;
  const [endpoint, message] = await Promise.all([
    prisma.webhookEndpoint.findUnique({ where: { id: d.endpointId } }),
    prisma.webhookMessage.findUnique({ where: { id: d.messageId } }),
  ]);
  if (!endpoint || !message) return;
  const body = JSON.stringify(message.payload);
  const started = performance.now();
  let statusCode: number | null = null;
  let error: string | null = null;
  try {
    const msgId = `msg_${message.id}`;
    const timestamp = new Date();
    const signature = new Webhook(openEndpointSecret(app.config.keyRing, endpoint)).sign(msgId, timestamp, body);
    const res = await app.outbound.request(endpoint.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'webhook-id': msgId,
        'webhook-timestamp': String(Math.floor(timestamp.getTime() / 1000)),
        'webhook-signature': signature,
      },
      body,
      timeoutMs: app.config.health.webhookTimeoutMs,
    });
    statusCode = res.status;
    if (res.status < 200 || res.status >= 300) error = `HTTP ${res.status}`;
  } catch (err) {
    // Outbound errors are short and data-free; anything else (an undecryptable secret) is named, not described.
    error = err instanceof OutboundError ? err.message : `delivery impossible (${(err as Error)?.name ?? 'error'})`;
  }
  const latencyMs = Math.round(performance.now() - started);
  await record(app, d, endpoint.failingSince, { statusCode, error, latencyMs });
}

async function record(app: App, d: Claimed, failingSince: Date | null, outcome: { statusCode: number | null; error: string | null; latencyMs: number }): Promise<void> {
  const now = new Date();
  const ok = outcome.error === null;
  const delay = Math.min(app.config.health.webhookRetryBaseMs * 2 ** (d.attempts - 1), MAX_DELAY_MS) * (0.8 + Math.random() * 0.4);
  const next = new Date(now.getTime() + delay);
  const status = ok ? 'SUCCEEDED' : next > d.deadline ? 'FAILED' : 'PENDING';
  await transaction(app.db.prisma, async ({ tx }) => {
    // Only while the claim is still ours: a lapsed lease may have gone to another worker.
    const { count } = await tx.webhookDelivery.updateMany({
      where: { id: d.id, attempts: d.attempts, status: 'PENDING' },
      data: {
        status,
        nextAttemptAt: status === 'PENDING' ? next : now,
        lastAttemptAt: now,
        lastStatusCode: outcome.statusCode,
        lastError: outcome.error,
        lastLatencyMs: outcome.latencyMs,
        ...(ok ? { deliveredAt: now } : {}),
      },
    });
    if (!count) return;
    await tx.webhookAttempt.create({ data: { deliveryId: d.id, attemptedAt: now, statusCode: outcome.statusCode, error: outcome.error, latencyMs: outcome.latencyMs } });
    if (ok) {
      if (failingSince) await tx.webhookEndpoint.update({ where: { id: d.endpointId }, data: { failingSince: null } });
      return;
    }
    const since = failingSince ?? now;
    const disable = now.getTime() - since.getTime() >= app.config.health.webhookDisableAfterMs;
    await tx.webhookEndpoint.updateMany({
      where: { id: d.endpointId, enabled: true },
      data: {
        failingSince: since,
        ...(disable ? { enabled: false, disabledAt: now, disabledReason: `no successful delivery since ${since.toISOString()}` } : {}),
      },
    });
    if (disable) app.log.warn({ endpointId: d.endpointId }, 'webhook endpoint disabled after sustained failure');
  });
}
