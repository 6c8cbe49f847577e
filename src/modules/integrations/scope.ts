import type { Principal } from '../../auth/principal.js';
import type { Prisma } from '../../generated/prisma/client.js';
import { NO_ROW } from '../tenancy/scope.js';

/**
 * Who sees which integrations and instances (design.md, "Who sees what").
 *
 * - org principals: everything in their org;
 * - customer users: their own customer's instances, and the integrations
 *   deployed to their customer (nothing else of the org's catalogue);
 * - runtime and anonymous: nothing through these views.
 */
export function integrationWhere(p: Principal | null): Prisma.IntegrationWhereInput {
  if (p?.kind === 'ORG_USER' || p?.kind === 'API_KEY') return { orgId: p.orgId };
  if (p?.kind === 'CUSTOMER_USER') return { orgId: p.orgId, instances: { some: { customerId: p.customerId } } };
  return { id: NO_ROW };
}

export function instanceWhere(p: Principal | null): Prisma.InstanceWhereInput {
  if (p?.kind === 'ORG_USER' || p?.kind === 'API_KEY') return { orgId: p.orgId };
  if (p?.kind === 'CUSTOMER_USER') return { orgId: p.orgId, customerId: p.customerId };
  return { id: NO_ROW };
}
