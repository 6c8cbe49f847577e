import type { Principal } from '../../auth/principal.js';
import type { Prisma } from '../../generated/prisma/client.js';
import { NO_ROW } from '../tenancy/scope.js';

/**
 * Who sees (and may change) which workflows and steps: org principals every
 * workflow of their org; customer users their own customer's; runtime and
 * anonymous none through these views.
 */
export function workflowWhere(p: Principal | null): Prisma.WorkflowWhereInput {
  if (p?.kind === 'ORG_USER' || p?.kind === 'API_KEY') return { orgId: p.orgId };
  if (p?.kind === 'CUSTOMER_USER') return { orgId: p.orgId, customerId: p.customerId };
  return { id: NO_ROW };
}

export function stepWhere(p: Principal | null): Prisma.WorkflowStepWhereInput {
  return { workflow: workflowWhere(p) };
}
