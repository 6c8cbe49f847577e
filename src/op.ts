import type { App } from './app.js';
import { audit, type Surface } from './audit.js';
import { assertWithinLimits } from './auth/limits.js';
import type { Actor } from './auth/principal.js';
import { transaction, type TransactionOptions, type Unit } from './db/transaction.js';

/**
 * One write operation, as every service receives it: the transaction, the
 * gateway's collaborators, who acts and through which surface. Services do
 * their own locking, auditing and feed/availability work through it, so a
 * change and its audit row commit together whatever door it came through.
 */

export interface Op extends Unit {
  readonly app: App;
  readonly actor: Actor;
  readonly via: Surface;
  /** Records who did what, in this transaction. Never pass secret values in `detail`. */
  audit(action: string, targetType: string, targetId: string | null, detail?: Record<string, unknown>): Promise<void>;
  /** The same operation, attributed to another surface (a manifest import acting through the connector service…). */
  through(via: Surface): Op;
}

function makeOp(unit: Unit, app: App, actor: Actor, via: Surface): Op {
  return {
    ...unit,
    app,
    actor,
    via,
    async audit(action, targetType, targetId, detail = {}) {
      // Every change is audited, so this is where a read-only key's change is stopped whatever its door (auth/limits.ts).
      assertWithinLimits(actor, 'change');
      await audit(unit.tx, actor, via, action, targetType, targetId, detail);
    },
    through: (other) => makeOp(unit, app, actor, other),
  };
}

/**
 * Runs `fn` as one transaction on behalf of `actor`. Once it has committed,
 * and before this returns, every instance drops what it kept of the actor's
 * organization for the proxy (modules/proxy/cache.ts): whatever the change
 * was, no proxy call that starts after its answer sees what it replaced.
 */
export function write<T>(app: App, actor: Actor, via: Surface, fn: (op: Op) => Promise<T>, opts?: TransactionOptions): Promise<T> {
  return transaction(
    app.db.prisma,
    (unit) => {
      unit.afterCommit(() => app.proxyCache.changed(actor.orgId));
      return fn(makeOp(unit, app, actor, via));
    },
    opts,
  );
}

