import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * Prometheus metrics of one gateway process (prom-client), served at
 * `/metrics`. One registry per app, so several gateways in one process (the
 * tests) keep their own. Labels are bounded: an operation is named by its
 * type and first root field (from the schema, never from the client's
 * operation name), a REST route by its pattern; no ids, no tenants.
 */
export class Metrics {
  readonly registry = new Registry();

  readonly requests = new Counter({
    name: 'gateway_requests_total',
    help: 'Requests by surface, operation and outcome (ok, error: a 4xx/5xx or a GraphQL error).',
    labelNames: ['surface', 'operation', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly duration = new Histogram({
    name: 'gateway_request_duration_seconds',
    help: 'Request latency by surface and operation (subscriptions over SSE: the life of the stream).',
    labelNames: ['surface', 'operation'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  readonly resolutions = new Counter({
    name: 'gateway_resolutions_total',
    help: 'Runtime credential resolutions by outcome (RESOLVED, NOT_FOUND, NOT_PERMITTED, EXPIRED, ERROR).',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  readonly healthChecks = new Counter({
    name: 'gateway_health_checks_total',
    help: 'Scheduled checks of connection values by outcome (ok, or the failure: unexpected_status, timeout, connection_refused, host_not_found, network, not_allowed, credential).',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  readonly refreshes = new Counter({
    name: 'gateway_oauth_refreshes_total',
    help: 'OAuth2 token refreshes by outcome (refreshed, expired, rejected, failed_transient).',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  readonly proxyRequests = new Counter({
    name: 'gateway_proxy_requests_total',
    help: 'Proxy calls by connector key and outcome (HTTP_2XX…HTTP_5XX: the API answered; RATE_LIMITED, NOT_FOUND, NOT_PERMITTED, EXPIRED, ERROR, NOT_ALLOWED, UPSTREAM_FAILED, UPSTREAM_TIMEOUT, INVALID: the gateway did).',
    labelNames: ['connector', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly proxyUpstreamDuration = new Histogram({
    name: 'gateway_proxy_upstream_duration_seconds',
    help: "Proxy: time from sending a request to the API to its response's headers, per attempt, by connector key.",
    labelNames: ['connector'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });

  readonly proxyRateLimitWait = new Histogram({
    name: 'gateway_proxy_rate_limit_wait_seconds',
    help: "Proxy: how long calls waited for their connection's budget (pause, slot, window), by connector key.",
    labelNames: ['connector'] as const,
    buckets: [0, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });

  readonly proxyRateLimited = new Counter({
    name: 'gateway_proxy_rate_limited_total',
    help: "Proxy 429s by connector key and source: gateway (the connection's budget was spent) or upstream (the API answered 429).",
    labelNames: ['connector', 'source'] as const,
    registers: [this.registry],
  });

  readonly proxyRetries = new Counter({
    name: 'gateway_proxy_retries_total',
    help: 'Proxy attempts sent again, by connector key and reason (status: 429/502/503/504; network; unauthorized: after a token refresh).',
    labelNames: ['connector', 'reason'] as const,
    registers: [this.registry],
  });

  readonly feedLag = new Histogram({
    name: 'gateway_feed_lag_seconds',
    help: 'Live feed: time from an event committing to its delivery to this process\'s subscribers.',
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30],
    registers: [this.registry],
  });

  readonly subscriptionResults = new Counter({
    name: 'gateway_subscription_results_total',
    help: 'Subscription events by how their result was made: executed for the subscriber, or shared (the same event already executed for an equivalent subscriber: same document, variables and visibility).',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  readonly listReads = new Counter({
    name: 'gateway_list_reads_total',
    help: 'List queries answered in one SQL statement: inside the GraphQL pipeline, or early (a document the pipeline served before, answered ahead of it).',
    labelNames: ['path'] as const,
    registers: [this.registry],
  });

  readonly subscriptionDeliveries = new Counter({
    name: 'gateway_subscription_deliveries_total',
    help: 'Subscription events handed to the transport: direct (written to the socket as the feed read it, while the subscriber kept up) or queued (through the subscription\'s iterator).',
    labelNames: ['path'] as const,
    registers: [this.registry],
  });

  constructor(sources: { feedSubscribers: () => number; pool?: () => { total: number; idle: number; waiting: number } | null }) {
    collectDefaultMetrics({ register: this.registry, prefix: 'gateway_' });
    new Gauge({
      name: 'gateway_feed_subscribers',
      help: 'Live feed subscribers connected to this process.',
      registers: [this.registry],
      collect() {
        this.set(sources.feedSubscribers());
      },
    });
    const pool = sources.pool;
    if (pool) {
      new Gauge({
        name: 'gateway_db_pool_connections',
        help: 'PostgreSQL pool: connections by state (total, idle, waiting: requests queued for a connection).',
        labelNames: ['state'] as const,
        registers: [this.registry],
        collect() {
          const p = pool();
          if (!p) return;
          this.set({ state: 'total' }, p.total);
          this.set({ state: 'idle' }, p.idle);
          this.set({ state: 'waiting' }, p.waiting);
        },
      });
    }
  }

  /** One finished request. */
  observe(surface: string, operation: string, ok: boolean, seconds: number): void {
    this.requests.inc({ surface, operation, outcome: ok ? 'ok' : 'error' });
    this.duration.observe({ surface, operation }, seconds);
  }
}
