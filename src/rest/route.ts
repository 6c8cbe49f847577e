import type { Hono } from 'hono';
import { z } from 'zod';
import type { App } from '../app.js';
import type { OrgPrincipal } from '../auth/principal.js';
import type { Scope } from '../auth/scopes.js';
import { DomainError, ValidationError, type FieldProblem } from '../errors.js';
import { errorResponse } from '../http/answers.js';
import { write, type Op } from '../op.js';
import { rawId } from '../ids.js';
import { nulPath } from '../validation.js';
import { endpoint, mount, type Endpoint } from './endpoint.js';

/**
 * A small, schema-first REST layer that only translates: each route declares
 * zod schemas for its path parameters, query, body and responses (the same
 * schemas validate requests and generate the OpenAPI document, openapi.ts),
 * and its handler turns the request DTO into a service call and the result
 * into a response DTO. Authentication, access (operation scopes of
 * auth/scopes.ts) and error answers are the one wrapper's (endpoint.ts);
 * what each service may touch is its own business.
 */
export type Access = Extract<Scope, 'org' | 'orgWrite' | 'credentialWrite'>;

export interface RouteContext<P, Q, B> {
  app: App;
  principal: OrgPrincipal;
  params: P;
  query: Q;
  body: B;
  /**
   * Runs service calls as one unit of work through REST; their validation
   * problems come back in this API's names (`names` maps service input names,
   * e.g. `{ name: 'displayName' }`), under `body`. Retried when it lost a
   * race on a unique key.
   */
  write<T>(fn: (op: Op) => Promise<T>, names?: Record<string, string>): Promise<T>;
}

export interface RouteResult {
  status?: number;
  body: unknown;
}

export interface Route<P extends z.ZodType = z.ZodType, Q extends z.ZodType = z.ZodType, B extends z.ZodType = z.ZodType> {
  method: 'GET' | 'POST' | 'DELETE';
  /** Path below the API prefix, with `:name` parameters, e.g. `/projects/:id`. */
  path: string;
  operationId: string;
  summary: string;
  description?: string;
  /** The route's group in the OpenAPI document (set by `routeGroup`). */
  tag: string;
  access: Access;
  /** Path parameters; a path with `:id` alone gets `IdParams` without saying so. */
  params?: P;
  query?: Q;
  body?: B;
  /** Response schema per status code (400 for a route with a body, 404 for one with path parameters go without saying: openapi.ts). */
  responses: Record<number, { description: string; schema?: z.ZodType }>;
  handler(ctx: RouteContext<z.output<P>, z.output<Q>, z.output<B>>): Promise<RouteResult>;
}

/** `/:id` path parameters: raw ids (REST speaks raw UUIDs; anything else is simply not found). */
export const IdParams = z.object({ id: z.string().min(1).transform(rawId) });

/** Helper that keeps the generic types of one route together (the group gives its tag). */
export function route<P extends z.ZodType = typeof IdParams, Q extends z.ZodType = z.ZodType, B extends z.ZodType = z.ZodType>(
  r: Omit<Route<P, Q, B>, 'tag'>,
): Omit<Route, 'tag'> {
  return { ...r, ...(r.params === undefined && /:id(\/|$)/.test(r.path) ? { params: IdParams } : {}) } as unknown as Omit<Route, 'tag'>;
}

/** The handler of a `GET …/:id` route: the row the principal may see (or NOT_FOUND), as its response DTO. */
export function readById<T, O>(find: (db: App['db']['prisma'], p: OrgPrincipal, id: string) => Promise<T>, out: (row: T) => O) {
  return async ({ app, principal, params }: { app: App; principal: OrgPrincipal; params: { id: string } }): Promise<RouteResult> => ({
    body: out(await find(app.db.prisma, principal, params.id)),
  });
}

/** The routes of one group of the API, tagged with its name. */
export function routeGroup(tag: string, routes: Omit<Route, 'tag'>[]): Route[] {
  return routes.map((r) => ({ ...r, tag }));
}

/** The JSON error body of every failed REST call. */
export const ErrorBody = z
  .object({
    statusCode: z.number().int(),
    code: z.string().describe('Stable machine-readable code, as in GraphQL `extensions.code`.'),
    message: z.string(),
    problems: z
      .array(z.object({ path: z.string().describe('The field at fault, e.g. `body.value.props`.'), message: z.string() }))
      .optional(),
    retryable: z.boolean().optional().describe('Present (true) on 503 SERVICE_UNAVAILABLE: nothing was changed; retry after `Retry-After` seconds.'),
  })
  .describe('Error');

function parsePart<S extends z.ZodType>(schema: S | undefined, input: unknown, prefix: string): z.output<S> {
  if (!schema) return undefined as z.output<S>;
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const problems: FieldProblem[] = result.error.issues.map((i) => ({
    path: [prefix, ...i.path.map(String)].join('.'),
    message: i.message,
  }));
  throw new ValidationError(problems);
}

class NoSuchEndpoint extends DomainError {
  readonly code = 'NOT_FOUND';
  constructor() {
    super('No such endpoint');
  }
}

async function readBody(request: Request): Promise<unknown> {
  const text = await request.text();
  if (text.trim() === '') return undefined;
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw ValidationError.field('body', 'must be valid JSON');
  }
  const nul = nulPath(body);
  if (nul !== null) throw ValidationError.field(['body', nul].filter(Boolean).join('.'), 'must not contain NUL characters');
  return body;
}

/** A route as an endpoint of the one wrapper (rest/endpoint.ts): access, then zod parsing, then the handler. */
function restEndpoint(r: Route): Endpoint<Access> {
  return endpoint({
    access: r.access,
    async handle({ app, c, principal }) {
      const request = c.req.raw;
      const rawQuery: Record<string, string> = {};
      for (const [k, v] of new URL(request.url).searchParams) if (!(k in rawQuery)) rawQuery[k] = v;
      const params = parsePart(r.params, c.req.param(), 'params');
      const query = parsePart(r.query, rawQuery, 'query');
      const body = parsePart(r.body, r.body ? await readBody(request) : undefined, 'body');
      const result = await r.handler({
        app,
        principal,
        params,
        query,
        body,
        // A lost race on a unique key is run again by the transaction itself (db/transaction.ts).
        write: (fn, names = {}) =>
          write(app, principal, 'rest', fn).catch((err: unknown) => {
            throw err instanceof ValidationError ? err.renamed(names, 'body') : err;
          }),
      });
      const status = result.status ?? 200;
      if (status === 204) return new Response(null, { status });
      return Response.json(result.body, { status });
    },
  });
}

/**
 * Registers the routes under `prefix` on the edge: each answers its method;
 * another method on a known path is 405 (with `Allow`), an unknown path 404.
 */
export function mountRoutes(edge: Hono, app: App, prefix: string, routes: Route[]): void {
  const paths = new Map<string, Partial<Record<Route['method'], Endpoint>>>();
  for (const r of routes) {
    const path = prefix + r.path;
    paths.set(path, { ...paths.get(path), [r.method]: restEndpoint(r) });
  }
  for (const [path, methods] of paths) mount(edge, app, path, methods);
  edge.all(`${prefix}/*`, () => errorResponse(new NoSuchEndpoint()));
}
