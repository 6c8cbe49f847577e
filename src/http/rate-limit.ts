import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { bearerFromHeader } from '../auth/bearer.js';
import type { Principal } from '../auth/principal.js';
import type { Config } from '../config.js';
import { RateLimitedError } from '../errors.js';
import { writeEdgeError, type EdgeShape } from './answers.js';

export type RateLimitConfig = Pick<Config, 'rateLimits' | 'rateLimitPerMinute' | 'rateLimitAnonymousPerMinute' | 'redisUrl'>;

/** The outcome of one request against its budget. */
export interface Admission {
  allowed: boolean;
  /** `RateLimit-Policy`, `RateLimit` (IETF httpapi-ratelimit-headers draft) and, when refused, `Retry-After`. */
  headers: Record<string, string>;
}

const WINDOW_S = 60;

/**
 * Requests per minute per principal (rate-limiter-flexible): one budget per
 * credential (the hash of the bearer a request carries: one principal's
 * token or key), per peer address for anonymous callers, counted on every
 * HTTP route and for every WebSocket operation. With REDIS_URL the budgets
 * are shared by all instances (Redis keys `<prefix>…`); when Redis cannot
 * answer, each instance counts alone in memory (insurance) rather than
 * refusing or waiting. RATE_LIMITS=off turns it off (the test suite does).
 */
export class RateLimits {
  private readonly principals: RateLimiterAbstract | null;
  private readonly anonymous: RateLimiterAbstract | null;
  private readonly redis: Redis | null = null;

  constructor(config: RateLimitConfig, log: Logger, prefix = 'cg:rl:') {
    if (!config.rateLimits) {
      this.principals = this.anonymous = null;
      return;
    }
    if (config.redisUrl) {
      // Fail fast while disconnected: the insurance limiter answers instead.
      this.redis = new Redis(config.redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 1, retryStrategy: (n) => Math.min(100 * 2 ** Math.min(n, 5), 2000) });
      this.redis.on('error', (err: Error) => log.debug({ err: err.message }, 'redis (rate limits) error'));
    }
    const make = (points: number, kind: string): RateLimiterAbstract => {
      const memory = new RateLimiterMemory({ points, duration: WINDOW_S, keyPrefix: `${prefix}${kind}` });
      return this.redis
        ? new RateLimiterRedis({ storeClient: this.redis, points, duration: WINDOW_S, keyPrefix: `${prefix}${kind}`, insuranceLimiter: memory, rejectIfRedisNotReady: true })
        : memory;
    };
    this.principals = make(config.rateLimitPerMinute, 'p');
    this.anonymous = make(config.rateLimitAnonymousPerMinute, 'a');
  }

  get enabled(): boolean {
    return this.principals !== null;
  }

  /** One HTTP request: its credential's budget, or its address's. */
  admitRequest(req: IncomingMessage): Promise<Admission> {
    const credential = bearerFromHeader(req.headers.authorization);
    return credential ? this.admit('credential', hashOf(credential)) : this.admit('anonymous', req.socket.remoteAddress ?? 'unknown');
  }

  /** One WebSocket operation, on the budget of the socket's principal. */
  admitOperation(principal: Principal | null | undefined, credential: string | null, address: string | undefined): Promise<Admission> {
    return principal && credential ? this.admit('credential', hashOf(credential)) : this.admit('anonymous', address ?? 'unknown');
  }

  private async admit(kind: 'credential' | 'anonymous', key: string): Promise<Admission> {
    const limiter = kind === 'credential' ? this.principals : this.anonymous;
    if (!limiter) return { allowed: true, headers: {} };
    const policy = `"${kind}";q=${limiter.points};w=${WINDOW_S}`;
    try {
      const res = await limiter.consume(key);
      return { allowed: true, headers: headersOf(policy, kind, res) };
    } catch (res) {
      if (!(res instanceof RateLimiterRes)) return { allowed: true, headers: {} };
      return { allowed: false, headers: { ...headersOf(policy, kind, res), 'retry-after': String(Math.max(1, Math.ceil(res.msBeforeNext / 1000))) } };
    }
  }

  async close(): Promise<void> {
    if (this.redis) await this.redis.quit().catch(() => this.redis?.disconnect());
  }
}

function hashOf(credential: string): string {
  return createHash('sha256').update(credential).digest('base64url').slice(0, 22);
}

function headersOf(policy: string, kind: string, res: RateLimiterRes): Record<string, string> {
  return {
    'ratelimit-policy': policy,
    ratelimit: `"${kind}";r=${Math.max(0, res.remainingPoints)};t=${Math.max(0, Math.ceil(res.msBeforeNext / 1000))}`,
  };
}

/** The typed 429 of a refused HTTP request, in its surface's error shape. */
export function tooManyRequests(res: ServerResponse, admission: Admission, surface: EdgeShape): void {
  writeEdgeError(res, new RateLimitedError(), surface, admission.headers);
}
