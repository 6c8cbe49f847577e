import type { RuntimePrincipal } from '../../auth/principal.js';
import type { Tx } from '../../db/transaction.js';
import type { Database } from '../../db/database.js';
import { rowMapper } from '../../db/rows.js';
import type { Connection, ConnectionValue, Connector, PrismaClient } from '../../generated/prisma/client.js';
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

const connectionRow = rowMapper<Connection>('Connection');
const connectorRow = rowMapper<Connector>('Connector');
const valueRow = rowMapper<ConnectionValue>('ConnectionValue');

/**
 * The connection a runtime token asks for, in one statement: its connector,
 * the values that could serve the token's customer (its own slot and GLOBAL;
 * `servingSlot` picks) and whether the allow-list names the customer. Null
 * when the token may not resolve it at all. Every resolution and proxy call
 * starts here: one driver read, the rows mapped as Prisma would return them
 * (db/rows.ts), not the ORM's relation-join result walk.
 */
export async function findForRuntime(db: Database, p: RuntimeSubject, by: ResolveBy) {
  const [column, key] = 'stableKey' in by ? ['stableKey', by.stableKey] : ['externalId', by.externalId];
  const [row] = await db.driverQuery(
    `SELECT row_to_json(c), row_to_json(k),
       (SELECT coalesce(json_agg(row_to_json(v)), '[]'::json) FROM "ConnectionValue" v WHERE v."connectionId" = c."id" AND v."slot" IN ($3, 'GLOBAL')),
       EXISTS (SELECT 1 FROM "GlobalAllowance" a WHERE a."connectionId" = c."id" AND a."customerId" = $4)
     FROM "Connection" c JOIN "Connector" k ON k."id" = c."connectorId"
     WHERE c."orgId" = $1 AND c."archivedAt" IS NULL AND c."${column}" = $2 LIMIT 1`,
    [p.orgId, key, p.customerId, p.customerId],
  );
  if (!row) return null;
  const [connection, connector, values, allowed] = row as [Record<string, unknown>, Record<string, unknown>, Record<string, unknown>[], boolean];
  return {
    ...connectionRow(connection),
    connector: connectorRow(connector),
    values: values.map(valueRow),
    allowances: allowed ? [{ customerId: p.customerId }] : [],
  };
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
