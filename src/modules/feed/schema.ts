import { encodeGlobalID } from '@pothos/plugin-relay';
import { isOrgPrincipal } from '../../auth/principal.js';
import { ForbiddenError, NotFoundError, ValidationError } from '../../errors.js';
import { builder } from '../../schema/builder.js';
import { uuidOrNone } from '../tenancy/scope.js';
import { SelectableConnectionRef } from '../workflows/selectable.js';
import type { FeedItem } from './hub.js';

/**
 * `availableConnectionsChanged`: the workflow builder's live view of the
 * connections its customer may pick. See README "Live feed".
 */
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
      resolve: (e) => (e.connectionId ? encodeGlobalID('Connection', e.connectionId) : null),
    }),
    connection: t.field({
      type: SelectableConnectionRef,
      nullable: true,
      description: 'The option as the picker shows it; null for RESYNC and for a connection that no longer exists.',
      resolve: (e) => e.option,
    }),
  }),
});

function parseCursor(after: string | null | undefined): bigint | null {
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
      const p = ctx.principal;
      if (!p || !(isOrgPrincipal(p) || p.kind === 'CUSTOMER_USER')) throw new ForbiddenError();
      const after = parseCursor(args.after);
      const customerRaw = args.customerId ? (decodeId(String(args.customerId), 'Customer') ?? '') : null;

      let customerId: string;
      if (p.kind === 'CUSTOMER_USER') {
        // A customer user only ever has its own feed; naming another customer looks like naming none.
        if (customerRaw !== null && customerRaw !== p.customerId) throw new NotFoundError('Customer');
        customerId = p.customerId;
      } else {
        if (customerRaw === null) throw ValidationError.field('customerId', 'required for organization principals');
        const found = await ctx.prisma.customer.findFirst({
          where: { id: uuidOrNone(customerRaw), orgId: p.orgId },
          select: { id: true },
        });
        if (!found) throw new NotFoundError('Customer');
        customerId = found.id;
      }

      let connectorId: string | null = null;
      if (args.connectorId) {
        const raw = decodeId(String(args.connectorId), 'Connector');
        const found = raw
          ? await ctx.prisma.connector.findFirst({ where: { id: uuidOrNone(raw), orgId: p.orgId }, select: { id: true } })
          : null;
        if (!found) throw new NotFoundError('Connector');
        connectorId = found.id;
      }

      return ctx.services.feed.subscribe({ principal: p, customerId, connectorId, after });
    },
    resolve: (item) => item,
  }),
}));

/** Decodes a global id of the given type; anything else is "not found". */
function decodeId(globalId: string, typename: string): string | null {
  try {
    const decoded = Buffer.from(globalId, 'base64').toString('utf8');
    const i = decoded.indexOf(':');
    if (i > 0 && decoded.slice(0, i) === typename) return decoded.slice(i + 1);
  } catch {
    /* not a global id */
  }
  return null;
}
