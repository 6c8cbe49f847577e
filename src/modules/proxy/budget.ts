import { Semaphore as LocalSemaphore, tryAcquire, withTimeout, E_TIMEOUT } from 'async-mutex';
import { Redis } from 'ioredis';
import { LRUCache } from 'lru-cache';
import type { Logger } from 'pino';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { Semaphore as RedisSemaphore } from 'redis-semaphore';
import { RateLimitedError } from '../../errors.js';
import type { WakeupBus } from '../../pubsub/wakeups.js';
import type { ProxyRateLimit } from './settings.js';

/**
 * The proxy's per-connection budgets, shared by every gateway instance
 * through Redis (REDIS_URL), in memory on the embedded default:
 *
 * - requests per window: rate-limiter-flexible (an atomic count per key and
 *   window, in Redis with an in-memory insurance limiter when Redis cannot
 *   answer). A call over the budget waits for the window to turn, up to its
 *   bound, by asking again — not through the library's RateLimiterQueue,
 *   which keeps one queue object per key for ever (one per connection value
 *   here) and only knows deadlines in whole seconds;
 * - requests at once: redis-semaphore (a sorted set of holders whose entries
 *   lapse unless refreshed, so a crashed instance's slots come back), or an
 *   async-mutex semaphore per key in memory;
 * - pauses: an API's 429/503 with `Retry-After` blocks the key for everyone
 *   until then (rate-limiter-flexible's `block`). With Redis, the pause is
 *   also announced to every instance on the wake-up bus and kept in memory,
 *   so a call does not ask Redis whether its budget is paused: an instance
 *   reads a key's pause from Redis once per PAUSE_RECHECK_MS (one that
 *   started after the announcement learns of it then), and on every call
 *   while the bus is down.
 *
 * Nothing here sees a credential: keys are connection and value ids.
 */
export interface Admission {
  /** Gives the slot back (idempotent). */
  release(): void;
  /** How long the call waited for room, in ms. */
  waitedMs: number;
}

/** How long a slot lives in Redis without a refresh (an instance that died gives its slots back after this). */
const SLOT_LEASE_MS = 15_000;
/** Longest pause an API's Retry-After can impose. */
const MAX_PAUSE_S = 3600;
/** With Redis and the bus up: how long an instance trusts that a key it found unpaused in Redis stays so unless told. */
const PAUSE_RECHECK_MS = 5000;

export class ProxyBudgets {
  private readonly redis: Redis | null = null;
  private readonly windows = new Map<string, RateLimiterAbstract>();
  private readonly pauses: RateLimiterAbstract;
  private readonly slots = new Map<string, { semaphore: LocalSemaphore; users: number }>();
  /** Pauses this instance set or was told of: key → until (ms since the epoch). */
  private readonly pausedUntil = new Map<string, number>();
  /** Keys whose pause was read from Redis lately (see PAUSE_RECHECK_MS). */
  private readonly checked = new LRUCache<string, true>({ max: 100_000, ttl: PAUSE_RECHECK_MS });

  constructor(
    redisUrl: string | undefined,
    private readonly log: Logger,
    private readonly prefix = 'cg:px:',
    private readonly bus: WakeupBus | null = null,
  ) {
    bus?.onAnnouncement((a) => {
      if (a.kind === 'PAUSED') this.pausedUntil.set(a.key, Math.max(this.pausedUntil.get(a.key) ?? 0, Date.now() + a.ms));
    });
    if (redisUrl) {
      // Fail fast while disconnected: the in-memory insurance answers instead.
      this.redis = new Redis(redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 1, retryStrategy: (n) => Math.min(100 * 2 ** Math.min(n, 5), 2000) });
      this.redis.on('error', (err: Error) => log.debug({ err: err.message }, 'redis (proxy budgets) error'));
    }
    this.pauses = this.limiter(1, 1, 'p:');
  }

  private limiter(points: number, duration: number, kind: string): RateLimiterAbstract {
    const keyPrefix = `${this.prefix}${kind}`;
    const memory = new RateLimiterMemory({ points, duration, keyPrefix });
    return this.redis
      ? new RateLimiterRedis({ storeClient: this.redis, points, duration, keyPrefix, insuranceLimiter: memory, rejectIfRedisNotReady: true })
      : memory;
  }

  private window(limits: ProxyRateLimit): RateLimiterAbstract {
    const id = `${limits.requests}:${limits.intervalSeconds}`;
    let limiter = this.windows.get(id);
    if (!limiter) this.windows.set(id, (limiter = this.limiter(limits.requests!, limits.intervalSeconds, `w:${id}:`)));
    return limiter;
  }

  /**
   * Room for one call on budget `key`: the end of a pause, a slot (when the
   * budget limits concurrency), a request of the window (when it limits
   * requests). Waits at most `maxWaitMs` in all; then RATE_LIMITED with the
   * seconds after which room is expected.
   */
  async admit(key: string, limits: ProxyRateLimit | null, maxWaitMs: number, signal?: AbortSignal): Promise<Admission> {
    const started = Date.now();
    const deadline = started + maxWaitMs;
    await this.untilUnpaused(key, deadline, signal);
    let release = () => {};
    if (limits?.concurrency) release = await this.slot(key, limits.concurrency, deadline, signal);
    try {
      if (limits?.requests) await this.request(key, limits, deadline, signal);
    } catch (err) {
      release();
      throw err;
    }
    return { release: once(release), waitedMs: Date.now() - started };
  }

  /** One more request of the window for a call already admitted (a retry): waits within the same kind of bound. */
  async again(key: string, limits: ProxyRateLimit | null, maxWaitMs: number, signal?: AbortSignal): Promise<void> {
    const deadline = Date.now() + maxWaitMs;
    await this.untilUnpaused(key, deadline, signal);
    if (limits?.requests) await this.request(key, limits, deadline, signal);
  }

  /** The API asked everyone to wait (429/503 with Retry-After): the budget is paused for `seconds` on every instance. */
  async pause(key: string, seconds: number): Promise<void> {
    const s = Math.min(Math.ceil(seconds), MAX_PAUSE_S);
    if (s < 1) return;
    await this.pauses.block(key, s).catch((err: unknown) => this.log.warn({ err: (err as Error)?.message }, 'proxy pause not recorded'));
    if (this.redis && this.bus) await this.bus.announce({ kind: 'PAUSED', key, ms: s * 1000 });
  }

  private async untilUnpaused(key: string, deadline: number, signal?: AbortSignal): Promise<void> {
    if (this.redis && this.bus) {
      for (;;) {
        const until = this.pausedUntil.get(key);
        if (until === undefined || until <= Date.now()) break;
        await this.waitOrRefuse(until - Date.now(), deadline, 'The API asked to wait (Retry-After)', signal);
      }
      this.pausedUntil.delete(key);
      if (this.bus.crossInstance && this.checked.has(key)) return;
    }
    for (;;) {
      let answered = true;
      const res = await this.pauses.get(key).catch(() => {
        answered = false;
        return null;
      });
      if (!res || res.consumedPoints <= this.pauses.points) {
        if (answered && this.redis) this.checked.set(key, true);
        return;
      }
      await this.waitOrRefuse(res.msBeforeNext, deadline, 'The API asked to wait (Retry-After)', signal);
    }
  }

  private async request(key: string, limits: ProxyRateLimit, deadline: number, signal?: AbortSignal): Promise<void> {
    const limiter = this.window(limits);
    for (;;) {
      try {
        await limiter.consume(key);
        return;
      } catch (res) {
        // Not a refusal (a store error with no insurance left): the budget does not stand in the way.
        if (!(res instanceof RateLimiterRes)) return;
        await this.waitOrRefuse(res.msBeforeNext, deadline, "The connection's request budget is spent", signal);
      }
    }
  }

  /** Sleeps until `ms` from now (plus a little jitter, so waiters do not all ask at once) when that is before the deadline; else refuses. */
  private async waitOrRefuse(ms: number, deadline: number, why: string, signal?: AbortSignal): Promise<void> {
    const wait = Math.max(1, ms) + Math.floor(Math.random() * 20);
    if (Date.now() + wait > deadline) throw new RateLimitedError(`${why}: retry after the time in Retry-After`, Math.max(1, Math.ceil(ms / 1000)));
    await sleep(wait, signal);
  }

  private async slot(key: string, limit: number, deadline: number, signal?: AbortSignal): Promise<() => void> {
    const full = () => new RateLimitedError("The connection's concurrent requests are all in flight: retry after the time in Retry-After", 1);
    if (this.redis && this.redis.status === 'ready') {
      const remaining = deadline - Date.now();
      const semaphore = new RedisSemaphore(this.redis, `${this.prefix}c:${key}`, limit, {
        lockTimeout: SLOT_LEASE_MS,
        // No time left to wait: one attempt (the library makes none within a zero timeout).
        ...(remaining > 0 ? { acquireTimeout: remaining } : { acquireTimeout: 1000, acquireAttemptsLimit: 1 }),
        retryInterval: 20,
        onLockLost: (err) => this.log.warn({ err: err.message }, 'proxy concurrency slot lost'),
      });
      try {
        if (!(await semaphore.tryAcquire(signal))) throw full();
        return () => void semaphore.release().catch(() => {});
      } catch (err) {
        if (err instanceof RateLimitedError) throw err;
        if ((err as Error)?.name === 'TimeoutError') throw full();
        if (signal?.aborted) throw err;
        // Redis could not answer: this instance counts alone (insurance), as the request limits do.
        this.log.debug({ err: (err as Error)?.message }, 'proxy concurrency falls back to memory');
      }
    }
    return this.localSlot(key, limit, deadline, full);
  }

  private async localSlot(key: string, limit: number, deadline: number, full: () => Error): Promise<() => void> {
    const id = `${key}:${limit}`;
    let entry = this.slots.get(id);
    if (!entry) this.slots.set(id, (entry = { semaphore: new LocalSemaphore(limit), users: 0 }));
    entry.users++;
    const done = () => {
      entry.users--;
      if (entry.users === 0) this.slots.delete(id);
    };
    try {
      const wait = deadline - Date.now();
      const [, release] = wait > 0 ? await withTimeout(entry.semaphore, wait).acquire() : await tryAcquire(entry.semaphore, E_TIMEOUT).acquire();
      return () => {
        release();
        done();
      };
    } catch (err) {
      done();
      throw err === E_TIMEOUT ? full() : err;
    }
  }

  async close(): Promise<void> {
    if (this.redis) await this.redis.quit().catch(() => this.redis?.disconnect());
  }
}

function once(f: () => void): () => void {
  let done = false;
  return () => {
    if (!done) {
      done = true;
      f();
    }
  };
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
