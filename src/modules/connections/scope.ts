import { isOrgPrincipal, type CustomerUserPrincipal, type Principal } from '../../auth/principal.js';
import type { Connection, Connector, Prisma } from '../../generated/prisma/client.js';
import { NO_ROW } from '../../ids.js';

/**
 * Who sees which reusable connections (and, through them, what the picker,
 * integrations and workflow steps may show of one):
 *
 * - org principals: every connection of their org;
 * - customer users: the customer-activated, non-archived connections of
 *   their org (those they may configure) — only those of their allowed set
 *   when their session is limited (a connect link's); org-activated ones
 *   reach them only as opaque picker options (feed module);
 * - runtime and anonymous: nothing through these views (the runtime resolves
 *   credentials through its own path, runtime/scope.ts).
 */
/** A connection as services and scopes pass it around: with its connector. */
export type ConnectionWithConnector = Connection & { connector: Connector };

export function customerVisibleConnection(p: Pick<CustomerUserPrincipal, 'orgId' | 'connectionIds'>): Prisma.ConnectionWhereInput {
  return { orgId: p.orgId, type: 'CUSTOMER_ACTIVATED', archivedAt: null, ...(p.connectionIds ? { id: { in: [...p.connectionIds] } } : {}) };
}

export function connectionWhere(p: Principal | null): Prisma.ConnectionWhereInput {
  if (isOrgPrincipal(p)) return { orgId: p.orgId };
  if (p?.kind === 'CUSTOMER_USER') return customerVisibleConnection(p);
  return { id: NO_ROW };
}

/** The same rule for a connection already loaded (through a step, a requirement…). */
export function canSeeConnection(p: Principal | null, c: Pick<Connection, 'id' | 'orgId' | 'type' | 'archivedAt'>): boolean {
  if (isOrgPrincipal(p)) return p.orgId === c.orgId;
  if (p?.kind === 'CUSTOMER_USER') {
    return p.orgId === c.orgId && c.type === 'CUSTOMER_ACTIVATED' && !c.archivedAt && (!p.connectionIds || p.connectionIds.includes(c.id));
  }
  return false;
}
