import type { ValueStatusChange } from '../../generated/prisma/client.js';
import { builder } from '../../schema/builder.js';
import { keysetPage, keysetQuery, keysetSelection, type KeysetSpec } from '../../schema/keyset.js';
import { rowsById } from '../../schema/loaders.js';
import { ValueStatusEnum } from '../values/schema.js';
import { statusChangeWhere } from './scope.js';

/**
 * Connection health in GraphQL: status history. A value's history is reached
 * through the value (`ConnectionValue.history`), so it has exactly the
 * value's scope rules; a connection's (`Connection.statusHistory`, cleared
 * values included) is filtered by scope.ts with the same rules.
 */
const StatusChangeRef = builder.prismaObject('ValueStatusChange', {
  description: "One transition of a credential value's status (created: `from` null; cleared: `to` null).",
  fields: (t) => ({
    from: t.field({ type: ValueStatusEnum, nullable: true, resolve: (c) => c.fromStatus }),
    to: t.field({ type: ValueStatusEnum, nullable: true, resolve: (c) => c.toStatus }),
    cause: t.exposeString('cause', {
      description: 'What caused it: the change (connectionValue.set, oauth.authorized, connectionValue.clear…), a refresh (refresh.expired, refresh.rejected) or a check (connection.test, check.failed…).',
    }),
    message: t.exposeString('message', { nullable: true, description: "The value's error after the change." }),
    actorKind: t.exposeString('actorKind', { description: 'Who: ORG_USER, API_KEY, CUSTOMER_USER, RUNTIME, OAUTH_CALLBACK or SYSTEM (the gateway\'s own workers).' }),
    via: t.exposeString('via', { description: 'Through which surface: graphql, rest, oauth, runtime, manifest, system.' }),
    at: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

/** History pages in SQL by its id (schema/keyset.ts), under a list of values or connections too. */
const HISTORY: KeysetSpec<ValueStatusChange> = { keys: [{ field: 'id', direction: 'asc' }], types: { id: 'bigint' } };

builder.prismaObjectFields('ConnectionValue', (t) => ({
  history: t.connection({
    type: StatusChangeRef,
    description: 'Every status transition of this value, oldest first.',
    select: (args, _ctx, nestedSelection) => ({ history: keysetSelection(HISTORY, nestedSelection(true, ['edges', 'node']), keysetQuery(HISTORY, args)) }),
    resolve: (value, args) => keysetPage(HISTORY, args, value.history),
  }),
}));

interface ValueCheck {
  at: Date;
  ok: boolean;
  message: string | null;
  consecutiveFailures: number;
  nextAt: Date | null;
}

const ValueCheckRef = builder.objectRef<ValueCheck>('ValueCheck').implement({
  description: "The last scheduled check of a value with its connector's test request (health/checks.ts).",
  fields: (t) => ({
    at: t.expose('at', { type: 'DateTime' }),
    ok: t.exposeBoolean('ok'),
    message: t.exposeString('message', { nullable: true, description: 'What it came to (the request named from its template, never a secret).' }),
    consecutiveFailures: t.exposeInt('consecutiveFailures', { description: 'Failed checks in a row (0 after a success).' }),
    nextAt: t.expose('nextAt', { type: 'DateTime', nullable: true, description: 'When the next check is due.' }),
  }),
});

builder.prismaObjectFields('ConnectionValue', (t) => ({
  lastCheck: t.field({
    type: ValueCheckRef,
    nullable: true,
    description: "The last scheduled check (null: never checked — the connector has no test request, or the value's first check is still to come).",
    select: { lastCheckAt: true, lastCheckOk: true, lastCheckMessage: true, checkFailures: true, nextCheckAt: true },
    resolve: (v) =>
      v.lastCheckAt ? { at: v.lastCheckAt, ok: v.lastCheckOk ?? false, message: v.lastCheckMessage, consecutiveFailures: v.checkFailures, nextAt: v.nextCheckAt } : null,
  }),
}));

builder.prismaObjectFields('Connection', (t) => ({
  statusHistory: t.connection({
    type: StatusChangeRef,
    description:
      "Status transitions of this connection's values that you may see (org principals: every slot; customer users: their own), oldest first — values cleared since included (`to` null).",
    select: (args, ctx, nestedSelection) => {
      const page = keysetQuery(HISTORY, args);
      return { statusChanges: keysetSelection(HISTORY, nestedSelection(true, ['edges', 'node']), { ...page, where: page.where ? { AND: [statusChangeWhere(ctx.principal), page.where] } : statusChangeWhere(ctx.principal) }) };
    },
    resolve: (connection, args) => keysetPage(HISTORY, args, connection.statusChanges),
  }),
}));

// ───────────────────────────── dashboard summary ─────────────────────────────

interface StatusCounts {
  PENDING: number;
  ACTIVE: number;
  ERROR: number;
  EXPIRED: number;
}
interface HealthRow {
  connectionId: string;
  connectorId: string;
  counts: StatusCounts;
}

const StatusCountsRef = builder.objectRef<StatusCounts>('StatusCounts').implement({
  description: 'Credential values by status (test values excluded).',
  fields: (t) => ({
    pending: t.int({ resolve: (c) => c.PENDING }),
    active: t.int({ resolve: (c) => c.ACTIVE }),
    error: t.int({ resolve: (c) => c.ERROR }),
    expired: t.int({ resolve: (c) => c.EXPIRED }),
    total: t.int({ resolve: (c) => c.PENDING + c.ACTIVE + c.ERROR + c.EXPIRED }),
  }),
});

const ConnectionHealthRef = builder.objectRef<HealthRow>('ConnectionHealth').implement({
  fields: (t) => ({
    // The org's own rows (the summary is for org principals), all of the response's in one statement.
    connection: t.prismaField({ type: 'Connection', resolve: async (query, h, _a, ctx) => (await rowsById(ctx, 'Connection', query, [h.connectionId]))[0]! }),
    counts: t.field({ type: StatusCountsRef, resolve: (h) => h.counts }),
  }),
});

const ConnectorHealthRef = builder.objectRef<HealthRow>('ConnectorHealth').implement({
  fields: (t) => ({
    connector: t.prismaField({ type: 'Connector', resolve: async (query, h, _a, ctx) => (await rowsById(ctx, 'Connector', query, [h.connectorId]))[0]! }),
    counts: t.field({ type: StatusCountsRef, resolve: (h) => h.counts }),
  }),
});

const zero = (): StatusCounts => ({ PENDING: 0, ACTIVE: 0, ERROR: 0, EXPIRED: 0 });
function add(into: StatusCounts, from: StatusCounts): void {
  for (const k of Object.keys(into) as (keyof StatusCounts)[]) into[k] += from[k];
}

interface HealthSummary {
  totals: StatusCounts;
  connections: HealthRow[];
  connectors: HealthRow[];
}

const HealthSummaryRef = builder.objectRef<HealthSummary>('ConnectionHealthSummary').implement({
  description: "The organization's credential values by status: overall, per connection and per connector (unarchived connections; test values excluded).",
  fields: (f) => ({
    totals: f.field({ type: StatusCountsRef, resolve: (s) => s.totals }),
    connections: f.field({ type: [ConnectionHealthRef], description: 'Connections with at least one value, most errors first.', resolve: (s) => s.connections }),
    connectors: f.field({ type: [ConnectorHealthRef], description: 'Connectors with at least one value, most errors first.', resolve: (s) => s.connectors }),
  }),
});

builder.queryField('connectionHealthSummary', (t) =>
  t.field({
    type: HealthSummaryRef,
    authScopes: { org: true },
    description: 'For the admin dashboard: values by status per connection and per connector, in one grouped query.',
    resolve: async (_root, _args, ctx) => {
      const orgId = ctx.principal!.orgId;
      const groups = await ctx.prisma.connectionValue.groupBy({
        by: ['connectionId', 'status'],
        where: { orgId, kind: { not: 'TEST' }, connection: { archivedAt: null } },
        _count: { _all: true },
      });
      const connections = await ctx.prisma.connection.findMany({
        where: { orgId, id: { in: [...new Set(groups.map((g) => g.connectionId))] } },
        select: { id: true, connectorId: true },
      });
      const connectorOf = new Map(connections.map((c) => [c.id, c.connectorId]));
      const byConnection = new Map<string, HealthRow>();
      for (const g of groups) {
        const connectorId = connectorOf.get(g.connectionId);
        if (!connectorId) continue;
        let row = byConnection.get(g.connectionId);
        if (!row) byConnection.set(g.connectionId, (row = { connectionId: g.connectionId, connectorId, counts: zero() }));
        row.counts[g.status] += g._count._all;
      }
      const totals = zero();
      const byConnector = new Map<string, HealthRow>();
      for (const row of byConnection.values()) {
        add(totals, row.counts);
        let c = byConnector.get(row.connectorId);
        if (!c) byConnector.set(row.connectorId, (c = { connectionId: row.connectionId, connectorId: row.connectorId, counts: zero() }));
        add(c.counts, row.counts);
      }
      const worstFirst = (a: HealthRow, b: HealthRow) => b.counts.ERROR + b.counts.EXPIRED - (a.counts.ERROR + a.counts.EXPIRED) || a.connectionId.localeCompare(b.connectionId);
      return { totals, connections: [...byConnection.values()].sort(worstFirst), connectors: [...byConnector.values()].sort(worstFirst) };
    },
  }),
);
