import { isOrgPrincipal, type Actor } from '../../auth/principal.js';
import type { Prisma } from '../../generated/prisma/client.js';
import { NO_ROW } from '../../ids.js';

/**
 * Who sees and changes which workflows and steps: org principals every
 * workflow of their org; customer users their own customer's (the embedded
 * builder); runtime and anonymous none through these views.
 */
export function workflowWhere(p: Actor | null): Prisma.WorkflowWhereInput {
  if (isOrgPrincipal(p)) return { orgId: p.orgId };
  if (p?.kind === 'CUSTOMER_USER') return { orgId: p.orgId, customerId: p.customerId };
  return { id: NO_ROW };
}

export function stepWhere(p: Actor | null): Prisma.WorkflowStepWhereInput {
  return { workflow: workflowWhere(p) };
}
