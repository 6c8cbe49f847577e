import type { App } from '../../app.js';
import { drainClaims } from '../../jobs/runner.js';
import { systemActor } from '../../auth/principal.js';
import type { Connector } from '../../generated/prisma/client.js';
import { auditCounted } from '../../audit.js';
import { transaction, type Tx } from '../../db/transaction.js';
import { write } from '../../op.js';
import { recordHealthEvent } from './events.js';
import { DEFAULT_TEST_TIMEOUT_MS, runTestRequest, testRequestOf, type TestRun } from '../runtime/service.js';
import { setValueStatus } from '../values/service.js';

/**
 * Scheduled checks: every ACTIVE or ERROR value (test values aside) whose
 * connector has a test request is checked with it on a schedule, so a static
 * credential (an API key, a password) that broke is known before a
 * customer's run fails. OAuth2 values are checked after their token is
 * renewed when due (runtime/service.ts `runTestRequest`).
 *
 * Per value: claim, check, record.
 *   1. claim: one statement picks due values (`nextCheckAt` passed, or never
 *      checked) with `FOR UPDATE SKIP LOCKED` and pushes their `nextCheckAt`
 *      past the request's time limit — the lease: other instances skip
 *      them, and a crashed instance's values come due again after it;
 *   2. the test request, outside any transaction (the outbound policy applies);
 *   3. record, in a short transaction: the last check's time and outcome,
 *      consecutive failures, the next check — the connector's interval
 *      (`testRequest.checkIntervalSeconds`, held within
 *      HEALTH_CHECK_MIN/MAX_INTERVAL_MS, default HEALTH_CHECK_INTERVAL_MS)
 *      with ±10 % jitter so values checked together drift apart; after a
 *      failure sooner, with exponential backoff from
 *      HEALTH_CHECK_RETRY_BASE_MS up to the interval — and the transition:
 *      ACTIVE → ERROR when the API answered an unexpected status, or after
 *      HEALTH_CHECK_ERROR_AFTER consecutive failures to reach it (one
 *      network blip is not a broken credential); ERROR → ACTIVE on success.
 *      Transitions go to the status history and webhooks like every other
 *      (values service), by the SYSTEM actor. A value written meanwhile (a
 *      new credential) keeps its status: the check was about the old one.
 *      Every check is also an event of the admin view's live health feed
 *      (events.ts), committed with its bookkeeping.
 */
const BATCH = 50;

/** One pass: every due value this instance could claim, a batch at a time (the `health.check` job, src/jobs). */
export function checkDueValues(app: App, signal?: AbortSignal): Promise<number> {
  return drainClaims(() => claim(app), (id) => check(app, id), BATCH, signal);
}

async function claim(app: App): Promise<string[]> {
  const now = new Date();
  const leaseUntil = new Date(now.getTime() + app.config.health.checkLeaseMs);
  // Timestamps as ISO text: the columns are UTC timestamps without time zone.
  const rows = await app.db.prisma.$queryRaw<{ id: string }[]>`
    WITH due AS (
      SELECT v.id FROM "ConnectionValue" v
      JOIN "Connection" c ON c.id = v."connectionId"
      JOIN "Connector" k ON k.id = c."connectorId"
      WHERE jsonb_typeof(k."testRequest") = 'object'
        AND COALESCE(k."testRequest"->>'checkIntervalSeconds', '') <> '0'
        AND v.status IN ('ACTIVE', 'ERROR') AND v.kind <> 'TEST' AND c."archivedAt" IS NULL
        AND (v."nextCheckAt" IS NULL OR v."nextCheckAt" <= ${now.toISOString()}::timestamp)
      ORDER BY v."nextCheckAt" ASC NULLS FIRST
      LIMIT ${BATCH}
      FOR UPDATE OF v SKIP LOCKED
    )
    UPDATE "ConnectionValue" AS v SET "nextCheckAt" = ${leaseUntil.toISOString()}::timestamp
    FROM due WHERE v.id = due.id
    RETURNING v.id::text AS id`;
  return rows.map((r) => r.id);
}

/**
 * A check's bookkeeping on its value (rows changed: 0 when the value is
 * gone). In SQL, not through the client: a check is not a change of the
 * value, and Prisma's `@updatedAt` would move the value's `updatedAt` (what
 * the admin UI shows as its last change) on every check.
 */
function recordCheck(
  tx: Pick<Tx, '$executeRaw'>,
  valueId: string,
  c: { lastCheckAt: Date; lastCheckOk: boolean; lastCheckMessage: string | null; checkFailures: number; nextCheckAt: Date },
): Promise<number> {
  // Timestamps as ISO text: the columns are UTC timestamps without time zone.
  return tx.$executeRaw`UPDATE "ConnectionValue" SET "lastCheckAt" = ${c.lastCheckAt.toISOString()}::timestamp, "lastCheckOk" = ${c.lastCheckOk},
    "lastCheckMessage" = ${c.lastCheckMessage}, "checkFailures" = ${c.checkFailures}, "nextCheckAt" = ${c.nextCheckAt.toISOString()}::timestamp
    WHERE id = ${valueId}::uuid`;
}

/** The connector's check interval (ms) within the gateway's bounds; null: not checked on a schedule. */
export function checkIntervalMs(app: App, connector: Pick<Connector, 'testRequest'>): number | null {
  const request = testRequestOf(connector);
  if (!request || request.checkIntervalSeconds === 0) return null;
  const { checkIntervalMs: dflt, checkMinIntervalMs: min, checkMaxIntervalMs: max } = app.config.health;
  const wanted = request.checkIntervalSeconds === undefined ? dflt : request.checkIntervalSeconds * 1000;
  return Math.min(Math.max(wanted, min), max);
}

/** When the next check is due after this one. */
function nextDelayMs(app: App, interval: number, run: TestRun, failures: number): number {
  if (run.ok) return Math.round(interval * (0.9 + Math.random() * 0.2));
  const backoff = app.config.health.checkRetryBaseMs * 2 ** Math.min(failures - 1, 20);
  return Math.min(interval, Math.round(backoff * (0.9 + Math.random() * 0.2)));
}

async function check(app: App, valueId: string): Promise<void> {
  const value = await app.db.prisma.connectionValue.findUnique({ where: { id: valueId }, include: { connection: { include: { connector: true } } } });
  if (!value) return;
  const interval = checkIntervalMs(app, value.connection.connector);
  if (interval === null || value.connection.archivedAt) {
    await app.db.prisma.$executeRaw`UPDATE "ConnectionValue" SET "nextCheckAt" = NULL WHERE id = ${valueId}::uuid`;
    return;
  }
  const actor = systemActor(value.orgId, 'scheduled-check');
  let run: TestRun;
  try {
    run = await runTestRequest(app, actor, value.connection, value, DEFAULT_TEST_TIMEOUT_MS, 'system');
  } catch (err) {
    // Nothing the API said: the database or a bug. The claim lapses and the value comes due again.
    app.log.error({ valueId, err: (err as Error)?.name }, 'scheduled check failed to run');
    return;
  }
  app.metrics.healthChecks.inc({ outcome: run.ok ? 'ok' : (run.failure ?? 'failed').toLowerCase() });
  const current = await app.db.prisma.connectionValue.findUnique({ where: { id: valueId }, select: { status: true, version: true, checkFailures: true } });
  if (!current) return;
  const failures = run.ok ? 0 : current.checkFailures + 1;
  const at = new Date();
  const checked = {
    lastCheckAt: at,
    lastCheckOk: run.ok,
    lastCheckMessage: run.message,
    checkFailures: failures,
    nextCheckAt: new Date(at.getTime() + nextDelayMs(app, interval, run, failures)),
  };
  // A refresh that failed already recorded its status; a value written meanwhile was not what was checked.
  const sameValue = !run.statusSet && current.version === value.version;
  const recovered = sameValue && run.ok && current.status === 'ERROR';
  const broken = sameValue && !run.ok && current.status === 'ACTIVE' && (run.failure === 'UNEXPECTED_STATUS' || failures >= app.config.health.checkErrorAfter);
  // Every check is an event of the admin view's live feed, committed with its bookkeeping (events.ts).
  const ref = { id: value.id, orgId: value.orgId, connectionId: value.connectionId, customerId: value.customerId, slot: value.slot, kind: value.kind };
  const outcome = { kind: 'CHECKED', ok: run.ok, cause: run.ok ? 'check.passed' : `check.${(run.failure ?? 'FAILED').toLowerCase()}`, message: run.message } as const;
  if (!recovered && !broken) {
    // Only the check's bookkeeping and its event: not a change anyone else must hear of (no transition, nothing the proxy keeps).
    await transaction(app.db.prisma, async (unit) => {
      if (!(await recordCheck(unit.tx, valueId, checked))) return;
      recordHealthEvent({ ...unit, app, actor }, ref, outcome);
      // A check uses the credential: audited as the gateway's own work, counted per connection and minute.
      await auditCounted(unit.tx, actor, 'system', 'connection.checked', 'Connection', value.connectionId);
    });
    return;
  }
  await write(app, actor, 'system', async (op) => {
    await recordCheck(op.tx, valueId, checked);
    recordHealthEvent(op, ref, outcome);
    await auditCounted(op.tx, actor, 'system', 'connection.checked', 'Connection', value.connectionId);
    // The value may have moved on since it was read: only the value that was checked changes status.
    const now = await op.tx.connectionValue.findUnique({ where: { id: valueId }, select: { status: true, version: true } });
    if (!now || now.version !== value.version || now.status !== current.status) return;
    if (recovered) await setValueStatus(op, valueId, 'ACTIVE', null, 'check.recovered');
    else await setValueStatus(op, valueId, 'ERROR', run.message, 'check.failed');
  });
}
