import type { RuntimePrincipal } from '../../auth/principal.js';
import type { Tx } from '../../db/transaction.js';
import type { Prisma, PrismaClient } from '../../generated/prisma/client.js';
import { decodeIdOrRaw } from '../../ids.js';

/**
 * What a runtime token may resolve (design.md, "Who sees what"): the
 * connections of its org that are not archived, each for its own customer
 * only; a global connection only when its allow-list (if restricted) admits
 * the customer; an instance-bound token only connections its instance's
 * integration uses; a workflow-bound token only those its workflow's steps
 * selected. TEST values are never served at run time.
 */
export type ResolveBy = { stableKey: string } | { externalId: string };

export function runtimeConnectionWhere(p: RuntimePrincipal, by: ResolveBy): Prisma.ConnectionWhereInput {
  return { orgId: p.orgId, archivedAt: null, ...by };
}

/** Whether a restricted global connection's allow-list admits the token's customer. */
export async function allowListAdmits(db: PrismaClient | Tx, p: RuntimePrincipal, connection: { id: string; type: string; restrictToAllowList: boolean }): Promise<boolean> {
  if (connection.type !== 'ORG_ACTIVATED_GLOBAL' || !connection.restrictToAllowList) return true;
  const allowed = await db.globalAllowance.findUnique({
    where: { connectionId_customerId: { connectionId: connection.id, customerId: p.customerId } },
    select: { customerId: true },
  });
  return allowed !== null;
}

/** Why an instance- or workflow-bound token may not use this connection, or null. */
export async function bindingDenial(db: PrismaClient | Tx, p: RuntimePrincipal, connectionId: string): Promise<string | null> {
  if (p.instanceId) {
    const instance = await db.instance.findFirst({
      where: { id: decodeIdOrRaw('Instance', p.instanceId), customerId: p.customerId, orgId: p.orgId },
      select: { integration: { select: { connections: { where: { connectionId }, select: { connectionId: true } } } } },
    });
    if (!instance) return "The token's instance does not exist for this customer";
    if (instance.integration.connections.length === 0) return "The instance's integration does not use this connection";
  }
  if (p.workflowId) {
    const workflow = await db.workflow.findFirst({
      where: { id: decodeIdOrRaw('Workflow', p.workflowId), customerId: p.customerId, orgId: p.orgId },
      select: { steps: { where: { connectionId }, select: { id: true }, take: 1 } },
    });
    if (!workflow) return "The token's workflow does not exist for this customer";
    if (workflow.steps.length === 0) return 'No step of the workflow uses this connection';
  }
  return null;
}
