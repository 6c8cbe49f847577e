import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { hasScope } from '../auth/scopes.js';
import type { SecretHint } from '../crypto/secrets.js';
import { ForbiddenError, NotFoundError, ValidationError } from '../errors.js';
import type { AuthType, Connection, ConnectionValue, Connector, PrismaClient } from '../generated/prisma/client.js';
import { rawId } from '../ids.js';
import type { FieldDef } from '../modules/connectors/fields.js';
import { deleteConnection, updateGlobalConnection, upsertGlobalConnection, type GlobalValueInput } from '../modules/connections/service.js';
import { orgOwned } from '../modules/tenancy/scope.js';
import { KEY_MESSAGE, KEY_PATTERN } from '../validation.js';
import { PageQuery, pageBody, pageOf } from './pagination.js';
import { ErrorBody, IdParams, route } from './route.js';

/**
 * Activepieces' global connections, mapped onto reusable connections:
 *
 * - a global connection is an ORG_ACTIVATED_GLOBAL connection whose
 *   `externalId` is the Activepieces `externalId` (also its stableKey, so
 *   tenant sync and the runtime's `connections.get(externalId)` agree);
 * - `pieceName` is the connector key (characters a key cannot hold become
 *   `-`; `@activepieces/piece-gelato` is kept as it is); a missing connector is created from `type`
 *   and the props' names (CUSTOM_AUTH: string props are secret unless their
 *   name is clearly not, e.g. `base_url`; SECRET_TEXT: `secret_text`;
 *   BASIC_AUTH: `username` + `password`). OAuth2 connectors must exist first
 *   (they need their OAuth2 settings);
 * - `value.props` is the GLOBAL value (stored ACTIVE); `projectIds` is the
 *   allow-list (the connection is restricted to it) and the connection is
 *   available in those customers' workflow steps.
 *
 * Creating again with the same externalId updates the connection (one row,
 * even when two creates race).
 */
const AP_TYPES = ['SECRET_TEXT', 'BASIC_AUTH', 'CUSTOM_AUTH', 'PLATFORM_OAUTH2', 'OAUTH2', 'CLOUD_OAUTH2', 'NO_AUTH'] as const;
type ApType = (typeof AP_TYPES)[number];

function authTypeOf(t: ApType): AuthType {
  return t === 'PLATFORM_OAUTH2' || t === 'CLOUD_OAUTH2' || t === 'OAUTH2' ? 'OAUTH2' : t;
}


export function pieceNameToKey(pieceName: string): string {
  return pieceName
    .replace(/^[^A-Za-z0-9@]+/, '')
    .replace(/[^A-Za-z0-9._:@/-]/g, '-')
    .slice(0, 128);
}

const Props = z.record(z.string(), z.unknown());

const ConnectionValueBody = z
  .object({
    type: z.enum(AP_TYPES),
    props: Props.optional().describe('The credential: field name → value. Secret fields are write-only.'),
  })
  .passthrough()
  .describe('The credential. Activepieces also accepts top-level fields such as `secret_text`, `username`/`password` here.');

const CreateBody = z
  .object({
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
  })
  .refine((b) => b.value.type === b.type, { message: 'must equal `type`', path: ['value', 'type'] });

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

type Loaded = Connection & { connector: Connector; values: ConnectionValue[]; allowances: { customerId: string }[] };

const include = {
  connector: true,
  values: { where: { slot: 'GLOBAL' } },
  allowances: { select: { customerId: true }, orderBy: { customerId: 'asc' as const } },
} as const;

function apTypeOf(c: Connector): ApType {
  return c.authType === 'OAUTH2' ? 'OAUTH2' : c.authType;
}

function masked(h: SecretHint | undefined): string {
  return '****' + (h?.last4 ?? '');
}

export function globalConnectionOut(c: Loaded): z.infer<typeof GlobalConnection> {
  const v = c.values[0];
  const type = apTypeOf(c.connector);
  const hints = (v?.secretHints ?? {}) as unknown as Record<string, SecretHint>;
  return {
    id: c.id,
    created: c.createdAt.toISOString(),
    updated: c.updatedAt.toISOString(),
    displayName: c.name,
    externalId: c.externalId,
    stableKey: c.stableKey,
    pieceName: c.connector.key,
    type,
    status: !v || v.status === 'PENDING' ? 'MISSING' : v.status === 'ACTIVE' ? 'ACTIVE' : 'ERROR',
    scope: 'PLATFORM',
    projectIds: c.allowances.map((a) => a.customerId),
    metadata: (c.metadata ?? {}) as Record<string, unknown>,
    platformId: c.orgId,
    value: v
      ? {
          type,
          props: {
            ...(v.fields as Record<string, unknown>),
            ...Object.fromEntries(Object.keys(hints).map((k) => [k, masked(hints[k])])),
          },
        }
      : null,
  };
}

// ───────────────────────── connectors from pieces ─────────────────────────

const NOT_SECRET =
  /^(base_?url|url|endpoint|host(_?name)?|domain|sub_?domain|region|environment|env|user_?name|username|user|email|login|account(_?id)?|instance(_?url)?|site(_?url)?|tenant(_?id)?|org(anization)?(_?id)?|workspace(_?id)?|project(_?id)?|client_?id|api_?version|version|port|store(_?name)?|shop(_?name)?|locale|timezone)$/i;

/** Field definitions of an auto-created CUSTOM_AUTH connector, inferred from the props' names and types. */
export function inferFields(props: Record<string, unknown>): FieldDef[] {
  return Object.entries(props)
    .filter(([key]) => /^[A-Za-z][A-Za-z0-9_]{0,63}$/.test(key))
    .map(([key, v]): FieldDef => {
      const label = key.replace(/[_-]+/g, ' ').replace(/^./, (c) => c.toUpperCase());
      if (typeof v === 'number') return { key, label, type: 'NUMBER', required: false, secret: false };
      if (typeof v === 'boolean') return { key, label, type: 'BOOLEAN', required: false, secret: false };
      if (v !== null && typeof v === 'object') return { key, label, type: 'JSON', required: false, secret: false };
      // Strings: secret unless the name says otherwise. When in doubt, secret.
      return { key, label, type: 'STRING', required: false, secret: !NOT_SECRET.test(key) };
    });
}

function checkPropKeys(props: Record<string, unknown>): void {
  const bad = Object.keys(props).filter((k) => !/^[A-Za-z][A-Za-z0-9_]{0,63}$/.test(k));
  if (bad.length) {
    throw new ValidationError(
      bad.map((k) => ({ path: `body.value.props.${k}`, message: 'field names start with a letter; letters, digits and _ only' })),
    );
  }
}

// ───────────────────────────── values ─────────────────────────────

/** Activepieces value → our field values (and the access-token expiry for OAuth2). */
function valuesFrom(
  value: z.infer<typeof ConnectionValueBody>,
  authType: AuthType,
): { values: Record<string, unknown>; expiresAt?: Date | null } {
  const { type: _t, props, ...top } = value;
  // Activepieces puts SECRET_TEXT / BASIC_AUTH fields at the top of `value`; the seed puts them in `props`.
  const merged: Record<string, unknown> = { ...top, ...(props ?? {}) };
  if (authType !== 'OAUTH2') return { values: authType === 'NO_AUTH' ? {} : merged };
  const { access_token, refresh_token, token_type, scope, expires_in, claimed_at, ...rest } = merged;
  for (const k of ['client_id', 'client_secret', 'redirect_url', 'code', 'code_challenge', 'authorization_method', 'token_url', 'props', 'data']) {
    delete rest[k];
  }
  const values: Record<string, unknown> = { ...rest };
  if (access_token !== undefined) values.accessToken = access_token;
  if (refresh_token !== undefined) values.refreshToken = refresh_token;
  if (token_type !== undefined) values.tokenType = token_type;
  if (scope !== undefined) values.scope = scope;
  let expiresAt: Date | null = null;
  if (typeof expires_in === 'number') {
    const base = typeof claimed_at === 'number' ? claimed_at * 1000 : Date.now();
    expiresAt = new Date(base + expires_in * 1000);
  }
  if (access_token === undefined) {
    throw ValidationError.field('body.value.props.access_token', 'is required: the gateway does not exchange authorization codes over REST');
  }
  return { values, expiresAt };
}

/** Service input names → this API's. */
const NAMES = {
  name: 'displayName',
  allowedCustomerIds: 'projectIds',
  'connector.key': 'pieceName',
  'connector.authType': 'type',
  'value.authType': 'value.type',
  'value.values': 'value.props',
};

/** The connection as this API shows it, read with its GLOBAL value and allow-list. */
async function findGlobal(prisma: PrismaClient, orgId: string, id: string): Promise<Loaded> {
  const c = await prisma.connection.findFirst({ where: { id: rawId(id), orgId, type: 'ORG_ACTIVATED_GLOBAL' }, include });
  if (!c) throw new NotFoundError('Global connection');
  return c;
}

/** Activepieces' value → the service's GLOBAL value. */
function globalValue(value: z.infer<typeof ConnectionValueBody>): GlobalValueInput {
  const authType = authTypeOf(value.type);
  return { authType, ...valuesFrom(value, authType) };
}

/** A piece the org has no connector for yet: the connector's definition, inferred from the credential's props. */
function pieceConnector(body: z.infer<typeof CreateBody>) {
  const authType = authTypeOf(body.type);
  const props = { ...body.value.props };
  if (authType === 'CUSTOM_AUTH') checkPropKeys(props);
  return {
    key: pieceNameToKey(body.pieceName),
    name: body.pieceName,
    description: `Created by the REST API for piece ${body.pieceName}`,
    authType,
    ...(authType === 'CUSTOM_AUTH' ? { fields: inferFields(props) } : {}),
  };
}

export const globalConnectionRoutes = [
  route({
    method: 'GET',
    path: '/global-connections',
    operationId: 'listGlobalConnections',
    summary: 'List global connections',
    tag: 'Global connections',
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
        (args) =>
          app.db.prisma.connection.findMany({
            where: {
              ...orgOwned(principal),
              type: 'ORG_ACTIVATED_GLOBAL',
              ...(query.pieceName !== undefined ? { connector: { key: pieceNameToKey(query.pieceName) } } : {}),
              ...(query.externalId !== undefined ? { externalId: query.externalId } : {}),
              ...(query.projectId !== undefined ? { allowances: { some: { customerId: rawId(query.projectId) } } } : {}),
              ...(args.id ? { id: args.id } : {}),
            },
            include,
            orderBy: args.orderBy,
            take: args.take,
          }),
        globalConnectionOut,
      ),
  }),
  route({
    method: 'POST',
    path: '/global-connections',
    operationId: 'upsertGlobalConnection',
    summary: 'Create (or, with a known externalId, update) a global connection',
    tag: 'Global connections',
    access: 'credentialWrite',
    body: CreateBody,
    responses: {
      201: { description: 'Created', schema: GlobalConnection },
      200: { description: 'Updated: a global connection with this externalId existed', schema: GlobalConnection },
      400: { description: 'Invalid body', schema: ErrorBody },
    },
    async handler({ app, principal, body, write }) {
      const input = {
        externalId: body.externalId ?? `gc_${randomBytes(12).toString('base64url').replace(/[^A-Za-z0-9]/g, 'x')}`,
        name: body.displayName,
        ...(body.metadata !== undefined ? { metadata: body.metadata } : {}),
        connector: pieceConnector(body),
        allowedCustomerIds: body.projectIds,
        value: globalValue(body.value),
      };
      const { connection, created } = await write((op) => upsertGlobalConnection(op, input), NAMES);
      return { status: created ? 201 : 200, body: globalConnectionOut(await findGlobal(app.db.prisma, principal.orgId, connection.id)) };
    },
  }),
  route({
    method: 'GET',
    path: '/global-connections/:id',
    operationId: 'getGlobalConnection',
    summary: 'Get a global connection',
    tag: 'Global connections',
    access: 'org',
    params: IdParams,
    responses: {
      200: { description: 'The connection (secrets masked)', schema: GlobalConnection },
      404: { description: 'Not found', schema: ErrorBody },
    },
    async handler({ app, principal, params }) {
      return { body: globalConnectionOut(await findGlobal(app.db.prisma, principal.orgId, params.id)) };
    },
  }),
  route({
    method: 'POST',
    path: '/global-connections/:id',
    operationId: 'updateGlobalConnection',
    summary: 'Update a global connection',
    tag: 'Global connections',
    access: 'orgWrite',
    params: IdParams,
    body: UpdateBody,
    responses: {
      200: { description: 'The connection (secrets masked)', schema: GlobalConnection },
      400: { description: 'Invalid body', schema: ErrorBody },
      404: { description: 'Not found', schema: ErrorBody },
    },
    async handler({ app, principal, params, body, write }) {
      if (body.value && !hasScope(principal, 'credentialWrite')) throw new ForbiddenError('This key may not write credentials');
      const input = {
        ...(body.displayName !== undefined ? { name: body.displayName } : {}),
        ...(body.metadata !== undefined ? { metadata: body.metadata } : {}),
        ...(body.projectIds !== undefined ? { allowedCustomerIds: body.projectIds } : {}),
        ...(body.value ? { value: globalValue(body.value) } : {}),
      };
      await write((op) => updateGlobalConnection(op, rawId(params.id), input), NAMES);
      return { body: globalConnectionOut(await findGlobal(app.db.prisma, principal.orgId, params.id)) };
    },
  }),
  route({
    method: 'DELETE',
    path: '/global-connections/:id',
    operationId: 'deleteGlobalConnection',
    summary: 'Delete a global connection and its credential',
    tag: 'Global connections',
    access: 'orgWrite',
    params: IdParams,
    responses: {
      204: { description: 'Deleted' },
      404: { description: 'Not found', schema: ErrorBody },
      409: { description: 'Still used by an integration or workflow step', schema: ErrorBody },
    },
    async handler({ app, principal, params, write }) {
      const found = await findGlobal(app.db.prisma, principal.orgId, params.id);
      await write((op) => deleteConnection(op, found.id));
      return { status: 204, body: null };
    },
  }),
];
