import type { Principal } from '../../auth/principal.js';
import type { Customer, Prisma } from '../../generated/prisma/client.js';
import { audit } from '../audit/audit.js';
import { refreshCustomerAvailability } from '../feed/availability.js';

/**
 * Creates a customer and everything its existence implies, in the caller's
 * transaction: the org's unrestricted global connections become available to
 * it (feed events commit with it) and the creation is audited. Shared by
 * GraphQL (create, upsert) and the REST projects API.
 */
export async function createCustomerRecord(
  tx: Prisma.TransactionClient,
  principal: Principal | null,
  data: { orgId: string; externalId: string; name: string; description?: string; metadata?: Record<string, unknown> },
  audited: { action?: string; detail?: Record<string, unknown> } = {},
): Promise<Customer> {
  const customer = await tx.customer.create({ data: { ...data, metadata: (data.metadata ?? {}) as object } });
  await refreshCustomerAvailability(tx, data.orgId);
  await audit(tx, principal, audited.action ?? 'customer.create', 'Customer', customer.id, audited.detail);
  return customer;
}
