import { Transform, type Readable } from 'node:stream';
import type { App } from '../../app.js';
import { auditRow } from '../../audit.js';
import type { OrgPrincipal, RuntimePrincipal } from '../../auth/principal.js';
import { CryptoError } from '../../crypto/keyring.js';
import {
  ConflictError,
  CredentialError,
  DestinationNotAllowedError,
  DomainError,
  ForbiddenError,
  NotFoundError,
  PayloadTooLargeError,
  RateLimitedError,
  ServiceUnavailableError,
  UpstreamError,
  ValidationError,
} from '../../errors.js';
import type { ConnectionValue } from '../../generated/prisma/client.js';
import { OutboundError, type OutboundStreamResponse } from '../../outbound.js';
import { connectorFields, templateVars } from '../connectors/fields.js';
import type { ConnectionWithConnector } from '../connections/scope.js';
import { RENEWAL_WAIT_MS, renewNow, type RenewOutcome } from '../health/refresh.js';
import { needsRefresh } from '../oauth/service.js';
import { findServingValue, type ResolutionProblem, type RuntimeSubject, type Serving } from '../runtime/service.js';
import { openValue } from '../values/service.js';
import type { Admission } from './budget.js';
import { subjectOf } from './scope.js';
import { baseUrlFrom, injected, injectionOf, proxySettingsOf, type Injected, type ProxySettings } from './settings.js';

/**
 * The proxy: a runtime (or the vendor's backend, naming a customer) calls a
 * third-party API through the gateway, which adds the credential; the
 * credential never leaves it. Protocol-free: the route (rest/proxy.ts) maps
 * Nango's request shape onto a `ProxyCall`; other shapes can map onto it too.
 *
 * One call: whom it is for (scope.ts) → the value that serves them, under
 * every rule of runtime use (runtime/service.ts `findServingValue`; a
 * proxy-only connection or token is fine here) → a fresh OAuth2 token when
 * due (health/refresh.ts `renewNow`: one renewal per value across instances,
 * no transaction held across the provider call) → the connection's budget
 * (budget.ts: pause, slot, window; a bounded wait, then 429) → the request,
 * streamed through the outbound policy, with the credential injected
 * (settings.ts) → on a 401 with OAuth2, one renewal and one more attempt; on
 * 429/502/503/504 or a network failure of an idempotent method, retries with
 * exponential backoff and jitter (`Retries`, capped); an API's 429/503 with
 * Retry-After pauses the budget for everyone → redirects followed hop by hop,
 * the credential only to its own origin → the answer streamed back (size
 * capped), hop-by-hop headers and Set-Cookie left out. Audited like
 * resolutions (one row per caller × connection × outcome × minute) and
 * counted (metrics.ts), without a credential anywhere.
 */
export interface ProxyCall {
  method: string;
  /** The API path, as received after `/proxy` (starts with `/`; percent-escapes kept). */
  path: string;
  /** The query string as received, without `?`. */
  query: string;
  /** Headers for the API (the route chose them: never the caller's Authorization or the gateway's own). */
  headers: Record<string, string | string[]>;
  body: RequestBody | null;
  /** The connection's stable key (`Provider-Config-Key`). */
  providerConfigKey: string;
  /** The customer's external id (`Connection-Id`): required for an organization principal, checked for a runtime token. */
  connectionId: string | null;
  /** Retries asked for (`Retries`). */
  retries: number;
  /** `Base-Url-Override`. */
  baseUrlOverride: string | null;
  /** Aborted by the route when the caller goes away, and here when the call passes PROXY_MAX_DURATION_MS. */
  controller: AbortController;
}

/** A request body: bytes that can be sent again (a retry), or a stream that can be sent once. */
export type RequestBody = { kind: 'buffer'; bytes: Buffer } | { kind: 'stream'; stream: Readable; /** It passed PROXY_MAX_REQUEST_BYTES while being sent. */ overflowed(): boolean };

export interface ProxyAnswer {
  status: number;
  /** For the caller: hop-by-hop headers and Set-Cookie removed. */
  headers: Record<string, string | string[]>;
  /** The API's body, unread and undecoded, cut when it passes PROXY_MAX_RESPONSE_BYTES. */
  body: Readable;
  /** Call once the body was sent or abandoned: gives back the budget's slot. */
  finish(completed: boolean): Promise<void>;
}

export type ProxyPrincipal = RuntimePrincipal | OrgPrincipal;

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);
const RETRY_STATUSES = new Set([429, 502, 503, 504]);
const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 5;
const BACKOFF_BASE_MS = 200;
const BACKOFF_CAP_MS = 10_000;

/** Response headers that describe one connection, not the message (RFC 9110 §7.6.1), and cookies the API would set on the gateway's origin. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection', 'te', 'trailer', 'trailers', 'transfer-encoding', 'upgrade', 'set-cookie']);
/** Request headers that never follow a redirect to another origin (as browsers do). */
const CROSS_ORIGIN_DROPPED = new Set(['authorization', 'cookie', 'proxy-authorization']);

export async function proxyCall(app: App, principal: ProxyPrincipal, call: ProxyCall): Promise<ProxyAnswer> {
  const record = recorder(app, principal, call.providerConfigKey);
  const limit = callLimit(call.controller, app.config.proxy.maxDurationMs);
  try {
    const answer = await forward(app, principal, call, record, call.controller.signal);
    return {
      ...answer,
      async finish(completed) {
        limit.end();
        await answer.finish(completed);
      },
    };
  } catch (err) {
    limit.end();
    const known = timedOut(err, app.config.proxy.maxDurationMs) ?? err;
    await record.refused(known);
    throw known;
  }
}

/**
 * The call's time limit: its controller aborted when PROXY_MAX_DURATION_MS
 * has passed; `end` once the call is over. One timer on the route's own
 * controller: a second controller following the first (or
 * `AbortSignal.any` with `AbortSignal.timeout`) cost a measurable share of a
 * call's CPU.
 */
function callLimit(controller: AbortController, ms: number): { end(): void } {
  const timer = setTimeout(() => controller.abort(new DOMException('The call took longer than PROXY_MAX_DURATION_MS', 'TimeoutError')), ms);
  timer.unref();
  return { end: () => clearTimeout(timer) };
}

/** The call's own time limit (PROXY_MAX_DURATION_MS), or the caller gone, while it waited: a timeout. */
function timedOut(err: unknown, maxDurationMs: number): DomainError | null {
  const name = (err as { name?: string } | null)?.name;
  if (name !== 'TimeoutError' && name !== 'AbortError') return null;
  return new UpstreamError('UPSTREAM_TIMEOUT', `The call took longer than PROXY_MAX_DURATION_MS (${maxDurationMs} ms)`, true);
}

interface Recorder {
  connection: ConnectionWithConnector | null;
  customerId: string | null;
  connector(): string;
  refused(err: unknown): Promise<void>;
  answered(status: number): Promise<void>;
}

/** Audit rows and metrics of one call: one outcome, recorded once. */
function recorder(app: App, principal: ProxyPrincipal, stableKey: string): Recorder {
  let done = false;
  const r: Recorder = {
    connection: null,
    customerId: null,
    connector: () => r.connection?.connector.key ?? 'unknown',
    async refused(err) {
      await write(outcomeOfError(err));
    },
    async answered(status) {
      await write(`HTTP_${Math.floor(status / 100)}XX`);
    },
  };
  async function write(outcome: string): Promise<void> {
    if (done) return;
    done = true;
    app.metrics.proxyRequests.inc({ connector: r.connector(), outcome });
    const targetId = r.connection?.id ?? null;
    // Counted in memory and written in groups (audit.ts UsageAudit): the credential never left the gateway, so the answer need not wait.
    app.usageAudit.count([principal.orgId, principal.id, targetId ?? stableKey, outcome], () =>
      auditRow(principal, 'proxy', 'connection.proxy', 'Connection', targetId, {
        stableKey,
        ...(r.customerId ? { customerId: r.customerId } : {}),
        outcome,
      }),
    );
  }
  return r;
}

function outcomeOfError(err: unknown): string {
  if (!(err instanceof DomainError)) return 'ERROR';
  switch (err.code) {
    case 'NOT_FOUND':
      return 'NOT_FOUND';
    case 'FORBIDDEN':
      return 'NOT_PERMITTED';
    case 'CREDENTIAL_EXPIRED':
      return 'EXPIRED';
    case 'RATE_LIMITED':
      return 'RATE_LIMITED';
    case 'DESTINATION_NOT_ALLOWED':
      return 'NOT_ALLOWED';
    case 'UPSTREAM_FAILED':
    case 'UPSTREAM_TIMEOUT':
      return err.code;
    case 'VALIDATION_FAILED':
    case 'PAYLOAD_TOO_LARGE':
      return 'INVALID';
    default:
      return 'ERROR';
  }
}

/** A resolution problem as the proxy answers it. */
function refusalOf(p: ResolutionProblem): DomainError {
  switch (p.kind) {
    case 'NOT_FOUND':
      return new NotFoundError(p.reason === 'CONNECTION' ? 'Connection' : 'Connection value');
    case 'NOT_PERMITTED':
      return new ForbiddenError(p.message);
    case 'EXPIRED':
      return new CredentialError('CREDENTIAL_EXPIRED', p.message);
    case 'ERROR':
      return p.retryable ? new ServiceUnavailableError(p.message) : new CredentialError('CREDENTIAL_ERROR', p.message);
    case 'PROXY_ONLY':
      // Never produced for the proxy (no refusal is passed); kept total.
      return new ForbiddenError(p.message);
  }
}

function renewalRefusal(r: Exclude<RenewOutcome, { kind: 'FRESH' }>): DomainError {
  return r.kind === 'EXPIRED'
    ? new CredentialError('CREDENTIAL_EXPIRED', r.message)
    : r.retryable
      ? new ServiceUnavailableError(r.message)
      : new CredentialError('CREDENTIAL_ERROR', r.message);
}

/**
 * What a call for (subject, stable key) needs before it sends anything: the
 * serving value (or why none), the connector's parsed proxy settings and how
 * the credential goes in, and — once a call opened it — the credential and
 * the base URL it makes. Kept by the proxy's cache (cache.ts): any change of
 * the organization drops it on every instance before the change answers;
 * the credential is kept only for the value row it was opened from.
 */
interface Plan {
  serving: Serving | ResolutionProblem;
  settings: ProxySettings | null;
  inject: Injection | null;
  /** Filled by the first call that opens the serving value. */
  opened?: { credential: Opened; base: URL };
}

type Injection = NonNullable<ReturnType<typeof injectionOf>>;

async function planFor(app: App, subject: RuntimeSubject, stableKey: string): Promise<Plan> {
  const { orgId } = subject;
  const key = `plan:${orgId}:${subject.customerId}:${subject.instanceId ?? ''}:${subject.workflowId ?? ''}:${stableKey}`;
  return app.proxyCache.load(orgId, key, async () => {
    const serving = await findServingValue(app, subject, { stableKey });
    const settings = serving.kind === 'SERVING' ? proxySettingsOf(serving.connection.connector) : null;
    const inject = serving.kind === 'SERVING' && settings ? injectionOf(settings, serving.connection.connector.authType, connectorFields(serving.connection.connector)) : null;
    return { orgId, value: { serving, settings, inject } };
  });
}

async function forward(app: App, principal: ProxyPrincipal, call: ProxyCall, record: Recorder, signal: AbortSignal): Promise<ProxyAnswer> {
  const { config } = app;
  const subject: RuntimeSubject = await subjectOf(app, principal, call.connectionId);
  record.customerId = subject.customerId;
  const plan = await planFor(app, subject, call.providerConfigKey);
  const serving = plan.serving;
  if (serving.kind !== 'SERVING') {
    if ('connection' in serving && serving.connection) record.connection = serving.connection;
    throw refusalOf(serving);
  }
  const { connection } = serving;
  record.connection = connection;
  const { settings, inject } = plan;
  if (!settings) throw new ConflictError(`The connector "${connection.connector.key}" has no proxy settings (set \`proxy\` on the connector)`);
  if (!inject) throw new ConflictError(`The connector "${connection.connector.key}" does not say how the proxy sends its credential (proxy.inject)`);
  const oauth = connection.connector.authType === 'OAUTH2';
  const deadline = Date.now() + config.proxy.maxDurationMs;

  /** A value's credential opened, and the base URL its fields make. */
  const opening = (v: ConnectionValue) => {
    const opened = open(app, v, inject);
    return { credential: opened, base: baseUrlOf(settings, opened.fields) };
  };
  let value = serving.value;
  const renewFirst = oauth && needsRefresh(value);
  if (renewFirst) value = await renewed(app, principal, value, false);
  // Opened once per value row kept (a renewal or any other write drops the plan, and with it the opened credential); a value just renewed, for this call.
  const first = renewFirst ? opening(value) : (plan.opened ??= opening(value));
  const { base } = first;
  let { credential } = first;
  const origin = await originFor(app, principal, base, call.baseUrlOverride);
  const target = targetUrl(origin, call.path, call.query);

  // The budget: one per value by default, or one for the whole connection.
  const limits = settings.rateLimit ?? null;
  const budgetKey = limits?.per === 'CONNECTION' ? `c:${connection.id}` : `v:${value.id}`;
  const maxWaitMs = Math.min(limits?.maxWaitMs ?? config.proxy.maxWaitMs, config.proxy.maxWaitMs);
  const connector = record.connector();
  let admission: Admission;
  try {
    admission = await app.proxyBudgets.admit(budgetKey, limits, maxWaitMs, signal);
  } catch (err) {
    if (err instanceof RateLimitedError) app.metrics.proxyRateLimited.inc({ connector, source: 'gateway' });
    throw err;
  }
  app.metrics.proxyRateLimitWait.observe({ connector }, admission.waitedMs / 1000);

  const replayable = call.body === null || call.body.kind === 'buffer';
  const retries = IDEMPOTENT.has(call.method) && replayable ? Math.min(Math.max(0, call.retries), config.proxy.maxRetries) : 0;
  let attempt = 0;
  let renewedAfter401 = false;
  try {
    for (;;) {
      let res: OutboundStreamResponse;
      try {
        res = await send(app, { method: call.method, url: target, headers: call.headers, body: call.body, credential: credential.injected, origin: origin.origin, signal, connector });
      } catch (err) {
        if (call.body?.kind === 'stream' && call.body.overflowed()) throw new PayloadTooLargeError(config.proxy.maxRequestBytes);
        const failure = upstreamFailure(err, config.proxy.timeoutMs);
        if (failure instanceof UpstreamError && failure.retryable && attempt < retries && !signal.aborted) {
          const delay = backoff(attempt);
          if (Date.now() + delay < deadline) {
            app.metrics.proxyRetries.inc({ connector, reason: 'network' });
            attempt++;
            await sleep(delay, signal);
            await app.proxyBudgets.again(budgetKey, limits, maxWaitMs, signal);
            continue;
          }
        }
        throw failure;
      }

      // The API refused the token: renew it once (one renewal per value across instances) and try once more.
      if (res.status === 401 && oauth && !renewedAfter401) {
        renewedAfter401 = true;
        if (replayable) {
          discard(res.body);
          value = await renewed(app, principal, value, true);
          credential = open(app, value, inject);
          app.metrics.proxyRetries.inc({ connector, reason: 'unauthorized' });
          await app.proxyBudgets.again(budgetKey, limits, maxWaitMs, signal);
          continue;
        }
        // A streamed body cannot be sent again: the caller gets the 401, the next call the new token.
        void renewed(app, principal, value, true).catch(() => {});
      }

      const retryAfter = retryAfterSeconds(res.headers['retry-after']);
      if ((res.status === 429 || res.status === 503) && retryAfter !== null) await app.proxyBudgets.pause(budgetKey, retryAfter);
      if (res.status === 429) app.metrics.proxyRateLimited.inc({ connector, source: 'upstream' });
      if (RETRY_STATUSES.has(res.status) && attempt < retries) {
        const delay = Math.max(backoff(attempt), (retryAfter ?? 0) * 1000);
        if (Date.now() + delay < deadline) {
          discard(res.body);
          app.metrics.proxyRetries.inc({ connector, reason: 'status' });
          attempt++;
          await sleep(delay, signal);
          await app.proxyBudgets.again(budgetKey, limits, maxWaitMs, signal);
          continue;
        }
      }
      const max = config.proxy.maxResponseBytes;
      const declared = Number(res.headers['content-length']);
      if (Number.isFinite(declared) && declared > max) {
        discard(res.body);
        throw new UpstreamError('UPSTREAM_FAILED', `The API answered ${declared} bytes, more than PROXY_MAX_RESPONSE_BYTES (${max})`, false);
      }
      await record.answered(res.status);
      return answer(app, res, admission);
    }
  } catch (err) {
    admission.release();
    throw err;
  }
}

/** The value's token renewed now (or what another instance just renewed), or the refusal it came to. */
async function renewed(app: App, principal: ProxyPrincipal, value: ConnectionValue, rejected: boolean): Promise<ConnectionValue> {
  let r: RenewOutcome;
  try {
    r = await renewNow(app, principal, value, { rejected, waitMs: RENEWAL_WAIT_MS });
  } catch (err) {
    if (err instanceof CryptoError || err instanceof ValidationError) throw new CredentialError('CREDENTIAL_ERROR', "The connector's OAuth2 client cannot be used to refresh the token");
    throw err;
  }
  if (r.kind !== 'FRESH') throw renewalRefusal(r);
  return r.value;
}

interface Opened {
  fields: Record<string, string>;
  injected: Injected;
}

function open(app: App, value: ConnectionValue, inject: Injection): Opened {
  let opened;
  try {
    opened = openValue(app.config.keyRing, value);
  } catch (err) {
    if (!(err instanceof CryptoError)) throw err;
    app.log.error({ valueId: value.id, reason: err.message }, 'credential cannot be decrypted');
    throw new CredentialError('CREDENTIAL_ERROR', 'The credential cannot be decrypted by this gateway (its key is missing from ENCRYPTION_KEYS?)');
  }
  const fields = templateVars(opened.fields);
  const made = injected(inject, { ...fields, ...opened.secrets });
  if (!made) throw new CredentialError('CREDENTIAL_ERROR', 'A credential value cannot be sent in an HTTP header (it holds a line break)');
  return { fields, injected: made };
}

function baseUrlOf(settings: ProxySettings, fields: Record<string, string>): URL {
  const base = baseUrlFrom(settings.baseUrl, fields);
  if (!base) throw new CredentialError('CREDENTIAL_ERROR', "The connection's fields do not make the API's base URL (a field is missing or not a URL)");
  return base;
}

/** The base URL a call goes to: the connection's, or a `Base-Url-Override` to the same origin (any other only when the organization allows it). */
async function originFor(app: App, principal: ProxyPrincipal, base: URL, override: string | null): Promise<URL> {
  if (!override) return base;
  let url: URL;
  try {
    url = new URL(override);
  } catch {
    throw ValidationError.field('headers.Base-Url-Override', 'must be an http(s) URL');
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.username || url.password) {
    throw ValidationError.field('headers.Base-Url-Override', 'must be an http(s) URL without user info');
  }
  url.search = '';
  url.hash = '';
  if (url.origin === base.origin) return url;
  // Read each time (not kept by the proxy's cache): only calls that send another origin come here.
  const org = await app.db.prisma.organization.findUnique({ where: { id: principal.orgId }, select: { allowProxyBaseUrlOverride: true } });
  if (!org?.allowProxyBaseUrlOverride) {
    throw new ForbiddenError(`Base-Url-Override may only name the connection's own origin (${base.origin}) unless the organization allows others (allowProxyBaseUrlOverride)`);
  }
  return url;
}

/** The API URL of a call: the base URL's path, then the call's path — which may not climb out of it — and query. */
function targetUrl(base: URL, path: string, query: string): URL {
  const prefix = base.pathname.replace(/\/+$/, '');
  let url: URL;
  try {
    url = new URL(`${base.origin}${prefix}${path.startsWith('/') ? path : `/${path}`}${query ? `?${query}` : ''}`);
  } catch {
    throw ValidationError.field('path', 'does not make a URL');
  }
  if (url.origin !== base.origin || (url.pathname !== prefix && !url.pathname.startsWith(`${prefix}/`))) {
    throw ValidationError.field('path', "leaves the connection's base URL");
  }
  return url;
}

interface Sending {
  method: string;
  url: URL;
  headers: Record<string, string | string[]>;
  body: RequestBody | null;
  credential: Injected;
  /** The origin the credential belongs to. */
  origin: string;
  signal: AbortSignal;
  connector: string;
}

/**
 * One attempt, redirects included: each hop through the outbound policy; the
 * credential (its headers and query parameters) only to its own origin; on
 * another origin, neither the credential nor the caller's Authorization or
 * cookies. 303 (and 301/302 after anything but GET/HEAD) continue as GET
 * without a body; 307/308 keep the method and body when it can be sent again.
 */
async function send(app: App, s: Sending): Promise<OutboundStreamResponse> {
  const { config } = app;
  let method = s.method;
  let body = s.body;
  let url = s.url;
  for (let hop = 0; ; hop++) {
    const own = url.origin === s.origin;
    const target = new URL(url);
    const headers: Record<string, string | string[]> = {};
    for (const [name, v] of Object.entries(s.headers)) {
      if (own && name in s.credential.headers) continue;
      if (!own && CROSS_ORIGIN_DROPPED.has(name)) continue;
      if (body === null && (name === 'content-type' || name === 'content-length')) continue;
      headers[name] = v;
    }
    for (const name of Object.keys(s.credential.query)) target.searchParams.delete(name);
    if (own) {
      Object.assign(headers, s.credential.headers);
      for (const [k, v] of Object.entries(s.credential.query)) target.searchParams.append(k, v);
    }
    const started = performance.now();
    const res = await app.outbound.stream(target, {
      method,
      headers,
      body: body === null ? null : body.kind === 'buffer' ? body.bytes : body.stream,
      headersTimeoutMs: config.proxy.timeoutMs,
      bodyTimeoutMs: config.proxy.timeoutMs,
      signal: s.signal,
    });
    app.metrics.proxyUpstreamDuration.observe({ connector: s.connector }, (performance.now() - started) / 1000);
    const location = res.headers.location;
    if (!REDIRECTS.has(res.status) || typeof location !== 'string' || hop >= MAX_REDIRECTS) return res;
    let next: URL;
    try {
      next = new URL(location, target);
    } catch {
      return res;
    }
    if (next.protocol !== 'http:' && next.protocol !== 'https:') return res;
    const toGet = res.status === 303 || ((res.status === 301 || res.status === 302) && method !== 'GET' && method !== 'HEAD');
    if (!toGet && body?.kind === 'stream') return res;
    discard(res.body);
    if (toGet) {
      method = method === 'HEAD' ? 'HEAD' : 'GET';
      body = null;
    }
    url = next;
  }
}

function upstreamFailure(err: unknown, timeoutMs: number): unknown {
  if (err instanceof PayloadTooLargeError) return err;
  if (!(err instanceof OutboundError)) return err;
  switch (err.reason) {
    case 'not_allowed':
      return new DestinationNotAllowedError("The API's address is refused by the gateway's outbound policy (loopback, private, link-local and metadata addresses are, unless OUTBOUND_ALLOWED_NETWORKS names them): nothing was sent");
    case 'invalid_url':
      return ValidationError.field('path', 'does not make an http(s) URL');
    case 'timeout':
      return new UpstreamError('UPSTREAM_TIMEOUT', `The API did not answer within ${timeoutMs} ms`, true);
    case 'host_not_found':
      return new UpstreamError('UPSTREAM_FAILED', "The API's host name does not resolve", true);
    case 'refused':
      return new UpstreamError('UPSTREAM_FAILED', 'The API refused the connection', true);
    default:
      return new UpstreamError('UPSTREAM_FAILED', `The API could not be reached (${err.message})`, true);
  }
}

/** The answer for the caller: the API's status and body, its headers but hop-by-hop ones and cookies; the size cap on the way. */
function answer(app: App, res: OutboundStreamResponse, admission: Admission): ProxyAnswer {
  const max = app.config.proxy.maxResponseBytes;
  const listed = new Set(
    String(res.headers.connection ?? '')
      .split(',')
      .map((h) => h.trim().toLowerCase())
      .filter(Boolean),
  );
  const headers: Record<string, string | string[]> = {};
  for (const [name, v] of Object.entries(res.headers)) {
    if (v === undefined || HOP_BY_HOP.has(name) || listed.has(name)) continue;
    headers[name] = v;
  }
  let finished = false;
  // Whoever sends the body on watches it while sending; an error after that (the caller gone, the rest discarded) concerns nobody.
  res.body.on('error', () => {});
  // A declared length within the cap is the body's length (the HTTP parser delivers no more): nothing to count.
  const declared = Number(res.headers['content-length']);
  const body = Number.isFinite(declared) && declared <= max ? res.body : capped(res.body, max);
  return {
    status: res.status,
    headers,
    body,
    async finish(completed) {
      if (finished) return;
      finished = true;
      admission.release();
      if (!completed) {
        discard(res.body);
        if (body !== res.body) body.destroy();
      }
    },
  };
}

/** The body, cut with an error when it passes `max` bytes (an answer of undeclared length). */
function capped(source: Readable, max: number): Readable {
  let size = 0;
  const out = new Transform({
    transform(chunk: Buffer, _enc, done) {
      size += chunk.length;
      if (size > max) return done(new UpstreamError('UPSTREAM_FAILED', `The API's answer passed PROXY_MAX_RESPONSE_BYTES (${max})`, false));
      done(null, chunk);
    },
  });
  source.on('error', (err) => out.destroy(err));
  out.on('error', () => {});
  source.pipe(out);
  return out;
}

/** An answer not passed on: its connection is let go (a destroyed body reports an abort nobody needs to hear). */
function discard(body: Readable): void {
  body.on('error', () => {});
  body.destroy();
}

/** `Retry-After` in seconds (delta-seconds or an HTTP date), or null. */
export function retryAfterSeconds(v: string | string[] | undefined): number | null {
  const s = Array.isArray(v) ? v[0] : v;
  if (!s) return null;
  if (/^\d+$/.test(s.trim())) return Number(s.trim());
  const at = Date.parse(s);
  return Number.isFinite(at) ? Math.max(0, Math.ceil((at - Date.now()) / 1000)) : null;
}

/** Exponential backoff with jitter: half the step fixed, half random. */
function backoff(attempt: number): number {
  const step = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** attempt);
  return step / 2 + Math.random() * (step / 2);
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
