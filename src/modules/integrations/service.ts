import { z } from 'zod';
import { ConflictError, NotFoundError, ValidationError, type FieldProblem } from '../../errors.js';
import type { Connection, Instance, Integration, Prisma, PrismaClient } from '../../generated/prisma/client.js';
import type { Tx } from '../../db/transaction.js';
import type { Op } from '../../op.js';
import { displayName, parseInput, stableKey } from '../../validation.js';
import { servingSlot } from '../values/service.js';
import { orgOwned } from '../tenancy/scope.js';

/**
 * Integrations (which reusable connections each uses) and their instances
 * (an integration deployed to one customer), for GraphQL and the manifest;
 * and readiness: whether every required connection resolves for an
 * instance's customer.
 */
const IntegrationFields = z.object({
  stableKey,
  name: displayName,
  description: z.string().max(5000).optional(),
});
const IntegrationPatch = IntegrationFields.omit({ stableKey: true }).partial();

/** A connection an integration uses: exactly one of connectionId or connectionStableKey. */
export interface RequirementInput {
  connectionId?: string | undefined;
  connectionStableKey?: string | null | undefined;
  required?: boolean | null | undefined;
}

type Requirement = { connectionId: string; required: boolean };

/**
 * Requirement inputs as connections of the org. Unknown (or another org's)
 * connections are reported per item of `connections`, all at once.
 */
async function resolveRequirements(op: Op, orgId: string, inputs: readonly RequirementInput[]): Promise<Requirement[]> {
  const problems: FieldProblem[] = [];
  const found = await op.tx.connection.findMany({
    where: {
      orgId,
      OR: [
        { id: { in: inputs.flatMap((i) => (i.connectionId !== undefined ? [i.connectionId] : [])) } },
        { stableKey: { in: inputs.flatMap((i) => (i.connectionStableKey ? [i.connectionStableKey] : [])) } },
      ],
    },
    select: { id: true, stableKey: true },
  });
  const ids = new Set(found.map((c) => c.id));
  const idByKey = new Map(found.map((c) => [c.stableKey, c.id]));
  const result: Requirement[] = [];
  const seen = new Set<string>();
  inputs.forEach((input, i) => {
    const path = `connections.${i}`;
    if ((input.connectionId === undefined) === (input.connectionStableKey == null)) {
      problems.push({ path, message: 'give exactly one of connectionId or connectionStableKey' });
      return;
    }
    let id: string | undefined;
    if (input.connectionId !== undefined) {
      if (ids.has(input.connectionId)) id = input.connectionId;
      else problems.push({ path: `${path}.connectionId`, message: 'no such connection' });
    } else {
      id = idByKey.get(input.connectionStableKey!);
      if (!id) problems.push({ path: `${path}.connectionStableKey`, message: 'no connection has this stableKey' });
    }
    if (!id) return;
    if (seen.has(id)) {
      problems.push({ path, message: 'the same connection is listed twice' });
      return;
    }
    seen.add(id);
    result.push({ connectionId: id, required: input.required ?? true });
  });
  if (problems.length) throw new ValidationError(problems);
  return result;
}

async function replaceRequirements(op: Op, integrationId: string, reqs: Requirement[]): Promise<void> {
  await op.tx.integrationConnection.deleteMany({ where: { integrationId } });
  if (reqs.length) await op.tx.integrationConnection.createMany({ data: reqs.map((r) => ({ ...r, integrationId })) });
}

async function findIntegration(op: Op, id: string): Promise<Integration> {
  const found = await op.tx.integration.findFirst({ where: { id, ...orgOwned(op.actor) } });
  if (!found) throw new NotFoundError('Integration');
  return found;
}

export interface IntegrationInput {
  stableKey: string;
  name: string;
  description?: string | null;
  /** Replaces the set of connections it uses; omitted: unchanged on upsert, none on create. */
  connections?: readonly RequirementInput[] | null;
}

export async function createIntegration(op: Op, raw: IntegrationInput): Promise<Integration> {
  const input = parseInput(IntegrationFields, { ...raw, description: raw.description ?? undefined });
  const { orgId } = orgOwned(op.actor);
  const reqs = await resolveRequirements(op, orgId, raw.connections ?? []);
  const exists = await op.tx.integration.findUnique({ where: { orgId_stableKey: { orgId, stableKey: input.stableKey } }, select: { id: true } });
  if (exists) throw new ConflictError('An integration with this stableKey already exists');
  const created = await op.tx.integration.create({ data: { ...input, orgId } });
  await replaceRequirements(op, created.id, reqs);
  await op.audit('integration.create', 'Integration', created.id);
  return created;
}

/** Creates the integration with this stableKey, or updates it (automation). Safe to repeat. */
export async function upsertIntegration(op: Op, raw: IntegrationInput): Promise<Integration> {
  const input = parseInput(IntegrationFields, { ...raw, description: raw.description ?? undefined });
  const { orgId } = orgOwned(op.actor);
  const reqs = raw.connections ? await resolveRequirements(op, orgId, raw.connections) : null;
  const integration = await op.tx.integration.upsert({
    where: { orgId_stableKey: { orgId, stableKey: input.stableKey } },
    create: { ...input, orgId },
    update: { name: input.name, description: input.description },
  });
  if (reqs) await replaceRequirements(op, integration.id, reqs);
  await op.audit('integration.upsert', 'Integration', integration.id);
  return integration;
}

/** Changes name and description (the stableKey is immutable), and with `connections` the set it uses. */
export async function updateIntegration(
  op: Op,
  id: string,
  raw: { name?: string | null; description?: string | null },
  connections?: readonly RequirementInput[],
): Promise<Integration> {
  const patch = parseInput(IntegrationPatch, { name: raw.name ?? undefined, description: raw.description ?? undefined });
  const found = await findIntegration(op, id);
  const reqs = connections ? await resolveRequirements(op, found.orgId, connections) : null;
  const integration = await op.tx.integration.update({ where: { id: found.id }, data: patch });
  if (reqs) await replaceRequirements(op, found.id, reqs);
  await op.audit('integration.update', 'Integration', found.id);
  return integration;
}

/** Replaces the connections an integration uses. */
export async function setIntegrationConnections(op: Op, id: string, connections: readonly RequirementInput[]): Promise<Integration> {
  const found = await findIntegration(op, id);
  const reqs = await resolveRequirements(op, found.orgId, connections);
  await replaceRequirements(op, found.id, reqs);
  await op.audit('integration.setConnections', 'Integration', found.id, { connections: reqs.map((r) => r.connectionId) });
  return found;
}

/** Deletes the integration; refused with CONFLICT while it has instances, unless `force` (then they go too). */
export async function deleteIntegration(op: Op, id: string, force: boolean): Promise<void> {
  const found = await findIntegration(op, id);
  const instances = await op.tx.instance.count({ where: { integrationId: found.id } });
  if (instances > 0 && !force) {
    throw new ConflictError(`The integration has ${instances} instance(s); delete them first or pass force: true`);
  }
  await op.tx.integration.delete({ where: { id: found.id } });
  await op.audit('integration.delete', 'Integration', found.id, { instances });
}

// ───────────────────────────── instances ─────────────────────────────

const InstanceFields = z.object({
  name: displayName.optional(),
  enabled: z.boolean().optional(),
});

/** Deploys an integration to a customer. One instance per (integration, customer). */
export async function createInstance(
  op: Op,
  input: { integrationId: string; customerId: string; name?: string | null; enabled?: boolean | null },
): Promise<Instance> {
  const parsed = parseInput(InstanceFields, { name: input.name ?? undefined, enabled: input.enabled ?? undefined });
  const { orgId } = orgOwned(op.actor);
  // Sequential: a transaction runs on one connection.
  const integration = await op.tx.integration.findFirst({ where: { id: input.integrationId, orgId }, select: { id: true, name: true } });
  const customer = await op.tx.customer.findFirst({ where: { id: input.customerId, orgId }, select: { id: true } });
  const problems = [
    ...(integration ? [] : [{ path: 'integrationId', message: 'no such integration' }]),
    ...(customer ? [] : [{ path: 'customerId', message: 'no such customer' }]),
  ];
  if (!integration || !customer) throw new ValidationError(problems);
  const existing = await op.tx.instance.findUnique({
    where: { integrationId_customerId: { integrationId: integration.id, customerId: customer.id } },
    select: { id: true },
  });
  if (existing) throw new ConflictError('This integration is already deployed to this customer');
  const instance = await op.tx.instance.create({
    data: { orgId, integrationId: integration.id, customerId: customer.id, name: parsed.name ?? integration.name, enabled: parsed.enabled },
  });
  await op.audit('instance.create', 'Instance', instance.id);
  return instance;
}

async function findInstance(op: Op, id: string): Promise<{ id: string }> {
  const found = await op.tx.instance.findFirst({ where: { id, ...orgOwned(op.actor) }, select: { id: true } });
  if (!found) throw new NotFoundError('Instance');
  return found;
}

export async function updateInstance(op: Op, id: string, raw: { name?: string | null; enabled?: boolean | null }): Promise<Instance> {
  const patch = parseInput(InstanceFields, { name: raw.name ?? undefined, enabled: raw.enabled ?? undefined });
  const found = await findInstance(op, id);
  const instance = await op.tx.instance.update({ where: { id: found.id }, data: patch });
  await op.audit('instance.update', 'Instance', found.id);
  return instance;
}

export async function deleteInstance(op: Op, id: string): Promise<void> {
  const found = await findInstance(op, id);
  await op.tx.instance.delete({ where: { id: found.id } });
  await op.audit('instance.delete', 'Instance', found.id);
}

// ───────────────────────────── readiness ─────────────────────────────

/**
 * An instance is ready when every *required* connection of its integration
 * resolves for its customer (the runtime's rules, runtime/service.ts):
 * - per-customer types: the customer's value exists and is ACTIVE;
 * - ORG_ACTIVATED_GLOBAL: the GLOBAL value is ACTIVE and, when the connection
 *   is restricted to its allow-list, the list admits the customer;
 * - an archived connection never resolves.
 */
export type MissingReason = 'NO_VALUE' | 'PENDING' | 'ERROR' | 'EXPIRED' | 'NOT_ALLOWED' | 'ARCHIVED';

export interface MissingConnection {
  connection: Connection;
  reason: MissingReason;
}

export interface Readiness {
  ready: boolean;
  missing: MissingConnection[];
}

export interface InstanceKey {
  id: string;
  integrationId: string;
  customerId: string;
}

/** Readiness of many instances in three statements, whatever their number. */
export async function computeReadiness(db: PrismaClient | Tx, instances: readonly InstanceKey[]): Promise<Readiness[]> {
  if (instances.length === 0) return [];
  const integrationIds = [...new Set(instances.map((i) => i.integrationId))];
  const customerIds = [...new Set(instances.map((i) => i.customerId))];
  const requirements = await db.integrationConnection.findMany({
    where: { integrationId: { in: integrationIds }, required: true },
    include: { connection: true },
    orderBy: { connection: { stableKey: 'asc' } },
  });
  const connectionIds = [...new Set(requirements.map((r) => r.connectionId))];
  // Sequential, not Promise.all: `db` may be a transaction, which runs on one connection.
  const values = connectionIds.length
    ? await db.connectionValue.findMany({
        where: { connectionId: { in: connectionIds }, slot: { in: [...customerIds, 'GLOBAL'] } },
        select: { connectionId: true, slot: true, status: true },
      })
    : [];
  const allowances = connectionIds.length
    ? await db.globalAllowance.findMany({
        where: { connectionId: { in: connectionIds }, customerId: { in: customerIds } },
        select: { connectionId: true, customerId: true },
      })
    : [];
  const status = new Map(values.map((v) => [`${v.connectionId}/${v.slot}`, v.status]));
  const allowed = new Set(allowances.map((a) => `${a.connectionId}/${a.customerId}`));
  const byIntegration = new Map<string, Prisma.IntegrationConnectionGetPayload<{ include: { connection: true } }>[]>();
  for (const r of requirements) byIntegration.set(r.integrationId, [...(byIntegration.get(r.integrationId) ?? []), r]);

  return instances.map((instance) => {
    const missing: MissingConnection[] = [];
    for (const { connection } of byIntegration.get(instance.integrationId) ?? []) {
      const reason = unresolvedReason(connection, instance.customerId, status, allowed);
      if (reason) missing.push({ connection, reason });
    }
    return { ready: missing.length === 0, missing };
  });
}

function unresolvedReason(c: Connection, customerId: string, status: Map<string, string>, allowed: Set<string>): MissingReason | null {
  if (c.archivedAt) return 'ARCHIVED';
  if (c.type === 'ORG_ACTIVATED_GLOBAL' && c.restrictToAllowList && !allowed.has(`${c.id}/${customerId}`)) return 'NOT_ALLOWED';
  const s = status.get(`${c.id}/${servingSlot(c, customerId)}`);
  if (!s) return 'NO_VALUE';
  return s === 'ACTIVE' ? null : (s as MissingReason);
}
