import type { App } from '../../app.js';
import type { Actor, RuntimePrincipal } from '../../auth/principal.js';
import { CryptoError } from '../../crypto/keyring.js';
import { NotFoundError, ValidationError } from '../../errors.js';
import type { ConnectionValue } from '../../generated/prisma/client.js';
import { aggregateKey, auditRow, type Surface } from '../../audit.js';
import { write } from '../../op.js';
import { OutboundError, type OutboundFailure } from '../../outbound.js';
import { fillTemplate, templateHost, templateVars } from '../connectors/fields.js';
import { TestRequestSchema, type TestRequest } from '../connectors/service.js';
import type { ConnectionWithConnector } from '../connections/scope.js';
import { freshValue } from '../health/refresh.js';
import { openValue, servingSlot, setValueStatus, slotKey, type Slot } from '../values/service.js';
import { allowListAdmits, bindingDenial, findForRuntime, type ResolveBy, type RuntimeSubject } from './scope.js';

/**
 * Using credentials: runtime resolution (a runtime token asks for a
 * connection by stable key or external id and gets the decrypted credential
 * or a typed reason why not, every resolution audited — never the value) and
 * "test connection" (the connector's test request run with one value's
 * credentials, its outcome recorded on the value's status).
 */
export type { ResolveBy, RuntimeSubject };

export type Resolution =
  | {
      kind: 'RESOLVED';
      connection: ConnectionWithConnector;
      value: ConnectionValue;
      fields: Record<string, unknown>;
      secrets: Record<string, string>;
    }
  | { kind: 'NOT_FOUND'; reason: 'CONNECTION' | 'VALUE'; message: string; connection?: ConnectionWithConnector }
  | { kind: 'NOT_PERMITTED'; message: string; connection: ConnectionWithConnector }
  | { kind: 'EXPIRED'; message: string; connection: ConnectionWithConnector }
  | { kind: 'ERROR'; message: string; retryable: boolean; connection: ConnectionWithConnector }
  /** The credential is only used through the proxy: the connection is proxy-only, or the token is. */
  | { kind: 'PROXY_ONLY'; message: string; connection: ConnectionWithConnector };

/** Why a connection does not serve a credential. */
export type ResolutionProblem = Exclude<Resolution, { kind: 'RESOLVED' }>;

/** The value that serves a subject, before any refresh or decryption (the runtime path and the proxy). */
export interface Serving {
  kind: 'SERVING';
  connection: ConnectionWithConnector;
  value: ConnectionValue;
}

export async function resolveConnection(app: App, principal: RuntimePrincipal, by: ResolveBy): Promise<Resolution> {
  const result = await resolveUnaudited(app, principal, by);
  app.metrics.resolutions.inc({ outcome: result.kind });
  // A failed resolution is recorded too; a resolution changes nothing, so the row stands alone
  // (group-committed with concurrent ones, durable before the answer).
  const targetId = 'connection' in result && result.connection ? result.connection.id : null;
  const row = auditRow(principal, 'runtime', 'connection.resolve', 'Connection', targetId, {
    ...by,
    customerId: principal.customerId,
    ...(principal.instanceId ? { instanceId: principal.instanceId } : {}),
    ...(principal.workflowId ? { workflowId: principal.workflowId } : {}),
    outcome: result.kind,
    ...(result.kind === 'RESOLVED' ? { valueKind: result.value.kind } : {}),
  });
  // Repeated failures (a misconfigured step retrying) add to one row per token × connection × outcome × minute.
  await app.auditTrail.write(
    result.kind === 'RESOLVED' ? row : { ...row, aggregateKey: aggregateKey([principal.orgId, principal.id, targetId ?? JSON.stringify(by), result.kind]) },
  );
  return result;
}

/**
 * The value that serves `subject` for a connection — its customer's own, or
 * the global one — under every rule of runtime use (not archived, allow-list,
 * instance or workflow binding, `refuse` for the caller's own, the value's
 * status), or why not. One statement for the connection, its connector and
 * candidate values; one more for a bound token.
 */
export async function findServingValue(
  app: App,
  subject: RuntimeSubject,
  by: ResolveBy,
  refuse: (connection: ConnectionWithConnector) => ResolutionProblem | null = () => null,
): Promise<Serving | ResolutionProblem> {
  const prisma = app.db.prisma;
  const found = await findForRuntime(app.db, subject, by);
  if (!found) return { kind: 'NOT_FOUND', reason: 'CONNECTION', message: 'Connection not found' };
  const { values, allowances: _, ...connection } = found;

  const denied = await bindingDenial(prisma, subject, connection.id);
  if (denied) return { kind: 'NOT_PERMITTED', message: denied, connection };
  if (!allowListAdmits(found)) {
    return { kind: 'NOT_PERMITTED', message: 'The connection is not shared with this customer', connection };
  }
  const refused = refuse(connection);
  if (refused) return refused;

  const slot = servingSlot(connection, subject.customerId);
  const stored = values.find((v) => v.slot === slot);
  if (!stored) return { kind: 'NOT_FOUND', reason: 'VALUE', message: 'The connection has no credentials for this customer', connection };
  return statusAnswer(stored, connection) ?? { kind: 'SERVING', connection, value: stored };
}

/** A proxy-only token or connection never gets the credential itself. */
function proxyOnlyRefusal(principal: RuntimePrincipal, connection: ConnectionWithConnector): ResolutionProblem | null {
  if (principal.proxyOnly) return { kind: 'PROXY_ONLY', message: 'This runtime token is proxy-only: call the API through /proxy', connection };
  if (connection.proxyOnly) return { kind: 'PROXY_ONLY', message: "This connection's credential is only used through the proxy: call the API through /proxy", connection };
  return null;
}

async function resolveUnaudited(app: App, principal: RuntimePrincipal, by: ResolveBy): Promise<Resolution> {
  const serving = await findServingValue(app, principal, by, (connection) => proxyOnlyRefusal(principal, connection));
  if (serving.kind !== 'SERVING') return serving;
  const { connection, value: stored } = serving;

  const fresh = await freshValue(app, principal, connection, stored);
  if (fresh.kind === 'EXPIRED') return { kind: 'EXPIRED', message: fresh.message, connection };
  if (fresh.kind === 'ERROR') return { kind: 'ERROR', message: fresh.message, retryable: fresh.retryable, connection };
  return openedValue(app, connection, fresh.value);
}

/**
 * A value, fresh already, as a credential: its status checked, decrypted —
 * or why not. The runtime path and the drop-in routes (modules/dropin) share it.
 */
export function openedValue(app: App, connection: ConnectionWithConnector, value: ConnectionValue): Resolution {
  const after = statusAnswer(value, connection);
  if (after) return after;
  try {
    return { kind: 'RESOLVED', connection, value, ...openValue(app.config.keyRing, value) };
  } catch (err) {
    if (!(err instanceof CryptoError)) throw err;
    app.log.error({ valueId: value.id, reason: err.message }, 'credential cannot be decrypted');
    return {
      kind: 'ERROR',
      message: 'The credential cannot be decrypted by this gateway (its key is missing from ENCRYPTION_KEYS?)',
      retryable: false,
      connection,
    };
  }
}

export function statusAnswer(value: ConnectionValue, connection: ConnectionWithConnector): ResolutionProblem | null {
  switch (value.status) {
    case 'ACTIVE':
      return null;
    case 'PENDING':
      return { kind: 'NOT_FOUND', reason: 'VALUE', message: 'The connection is not activated for this customer yet', connection };
    case 'EXPIRED':
      return { kind: 'EXPIRED', message: value.lastError ?? 'The authorization expired; authorize again', connection };
    case 'ERROR':
      return { kind: 'ERROR', message: value.lastError ?? 'The credential is in error', retryable: false, connection };
  }
}

// ───────────────────────────── test connection ─────────────────────────────

/**
 * "Test connection": the connector's test request with one value's
 * credentials (`{{field}}` placeholders filled from its fields and secrets,
 * OAuth2 token refreshed first if due) under a time limit; the outcome is
 * recorded on the value's status (ACTIVE, or ERROR with the reason) and
 * audited. The request goes through the outbound policy (an internal address
 * is refused before anything is sent: NOT_ALLOWED); the response body is
 * never read back: it could echo secrets.
 */
export type TestFailure = 'TIMEOUT' | 'CONNECTION_REFUSED' | 'HOST_NOT_FOUND' | 'NETWORK' | 'NOT_ALLOWED' | 'UNEXPECTED_STATUS' | 'CREDENTIAL';

export interface TestOutcome {
  ok: boolean;
  failure: TestFailure | null;
  httpStatus: number | null;
  message: string;
  value: ConnectionValue;
}

export const DEFAULT_TEST_TIMEOUT_MS = 10_000;

const FAILURES: Record<OutboundFailure, TestFailure> = {
  not_allowed: 'NOT_ALLOWED',
  timeout: 'TIMEOUT',
  refused: 'CONNECTION_REFUSED',
  host_not_found: 'HOST_NOT_FOUND',
  too_large: 'NETWORK',
  invalid_url: 'NETWORK',
  network: 'NETWORK',
};

export async function testConnection(
  app: App,
  actor: Actor,
  target: { connection: ConnectionWithConnector; slot: Slot },
  timeoutMs: number,
): Promise<TestOutcome> {
  const { connection } = target;
  const value = await app.db.prisma.connectionValue.findUnique({
    where: { connectionId_slot: { connectionId: connection.id, slot: slotKey(target.slot) } },
  });
  if (!testRequestOf(connection.connector)) throw ValidationError.field('connectionId', 'the connector has no test request');
  if (!value) throw new NotFoundError('Connection value');
  const run = await runTestRequest(app, actor, connection, value, timeoutMs, 'graphql');
  // The outcome: the status (unless a refresh already set it) and the audit row, together.
  return write(app, actor, 'graphql', async (op) => {
    const v = run.statusSet
      ? await op.tx.connectionValue.findUniqueOrThrow({ where: { id: value.id } })
      : await setValueStatus(op, value.id, run.ok ? 'ACTIVE' : 'ERROR', run.ok ? null : run.message, 'connection.test');
    await op.audit('connection.test', 'ConnectionValue', v.id, { ok: run.ok, failure: run.failure, httpStatus: run.httpStatus });
    return { ok: run.ok, failure: run.failure, httpStatus: run.httpStatus, message: run.message, value: v };
  });
}

/** The connector's test request, when it has a valid one. */
export function testRequestOf(connector: Pick<ConnectionWithConnector['connector'], 'testRequest'>): TestRequest | null {
  if (!connector.testRequest) return null;
  const parsed = TestRequestSchema.safeParse(connector.testRequest);
  return parsed.success ? parsed.data : null;
}

/** What one run of the test request came to; `statusSet`: a token refresh it needed failed and already recorded the value's status. */
export interface TestRun {
  ok: boolean;
  failure: TestFailure | null;
  httpStatus: number | null;
  message: string;
  statusSet: boolean;
}

/**
 * Runs the connector's test request with one value (its OAuth2 token renewed
 * first when due) and says how it went, recording nothing itself: "test
 * connection" (above) and the scheduled checks (health/checks.ts) each
 * record the outcome their way.
 */
export async function runTestRequest(app: App, actor: Actor, connection: ConnectionWithConnector, stored: ConnectionValue, timeoutMs: number, via: Surface): Promise<TestRun> {
  const spec = testRequestOf(connection.connector);
  const failed = (failure: TestFailure, message: string, statusSet = false): TestRun => ({ ok: false, failure, httpStatus: null, message, statusSet });
  if (!spec) return failed('NETWORK', 'The connector has no valid test request');
  let value = stored;
  if (value.status !== 'EXPIRED') {
    const fresh = await freshValue(app, actor, connection, value, via);
    if (fresh.kind === 'ERROR' && fresh.unusable) return failed('CREDENTIAL', fresh.message);
    // Refresh outcomes already set EXPIRED/ERROR on the value.
    if (fresh.kind !== 'FRESH') return failed('CREDENTIAL', fresh.message, true);
    value = fresh.value;
  }

  let vars: Record<string, string>;
  let fields: Record<string, string>;
  try {
    const opened = openValue(app.config.keyRing, value);
    fields = templateVars(opened.fields);
    vars = { ...fields, ...opened.secrets };
  } catch (err) {
    if (!(err instanceof CryptoError)) throw err;
    return failed('CREDENTIAL', 'The credential cannot be decrypted by this gateway');
  }

  let url: URL;
  try {
    url = new URL(fillTemplate(spec.url, vars));
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('scheme');
  } catch {
    return failed('NETWORK', 'The test request URL is not a valid http(s) URL');
  }
  const headers = Object.fromEntries(Object.entries(spec.headers).map(([k, v]) => [k, fillTemplate(v, vars)]));
  let res;
  try {
    res = await app.outbound.request(url, {
      method: spec.method,
      headers,
      body: spec.body !== undefined && spec.method !== 'GET' && spec.method !== 'HEAD' ? fillTemplate(spec.body, vars) : undefined,
      timeoutMs,
    });
  } catch (err) {
    if (!(err instanceof OutboundError)) throw err;
    // Named from the template, never the filled URL (a secret may be in the host): the message is stored and sent on.
    return failed(FAILURES[err.reason], `Test request to ${templateHost(spec.url, fields)} failed: ${err.message}`);
  }
  const ok = spec.expectStatus?.length ? spec.expectStatus.includes(res.status) : res.status >= 200 && res.status < 300;
  return ok
    ? { ok: true, failure: null, httpStatus: res.status, message: `Test request succeeded (HTTP ${res.status})`, statusSet: false }
    : { ok: false, failure: 'UNEXPECTED_STATUS', httpStatus: res.status, message: `Test request answered HTTP ${res.status}`, statusSet: false };
}
