import type { IncomingMessage, ServerResponse } from 'node:http';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
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
  return async (c) => {
    const response = await run(app, spec, c.req.header('authorization'), () => `${c.req.method} ${c.req.routePath}`, (principal) =>
      spec.handle({ app, c, principal: principal as PrincipalFor<A> }),
    );
    return withContextCookies(c, response);
  };
}

/**
 * Authentication, access, the handler, and the error answer of whatever it
 * throws: the wrapper itself, shared by the router's handlers and the Node
 * ones. Never throws.
 */
async function run<R>(
  app: App,
  spec: Pick<Endpoint, 'access' | 'errors' | 'cachedPrincipal'>,
  authorization: string | undefined,
  route: () => string,
  handle: (principal: Principal | null) => Promise<R> | R,
): Promise<R | Response> {
  try {
    const principal = await authenticate(app, authorization, spec.access, spec.cachedPrincipal === true);
    return await handle(principal);
  } catch (err) {
    if (!fromPrismaError(err)) app.log.error({ err: errorSummary(err), route: route() }, 'unexpected error');
    return errorResponse(err, spec.errors ?? restErrors);
  }
}

/**
 * An endpoint that answers on Node's response itself, streaming (the proxy):
 * the same wrapper, served without the router's Request and Response objects
 * (`nodeHandler`, on the hot path) or through the router (`mountNode`).
 * `handle` answers and returns nothing, or returns an answer to send.
 */
export interface NodeEndpoint<A extends Access = Access> extends Omit<Endpoint<A>, 'handle' | 'maxBodyBytes'> {
  handle(call: { app: App; req: IncomingMessage; res: ServerResponse; principal: PrincipalFor<A> }): Promise<Response | void>;
}

export function nodeEndpoint<A extends Access>(spec: NodeEndpoint<A>): NodeEndpoint<A> {
  return spec;
}

/** A Node endpoint as a Node request handler: the answer written to `res`, errors included. */
export function nodeHandler<A extends Access>(app: App, spec: NodeEndpoint<A>, route: string): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  return async (req, res) => {
    const answer = await run(app, spec, req.headers.authorization, () => `${req.method} ${route}`, (principal) =>
      spec.handle({ app, req, res, principal: principal as PrincipalFor<A> }),
    );
    if (answer) await sendResponse(res, answer);
  };
}

/** Registers a Node endpoint for every method on a path, through the router (its middleware applies: CORS). */
export function mountNode(edge: Hono, app: App, path: string, spec: NodeEndpoint): void {
  edge.all(path, async (c) => {
    const { incoming, outgoing } = c.env as { incoming: IncomingMessage; outgoing: ServerResponse };
    // Headers the router's middleware prepared for this answer (CORS) go on the one written to Node's response.
    for (const [name, value] of c.res.headers) outgoing.setHeader(name, value);
    const answer = await run(app, spec, c.req.header('authorization'), () => `${c.req.method} ${c.req.routePath}`, (principal) =>
      spec.handle({ app, req: incoming, res: outgoing, principal }),
    );
    return answer ?? RESPONSE_ALREADY_SENT;
  });
}

/** A Response (an error answer: small, no cookies) written to Node's response. */
async function sendResponse(res: ServerResponse, answer: Response): Promise<void> {
  const body = Buffer.from(await answer.arrayBuffer());
  if (res.headersSent) return void res.destroy();
  res.writeHead(answer.status, { ...Object.fromEntries(answer.headers), 'content-length': body.length });
  res.end(body);
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

