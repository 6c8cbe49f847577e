import { isOrgPrincipal, type Actor } from '../../auth/principal.js';
import type { Prisma } from '../../generated/prisma/client.js';
import { NO_ROW } from '../../ids.js';

/**
 * Who sees and changes which workflows and steps: org principals every
 * workflow of their org; customer users their own customer's (the embedded
 * builder); runtime and anonymous none through these views.
 *
 * A connect link's session (a customer user limited to its link's
 * connections) sees only the workflows with a step on one of those
 * connections, and of them only those steps: the rest of the builder's work
 * does not exist for it.
 */
export function workflowWhere(p: Actor | null): Prisma.WorkflowWhereInput {
  if (isOrgPrincipal(p)) return { orgId: p.orgId };
  if (p?.kind === 'CUSTOMER_USER') {
    return { orgId: p.orgId, customerId: p.customerId, ...(p.connectionIds ? { steps: { some: linkedStep(p.connectionIds) } } : {}) };
  }
  return { id: NO_ROW };
}

export function stepWhere(p: Actor | null): Prisma.WorkflowStepWhereInput {
  return { workflow: workflowWhere(p), ...visibleStepWhere(p) };
}

/** Which steps of a visible workflow this principal sees (a workflow's `steps`): a link session's only; undefined: all of them. */
export function visibleStepWhere(p: Actor | null): Prisma.WorkflowStepWhereInput | undefined {
  return p?.kind === 'CUSTOMER_USER' && p.connectionIds ? linkedStep(p.connectionIds) : undefined;
}

function linkedStep(connectionIds: readonly string[]): Prisma.WorkflowStepWhereInput {
  return { connectionId: { in: [...connectionIds] } };
}
