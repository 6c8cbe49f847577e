import { isOrgPrincipal, type Actor } from '../../auth/principal.js';
import type { Connection, Prisma } from '../../generated/prisma/client.js';
import { NO_ROW } from '../../ids.js';

/**
 * Who sees which integrations and instances (design.md, "Who sees what").
 *
 * - org principals: everything in their org;
 * - customer users: their own customer's instances, and the integrations
 *   deployed to their customer (nothing else of the org's catalogue); a
 *   connect link's session only those that use one of its link's
 *   connections, and of their requirements only those;
 * - runtime and anonymous: nothing through these views.
 */
export function integrationWhere(p: Actor | null): Prisma.IntegrationWhereInput {
  if (isOrgPrincipal(p)) return { orgId: p.orgId };
  if (p?.kind === 'CUSTOMER_USER') return { orgId: p.orgId, instances: { some: { customerId: p.customerId } }, ...usesLinked(p.connectionIds) };
  return { id: NO_ROW };
}

export function instanceWhere(p: Actor | null): Prisma.InstanceWhereInput {
  if (isOrgPrincipal(p)) return { orgId: p.orgId };
  if (p?.kind === 'CUSTOMER_USER') return { orgId: p.orgId, customerId: p.customerId, ...(p.connectionIds ? { integration: usesLinked(p.connectionIds) } : {}) };
  return { id: NO_ROW };
}

/** Whether a requirement of a visible instance is shown at all (readiness): a link session sees only its link's connections. */
export function showsRequirement(p: Actor | null, connection: Pick<Connection, 'id'>): boolean {
  return !(p?.kind === 'CUSTOMER_USER' && p.connectionIds && !p.connectionIds.includes(connection.id));
}

function usesLinked(connectionIds: readonly string[] | null): Prisma.IntegrationWhereInput {
  return connectionIds ? { connections: { some: { connectionId: { in: [...connectionIds] } } } } : {};
}
