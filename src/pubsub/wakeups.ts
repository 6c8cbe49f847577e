import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';

/**
 * Wake-up signals per topic (one topic per customer). A signal carries no
 * data: whoever is woken reads the committed FeedEvent rows by cursor, so a
 * lost, late or duplicated signal can delay a delivery but never lose or
 * duplicate an event.
 *
 * - in-process (no REDIS_URL): listeners of this process only;
 * - Redis: one pub/sub channel per topic; an instance subscribes only to the
 *   topics it has local listeners for, so it never receives others' traffic.
 *
 * The same bus carries announcements (`announce`), which do carry data and
 * are acknowledged: a revocation (which credential) answers once every
 * instance has ended that credential's subscriptions; a committed change
 * (which organization) answers once every instance has dropped what it kept
 * of that organization for the proxy (modules/proxy/cache.ts).
 */
/**
 * A credential that was just revoked: an API key, or what a customer user's
 * session stands on (its embed signing key, or its connect link).
 */
export type RevokedCredential = { kind: 'API_KEY'; id: string } | { kind: 'SIGNING_KEY'; id: string };

/**
 * What every instance is told, and acknowledges: a revoked credential, a
 * change committed in an organization (null: anywhere), or a proxy budget
 * an API paused (for `ms` from now).
 */
export type Announcement = RevokedCredential | { kind: 'CHANGED'; orgId: string | null } | { kind: 'PAUSED'; key: string; ms: number };

/** How long an announcement waits for the other instances' acknowledgements (their periodic recheck covers a missing one). */
export const REVOCATION_ACK_TIMEOUT_MS = 2000;

export interface WakeupBus {
  /**
   * Starts listening to a topic. `ready` resolves once signals published from
   * now on will arrive (Redis acknowledged the SUBSCRIBE; bounded wait while
   * Redis is down). `stop` ends it.
   */
  listen(topic: string, onWake: () => void): { ready: Promise<void>; stop: () => void };
  /** Wakes the topic's listeners on every instance (best effort). */
  publish(topics: Iterable<string>): void;
  /**
   * Whether signals from other instances currently arrive. False while Redis
   * is unreachable: the feed then polls the database instead.
   */
  readonly crossInstance: boolean;
  /**
   * Called when cross-instance signals stop (Redis unreachable: poll faster)
   * or resume after an outage (catch up from the database).
   */
  onStatus(cb: (crossInstance: boolean) => void): void;
  /**
   * Tells every instance, this one first, of a revocation or a change, and
   * resolves once each has acted on it (`onAnnouncement`) and acknowledged —
   * or, for those that did not answer, after REVOCATION_ACK_TIMEOUT_MS.
   * Never rejects: while Redis is away, the other instances find out by
   * their periodic recheck (revocations) or their cache's time limit (changes) instead.
   */
  announce(announcement: Announcement): Promise<void>;
  /** What this instance does when told (ends a revoked credential's subscriptions, drops cached entries); done before it acknowledges. */
  onAnnouncement(handler: (announcement: Announcement) => void | Promise<void>): void;
  close(): Promise<void>;
}

class Listeners {
  private readonly byTopic = new Map<string, Set<() => void>>();

  /** Returns true when this is the topic's first listener. */
  add(topic: string, cb: () => void): boolean {
    let set = this.byTopic.get(topic);
    const first = !set;
    if (!set) this.byTopic.set(topic, (set = new Set()));
    set.add(cb);
    return first;
  }

  /** Returns true when the topic has no listener left. */
  remove(topic: string, cb: () => void): boolean {
    const set = this.byTopic.get(topic);
    if (!set) return false;
    set.delete(cb);
    if (set.size) return false;
    this.byTopic.delete(topic);
    return true;
  }

  fire(topic: string): void {
    const set = this.byTopic.get(topic);
    if (set) for (const cb of [...set]) cb();
  }

  topics(): string[] {
    return [...this.byTopic.keys()];
  }
}

/** Single-process fan-out. */
export class LocalWakeupBus implements WakeupBus {
  readonly crossInstance = false;
  private readonly listeners = new Listeners();

  listen(topic: string, onWake: () => void): { ready: Promise<void>; stop: () => void } {
    this.listeners.add(topic, onWake);
    return { ready: Promise.resolve(), stop: () => void this.listeners.remove(topic, onWake) };
  }

  publish(topics: Iterable<string>): void {
    for (const t of topics) this.listeners.fire(t);
  }

  onStatus(): void {}

  private readonly handlers: ((announcement: Announcement) => void | Promise<void>)[] = [];

  async announce(announcement: Announcement): Promise<void> {
    for (const handle of this.handlers) await handle(announcement);
  }

  onAnnouncement(handler: (announcement: Announcement) => void | Promise<void>): void {
    this.handlers.push(handler);
  }

  async close(): Promise<void> {}
}

/** An announcement made here: acknowledgements received, and how many are expected (null until PUBLISH answers). */
interface Awaiting {
  acks: number;
  expected: number | null;
  done: () => void;
}

/**
 * Cross-instance fan-out over Redis pub/sub, channel `<prefix><topic>`.
 * Redis going away never throws into callers: publishes are dropped (the
 * subscribers' database poll covers them) and ioredis reconnects and
 * re-subscribes by itself.
 */
export class RedisWakeupBus implements WakeupBus {
  private readonly listeners = new Listeners();
  private readonly pub: Redis;
  private readonly sub: Redis;
  /** Identifies this instance's own messages, already delivered locally. */
  private readonly origin = randomBytes(6).toString('base64url');
  private ready = false;
  private wasReady = false;
  private readonly statusCbs: ((crossInstance: boolean) => void)[] = [];
  private readonly subscribing = new Map<string, Promise<void>>();
  private readonly unsent = new Set<string>();
  private readonly handlers: ((announcement: Announcement) => void | Promise<void>)[] = [];
  /** Announcements this instance made, by id: the acknowledgements still awaited. */
  private readonly awaitingAcks = new Map<string, Awaiting>();
  /** Every instance listens here for announcements… */
  private readonly announceChannel: string;
  /** …and here for the acknowledgements of its own. */
  private readonly ackChannel: string;

  constructor(
    url: string,
    private readonly log: Logger,
    private readonly prefix = 'cg:feed:',
  ) {
    const options = {
      // Fail fast instead of queueing while disconnected: a stale wake-up is useless.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      retryStrategy: (times: number) => Math.min(100 * 2 ** Math.min(times, 5), 2000),
      lazyConnect: false,
    };
    this.pub = new Redis(url, options);
    // The subscriber queues its SUBSCRIBE commands until connected.
    this.sub = new Redis(url, { ...options, enableOfflineQueue: true, maxRetriesPerRequest: null });
    // Channels of their own (topics are customer ids: no clash), subscribed for the instance's whole life (and again after a reconnect, by ioredis).
    this.announceChannel = `${prefix}!revoked`;
    this.ackChannel = `${prefix}!revoked-ack:${this.origin}`;
    this.sub.subscribe(this.announceChannel, this.ackChannel).catch(() => {});
    for (const client of [this.pub, this.sub]) {
      client.on('error', (err: Error) => this.log.debug({ err: err.message }, 'redis (live feed) error'));
    }
    this.pub.on('ready', () => this.flushUnsent());
    this.sub.on('ready', () => {
      this.ready = true;
      if (this.wasReady) {
        this.log.info('redis (live feed) back: catching up from the database');
        for (const cb of this.statusCbs) cb(true);
        // Once more after the re-subscriptions have surely been acknowledged.
        setTimeout(() => {
          if (this.ready) for (const cb of this.statusCbs) cb(true);
        }, 500).unref();
      }
      this.wasReady = true;
    });
    this.sub.on('close', () => {
      if (!this.ready) return;
      this.ready = false;
      this.log.warn('redis (live feed) unreachable: polling the database until it returns');
      for (const cb of this.statusCbs) cb(false);
    });
    this.sub.on('message', (channel: string, message: string) => {
      if (channel === this.announceChannel) return void this.announcementReceived(message);
      if (channel === this.ackChannel) return void this.ackReceived(message);
      if (message === this.origin || !channel.startsWith(this.prefix)) return;
      this.listeners.fire(channel.slice(this.prefix.length));
    });
  }

  get crossInstance(): boolean {
    return this.ready && this.pub.status === 'ready';
  }

  listen(topic: string, onWake: () => void): { ready: Promise<void>; stop: () => void } {
    let ready = Promise.resolve();
    if (this.listeners.add(topic, onWake)) {
      const subscribed = this.sub.subscribe(this.prefix + topic).then(
        () => undefined,
        () => undefined, // re-subscribed automatically on reconnect
      );
      this.subscribing.set(topic, subscribed);
      void subscribed.then(() => this.subscribing.delete(topic));
    }
    const inFlight = this.subscribing.get(topic);
    if (inFlight) {
      // While Redis is down this would wait for its return; the database poll covers that time.
      ready = Promise.race([inFlight, new Promise<void>((r) => setTimeout(r, 1000).unref())]);
    }
    return {
      ready,
      stop: () => {
        if (this.listeners.remove(topic, onWake)) {
          this.sub.unsubscribe(this.prefix + topic).catch(() => {});
        }
      },
    };
  }

  publish(topics: Iterable<string>): void {
    for (const t of topics) {
      this.listeners.fire(t);
      if (this.pub.status !== 'ready') {
        this.unsent.add(t);
        continue;
      }
      this.pub.publish(this.prefix + t, this.origin).catch(() => this.unsent.add(t));
    }
  }

  /** Wake-ups that could not be sent while Redis was away go out when it returns. */
  private flushUnsent(): void {
    const topics = [...this.unsent];
    this.unsent.clear();
    for (const t of topics) this.pub.publish(this.prefix + t, this.origin).catch(() => this.unsent.add(t));
  }

  onStatus(cb: (crossInstance: boolean) => void): void {
    this.statusCbs.push(cb);
  }

  onAnnouncement(handler: (announcement: Announcement) => void | Promise<void>): void {
    this.handlers.push(handler);
  }

  /**
   * Acts on the announcement here, then publishes it and waits for as many
   * acknowledgements as Redis counted other receivers (PUBLISH answers how
   * many subscribers got the message: this instance's own among them).
   */
  async announce(announcement: Announcement): Promise<void> {
    for (const handle of this.handlers) await handle(announcement);
    if (this.pub.status !== 'ready') return;
    const id = randomBytes(9).toString('base64url');
    let done!: () => void;
    const acknowledged = new Promise<void>((resolve) => (done = resolve));
    // Registered before publishing: an acknowledgement may come back before PUBLISH's answer does.
    const waiting: Awaiting = { acks: 0, expected: null, done };
    this.awaitingAcks.set(id, waiting);
    const timer = setTimeout(done, REVOCATION_ACK_TIMEOUT_MS);
    timer.unref();
    try {
      const receivers = await this.pub.publish(this.announceChannel, JSON.stringify({ id, origin: this.origin, announcement }));
      waiting.expected = receivers - 1;
      if (waiting.acks >= waiting.expected) done();
    } catch {
      done();
    }
    await acknowledged;
    clearTimeout(timer);
    this.awaitingAcks.delete(id);
  }

  private async announcementReceived(message: string): Promise<void> {
    let parsed: { id: string; origin: string; announcement: Announcement };
    try {
      parsed = JSON.parse(message) as typeof parsed;
    } catch {
      return;
    }
    if (parsed.origin === this.origin) return;
    for (const handle of this.handlers) {
      try {
        await handle(parsed.announcement);
      } catch (err) {
        this.log.error({ err: err instanceof Error ? err.name : typeof err, kind: parsed.announcement.kind }, 'announcement: acting on it failed');
      }
    }
    this.pub.publish(`${this.prefix}!revoked-ack:${parsed.origin}`, parsed.id).catch(() => {});
  }

  private ackReceived(id: string): void {
    const waiting = this.awaitingAcks.get(id);
    if (!waiting) return;
    waiting.acks += 1;
    if (waiting.expected !== null && waiting.acks >= waiting.expected) waiting.done();
  }

  async close(): Promise<void> {
    this.pub.disconnect();
    this.sub.disconnect();
  }
}
