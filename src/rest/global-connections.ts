import { z } from 'zod';
import { rawId } from '../ids.js';
import { AP_TYPES, apStatus, apTypeOf, pieceNameToKey, visibleProps } from '../modules/automation/pieces.js';
import {
  deletePieceConnection,
  findGlobalConnection,
  listGlobalConnections,
  updatePieceConnection,
  upsertPieceConnection,
  type GlobalConnectionRow,
} from '../modules/automation/service.js';
import { KEY_MESSAGE, KEY_PATTERN } from '../validation.js';
import { PageQuery, pageBody, pageOf } from './pagination.js';
import { ErrorBody, readById, route, routeGroup } from './route.js';

/**
 * Activepieces' global connections API (request and response shapes only;
 * what they mean is modules/automation): a global connection is an
 * ORG_ACTIVATED_GLOBAL connection kept under its `externalId`, `pieceName`
 * is the connector key, `value` its GLOBAL credential, `projectIds` its
 * allow-list. Creating again with the same externalId updates the
 * connection (one row, even when two creates race).
 */
const ConnectionValueBody = z
  .object({
    type: z.enum(AP_TYPES),
    props: z.record(z.string(), z.unknown()).optional().describe('The credential: field name → value. Secret fields are write-only.'),
  })
  .passthrough()
  .describe('The credential. Activepieces also accepts top-level fields such as `secret_text`, `username`/`password` here.');

const CreateBody = z.object({
  displayName: z.string().trim().min(1, 'must not be empty').max(200, 'at most 200 characters'),
  pieceName: z
    .string()
    .min(1, 'must not be empty')
    .max(200)
    .refine((v) => pieceNameToKey(v).length > 0, 'must contain a letter or digit')
    .describe('The connector key, e.g. `@activepieces/piece-gelato`.'),
  metadata: z.record(z.string(), z.unknown()).optional(),
  type: z.enum(AP_TYPES),
  value: ConnectionValueBody,
  scope: z.enum(['PLATFORM', 'PROJECT']).optional().describe('Accepted for compatibility; always PLATFORM.'),
  projectIds: z.array(z.string().uuid('must be a project id')).max(10_000).describe('Projects (customers) that may use it.'),
  externalId: z
    .string()
    .regex(KEY_PATTERN, KEY_MESSAGE)
    .optional()
    .describe('Your name for it, e.g. `gelato_<projectExternalId>`; generated when absent. Creating again with the same externalId updates.'),
});

const UpdateBody = z.object({
  displayName: CreateBody.shape.displayName.optional(),
  metadata: z.record(z.string(), z.unknown()).optional(),
  projectIds: CreateBody.shape.projectIds.optional(),
  value: ConnectionValueBody.optional().describe('Replaces the credential (needs a key allowed to write credentials).'),
});

export const GlobalConnection = z
  .object({
    id: z.string(),
    created: z.string(),
    updated: z.string(),
    displayName: z.string(),
    externalId: z.string().nullable(),
    stableKey: z.string().describe('The stable key (same in every tenant).'),
    pieceName: z.string().describe('The connector key.'),
    type: z.enum(AP_TYPES),
    status: z.enum(['ACTIVE', 'MISSING', 'ERROR']),
    scope: z.literal('PLATFORM'),
    projectIds: z.array(z.string()),
    metadata: z.record(z.string(), z.unknown()),
    platformId: z.string(),
    value: z
      .object({
        type: z.enum(AP_TYPES),
        props: z.record(z.string(), z.unknown()).describe('Non-secret values as stored; secret values masked as `****` (+ last 4 characters of long ones).'),
      })
      .nullable(),
  })
  .describe('Global connection (secrets masked)');

export function globalConnectionOut(c: GlobalConnectionRow): z.infer<typeof GlobalConnection> {
  const v = c.values[0];
  const type = apTypeOf(c.connector);
  return {
    id: c.id,
    created: c.createdAt.toISOString(),
    updated: c.updatedAt.toISOString(),
    displayName: c.name,
    externalId: c.externalId,
    stableKey: c.stableKey,
    pieceName: c.connector.key,
    type,
    status: apStatus(v),
    scope: 'PLATFORM',
    projectIds: c.allowances.map((a) => a.customerId),
    metadata: (c.metadata ?? {}) as Record<string, unknown>,
    platformId: c.orgId,
    value: v ? { type, props: visibleProps(v) } : null,
  };
}

export const globalConnectionRoutes = routeGroup('Global connections', [
  route({
    method: 'GET',
    path: '/global-connections',
    operationId: 'listGlobalConnections',
    summary: 'List global connections',
    access: 'org',
    query: PageQuery.extend({
      pieceName: z.string().optional().describe('Only this connector.'),
      externalId: z.string().optional(),
      projectId: z.string().optional().describe('Only connections this project may use.'),
    }),
    responses: { 200: { description: 'A page of global connections', schema: pageOf(GlobalConnection) } },
    handler: ({ app, principal, query }) =>
      pageBody(
        query,
        (page) =>
          listGlobalConnections(
            app.db.prisma,
            principal,
            { pieceName: query.pieceName, externalId: query.externalId, projectId: query.projectId === undefined ? undefined : rawId(query.projectId) },
            page,
          ),
        globalConnectionOut,
      ),
  }),
  route({
    method: 'POST',
    path: '/global-connections',
    operationId: 'upsertGlobalConnection',
    summary: 'Create (or, with a known externalId, update) a global connection',
    access: 'credentialWrite',
    body: CreateBody,
    responses: {
      201: { description: 'Created', schema: GlobalConnection },
      200: { description: 'Updated: a global connection with this externalId existed', schema: GlobalConnection },
    },
    async handler({ app, principal, body, write }) {
      const { connection, created } = await write((op) => upsertPieceConnection(op, body));
      return { status: created ? 201 : 200, body: globalConnectionOut(await findGlobalConnection(app.db.prisma, principal, connection.id)) };
    },
  }),
  route({
    method: 'GET',
    path: '/global-connections/:id',
    operationId: 'getGlobalConnection',
    summary: 'Get a global connection',
    access: 'org',
    responses: {
      200: { description: 'The connection (secrets masked)', schema: GlobalConnection },
    },
    handler: readById(findGlobalConnection, globalConnectionOut),
  }),
  route({
    method: 'POST',
    path: '/global-connections/:id',
    operationId: 'updateGlobalConnection',
    summary: 'Update a global connection',
    access: 'orgWrite',
    body: UpdateBody,
    responses: {
      200: { description: 'The connection (secrets masked)', schema: GlobalConnection },
    },
    async handler({ app, principal, params, body, write }) {
      await write((op) => updatePieceConnection(op, params.id, body));
      return { body: globalConnectionOut(await findGlobalConnection(app.db.prisma, principal, params.id)) };
    },
  }),
  route({
    method: 'DELETE',
    path: '/global-connections/:id',
    operationId: 'deleteGlobalConnection',
    summary: 'Delete a global connection and its credential',
    access: 'orgWrite',
    responses: {
      204: { description: 'Deleted' },
      409: { description: 'Still used by an integration or workflow step', schema: ErrorBody },
    },
    async handler({ principal, params, write }) {
      await write((op) => deletePieceConnection(op, principal, params.id));
      return { status: 204, body: null };
    },
  }),
]);
