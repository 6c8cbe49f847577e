import type { App } from '../../app.js';
import { WebhookWorker } from '../webhooks/worker.js';
import { BackgroundRefresher } from './refresh.js';

/**
 * The background work of connection health in one gateway process, started
 * with its server and stopped before its database closes; off with
 * HEALTH_WORKERS=false (then another instance does it: every claim goes
 * through the database).
 */
export class HealthWorkers {
  readonly webhooks: WebhookWorker;
  readonly refresher: BackgroundRefresher;

  constructor(app: App) {
    this.webhooks = new WebhookWorker(app);
    this.refresher = new BackgroundRefresher(app);
  }

  start(): void {
    this.webhooks.start();
    this.refresher.start();
  }

  async close(): Promise<void> {
    await Promise.all([this.refresher.close(), this.webhooks.close()]);
  }
}
