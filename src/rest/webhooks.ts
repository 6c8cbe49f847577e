import { z } from 'zod';
import { NotFoundError } from '../errors.js';
import type { WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookMessage } from '../generated/prisma/client.js';
import { EVENT_TYPES } from '../modules/webhooks/outbox.js';
import { deliveryWhere, endpointWhere } from '../modules/webhooks/scope.js';
import { createWebhookEndpoint, deleteWebhookEndpoint, findWebhookEndpoint, redeliverWebhook, updateWebhookEndpoint } from '../modules/webhooks/service.js';
import { PageQuery, pageBody, pageOf } from './pagination.js';
import { readById, route, routeGroup } from './route.js';

/** Webhook endpoints and their delivery log for backend automation: the same services as GraphQL. */
const Endpoint = z
  .object({
    id: z.string(),
    url: z.string(),
    description: z.string(),
    eventTypes: z.array(z.enum(EVENT_TYPES)).describe('Empty: every type.'),
    enabled: z.boolean(),
    disabledAt: z.string().nullable(),
    disabledReason: z.string().nullable(),
    failingSince: z.string().nullable(),
    created: z.string(),
  })
  .describe('Webhook endpoint');

function endpointOut(e: WebhookEndpoint): z.infer<typeof Endpoint> {
  return {
    id: e.id,
    url: e.url,
    description: e.description,
    eventTypes: e.eventTypes as z.infer<typeof Endpoint>['eventTypes'],
    enabled: e.enabled,
    disabledAt: e.disabledAt?.toISOString() ?? null,
    disabledReason: e.disabledReason,
    failingSince: e.failingSince?.toISOString() ?? null,
    created: e.createdAt.toISOString(),
  };
}

const Delivery = z
  .object({
    id: z.string(),
    endpointId: z.string(),
    messageId: z.string().describe('The `webhook-id` header of every attempt.'),
    eventType: z.string(),
    status: z.enum(['PENDING', 'SUCCEEDED', 'FAILED']),
    attempts: z.array(z.object({ at: z.string(), statusCode: z.number().nullable(), error: z.string().nullable(), latencyMs: z.number() })),
    nextAttemptAt: z.string().nullable(),
    deliveredAt: z.string().nullable(),
    created: z.string(),
  })
  .describe('Webhook delivery');

type DeliveryRow = WebhookDelivery & { message: Pick<WebhookMessage, 'eventType'>; attemptLog: WebhookAttempt[] };
const deliveryInclude = { message: { select: { eventType: true } }, attemptLog: { orderBy: { id: 'asc' as const }, take: 100 } };

function deliveryOut(d: DeliveryRow): z.infer<typeof Delivery> {
  return {
    id: d.id,
    endpointId: d.endpointId,
    messageId: `msg_${d.messageId}`,
    eventType: d.message.eventType,
    status: d.status,
    attempts: d.attemptLog.map((a) => ({ at: a.attemptedAt.toISOString(), statusCode: a.statusCode, error: a.error, latencyMs: a.latencyMs })),
    nextAttemptAt: d.status === 'PENDING' ? d.nextAttemptAt.toISOString() : null,
    deliveredAt: d.deliveredAt?.toISOString() ?? null,
    created: d.createdAt.toISOString(),
  };
}

const EndpointBody = z.object({
  url: z.string(),
  description: z.string().optional(),
  eventTypes: z.array(z.enum(EVENT_TYPES)).optional(),
});
const EndpointPatchBody = EndpointBody.partial().extend({ enabled: z.boolean().optional().describe('true re-enables an endpoint disabled after sustained failure.') });
const notFound = (err: unknown) => {
  throw err instanceof NotFoundError ? new NotFoundError('Webhook endpoint') : err;
};

export const webhookRoutes = routeGroup('Webhooks', [
  route({
    method: 'GET',
    path: '/webhook-endpoints',
    operationId: 'listWebhookEndpoints',
    summary: 'List webhook endpoints',
    access: 'org',
    query: PageQuery,
    responses: { 200: { description: 'A page of endpoints', schema: pageOf(Endpoint) } },
    handler: ({ app, principal, query }) =>
      pageBody(query, (args) => app.db.prisma.webhookEndpoint.findMany({ where: { AND: [endpointWhere(principal), args.id ? { id: args.id } : {}] }, orderBy: args.orderBy, take: args.take }), endpointOut),
  }),
  route({
    method: 'POST',
    path: '/webhook-endpoints',
    operationId: 'createWebhookEndpoint',
    summary: 'Create a webhook endpoint',
    description: 'The answer carries the signing secret (`whsec_…`), shown only this once.',
    access: 'orgWrite',
    body: EndpointBody,
    responses: { 201: { description: 'Created', schema: Endpoint.extend({ secret: z.string() }) } },
    async handler({ body, write }) {
      const { endpoint, secret } = await write((op) => createWebhookEndpoint(op, body));
      return { status: 201, body: { ...endpointOut(endpoint), secret } };
    },
  }),
  route({
    method: 'GET',
    path: '/webhook-endpoints/:id',
    operationId: 'getWebhookEndpoint',
    summary: 'Get a webhook endpoint',
    access: 'org',
    responses: { 200: { description: 'The endpoint', schema: Endpoint } },
    handler: readById(findWebhookEndpoint, endpointOut),
  }),
  route({
    method: 'POST',
    path: '/webhook-endpoints/:id',
    operationId: 'updateWebhookEndpoint',
    summary: 'Update (or re-enable) a webhook endpoint',
    access: 'orgWrite',
    body: EndpointPatchBody,
    responses: { 200: { description: 'The endpoint', schema: Endpoint } },
    async handler({ params, body, write }) {
      return { body: endpointOut(await write((op) => updateWebhookEndpoint(op, params.id, body)).catch(notFound)) };
    },
  }),
  route({
    method: 'DELETE',
    path: '/webhook-endpoints/:id',
    operationId: 'deleteWebhookEndpoint',
    summary: 'Delete a webhook endpoint and its delivery log',
    access: 'orgWrite',
    responses: { 204: { description: 'Deleted' } },
    async handler({ params, write }) {
      await write((op) => deleteWebhookEndpoint(op, params.id)).catch(notFound);
      return { status: 204, body: null };
    },
  }),
  route({
    method: 'GET',
    path: '/webhook-endpoints/:id/deliveries',
    operationId: 'listWebhookDeliveries',
    summary: "An endpoint's delivery log",
    description: 'Every delivery with its attempts (status code, error, latency), in creation order.',
    access: 'org',
    query: PageQuery,
    responses: { 200: { description: 'A page of deliveries', schema: pageOf(Delivery) } },
    async handler({ app, principal, params, query }) {
      const endpoint = await findWebhookEndpoint(app.db.prisma, principal, params.id);
      return pageBody(
        query,
        (args) =>
          app.db.prisma.webhookDelivery.findMany({
            where: { endpointId: endpoint.id, AND: [deliveryWhere(principal), args.id ? { id: args.id } : {}] },
            include: deliveryInclude,
            orderBy: args.orderBy,
            take: args.take,
          }),
        deliveryOut,
      );
    },
  }),
  route({
    method: 'POST',
    path: '/webhook-deliveries/:id/redeliver',
    operationId: 'redeliverWebhook',
    summary: 'Send a delivery again',
    access: 'orgWrite',
    responses: { 200: { description: 'The delivery, due now', schema: Delivery } },
    async handler({ app, params, write }) {
      const delivery = await write((op) => redeliverWebhook(op, params.id));
      return { body: deliveryOut(await app.db.prisma.webhookDelivery.findUniqueOrThrow({ where: { id: delivery.id }, include: deliveryInclude })) };
    },
  }),
]);
