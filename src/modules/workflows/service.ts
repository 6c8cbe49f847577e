import { z } from 'zod';
import type { Principal } from '../../auth/principal.js';
import { NotFoundError, ValidationError } from '../../errors.js';
import type { Workflow, WorkflowStep } from '../../generated/prisma/client.js';
import type { Op } from '../../op.js';
import { displayName, parseInput } from '../../validation.js';
import { builderConnectorWhere } from '../connectors/scope.js';
import { assertSelectable } from '../feed/service.js';
import { whichCustomer } from '../tenancy/scope.js';
import { stepWhere, workflowWhere } from './scope.js';

/**
 * Workflows and their steps, built by customer users in the embedded builder
 * (or by the org for them). A step's connection must be one its customer may
 * select for the step's connector (feed module, the picker set).
 */
const position = z.number().int().min(0).max(10_000);
const WorkflowFields = z.object({ name: displayName });
const StepFields = z.object({ name: displayName, position: position.optional() });
const StepPatch = z.object({ name: displayName.optional(), position: position.optional() });

export async function createWorkflow(op: Op, input: { customerId?: string; name: string }): Promise<Workflow> {
  const { name } = parseInput(WorkflowFields, { name: input.name });
  const customerId = await whichCustomer(op.tx, op.actor as Principal, input.customerId);
  if (customerId === 'REQUIRED') throw ValidationError.field('customerId', 'is required');
  if (!customerId) throw ValidationError.field('customerId', 'no such customer');
  const wf = await op.tx.workflow.create({ data: { orgId: op.actor.orgId, customerId, name } });
  await op.audit('workflow.create', 'Workflow', wf.id);
  return wf;
}

async function findWorkflow(op: Op, id: string, path?: string) {
  const wf = await op.tx.workflow.findFirst({ where: { id, AND: [workflowWhere(op.actor)] }, select: { id: true, orgId: true, customerId: true } });
  if (!wf) throw path ? ValidationError.field(path, 'no such workflow') : new NotFoundError('Workflow');
  return wf;
}

export async function updateWorkflow(op: Op, id: string, raw: { name?: string | null }): Promise<Workflow> {
  const patch = parseInput(z.object({ name: displayName.optional() }), { name: raw.name ?? undefined });
  const found = await findWorkflow(op, id);
  const wf = await op.tx.workflow.update({ where: { id: found.id }, data: patch });
  await op.audit('workflow.update', 'Workflow', wf.id);
  return wf;
}

/** Deletes a workflow and its steps. */
export async function deleteWorkflow(op: Op, id: string): Promise<void> {
  const found = await findWorkflow(op, id);
  await op.tx.workflow.delete({ where: { id: found.id } });
  await op.audit('workflow.delete', 'Workflow', found.id);
}

export interface StepInput {
  workflowId: string;
  name: string;
  position?: number | null;
  connectorId?: string;
  connectorKey?: string | null;
  connectionId?: string;
}

/** Adds a step; its connection, if given, must be available to select for the customer and connector. */
export async function createStep(op: Op, input: StepInput): Promise<WorkflowStep> {
  const parsed = parseInput(StepFields, { name: input.name, position: input.position ?? undefined });
  const wf = await findWorkflow(op, input.workflowId, 'workflowId');
  if ((input.connectorId === undefined) === (input.connectorKey == null)) {
    throw ValidationError.field('connectorKey', 'give exactly one of connectorId or connectorKey');
  }
  const connector = await op.tx.connector.findFirst({
    where: {
      ...(input.connectorId !== undefined ? { id: input.connectorId } : { key: input.connectorKey! }),
      AND: [{ orgId: wf.orgId }, await builderConnectorWhere(op.tx, op.actor, wf.customerId)],
    },
    select: { id: true },
  });
  if (!connector) throw ValidationError.field(input.connectorId !== undefined ? 'connectorId' : 'connectorKey', 'no such connector');
  const connectionId =
    input.connectionId !== undefined ? await assertSelectable(op, wf.customerId, connector.id, input.connectionId, 'connectionId') : null;
  const last = await op.tx.workflowStep.aggregate({ where: { workflowId: wf.id }, _max: { position: true } });
  const step = await op.tx.workflowStep.create({
    data: {
      workflowId: wf.id,
      name: parsed.name,
      position: parsed.position ?? (last._max.position ?? -1) + 1,
      connectorId: connector.id,
      connectionId,
    },
  });
  await op.audit('workflowStep.create', 'WorkflowStep', step.id, { connectionId });
  return step;
}

/** Renames, moves or (re)selects the connection of a step; connectionId null clears it. */
export async function updateStep(
  op: Op,
  id: string,
  input: { name?: string | null; position?: number | null; connectionId?: string | null },
): Promise<WorkflowStep> {
  const parsed = parseInput(StepPatch, { name: input.name ?? undefined, position: input.position ?? undefined });
  const found = await op.tx.workflowStep.findFirst({
    where: { id, AND: [stepWhere(op.actor)] },
    select: { id: true, connectorId: true, workflow: { select: { customerId: true } } },
  });
  if (!found) throw new NotFoundError('Workflow step');
  const connectionId =
    input.connectionId === null || input.connectionId === undefined
      ? input.connectionId
      : await assertSelectable(op, found.workflow.customerId, found.connectorId, input.connectionId, 'connectionId');
  const step = await op.tx.workflowStep.update({ where: { id: found.id }, data: { ...parsed, connectionId } });
  await op.audit('workflowStep.update', 'WorkflowStep', step.id, connectionId !== undefined ? { connectionId } : {});
  return step;
}

export async function deleteStep(op: Op, id: string): Promise<void> {
  const found = await op.tx.workflowStep.findFirst({ where: { id, AND: [stepWhere(op.actor)] }, select: { id: true } });
  if (!found) throw new NotFoundError('Workflow step');
  await op.tx.workflowStep.delete({ where: { id: found.id } });
  await op.audit('workflowStep.delete', 'WorkflowStep', found.id);
}
