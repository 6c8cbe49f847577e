import { assertWithinLimits } from '../../auth/limits.js';
import { isOrgPrincipal, principalOfActor, type Actor, type Principal } from '../../auth/principal.js';
import type { Tx } from '../../db/transaction.js';
import { NotFoundError, ValidationError } from '../../errors.js';
import type { Prisma, PrismaClient, ValueKind } from '../../generated/prisma/client.js';
import { NO_ROW } from '../../ids.js';
import { connectionWhere, customerVisibleConnection } from '../connections/scope.js';
import type { ConnectionWithConnector } from '../connections/scope.js';
import { loadConnection } from '../connections/service.js';
import type { Slot } from './service.js';

/**
 * Who sees and sets which connection values (design.md, "Who sees what"):
 *
 * - org principals: every value of their org (secrets masked on read; writes
 *   need the credentialWrite scope);
 * - customer users: their own customer's values of the connections they may
 *   configure (customer-activated, not archived);
 * - runtime and anonymous: nothing through these views (the runtime reads
 *   decrypted credentials through runtime/scope.ts).
 */
export function valueWhere(p: Principal | null): Prisma.ConnectionValueWhereInput {
  if (isOrgPrincipal(p)) return { orgId: p.orgId };
  if (p?.kind === 'CUSTOMER_USER') {
    return { orgId: p.orgId, kind: 'CUSTOMER', customerId: p.customerId, connection: customerVisibleConnection(p) };
  }
  return { id: NO_ROW };
}

/** What a caller names to act on one value: a connection (id or stableKey), and a slot. */
export interface ValueTargetSpec {
  connectionId?: string | undefined;
  connectionStableKey?: string | null | undefined;
  /** Default: GLOBAL for global connections, else CUSTOMER. */
  kind?: ValueKind | null | undefined;
  customerId?: string | undefined;
  customerExternalId?: string | null | undefined;
}

/**
 * "Which value slot", the one rule for every credential operation (set,
 * clear, OAuth2 start and client credentials, test connection):
 *   - a customer user: its own customer's value of a connection it may
 *     configure; any other slot or customer does not exist for it;
 *   - an org principal: any slot of its org's connections — a customer's,
 *     GLOBAL (global connections) or TEST.
 * An archived connection is `hidden` (not found: flows and tests), `refused`
 * (new credentials) or `allowed` (clearing old ones). Problems are named
 * relative to the spec (`connectionId`, `slot`, `customerId`). Every one of
 * these operations is a credential write: a limited key gets none
 * (auth/limits.ts).
 */
export async function valueTarget(
  db: PrismaClient | Tx,
  p: Actor,
  spec: ValueTargetSpec,
  archived: 'hidden' | 'refused' | 'allowed',
): Promise<{ connection: ConnectionWithConnector; slot: Slot }> {
  assertWithinLimits(p, 'credentials');
  if (!spec.connectionId && !spec.connectionStableKey) throw ValidationError.field('connectionId', 'give connectionId or connectionStableKey');
  const connection = await loadConnection(db, {
    ...(spec.connectionId ? { id: spec.connectionId } : { stableKey: spec.connectionStableKey! }),
    ...(archived === 'hidden' ? { archivedAt: null } : {}),
    // Only principals name values this way (the OAuth callback knows its value from the flow).
    AND: [connectionWhere(principalOfActor(p))],
  });
  if (archived === 'refused' && connection.archivedAt) throw ValidationError.field('connectionId', 'the connection is archived');
  if (p.kind === 'CUSTOMER_USER') {
    if (spec.kind && spec.kind !== 'CUSTOMER') throw new NotFoundError('Connection value');
    if (spec.customerId !== undefined && spec.customerId !== p.customerId) throw new NotFoundError('Customer');
    return { connection, slot: { kind: 'CUSTOMER', customerId: p.customerId } };
  }
  const global = connection.type === 'ORG_ACTIVATED_GLOBAL';
  const kind = spec.kind ?? (global ? 'GLOBAL' : 'CUSTOMER');
  const namesCustomer = spec.customerId !== undefined || !!spec.customerExternalId;
  if (kind !== 'CUSTOMER') {
    if (namesCustomer) throw ValidationError.field('customerId', `a ${kind} slot has no customer`);
    if (kind === 'GLOBAL' && !global) throw ValidationError.field('slot', `a ${connection.type} connection has per-customer values`);
    return { connection, slot: { kind } };
  }
  if (global) throw ValidationError.field('slot', 'a global connection has one GLOBAL value, not per-customer values');
  if (!namesCustomer) throw ValidationError.field('customerId', 'is required for a per-customer value (customerId or customerExternalId)');
  const customer = await db.customer.findFirst({
    where: { orgId: connection.orgId, ...(spec.customerId !== undefined ? { id: spec.customerId } : { externalId: spec.customerExternalId! }) },
    select: { id: true },
  });
  if (!customer) throw new NotFoundError('Customer');
  return { connection, slot: { kind: 'CUSTOMER', customerId: customer.id } };
}
