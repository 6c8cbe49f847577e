import type { ValueKind, ValueStatusChange } from '../../generated/prisma/client.js';
import { decodeOptionalId, encodeId } from '../../ids.js';
import { builder } from '../../schema/builder.js';
import { RESULT_IGNORES_ARGUMENTS } from '../../schema/extensions.js';
import { keysetPage, keysetQuery, keysetSelection, type KeysetSpec } from '../../schema/keyset.js';
import { rowsById } from '../../schema/loaders.js';
import { connectionWhere } from '../connections/scope.js';
import { parseCursor } from '../feed/schema.js';
import { customerWhere } from '../tenancy/scope.js';
import { ValueKindEnum, ValueStatusEnum } from '../values/schema.js';
import { valueWhere } from '../values/scope.js';
import { readHealthEvents, type HealthEventKind, type HealthItem } from './events.js';
import { healthFeedAdmits, healthFeedTarget, statusChangeWhere } from './scope.js';

/**
 * Connection health in GraphQL: status history, the last scheduled check,
 * the dashboard summary and the admin view's live feed
 * (`connectionHealthChanged`, events.ts). A value's history is reached
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
    select: (args, ctx, nestedSelection) => ({
      statusChanges: keysetSelection(HISTORY, nestedSelection(true, ['edges', 'node']), keysetQuery(HISTORY, args, statusChangeWhere(ctx.principal))),
    }),
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

// ───────────────────────────── live admin view ─────────────────────────────

const HealthEventKindEnum = builder.enumType('ConnectionHealthEventKind', {
  values: {
    STATUS_CHANGED: { description: "A value's status changed (created: `from` null; cleared: `to` null) — the history's transitions." },
    REFRESH_FAILED: { description: 'An OAuth2 refresh failed without changing the status (the provider out of reach): retried with backoff.' },
    CHECKED: { description: 'A scheduled check ran (`ok`, `message`); a transition it caused follows as STATUS_CHANGED.' },
    RESYNC: {
      description: 'Events may have been missed (cursor older than the retention, or the client fell far behind): reload the view, then continue from this cursor.',
    },
  } as const,
});

const HealthEventRef = builder.objectRef<HealthItem>('ConnectionHealthEvent').implement({
  description: "A change of a credential value's health, as the admin view's live feed carries it.",
  fields: (t) => ({
    cursor: t.string({ description: 'Position in the feed; pass it as `after` when resubscribing to receive what was missed.', resolve: (e) => e.cursor.toString() }),
    kind: t.field({ type: HealthEventKindEnum, resolve: (e) => e.kind }),
    at: t.field({ type: 'DateTime', nullable: true, description: 'When it happened (committed); null for RESYNC.', resolve: (e) => e.createdAt ?? null }),
    connectionId: t.id({ nullable: true, resolve: (e) => (e.connectionId ? encodeId('Connection', e.connectionId) : null) }),
    connection: t.prismaField({
      type: 'Connection',
      nullable: true,
      description: 'Null for RESYNC and for a connection you may no longer see (deleted, archived for customer users).',
      resolve: (query, e, _a, ctx) => (e.connectionId ? ctx.prisma.connection.findFirst({ ...query, where: { id: e.connectionId, AND: [connectionWhere(ctx.principal)] } }) : null),
    }),
    value: t.prismaField({
      type: 'ConnectionValue',
      nullable: true,
      description: 'The value as it is now; null once cleared (and for RESYNC).',
      resolve: (query, e, _a, ctx) => (e.valueId ? ctx.prisma.connectionValue.findFirst({ ...query, where: { id: e.valueId, AND: [valueWhere(ctx.principal)] } }) : null),
    }),
    valueKind: t.field({ type: ValueKindEnum, nullable: true, resolve: (e) => e.valueKind as ValueKind | null }),
    customer: t.prismaField({
      type: 'Customer',
      nullable: true,
      description: "The value's customer; null for global and test values (and RESYNC).",
      resolve: (query, e, _a, ctx) => (e.customerId ? ctx.prisma.customer.findFirst({ ...query, where: { id: e.customerId, AND: [customerWhere(ctx.principal)] } }) : null),
    }),
    from: t.field({ type: ValueStatusEnum, nullable: true, resolve: (e) => e.from }),
    to: t.field({ type: ValueStatusEnum, nullable: true, resolve: (e) => e.to }),
    ok: t.boolean({ nullable: true, description: 'CHECKED: whether the check passed.', resolve: (e) => e.ok }),
    cause: t.string({ nullable: true, description: 'As in the history: connectionValue.set, refresh.rejected, check.passed, check.unexpected_status…', resolve: (e) => e.cause }),
    message: t.string({ nullable: true, description: "The value's error, the refresh's or the check's outcome (never a secret).", resolve: (e) => e.message }),
    actorKind: t.string({ nullable: true, description: "Who: SYSTEM for the gateway's own workers (refresh, checks), or the principal kind.", resolve: (e) => e.actorKind }),
  }),
});

builder.subscriptionFields((t) => ({
  connectionHealthChanged: t.field({
    type: HealthEventRef,
    description:
      "The admin view's live health feed: status transitions, failed refreshes and scheduled checks of the organization's values " +
      '(customer users: their own customer’s values they may see), optionally of one customer, connection or connector, or of some kinds. ' +
      'With `after`, first replays every event after that cursor, then continues live: ordered, nothing missed, nothing twice. Ends when the credential expires or is revoked.',
    authScopes: { org: true, customerUser: true },
    args: {
      customerId: t.arg.id({ description: 'Only values of this customer (customer users: their own, always).' }),
      connectionId: t.arg.id({ description: 'Only values of this connection.' }),
      connectorId: t.arg.id({ description: 'Only values of connections of this connector.' }),
      kinds: t.arg({ type: [HealthEventKindEnum], description: 'Only these kinds (RESYNC is always sent).' }),
      after: t.arg.string({ description: 'Cursor of the last event received.' }),
    },
    subscribe: async (_root, args, ctx) => {
      const after = parseCursor(args.after);
      const p = ctx.principal!;
      const target = await healthFeedTarget(ctx.prisma, p, {
        customerId: decodeOptionalId('Customer', args.customerId),
        connectionId: decodeOptionalId('Connection', args.connectionId),
        connectorId: decodeOptionalId('Connector', args.connectorId),
        kinds: args.kinds ? args.kinds.filter((k): k is HealthEventKind => k !== 'RESYNC') : null,
      });
      return ctx.app.feed.subscribe(ctx.app.healthFeed, {
        principal: p,
        key: target.orgId,
        after,
        admits: healthFeedAdmits(p, target),
        // The replay is narrowed in SQL by the filters; `admits` (scope included) decides each row.
        replay: (from, take) => readHealthEvents(ctx.prisma, [target.orgId], from, take, target),
      });
    },
    // The arguments choose the stream; an event's result depends on the event (and the principal's visibility) alone.
    resolve: (item) => item,
    extensions: { [RESULT_IGNORES_ARGUMENTS]: true },
  }),
}));
