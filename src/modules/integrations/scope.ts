import { isOrgPrincipal, type Actor } from '../../auth/principal.js';
import type { Prisma } from '../../generated/prisma/client.js';
import { NO_ROW } from '../../ids.js';

/**
 * Who sees which integrations and instances (design.md, "Who sees what").
 *
 * - org principals: everything in their org;
 * - customer users: their own customer's instances, and the integrations
 *   deployed to their customer (nothing else of the org's catalogue);
 * - runtime and anonymous: nothing through these views.
 */
export function integrationWhere(p: Actor | null): Prisma.IntegrationWhereInput {
  if (isOrgPrincipal(p)) return { orgId: p.orgId };
  if (p?.kind === 'CUSTOMER_USER') return { orgId: p.orgId, instances: { some: { customerId: p.customerId } } };
  return { id: NO_ROW };
}

export function instanceWhere(p: Actor | null): Prisma.InstanceWhereInput {
  if (isOrgPrincipal(p)) return { orgId: p.orgId };
  if (p?.kind === 'CUSTOMER_USER') return { orgId: p.orgId, customerId: p.customerId };
  return { id: NO_ROW };
}
