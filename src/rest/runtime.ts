import type { Context as HonoContext } from 'hono';
import type { App } from '../app.js';
import { bearerFromHeader, principalOf } from '../auth/bearer.js';
import { hasScope } from '../auth/scopes.js';
import { DomainError, ServiceUnavailableError, errorHeaders, fromPrismaError } from '../errors.js';
import { encodeId } from '../ids.js';
import { resolveConnection, type Resolution, type ResolveBy } from '../modules/runtime/service.js';

/**
 * A small REST path for runtimes that do not speak GraphQL:
 *
 *   GET /runtime/v1/connection?stableKey=<key>
 *   GET /runtime/v1/connection?externalId=<id>     (Activepieces' connections.get(...))
 *   Authorization: Bearer <runtime token>
 *
 * Same resolution, rules and audit as the GraphQL `resolveConnection`. The
 * body's `status` is the typed answer; the HTTP status mirrors it:
 * 200 RESOLVED, 404 NOT_FOUND, 403 NOT_PERMITTED, 409 EXPIRED (authorize
 * again) or ERROR, 503 ERROR that may pass on retry.
 */
export const RUNTIME_REST_PATH = '/runtime/v1/connection';

const json = (status: number, body: unknown) => Response.json(body, { status, headers: { 'cache-control': 'no-store' } });

export async function runtimeConnection(app: App, c: HonoContext): Promise<Response> {
  try {
    return await resolveOverRest(app, c);
  } catch (err) {
    // The database (or a dependency) unavailable: typed and retryable, like every other surface.
    const known = fromPrismaError(err);
    if (known instanceof ServiceUnavailableError) {
      return Response.json(
        { status: 'ERROR', code: known.code, message: known.message, retryable: true },
        { status: 503, headers: { 'cache-control': 'no-store', ...errorHeaders(known) } },
      );
    }
    throw err;
  }
}

async function resolveOverRest(app: App, c: HonoContext): Promise<Response> {
  const credential = bearerFromHeader(c.req.header('authorization'));
  if (!credential) return json(401, { status: 'UNAUTHENTICATED', message: 'Authentication required' });
  let principal;
  try {
    principal = await principalOf(app.tokens, credential);
  } catch (err) {
    if (err instanceof DomainError) return json(401, { status: 'UNAUTHENTICATED', message: err.message });
    throw err;
  }
  if (!hasScope(principal, 'runtime') || principal?.kind !== 'RUNTIME') return json(403, { status: 'FORBIDDEN', message: 'A runtime token is required' });
  const stableKey = c.req.query('stableKey') ?? null;
  const externalId = c.req.query('externalId') ?? null;
  const key = stableKey ?? externalId;
  if ((stableKey === null) === (externalId === null) || !key || key.length > 256) {
    return json(400, { status: 'ERROR', message: 'Give exactly one of stableKey or externalId' });
  }
  const by: ResolveBy = stableKey !== null ? { stableKey } : { externalId: externalId! };
  const r = await resolveConnection(app, principal, by);
  return json(httpStatus(r), body(r));
}

function httpStatus(r: Resolution): number {
  switch (r.kind) {
    case 'RESOLVED':
      return 200;
    case 'NOT_FOUND':
      return 404;
    case 'NOT_PERMITTED':
      return 403;
    case 'EXPIRED':
      return 409;
    case 'ERROR':
      return r.retryable ? 503 : 409;
  }
}

function body(r: Resolution): Record<string, unknown> {
  if (r.kind !== 'RESOLVED') {
    return {
      status: r.kind,
      message: r.message,
      ...(r.kind === 'NOT_FOUND' ? { reason: r.reason } : {}),
      ...(r.kind === 'ERROR' ? { retryable: r.retryable } : {}),
      ...(r.kind !== 'NOT_FOUND' && r.connection ? { connectionId: encodeId('Connection', r.connection.id) } : {}),
    };
  }
  return {
    status: 'RESOLVED',
    connectionId: encodeId('Connection', r.connection.id),
    stableKey: r.connection.stableKey,
    externalId: r.connection.externalId,
    type: r.connection.type,
    connectorKey: r.connection.connector.key,
    authType: r.connection.connector.authType,
    valueKind: r.value.kind,
    props: { ...r.fields, ...r.secrets },
    fields: r.fields,
    secrets: r.secrets,
    accessToken: r.secrets.accessToken ?? null,
    tokenType: typeof r.fields.tokenType === 'string' ? r.fields.tokenType : null,
    expiresAt: r.value.expiresAt?.toISOString() ?? null,
  };
}
