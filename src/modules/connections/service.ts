import { z } from 'zod';
import { assertWithinLimits } from '../../auth/limits.js';
import { lockKey, lockRow } from '../../db/locks.js';
import type { Tx } from '../../db/transaction.js';
import { ConflictError, InUseError, NotFoundError, ValidationError, inputAt, type Usage } from '../../errors.js';
import { ConnectionType, type Connection, type ConnectionValue, type Connector, type PrismaClient } from '../../generated/prisma/client.js';
import type { Op } from '../../op.js';
import { displayName, parseInput, stableKey, metadata } from '../../validation.js';
import { ensureConnector } from '../connectors/service.js';
import type { FieldDef } from '../connectors/fields.js';
import { refreshAvailability } from '../feed/service.js';
import { emitEvent } from '../webhooks/outbox.js';
import { orgOwned } from '../tenancy/scope.js';
import type { ConnectionWithConnector } from './scope.js';

/** The connection row services return (its shape is the scope's: scope.ts). */
export type { ConnectionWithConnector };
import { servingSlot, setValue } from '../values/service.js';

/**
 * Reusable connections: every write, for GraphQL, REST, the manifest and the
 * seed. A connection's stableKey, type and connector never change. Each
 * change refreshes the picker set (feed module) in its own transaction.
 */

const ConnectionFields = z.object({
  stableKey,
  name: displayName,
  description: z.string().max(5000).optional(),
  connectorId: z.string().uuid('connector not found').optional(),
  connectorKey: z.string().optional(),
  type: z.enum(ConnectionType),
  availableInWorkflows: z.boolean().optional(),
  restrictToAllowList: z.boolean().optional(),
  allowedCustomerIds: z.array(z.string().uuid('contains a customer that does not exist')).max(10_000).optional(),
  externalId: stableKey.nullish(),
  metadata: metadata.optional(),
  /** The credential never leaves the gateway: resolution refuses it, runtimes use the proxy. */
  proxyOnly: z.boolean().optional(),
});
export type ConnectionInput = z.input<typeof ConnectionFields>;

const ConnectionPatch = ConnectionFields.pick({
  name: true,
  description: true,
  availableInWorkflows: true,
  restrictToAllowList: true,
  allowedCustomerIds: true,
  externalId: true,
  metadata: true,
  proxyOnly: true,
}).partial();
type Patch = z.output<typeof ConnectionPatch>;

/** Loads a connection with its connector, or NOT_FOUND. */
export async function loadConnection(db: PrismaClient | Tx, where: import('../../generated/prisma/client.js').Prisma.ConnectionWhereInput): Promise<ConnectionWithConnector> {
  const c = await db.connection.findFirst({ where, include: { connector: true } });
  if (!c) throw new NotFoundError('Connection');
  return c;
}

/** The caller's org's connection (by id, stableKey or externalId), with its connector. */
export function findConnection(op: Op, by: { id: string } | { stableKey: string } | { externalId: string }): Promise<ConnectionWithConnector> {
  return loadConnection(op.tx, { ...by, ...orgOwned(op.actor) });
}

function checkGlobalOnly(type: ConnectionType, input: Patch): void {
  if (type !== 'ORG_ACTIVATED_GLOBAL' && (input.restrictToAllowList || input.allowedCustomerIds?.length)) {
    throw ValidationError.field('allowedCustomerIds', 'only ORG_ACTIVATED_GLOBAL connections have an allow-list');
  }
}

async function checkCustomers(op: Op, orgId: string, ids: string[]): Promise<void> {
  if (!ids.length) return;
  const found = await op.tx.customer.count({ where: { orgId, id: { in: ids } } });
  if (found !== new Set(ids).size) throw ValidationError.field('allowedCustomerIds', 'contains a customer that does not exist');
}

async function connectorOf(op: Op, orgId: string, input: { connectorId?: string; connectorKey?: string }): Promise<string> {
  if (input.connectorId) {
    const c = await op.tx.connector.findFirst({ where: { id: input.connectorId, orgId }, select: { id: true } });
    if (!c) throw ValidationError.field('connectorId', 'connector not found');
    return c.id;
  }
  if (input.connectorKey) {
    const c = await op.tx.connector.findFirst({ where: { key: input.connectorKey, orgId }, select: { id: true } });
    if (!c) throw ValidationError.field('connectorKey', 'connector not found');
    return c.id;
  }
  throw ValidationError.field('connectorId', 'give connectorId or connectorKey');
}

async function assertUniqueKeys(op: Op, orgId: string, keys: { stableKey?: string; externalId?: string | null }, exceptId?: string): Promise<void> {
  const clash = await op.tx.connection.findFirst({
    where: {
      orgId,
      id: exceptId ? { not: exceptId } : undefined,
      OR: [...(keys.stableKey ? [{ stableKey: keys.stableKey }] : []), ...(keys.externalId ? [{ externalId: keys.externalId }] : [])],
    },
    select: { stableKey: true },
  });
  if (!clash) return;
  if (keys.stableKey && clash.stableKey === keys.stableKey) throw new ConflictError('A connection with this stableKey already exists');
  throw new ConflictError('A connection with this externalId already exists');
}

async function replaceAllowList(op: Op, connectionId: string, customerIds: string[] | undefined): Promise<void> {
  if (customerIds === undefined) return;
  await op.tx.globalAllowance.deleteMany({ where: { connectionId } });
  if (customerIds.length) {
    await op.tx.globalAllowance.createMany({ data: [...new Set(customerIds)].map((customerId) => ({ connectionId, customerId })) });
  }
}

async function insert(op: Op, input: z.output<typeof ConnectionFields>, action: string): Promise<Connection> {
  const { orgId } = orgOwned(op.actor);
  checkGlobalOnly(input.type, input);
  const connectorId = await connectorOf(op, orgId, input);
  await checkCustomers(op, orgId, input.allowedCustomerIds ?? []);
  await assertUniqueKeys(op, orgId, input);
  const connection = await op.tx.connection.create({
    data: {
      orgId,
      stableKey: input.stableKey,
      name: input.name,
      description: input.description ?? '',
      connectorId,
      type: input.type,
      availableInWorkflows: input.availableInWorkflows ?? false,
      restrictToAllowList: input.restrictToAllowList ?? false,
      externalId: input.externalId ?? null,
      metadata: (input.metadata ?? {}) as object,
      proxyOnly: input.proxyOnly ?? false,
    },
  });
  await replaceAllowList(op, connection.id, input.allowedCustomerIds);
  await refreshAvailability(op, connection.id);
  await emitEvent(op, orgId, 'connection.created', () => connectionEventData(connection));
  await op.audit(action, 'Connection', connection.id);
  return connection;
}

async function patch(op: Op, connection: Connection, p: Patch, action: string): Promise<Connection> {
  checkGlobalOnly(connection.type, p);
  await checkCustomers(op, connection.orgId, p.allowedCustomerIds ?? []);
  if (p.externalId) await assertUniqueKeys(op, connection.orgId, { externalId: p.externalId }, connection.id);
  // Letting the secret out again is a credential decision (auth/limits.ts), like issuing a token that reads it.
  if (connection.proxyOnly && p.proxyOnly === false) assertWithinLimits(op.actor, 'credentials');
  await replaceAllowList(op, connection.id, p.allowedCustomerIds);
  const updated = await op.tx.connection.update({
    where: { id: connection.id },
    data: {
      name: p.name,
      description: p.description,
      availableInWorkflows: p.availableInWorkflows,
      restrictToAllowList: p.restrictToAllowList,
      externalId: p.externalId,
      metadata: p.metadata as object | undefined,
      proxyOnly: p.proxyOnly,
    },
  });
  // A renamed option is an UPDATED event for everyone who can pick it.
  await refreshAvailability(op, connection.id, { updated: p.name !== undefined && p.name !== connection.name });
  await op.audit(action, 'Connection', connection.id);
  return updated;
}

export async function createConnection(op: Op, raw: unknown): Promise<Connection> {
  return insert(op, parseInput(ConnectionFields, raw), 'connection.create');
}

export async function updateConnection(op: Op, id: string, raw: unknown): Promise<Connection> {
  return patch(op, await findConnection(op, { id }), parseInput(ConnectionPatch, raw), 'connection.update');
}

/** Creates or updates by stable key (automation, tenant sync); the type and connector must match. */
export async function upsertConnection(op: Op, raw: unknown): Promise<Connection> {
  const input = parseInput(ConnectionFields, raw);
  const { orgId } = orgOwned(op.actor);
  await lockKey(op.tx, 'connection.stableKey', `${orgId}:${input.stableKey}`);
  const existing = await op.tx.connection.findUnique({ where: { orgId_stableKey: { orgId, stableKey: input.stableKey } } });
  if (!existing) return insert(op, input, 'connection.upsert');
  if (existing.type !== input.type) throw ValidationError.field('type', `cannot change (connection is ${existing.type})`);
  if (existing.connectorId !== (await connectorOf(op, orgId, input))) throw ValidationError.field('connectorId', 'cannot change');
  const { stableKey: _s, type: _t, connectorId: _c, connectorKey: _k, ...rest } = input;
  return patch(op, existing, rest, 'connection.upsert');
}

/** Hides the connection from customers and workflows (values are kept), or shows it again. */
export async function archiveConnection(op: Op, id: string, archived: boolean): Promise<Connection> {
  const connection = await findConnection(op, { id });
  const updated = await op.tx.connection.update({
    where: { id: connection.id },
    data: { archivedAt: archived ? (connection.archivedAt ?? new Date()) : null },
  });
  await refreshAvailability(op, connection.id);
  if (archived && !connection.archivedAt) await emitEvent(op, connection.orgId, 'connection.archived', () => connectionEventData(updated));
  await op.audit(archived ? 'connection.archive' : 'connection.unarchive', 'Connection', connection.id);
  return updated;
}

/**
 * What uses connections: integrations that require them and workflow steps
 * that selected them, by connection — at most 50 of each per connection, in
 * two statements whatever the number of connections.
 */
export async function connectionUsage(db: PrismaClient | Tx, connectionIds: readonly string[]): Promise<Usage[][]> {
  const ids = [...connectionIds];
  // Window functions keep the read bounded per connection; Prisma has no per-parent limit in one statement.
  const integrations = await db.$queryRaw<{ connectionId: string; id: string; name: string }[]>`
    SELECT u."connectionId", i.id, i.name FROM (
      SELECT "connectionId", "integrationId", row_number() OVER (PARTITION BY "connectionId" ORDER BY "integrationId") AS n
      FROM "IntegrationConnection" WHERE "connectionId" = ANY(${ids}::uuid[])
    ) u JOIN "Integration" i ON i.id = u."integrationId" WHERE u.n <= 50 ORDER BY i."createdAt", i.id`;
  const steps = await db.$queryRaw<{ connectionId: string; id: string; name: string }[]>`
    SELECT s."connectionId", s.id, w.name || ' / ' || s.name AS name FROM (
      SELECT id, name, "connectionId", "workflowId", "createdAt", row_number() OVER (PARTITION BY "connectionId" ORDER BY "createdAt", id) AS n
      FROM "WorkflowStep" WHERE "connectionId" = ANY(${ids}::uuid[])
    ) s JOIN "Workflow" w ON w.id = s."workflowId" WHERE s.n <= 50 ORDER BY s."createdAt", s.id`;
  return ids.map((id) => [
    ...integrations.filter((i) => i.connectionId === id).map((i) => ({ type: 'Integration', id: i.id, name: i.name })),
    ...steps.filter((s) => s.connectionId === id).map((s) => ({ type: 'WorkflowStep', id: s.id, name: s.name })),
  ]);
}

/** Deletes a connection and its values, unless something uses it (then says what). */
export async function deleteConnection(op: Op, id: string): Promise<void> {
  const connection = await findConnection(op, { id });
  const [usedBy] = await connectionUsage(op.tx, [connection.id]);
  if (usedBy!.length) throw new InUseError(`Connection "${connection.stableKey}"`, usedBy!);
  await op.tx.connection.delete({ where: { id: connection.id } });
  // REMOVED events for every customer that could pick it.
  await refreshAvailability(op, connection.id);
  await emitEvent(op, connection.orgId, 'connection.deleted', () => connectionEventData(connection));
  await op.audit('connection.delete', 'Connection', connection.id);
}

/** What a connection's webhook events say about it. */
function connectionEventData(c: Connection): Record<string, unknown> {
  return { connectionId: c.id, stableKey: c.stableKey, name: c.name, type: c.type, connectorId: c.connectorId, externalId: c.externalId };
}

/**
 * A global connection kept by automation under its external id (Activepieces'
 * global connections): created with its connector when missing — the
 * connector too, from its definition, when the org has none with that key —
 * or updated; restricted to the allow-list given; its GLOBAL value replaced.
 * Concurrent calls for one external id run one after the other.
 */
export interface GlobalConnectionInput {
  externalId: string;
  name: string;
  metadata?: Record<string, unknown>;
  connector: { key: string; name: string; description: string; authType: Connector['authType']; fields?: FieldDef[] };
  allowedCustomerIds: string[];
  value: GlobalValueInput;
}

/** The GLOBAL value automation sends: its auth type must be the connector's. */
export interface GlobalValueInput {
  authType: Connector['authType'];
  values: Record<string, unknown>;
  expiresAt?: Date | null;
}

async function replaceGlobalValue(op: Op, connectionId: string, value: GlobalValueInput): Promise<void> {
  const connection = await findConnection(op, { id: connectionId });
  if (value.authType !== connection.connector.authType) {
    throw ValidationError.field('value.authType', `connector "${connection.connector.key}" uses ${connection.connector.authType}`);
  }
  await inputAt('value', () =>
    setValue(op, connection, { kind: 'GLOBAL' }, {
      values: value.values,
      replace: true,
      status: 'ACTIVE',
      ...(value.expiresAt !== undefined ? { expiresAt: value.expiresAt } : {}),
    }),
  );
}

export async function upsertGlobalConnection(op: Op, input: GlobalConnectionInput): Promise<{ connection: Connection; created: boolean }> {
  const { orgId } = orgOwned(op.actor);
  await lockKey(op.tx, 'connection.externalId', `${orgId}:${input.externalId}`);
  const existing = await op.tx.connection.findFirst({ where: { orgId, externalId: input.externalId }, include: { connector: true } });
  let connection: Connection;
  if (existing) {
    // Also serialized with updates by id; read again under the row lock.
    await lockRow(op.tx, 'Connection', existing.id);
    if (existing.type !== 'ORG_ACTIVATED_GLOBAL') throw ValidationError.field('externalId', `is used by a ${existing.type} connection`);
    if (existing.connector.key !== input.connector.key) {
      throw ValidationError.field('connector.key', `cannot change (connection uses "${existing.connector.key}")`);
    }
    connection = await patch(
      op,
      await findConnection(op, { id: existing.id }),
      parseInput(ConnectionPatch, {
        name: input.name,
        ...(input.metadata !== undefined ? { metadata: input.metadata } : {}),
        restrictToAllowList: true,
        allowedCustomerIds: input.allowedCustomerIds,
      }),
      'connection.update',
    );
  } else {
    const connector = await inputAt('connector', () => ensureConnector(op, input.connector));
    connection = await insert(
      op,
      parseInput(ConnectionFields, {
        stableKey: input.externalId,
        name: input.name,
        connectorId: connector.id,
        type: 'ORG_ACTIVATED_GLOBAL',
        availableInWorkflows: true,
        restrictToAllowList: true,
        allowedCustomerIds: input.allowedCustomerIds,
        externalId: input.externalId,
        metadata: input.metadata ?? {},
      }),
      'connection.create',
    );
  }
  await replaceGlobalValue(op, connection.id, input.value);
  return { connection, created: !existing };
}

/** Changes a global connection of automation by id (REST), its GLOBAL value too when given; serialized with upserts of it. */
export async function updateGlobalConnection(
  op: Op,
  id: string,
  input: { name?: string; metadata?: Record<string, unknown>; allowedCustomerIds?: string[]; value?: GlobalValueInput },
): Promise<Connection> {
  const found = await op.tx.connection.findFirst({ where: { id, type: 'ORG_ACTIVATED_GLOBAL', ...orgOwned(op.actor) }, select: { id: true } });
  if (!found) throw new NotFoundError('Global connection');
  await lockRow(op.tx, 'Connection', found.id);
  const connection = await patch(
    op,
    await findConnection(op, { id: found.id }),
    parseInput(ConnectionPatch, {
      ...(input.name !== undefined ? { name: input.name } : {}),
      ...(input.metadata !== undefined ? { metadata: input.metadata } : {}),
      ...(input.allowedCustomerIds !== undefined ? { restrictToAllowList: true, allowedCustomerIds: input.allowedCustomerIds } : {}),
    }),
    'connection.update',
  );
  if (input.value) await replaceGlobalValue(op, found.id, input.value);
  return connection;
}

/** One connection in a customer's connection overview: its state for the customer and what uses it. */
export interface CustomerConnectionEntry {
  connection: Connection & { connector: { key: string; name: string } };
  /** An org-activated connection shown to a customer user: only its option and selectability. */
  opaque: boolean;
  value: ConnectionValue | null;
  allowed: boolean;
  selectable: boolean;
  /** Instances of the customer whose integration uses it. */
  instanceIds: string[];
  /** Workflows of the customer with a step that selects it. */
  workflowIds: string[];
}

/**
 * A customer's connections, the value that serves the customer for each, and
 * the instances and workflows that use each (their ids) — in seven statements. Customer
 * users get the customer-activated connections, plus the org-activated ones
 * they can select or have selected (as opaque entries).
 */
export async function customerOverview(
  db: PrismaClient,
  customerId: string,
  forCustomerUser: boolean,
  /** A limited customer user's allowed connections (a connect link's session): nothing else is listed. */
  only: readonly string[] | null = null,
): Promise<CustomerConnectionEntry[]> {
  const customer = await db.customer.findUniqueOrThrow({ where: { id: customerId }, select: { id: true, orgId: true } });
  const [selectable, workflows, instances] = [
    await db.availableSelection.findMany({ where: { customerId }, select: { connectionId: true } }),
    await db.workflow.findMany({ where: { customerId }, select: { id: true, steps: { select: { connectionId: true } } }, orderBy: { createdAt: 'asc' } }),
    await db.instance.findMany({
      where: { customerId },
      select: { id: true, integration: { select: { connections: { select: { connectionId: true } } } } },
      orderBy: { createdAt: 'asc' },
    }),
  ];
  const selectableIds = new Set(selectable.map((s) => s.connectionId));
  const stepConnectionIds = new Set(workflows.flatMap((w) => w.steps.map((s) => s.connectionId).filter((x): x is string => !!x)));
  const connections = await db.connection.findMany({
    where: forCustomerUser
      ? {
          orgId: customer.orgId,
          archivedAt: null,
          OR: [{ type: 'CUSTOMER_ACTIVATED' }, { availableInWorkflows: true, id: { in: [...new Set([...selectableIds, ...stepConnectionIds])] } }],
          ...(only ? { id: { in: [...only] } } : {}),
        }
      : { orgId: customer.orgId },
    include: { connector: { select: { key: true, name: true } } },
    orderBy: { stableKey: 'asc' },
  });
  const ids = connections.map((c) => c.id);
  const values = await db.connectionValue.findMany({ where: { connectionId: { in: ids }, slot: { in: [customerId, 'GLOBAL'] } } });
  const allowances = await db.globalAllowance.findMany({ where: { customerId, connectionId: { in: ids } }, select: { connectionId: true } });
  const valueOf = new Map(values.map((v) => [`${v.connectionId}/${v.slot}`, v]));
  const allowedIds = new Set(allowances.map((a) => a.connectionId));
  return connections.map((c) => ({
    connection: c,
    opaque: forCustomerUser && c.type !== 'CUSTOMER_ACTIVATED',
    value: valueOf.get(`${c.id}/${servingSlot(c, customerId)}`) ?? null,
    allowed: c.type !== 'ORG_ACTIVATED_GLOBAL' || !c.restrictToAllowList || allowedIds.has(c.id),
    selectable: selectableIds.has(c.id),
    instanceIds: instances.filter((i) => i.integration.connections.some((r) => r.connectionId === c.id)).map((i) => i.id),
    workflowIds: workflows.filter((w) => w.steps.some((s) => s.connectionId === c.id)).map((w) => w.id),
  }));
}
