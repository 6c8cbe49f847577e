import type { App } from '../../app.js';
import { aggregateKey, auditRow } from '../../audit.js';
import type { OrgPrincipal } from '../../auth/principal.js';
import { CryptoError } from '../../crypto/keyring.js';
import { CredentialError, ForbiddenError, NotFoundError, ServiceUnavailableError, ValidationError } from '../../errors.js';
import type { ConnectionValue, Customer, Prisma } from '../../generated/prisma/client.js';
import type { ConnectionWithConnector } from '../connections/scope.js';
import { OAUTH2_TOKEN_FIELDS } from '../connectors/fields.js';
import { RENEWAL_WAIT_MS, renewNow } from '../health/refresh.js';
import { allowListAdmits, findForRuntime, type RuntimeSubject } from '../runtime/scope.js';
import { needsRefresh } from '../oauth/service.js';
import { openedValue, statusAnswer, type Resolution } from '../runtime/service.js';
import { servingSlot } from '../values/service.js';

/**
 * Nango's connections API in our words, for an unmodified `@nangohq/node`
 * (`getConnection`, `getToken`, `listConnections`):
 *
 * - Nango's secret key is an org API key; its `provider_config_key` is a
 *   connection's stable key; its `connection_id` is a customer's external id
 *   (for a global connection, any customer its allow-list admits: the shared
 *   value is served); its end user is that customer.
 * - A Nango connection is a value that serves that customer: its own, or the
 *   global one (never the test value), not pending. Its status is Nango's
 *   `errors` (`auth` for a value in ERROR or EXPIRED).
 * - `credentials` only for an API key with `credentialReads`, and never for a
 *   proxy-only connection; a due OAuth2 token (or any, with
 *   `force_refresh`) is renewed through `renewNow` (one renewal per value
 *   across instances, no transaction across the provider call), then the
 *   value is checked and decrypted as at resolution (`openedValue`); every
 *   such read is audited like a runtime resolution. Without the permission
 *   `force_refresh` is refused.
 *
 * The routes are rest/nango.ts; the error body is answers.ts' `nangoErrors`.
 */
export interface NangoGet {
  providerConfigKey: string;
  connectionId: string;
  forceRefresh: boolean;
  refreshToken: boolean;
}

export interface NangoList {
  connectionId?: string | undefined;
  search?: string | undefined;
  endUserId?: string | undefined;
  integrationIds?: string[] | undefined;
  endUserOrganizationId?: string | undefined;
  tags: boolean;
  limit: number;
  page: number;
}

/** A principal that may read decrypted credentials through these routes. */
export function readsCredentials(p: OrgPrincipal): boolean {
  return p.kind === 'API_KEY' && p.credentialReads;
}

type Found = { connection: ConnectionWithConnector; customer: Pick<Customer, 'id' | 'externalId' | 'name'>; value: ConnectionValue };

/** The connection a Nango `(provider_config_key, connection_id)` names for an org principal, or the Nango not-found it is. */
async function findNangoConnection(app: App, principal: OrgPrincipal, providerConfigKey: string, connectionId: string): Promise<Found> {
  const prisma = app.db.prisma;
  const customer = await prisma.customer.findUnique({
    where: { orgId_externalId: { orgId: principal.orgId, externalId: connectionId } },
    select: { id: true, externalId: true, name: true },
  });
  if (!customer) {
    // Nango names an unknown integration first.
    const exists = await prisma.connection.count({ where: { orgId: principal.orgId, stableKey: providerConfigKey, archivedAt: null } });
    throw exists ? new NotFoundError('Connection') : new NotFoundError('Integration');
  }
  const subject: RuntimeSubject = { orgId: principal.orgId, customerId: customer.id, instanceId: null, workflowId: null };
  const found = await findForRuntime(app.db, subject, { stableKey: providerConfigKey });
  if (!found) throw new NotFoundError('Integration');
  const { values, allowances: _, ...connection } = found;
  // A global connection its allow-list does not share with this customer: no connection for it, as if none existed.
  if (!allowListAdmits(found)) throw new NotFoundError('Connection');
  const value = values.find((v) => v.slot === servingSlot(connection, customer.id));
  if (!value || value.status === 'PENDING') throw new NotFoundError('Connection');
  return { connection, customer, value };
}

/** `GET /connections/:connectionId?provider_config_key=…` (and the legacy `/connection/:connectionId`). */
export async function nangoConnection(app: App, principal: OrgPrincipal, q: NangoGet): Promise<Record<string, unknown>> {
  const found = await findNangoConnection(app, principal, q.providerConfigKey, q.connectionId);
  const { connection, customer } = found;
  const mayRead = readsCredentials(principal);
  if (q.forceRefresh && !mayRead) throw new ForbiddenError('force_refresh needs an API key with credentialReads');
  if (!mayRead || connection.proxyOnly) {
    if (q.forceRefresh) throw new ForbiddenError("This connection's credential is only used through the proxy: force_refresh is refused");
    return connectionView(found);
  }

  const result = await readCredential(app, principal, found, q.forceRefresh);
  await auditRead(app, principal, q, customer.id, result);
  if (result.kind !== 'RESOLVED') throw refusalOf(result);
  return {
    ...connectionView({ ...found, value: result.value }),
    credentials: credentialsOf(connection, result, q.refreshToken),
  };
}

/**
 * The credential, fresh: an OAuth2 token due (or `force_refresh`) is renewed
 * through `renewNow` — the background refresher's claim, one renewal per
 * value across callers and instances, no transaction held across the
 * provider call, as the proxy does — then checked and decrypted as at
 * resolution (`openedValue`).
 */
async function readCredential(app: App, principal: OrgPrincipal, found: Found, forceRefresh: boolean): Promise<Resolution> {
  const { connection } = found;
  let value = found.value;
  const refused = statusAnswer(value, connection);
  if (refused) return refused;
  if (connection.connector.authType === 'OAUTH2' && (forceRefresh || needsRefresh(value))) {
    let renewed;
    try {
      renewed = await renewNow(app, principal, value, { rejected: false, waitMs: RENEWAL_WAIT_MS });
    } catch (err) {
      if (!(err instanceof CryptoError) && !(err instanceof ValidationError)) throw err;
      return { kind: 'ERROR', message: "The connector's OAuth2 client cannot be used to refresh the token", retryable: false, connection };
    }
    if (renewed.kind === 'EXPIRED') return { kind: 'EXPIRED', message: renewed.message, connection };
    if (renewed.kind === 'ERROR') return { kind: 'ERROR', message: renewed.message, retryable: renewed.retryable, connection };
    value = renewed.value;
  }
  return openedValue(app, connection, value);
}

/** One audit row per credential read, as for a runtime resolution; failures add to one row per key × connection × outcome × minute. */
async function auditRead(app: App, principal: OrgPrincipal, q: NangoGet, customerId: string, result: Resolution): Promise<void> {
  app.metrics.resolutions.inc({ outcome: result.kind });
  const targetId = 'connection' in result && result.connection ? result.connection.id : null;
  const row = auditRow(principal, 'nango', 'connection.resolve', 'Connection', targetId, {
    stableKey: q.providerConfigKey,
    customerId,
    ...(q.forceRefresh ? { forceRefresh: true } : {}),
    outcome: result.kind,
    ...(result.kind === 'RESOLVED' ? { valueKind: result.value.kind } : {}),
  });
  await app.auditTrail.write(
    result.kind === 'RESOLVED' ? row : { ...row, aggregateKey: aggregateKey([principal.orgId, principal.id, targetId, result.kind]) },
  );
}

function refusalOf(r: Exclude<Resolution, { kind: 'RESOLVED' }>) {
  switch (r.kind) {
    case 'NOT_FOUND':
    case 'NOT_PERMITTED':
      return new NotFoundError('Connection');
    case 'PROXY_ONLY':
      return new ForbiddenError(r.message);
    case 'EXPIRED':
      return new CredentialError('CREDENTIAL_EXPIRED', r.message);
    case 'ERROR':
      return r.retryable ? new ServiceUnavailableError(r.message) : new CredentialError('CREDENTIAL_ERROR', r.message);
  }
}

const TOKEN_FIELD_KEYS = new Set(OAUTH2_TOKEN_FIELDS.map((f) => f.key));

/** Non-secret fields a value carries for its API (a subdomain, a region): Nango's `connection_config`. */
function connectionConfigOf(connection: ConnectionWithConnector, value: ConnectionValue): Record<string, unknown> {
  const fields = { ...(value.fields as Record<string, unknown>) };
  if (connection.connector.authType === 'OAUTH2') for (const k of TOKEN_FIELD_KEYS) delete fields[k];
  return fields;
}

function metadataOf(connection: ConnectionWithConnector): Record<string, unknown> | null {
  const m = connection.metadata as Record<string, unknown> | null;
  return m && typeof m === 'object' && !Array.isArray(m) && Object.keys(m).length ? m : null;
}

function errorsOf(value: ConnectionValue): { type: string; log_id: string }[] {
  // Nango lists a connection's failures with the id of a log; ours are in the value's status history.
  return value.status === 'ERROR' || value.status === 'EXPIRED' ? [{ type: 'auth', log_id: '' }] : [];
}

function endUserOf(customer: Found['customer']) {
  return { id: customer.externalId, display_name: customer.name, email: null, tags: null, organization: null };
}

/** Nango's `ApiPublicConnectionFull` without `credentials`. */
function connectionView({ connection, customer, value }: Found): Record<string, unknown> {
  return {
    id: value.id,
    connection_id: customer.externalId,
    provider_config_key: connection.stableKey,
    provider: connection.connector.key,
    created_at: value.createdAt.toISOString(),
    updated_at: value.updatedAt.toISOString(),
    last_fetched_at: null,
    metadata: metadataOf(connection),
    connection_config: connectionConfigOf(connection, value),
    webhook_url_override: null,
    errors: errorsOf(value),
    end_user: endUserOf(customer),
    tags: {},
  };
}

/** The credential in Nango's shape for the connector's auth type (the SDK's `getToken` reads it by `type`). */
function credentialsOf(connection: ConnectionWithConnector, r: Extract<Resolution, { kind: 'RESOLVED' }>, withRefreshToken: boolean): Record<string, unknown> {
  const { fields, secrets, value } = r;
  switch (connection.connector.authType) {
    case 'OAUTH2': {
      const expiresAt = value.expiresAt?.toISOString();
      const refresh = withRefreshToken && secrets.refreshToken ? { refresh_token: secrets.refreshToken } : {};
      const raw: Record<string, unknown> = {
        access_token: secrets.accessToken,
        ...(typeof fields.tokenType === 'string' ? { token_type: fields.tokenType } : {}),
        ...(typeof fields.scope === 'string' ? { scope: fields.scope } : {}),
        ...(expiresAt ? { expires_at: expiresAt } : {}),
        ...refresh,
      };
      return { type: 'OAUTH2', access_token: secrets.accessToken, ...refresh, ...(expiresAt ? { expires_at: expiresAt } : {}), raw };
    }
    case 'SECRET_TEXT': {
      const key = 'secret_text' in secrets ? 'secret_text' : Object.keys(secrets)[0];
      return { type: 'API_KEY', apiKey: key ? secrets[key] : '' };
    }
    case 'BASIC_AUTH':
      return { type: 'BASIC', username: String(secrets.username ?? fields.username ?? ''), password: secrets.password ?? '' };
    case 'CUSTOM_AUTH':
      return { type: 'CUSTOM', raw: { ...fields, ...secrets } };
    case 'NO_AUTH':
      // Nango's credentials of an unauthenticated connection: an empty object.
      return {};
  }
}

// ───────────────────────────── list ─────────────────────────────

/**
 * `GET /connections`: the org's connections in Nango's list shape
 * (`ApiPublicConnection`, never credentials). A customer's own values (not
 * pending) are listed; a global connection appears once per customer only
 * when the query names one customer (`connectionId` or `endUserId`) — its
 * one value serves every admitted customer, and listing it for all of them
 * would list the whole customer base. Filters: `connectionId` and
 * `endUserId` (the customer's external id), `search` (in the external id or
 * the customer's name), `integrationId` (stable keys, comma-separated);
 * `endUserOrganizationId` and `tags[…]` match nothing (customers have
 * neither). `limit` (≤ 1000) and `page` (from 0).
 */
export async function nangoConnections(app: App, principal: OrgPrincipal, q: NangoList): Promise<{ connections: Record<string, unknown>[] }> {
  if (q.endUserOrganizationId !== undefined || q.tags) return { connections: [] };
  if (q.connectionId !== undefined && q.endUserId !== undefined && q.connectionId !== q.endUserId) return { connections: [] };
  const prisma = app.db.prisma;
  const named = q.connectionId ?? q.endUserId;
  const customerWhere: Prisma.CustomerWhereInput = {
    ...(named !== undefined ? { externalId: named } : {}),
    ...(q.search
      ? { OR: [{ externalId: { contains: q.search, mode: 'insensitive' } }, { name: { contains: q.search, mode: 'insensitive' } }] }
      : {}),
  };
  const connectionWhere: Prisma.ConnectionWhereInput = {
    orgId: principal.orgId,
    archivedAt: null,
    ...(q.integrationIds ? { stableKey: { in: q.integrationIds } } : {}),
  };
  const include = { connection: { include: { connector: true } }, customer: { select: { id: true, externalId: true, name: true } } } as const;
  const where: Prisma.ConnectionValueWhereInput = {
    orgId: principal.orgId,
    kind: 'CUSTOMER',
    status: { not: 'PENDING' },
    connection: connectionWhere,
    customer: customerWhere,
  };

  if (named === undefined) {
    const rows = await prisma.connectionValue.findMany({ where, include, orderBy: [{ createdAt: 'asc' }, { id: 'asc' }], skip: q.page * q.limit, take: q.limit });
    return { connections: rows.map((r) => listItem({ connection: r.connection, customer: r.customer!, value: r })) };
  }

  // One customer: its own values and the global values its allow-lists admit, paged together.
  const customer = await prisma.customer.findFirst({ where: { orgId: principal.orgId, ...customerWhere }, select: { id: true, externalId: true, name: true } });
  if (!customer) return { connections: [] };
  const [own, globals] = await Promise.all([
    prisma.connectionValue.findMany({ where: { ...where, customerId: customer.id }, include }),
    prisma.connectionValue.findMany({
      where: {
        orgId: principal.orgId,
        slot: 'GLOBAL',
        status: { not: 'PENDING' },
        connection: { ...connectionWhere, type: 'ORG_ACTIVATED_GLOBAL', OR: [{ restrictToAllowList: false }, { allowances: { some: { customerId: customer.id } } }] },
      },
      include: { connection: { include: { connector: true } } },
    }),
  ]);
  const all = [...own.map((r) => ({ connection: r.connection, customer, value: r as ConnectionValue })), ...globals.map((r) => ({ connection: r.connection, customer, value: r as ConnectionValue }))];
  all.sort((a, b) => a.value.createdAt.getTime() - b.value.createdAt.getTime() || a.value.id.localeCompare(b.value.id));
  return { connections: all.slice(q.page * q.limit, (q.page + 1) * q.limit).map(listItem) };
}

/** Nango's `ApiPublicConnection`. */
function listItem(f: Found): Record<string, unknown> {
  return {
    id: f.value.id,
    connection_id: f.customer.externalId,
    provider_config_key: f.connection.stableKey,
    provider: f.connection.connector.key,
    created: f.value.createdAt.toISOString(),
    metadata: metadataOf(f.connection),
    errors: errorsOf(f.value),
    end_user: endUserOf(f.customer),
    tags: {},
  };
}
