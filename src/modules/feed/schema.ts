import DataLoader from 'dataloader';
import type { Context } from '../../context.js';
import { ValidationError } from '../../errors.js';
import { decodeId, decodeOptionalId, encodeId } from '../../ids.js';
import { builder } from '../../schema/builder.js';
import { RESULT_IGNORES_ARGUMENTS } from '../../schema/extensions.js';
import { readEvents, type FeedItem, type FeedOption } from './reader.js';
import { feedAdmits, feedTarget, pickerCustomer, pickerOptionWhere } from './scope.js';

/**
 * The workflow builder's step picker: the connections available to select for
 * a customer and connector (`availableConnections`), and its live view of
 * changes to that set (`availableConnectionsChanged`). See README "Live feed".
 */

/**
 * What a workflow builder may know about a connection it can pick: an opaque
 * option. For org-activated connections customer users get nothing more (no
 * type, no values, no stableKey).
 */
export const SelectableConnectionRef = builder.objectRef<FeedOption>('SelectableConnection').implement({
  description: 'A connection offered in the step picker: an opaque option, to be passed as `connectionId` of a step.',
  fields: (t) => ({
    id: t.id({ description: 'The global id of the connection.', resolve: (o) => encodeId('Connection', o.connectionId) }),
    name: t.exposeString('name'),
    connectorKey: t.exposeString('connectorKey'),
    connectorName: t.exposeString('connectorName'),
  }),
});

/** Per-request batched lookup: is (connection, customer) in the available set? */
const selectableLoaders = new WeakMap<object, DataLoader<string, boolean>>();

export function selectableLoader(ctx: Context): DataLoader<string, boolean> {
  let loader = selectableLoaders.get(ctx);
  if (!loader) {
    loader = new DataLoader(async (keys: readonly string[]) => {
      const pairs = keys.map((k) => k.split('/') as [string, string]);
      const rows = await ctx.prisma.availableSelection.findMany({
        where: { connectionId: { in: [...new Set(pairs.map((p) => p[0]))] }, customerId: { in: [...new Set(pairs.map((p) => p[1]))] } },
        select: { connectionId: true, customerId: true },
      });
      const set = new Set(rows.map((r) => `${r.connectionId}/${r.customerId}`));
      return keys.map((k) => set.has(k));
    });
    selectableLoaders.set(ctx, loader);
  }
  return loader;
}

builder.queryField('availableConnections', (t) =>
  t.field({
    type: [SelectableConnectionRef],
    description:
      'The step picker: connections available to select for a customer and connector (give connectorId or connectorKey). ' +
      'Customer users: their own customer. Org-activated connections appear only as opaque options. A connect link’s session: its link’s connections only.',
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
      const customerId = await pickerCustomer(ctx.prisma, ctx.principal, decodeOptionalId('Customer', args.customerId));
      if (!customerId) return [];
      const orgId = ctx.principal!.orgId;
      const connector = await ctx.prisma.connector.findFirst({
        where: { orgId, ...(args.connectorId != null ? { id: decodeId('Connector', args.connectorId) } : { key: args.connectorKey! }) },
        select: { id: true, key: true, name: true },
      });
      if (!connector) return [];
      const rows = await ctx.prisma.availableSelection.findMany({
        where: { customerId, connectorId: connector.id, orgId, ...pickerOptionWhere(ctx.principal) },
        select: { connectionId: true },
      });
      if (rows.length === 0) return [];
      const connections = await ctx.prisma.connection.findMany({
        where: { id: { in: rows.map((r) => r.connectionId) } },
        select: { id: true, name: true },
        orderBy: [{ name: 'asc' }, { id: 'asc' }],
      });
      return connections.map((c) => ({ connectionId: c.id, name: c.name, connectorKey: connector.key, connectorName: connector.name }));
    },
  }),
);

// ───────────────────────────── live feed ─────────────────────────────

const FeedEventKindEnum = builder.enumType('AvailableConnectionsEventKind', {
  values: {
    ADDED: { description: 'The connection became available to select.' },
    REMOVED: { description: 'The connection is no longer available to select.' },
    UPDATED: { description: 'Still available; its name, connector or credentials changed.' },
    RESYNC: {
      description:
        'Events may have been missed (cursor older than the retention, or the client fell far behind): reload the picker, then continue from this cursor.',
    },
  } as const,
});

const FeedEventRef = builder.objectRef<FeedItem>('AvailableConnectionsEvent').implement({
  description: 'A change of the set of connections a customer may select in workflow steps.',
  fields: (t) => ({
    cursor: t.string({
      description: 'Position in the feed; pass it as `after` when resubscribing to receive what was missed.',
      resolve: (e) => e.cursor.toString(),
    }),
    kind: t.field({ type: FeedEventKindEnum, resolve: (e) => e.kind }),
    connectionId: t.id({
      nullable: true,
      description: 'Global id of the connection (null for RESYNC).',
      resolve: (e) => (e.connectionId ? encodeId('Connection', e.connectionId) : null),
    }),
    connection: t.field({
      type: SelectableConnectionRef,
      nullable: true,
      description: 'The option as the picker shows it; null for RESYNC and for a connection that no longer exists.',
      resolve: (e) => e.option,
    }),
  }),
});

/** A feed cursor argument (`after`), of this feed or the health view's. */
export function parseCursor(after: string | null | undefined): bigint | null {
  if (after === null || after === undefined) return null;
  if (!/^\d{1,19}$/.test(after)) throw ValidationError.field('after', 'not a feed cursor');
  return BigInt(after);
}

// The schema's one subscription root; other modules add fields with builder.subscriptionFields.
builder.subscriptionType({});

builder.subscriptionFields((t) => ({
  availableConnectionsChanged: t.field({
    type: FeedEventRef,
    description:
      'Live changes of the connections available to select in workflow steps for one customer (a customer user: its own; ' +
      'an org principal: `customerId` of its organization), optionally of one connector. With `after`, first replays every ' +
      'event after that cursor, then continues live: nothing missed, nothing twice. Ends when the credential expires.',
    authScopes: { org: true, customerUser: true },
    args: {
      customerId: t.arg.id({ description: 'Required for org principals; customer users may omit it (their own).' }),
      connectorId: t.arg.id({ description: 'Only events of connections of this connector.' }),
      after: t.arg.string({ description: 'Cursor of the last event received.' }),
    },
    subscribe: async (_root, args, ctx) => {
      const after = parseCursor(args.after);
      const target = await feedTarget(ctx.prisma, ctx.principal!, {
        customerId: decodeOptionalId('Customer', args.customerId),
        connectorId: decodeOptionalId('Connector', args.connectorId),
      });
      return ctx.app.feed.subscribe(ctx.app.feed.picker, {
        principal: ctx.principal!,
        key: target.customerId,
        after,
        admits: feedAdmits(target),
        replay: (from, take) => readEvents(ctx.prisma, [target.customerId], from, take, target),
      });
    },
    // The arguments choose the stream (subscribe, per subscriber); an event's result depends on the event alone.
    resolve: (item) => item,
    extensions: { [RESULT_IGNORES_ARGUMENTS]: true },
  }),
}));
