import type { App } from '../../app.js';
import { drainClaims } from '../../jobs/runner.js';
import { auditCounted, type Surface } from '../../audit.js';
import { systemActor, type Actor } from '../../auth/principal.js';
import type { ConnectionValue, Connector } from '../../generated/prisma/client.js';
import { openSecrets } from '../../crypto/secrets.js';
import type { ConnectionWithConnector } from '../connections/scope.js';
import { lockValue } from '../../db/locks.js';
import { write } from '../../op.js';
import { OAuthGrantError, tokenRequest } from '../oauth/client.js';
import { connectorClientSecret, oauthSettings } from '../connectors/service.js';
import { needsRefresh, refreshedValueData, renewalParams } from '../oauth/service.js';
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
 *
 * A caller that needs a token now — a resolution or a test request whose
 * token is due (`freshValue`), the proxy (due, or refused by the API) —
 * renews through the same claim, call and write-back (`renewNow`, below):
 * one path, and no transaction or pooled connection is held across a
 * provider call anywhere.
 */
const BATCH = 50;

/** One pass: every due value this instance could claim, a batch at a time (the `oauth.refresh` job, src/jobs). */
export function refreshDueTokens(app: App, signal?: AbortSignal): Promise<number> {
  return drainClaims(() => claim(app), (id) => refresh(app, id), BATCH, signal);
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
    INSERT INTO "ValueRefreshLease" ("valueId", until, busy) SELECT id, ${leaseUntil.toISOString()}::timestamp, true FROM due
    ON CONFLICT ("valueId") DO UPDATE SET until = EXCLUDED.until, busy = true WHERE "ValueRefreshLease".until <= ${now.toISOString()}::timestamp
    RETURNING "valueId"`;
  return rows.map((r) => r.valueId);
}

/**
 * Claims one value now, whatever its expiry (the proxy: a token due, or one
 * the API refused): one statement, so exactly one of several concurrent
 * callers — on any instance — gets it. A lease that only holds the
 * background refresher back (backoff, nothing to renew) is taken over; one
 * whose provider call is running is not.
 */
async function claimOne(app: App, valueId: string): Promise<boolean> {
  const now = new Date();
  const leaseUntil = new Date(now.getTime() + app.config.health.refreshLeaseMs);
  const rows = await app.db.prisma.$queryRaw<{ valueId: string }[]>`
    INSERT INTO "ValueRefreshLease" ("valueId", until, busy) VALUES (${valueId}::uuid, ${leaseUntil.toISOString()}::timestamp, true)
    ON CONFLICT ("valueId") DO UPDATE SET until = EXCLUDED.until, busy = true
      WHERE "ValueRefreshLease".until <= ${now.toISOString()}::timestamp OR NOT "ValueRefreshLease".busy
    RETURNING "valueId"`;
  return rows.length === 1;
}

type Claimed = ConnectionValue & { connection: { connector: Connector } };

/**
 * What renewing a claimed value came to: `refreshed` (new tokens written),
 * `changed` (the value changed meanwhile: the newer write stands), `expired`
 * (`invalid_grant`: EXPIRED), `rejected` (another refusal: ERROR),
 * `transient` (counted on the value, `value.refresh_failed` sent), `nothing`
 * (no refresh token), `impossible` (unusable settings or secrets).
 */
type Renewal = { outcome: 'refreshed' | 'changed' | 'expired' | 'rejected' | 'transient' | 'nothing' | 'impossible'; message: string };

/**
 * The provider call and its write-back for a value this caller claimed:
 * the call outside any transaction and any pooled connection; the result
 * written in a short transaction under the value's lock, only if the
 * value's version is still the one read (compare-and-set). Status, history
 * and webhooks of a failure as everywhere (values service, history.ts).
 */
async function renewClaimed(app: App, value: Claimed, actor: Actor, via: Surface = 'system'): Promise<Renewal> {
  const ring = app.config.keyRing;
  const valueId = value.id;
  const connector = value.connection.connector;
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
    app.log.error({ valueId, reason: (err as Error).message }, 'token refresh impossible');
    return { outcome: 'impossible', message: "The connector's OAuth2 client cannot be used to refresh the token" };
  }
  if (!params) return { outcome: 'nothing', message: 'There is no refresh token; authorize again.' };

  try {
    const tokens = await tokenRequest(app.outbound, settings, clientSecret, params);
    app.metrics.refreshes.inc({ outcome: 'refreshed' });
    const count = await write(app, actor, via, async ({ tx }) => {
      await lockValue(tx, valueId);
      const { count } = await tx.connectionValue.updateMany({ where: { id: valueId, version: value.version }, data: refreshedValueData(ring, value, secrets.refreshToken, tokens) });
      // The gateway's own renewals, counted per connection and minute; a caller's renewal is part of its audited resolution or proxy call.
      if (count && actor.kind === 'SYSTEM') await auditCounted(tx, actor, via, 'oauth.renewed', 'Connection', value.connectionId);
      return count;
    });
    return count ? { outcome: 'refreshed', message: 'refreshed' } : { outcome: 'changed', message: 'The credential changed during the refresh' };
  } catch (err) {
    if (!(err instanceof OAuthGrantError)) {
      app.log.error({ valueId, err: (err as Error)?.name }, 'token refresh failed');
      return { outcome: 'transient', message: 'Token refresh failed temporarily' };
    }
    app.metrics.refreshes.inc({ outcome: err.error === 'invalid_grant' ? 'expired' : err.transient ? 'failed_transient' : 'rejected' });
    if (err.transient) {
      const message = `Token refresh failed temporarily: ${err.message}`;
      await write(app, actor, via, async (op) => {
        await lockValue(op.tx, valueId);
        await op.tx.connectionValue.updateMany({ where: { id: valueId, version: value.version }, data: { refreshFailures: { increment: 1 }, lastError: message, lastErrorAt: new Date() } });
        await recordRefreshFailure(op, value, message);
      });
      return { outcome: 'transient', message };
    }
    const [outcome, status, cause, message] =
      err.error === 'invalid_grant'
        ? (['expired', 'EXPIRED', 'refresh.expired', `Authorization expired: ${err.message}`] as const)
        : (['rejected', 'ERROR', 'refresh.rejected', `Token refresh failed: ${err.message}`] as const);
    await write(app, actor, via, async (op) => {
      await lockValue(op.tx, valueId);
      const current = await op.tx.connectionValue.findUnique({ where: { id: valueId }, select: { version: true } });
      // Only the value this refresh was about: new credentials entered meanwhile stand.
      if (current?.version === value.version) await setValueStatus(op, valueId, status, message, cause);
    });
    return { outcome, message };
  }
}

async function refresh(app: App, valueId: string): Promise<void> {
  const value = await app.db.prisma.connectionValue.findUnique({ where: { id: valueId }, include: { connection: { include: { connector: true } } } });
  if (!value) return void (await app.db.prisma.valueRefreshLease.deleteMany({ where: { valueId } }));
  // Due no longer: the claim's statement read an older snapshot, and another instance renewed the value
  // and let go of its lease before this claim's insert (a lease gone is a lease takeable). Nothing to call.
  if (value.status !== 'ACTIVE' || !value.expiresAt || value.expiresAt.getTime() >= Date.now() + app.config.health.refreshMarginMs) {
    return release(app, valueId, false);
  }
  const renewal = await renewClaimed(app, value, systemActor(value.orgId, 'background-refresh'));
  await settle(app, valueId, renewal);
}

/** Ends a claim after a renewal: at once, or held back with exponential backoff (a failure), or until the next margin (nothing to renew). */
async function settle(app: App, valueId: string, renewal: Renewal): Promise<void> {
  switch (renewal.outcome) {
    case 'refreshed':
    case 'changed':
    case 'expired':
    case 'rejected':
      return release(app, valueId, false);
    case 'nothing':
      return release(app, valueId, false, true);
    case 'transient':
    case 'impossible':
      return release(app, valueId, true);
  }
}

/** Ends a claim: at once, or (after a failure, or with nothing to do) held back with exponential backoff. */
async function release(app: App, valueId: string, failed: boolean, idle = false): Promise<void> {
  const { health } = app.config;
  if (!failed && !idle) return void (await app.db.prisma.valueRefreshLease.deleteMany({ where: { valueId } }));
  const lease = await app.db.prisma.valueRefreshLease.update({ where: { valueId }, data: { failures: { increment: failed ? 1 : 0 }, busy: false } });
  const delay = idle ? health.refreshMarginMs : Math.min(health.refreshRetryBaseMs * 2 ** (lease.failures - 1), health.refreshMarginMs);
  await app.db.prisma.valueRefreshLease.update({ where: { valueId }, data: { until: new Date(Date.now() + delay) } });
}

// ───────────────────────────── now, for a caller ─────────────────────────────

export type RenewOutcome =
  | { kind: 'FRESH'; value: ConnectionValue; refreshed: boolean }
  | { kind: 'EXPIRED'; message: string }
  /** `unusable`: the connector's OAuth2 client cannot renew it (settings, undecryptable secret); nothing was changed. */
  | { kind: 'ERROR'; message: string; retryable: boolean; unusable?: true };

/** How long a caller waits for another caller's (or instance's) renewal of the same value before a retryable error. */
export const RENEWAL_WAIT_MS = 15_000;

const POLL_MS = 100;

/**
 * A value's OAuth2 token renewed now, for a caller that needs it (the
 * proxy: due, or refused by the API with a 401), once across every
 * instance: the caller that claims the value (claimOne) calls the provider
 * as the background refresher does (renewClaimed: no transaction held
 * across the call, compare-and-set on the version), the others wait — at
 * most `waitMs` — for the value's version to move past `seen`, then use
 * what it became. `rejected`: the API refused the token, so a still-valid
 * expiry does not make it usable.
 */
export async function renewNow(
  app: App,
  actor: Actor,
  seen: Pick<ConnectionValue, 'id' | 'version'>,
  opts: { rejected: boolean; waitMs: number; via?: Surface },
): Promise<RenewOutcome> {
  const via = opts.via ?? 'system';
  const prisma = app.db.prisma;
  const deadline = Date.now() + opts.waitMs;
  for (;;) {
    const current = await prisma.connectionValue.findUnique({ where: { id: seen.id }, include: { connection: { include: { connector: true } } } });
    if (!current) return { kind: 'ERROR', message: 'The credential was removed', retryable: false };
    const moved = current.version !== seen.version;
    if (current.status === 'EXPIRED') return { kind: 'EXPIRED', message: current.lastError ?? 'The authorization expired; authorize again' };
    if (current.status !== 'ACTIVE') return { kind: 'ERROR', message: current.lastError ?? 'The credential is in error', retryable: false };
    // Renewed (or replaced) by someone else meanwhile: theirs is the token to use.
    if (moved) return { kind: 'FRESH', value: current, refreshed: false };
    if (await claimOne(app, seen.id)) {
      const latest = await prisma.connectionValue.findUnique({ where: { id: seen.id }, include: { connection: { include: { connector: true } } } });
      if (!latest || latest.version !== seen.version) {
        await release(app, seen.id, false);
        continue;
      }
      const renewal = await renewClaimed(app, latest, actor, via);
      await settle(app, seen.id, renewal);
      return outcomeOf(app, actor, via, latest, renewal, opts.rejected);
    }
    // Someone else is renewing it: a token the API has not refused and that has not expired yet serves meanwhile.
    if (!opts.rejected && current.expiresAt !== null && current.expiresAt.getTime() > Date.now()) return { kind: 'FRESH', value: current, refreshed: false };
    if (Date.now() + POLL_MS > deadline) return { kind: 'ERROR', message: 'A token refresh is still running; retry shortly', retryable: true };
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

async function outcomeOf(app: App, actor: Actor, via: Surface, before: ConnectionValue, renewal: Renewal, rejected: boolean): Promise<RenewOutcome> {
  const after = await app.db.prisma.connectionValue.findUnique({ where: { id: before.id } });
  if (!after) return { kind: 'ERROR', message: 'The credential was removed', retryable: false };
  const stillValid = !rejected && before.expiresAt !== null && before.expiresAt.getTime() > Date.now();
  switch (renewal.outcome) {
    case 'refreshed':
    case 'changed':
      return after.status === 'ACTIVE' ? { kind: 'FRESH', value: after, refreshed: renewal.outcome === 'refreshed' } : { kind: 'ERROR', message: renewal.message, retryable: true };
    case 'expired':
      return { kind: 'EXPIRED', message: renewal.message };
    case 'rejected':
      return { kind: 'ERROR', message: renewal.message, retryable: false };
    case 'impossible':
      return { kind: 'ERROR', message: renewal.message, retryable: false, unusable: true };
    case 'transient':
      // As at resolution: a token that still works is served while the provider is away.
      return stillValid ? { kind: 'FRESH', value: after, refreshed: false } : { kind: 'ERROR', message: `${renewal.message}; retry later`, retryable: true };
    case 'nothing': {
      if (stillValid) return { kind: 'FRESH', value: after, refreshed: false };
      if (rejected) return { kind: 'ERROR', message: 'The API refused the token and there is no refresh token', retryable: false };
      const message = 'The access token expired and there is no refresh token; authorize again.';
      await write(app, actor, via, async (op) => {
        await lockValue(op.tx, before.id);
        const current = await op.tx.connectionValue.findUnique({ where: { id: before.id }, select: { version: true } });
        if (current?.version === before.version) await setValueStatus(op, before.id, 'EXPIRED', message, 'refresh.expired');
      });
      return { kind: 'EXPIRED', message };
    }
  }
}

/**
 * A value's token renewed when due, for a resolution or a test request:
 * the same claim → call → compare-and-set as every renewal (`renewNow`),
 * recorded as the caller's (`via`). While another caller renews it, a token
 * that has not expired yet is served; an expired one waits for that renewal
 * (at most RENEWAL_WAIT_MS).
 */
export async function freshValue(
  app: App,
  actor: Actor,
  connection: ConnectionWithConnector,
  value: ConnectionValue,
  via: Surface = 'runtime',
): Promise<RenewOutcome> {
  if (connection.connector.authType !== 'OAUTH2' || !needsRefresh(value)) return { kind: 'FRESH', value, refreshed: false };
  if (value.status === 'EXPIRED') return { kind: 'EXPIRED', message: value.lastError ?? 'The authorization expired; authorize again' };
  return renewNow(app, actor, value, { rejected: false, waitMs: RENEWAL_WAIT_MS, via });
}
