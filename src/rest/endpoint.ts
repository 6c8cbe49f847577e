import type { Context as HonoContext, Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { App } from '../app.js';
import { credentialFromHeader } from '../auth/bearer.js';
import type { Principal } from '../auth/principal.js';
import { credentialWanted, hasScope, refusalOf, type PrincipalOf, type Scope } from '../auth/scopes.js';
import { ForbiddenError, MethodNotAllowedError, UnauthenticatedError, ValidationError, fromPrismaError } from '../errors.js';
import { errorResponse, restErrors, type ErrorShape } from '../http/answers.js';
import { errorSummary } from '../logging.js';
import { principalOf } from '../modules/access/authenticate.js';

/**
 * The one wrapper of every HTTP route outside GraphQL (the automation API,
 * the runtime path, OAuth2 start and callback, OIDC sign-in, the Connect
 * page): it authenticates the caller (the one bearer parser, auth/bearer.ts),
 * admits only the principals the route's `access` names (operation scopes of
 * auth/scopes.ts, the same table GraphQL uses), runs the handler, and turns
 * whatever it throws into the route's answer through the one error table
 * (http/answers.ts) — logging what nobody expected, without values.
 *
 * `access`: `'public'` (no credential is read: the route authorizes by what
 * it carries, e.g. a signed OAuth2 state), one scope, or several (any of them
 * admits). The handler's `principal` has the type the scopes admit.
 */
export type Access = 'public' | Scope | readonly Scope[];

type PrincipalFor<A extends Access> = A extends 'public'
  ? null
  : A extends Scope
    ? PrincipalOf<A>
    : A extends readonly (infer S extends Scope)[]
      ? PrincipalOf<S>
      : never;

export interface Call<A extends Access> {
  app: App;
  c: HonoContext;
  principal: PrincipalFor<A>;
}

export interface Endpoint<A extends Access = Access> {
  access: A;
  /** The body of its error answers (default: the automation API's JSON). */
  errors?: ErrorShape;
  /** A body limit of its own, below the gateway's MAX_BODY_BYTES: a larger body is refused as it streams in. */
  maxBodyBytes?: number;
  /**
   * Who an API key or runtime token is may be taken from the proxy's cache
   * (modules/proxy/cache.ts: dropped on every instance by any change of the
   * organization before that change answers). For the proxy's hot path.
   */
  cachedPrincipal?: boolean;
  handle(call: Call<A>): Promise<Response> | Response;
}

/** Keeps an endpoint's access and its handler's principal type together. */
export function endpoint<A extends Access>(spec: Endpoint<A>): Endpoint<A> {
  return spec;
}

/** The Hono handler of an endpoint. */
export function handler<A extends Access>(app: App, spec: Endpoint<A>): (c: HonoContext) => Promise<Response> {
  const shape = spec.errors ?? restErrors;
  return async (c) => {
    let response: Response;
    try {
      const principal = await authenticate(app, c.req.header('authorization'), spec.access, spec.cachedPrincipal === true);
      response = await spec.handle({ app, c, principal: principal as PrincipalFor<A> });
    } catch (err) {
      if (!fromPrismaError(err)) app.log.error({ err: errorSummary(err), route: `${c.req.method} ${c.req.routePath}` }, 'unexpected error');
      response = errorResponse(err, shape);
    }
    return withContextCookies(c, response);
  };
}

/**
 * Cookies a handler set on the context (Hono keeps them there) also go with
 * a response it built by hand, and with an error's answer: a flow's cookie
 * is spent however the flow ends.
 */
function withContextCookies(c: HonoContext, response: Response): Response {
  const pending = c.res.headers.getSetCookie();
  if (!pending.length) return response;
  const sent = new Set(response.headers.getSetCookie());
  for (const cookie of pending) if (!sent.has(cookie)) response.headers.append('set-cookie', cookie);
  return response;
}

async function authenticate(app: App, header: string | undefined, access: Access, cached: boolean): Promise<Principal | null> {
  if (access === 'public') return null;
  const scopes: readonly Scope[] = typeof access === 'string' ? [access] : access;
  const credential = credentialFromHeader(header);
  if (!credential) throw new UnauthenticatedError(credentialWanted(scopes));
  const principal = (await principalOf(app, credential, cached))!;
  if (!scopes.some((s) => hasScope(principal, s))) throw new ForbiddenError(refusalOf(principal, scopes));
  return principal;
}

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/**
 * Registers a path's endpoints by method; any other method on the path is
 * answered 405 with `Allow`, in the shape of the path's first endpoint.
 */
export function mount(edge: Hono, app: App, path: string, methods: Partial<Record<Method, Endpoint>>): void {
  const entries = Object.entries(methods) as [Method, Endpoint][];
  for (const [method, spec] of entries) {
    const limit = spec.maxBodyBytes;
    if (limit === undefined) edge.on(method, path, handler(app, spec));
    else {
      const onError = () => errorResponse(ValidationError.field('body', `at most ${limit} bytes`), spec.errors);
      edge.on(method, path, bodyLimit({ maxSize: limit, onError }), handler(app, spec));
    }
  }
  const allowed = entries.map(([method]) => method);
  const shape = entries[0]?.[1].errors ?? restErrors;
  edge.all(path, (c) => errorResponse(new MethodNotAllowedError(c.req.method, allowed), shape));
}

/** Registers one endpoint for every method on a path (the proxy: whatever the API takes). Its body is the endpoint's to read. */
export function mountAnyMethod(edge: Hono, app: App, path: string, spec: Endpoint): void {
  edge.all(path, handler(app, spec));
}
