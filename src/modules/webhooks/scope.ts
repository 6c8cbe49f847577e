import { isOrgPrincipal, type Actor } from '../../auth/principal.js';
import type { Prisma } from '../../generated/prisma/client.js';
import { NO_ROW } from '../../ids.js';

/**
 * Webhook endpoints and their delivery log belong to the organization: org
 * principals see their org's, nobody else anything (customer users, the
 * runtime: they do not exist).
 */
export function endpointWhere(p: Actor | null): Prisma.WebhookEndpointWhereInput {
  return isOrgPrincipal(p) ? { orgId: p.orgId } : { id: NO_ROW };
}

export function deliveryWhere(p: Actor | null): Prisma.WebhookDeliveryWhereInput {
  return isOrgPrincipal(p) ? { orgId: p.orgId } : { id: NO_ROW };
}
