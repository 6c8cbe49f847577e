import type { Principal } from '../../auth/principal.js';
import { NotFoundError, ValidationError } from '../../errors.js';
import type { Prisma, PrismaClient } from '../../generated/prisma/client.js';
import { builderConnectorWhere } from '../connectors/scope.js';
import { whichCustomer } from '../tenancy/scope.js';
import type { FeedItem } from './reader.js';

/**
 * Whose picker a principal may read and follow: a customer user its own
 * customer's only (naming another customer is naming none); an org principal
 * any customer of its org, which it must name. Runtime tokens and anonymous
 * callers have no picker (their operation scopes keep them out).
 */
export async function pickerCustomer(prisma: PrismaClient, p: Principal | null, customerId: string | undefined): Promise<string | null> {
  const found = await whichCustomer(prisma, p, customerId);
  if (found === 'REQUIRED') throw ValidationError.field('customerId', 'is required for organization principals');
  return found;
}

/**
 * Which options of a picker a principal sees: all of them, or — a connect
 * link's session — those of its link's connections only (its customer's
 * other connections, and the org-activated ones, do not exist for it).
 */
export function pickerOptionWhere(p: Principal | null): Prisma.AvailableSelectionWhereInput {
  return p?.kind === 'CUSTOMER_USER' && p.connectionIds ? { connectionId: { in: [...p.connectionIds] } } : {};
}

/**
 * What a live-feed subscription follows: a customer (as for the picker) and
 * optionally one connector the principal may name in the builder. Unknown,
 * foreign or (for customer users) org-only ones are NOT_FOUND. A link
 * session's subscription follows its link's connections only.
 */
export async function feedTarget(
  prisma: PrismaClient,
  p: Principal,
  args: { customerId: string | undefined; connectorId: string | undefined },
): Promise<{ customerId: string; connectorId: string | null; connectionIds: readonly string[] | null }> {
  const customerId = await pickerCustomer(prisma, p, args.customerId);
  if (!customerId) throw new NotFoundError('Customer');
  // A link session's stream carries events of its link's connections only (pickerOptionWhere).
  const connectionIds = p.kind === 'CUSTOMER_USER' ? p.connectionIds : null;
  if (args.connectorId === undefined) return { customerId, connectorId: null, connectionIds };
  const connector = await prisma.connector.findFirst({ where: { id: args.connectorId, AND: [await builderConnectorWhere(prisma, p, customerId)] }, select: { id: true } });
  if (!connector) throw new NotFoundError('Connector');
  return { customerId, connectorId: connector.id, connectionIds };
}

/** The same selection for events read live (the stream's filter; `readEvents` applies it in SQL for the replay). */
export function feedAdmits(target: { connectorId: string | null; connectionIds: readonly string[] | null }): (item: FeedItem) => boolean {
  return (it) =>
    (!target.connectorId || it.connectorId === target.connectorId) && (!target.connectionIds || (it.connectionId !== null && target.connectionIds.includes(it.connectionId)));
}
