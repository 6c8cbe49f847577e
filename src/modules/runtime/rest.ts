import { encodeGlobalID } from '@pothos/plugin-relay';
import type { Plugin } from 'graphql-yoga';
import { AuthError } from '../../auth/tokens.js';
import type { Services } from '../../services.js';
import { resolveConnection, type Resolution, type ResolveBy } from './resolve.js';

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

function bearer(header: string | null): string | null {
  const m = header ? /^Bearer\s+(.+)$/i.exec(header.trim()) : null;
  return m ? m[1]!.trim() : null;
}

export function runtimeRestPlugin(services: Services): Plugin {
  return {
    async onRequest({ request, url, endResponse, fetchAPI }) {
      if (url.pathname !== RUNTIME_REST_PATH) return;
      const json = (status: number, body: unknown) =>
        endResponse(fetchAPI.Response.json(body, { status, headers: { 'cache-control': 'no-store' } }));
      if (request.method !== 'GET') return json(405, { status: 'ERROR', message: 'Use GET' });
      const credential = bearer(request.headers.get('authorization'));
      if (!credential) return json(401, { status: 'UNAUTHENTICATED', message: 'Authentication required' });
      let principal;
      try {
        principal = await services.tokens.authenticate(credential);
      } catch (err) {
        if (err instanceof AuthError) return json(401, { status: 'UNAUTHENTICATED', message: `Invalid credential: ${err.message}` });
        throw err;
      }
      if (principal.kind !== 'RUNTIME') return json(403, { status: 'FORBIDDEN', message: 'A runtime token is required' });
      const stableKey = url.searchParams.get('stableKey');
      const externalId = url.searchParams.get('externalId');
      if ((stableKey === null) === (externalId === null) || (stableKey ?? externalId)!.length === 0 || (stableKey ?? externalId)!.length > 256) {
        return json(400, { status: 'ERROR', message: 'Give exactly one of stableKey or externalId' });
      }
      const by: ResolveBy = stableKey !== null ? { stableKey } : { externalId: externalId! };
      const r = await resolveConnection(services, principal, by);
      return json(httpStatus(r), body(r));
    },
  };
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
      ...(r.kind !== 'NOT_FOUND' && r.connection ? { connectionId: encodeGlobalID('Connection', r.connection.id) } : {}),
    };
  }
  return {
    status: 'RESOLVED',
    connectionId: encodeGlobalID('Connection', r.connection.id),
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
