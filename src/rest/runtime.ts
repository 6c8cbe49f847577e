import { ValidationError } from '../errors.js';
import { runtimeErrors } from '../http/answers.js';
import { encodeId } from '../ids.js';
import { resolveConnection, type Resolution, type ResolveBy } from '../modules/runtime/service.js';
import { endpoint } from './endpoint.js';

/**
 * A small REST path for runtimes that do not speak GraphQL:
 *
 *   GET /runtime/v1/connection?stableKey=<key>
 *   GET /runtime/v1/connection?externalId=<id>     (Activepieces' connections.get(...))
 *   Authorization: Bearer <runtime token>
 *
 * Same resolution, rules and audit as the GraphQL `resolveConnection`. The
 * body's `status` is the typed answer; the HTTP status mirrors it:
 * 200 RESOLVED, 404 NOT_FOUND, 403 NOT_PERMITTED or PROXY_ONLY (call the API
 * through /proxy instead), 409 EXPIRED (authorize again) or ERROR, 503 ERROR
 * that may pass on retry.
 */
export const RUNTIME_REST_PATH = '/runtime/v1/connection';

/** The runtime path's one route: a runtime token; answers never cached; errors in the runtime's shape. */
export const runtimeConnection = endpoint({
  access: 'runtime',
  errors: runtimeErrors,
  async handle({ app, c, principal }) {
    const stableKey = c.req.query('stableKey') ?? null;
    const externalId = c.req.query('externalId') ?? null;
    const key = stableKey ?? externalId;
    if ((stableKey === null) === (externalId === null) || !key || key.length > 256) {
      throw ValidationError.field('query', 'give exactly one of stableKey or externalId (at most 256 characters)');
    }
    const by: ResolveBy = stableKey !== null ? { stableKey } : { externalId: externalId! };
    const r = await resolveConnection(app, principal, by);
    return Response.json(body(r), { status: httpStatus(r), headers: { 'cache-control': 'no-store' } });
  },
});

function httpStatus(r: Resolution): number {
  switch (r.kind) {
    case 'RESOLVED':
      return 200;
    case 'NOT_FOUND':
      return 404;
    case 'NOT_PERMITTED':
    case 'PROXY_ONLY':
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
      ...(r.kind === 'PROXY_ONLY' ? { stableKey: r.connection.stableKey } : {}),
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
