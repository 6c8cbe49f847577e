import type { Principal } from '../../auth/principal.js';
import { ValidationError } from '../../errors.js';
import type { Connection, ConnectionValue, Instance, PrismaClient, Workflow } from '../../generated/prisma/client.js';
import { builder } from '../../schema/builder.js';
import { ConnectionRef, ConnectionValueRef } from '../connections/types.js';
import { rowId } from '../integrations/ids.js';
import { InstanceRef } from '../integrations/types.js';
import { CustomerRef } from '../tenancy/types.js';
import { SelectableConnectionRef, type SelectableOption } from './selectable.js';
import { WorkflowRef } from './types.js';

/**
 * The customer a builder-facing query is about: customer users always their
 * own (another customer's id behaves as unknown), org principals the one
 * they name, if it is in their org. Null = nothing to show.
 */
async function targetCustomer(prisma: PrismaClient, p: Principal | null, customerId: string | number | bigint | null | undefined) {
  if (p?.kind === 'CUSTOMER_USER') {
    if (customerId != null && rowId(customerId, 'Customer') !== p.customerId) return null;
    return prisma.customer.findFirst({ where: { id: p.customerId, orgId: p.orgId } });
  }
  if (p?.kind === 'ORG_USER' || p?.kind === 'API_KEY') {
    if (customerId == null) throw ValidationError.field('customerId', 'is required for organization principals');
    return prisma.customer.findFirst({ where: { id: rowId(customerId, 'Customer'), orgId: p.orgId } });
  }
  return null;
}

builder.queryField('availableConnections', (t) =>
  t.field({
    type: [SelectableConnectionRef],
    description:
      'The step picker: connections available to select for a customer and connector (give connectorId or connectorKey). ' +
      'Customer users: their own customer. Org-activated connections appear only as opaque options.',
    authScopes: { org: true, customerUser: true },
    args: {
      connectorId: t.arg.id(),
      connectorKey: t.arg.string(),
      customerId: t.arg.id({ description: 'Required for org principals; customer users: omit.' }),
    },
    resolve: async (_root, args, ctx) => {
      if ((args.connectorId == null) === (args.connectorKey == null)) {
        throw ValidationError.field('connectorKey', 'give exactly one of connectorId or connectorKey');
      }
      const customer = await targetCustomer(ctx.prisma, ctx.principal, args.customerId);
      if (!customer) return [];
      const connectorFilter = args.connectorId != null ? { id: rowId(args.connectorId, 'Connector') } : { key: args.connectorKey! };
      const connector = await ctx.prisma.connector.findFirst({ where: { orgId: customer.orgId, ...connectorFilter }, select: { id: true, key: true, name: true } });
      if (!connector) return [];
      const rows = await ctx.prisma.availableSelection.findMany({
        where: { customerId: customer.id, connectorId: connector.id, orgId: customer.orgId },
        select: { connectionId: true, updatedAt: true },
      });
      if (rows.length === 0) return [];
      const connections = await ctx.prisma.connection.findMany({
        where: { id: { in: rows.map((r) => r.connectionId) } },
        select: { id: true, name: true },
        orderBy: [{ name: 'asc' }, { id: 'asc' }],
      });
      return connections.map(
        (c): SelectableOption => ({ connectionId: c.id, name: c.name, connectorKey: connector.key, connectorName: connector.name }),
      );
    },
  }),
);

interface UsageEntry {
  connection: Connection & { connector: { key: string; name: string } };
  opaque: boolean;
  value: ConnectionValue | null;
  allowed: boolean;
  selectable: boolean;
  instances: Instance[];
  workflows: Workflow[];
}

const ConnectionUsageRef = builder.objectRef<UsageEntry>('ConnectionUsage').implement({
  description: 'One connection in a customer connection overview: its state for the customer and what uses it.',
  fields: (t) => ({
    option: t.field({
      type: SelectableConnectionRef,
      description: 'The connection as an opaque option (id, name, connector): always present.',
      resolve: (e) => ({
        connectionId: e.connection.id,
        name: e.connection.name,
        connectorKey: e.connection.connector.key,
        connectorName: e.connection.connector.name,
      }),
    }),
    opaque: t.boolean({
      description: 'True for org-activated connections shown to customer users: only `option` and `selectable` are filled.',
      resolve: (e) => e.opaque,
    }),
    connection: t.field({ type: ConnectionRef, nullable: true, resolve: (e) => (e.opaque ? null : e.connection) }),
    value: t.field({
      type: ConnectionValueRef,
      nullable: true,
      description: "The value that serves this customer (its own, or the global one); null when none or opaque.",
      resolve: (e) => (e.opaque ? null : e.value),
    }),
    allowed: t.boolean({
      description: "Global connections: whether the allow-list admits this customer (true for other types).",
      resolve: (e) => e.allowed,
    }),
    selectable: t.boolean({
      description: 'Available to select in workflow steps for this customer right now.',
      resolve: (e) => e.selectable,
    }),
    instances: t.field({ type: [InstanceRef], description: 'Instances of this customer whose integration uses it.', resolve: (e) => (e.opaque ? [] : e.instances) }),
    workflows: t.field({ type: [WorkflowRef], description: 'Workflows of this customer with a step that selects it.', resolve: (e) => e.workflows }),
  }),
});

const OverviewRef = builder
  .objectRef<{ customer: { id: string }; entries: UsageEntry[] }>('CustomerConnectionOverview')
  .implement({
    fields: (t) => ({
      customer: t.field({ type: CustomerRef, resolve: (o) => o.customer as never }),
      connections: t.field({ type: [ConnectionUsageRef], resolve: (o) => o.entries }),
    }),
  });

builder.queryField('customerConnectionOverview', (t) =>
  t.field({
    type: OverviewRef,
    nullable: true,
    description:
      "A customer's connections, their value status and the instances and workflows that use each. Customer users: their own " +
      'customer, customer-activated connections, plus org-activated ones they can select (opaquely). Null for an unknown customer.',
    authScopes: { org: true, customerUser: true },
    args: { customerId: t.arg.id({ description: 'Required for org principals; customer users: omit.' }) },
    resolve: async (_root, args, ctx) => {
      const p = ctx.principal;
      const customer = await targetCustomer(ctx.prisma, p, args.customerId);
      if (!customer) return null;
      const db = ctx.prisma;
      const isCustomerUser = p?.kind === 'CUSTOMER_USER';
      const [selectable, workflows, instances] = await Promise.all([
        db.availableSelection.findMany({ where: { customerId: customer.id }, select: { connectionId: true } }),
        db.workflow.findMany({ where: { customerId: customer.id }, include: { steps: { select: { connectionId: true } } }, orderBy: { createdAt: 'asc' } }),
        db.instance.findMany({
          where: { customerId: customer.id },
          include: { integration: { select: { connections: { select: { connectionId: true } } } } },
          orderBy: { createdAt: 'asc' },
        }),
      ]);
      const selectableIds = new Set(selectable.map((s) => s.connectionId));
      const stepConnectionIds = new Set(workflows.flatMap((w) => w.steps.map((s) => s.connectionId).filter((x): x is string => !!x)));
      const connections = await db.connection.findMany({
        where: isCustomerUser
          ? {
              orgId: customer.orgId,
              archivedAt: null,
              OR: [
                { type: 'CUSTOMER_ACTIVATED' },
                { availableInWorkflows: true, id: { in: [...new Set([...selectableIds, ...stepConnectionIds])] } },
              ],
            }
          : { orgId: customer.orgId },
        include: { connector: { select: { key: true, name: true } } },
        orderBy: { stableKey: 'asc' },
      });
      const ids = connections.map((c) => c.id);
      const [values, allowances] = await Promise.all([
        db.connectionValue.findMany({ where: { connectionId: { in: ids }, slot: { in: [customer.id, 'GLOBAL'] } } }),
        db.globalAllowance.findMany({ where: { customerId: customer.id, connectionId: { in: ids } }, select: { connectionId: true } }),
      ]);
      const valueOf = new Map(values.map((v) => [`${v.connectionId}/${v.slot}`, v]));
      const allowedIds = new Set(allowances.map((a) => a.connectionId));
      const entries = connections.map((c): UsageEntry => {
        const global = c.type === 'ORG_ACTIVATED_GLOBAL';
        return {
          connection: c,
          opaque: isCustomerUser && c.type !== 'CUSTOMER_ACTIVATED',
          value: valueOf.get(`${c.id}/${global ? 'GLOBAL' : customer.id}`) ?? null,
          allowed: !global || !c.restrictToAllowList || allowedIds.has(c.id),
          selectable: selectableIds.has(c.id),
          instances: instances.filter((i) => i.integration.connections.some((r) => r.connectionId === c.id)),
          workflows: workflows.filter((w) => w.steps.some((s) => s.connectionId === c.id)),
        };
      });
      return { customer, entries };
    },
  }),
);
