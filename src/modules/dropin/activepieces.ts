import type { App } from '../../app.js';
import type { RuntimePrincipal } from '../../auth/principal.js';
import { ForbiddenError, NotFoundError, ServiceUnavailableError } from '../../errors.js';
import { apIdOf, isUuid, uuidOfApId } from '../../ids.js';
import type { ConnectionWithConnector } from '../connections/scope.js';
import { OAUTH2_TOKEN_FIELDS } from '../connectors/fields.js';
import { callbackUrl } from '../oauth/service.js';
import { resolveConnection, type Resolution } from '../runtime/service.js';

/**
 * The Activepieces engine's run-time connection fetch in our words
 * (`GET {apiUrl}v1/worker/app-connections/:externalId?projectId=…`, its
 * `connections.get(externalId)`):
 *
 * - the engine token is a runtime token of one customer (= Activepieces'
 *   project); `externalId` is the connection's external id; the answer is the
 *   runtime's resolution (`resolveConnection`: scope, allow-list, bindings,
 *   proxy-only, test values never served, a due OAuth2 token refreshed,
 *   audited) as an `AppConnection`;
 * - every id is in Activepieces' form (`apIdOf`: 21 alphanumeric
 *   characters): `id` (the connection), `projectIds` (the calling customer
 *   only: a token never learns which other customers share a connection),
 *   `platformId` (the organization);
 * - `status`: ACTIVE with its `value`; ERROR (expired or broken, no `value`:
 *   the engine raises its expired-connection error on it); anything the token
 *   may not use, or that has no usable value for its customer yet, is 404 —
 *   the engine's "connection not found";
 * - OAuth2 connections are `PLATFORM_OAUTH2`: the gateway holds the OAuth2
 *   client and renews tokens, so the engine gets the access token and never
 *   the client secret or the refresh token.
 */
export type ApType = 'SECRET_TEXT' | 'BASIC_AUTH' | 'CUSTOM_AUTH' | 'PLATFORM_OAUTH2' | 'NO_AUTH';

export type WorkerAnswer = { status: 200; body: Record<string, unknown> };

/** Whether the engine's `projectId` names the token's own customer (Activepieces' id form or the raw UUID). */
function isOwnProject(principal: RuntimePrincipal, projectId: string | undefined): boolean {
  if (projectId === undefined) return true;
  const uuid = isUuid(projectId) ? projectId.toLowerCase() : uuidOfApId(projectId);
  return uuid === principal.customerId || projectId === apIdOf(principal.customerId);
}

export async function workerAppConnection(app: App, principal: RuntimePrincipal, externalId: string, projectId: string | undefined): Promise<Record<string, unknown>> {
  // Another project's connections do not exist for this token.
  if (!isOwnProject(principal, projectId)) throw new NotFoundError('AppConnection');
  const r = await resolveConnection(app, principal, { externalId });
  switch (r.kind) {
    case 'RESOLVED':
      return { ...appConnectionOf(principal, r.connection, 'ACTIVE'), value: valueOf(app, r) };
    case 'EXPIRED':
      return appConnectionOf(principal, r.connection, 'ERROR');
    case 'ERROR':
      if (r.retryable) throw new ServiceUnavailableError(r.message);
      return appConnectionOf(principal, r.connection, 'ERROR');
    case 'PROXY_ONLY':
      throw new ForbiddenError(r.message);
    case 'NOT_FOUND':
    case 'NOT_PERMITTED':
      throw new NotFoundError('AppConnection');
  }
}

export function apTypeOf(connection: ConnectionWithConnector): ApType {
  const t = connection.connector.authType;
  return t === 'OAUTH2' ? 'PLATFORM_OAUTH2' : t;
}

/** `AppConnectionWithoutSensitiveData` of `@activepieces/shared`. */
function appConnectionOf(principal: RuntimePrincipal, connection: ConnectionWithConnector, status: 'ACTIVE' | 'ERROR'): Record<string, unknown> {
  const global = connection.type === 'ORG_ACTIVATED_GLOBAL';
  const metadata = connection.metadata as Record<string, unknown> | null;
  return {
    id: apIdOf(connection.id),
    created: connection.createdAt.toISOString(),
    updated: connection.updatedAt.toISOString(),
    externalId: connection.externalId ?? '',
    displayName: connection.name,
    type: apTypeOf(connection),
    pieceName: connection.connector.key,
    // We keep no piece versions: any version of the piece may use the connection.
    pieceVersion: '0.0.0',
    projectIds: [apIdOf(principal.customerId)],
    platformId: apIdOf(principal.orgId),
    scope: global ? 'PLATFORM' : 'PROJECT',
    status,
    ownerId: null,
    owner: null,
    metadata: metadata && typeof metadata === 'object' && !Array.isArray(metadata) && Object.keys(metadata).length ? metadata : null,
    flowIds: null,
    // A global connection without an allow-list serves every customer, new ones included.
    preSelectForNewProjects: global && !connection.restrictToAllowList,
    usingSecretManager: false,
  };
}

const TOKEN_FIELD_KEYS = new Set(OAUTH2_TOKEN_FIELDS.map((f) => f.key));

/** The credential as the engine's pieces read it (`AppConnectionValue` by type). */
function valueOf(app: App, r: Extract<Resolution, { kind: 'RESOLVED' }>): Record<string, unknown> {
  const { connection, fields, secrets, value } = r;
  const type = apTypeOf(connection);
  switch (type) {
    case 'SECRET_TEXT': {
      const key = 'secret_text' in secrets ? 'secret_text' : Object.keys(secrets)[0];
      return { type, secret_text: key ? secrets[key] : '' };
    }
    case 'BASIC_AUTH':
      return { type, username: String(secrets.username ?? fields.username ?? ''), password: secrets.password ?? '' };
    case 'CUSTOM_AUTH':
      return { type, props: { ...fields, ...secrets } };
    case 'NO_AUTH':
      return { type };
    case 'PLATFORM_OAUTH2': {
      const oauth2 = (connection.connector.oauth2 ?? {}) as { clientId?: string; tokenUrl?: string };
      const props = Object.fromEntries(Object.entries(fields).filter(([k]) => !TOKEN_FIELD_KEYS.has(k)));
      const claimedAt = Math.floor(Date.now() / 1000);
      return {
        type,
        access_token: secrets.accessToken ?? '',
        token_type: typeof fields.tokenType === 'string' ? fields.tokenType : 'Bearer',
        scope: typeof fields.scope === 'string' ? fields.scope : '',
        // Seconds left from `claimed_at` (now), as Activepieces computes expiry.
        ...(value.expiresAt ? { expires_in: Math.max(0, Math.floor(value.expiresAt.getTime() / 1000) - claimedAt) } : {}),
        claimed_at: claimedAt,
        token_url: oauth2.tokenUrl ?? '',
        client_id: oauth2.clientId ?? '',
        redirect_url: callbackUrl(app),
        // An authorization code is single-use and long spent; Activepieces' value schema wants the field, so it says so.
        code: 'claimed',
        data: {},
        props,
      };
    }
  }
}
