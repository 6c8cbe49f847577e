import { isOrgPrincipal, type Principal } from '../../auth/principal.js';
import type { Prisma } from '../../generated/prisma/client.js';
import { NO_ROW } from '../../ids.js';
import { customerVisibleConnection } from '../connections/scope.js';

/**
 * Who sees which connectors: org principals every connector of their org;
 * customer users those of the connections they may configure
 * (customer-activated, not archived); runtime and anonymous none.
 * Only org principals change connectors (their operation scopes say which).
 */
export function connectorWhere(p: Principal | null): Prisma.ConnectorWhereInput {
  if (isOrgPrincipal(p)) return { orgId: p.orgId };
  if (p?.kind === 'CUSTOMER_USER') return { orgId: p.orgId, connections: { some: customerVisibleConnection(p.orgId) } };
  return { id: NO_ROW };
}
