import { isOrgPrincipal, type Principal } from '../../auth/principal.js';
import { NotFoundError } from '../../errors.js';
import type { Prisma, PrismaClient } from '../../generated/prisma/client.js';
import { canSeeConnection, connectionWhere, customerVisibleConnection } from '../connections/scope.js';
import { connectorWhere } from '../connectors/scope.js';
import { whichCustomer } from '../tenancy/scope.js';
import type { HealthEventKind, HealthItem } from './events.js';

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

/** The same rule for the live health feed's events (events.ts), as its connection is now. */
export function canSeeHealthEvent(p: Principal, e: HealthItem): boolean {
  if (isOrgPrincipal(p)) return e.orgId === p.orgId;
  if (p.kind === 'CUSTOMER_USER') return e.customerId === p.customerId && e.connection !== null && canSeeConnection(p, e.connection);
  return false;
}

/** What a live health subscription follows: its organization, narrowed by the filters it named. */
export interface HealthFeedTarget {
  orgId: string;
  customerId: string | null;
  connectionId: string | null;
  connectorId: string | null;
  kinds: readonly HealthEventKind[] | null;
}

/**
 * Resolves a subscription's filters: each names something the principal may
 * see (a customer of the org, or a customer user's own; a connection and a
 * connector it sees), or is NOT_FOUND like one that does not exist. A
 * customer user always follows its own customer.
 */
export async function healthFeedTarget(
  prisma: PrismaClient,
  p: Principal,
  args: { customerId: string | undefined; connectionId: string | undefined; connectorId: string | undefined; kinds: readonly HealthEventKind[] | null },
): Promise<HealthFeedTarget> {
  let customerId: string | null = null;
  if (p.kind === 'CUSTOMER_USER' || args.customerId !== undefined) {
    const found = await whichCustomer(prisma, p, args.customerId);
    if (found === null || found === 'REQUIRED') throw new NotFoundError('Customer');
    customerId = found;
  }
  if (args.connectionId !== undefined && !(await prisma.connection.findFirst({ where: { id: args.connectionId, AND: [connectionWhere(p)] }, select: { id: true } }))) {
    throw new NotFoundError('Connection');
  }
  if (args.connectorId !== undefined && !(await prisma.connector.findFirst({ where: { id: args.connectorId, AND: [connectorWhere(p)] }, select: { id: true } }))) {
    throw new NotFoundError('Connector');
  }
  return { orgId: p.orgId, customerId, connectionId: args.connectionId ?? null, connectorId: args.connectorId ?? null, kinds: args.kinds };
}

/** Which of its organization's events a subscription receives: its scope, then its filters (RESYNC always). */
export function healthFeedAdmits(p: Principal, target: HealthFeedTarget): (e: HealthItem) => boolean {
  return (e) =>
    e.kind === 'RESYNC' ||
    (canSeeHealthEvent(p, e) &&
      (!target.customerId || e.customerId === target.customerId) &&
      (!target.connectionId || e.connectionId === target.connectionId) &&
      (!target.connectorId || e.connectorId === target.connectorId) &&
      (!target.kinds || target.kinds.includes(e.kind)));
}
