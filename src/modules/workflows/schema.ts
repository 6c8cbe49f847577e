import { isOrgPrincipal } from '../../auth/principal.js';
import { decodeId, decodeOptionalId } from '../../ids.js';
import { builder } from '../../schema/builder.js';
import { scopedNode } from '../../schema/nodes.js';
import { mutationErrors } from '../../schema/errors.js';
import { deleteField, mutateAndLoad } from '../../schema/mutations.js';
import { canSeeConnection } from '../connections/scope.js';
import { ConnectionRef } from '../connections/schema.js';
import { ConnectorRef } from '../connectors/schema.js';
import { SelectableConnectionRef, selectableLoader } from '../feed/schema.js';
import { stepWhere, visibleStepWhere, workflowWhere } from './scope.js';
import { createStep, createWorkflow, deleteStep, deleteWorkflow, updateStep, updateWorkflow } from './service.js';

// ───────────────────────────── types ─────────────────────────────

export const WorkflowRef = builder.prismaNode('Workflow', {
  ...scopedNode(workflowWhere),
  description: "A customer's workflow, built in the embedded builder.",
  fields: (t) => ({
    name: t.exposeString('name'),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
    customer: t.relation('customer'),
    steps: t.relation('steps', {
      query: (_args, ctx) => {
        const where = visibleStepWhere(ctx.principal);
        return { ...(where ? { where } : {}), orderBy: [{ position: 'asc' }, { createdAt: 'asc' }] };
      },
    }),
  }),
});

export const WorkflowStepRef = builder.prismaNode('WorkflowStep', {
  ...scopedNode(stepWhere),
  description: 'A step of a workflow: a connector, and the connection it uses.',
  fields: (t) => ({
    name: t.exposeString('name'),
    position: t.exposeInt('position'),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
    workflow: t.relation('workflow'),
    connectorKey: t.string({ select: { connector: { select: { key: true } } }, resolve: (s) => s.connector.key }),
    connectorName: t.string({ select: { connector: { select: { name: true } } }, resolve: (s) => s.connector.name }),
    connector: t.field({
      type: ConnectorRef,
      nullable: true,
      description: 'The connector (org principals; customer users use connectorKey/connectorName).',
      select: (_args, _ctx, nested) => ({ connector: nested(true) }),
      resolve: (s, _args, ctx) => (isOrgPrincipal(ctx.principal) ? s.connector : null),
    }),
    connection: t.field({
      type: ConnectionRef,
      nullable: true,
      description: 'The selected connection, when it is yours to see in full (see selectedConnection otherwise).',
      select: (_args, _ctx, nested) => ({ connection: nested(true) }),
      resolve: (s, _args, ctx) => (s.connection && canSeeConnection(ctx.principal, s.connection) ? s.connection : null),
    }),
    selectedConnection: t.field({
      type: SelectableConnectionRef,
      nullable: true,
      description: 'The selected connection as an opaque option (null when none is selected).',
      select: { connection: { select: { id: true, name: true, connector: { select: { key: true, name: true } } } } },
      resolve: (s) =>
        s.connection
          ? { connectionId: s.connection.id, name: s.connection.name, connectorKey: s.connection.connector.key, connectorName: s.connection.connector.name }
          : null,
    }),
    connectionSelectable: t.boolean({
      description: 'Whether the selected connection is still available to select for this customer (false when none).',
      select: { connectionId: true, workflow: { select: { customerId: true } } },
      resolve: (s, _args, ctx) => (s.connectionId ? selectableLoader(ctx).load(`${s.connectionId}/${s.workflow.customerId}`) : false),
    }),
  }),
});

builder.prismaObjectFields('Customer', (t) => ({
  workflows: t.relatedConnection('workflows', {
    cursor: 'id',
    description: "This customer's workflows.",
    query: (_args, ctx) => ({ where: workflowWhere(ctx.principal), orderBy: { createdAt: 'asc' } }),
  }),
}));

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

// ───────────────────────────── queries ─────────────────────────────

builder.queryField('workflows', (t) =>
  t.prismaConnection({
    type: 'Workflow',
    cursor: 'id',
    description: 'Workflows: customer users see their own customer’s, org principals all of their org (filter by customer).',
    authScopes: { org: true, customerUser: true },
    args: { customerId: t.arg.id() },
    resolve: (query, _root, args, ctx) =>
      ctx.prisma.workflow.findMany({
        ...query,
        where: { AND: [workflowWhere(ctx.principal), args.customerId != null ? { customerId: decodeId('Customer', args.customerId) } : {}] },
        orderBy: { createdAt: 'asc' },
      }),
  }),
);

// ───────────────────────────── mutations ─────────────────────────────

const writers = { orgWrite: true, workflowBuilder: true };

builder.mutationFields((t) => ({
  createWorkflow: t.prismaField({
    type: 'Workflow',
    authScopes: writers,
    errors: { types: mutationErrors },
    args: { input: t.arg({ type: WorkflowInput, required: true }) },
    resolve: (query, _root, args, ctx) =>
      mutateAndLoad(ctx, query, 'Workflow', (op) => createWorkflow(op, { name: args.input.name, customerId: decodeOptionalId('Customer', args.input.customerId) }), {
        input: 'input',
      }),
  }),
  updateWorkflow: t.prismaField({
    type: 'Workflow',
    authScopes: writers,
    errors: { types: mutationErrors },
    args: { id: t.arg.id({ required: true }), patch: t.arg({ type: WorkflowPatch, required: true }) },
    resolve: (query, _root, args, ctx) =>
      mutateAndLoad(ctx, query, 'Workflow', (op) => updateWorkflow(op, decodeId('Workflow', args.id), args.patch), { input: 'patch' }),
  }),
  deleteWorkflow: deleteField(t, {
    typename: 'Workflow',
    description: 'Deletes a workflow and its steps. Returns its global id.',
    authScopes: writers,
    remove: deleteWorkflow,
  }),
  createWorkflowStep: t.prismaField({
    type: 'WorkflowStep',
    description: 'Adds a step. Its connection, if given, must be available to select for the customer and connector.',
    authScopes: writers,
    errors: { types: mutationErrors },
    args: { input: t.arg({ type: WorkflowStepInput, required: true }) },
    resolve: (query, _root, args, ctx) =>
      mutateAndLoad(
        ctx,
        query,
        'WorkflowStep',
        (op) =>
          createStep(op, {
            ...args.input,
            workflowId: decodeId('Workflow', args.input.workflowId),
            connectorId: decodeOptionalId('Connector', args.input.connectorId),
            connectionId: decodeOptionalId('Connection', args.input.connectionId),
          }),
        { input: 'input' },
      ),
  }),
  updateWorkflowStep: t.prismaField({
    type: 'WorkflowStep',
    description: 'Renames, moves or (re)selects the connection of a step; connectionId null clears it.',
    authScopes: writers,
    errors: { types: mutationErrors },
    args: { id: t.arg.id({ required: true }), patch: t.arg({ type: WorkflowStepPatch, required: true }) },
    resolve: (query, _root, args, ctx) =>
      mutateAndLoad(
        ctx,
        query,
        'WorkflowStep',
        (op) =>
          updateStep(op, decodeId('WorkflowStep', args.id), {
            ...args.patch,
            connectionId: args.patch.connectionId === null ? null : decodeOptionalId('Connection', args.patch.connectionId),
          }),
        { input: 'patch' },
      ),
  }),
  deleteWorkflowStep: deleteField(t, {
    typename: 'WorkflowStep',
    description: 'Removes a step. Returns its global id.',
    authScopes: writers,
    remove: deleteStep,
  }),
}));
