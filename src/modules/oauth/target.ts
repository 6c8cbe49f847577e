import type { Principal } from '../../auth/principal.js';
import { NotFoundError, ValidationError } from '../../errors.js';
import type { PrismaClient } from '../../generated/prisma/client.js';
import { connectionWhere } from '../connections/scope.js';
import { loadConnection, type ConnectionWithConnector, type Slot } from '../connections/service.js';
import { customerWhere, uuidOrNone } from '../tenancy/scope.js';

/**
 * Which connection value a credential mutation (OAuth2 start, client
 * credentials, test connection) acts on, and whether the principal may:
 *   - a customer user: its own customer's value of a CUSTOMER_ACTIVATED
 *     connection (others do not exist for it);
 *   - an org principal (credential writes): any slot of its org's
 *     connections — a customer's, GLOBAL or TEST.
 */
export interface TargetArgs {
  connectionId: string;
  kind?: 'CUSTOMER' | 'GLOBAL' | 'TEST' | null;
  customerId?: string | null;
}

export async function loadTarget(
  prisma: PrismaClient,
  principal: Principal | null,
  args: TargetArgs,
): Promise<{ connection: ConnectionWithConnector; slot: Slot }> {
  const connection = await loadConnection(prisma, {
    id: uuidOrNone(args.connectionId),
    archivedAt: null,
    AND: [connectionWhere(principal)],
  });
  if (principal?.kind === 'CUSTOMER_USER') {
    if (args.kind && args.kind !== 'CUSTOMER') throw new NotFoundError('Connection value');
    if (args.customerId && args.customerId !== principal.customerId) throw new NotFoundError('Customer');
    return { connection, slot: { kind: 'CUSTOMER', customerId: principal.customerId } };
  }
  const kind = args.kind ?? (connection.type === 'ORG_ACTIVATED_GLOBAL' ? 'GLOBAL' : 'CUSTOMER');
  if (kind === 'TEST') return { connection, slot: { kind: 'TEST' } };
  if (kind === 'GLOBAL') {
    if (connection.type !== 'ORG_ACTIVATED_GLOBAL') throw ValidationError.field('slot', `a ${connection.type} connection has per-customer values`);
    return { connection, slot: { kind: 'GLOBAL' } };
  }
  if (connection.type === 'ORG_ACTIVATED_GLOBAL') throw ValidationError.field('slot', 'a global connection has one GLOBAL value');
  if (!args.customerId) throw ValidationError.field('customerId', 'is required for a per-customer value');
  const customer = await prisma.customer.findFirst({
    where: { id: uuidOrNone(args.customerId), AND: [customerWhere(principal)] },
    select: { id: true },
  });
  if (!customer) throw new NotFoundError('Customer');
  return { connection, slot: { kind: 'CUSTOMER', customerId: customer.id } };
}
