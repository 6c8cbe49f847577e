import type { Context as HonoContext } from 'hono';
import { ValidationError } from '../errors.js';
import { nangoErrors } from '../http/answers.js';
import { nangoConnection, nangoConnections } from '../modules/dropin/nango.js';
import { endpoint } from './endpoint.js';

/**
 * Nango's connections API, so an unmodified `@nangohq/node` works with
 * `host` = the gateway and `secretKey` = an org API key:
 *
 *   GET /connections/:connectionId?provider_config_key=<stable key>[&force_refresh=true][&refresh_token=true]
 *   GET /connection/:connectionId?…     (the legacy path, the same answer)
 *   GET /connections[?connectionId=…&search=…&endUserId=…&integrationId=a,b&limit=…&page=…]
 *   Authorization: Bearer <org API key>
 *
 * (`/proxy/*` is rest/proxy.ts.) Mapping only: modules/dropin/nango.ts.
 * Errors: `{ error: { code, message } }` with Nango's codes (answers.ts).
 */
export const NANGO_CONNECTIONS_PATH = '/connections';
export const NANGO_LEGACY_CONNECTION_PATH = '/connection';

const MAX_KEY = 256;

function text(c: HonoContext, name: string): string | undefined {
  const v = c.req.query(name);
  if (v === undefined || v === '') return undefined;
  if (v.length > MAX_KEY) throw ValidationError.field(`query.${name}`, `at most ${MAX_KEY} characters`);
  return v;
}

function flag(c: HonoContext, name: string): boolean {
  const v = c.req.query(name);
  if (v === undefined || v === '' || v === 'false') return false;
  if (v === 'true') return true;
  throw ValidationError.field(`query.${name}`, 'must be true or false');
}

function whole(c: HonoContext, name: string, fallback: number, min: number, max: number): number {
  const v = c.req.query(name);
  if (v === undefined || v === '') return fallback;
  if (!/^\d{1,7}$/.test(v) || Number(v) < min || Number(v) > max) throw ValidationError.field(`query.${name}`, `a whole number from ${min} to ${max}`);
  return Number(v);
}

/** `getConnection` / `getToken` / `getRawTokenResponse` / `getMetadata`. */
export const nangoGetConnection = endpoint({
  access: 'org',
  errors: nangoErrors,
  async handle({ app, c, principal }) {
    const connectionId = c.req.param('connectionId') ?? '';
    if (!connectionId || connectionId.length > MAX_KEY) throw ValidationError.field('params.connectionId', `1 to ${MAX_KEY} characters`);
    const providerConfigKey = text(c, 'provider_config_key');
    if (!providerConfigKey) throw ValidationError.field('query.provider_config_key', "is required: the connection's stable key");
    const answer = await nangoConnection(app, principal, {
      providerConfigKey,
      connectionId,
      forceRefresh: flag(c, 'force_refresh'),
      refreshToken: flag(c, 'refresh_token'),
    });
    return Response.json(answer, { headers: { 'cache-control': 'no-store' } });
  },
});

/** `listConnections`. */
export const nangoListConnections = endpoint({
  access: 'org',
  errors: nangoErrors,
  async handle({ app, c, principal }) {
    const integrations = text(c, 'integrationId');
    const tags = Object.keys(c.req.queries()).some((k) => k === 'tags' || k.startsWith('tags['));
    const answer = await nangoConnections(app, principal, {
      connectionId: text(c, 'connectionId'),
      search: text(c, 'search'),
      endUserId: text(c, 'endUserId'),
      endUserOrganizationId: text(c, 'endUserOrganizationId'),
      integrationIds: integrations
        ?.split(',')
        .map((s) => s.trim())
        .filter(Boolean),
      tags,
      limit: whole(c, 'limit', 100, 1, 1000),
      page: whole(c, 'page', 0, 0, 1_000_000),
    });
    return Response.json(answer, { headers: { 'cache-control': 'no-store' } });
  },
});
