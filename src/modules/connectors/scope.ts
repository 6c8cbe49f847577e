import { isOrgPrincipal, type Actor, type Principal } from '../../auth/principal.js';
import type { Tx } from '../../db/transaction.js';
import type { Prisma, PrismaClient } from '../../generated/prisma/client.js';
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
  if (p?.kind === 'CUSTOMER_USER') return { orgId: p.orgId, connections: { some: customerVisibleConnection(p) } };
  return { id: NO_ROW };
}

/**
 * The connectors a principal may name in the workflow builder (a step's
 * connector, a feed filter): org principals any of their org's; customer
 * users those they see (connectorWhere) and those of the options their
 * picker offers them (which show the connector's key and name). Any other —
 * an org-only connector — is, for them, one that does not exist. A connect
 * link's session: those of its link's connections only.
 */
export async function builderConnectorWhere(db: PrismaClient | Tx, p: Actor, customerId: string): Promise<Prisma.ConnectorWhereInput> {
  if (p.kind !== 'CUSTOMER_USER') return { orgId: p.orgId };
  // A link session's picker offers its link's connections only: their connectors, nothing else.
  if (p.connectionIds) return connectorWhere(p);
  const offered = await db.availableSelection.findMany({ where: { customerId, orgId: p.orgId }, distinct: ['connectorId'], select: { connectorId: true } });
  return { orgId: p.orgId, OR: [{ connections: { some: customerVisibleConnection(p) } }, { id: { in: offered.map((o) => o.connectorId) } }] };
}
