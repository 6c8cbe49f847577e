import { decodeId, decodeIdOrRaw, decodeOptionalId } from '../../ids.js';
import { builder } from '../../schema/builder.js';
import { scopedNode } from '../../schema/nodes.js';
import { mutationErrors } from '../../schema/errors.js';
import { rowsById } from '../../schema/loaders.js';
import { mutate, mutateAndLoad } from '../../schema/mutations.js';
import { stripUndefined } from '../../validation.js';
import { connectLinkWhere } from './scope.js';
import { createConnectLink, linkStatus, revokeConnectLink } from './service.js';

/** GraphQL: connect links (create, list, revoke) for org principals. The page itself: rest/connect.ts. */

const ConnectLinkStatusEnum = builder.enumType('ConnectLinkStatus', {
  values: {
    ACTIVE: { description: 'May still be opened (once).' },
    USED: { description: 'Opened: exchanged for a session.' },
    EXPIRED: { description: 'Not opened in time.' },
    REVOKED: { description: 'Revoked; its session, if any, ended.' },
  } as const,
});

export const ConnectLinkRef = builder.prismaNode('ConnectLink', {
  ...scopedNode(connectLinkWhere),
  authScopes: { org: true },
  description: 'A single-use, time-limited invitation to set the credentials of some connections of one customer on the hosted Connect page.',
  fields: (t) => ({
    linkId: t.exposeString('id', { description: 'The raw id (REST speaks it).' }),
    status: t.field({ type: ConnectLinkStatusEnum, select: { usedAt: true, revokedAt: true, expiresAt: true }, resolve: (l) => linkStatus(l) }),
    customer: t.relation('customer'),
    connections: t.prismaField({
      type: ['Connection'],
      description: 'The connections the link may configure.',
      select: { connectionIds: true },
      resolve: (query, l, _args, ctx) => rowsById(ctx, 'Connection', query, l.connectionIds),
    }),
    expiresAt: t.expose('expiresAt', { type: 'DateTime' }),
    usedAt: t.expose('usedAt', { type: 'DateTime', nullable: true }),
    revokedAt: t.expose('revokedAt', { type: 'DateTime', nullable: true }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

const CreatedConnectLink = builder
  .objectRef<{ url: string; token: string; link: { id: string } }>('CreatedConnectLink')
  .implement({
    description: 'The link, shown once: send `url` to the person who should connect (only a hash of the token is kept).',
    fields: (t) => ({
      url: t.exposeString('url', { description: 'PUBLIC_URL/connect#link=<token>.' }),
      token: t.exposeString('token'),
      link: t.prismaField({
        type: 'ConnectLink',
        resolve: (query, o, _args, ctx) => ctx.prisma.connectLink.findUniqueOrThrow({ ...query, where: { id: o.link.id } }),
      }),
    }),
  });

builder.queryField('connectLinks', (t) =>
  t.prismaConnection({
    type: 'ConnectLink',
    cursor: 'id',
    authScopes: { org: true },
    description: 'Connect links of your organization, newest first.',
    args: { customerId: t.arg.id(), activeOnly: t.arg.boolean({ defaultValue: false }) },
    resolve: (query, _root, args, ctx) =>
      ctx.prisma.connectLink.findMany({
        ...query,
        where: {
          AND: [
            connectLinkWhere(ctx.principal),
            args.customerId != null ? { customerId: decodeId('Customer', args.customerId) } : {},
            args.activeOnly ? { usedAt: null, revokedAt: null, expiresAt: { gt: new Date() } } : {},
          ],
        },
        orderBy: [{ createdAt: 'desc' }, { id: 'asc' }],
      }),
  }),
);

builder.mutationFields((t) => ({
  createConnectLink: t.field({
    type: CreatedConnectLink,
    description:
      'A link for someone with no login to set the credentials of the named customer-activated connections (stable keys) of one customer ' +
      'on the hosted Connect page: single use, valid `expiresIn` seconds (default 1800, at most 86400), revocable.',
    authScopes: { credentialWrite: true },
    errors: { types: mutationErrors },
    args: {
      customerId: t.arg.id(),
      customerExternalId: t.arg.string(),
      connections: t.arg.stringList({ required: true }),
      expiresIn: t.arg.int(),
    },
    resolve: (_root, args, ctx) =>
      mutate(ctx, (op) =>
        createConnectLink(op, stripUndefined({ ...args, customerId: decodeOptionalId('Customer', args.customerId) })),
      ),
  }),
  revokeConnectLink: t.prismaField({
    type: 'ConnectLink',
    description: 'Revokes a link (global `id` or `linkId`): it cannot be opened any more and the session it was opened for ends. Idempotent.',
    authScopes: { credentialWrite: true },
    errors: { types: mutationErrors },
    args: { id: t.arg.id({ required: true }) },
    resolve: (query, _root, args, ctx) => mutateAndLoad(ctx, query, 'ConnectLink', (op) => revokeConnectLink(op, decodeIdOrRaw('ConnectLink', args.id))),
  }),
}));
