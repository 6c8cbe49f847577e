import DataLoader from 'dataloader';
import type { Connection, Prisma, PrismaClient } from '../../generated/prisma/client.js';

/**
 * Readiness of instances: an instance is ready when every *required*
 * connection of its integration resolves for its customer.
 *
 * - per-customer types (CUSTOMER_ACTIVATED, ORG_ACTIVATED_CUSTOMER): the
 *   customer's value exists and is ACTIVE;
 * - ORG_ACTIVATED_GLOBAL: the GLOBAL value is ACTIVE and, when the connection
 *   is restricted to its allow-list, the list admits the customer;
 * - an archived connection never resolves.
 */
export type MissingReason = 'NO_VALUE' | 'PENDING' | 'ERROR' | 'EXPIRED' | 'NOT_ALLOWED' | 'ARCHIVED';

export interface MissingConnection {
  connection: Connection;
  reason: MissingReason;
}

export interface Readiness {
  ready: boolean;
  missing: MissingConnection[];
}

export interface InstanceKey {
  id: string;
  integrationId: string;
  customerId: string;
}

type Db = PrismaClient | Prisma.TransactionClient;

/** Readiness of many instances in three statements, whatever their number. */
export async function computeReadiness(db: Db, instances: readonly InstanceKey[]): Promise<Readiness[]> {
  if (instances.length === 0) return [];
  const integrationIds = [...new Set(instances.map((i) => i.integrationId))];
  const customerIds = [...new Set(instances.map((i) => i.customerId))];
  const requirements = await db.integrationConnection.findMany({
    where: { integrationId: { in: integrationIds }, required: true },
    include: { connection: true },
    orderBy: { connection: { stableKey: 'asc' } },
  });
  const connectionIds = [...new Set(requirements.map((r) => r.connectionId))];
  // Sequential, not Promise.all: `db` may be a transaction, which runs on one connection.
  const values = connectionIds.length
    ? await db.connectionValue.findMany({
        where: { connectionId: { in: connectionIds }, slot: { in: [...customerIds, 'GLOBAL'] } },
        select: { connectionId: true, slot: true, status: true },
      })
    : [];
  const allowances = connectionIds.length
    ? await db.globalAllowance.findMany({
        where: { connectionId: { in: connectionIds }, customerId: { in: customerIds } },
        select: { connectionId: true, customerId: true },
      })
    : [];
  const status = new Map(values.map((v) => [`${v.connectionId}/${v.slot}`, v.status]));
  const allowed = new Set(allowances.map((a) => `${a.connectionId}/${a.customerId}`));
  const byIntegration = new Map<string, typeof requirements>();
  for (const r of requirements) {
    const list = byIntegration.get(r.integrationId) ?? [];
    list.push(r);
    byIntegration.set(r.integrationId, list);
  }

  return instances.map((instance) => {
    const missing: MissingConnection[] = [];
    for (const { connection } of byIntegration.get(instance.integrationId) ?? []) {
      const reason = unresolvedReason(connection, instance.customerId, status, allowed);
      if (reason) missing.push({ connection, reason });
    }
    return { ready: missing.length === 0, missing };
  });
}

function unresolvedReason(
  c: Connection,
  customerId: string,
  status: Map<string, string>,
  allowed: Set<string>,
): MissingReason | null {
  if (c.archivedAt) return 'ARCHIVED';
  const global = c.type === 'ORG_ACTIVATED_GLOBAL';
  if (global && c.restrictToAllowList && !allowed.has(`${c.id}/${customerId}`)) return 'NOT_ALLOWED';
  const s = status.get(`${c.id}/${global ? 'GLOBAL' : customerId}`);
  if (!s) return 'NO_VALUE';
  return s === 'ACTIVE' ? null : (s as MissingReason);
}

/** One loader per request: readiness of every instance a response lists is computed in one batch. */
const loaders = new WeakMap<object, DataLoader<InstanceKey, Readiness, string>>();

export function readinessLoader(ctx: { prisma: PrismaClient }): DataLoader<InstanceKey, Readiness, string> {
  let loader = loaders.get(ctx);
  if (!loader) {
    loader = new DataLoader((keys) => computeReadiness(ctx.prisma, keys), { cacheKeyFn: (k) => k.id });
    loaders.set(ctx, loader);
  }
  return loader;
}
