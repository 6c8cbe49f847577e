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

/**
 * Whom a credential is used for: a runtime token's customer (and binding),
 * or the customer an organization principal names (the proxy's
 * `Connection-Id`), unbound.
 */
export type RuntimeSubject = Pick<RuntimePrincipal, 'orgId' | 'customerId' | 'instanceId' | 'workflowId'>;

export function runtimeConnectionWhere(p: RuntimeSubject, by: ResolveBy): Prisma.ConnectionWhereInput {
  return { orgId: p.orgId, archivedAt: null, ...by };
}

/**
 * The connection a runtime token asks for, in one statement (relation joins):
 * its connector, the values that could serve the token's customer (its own
 * slot and GLOBAL; `servingSlot` picks) and whether the allow-list names the
 * customer. Null when the token may not resolve it at all.
 */
export function findForRuntime(db: PrismaClient | Tx, p: RuntimeSubject, by: ResolveBy) {
  return db.connection.findFirst({
    where: runtimeConnectionWhere(p, by),
    include: {
      connector: true,
      values: { where: { slot: { in: [p.customerId, 'GLOBAL'] } } },
      allowances: { where: { customerId: p.customerId }, select: { customerId: true } },
    },
  });
}

/** Whether a restricted global connection's allow-list admits the token's customer (`allowances`: the customer's row, if any). */
export function allowListAdmits(connection: { type: string; restrictToAllowList: boolean; allowances: unknown[] }): boolean {
  return connection.type !== 'ORG_ACTIVATED_GLOBAL' || !connection.restrictToAllowList || connection.allowances.length > 0;
}

/** Why an instance- or workflow-bound token may not use this connection, or null. */
export async function bindingDenial(db: PrismaClient | Tx, p: RuntimeSubject, connectionId: string): Promise<string | null> {
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
