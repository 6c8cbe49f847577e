import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { z } from 'zod';
import { CryptoError, KeyRing, newKeySpec, parseKeyRing } from './crypto/keyring.js';
import { parseNetworks, type Network } from './outbound.js';

/**
 * Environment, validated once at start. A bad variable stops the process with
 * a message naming it; nothing else reads process.env.
 */
const port = z.coerce.number().int().min(0).max(65535);
const url = (protocols: string[]) =>
  z
    .string()
    .url()
    .refine((v) => protocols.some((p) => v.startsWith(p)), {
      message: `must start with ${protocols.join(' or ')}`,
    });

/** A switch: true/false/1/0; unset takes the mode's default. */
const flag = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1').optional();
const list = (item: z.ZodType<string>, name: string) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      const items = (v ?? '').split(',').map((s) => s.trim()).filter(Boolean);
      for (const i of items) if (!item.safeParse(i).success) ctx.addIssue({ code: 'custom', message: `"${i}" is not ${name}` });
      return items;
    });
const origin = z.string().refine((v) => {
  try {
    const u = new URL(v);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.origin === v;
  } catch {
    return false;
  }
});
const network = z.string().refine((v) => {
  try {
    return parseNetworks(v).length === 1;
  } catch {
    return false;
  }
});

const EnvSchema = z.object({
  /** `production` turns off what helps a developer and helps an attacker as much (GraphiQL, anonymous introspection, suggestions). */
  NODE_ENV: z.string().optional(),
  PORT: port.default(4000),
  HOST: z.string().min(1).default('0.0.0.0'),
  DATABASE_URL: url(['postgres://', 'postgresql://']).optional(),
  DATA_DIR: z.string().min(1).default('./.data'),
  REDIS_URL: url(['redis://', 'rediss://']).optional(),
  /** Secret that signs the gateway's own tokens (org users, runtime). ≥ 32 chars. */
  AUTH_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  /** Key ring for secrets at rest: `id:base64key[,id:base64key…]`, first is primary. */
  ENCRYPTION_KEYS: z.string().min(1).optional(),
  /** Base URL the gateway is reached at from browsers (OAuth2 callbacks). */
  PUBLIC_URL: url(['http://', 'https://']).optional(),
  LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error', 'silent']).default('info'),
  /** Retention of live-feed events, in hours. */
  FEED_RETENTION_HOURS: z.coerce.number().positive().default(24 * 7),
  /** Retention of audit rows, in days (each instance prunes hourly). */
  AUDIT_RETENTION_DAYS: z.coerce.number().positive().default(365),
  /** How often each instance checks the feed table for events it was not woken for (ms); faster while Redis is down. */
  FEED_POLL_MS: z.coerce.number().int().min(50).default(1000),
  /**
   * How often open subscriptions' credentials are checked again (ms). A revocation through the API ends its
   * subscriptions on every instance before it answers; this catches the ones no instance could be told of
   * (an instance Redis did not reach, a revocation by the admin CLI).
   */
  CREDENTIAL_RECHECK_MS: z.coerce.number().int().min(100).default(2000),
  /** Maximum GraphQL query depth. */
  MAX_DEPTH: z.coerce.number().int().positive().default(12),
  /** Maximum GraphQL query complexity (1 per field, × 10 under each list). */
  MAX_COMPLEXITY: z.coerce.number().int().positive().default(5000),
  /** Largest request body on every HTTP route (bytes); larger ones are refused with 413. */
  MAX_BODY_BYTES: z.coerce.number().int().min(1024).default(1_048_576),
  /** Most lexical tokens a GraphQL document may have: counted while parsing, before anything is cached. */
  MAX_TOKENS: z.coerce.number().int().min(100).default(3000),
  /** Most aliases (`__typename` included) in one GraphQL operation. */
  MAX_ALIASES: z.coerce.number().int().min(1).default(30),
  /** Most directives in one GraphQL operation. */
  MAX_DIRECTIVES: z.coerce.number().int().min(1).default(50),
  /** Memory for parsed documents and parse errors together (bytes, estimated), least recently used first out. */
  DOCUMENT_CACHE_BYTES: z.coerce.number().int().min(0).default(32 * 1_048_576),
  /** Most operations (subscriptions, in-flight queries) running at once on one WebSocket. */
  WS_MAX_SUBSCRIPTIONS: z.coerce.number().int().min(1).default(100),
  /** Largest WebSocket message (bytes); a larger one closes the socket (1009). */
  WS_MAX_MESSAGE_BYTES: z.coerce.number().int().min(1024).default(262_144),
  /** Messages one WebSocket may send per second (bursts of twice that); more close it (4429). */
  WS_MESSAGES_PER_SECOND: z.coerce.number().positive().default(50),
  /** Rate limits (per principal, per address for anonymous callers). Only a test suite turns them off. */
  RATE_LIMITS: z.enum(['on', 'off']).default('on'),
  /** Requests and WebSocket operations per minute for one credential (a principal's token or API key). */
  RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(1).default(6000),
  /** Requests and WebSocket operations per minute for one address without a credential. */
  RATE_LIMIT_ANONYMOUS_PER_MINUTE: z.coerce.number().int().min(1).default(600),
  /** On SIGTERM/SIGINT: how long in-flight requests may take to finish before their connections are closed (seconds). */
  SHUTDOWN_TIMEOUT: z.coerce.number().positive().max(3600).default(10),
  /** Seed a demo organization on the first start of an empty embedded database. */
  SEED_DEMO: z.enum(['true', 'false', '1', '0']).default('true'),
  /** Log lines as JSON (production) or readable (development). Default: readable on a terminal, JSON otherwise. */
  LOG_FORMAT: z.enum(['json', 'pretty']).optional(),
  /** OpenTelemetry's standard variables: tracing is on when an OTLP endpoint is set. */
  OTEL_EXPORTER_OTLP_ENDPOINT: url(['http://', 'https://']).optional(),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: url(['http://', 'https://']).optional(),
  OTEL_SERVICE_NAME: z.string().min(1).default('connections-gateway'),
  OTEL_TRACES_EXPORTER: z.enum(['otlp', 'none']).optional(),
  OTEL_SDK_DISABLED: z.enum(['true', 'false']).optional(),
  /** OpenID Connect sign-in of org users (all three, or none). */
  OIDC_ISSUER: url(['http://', 'https://']).optional(),
  OIDC_CLIENT_ID: z.string().min(1).optional(),
  OIDC_CLIENT_SECRET: z.string().min(1).optional(),
  /** Sign in only accounts whose provider says `email_verified: true` (a missing claim is refused). Default on; `false` admits a missing claim, never `false`. */
  OIDC_REQUIRE_EMAIL_VERIFIED: flag,
  /** Where the browser goes after signing in, with the token in the URL fragment. Unset: a page shows the token. */
  ADMIN_UI_URL: url(['http://', 'https://']).optional(),
  /** Browser origins allowed to call the gateway cross-origin (`https://app.example.com,…`); none by default. */
  CORS_ORIGINS: list(origin, 'an origin (scheme://host[:port])'),
  /** GraphiQL on GET /graphql from a browser. Default: on, off in production. */
  GRAPHIQL: flag,
  /** Introspection without a credential. Default: allowed, refused in production. */
  ANONYMOUS_INTROSPECTION: flag,
  /** Hot list queries (customers, connections, values) answered in one SQL statement. Default on; `false` runs them through the resolvers (the same answer, slower). */
  LIST_READS: flag,
  /** "Did you mean …?" in validation errors. Default: on, off in production. */
  FIELD_SUGGESTIONS: flag,
  /** Networks the gateway may send requests to although they are not public (on-premise targets): CIDRs or addresses, comma-separated. */
  OUTBOUND_ALLOWED_NETWORKS: list(network, 'a CIDR range or an IP address'),
  /** Connection health workers (webhook delivery, background refresh, scheduled checks) in this process. Default on. */
  HEALTH_WORKERS: flag,
  /** How often the webhook worker looks for due deliveries it was not woken for (ms). */
  WEBHOOK_POLL_MS: z.coerce.number().int().min(10).default(1000),
  /** First retry delay of a failed delivery (ms); doubles per attempt, up to an hour, for 24 hours. */
  WEBHOOK_RETRY_BASE_MS: z.coerce.number().int().min(1).default(5000),
  /** An endpoint failing without a single success for this long is disabled (ms). */
  WEBHOOK_DISABLE_AFTER_MS: z.coerce.number().int().min(1).default(24 * 3600_000),
  /** OAuth2 tokens expiring within this margin are refreshed in the background (ms). */
  HEALTH_REFRESH_MARGIN_MS: z.coerce.number().int().min(1000).default(15 * 60_000),
  /** How often each instance looks for tokens due for a background refresh (ms). */
  HEALTH_REFRESH_POLL_MS: z.coerce.number().int().min(10).default(60_000),
  /** Scheduled checks: how often each instance looks for values due for one (ms). */
  HEALTH_CHECK_POLL_MS: z.coerce.number().int().min(10).default(60_000),
  /** Scheduled checks: the interval of a connector that names none (its test request's `checkIntervalSeconds`) (ms). */
  HEALTH_CHECK_INTERVAL_MS: z.coerce.number().int().min(10).default(3_600_000),
  /** Scheduled checks: bounds every connector's interval is held within (ms). */
  HEALTH_CHECK_MIN_INTERVAL_MS: z.coerce.number().int().min(10).default(300_000),
  HEALTH_CHECK_MAX_INTERVAL_MS: z.coerce.number().int().min(10).default(86_400_000),
  /** Scheduled checks: consecutive failures before a value is set to ERROR (an API answering with an unexpected status counts at once). */
  HEALTH_CHECK_ERROR_AFTER: z.coerce.number().int().min(1).max(100).default(2),
  /** Scheduled checks: the first retry after a failure (ms); doubles per consecutive failure, up to the interval. */
  HEALTH_CHECK_RETRY_BASE_MS: z.coerce.number().int().min(10).default(60_000),
  /** Time limit of one delivery attempt (ms). */
  WEBHOOK_TIMEOUT_MS: z.coerce.number().int().min(100).default(10_000),
  /** Proxy: largest request body forwarded to an API (bytes), streamed; larger: 413. */
  PROXY_MAX_REQUEST_BYTES: z.coerce.number().int().min(1024).default(10 * 1_048_576),
  /** Proxy: largest response body passed back (bytes), streamed; larger: 502 (declared) or the transfer is cut. */
  PROXY_MAX_RESPONSE_BYTES: z.coerce.number().int().min(1024).default(100 * 1_048_576),
  /** Proxy: time an API has to answer (its response headers) and to send each next part of the body (ms). */
  PROXY_TIMEOUT_MS: z.coerce.number().int().min(100).default(30_000),
  /** Proxy: the longest one call may take, retries and body included (ms). */
  PROXY_MAX_DURATION_MS: z.coerce.number().int().min(1000).default(300_000),
  /** Proxy: most retries a call may ask for with `Retries` (idempotent methods only). */
  PROXY_MAX_RETRIES: z.coerce.number().int().min(0).max(20).default(5),
  /** Proxy: the longest a call waits for its connection's rate limit before a 429 (ms); a connector may ask for less. */
  PROXY_MAX_WAIT_MS: z.coerce.number().int().min(0).default(10_000),
  /** What the proxy keeps per instance (who a credential is, which value serves whom, the opened credential): at most this many entries… */
  PROXY_CACHE_ENTRIES: z.coerce.number().int().min(0).default(10_000),
  /** …each for at most this long (a change is announced to every instance before it answers; this bounds one that could not be told). 0 turns the cache off. */
  PROXY_CACHE_TTL_MS: z.coerce.number().int().min(0).default(2_000),
  /** Proxy calls' audit counts are written at least this often (ms), before any read of the audit log on the instance, and when it stops. */
  PROXY_AUDIT_FLUSH_MS: z.coerce.number().int().min(10).max(60_000).default(1_000),
});

export type Env = z.infer<typeof EnvSchema>;

export interface Config {
  port: number;
  host: string;
  /** 'postgres' when DATABASE_URL is set, else the embedded PGlite in dataDir. */
  database: { kind: 'postgres'; url: string } | { kind: 'pglite'; dataDir: string };
  dataDir: string;
  redisUrl: string | undefined;
  authSecret: string;
  /** Keys that encrypt secrets at rest; the first is primary. */
  keyRing: KeyRing;
  publicUrl: string;
  logLevel: Env['LOG_LEVEL'];
  feedRetentionHours: number;
  auditRetentionDays: number;
  feedPollMs: number;
  credentialRecheckMs: number;
  /** SHUTDOWN_TIMEOUT, in ms: how long a shutdown waits for in-flight requests. */
  shutdownTimeoutMs: number;
  maxDepth: number;
  maxComplexity: number;
  maxBodyBytes: number;
  maxTokens: number;
  maxAliases: number;
  maxDirectives: number;
  documentCacheBytes: number;
  wsMaxSubscriptions: number;
  wsMaxMessageBytes: number;
  wsMessagesPerSecond: number;
  rateLimits: boolean;
  rateLimitPerMinute: number;
  rateLimitAnonymousPerMinute: number;
  seedDemo: boolean;
  logFormat: 'json' | 'pretty';
  /** Connection health: webhook delivery (and, later, refresh and checks) workers. */
  health: {
    workers: boolean;
    refreshMarginMs: number;
    refreshPollMs: number;
    /** A background refresh's claim (its provider call's time limit, with room); after that another instance may take over. */
    refreshLeaseMs: number;
    refreshRetryBaseMs: number;
    /** Scheduled checks (modules/health/checks.ts). */
    checkPollMs: number;
    checkIntervalMs: number;
    checkMinIntervalMs: number;
    checkMaxIntervalMs: number;
    checkErrorAfter: number;
    checkRetryBaseMs: number;
    /** A check's claim: past its request's time limit, then another instance may take the value over. */
    checkLeaseMs: number;
    webhookPollMs: number; webhookRetryBaseMs: number; webhookDisableAfterMs: number; webhookTimeoutMs: number };
  /** The proxy's limits (modules/proxy). */
  proxy: { maxRequestBytes: number; maxResponseBytes: number; timeoutMs: number; maxDurationMs: number; maxRetries: number; maxWaitMs: number; cacheEntries: number; cacheTtlMs: number; auditFlushMs: number };
  /** OpenTelemetry tracing, when configured. */
  otel: { tracesEndpoint: string; serviceName: string } | null;
  /** OpenID Connect sign-in of org users, when configured. */
  oidc: { issuer: string; clientId: string; clientSecret: string; adminUiUrl: string | null; requireEmailVerified: boolean } | null;
  /** NODE_ENV=production. */
  production: boolean;
  corsOrigins: string[];
  graphiql: boolean;
  /** LIST_READS: schema/list-reads.ts on. */
  listReads: boolean;
  anonymousIntrospection: boolean;
  fieldSuggestions: boolean;
  outboundAllowedNetworks: Network[];
  /** Notes for the start-up log (e.g. "generated a local secret"). */
  notices: string[];
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

// Empty strings count as unset, as shells and .env files often leave them.
const cleanedEnv = (env: NodeJS.ProcessEnv) => Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));

/**
 * PORT and HOST alone, so the gateway can take its port before anything else
 * (which may write: local secrets, migrations, the demo); null when they are
 * invalid (loadConfig then says why).
 */
export function listenAddress(env: NodeJS.ProcessEnv = process.env): { port: number; host: string } | null {
  const parsed = EnvSchema.pick({ PORT: true, HOST: true }).safeParse(cleanedEnv(env));
  return parsed.success ? { port: parsed.data.PORT, host: parsed.data.HOST } : null;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const cleaned = cleanedEnv(env);
  const parsed = EnvSchema.safeParse(cleaned);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  const production = e.NODE_ENV === 'production';
  const notices: string[] = [];
  const dataDir = path.resolve(e.DATA_DIR);

  let authSecret = e.AUTH_SECRET;
  if (!authSecret) {
    if (e.DATABASE_URL) {
      // Several instances share one database: they must share the secret too.
      throw new ConfigError(
        'Invalid configuration:\n  AUTH_SECRET: required when DATABASE_URL is set (≥ 32 characters, the same on every instance)',
      );
    }
    authSecret = localSecret(dataDir, 'auth-secret', () => randomBytes(32).toString('base64url'));
    notices.push(`AUTH_SECRET not set: using a generated local secret in ${dataDir}`);
  }

  let keySpec = e.ENCRYPTION_KEYS;
  if (!keySpec) {
    if (e.DATABASE_URL) {
      throw new ConfigError(
        'Invalid configuration:\n  ENCRYPTION_KEYS: required when DATABASE_URL is set (id:base64-32-byte-key[,…]; generate one with `npm run keys:new`)',
      );
    }
    keySpec = localSecret(dataDir, 'encryption-keys', () => newKeySpec('local1'));
    notices.push(`ENCRYPTION_KEYS not set: secrets are encrypted with a generated local key in ${dataDir} (embedded mode only)`);
  }
  let keyRing: KeyRing;
  try {
    keyRing = parseKeyRing(keySpec);
  } catch (err) {
    if (err instanceof CryptoError) throw new ConfigError(`Invalid configuration:\n  ENCRYPTION_KEYS: ${err.message}`);
    throw err;
  }

  const oidcVars = [e.OIDC_ISSUER, e.OIDC_CLIENT_ID, e.OIDC_CLIENT_SECRET];
  if (oidcVars.some(Boolean) && !oidcVars.every(Boolean)) {
    throw new ConfigError('Invalid configuration:\n  OIDC_ISSUER, OIDC_CLIENT_ID, OIDC_CLIENT_SECRET: set all three (OpenID Connect sign-in), or none');
  }
  const tracesEndpoint =
    e.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? (e.OTEL_EXPORTER_OTLP_ENDPOINT && `${e.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/$/, '')}/v1/traces`);
  const tracing = tracesEndpoint && e.OTEL_SDK_DISABLED !== 'true' && e.OTEL_TRACES_EXPORTER !== 'none';

  return {
    port: e.PORT,
    host: e.HOST,
    database: e.DATABASE_URL ? { kind: 'postgres', url: e.DATABASE_URL } : { kind: 'pglite', dataDir: path.join(dataDir, 'pglite') },
    dataDir,
    redisUrl: e.REDIS_URL,
    authSecret,
    keyRing,
    publicUrl: (e.PUBLIC_URL ?? `http://localhost:${e.PORT}`).replace(/\/$/, ''),
    logLevel: e.LOG_LEVEL,
    feedRetentionHours: e.FEED_RETENTION_HOURS,
    auditRetentionDays: e.AUDIT_RETENTION_DAYS,
    feedPollMs: e.FEED_POLL_MS,
    credentialRecheckMs: e.CREDENTIAL_RECHECK_MS,
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT * 1000,
    maxDepth: e.MAX_DEPTH,
    maxComplexity: e.MAX_COMPLEXITY,
    maxBodyBytes: e.MAX_BODY_BYTES,
    maxTokens: e.MAX_TOKENS,
    maxAliases: e.MAX_ALIASES,
    maxDirectives: e.MAX_DIRECTIVES,
    documentCacheBytes: e.DOCUMENT_CACHE_BYTES,
    wsMaxSubscriptions: e.WS_MAX_SUBSCRIPTIONS,
    wsMaxMessageBytes: e.WS_MAX_MESSAGE_BYTES,
    wsMessagesPerSecond: e.WS_MESSAGES_PER_SECOND,
    rateLimits: e.RATE_LIMITS === 'on',
    rateLimitPerMinute: e.RATE_LIMIT_PER_MINUTE,
    rateLimitAnonymousPerMinute: e.RATE_LIMIT_ANONYMOUS_PER_MINUTE,
    seedDemo: e.SEED_DEMO === 'true' || e.SEED_DEMO === '1',
    logFormat: e.LOG_FORMAT ?? (process.stdout.isTTY ? 'pretty' : 'json'),
    health: {
      workers: e.HEALTH_WORKERS ?? true,
      refreshMarginMs: e.HEALTH_REFRESH_MARGIN_MS,
      refreshPollMs: e.HEALTH_REFRESH_POLL_MS,
      refreshLeaseMs: 120_000,
      refreshRetryBaseMs: 30_000,
      checkPollMs: e.HEALTH_CHECK_POLL_MS,
      checkIntervalMs: e.HEALTH_CHECK_INTERVAL_MS,
      checkMinIntervalMs: Math.min(e.HEALTH_CHECK_MIN_INTERVAL_MS, e.HEALTH_CHECK_MAX_INTERVAL_MS),
      checkMaxIntervalMs: e.HEALTH_CHECK_MAX_INTERVAL_MS,
      checkErrorAfter: e.HEALTH_CHECK_ERROR_AFTER,
      checkRetryBaseMs: e.HEALTH_CHECK_RETRY_BASE_MS,
      checkLeaseMs: 120_000,
      webhookPollMs: e.WEBHOOK_POLL_MS,
      webhookRetryBaseMs: e.WEBHOOK_RETRY_BASE_MS,
      webhookDisableAfterMs: e.WEBHOOK_DISABLE_AFTER_MS,
      webhookTimeoutMs: e.WEBHOOK_TIMEOUT_MS,
    },
    proxy: {
      maxRequestBytes: e.PROXY_MAX_REQUEST_BYTES,
      maxResponseBytes: e.PROXY_MAX_RESPONSE_BYTES,
      timeoutMs: e.PROXY_TIMEOUT_MS,
      maxDurationMs: e.PROXY_MAX_DURATION_MS,
      maxRetries: e.PROXY_MAX_RETRIES,
      maxWaitMs: e.PROXY_MAX_WAIT_MS,
      cacheEntries: e.PROXY_CACHE_ENTRIES,
      cacheTtlMs: e.PROXY_CACHE_TTL_MS,
      auditFlushMs: e.PROXY_AUDIT_FLUSH_MS,
    },
    otel: tracing ? { tracesEndpoint, serviceName: e.OTEL_SERVICE_NAME } : null,
    oidc:
      e.OIDC_ISSUER && e.OIDC_CLIENT_ID && e.OIDC_CLIENT_SECRET
        ? {
            issuer: e.OIDC_ISSUER,
            clientId: e.OIDC_CLIENT_ID,
            clientSecret: e.OIDC_CLIENT_SECRET,
            adminUiUrl: e.ADMIN_UI_URL ?? null,
            requireEmailVerified: e.OIDC_REQUIRE_EMAIL_VERIFIED ?? true,
          }
        : null,
    production,
    corsOrigins: e.CORS_ORIGINS,
    graphiql: e.GRAPHIQL ?? !production,
    listReads: e.LIST_READS ?? true,
    anonymousIntrospection: e.ANONYMOUS_INTROSPECTION ?? !production,
    fieldSuggestions: e.FIELD_SUGGESTIONS ?? !production,
    outboundAllowedNetworks: parseNetworks(e.OUTBOUND_ALLOWED_NETWORKS.join(',')),
    notices,
  };
}

/** Reads a secret kept in the embedded data directory, creating it on first use. */
export function localSecret(dataDir: string, name: string, make: () => string): string {
  const file = path.join(dataDir, name);
  try {
    if (existsSync(file)) return readFileSync(file, 'utf8').trim();
    mkdirSync(dataDir, { recursive: true });
    const value = make();
    writeFileSync(file, value + '\n', { mode: 0o600 });
    return value;
  } catch (err) {
    throw new ConfigError(`Invalid configuration:\n  DATA_DIR: cannot keep ${name} in ${dataDir}: ${describeFsError(err)}`);
  }
}

/** A file-system error as a person reads it (not `ENOTDIR`). */
export function describeFsError(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  const what: Record<string, string> = {
    ENOTDIR: 'a part of the path is a file, not a directory',
    EEXIST: 'a file is in the way of the directory',
    EACCES: 'permission denied',
    EPERM: 'permission denied',
    EROFS: 'read-only file system',
    ENOSPC: 'no space left on the device',
  };
  return (e.code && what[e.code]) ?? (e instanceof Error ? e.message : String(err));
}
