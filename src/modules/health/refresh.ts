import type { App } from '../../app.js';
import { systemActor } from '../../auth/principal.js';
import { openSecrets } from '../../crypto/secrets.js';
import { lockValue } from '../../db/locks.js';
import { write } from '../../op.js';
import { OAuthGrantError, tokenRequest } from '../oauth/client.js';
import { connectorClientSecret, oauthSettings } from '../connectors/service.js';
import { refreshedValueData, renewalParams } from '../oauth/service.js';
import { setValueStatus } from '../values/service.js';
import { recordRefreshFailure } from './history.js';

/**
 * Background refresh: OAuth2 tokens renewed ahead of expiry (HEALTH_REFRESH_MARGIN_MS)
 * without waiting for a resolution — refresh tokens used (a rotated one kept),
 * client-credentials tokens requested again.
 *
 * Per value: claim, call, write back.
 *   1. claim: one statement inserts a lease row for due values (or takes over
 *      a lapsed one); on a conflict the row lock makes every other instance
 *      skip it, so each value is refreshed by one instance;
 *   2. the provider call, outside any transaction and any pooled connection;
 *   3. write back in a short transaction under the value's lock, only if the
 *      value's version is still the one read (compare-and-set); then the lease
 *      goes. The lazy path at resolution serves the still-valid token while a
 *      lease is held (oauth/service.ts), so the two never spend the same
 *      refresh token.
 * Outcomes: `invalid_grant` → EXPIRED, other refusals → ERROR (history and
 * webhooks follow); transient failures are counted, announced
 * (`value.refresh_failed`) and retried with backoff.
 */
const BATCH = 50;

/** One pass: every due value this instance could claim, a batch at a time (the `oauth.refresh` job, src/jobs). */
export async function refreshDueTokens(app: App, signal?: AbortSignal): Promise<number> {
  let done = 0;
  for (;;) {
    const claimed = await claim(app);
    await Promise.all(claimed.map((id) => refresh(app, id)));
    done += claimed.length;
    if (signal?.aborted || claimed.length < BATCH) return done;
  }
}

async function claim(app: App): Promise<string[]> {
  const { health } = app.config;
  const now = new Date();
  const horizon = new Date(now.getTime() + health.refreshMarginMs);
  const leaseUntil = new Date(now.getTime() + health.refreshLeaseMs);
  // Timestamps as ISO text: the columns are UTC timestamps without time zone.
  const rows = await app.db.prisma.$queryRaw<{ valueId: string }[]>`
    WITH due AS (
      SELECT v.id FROM "ConnectionValue" v
      JOIN "Connection" c ON c.id = v."connectionId"
      JOIN "Connector" k ON k.id = c."connectorId"
      LEFT JOIN "ValueRefreshLease" l ON l."valueId" = v.id
      WHERE k."authType" = 'OAUTH2' AND v.status = 'ACTIVE' AND c."archivedAt" IS NULL
        AND v."expiresAt" < ${horizon.toISOString()}::timestamp
        AND (l."valueId" IS NULL OR l.until <= ${now.toISOString()}::timestamp)
      ORDER BY v."expiresAt" LIMIT ${BATCH}
    )
    INSERT INTO "ValueRefreshLease" ("valueId", until) SELECT id, ${leaseUntil.toISOString()}::timestamp FROM due
    ON CONFLICT ("valueId") DO UPDATE SET until = EXCLUDED.until WHERE "ValueRefreshLease".until <= ${now.toISOString()}::timestamp
    RETURNING "valueId"`;
  return rows.map((r) => r.valueId);
}

async function refresh(app: App, valueId: string): Promise<void> {
  const prisma = app.db.prisma;
  const ring = app.config.keyRing;
  const value = await prisma.connectionValue.findUnique({ where: { id: valueId }, include: { connection: { include: { connector: true } } } });
  if (!value) return void (await prisma.valueRefreshLease.deleteMany({ where: { valueId } }));
  const connector = value.connection.connector;
  const actor = systemActor(value.orgId, 'background-refresh');
  let params: Record<string, string> | null;
  let settings;
  let clientSecret: string | null;
  let secrets: Record<string, string>;
  try {
    settings = oauthSettings(connector);
    clientSecret = connectorClientSecret(ring, connector);
    secrets = openSecrets(ring, value.id, value.secrets as Record<string, string>);
    params = renewalParams(settings, secrets);
  } catch (err) {
    app.log.error({ valueId, reason: (err as Error).message }, 'background refresh impossible');
    return release(app, valueId, true);
  }
  // Without a refresh token there is nothing to renew ahead of time: resolution reports the expiry.
  if (!params) return release(app, valueId, false, true);

  try {
    const tokens = await tokenRequest(app.outbound, settings, clientSecret, params);
    app.metrics.refreshes.inc({ outcome: 'refreshed' });
    await write(app, actor, 'system', async ({ tx }) => {
      await lockValue(tx, valueId);
      await tx.connectionValue.updateMany({ where: { id: valueId, version: value.version }, data: refreshedValueData(ring, value, secrets.refreshToken, tokens) });
      await tx.valueRefreshLease.deleteMany({ where: { valueId } });
    });
  } catch (err) {
    if (!(err instanceof OAuthGrantError)) {
      app.log.error({ valueId, err: (err as Error)?.name }, 'background refresh failed');
      return release(app, valueId, true);
    }
    app.metrics.refreshes.inc({ outcome: err.error === 'invalid_grant' ? 'expired' : err.transient ? 'failed_transient' : 'rejected' });
    if (err.transient) {
      const message = `Token refresh failed temporarily: ${err.message}`;
      await write(app, actor, 'system', async (op) => {
        await lockValue(op.tx, valueId);
        await op.tx.connectionValue.updateMany({ where: { id: valueId, version: value.version }, data: { refreshFailures: { increment: 1 }, lastError: message, lastErrorAt: new Date() } });
        await recordRefreshFailure(op, value, message);
      });
      return release(app, valueId, true);
    }
    const [status, cause, message] =
      err.error === 'invalid_grant' ? (['EXPIRED', 'refresh.expired', `Authorization expired: ${err.message}`] as const) : (['ERROR', 'refresh.rejected', `Token refresh failed: ${err.message}`] as const);
    await write(app, actor, 'system', async (op) => {
      await lockValue(op.tx, valueId);
      const current = await op.tx.connectionValue.findUnique({ where: { id: valueId }, select: { version: true } });
      // Only the value this refresh was about: new credentials entered meanwhile stand.
      if (current?.version === value.version) await setValueStatus(op, valueId, status, message, cause);
      await op.tx.valueRefreshLease.deleteMany({ where: { valueId } });
    });
  }
}

/** Ends a claim: at once, or (after a failure, or with nothing to do) held back with exponential backoff. */
async function release(app: App, valueId: string, failed: boolean, idle = false): Promise<void> {
  const { health } = app.config;
  if (!failed && !idle) return void (await app.db.prisma.valueRefreshLease.deleteMany({ where: { valueId } }));
  const lease = await app.db.prisma.valueRefreshLease.update({ where: { valueId }, data: { failures: { increment: failed ? 1 : 0 } } });
  const delay = idle ? health.refreshMarginMs : Math.min(health.refreshRetryBaseMs * 2 ** (lease.failures - 1), health.refreshMarginMs);
  await app.db.prisma.valueRefreshLease.update({ where: { valueId }, data: { until: new Date(Date.now() + delay) } });
}
