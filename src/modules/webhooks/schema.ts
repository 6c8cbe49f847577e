import { decodeId } from '../../ids.js';
import type { WebhookDelivery } from '../../generated/prisma/client.js';
import { builder } from '../../schema/builder.js';
import { keysetPage, keysetQuery, keysetSelection, type KeysetSpec } from '../../schema/keyset.js';
import { scopedNode } from '../../schema/nodes.js';
import { mutationErrors } from '../../schema/errors.js';
import { deleteField, mutate, mutateAndLoad } from '../../schema/mutations.js';
import { EVENT_TYPES } from './outbox.js';
import { deliveryWhere, endpointWhere } from './scope.js';
import { createWebhookEndpoint, deleteWebhookEndpoint, redeliverWebhook, updateWebhookEndpoint } from './service.js';

/**
 * Webhooks in GraphQL: the organization's endpoints (secret shown once, at
 * creation), their delivery log, manual redelivery. Org principals only.
 */
const DeliveryStatusEnum = builder.enumType('WebhookDeliveryStatus', {
  values: {
    PENDING: { description: 'Waiting for its next attempt (or being sent).' },
    SUCCEEDED: { description: 'The endpoint answered 2xx.' },
    FAILED: { description: 'Every attempt failed until the deadline (24 hours); redeliver to try again.' },
  } as const,
});

builder.prismaNode('WebhookEndpoint', {
  ...scopedNode(endpointWhere),
  authScopes: { org: true },
  description: 'Where your organization receives its events, signed per Standard Webhooks with the secret shown at creation.',
  fields: (t) => ({
    url: t.exposeString('url'),
    description: t.exposeString('description'),
    eventTypes: t.exposeStringList('eventTypes', { description: 'Event types delivered here; empty: every type.' }),
    enabled: t.exposeBoolean('enabled'),
    disabledAt: t.expose('disabledAt', { type: 'DateTime', nullable: true }),
    disabledReason: t.exposeString('disabledReason', { nullable: true, description: 'Why it was disabled (sustained failure, or by you).' }),
    failingSince: t.expose('failingSince', { type: 'DateTime', nullable: true, description: 'Failing without a success since then.' }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    deliveries: t.connection({
      type: DeliveryRef,
      description: 'The delivery log, newest first.',
      args: { status: t.arg({ type: DeliveryStatusEnum }) },
      select: (args, _ctx, nestedSelection) => ({
        deliveries: keysetSelection(DELIVERIES, nestedSelection(true, ['edges', 'node']), keysetQuery(DELIVERIES, args, args.status ? { status: args.status } : undefined)),
      }),
      resolve: (endpoint, args) => keysetPage(DELIVERIES, args, endpoint.deliveries),
    }),
  }),
});

builder.prismaObject('WebhookAttempt', {
  description: 'One attempt of a delivery.',
  fields: (t) => ({
    at: t.expose('attemptedAt', { type: 'DateTime' }),
    statusCode: t.exposeInt('statusCode', { nullable: true }),
    error: t.exposeString('error', { nullable: true }),
    latencyMs: t.exposeInt('latencyMs'),
  }),
});

/** The delivery log pages in SQL, newest first (schema/keyset.ts), under the list of endpoints too. */
const DELIVERIES: KeysetSpec<WebhookDelivery> = {
  keys: [
    { field: 'createdAt', direction: 'desc' },
    { field: 'id', direction: 'desc' },
  ],
  types: { createdAt: 'date' },
};

const DeliveryRef = builder.prismaNode('WebhookDelivery', {
  ...scopedNode(deliveryWhere),
  authScopes: { org: true },
  description: 'One event to one endpoint: its attempts, status and latency.',
  fields: (t) => ({
    messageId: t.string({ description: 'The `webhook-id` header of every attempt (the same on retries).', resolve: (d) => `msg_${d.messageId}` }),
    eventType: t.string({ select: { message: { select: { eventType: true } } }, resolve: (d) => d.message.eventType }),
    payload: t.field({ type: 'JSON', select: { message: { select: { payload: true } } }, resolve: (d) => d.message.payload }),
    status: t.field({ type: DeliveryStatusEnum, resolve: (d) => d.status }),
    attempts: t.exposeInt('attempts'),
    nextAttemptAt: t.field({ type: 'DateTime', nullable: true, resolve: (d) => (d.status === 'PENDING' ? d.nextAttemptAt : null) }),
    deadline: t.expose('deadline', { type: 'DateTime' }),
    lastAttemptAt: t.expose('lastAttemptAt', { type: 'DateTime', nullable: true }),
    lastStatusCode: t.exposeInt('lastStatusCode', { nullable: true }),
    lastError: t.exposeString('lastError', { nullable: true }),
    lastLatencyMs: t.exposeInt('lastLatencyMs', { nullable: true }),
    deliveredAt: t.expose('deliveredAt', { type: 'DateTime', nullable: true }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    endpoint: t.relation('endpoint'),
    attemptLog: t.relation('attemptLog', { query: { orderBy: { id: 'asc' }, take: 100 }, description: 'Attempts, oldest first (the last 100 are kept in view).' }),
  }),
});

const CreatedWebhookEndpoint = builder.objectRef<{ secret: string; endpoint: { id: string } }>('CreatedWebhookEndpoint').implement({
  description: 'A new webhook endpoint with its signing secret. The secret is shown only here, once; store it now.',
  fields: (t) => ({
    secret: t.exposeString('secret', { description: 'Standard Webhooks secret (`whsec_…`): verify `webhook-signature` with it.' }),
    endpoint: t.prismaField({
      type: 'WebhookEndpoint',
      resolve: (query, parent, _args, ctx) => ctx.prisma.webhookEndpoint.findUniqueOrThrow({ ...query, where: { id: parent.endpoint.id } }),
    }),
  }),
});

const EventTypeEnum = builder.enumType('WebhookEventType', {
  description: 'What a webhook event is about (the payload\'s `type`, with `_` for `.`: VALUE_ACTIVATED is value.activated).',
  values: Object.fromEntries(EVENT_TYPES.map((t) => [t.replace('.', '_').toUpperCase(), { value: t }])) as Record<string, { value: (typeof EVENT_TYPES)[number] }>,
});

const EndpointInput = builder.inputType('WebhookEndpointInput', {
  fields: (t) => ({
    url: t.string({ required: true }),
    description: t.string(),
    eventTypes: t.field({ type: [EventTypeEnum], description: 'Empty or absent: every type.' }),
  }),
});

const EndpointPatchInput = builder.inputType('WebhookEndpointPatch', {
  fields: (t) => ({
    url: t.string(),
    description: t.string(),
    eventTypes: t.field({ type: [EventTypeEnum] }),
    enabled: t.boolean({ description: 'true re-enables an endpoint disabled after sustained failure.' }),
  }),
});

const omitNull = <T extends object>(o: T) => Object.fromEntries(Object.entries(o).filter(([, v]) => v != null));

builder.queryFields((t) => ({
  webhookEndpoints: t.prismaConnection({
    type: 'WebhookEndpoint',
    cursor: 'id',
    authScopes: { org: true },
    description: "Your organization's webhook endpoints, oldest first.",
    resolve: (query, _root, _args, ctx) => ctx.prisma.webhookEndpoint.findMany({ ...query, where: endpointWhere(ctx.principal), orderBy: { createdAt: 'asc' } }),
  }),
}));

builder.mutationFields((t) => ({
  createWebhookEndpoint: t.field({
    type: CreatedWebhookEndpoint,
    description: 'Adds an endpoint. Its signing secret is in the answer, once.',
    authScopes: { orgWrite: true },
    errors: { types: mutationErrors },
    args: { input: t.arg({ type: EndpointInput, required: true }) },
    resolve: (_root, args, ctx) => mutate(ctx, (op) => createWebhookEndpoint(op, omitNull(args.input)), { input: 'input' }),
  }),
  updateWebhookEndpoint: t.prismaField({
    type: 'WebhookEndpoint',
    authScopes: { orgWrite: true },
    errors: { types: mutationErrors },
    args: { id: t.arg.id({ required: true }), patch: t.arg({ type: EndpointPatchInput, required: true }) },
    resolve: (query, _root, args, ctx) =>
      mutateAndLoad(ctx, query, 'WebhookEndpoint', (op) => updateWebhookEndpoint(op, decodeId('WebhookEndpoint', args.id), omitNull(args.patch)), { input: 'patch' }),
  }),
  deleteWebhookEndpoint: deleteField(t, {
    typename: 'WebhookEndpoint',
    description: 'Removes an endpoint and its delivery log.',
    authScopes: { orgWrite: true },
    remove: deleteWebhookEndpoint,
  }),
  redeliverWebhook: t.prismaField({
    type: 'WebhookDelivery',
    description: 'Sends a delivery again, whatever its outcome so far (retried for another 24 hours).',
    authScopes: { orgWrite: true },
    errors: { types: mutationErrors },
    args: { deliveryId: t.arg.id({ required: true }) },
    resolve: (query, _root, args, ctx) => mutateAndLoad(ctx, query, 'WebhookDelivery', (op) => redeliverWebhook(op, decodeId('WebhookDelivery', args.deliveryId))),
  }),
}));

