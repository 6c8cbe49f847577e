import { LRUCache } from 'lru-cache';
import type { Logger } from 'pino';
import type { Database } from '../../db/database.js';
import type { WakeupBus } from '../../pubsub/wakeups.js';

/**
 * What a proxy call needs, kept per instance so that a call in the steady
 * state sends no SQL and decrypts nothing: who a credential is (an API key's
 * row, a runtime token's customer), which customer an external id names,
 * which value serves (customer, connection) under every rule of runtime use,
 * with its connector's parsed proxy settings, and the opened credential.
 *
 * Correctness rests on one rule: **every committed change is announced
 * before its answer returns**, and every instance drops what it kept of that
 * organization when told. `write()` (op.ts) — the one way services change
 * anything — announces its organization after commit (`changed`); the
 * announcement travels on the wake-up bus (pubsub/wakeups.ts: Redis when
 * configured, acknowledged by every instance, as revocations are; in-process
 * otherwise) and the change's caller is answered once every instance has
 * acknowledged. So a call that starts after a change's answer sees the
 * change, on any instance: a revoked key is refused, an archived connection
 * is not found, a new value's credential is the one sent.
 *
 * Invalidation is by organization (a generation per organization: dropping
 * one is O(1), whatever it holds); an entry read while an invalidation ran
 * is not kept (`load` compares the invalidation count before and after), so
 * a read that raced a change cannot store what the change replaced.
 *
 * The cache is used only where every instance that could serve a change's
 * caller is reachable: the embedded database (PGlite: the only process),
 * or Redis while it is connected (on a lost connection everything kept is
 * dropped, and nothing is kept until it returns). PostgreSQL without Redis
 * reads the database on every call, as before. Each entry also lives at most
 * PROXY_CACHE_TTL_MS: that bounds how long an instance the announcement
 * could not reach (an acknowledgement not in time) may serve what it kept.
 *
 * Gateways that share one in-process database (tests start several on one
 * PGlite) tell each other directly (`peers`), since each has its own
 * in-process bus.
 */
export class ProxyCache {
  private readonly entries: LRUCache<string, Entry> | null;
  private readonly generations = new Map<string, number>();
  /** Every invalidation (of any organization, or all) counts here: a load that saw it change does not store. */
  private invalidations = 0;
  private readonly shared: boolean;

  constructor(
    private readonly opts: { db: Database; kind: 'postgres' | 'pglite'; bus: WakeupBus; redis: boolean; maxEntries: number; ttlMs: number; log: Logger },
  ) {
    this.entries = opts.maxEntries > 0 && opts.ttlMs > 0 ? new LRUCache<string, Entry>({ max: opts.maxEntries, ttl: opts.ttlMs }) : null;
    this.shared = opts.kind === 'pglite' || opts.redis;
    opts.bus.onAnnouncement((a) => {
      if (a.kind === 'CHANGED') this.drop(a.orgId);
    });
    // Redis lost or back: what was kept may have missed an announcement.
    opts.bus.onStatus(() => this.drop(null));
    let peers = PEERS.get(opts.db);
    if (!peers) PEERS.set(opts.db, (peers = new Set()));
    peers.add(this);
  }

  /** Whether entries may be used now (see the class comment). */
  get enabled(): boolean {
    return this.entries !== null && this.shared && (this.opts.kind === 'pglite' || this.opts.bus.crossInstance);
  }

  /**
   * The entry under `key` of organization `orgId` (null when the
   * organization is not known before loading: an API key), or `loader`'s
   * result, kept when nothing was invalidated meanwhile. The stored object
   * is the one returned: callers treat it as read-only (or add derived,
   * equally immutable, parts to it).
   */
  async load<T extends object>(orgId: string | null, key: string, loader: () => Promise<{ orgId: string | null; value: T }>): Promise<T> {
    if (!this.enabled) return (await loader()).value;
    const hit = this.entries!.get(key);
    if (hit && hit.generation === this.generation(hit.orgId) && (orgId === null || hit.orgId === orgId)) return hit.value as T;
    const before = this.invalidations;
    const loaded = await loader();
    // Nothing is kept of an answer that names no organization (an unknown API key): no change would drop it.
    if (loaded.orgId !== null && this.invalidations === before && this.enabled) {
      this.entries!.set(key, { orgId: loaded.orgId, generation: this.generation(loaded.orgId), value: loaded.value });
    }
    return loaded.value;
  }

  /**
   * A change committed in this organization (null: in any, or in several):
   * every instance drops what it kept of it before this resolves (bounded by
   * the bus's acknowledgement wait). Never rejects: the change is committed
   * whatever happens here.
   */
  async changed(orgId: string | null): Promise<void> {
    for (const peer of PEERS.get(this.opts.db) ?? []) peer.drop(orgId);
    try {
      await this.opts.bus.announce({ kind: 'CHANGED', orgId });
    } catch (err) {
      this.opts.log.warn({ err: err instanceof Error ? err.name : typeof err }, 'proxy cache: change not announced');
    }
  }

  /** Forgets what this instance kept of one organization, or (null) of all. */
  drop(orgId: string | null): void {
    this.invalidations++;
    if (orgId === null) {
      this.entries?.clear();
      this.generations.clear();
      return;
    }
    this.generations.set(orgId, this.generation(orgId) + 1);
  }

  /** Stops telling this instance's peers about it (the gateway closed). */
  close(): void {
    PEERS.get(this.opts.db)?.delete(this);
    this.entries?.clear();
  }

  private generation(orgId: string | null): number {
    return orgId === null ? 0 : (this.generations.get(orgId) ?? 0);
  }
}

interface Entry {
  /** The organization whose changes drop it. */
  orgId: string;
  generation: number;
  value: object;
}

/** The caches of gateways sharing one in-process database (by its Database object). */
const PEERS = new WeakMap<Database, Set<ProxyCache>>();
