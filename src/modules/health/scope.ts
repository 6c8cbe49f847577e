import { isOrgPrincipal, type Principal } from '../../auth/principal.js';
import type { Prisma } from '../../generated/prisma/client.js';
import { customerVisibleConnection } from '../connections/scope.js';

/**
 * Who sees which status transitions: exactly who sees the value they belong
 * to (values/scope.ts's `valueWhere`), a cleared value's included — org
 * principals every one of their org, a customer user its own customer's
 * values of the connections it may configure, nobody else anything.
 */
export function statusChangeWhere(p: Principal | null): Prisma.ValueStatusChangeWhereInput {
  if (isOrgPrincipal(p)) return { orgId: p.orgId };
  if (p?.kind === 'CUSTOMER_USER') return { orgId: p.orgId, customerId: p.customerId, connection: customerVisibleConnection(p) };
  return { id: -1n };
}
