import { builder } from '../../schema/builder.js';
import { ValueStatusEnum } from '../values/schema.js';
import { statusChangeWhere } from './scope.js';

/**
 * Connection health in GraphQL: status history. A value's history is reached
 * through the value (`ConnectionValue.history`), so it has exactly the
 * value's scope rules; a connection's (`Connection.statusHistory`, cleared
 * values included) is filtered by scope.ts with the same rules.
 */
builder.prismaObject('ValueStatusChange', {
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

builder.prismaObjectFields('ConnectionValue', (t) => ({
  history: t.relatedConnection('history', {
    cursor: 'id',
    description: 'Every status transition of this value, oldest first.',
    query: () => ({ orderBy: { id: 'asc' } }),
  }),
}));

builder.prismaObjectFields('Connection', (t) => ({
  statusHistory: t.relatedConnection('statusChanges', {
    cursor: 'id',
    description:
      "Status transitions of this connection's values that you may see (org principals: every slot; customer users: their own), oldest first — values cleared since included (`to` null).",
    query: (_args, ctx) => ({ where: statusChangeWhere(ctx.principal), orderBy: { id: 'asc' } }),
  }),
}));
