import { pino, type Logger } from 'pino';
import { auditTrail, UsageAudit, type AuditRow } from './audit.js';
import pretty from 'pino-pretty';
import { TokenService } from './auth/tokens.js';
import type { Config } from './config.js';
import type { Database } from './db/database.js';
import type { GroupWriter } from './db/group-writer.js';
import { JobRunner } from './jobs/runner.js';
import { FeedHub } from './modules/feed/hub.js';
import type { FeedReaders } from './modules/feed/reader.js';
import { healthLog, type HealthItem } from './modules/health/events.js';
import { Metrics } from './observability/metrics.js';
import { currentRequest } from './observability/request.js';
import { startTracing, type Tracing } from './observability/tracing.js';
import { createOutbound, type Outbound } from './outbound.js';
import { ProxyBudgets } from './modules/proxy/budget.js';
import { ProxyCache } from './modules/proxy/cache.js';

/**
 * The long-lived collaborators of one gateway process, shared by every
 * request and every service call (as `op.app` / `ctx.app`).
 */
export interface App {
  config: Config;
  db: Database;
  log: Logger;
  tokens: TokenService;
  /** The live feeds of this process (started by the HTTP edge). */
  feed: FeedHub;
  /** The admin view's live health feed, served by `feed` (modules/health/events.ts). */
  healthFeed: FeedReaders<HealthItem>;
  /** Prometheus metrics (`/metrics`). */
  metrics: Metrics;
  /** OpenTelemetry tracing (a no-op unless configured). */
  tracing: Tracing;
  /** Every request the gateway sends out goes through its policy. */
  outbound: Outbound;
  /** Audit rows of reads, group-committed (audit.ts). */
  auditTrail: GroupWriter<AuditRow>;
  /** Audit counts of proxy calls, written in groups (at least every PROXY_AUDIT_FLUSH_MS, before an audit read here, on stop: audit.ts). */
  usageAudit: UsageAudit;
  /** Background jobs (jobs/index.ts), started and stopped by the server; `wake` runs one now. */
  jobs: JobRunner;
  /** The proxy's per-connection rate limits, shared by every instance through Redis (modules/proxy/budget.ts). */
  proxyBudgets: ProxyBudgets;
  /** What proxy calls need, kept per instance; every committed change drops its organization's part on every instance before it answers (modules/proxy/cache.ts). */
  proxyCache: ProxyCache;
}

export function createLogger(config: Pick<Config, 'logLevel' | 'logFormat'>): Logger {
  const options: pino.LoggerOptions = {
    level: config.logLevel,
    // Every line written while serving a request names it (the id is also the response's x-request-id).
    mixin: () => {
      const request = currentRequest();
      return request ? { requestId: request.id } : {};
    },
    // Defence in depth: whatever a caller passes, these never reach a log line.
    redact: {
      paths: ['authorization', '*.authorization', 'headers.authorization', 'secret', '*.secret', 'token', '*.token', 'password', '*.password', 'value', '*.value'],
      censor: '[redacted]',
    },
  };
  // Readable lines for a person at a terminal; JSON, one object per line, for log collectors.
  return config.logFormat === 'pretty' ? pino(options, pretty({ sync: true, ignore: 'pid,hostname' })) : pino(options);
}

export function createApp(config: Config, db: Database, log: Logger = createLogger(config)): App {
  const tokens = new TokenService(config.authSecret);
  const feed = new FeedHub({
    prisma: db.prisma,
    log,
    redisUrl: config.redisUrl,
    retentionHours: config.feedRetentionHours,
    pollMs: config.feedPollMs,
    credentialRecheckMs: config.credentialRecheckMs,
  });
  const pool = db.pool;
  const metrics = new Metrics({
    feedSubscribers: () => feed.subscriberCount,
    ...(pool ? { pool: () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount }) } : {}),
  });
  feed.observeLag((seconds) => metrics.feedLag.observe(seconds));
  return {
    config,
    db,
    log,
    tokens,
    feed,
    healthFeed: feed.serve(healthLog(db.prisma)),
    metrics,
    tracing: startTracing(config.otel),
    outbound: createOutbound({ allowedNetworks: config.outboundAllowedNetworks }),
    auditTrail: auditTrail(db),
    usageAudit: new UsageAudit(db, config.proxy.auditFlushMs, log),
    jobs: new JobRunner({ prisma: db.prisma, log, registry: metrics.registry }),
    proxyBudgets: new ProxyBudgets(config.redisUrl, log, undefined, feed.bus),
    proxyCache: new ProxyCache({
      db,
      kind: config.database.kind,
      bus: feed.bus,
      redis: config.redisUrl !== undefined,
      maxEntries: config.proxy.cacheEntries,
      ttlMs: config.proxy.cacheTtlMs,
      log,
    }),
  };
}
