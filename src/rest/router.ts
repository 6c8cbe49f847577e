import { z } from 'zod';
import { AuthError } from '../auth/tokens.js';
import { canWrite, canWriteCredentials, isOrgPrincipal, type OrgPrincipal } from '../auth/principal.js';
import { DomainError, ForbiddenError, UnauthenticatedError, ValidationError, fromPrismaError, type FieldProblem } from '../errors.js';
import type { PrismaClient } from '../generated/prisma/client.js';
import type { Services } from '../services.js';

/**
 * A small, schema-first REST layer. Each route declares zod schemas for its
 * path parameters, query, body and response; the same schemas validate
 * requests here and generate the OpenAPI document (openapi.ts), so the two
 * cannot drift apart.
 *
 * Authorization is the GraphQL layer's: the principal comes from
 * `services.tokens.authenticate` and the access levels are the same
 * predicates the builder's `org` / `orgWrite` / `credentialWrite` scopes use.
 */
export type Access = 'org' | 'orgWrite' | 'credentialWrite';

export interface RouteContext<P, Q, B> {
  principal: OrgPrincipal;
  services: Services;
  prisma: PrismaClient;
  params: P;
  query: Q;
  body: B;
  request: Request;
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
  tag: string;
  access: Access;
  params?: P;
  query?: Q;
  body?: B;
  /** Response schema per status code. */
  responses: Record<number, { description: string; schema?: z.ZodType }>;
  handler(ctx: RouteContext<z.output<P>, z.output<Q>, z.output<B>>): Promise<RouteResult>;
}

/** Helper that keeps the generic types of one route together. */
export function route<P extends z.ZodType = z.ZodType, Q extends z.ZodType = z.ZodType, B extends z.ZodType = z.ZodType>(
  r: Route<P, Q, B>,
): Route {
  return r as unknown as Route;
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
  })
  .describe('Error');

const STATUS: Record<string, number> = {
  VALIDATION_FAILED: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  IN_USE: 409,
};

export function errorResponse(err: DomainError): Response {
  const statusCode = STATUS[err.code] ?? 400;
  return Response.json(
    {
      statusCode,
      code: err.code,
      message: err.message,
      ...(err instanceof ValidationError ? { problems: err.problems } : {}),
    },
    { status: statusCode, headers: statusCode === 401 ? { 'www-authenticate': 'Bearer' } : {} },
  );
}

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

function compile(path: string): { regex: RegExp; names: string[] } {
  const names: string[] = [];
  const source = path
    .split('/')
    .map((seg) => {
      if (seg.startsWith(':')) {
        names.push(seg.slice(1));
        return '([^/]+)';
      }
      return seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    })
    .join('/');
  return { regex: new RegExp(`^${source}/?$`), names };
}

type Compiled = { route: Route; regex: RegExp; names: string[] };

export class Router {
  private readonly compiled: Compiled[];

  constructor(
    readonly prefix: string,
    readonly routes: Route[],
  ) {
    this.compiled = routes.map((r) => ({ route: r, ...compile(r.path) }));
  }

  /** Returns a response for paths under the prefix, or null for anything else. */
  async handle(request: Request, url: URL, services: Services): Promise<Response | null> {
    if (url.pathname !== this.prefix && !url.pathname.startsWith(this.prefix + '/')) return null;
    const sub = url.pathname.slice(this.prefix.length) || '/';
    const matches = this.compiled
      .map((c) => ({ c, m: c.regex.exec(sub) }))
      .filter((x): x is { c: Compiled; m: RegExpExecArray } => x.m !== null);
    if (matches.length === 0) return errorResponse(new NotFoundRoute());
    const method = request.method === 'HEAD' ? 'GET' : request.method;
    const hit = matches.find((x) => x.c.route.method === method);
    if (!hit) {
      return Response.json(
        { statusCode: 405, code: 'METHOD_NOT_ALLOWED', message: `${request.method} is not allowed here` },
        { status: 405, headers: { allow: matches.map((x) => x.c.route.method).join(', ') } },
      );
    }
    try {
      return await this.run(hit.c.route, hit.c.names, hit.m, request, url, services);
    } catch (err) {
      if (err instanceof DomainError) return errorResponse(err);
      const mapped = fromPrismaError(err);
      if (mapped) return errorResponse(mapped);
      services.log.error(
        { err: err instanceof Error ? { name: err.name, message: err.message } : 'unknown', route: hit.c.route.operationId },
        'unexpected REST error',
      );
      return Response.json(
        { statusCode: 500, code: 'INTERNAL_SERVER_ERROR', message: 'Unexpected error' },
        { status: 500 },
      );
    }
  }

  private async run(
    r: Route,
    names: string[],
    m: RegExpExecArray,
    request: Request,
    url: URL,
    services: Services,
  ): Promise<Response> {
    const principal = await authenticate(request, services);
    if (!isOrgPrincipal(principal)) throw new ForbiddenError('This API needs an organization API key or org user token');
    const allowed =
      r.access === 'org' ? true : r.access === 'orgWrite' ? canWrite(principal) : canWriteCredentials(principal);
    if (!allowed) {
      throw new ForbiddenError(
        r.access === 'credentialWrite' ? 'This key may not write credentials' : 'This key is read-only',
      );
    }
    const rawParams = Object.fromEntries(names.map((n, i) => [n, decodeURIComponent(m[i + 1]!)]));
    const rawQuery: Record<string, string> = {};
    for (const [k, v] of url.searchParams) if (!(k in rawQuery)) rawQuery[k] = v;
    let rawBody: unknown = undefined;
    if (r.body) {
      const text = await request.text();
      if (text.trim() === '') rawBody = undefined;
      else {
        try {
          rawBody = JSON.parse(text);
        } catch {
          throw ValidationError.field('body', 'must be valid JSON');
        }
      }
    }
    const params = parsePart(r.params, rawParams, 'params');
    const query = parsePart(r.query, rawQuery, 'query');
    const body = parsePart(r.body, rawBody, 'body');
    const result = await r.handler({ principal, services, prisma: services.db.prisma, params, query, body, request });
    const status = result.status ?? 200;
    if (status === 204) return new Response(null, { status });
    return Response.json(result.body, { status });
  }
}

class NotFoundRoute extends DomainError {
  readonly code = 'NOT_FOUND';
  constructor() {
    super('No such endpoint');
  }
}

async function authenticate(request: Request, services: Services) {
  const header = request.headers.get('authorization');
  const m = header ? /^Bearer\s+(.+)$/i.exec(header.trim()) : null;
  if (!m) throw new UnauthenticatedError('Send `Authorization: Bearer <API key>`');
  try {
    return await services.tokens.authenticate(m[1]!.trim());
  } catch (err) {
    if (err instanceof AuthError) throw new UnauthenticatedError(`Invalid credential: ${err.message}`);
    throw err;
  }
}
