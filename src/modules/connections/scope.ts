import type { Principal } from '../../auth/principal.js';
import type { Prisma } from '../../generated/prisma/client.js';
import { NO_ROW } from '../tenancy/scope.js';

/**
 * Who sees which connectors, connections and values (design.md, "Who sees
 * what"). Every read of these tables goes through these `where` builders.
 *
 * - org principals: everything in their org;
 * - customer users: CUSTOMER_ACTIVATED, non-archived connections of their org
 *   (their connectors too) and their own customer's values of those; the step
 *   picker shows org-activated options separately, opaquely;
 * - runtime and anonymous: nothing through these views (the runtime resolves
 *   credentials through its own path).
 */
export function connectorWhere(p: Principal | null): Prisma.ConnectorWhereInput {
  if (p?.kind === 'ORG_USER' || p?.kind === 'API_KEY') return { orgId: p.orgId };
  if (p?.kind === 'CUSTOMER_USER') {
    return { orgId: p.orgId, connections: { some: customerVisibleConnection(p.orgId) } };
  }
  return { id: NO_ROW };
}

export function connectionWhere(p: Principal | null): Prisma.ConnectionWhereInput {
  if (p?.kind === 'ORG_USER' || p?.kind === 'API_KEY') return { orgId: p.orgId };
  if (p?.kind === 'CUSTOMER_USER') return customerVisibleConnection(p.orgId);
  return { id: NO_ROW };
}

export function valueWhere(p: Principal | null): Prisma.ConnectionValueWhereInput {
  if (p?.kind === 'ORG_USER' || p?.kind === 'API_KEY') return { orgId: p.orgId };
  if (p?.kind === 'CUSTOMER_USER') {
    return {
      orgId: p.orgId,
      kind: 'CUSTOMER',
      customerId: p.customerId,
      connection: customerVisibleConnection(p.orgId),
    };
  }
  return { id: NO_ROW };
}

function customerVisibleConnection(orgId: string): Prisma.ConnectionWhereInput {
  return { orgId, type: 'CUSTOMER_ACTIVATED', archivedAt: null };
}
