import type { App } from '../app.js';
import { pruneAuditEvents } from '../audit.js';
import { revokedAmong } from '../modules/access/authenticate.js';
import { checkDueValues } from '../modules/health/checks.js';
import { refreshDueTokens } from '../modules/health/refresh.js';
import { DELIVERY_JOB } from '../modules/webhooks/outbox.js';
import { deliverDueWebhooks } from '../modules/webhooks/worker.js';
import type { Job } from './runner.js';

/**
 * Every background job of a gateway process, in one list (run by
 * jobs/runner.ts, started and stopped with the server). To add one: write
 * its pass in its module as a function of the app (and an abort signal for a
 * long loop), then name it here with its interval, and `singleton: true`
 * when only one instance of the fleet may run it at a time.
 */
export function gatewayJobs(app: App): Job[] {
  const { config } = app;
  const { health } = config;
  return [
    ...app.feed.jobs((principals) => revokedAmong(app, principals)),
    // Health workers: off with HEALTH_WORKERS=false (another instance does the work: every claim goes through the database).
    { name: DELIVERY_JOB, every: health.webhookPollMs, enabled: health.workers, run: (signal) => deliverDueWebhooks(app, signal) },
    { name: 'oauth.refresh', every: health.refreshPollMs, firstAfter: 0, enabled: health.workers, run: (signal) => refreshDueTokens(app, signal) },
    { name: 'health.check', every: health.checkPollMs, enabled: health.workers, run: (signal) => checkDueValues(app, signal) },
    // A minute after start (so short-lived processes prune too), then hourly, by one instance at a time.
    { name: 'audit.retention', every: 3_600_000, firstAfter: 60_000, singleton: true, run: () => pruneAuditEvents(app.db.prisma, config.auditRetentionDays) },
  ];
}
