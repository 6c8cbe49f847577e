import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { OrgPrincipal } from '../auth/principal.js';
import { canWriteCredentials } from '../auth/principal.js';
import type { SecretHint } from '../crypto/secrets.js';
import { ForbiddenError, NotFoundError, ValidationError, type FieldProblem } from '../errors.js';
import { transaction } from '../db/transaction.js';
import type { AuthType, Connection, ConnectionValue, Connector, PrismaClient } from '../generated/prisma/client.js';
import type { Services } from '../services.js';
import { audit } from '../modules/audit/audit.js';
import type { FieldDef } from '../modules/connections/fields.js';
import {
  KEY_MESSAGE,
  KEY_PATTERN,
  connectorFields,
  createConnection,
  createConnector,
  deleteConnection,
  setConnectionValue,
  updateConnection,
  type ConnectionWithConnector,
  type Tx,
} from '../modules/connections/service.js';
import { uuidOrNone } from '../modules/tenancy/scope.js';
import { ErrorBody, route } from './router.js';
import { PageQuery, pageOf, paginate } from './pagination.js';
import { lockConnection, lockKey, retryOnUniqueRace } from './retry.js';

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

async function connectorForPiece(
  tx: Tx,
  services: { keyRing: import('../crypto/keyring.js').KeyRing },
  orgId: string,
  pieceName: string,
  type: ApType,
  props: Record<string, unknown>,
): Promise<Connector> {
  const key = pieceNameToKey(pieceName);
  // Two new connections of one new piece must not both create its connector.
  await lockKey(tx, 'connector.key', `${orgId}:${key}`);
  const existing = await tx.connector.findUnique({ where: { orgId_key: { orgId, key } } });
  const authType = authTypeOf(type);
  if (existing) {
    if (existing.authType !== authType) {
      throw ValidationError.field('body.type', `connector "${key}" uses ${existing.authType}`);
    }
    return existing;
  }
  if (authType === 'OAUTH2') {
    throw ValidationError.field(
      'body.pieceName',
      `no OAuth2 connector "${key}": create it first (GraphQL createConnector) with its OAuth2 settings`,
    );
  }
  if (authType === 'CUSTOM_AUTH') checkPropKeys(props);
  return createConnector(tx, services.keyRing, orgId, {
    key,
    name: pieceName,
    description: `Created by the REST API for piece ${pieceName}`,
    authType,
    ...(authType === 'CUSTOM_AUTH' ? { fields: inferFields(props) } : {}),
  });
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

/** Service errors name their own input (`input.allowedCustomerIds`, `values.x`); REST callers want their body's names. */
const PATHS: [RegExp, string][] = [
  [/^values(\.|$)/, 'body.value.props$1'],
  [/^(input|patch)\.allowedCustomerIds/, 'body.projectIds'],
  [/^(input|patch)\.name/, 'body.displayName'],
  [/^(input|patch)\.(externalId|metadata)/, 'body.$2'],
  [/^input\.key/, 'body.pieceName'],
];

function restPaths<T>(fn: () => Promise<T>): Promise<T> {
  return fn().catch((err: unknown) => {
    if (err instanceof ValidationError) {
      const problems: FieldProblem[] = err.problems.map((p) => {
        for (const [re, to] of PATHS) if (re.test(p.path)) return { ...p, path: p.path.replace(re, to) };
        return p;
      });
      throw new ValidationError(problems);
    }
    throw err;
  });
}

// ───────────────────────────── handlers ─────────────────────────────

async function findGlobal(prisma: PrismaClient | Tx, p: OrgPrincipal, id: string): Promise<Loaded> {
  const c = await prisma.connection.findFirst({
    where: { id: uuidOrNone(id), orgId: p.orgId, type: 'ORG_ACTIVATED_GLOBAL' },
    include,
  });
  if (!c) throw new NotFoundError('Global connection');
  return c;
}

async function setGlobalValue(
  tx: Tx,
  ring: import('../crypto/keyring.js').KeyRing,
  connection: ConnectionWithConnector,
  value: z.infer<typeof ConnectionValueBody>,
): Promise<void> {
  if (authTypeOf(value.type) !== connection.connector.authType) {
    throw ValidationError.field('body.value.type', `connector "${connection.connector.key}" uses ${connection.connector.authType}`);
  }
  const { values, expiresAt } = valuesFrom(value, connection.connector.authType);
  await setConnectionValue(tx, ring, {
    connection,
    slot: { kind: 'GLOBAL' },
    values,
    replace: true,
    status: 'ACTIVE',
    ...(expiresAt !== undefined ? { expiresAt } : {}),
  });
}

export async function upsertGlobalConnection(
  ctx: { prisma: PrismaClient; services: Services },
  p: OrgPrincipal,
  body: z.infer<typeof CreateBody>,
): Promise<{ connection: Loaded; created: boolean }> {
  const ring = ctx.services.config.keyRing;
  const externalId = body.externalId ?? `gc_${randomBytes(12).toString('base64url').replace(/[^A-Za-z0-9]/g, 'x')}`;
  return retryOnUniqueRace(() =>
    restPaths(() =>
      transaction(ctx, async (tx) => {
        await lockKey(tx, 'connection.externalId', `${p.orgId}:${externalId}`);
        const where = { orgId_externalId: { orgId: p.orgId, externalId } };
        const pre = await tx.connection.findUnique({ where, select: { id: true } });
        // Also serialized with updates by id (POST /global-connections/:id); read the row under the lock.
        if (pre) await lockConnection(tx, pre.id);
        const existing = pre ? await tx.connection.findUnique({ where, include: { connector: true } }) : null;
        let connection: ConnectionWithConnector;
        let created = false;
        if (existing) {
          if (existing.type !== 'ORG_ACTIVATED_GLOBAL') {
            throw ValidationError.field('body.externalId', `is used by a ${existing.type} connection`);
          }
          if (existing.connector.key !== pieceNameToKey(body.pieceName)) {
            throw ValidationError.field('body.pieceName', `cannot change (connection uses "${existing.connector.key}")`);
          }
          const updated = await updateConnection(tx, existing, {
            name: body.displayName,
            ...(body.metadata !== undefined ? { metadata: body.metadata } : {}),
            restrictToAllowList: true,
            allowedCustomerIds: body.projectIds,
          });
          connection = { ...updated, connector: existing.connector };
          await audit(tx, p, 'connection.update', 'Connection', connection.id, { via: 'rest' });
        } else {
          const connector = await connectorForPiece(tx, { keyRing: ring }, p.orgId, body.pieceName, body.type, {
            ...body.value.props,
          });
          const c = await createConnection(tx, p.orgId, {
            stableKey: externalId,
            name: body.displayName,
            connectorId: connector.id,
            type: 'ORG_ACTIVATED_GLOBAL',
            availableInWorkflows: true,
            restrictToAllowList: true,
            allowedCustomerIds: body.projectIds,
            externalId,
            metadata: body.metadata ?? {},
          });
          connection = { ...c, connector };
          created = true;
          await audit(tx, p, 'connection.create', 'Connection', connection.id, { via: 'rest' });
        }
        await setGlobalValue(tx, ring, connection, body.value);
        await audit(tx, p, 'connectionValue.set', 'Connection', connection.id, { slot: 'GLOBAL', via: 'rest' });
        return { connection: await findGlobal(tx, p, connection.id), created };
      }),
    ),
  );
}

const IdParams = z.object({ id: z.string().min(1) });

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
    async handler({ prisma, principal, query }) {
      const page = await paginate(query, (args) =>
        prisma.connection.findMany({
          where: {
            orgId: principal.orgId,
            type: 'ORG_ACTIVATED_GLOBAL',
            ...(query.pieceName !== undefined ? { connector: { key: pieceNameToKey(query.pieceName) } } : {}),
            ...(query.externalId !== undefined ? { externalId: query.externalId } : {}),
            ...(query.projectId !== undefined ? { allowances: { some: { customerId: uuidOrNone(query.projectId) } } } : {}),
            ...(args.id ? { id: args.id } : {}),
          },
          include,
          orderBy: args.orderBy,
          take: args.take,
        }),
      );
      return { body: { ...page, data: page.data.map(globalConnectionOut) } };
    },
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
    async handler({ prisma, principal, services, body }) {
      const { connection, created } = await upsertGlobalConnection({ prisma, services }, principal, body);
      return { status: created ? 201 : 200, body: globalConnectionOut(connection) };
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
    async handler({ prisma, principal, params }) {
      return { body: globalConnectionOut(await findGlobal(prisma, principal, params.id)) };
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
    async handler({ prisma, principal, services, params, body }) {
      if (body.value && !canWriteCredentials(principal)) throw new ForbiddenError('This key may not write credentials');
      const loaded = await restPaths(() =>
        transaction({ prisma, services }, async (tx) => {
          await lockConnection(tx, (await findGlobal(tx, principal, params.id)).id);
          // Re-read under the lock: another update may have committed meanwhile.
          const found = await findGlobal(tx, principal, params.id);
          const patch = {
            ...(body.displayName !== undefined ? { name: body.displayName } : {}),
            ...(body.metadata !== undefined ? { metadata: body.metadata } : {}),
            ...(body.projectIds !== undefined ? { restrictToAllowList: true, allowedCustomerIds: body.projectIds } : {}),
          };
          const updated = Object.keys(patch).length ? await updateConnection(tx, found, patch) : found;
          await audit(tx, principal, 'connection.update', 'Connection', found.id, { via: 'rest' });
          if (body.value) {
            await setGlobalValue(tx, services.config.keyRing, { ...updated, connector: found.connector }, body.value);
            await audit(tx, principal, 'connectionValue.set', 'Connection', found.id, { slot: 'GLOBAL', via: 'rest' });
          }
          return findGlobal(tx, principal, found.id);
        }),
      );
      return { body: globalConnectionOut(loaded) };
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
    async handler({ prisma, services, principal, params }) {
      await transaction({ prisma, services }, async (tx) => {
        const found = await findGlobal(tx, principal, params.id);
        await deleteConnection(tx, found);
        await audit(tx, principal, 'connection.delete', 'Connection', found.id, { via: 'rest' });
      });
      return { status: 204, body: null };
    },
  }),
];
