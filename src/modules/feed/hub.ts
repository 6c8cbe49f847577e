import type { Logger } from 'pino';
import type { Principal } from '../../auth/principal.js';
import type { Job } from '../../jobs/runner.js';
import type { PrismaClient } from '../../generated/prisma/client.js';
import { LocalWakeupBus, RedisWakeupBus, type RevokedCredential, type WakeupBus } from '../../pubsub/wakeups.js';
import { FeedReaders, pickerLog, type EventLog, type FeedItem, type LogItem } from './reader.js';
import { feedStream, type StreamOptions } from './stream.js';

/**
 * The live feeds of one gateway process — the picker's (FeedEvent, by
 * customer) and the admin health view's (HealthEvent, by organization,
 * health/events.ts): wiring only.
 *
 * - a committed change wakes its stream keys' readers here and on every
 *   instance (`notify`, called by the transaction's post-commit hook, through
 *   Redis when configured);
 * - the tables are also swept periodically (quickly while Redis is down),
 *   which catches anything a lost wake-up missed, and old events are pruned
 *   (retention.ts) — background jobs of the process (`jobs()`, src/jobs);
 * - readers (reader.ts) read each key's new rows once per process and
 *   offer them to the subscribers' streams (stream.ts).
 */
export interface FeedHubOptions {
  prisma: PrismaClient;
  log: Logger;
  redisUrl?: string | undefined;
  retentionHours: number;
  /** Sweep interval while wake-ups work (ms). */
  pollMs: number;
  /** How often open subscriptions' credentials are checked again (ms; default CREDENTIAL_RECHECK_MS). */
  credentialRecheckMs?: number;
  /** Sweep interval while Redis is configured but unreachable (ms). */
  outagePollMs?: number;
  /** Redis channel prefix (tests isolate themselves with it). */
  channelPrefix?: string;
}

/** What the hub's periodic work needs of any log's readers. */
type Sweepable = Pick<FeedReaders<LogItem>, 'size' | 'wake' | 'wakeAll'> & { readonly log: Pick<EventLog<LogItem>, 'maxCursor' | 'keysBetween' | 'prune'> };

/**
 * How often open subscriptions' credentials are checked again, by default: a
 * revocation no instance was told of (Redis unreachable, the admin CLI) ends
 * its subscriptions within seconds. One told ends them before it answers.
 */
export const CREDENTIAL_RECHECK_MS = 2000;

export class FeedHub {
  readonly bus: WakeupBus;
  /** The picker's readers (by customer). */
  readonly picker: FeedReaders<FeedItem>;
  /** Every log's readers, the picker's first. */
  private readonly all: Sweepable[] = [];
  private readonly sweepMarks = new Map<Sweepable, bigint>();
  /** Each open subscription: how to end it, and whose it is. */
  private readonly streams = new Map<() => void, Principal>();
  private readonly busListeners = new Set<() => void>();
  private started = false;
  private closed = false;

  constructor(private readonly opts: FeedHubOptions) {
    this.bus = opts.redisUrl ? new RedisWakeupBus(opts.redisUrl, opts.log, opts.channelPrefix) : new LocalWakeupBus();
    this.picker = this.serve(pickerLog(opts.prisma));
    this.bus.onAnnouncement((a) => (a.kind === 'API_KEY' || a.kind === 'SIGNING_KEY' ? this.endLocal(a) : undefined));
  }

  /**
   * A credential was revoked (the revocation's post-commit step): its
   * subscriptions end here and on every other instance before this resolves
   * (bounded: an instance that does not acknowledge in time is left to its
   * periodic recheck, `CREDENTIAL_RECHECK_MS`).
   */
  endSubscriptionsOf(revoked: RevokedCredential): Promise<void> {
    return this.bus.announce(revoked);
  }

  /** Ends this process's subscriptions that stand on the revoked credential, and lets them say so to their clients. */
  private async endLocal(revoked: RevokedCredential): Promise<void> {
    let ended = 0;
    for (const [stop, p] of [...this.streams]) {
      const matches = revoked.kind === 'API_KEY' ? p.kind === 'API_KEY' && p.id === revoked.id : p.kind === 'CUSTOMER_USER' && p.signingKeyId === revoked.id;
      if (matches) {
        stop();
        ended++;
      }
    }
    // The transports (graphql-ws, SSE) send their "complete" once the stream's iterator has returned: a turn of the loop.
    if (ended) await new Promise<void>((resolve) => setImmediate(resolve));
  }

  /** Reports, for each event delivered live, the seconds since it committed (a metric). */
  observeLag(observer: (seconds: number) => void): void {
    this.picker.lagObserver = observer;
  }

  /** Serves one more log (the health view's) with this process's readers, sweep and retention. */
  serve<I extends LogItem>(log: EventLog<I>): FeedReaders<I> {
    const readers = new FeedReaders(log, this.bus, this.opts.log);
    this.all.push(readers);
    return readers;
  }

  /** Number of live subscribers in this process. */
  get subscriberCount(): number {
    return this.streams.size;
  }

  /** Listens to the wake-up bus; the periodic work (sweep, credential recheck, retention) is the jobs' (`feedJobs`). */
  start(): void {
    if (this.started || this.closed) return;
    this.started = true;
    this.bus.onStatus((crossInstance) => {
      // Down: the sweep goes to the outage pace, at once. Back: catch up at once.
      for (const listener of this.busListeners) listener();
      if (crossInstance) for (const readers of this.all) readers.wakeAll();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const stop of [...this.streams.keys()]) stop();
    await this.bus.close();
  }

  /** Wakes the readers of these bus topics on every instance (post-commit hook of changes that wrote events). */
  notify(topics: Iterable<string>): void {
    this.bus.publish(topics);
  }

  /** A subscriber's stream of one log: replay after `after`, then live; ends on `close`, or when the credential expires or is revoked. */
  subscribe<I extends LogItem>(readers: FeedReaders<I>, opts: StreamOptions<I>): AsyncIterableIterator<I> {
    return feedStream(readers, opts, {
      add: (stop) => this.streams.set(stop, opts.principal),
      delete: (stop) => this.streams.delete(stop),
    });
  }

  /**
   * The feed's periodic work, as background jobs of this process: the sweep
   * and the credential recheck (`revoked`: which of these principals'
   * credentials no longer stand) run on every instance (each wakes and ends
   * its own subscribers); retention on one instance at a time.
   */
  jobs(revoked: (principals: Principal[]) => Promise<Set<Principal>>): Job[] {
    const { retentionHours, pollMs, outagePollMs = 250 } = this.opts;
    return [
      {
        name: 'feed.sweep',
        // Quickly while Redis is configured but unreachable: the sweep is then the only way across instances.
        every: () => (this.opts.redisUrl !== undefined && !this.bus.crossInstance ? Math.min(outagePollMs, pollMs) : pollMs),
        wakeOn: (wake) => this.busListeners.add(wake),
        run: () => this.sweep(),
      },
      { name: 'feed.credential-recheck', every: this.opts.credentialRecheckMs ?? CREDENTIAL_RECHECK_MS, run: () => this.endRevoked(revoked) },
      {
        name: 'feed.retention',
        every: Math.min(Math.max((retentionHours * 3_600_000) / 4, 1000), 10 * 60_000),
        singleton: true,
        run: async () => {
          for (const readers of this.all) await readers.log.prune(retentionHours);
        },
      },
    ];
  }

  /** Ends the subscriptions whose API key, embed signing key or connect link was revoked (on any instance). */
  private async endRevoked(revokedAmong: (principals: Principal[]) => Promise<Set<Principal>>): Promise<void> {
    if (!this.streams.size) return;
    const revoked = await revokedAmong([...new Set(this.streams.values())]);
    for (const [stop, principal] of this.streams) if (revoked.has(principal)) stop();
  }

  /** Wakes local readers of keys with events committed since the last sweep, in every log. */
  private async sweep(): Promise<void> {
    for (const readers of this.all) {
      const max = await readers.log.maxCursor();
      const mark = this.sweepMarks.get(readers);
      this.sweepMarks.set(readers, max);
      if (mark === undefined || max <= mark || !readers.size) continue;
      if (max - mark > 10_000n) {
        readers.wakeAll();
        continue;
      }
      for (const key of await readers.log.keysBetween(mark, max)) readers.wake(key);
    }
  }
}
