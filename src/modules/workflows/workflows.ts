import { encodeGlobalID } from '@pothos/plugin-relay';
import { z } from 'zod';
import type { Principal } from '../../auth/principal.js';
import { NotFoundError, ValidationError } from '../../errors.js';
import type { Prisma } from '../../generated/prisma/client.js';
import { transaction } from '../../db/transaction.js';
import { builder } from '../../schema/builder.js';
import { mutationErrors } from '../../schema/errors.js';
import { parseInput } from '../../validation.js';
import { audit } from '../audit/audit.js';
import { rowId } from '../integrations/ids.js';
import { NO_ROW, uuidOrNone } from '../tenancy/scope.js';
import { stepWhere, workflowWhere } from './scope.js';
import { WorkflowRef, WorkflowStepRef } from './types.js';

type Tx = Prisma.TransactionClient;

const name = z.string().trim().min(1, 'must not be empty').max(200);
const position = z.number().int().min(0).max(10_000);

const WorkflowInput = builder.inputType('WorkflowInput', {
  fields: (t) => ({
    customerId: t.id({ description: 'Org principals: the customer the workflow belongs to. Customer users: omit (their own).' }),
    name: t.string({ required: true }),
  }),
});
const WorkflowPatch = builder.inputType('WorkflowPatch', { fields: (t) => ({ name: t.string() }) });

const WorkflowStepInput = builder.inputType('WorkflowStepInput', {
  fields: (t) => ({
    workflowId: t.id({ required: true }),
    name: t.string({ required: true }),
    position: t.int({ description: 'Default: after the last step.' }),
    connectorId: t.id({ description: 'Give connectorId or connectorKey.' }),
    connectorKey: t.string(),
    connectionId: t.id({
      description: 'A connection available to select for the customer and connector (see availableConnections).',
    }),
  }),
});
const WorkflowStepPatch = builder.inputType('WorkflowStepPatch', {
  fields: (t) => ({
    name: t.string(),
    position: t.int(),
    connectionId: t.id({ description: 'null clears the selection.' }),
  }),
});

/** The customer a new workflow belongs to: customer users their own, org principals the one they name. */
async function customerFor(tx: Tx, p: Principal | null, customerId: string | number | bigint | null | undefined): Promise<string> {
  if (p?.kind === 'CUSTOMER_USER') {
    if (customerId != null && rowId(customerId, 'Customer') !== p.customerId) {
      throw ValidationError.field('input.customerId', 'no such customer');
    }
    return p.customerId;
  }
  if (customerId == null) throw ValidationError.field('input.customerId', 'is required');
  const c = await tx.customer.findFirst({ where: { id: rowId(customerId, 'Customer'), orgId: p?.orgId ?? NO_ROW }, select: { id: true } });
  if (!c) throw ValidationError.field('input.customerId', 'no such customer');
  return c.id;
}

/**
 * The one rule for a step's connection (design.md): it must be in the
 * materialized "available to select" set of the customer for the step's
 * connector. Anything else — hidden, archived, unknown, another connector's,
 * another tenant's — gets the same answer.
 */
export async function assertSelectable(
  tx: Tx,
  customerId: string,
  connectorId: string,
  connectionId: string | number | bigint,
  path: string,
): Promise<string> {
  const id = rowId(connectionId, 'Connection');
  const row = await tx.availableSelection.findUnique({
    where: { connectionId_customerId: { connectionId: id, customerId } },
    select: { connectorId: true },
  });
  if (!row || row.connectorId !== connectorId) {
    throw ValidationError.field(path, 'is not a connection available to select for this customer and connector');
  }
  return id;
}

async function findWorkflow(tx: Tx, p: Principal | null, id: string | number | bigint, path?: string) {
  const wf = await tx.workflow.findFirst({ where: { id: rowId(id, 'Workflow'), AND: [workflowWhere(p)] }, select: { id: true, orgId: true, customerId: true } });
  if (!wf) throw path ? ValidationError.field(path, 'no such workflow') : new NotFoundError('Workflow');
  return wf;
}

builder.queryFields((t) => ({
  workflows: t.prismaConnection({
    type: 'Workflow',
    cursor: 'id',
    description: 'Workflows: customer users see their own customer’s, org principals all of their org (filter by customer).',
    authScopes: { org: true, customerUser: true },
    args: { customerId: t.arg.id() },
    resolve: (query, _root, args, ctx) =>
      ctx.prisma.workflow.findMany({
        ...query,
        where: { AND: [workflowWhere(ctx.principal), args.customerId != null ? { customerId: rowId(args.customerId, 'Customer') } : {}] },
        orderBy: { createdAt: 'asc' },
      }),
  }),
}));

const writers = { orgWrite: true, customerUser: true };

builder.mutationFields((t) => ({
  createWorkflow: t.prismaField({
    type: 'Workflow',
    authScopes: writers,
    errors: { types: mutationErrors },
    args: { input: t.arg({ type: WorkflowInput, required: true }) },
    resolve: async (query, _root, args, ctx) => {
      const input = parseInput(z.object({ name }), { name: args.input.name });
      return transaction(ctx, async (tx) => {
        const customerId = await customerFor(tx, ctx.principal, args.input.customerId);
        const wf = await tx.workflow.create({ ...query, data: { orgId: ctx.principal!.orgId, customerId, name: input.name } });
        await audit(tx, ctx.principal, 'workflow.create', 'Workflow', wf.id);
        return wf;
      });
    },
  }),
  updateWorkflow: t.prismaField({
    type: 'Workflow',
    authScopes: writers,
    errors: { types: mutationErrors },
    args: { id: t.arg.globalID({ required: true, for: WorkflowRef }), patch: t.arg({ type: WorkflowPatch, required: true }) },
    resolve: async (query, _root, args, ctx) => {
      const patch = parseInput(z.object({ name: name.optional() }), { name: args.patch.name ?? undefined }, 'patch');
      return transaction(ctx, async (tx) => {
        const found = await tx.workflow.findFirst({ where: { id: uuidOrNone(args.id.id), AND: [workflowWhere(ctx.principal)] }, select: { id: true } });
        if (!found) throw new NotFoundError('Workflow');
        const wf = await tx.workflow.update({ ...query, where: { id: found.id }, data: patch });
        await audit(tx, ctx.principal, 'workflow.update', 'Workflow', wf.id);
        return wf;
      });
    },
  }),
  deleteWorkflow: t.field({
    type: 'ID',
    description: 'Deletes a workflow and its steps. Returns its global id.',
    authScopes: writers,
    errors: { types: mutationErrors },
    args: { id: t.arg.globalID({ required: true, for: WorkflowRef }) },
    resolve: (_root, args, ctx) =>
      transaction(ctx, async (tx) => {
        const { count } = await tx.workflow.deleteMany({ where: { id: uuidOrNone(args.id.id), AND: [workflowWhere(ctx.principal)] } });
        if (count === 0) throw new NotFoundError('Workflow');
        await audit(tx, ctx.principal, 'workflow.delete', 'Workflow', args.id.id);
        return encodeGlobalID('Workflow', args.id.id);
      }),
  }),
  createWorkflowStep: t.prismaField({
    type: 'WorkflowStep',
    description: 'Adds a step. Its connection, if given, must be available to select for the customer and connector.',
    authScopes: writers,
    errors: { types: mutationErrors },
    args: { input: t.arg({ type: WorkflowStepInput, required: true }) },
    resolve: async (query, _root, args, ctx) => {
      const { input } = args;
      const parsed = parseInput(z.object({ name, position: position.optional() }), { name: input.name, position: input.position ?? undefined });
      return transaction(ctx, async (tx) => {
        const wf = await findWorkflow(tx, ctx.principal, input.workflowId, 'input.workflowId');
        if ((input.connectorId == null) === (input.connectorKey == null)) {
          throw ValidationError.field('input.connectorKey', 'give exactly one of connectorId or connectorKey');
        }
        // Any connector of the org may be used in a step; which connections may be picked is the scoped part.
        const connector = await tx.connector.findFirst({
          where: {
            orgId: wf.orgId,
            ...(input.connectorId != null ? { id: rowId(input.connectorId, 'Connector') } : { key: input.connectorKey! }),
          },
          select: { id: true },
        });
        if (!connector) throw ValidationError.field(input.connectorId != null ? 'input.connectorId' : 'input.connectorKey', 'no such connector');
        const connectionId =
          input.connectionId != null ? await assertSelectable(tx, wf.customerId, connector.id, input.connectionId, 'input.connectionId') : null;
        const last = await tx.workflowStep.aggregate({ where: { workflowId: wf.id }, _max: { position: true } });
        const step = await tx.workflowStep.create({
          ...query,
          data: {
            workflowId: wf.id,
            name: parsed.name,
            position: parsed.position ?? (last._max.position ?? -1) + 1,
            connectorId: connector.id,
            connectionId,
          },
        });
        await audit(tx, ctx.principal, 'workflowStep.create', 'WorkflowStep', step.id, { connectionId });
        return step;
      });
    },
  }),
  updateWorkflowStep: t.prismaField({
    type: 'WorkflowStep',
    description: 'Renames, moves or (re)selects the connection of a step; connectionId null clears it.',
    authScopes: writers,
    errors: { types: mutationErrors },
    args: { id: t.arg.globalID({ required: true, for: WorkflowStepRef }), patch: t.arg({ type: WorkflowStepPatch, required: true }) },
    resolve: async (query, _root, args, ctx) => {
      const { patch } = args;
      const parsed = parseInput(
        z.object({ name: name.optional(), position: position.optional() }),
        { name: patch.name ?? undefined, position: patch.position ?? undefined },
        'patch',
      );
      return transaction(ctx, async (tx) => {
        const found = await tx.workflowStep.findFirst({
          where: { id: uuidOrNone(args.id.id), AND: [stepWhere(ctx.principal)] },
          select: { id: true, connectorId: true, workflow: { select: { customerId: true } } },
        });
        if (!found) throw new NotFoundError('Workflow step');
        let connectionId: string | null | undefined;
        if (patch.connectionId === null) connectionId = null;
        else if (patch.connectionId !== undefined) {
          connectionId = await assertSelectable(tx, found.workflow.customerId, found.connectorId, patch.connectionId, 'patch.connectionId');
        }
        const step = await tx.workflowStep.update({ ...query, where: { id: found.id }, data: { ...parsed, connectionId } });
        await audit(tx, ctx.principal, 'workflowStep.update', 'WorkflowStep', step.id, connectionId !== undefined ? { connectionId } : {});
        return step;
      });
    },
  }),
  deleteWorkflowStep: t.field({
    type: 'ID',
    description: 'Removes a step. Returns its global id.',
    authScopes: writers,
    errors: { types: mutationErrors },
    args: { id: t.arg.globalID({ required: true, for: WorkflowStepRef }) },
    resolve: (_root, args, ctx) =>
      transaction(ctx, async (tx) => {
        const { count } = await tx.workflowStep.deleteMany({ where: { id: uuidOrNone(args.id.id), AND: [stepWhere(ctx.principal)] } });
        if (count === 0) throw new NotFoundError('Workflow step');
        await audit(tx, ctx.principal, 'workflowStep.delete', 'WorkflowStep', args.id.id);
        return encodeGlobalID('WorkflowStep', args.id.id);
      }),
  }),
}));
