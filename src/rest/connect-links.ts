import { z } from 'zod';
import type { ConnectLink } from '../generated/prisma/client.js';
import { rawId } from '../ids.js';
import { connectLinkWhere } from '../modules/connect/scope.js';
import { createConnectLink, DEFAULT_LINK_TTL_S, linkStatus, MAX_LINK_TTL_S, revokeConnectLink } from '../modules/connect/service.js';
import { PageQuery, pageBody, pageOf } from './pagination.js';
import { ErrorBody, route, routeGroup } from './route.js';

/** Connect links for backend automation: the same service as GraphQL's createConnectLink / revokeConnectLink. */
const Link = z
  .object({
    id: z.string(),
    customerId: z.string(),
    connectionIds: z.array(z.string()),
    status: z.enum(['ACTIVE', 'USED', 'EXPIRED', 'REVOKED']),
    expiresAt: z.string(),
    usedAt: z.string().nullable(),
    revokedAt: z.string().nullable(),
    created: z.string(),
  })
  .describe('Connect link');

function linkOut(l: ConnectLink): z.infer<typeof Link> {
  return {
    id: l.id,
    customerId: l.customerId,
    connectionIds: l.connectionIds,
    status: linkStatus(l),
    expiresAt: l.expiresAt.toISOString(),
    usedAt: l.usedAt?.toISOString() ?? null,
    revokedAt: l.revokedAt?.toISOString() ?? null,
    created: l.createdAt.toISOString(),
  };
}

const CreateLinkBody = z.object({
  customerId: z.string().optional().describe('The customer (project) id…'),
  customerExternalId: z.string().optional().describe('…or its externalId.'),
  connections: z.array(z.string()).describe('Stable keys of customer-activated connections.'),
  expiresIn: z.number().int().optional().describe(`Seconds; default ${DEFAULT_LINK_TTL_S}, at most ${MAX_LINK_TTL_S}.`),
});

export const connectLinkRoutes = routeGroup('Connect links', [
  route({
    method: 'POST',
    path: '/connect-links',
    operationId: 'createConnectLink',
    summary: 'Create a connect link',
    description: 'A single-use, time-limited link to the hosted Connect page for one customer and the named connections. `url` and `token` are shown once.',
    access: 'credentialWrite',
    body: CreateLinkBody,
    responses: {
      201: { description: 'Created', schema: Link.extend({ url: z.string(), token: z.string() }) },
      404: { description: 'No such customer', schema: ErrorBody },
    },
    async handler({ body, write }) {
      const input = { ...body, customerId: body.customerId === undefined ? undefined : rawId(body.customerId) };
      const created = await write((op) => createConnectLink(op, input));
      return { status: 201, body: { ...linkOut(created.link), url: created.url, token: created.token } };
    },
  }),
  route({
    method: 'GET',
    path: '/connect-links',
    operationId: 'listConnectLinks',
    summary: 'List connect links',
    access: 'org',
    query: PageQuery.extend({ customerId: z.string().optional().describe('Only this customer’s.') }),
    responses: { 200: { description: 'A page of links', schema: pageOf(Link) } },
    handler: ({ app, principal, query }) =>
      pageBody(
        query,
        (args) =>
          app.db.prisma.connectLink.findMany({
            where: { AND: [connectLinkWhere(principal), query.customerId !== undefined ? { customerId: rawId(query.customerId) } : {}, args.id ? { id: args.id } : {}] },
            orderBy: args.orderBy,
            take: args.take,
          }),
        linkOut,
      ),
  }),
  route({
    method: 'DELETE',
    path: '/connect-links/:id',
    operationId: 'revokeConnectLink',
    summary: 'Revoke a connect link',
    description: 'It cannot be opened any more, and the session it was opened for ends. Idempotent.',
    access: 'credentialWrite',
    responses: { 200: { description: 'The revoked link', schema: Link } },
    async handler({ params, write }) {
      return { body: linkOut(await write((op) => revokeConnectLink(op, params.id))) };
    },
  }),
]);
