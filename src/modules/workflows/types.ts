import { isOrgPrincipal } from '../../auth/principal.js';
import { builder } from '../../schema/builder.js';
import { ConnectionRef, ConnectorRef } from '../connections/types.js';
import { connectionVisible } from '../integrations/types.js';
import { uuidOrNone } from '../tenancy/scope.js';
import { workflowWhere, stepWhere } from './scope.js';
import { SelectableConnectionRef, selectableLoader } from './selectable.js';

export const WorkflowRef = builder.prismaNode('Workflow', {
  id: { field: 'id' },
  description: "A customer's workflow, built in the embedded builder.",
  findUnique: (id, ctx) => ({ id: uuidOrNone(id), AND: [workflowWhere(ctx.principal)] }),
  fields: (t) => ({
    name: t.exposeString('name'),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
    customer: t.relation('customer'),
    steps: t.relation('steps', { query: { orderBy: [{ position: 'asc' }, { createdAt: 'asc' }] } }),
  }),
});

export const WorkflowStepRef = builder.prismaNode('WorkflowStep', {
  id: { field: 'id' },
  description: 'A step of a workflow: a connector, and the connection it uses.',
  findUnique: (id, ctx) => ({ id: uuidOrNone(id), AND: [stepWhere(ctx.principal)] }),
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
      resolve: (s, _args, ctx) => (s.connection && connectionVisible(ctx.principal, s.connection) ? s.connection : null),
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
      resolve: (s, _args, ctx) =>
        s.connectionId ? selectableLoader(ctx).load(`${s.connectionId}/${s.workflow.customerId}`) : false,
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
