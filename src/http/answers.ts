import type { ServerResponse } from 'node:http';
import { DomainError, InternalError, NotFoundError, ServiceUnavailableError, ValidationError, errorHeaders, fromPrismaError, httpStatusOf } from '../errors.js';

/**
 * How every route outside GraphQL answers an error — the one translation.
 *
 * The HTTP status and headers come from one table (errors.ts: `HTTP_STATUS`,
 * `errorHeaders`); a route only chooses the body's shape, the one its
 * protocol speaks: the REST API's JSON (`restErrors`), the runtime path's
 * (`runtimeErrors`: a `status` its clients switch on), or a small HTML page
 * for routes a browser opens (`pageErrors`). Anything that is not a domain
 * error is first mapped (Prisma's known errors, the database unavailable →
 * 503) and otherwise answered as a bare 500 (`InternalError`).
 */
export type ErrorShape = (err: DomainError, status: number) => Response;

/** Answers a page (or a redirect) that must not be cached or leak its URL. */
export const NO_STORE = { 'cache-control': 'no-store', 'referrer-policy': 'no-referrer' };

function problemsOf(err: DomainError) {
  return err instanceof ValidationError ? { problems: err.problems } : {};
}

function retryableOf(err: DomainError) {
  return err instanceof ServiceUnavailableError ? { retryable: true } : {};
}

/** The automation API's error body: `{ statusCode, code, message, problems?, retryable? }`. */
export const restErrors: ErrorShape = (err, statusCode) =>
  Response.json(
    { statusCode, code: err.code, message: err.message, ...problemsOf(err), ...retryableOf(err) },
    { status: statusCode, headers: { ...errorHeaders(err), ...(statusCode === 401 ? { 'www-authenticate': 'Bearer' } : {}) } },
  );

/**
 * The runtime path's error body: `status` is the typed answer its clients
 * switch on — UNAUTHENTICATED, FORBIDDEN, or ERROR for anything else (with
 * `code`, and `retryable` when trying again may pass). Never cached.
 */
export const runtimeErrors: ErrorShape = (err, status) =>
  Response.json(
    {
      status: err.code === 'UNAUTHENTICATED' || err.code === 'FORBIDDEN' ? err.code : 'ERROR',
      code: err.code,
      message: err.message,
      ...problemsOf(err),
      ...retryableOf(err),
    },
    { status, headers: { 'cache-control': 'no-store', ...errorHeaders(err), ...(status === 401 ? { 'www-authenticate': 'Bearer' } : {}) } },
  );

/** RFC 9209 error types for the proxy's own answers (everything it refuses or fails itself). */
const PROXY_STATUS: Record<string, string> = {
  DESTINATION_NOT_ALLOWED: 'destination_ip_prohibited',
  UPSTREAM_TIMEOUT: 'http_response_timeout',
  UPSTREAM_FAILED: 'destination_unavailable',
};

/**
 * The proxy's own answers (it refused the call, or the API could not be
 * reached), as Nango's proxy answers errors — `{ error: { code, message } }`
 * (with `problems`, `retryable` when they apply) — and marked with a
 * `Proxy-Status` header (RFC 9209), so a caller tells them from the API's
 * own answers, which pass through unchanged and unmarked.
 */
export const proxyErrors: ErrorShape = (err, status) => {
  const { body, headers } = proxyErrorParts(err, status);
  return Response.json(body, { status, headers });
};

function proxyErrorParts(err: DomainError, status: number): { body: object; headers: Record<string, string> } {
  return {
    body: { error: { code: err.code, message: err.message, ...problemsOf(err), ...retryableOf(err), ...('retryable' in err && err.retryable === true ? { retryable: true } : {}) } },
    headers: {
      'cache-control': 'no-store',
      'proxy-status': `connections-gateway; error=${PROXY_STATUS[err.code] ?? 'proxy_internal_response'}; details="${err.code}"`,
      ...errorHeaders(err),
      ...(status === 401 ? { 'www-authenticate': 'Bearer' } : {}),
    },
  };
}

/** Nango's error codes for ours (`ApiError` of `@nangohq/types`). */
function nangoCode(err: DomainError): string {
  switch (err.code) {
    case 'NOT_FOUND':
      return err instanceof NotFoundError && err.what === 'Integration' ? 'unknown_provider_config' : 'not_found';
    case 'UNAUTHENTICATED':
      return 'unknown_account';
    case 'FORBIDDEN':
      return 'forbidden';
    case 'VALIDATION_FAILED':
    case 'BAD_USER_INPUT':
      return 'invalid_query_params';
    case 'CREDENTIAL_EXPIRED':
    case 'CREDENTIAL_ERROR':
      return 'invalid_credentials';
    case 'RATE_LIMITED':
      return 'too_many_requests';
    case 'METHOD_NOT_ALLOWED':
      return 'method_not_allowed';
    default:
      return 'server_error';
  }
}

/**
 * The Nango-compatible routes' error body, as `@nangohq/node`'s callers read
 * it: `{ error: { code, message, errors?, payload? } }` with Nango's codes
 * (`not_found`, `unknown_provider_config`, `invalid_credentials`, …);
 * validation problems in `errors`, `payload.retryable` when trying again may pass.
 */
export const nangoErrors: ErrorShape = (err, status) =>
  Response.json(
    {
      error: {
        code: nangoCode(err),
        message: err.message,
        ...(err instanceof ValidationError ? { errors: err.problems } : {}),
        ...(err instanceof ServiceUnavailableError ? { payload: { retryable: true } } : {}),
      },
    },
    { status, headers: { 'cache-control': 'no-store', ...errorHeaders(err), ...(status === 401 ? { 'www-authenticate': 'Bearer' } : {}) } },
  );

/** Activepieces' error codes for ours (its `ErrorCode`). */
const ACTIVEPIECES_CODES: Record<string, string> = {
  NOT_FOUND: 'ENTITY_NOT_FOUND',
  UNAUTHENTICATED: 'AUTHENTICATION',
  FORBIDDEN: 'AUTHORIZATION',
  VALIDATION_FAILED: 'VALIDATION',
  BAD_USER_INPUT: 'VALIDATION',
};

/**
 * The Activepieces engine's route's error body, as Activepieces answers its
 * own errors: `{ code, params }` (`ENTITY_NOT_FOUND` with `entityType`;
 * `params.message`; `params.retryable` when trying again may pass). Never cached.
 */
export const activepiecesErrors: ErrorShape = (err, status) =>
  Response.json(
    {
      code: ACTIVEPIECES_CODES[err.code] ?? err.code,
      params: {
        ...(err.code === 'NOT_FOUND' ? { entityType: 'AppConnection' } : {}),
        message: err.message,
        ...problemsOf(err),
        ...retryableOf(err),
      },
    },
    { status, headers: { 'cache-control': 'no-store', ...errorHeaders(err), ...(status === 401 ? { 'www-authenticate': 'Bearer' } : {}) } },
  );

/** Routes a browser opens (OAuth2 start and callback, sign-in): a small page titled `title`. */
export function pageErrors(title: string): ErrorShape {
  return (err, status) =>
    page(status, title, err instanceof InternalError ? 'Something went wrong; please try again.' : err.message, errorHeaders(err));
}

/** `err` as this route's answer; what is not a domain error is mapped first, else a 500 that says nothing. */
export function errorResponse(err: unknown, shape: ErrorShape = restErrors): Response {
  const known = fromPrismaError(err) ?? new InternalError();
  return shape(known, httpStatusOf(known));
}

/**
 * An error answered at the Node edge, before any route (the body limit, the
 * rate limit): in the GraphQL response format on `/graphql`, the proxy's on
 * `/proxy/…`, the REST API's elsewhere.
 */
export type EdgeShape = 'graphql' | 'http' | 'proxy';

export function writeEdgeError(res: ServerResponse, err: DomainError, surface: EdgeShape, headers: Record<string, string> = {}): void {
  const answer = edgeErrorBody(err, surface);
  res.writeHead(answer.status, { ...answer.headers, ...headers });
  res.end(answer.body);
}

/** The status, headers and body of an error answered at the Node edge. */
export function edgeErrorBody(err: DomainError, surface: EdgeShape): { status: number; headers: Record<string, string>; body: string } {
  const status = httpStatusOf(err);
  if (surface === 'proxy') {
    const { body, headers } = proxyErrorParts(err, status);
    return { status, headers: { 'content-type': 'application/json; charset=utf-8', ...headers }, body: JSON.stringify(body) };
  }
  const body = surface === 'graphql' ? { errors: [{ message: err.message, extensions: { code: err.code } }] } : { statusCode: status, code: err.code, message: err.message };
  return { status, headers: { 'content-type': 'application/json; charset=utf-8', ...errorHeaders(err) }, body: JSON.stringify(body) };
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A minimal HTML page: a title and one line of text. */
export function page(status: number, title: string, text: string, headers: Record<string, string> = {}): Response {
  const html = `<!doctype html><meta charset="utf-8"><title>${escapeHtml(title)}</title><h1>${escapeHtml(title)}</h1><p>${escapeHtml(text)}</p>`;
  return new Response(html, { status, headers: { 'content-type': 'text/html; charset=utf-8', ...NO_STORE, ...headers } });
}
