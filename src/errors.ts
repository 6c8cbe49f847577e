import { PothosValidationError } from '@pothos/core';
import { GraphQLError, Kind } from 'graphql';

/**
 * Domain errors. Each has a stable `code`; mutations return them as typed
 * union members (Pothos errors plugin), other fields surface them as GraphQL
 * errors with `extensions.code`. Messages never include secret values.
 */
export abstract class DomainError extends Error {
  abstract readonly code: string;
}

/** Also what a principal gets for anything it may not see. */
export class NotFoundError extends DomainError {
  readonly code = 'NOT_FOUND';
  /** What was not found (a protocol may name it: Nango's `unknown_provider_config` for an integration). */
  constructor(readonly what = 'Resource') {
    super(`${what} not found`);
  }
}

export interface FieldProblem {
  path: string;
  message: string;
}

/**
 * Input that breaks a rule. Services name each problem relative to their own
 * input (`stableKey`, `values.apiKey`); each surface says where that input
 * came from in one place (`input.`, `patch.`, `body.`, `manifest.connectors.3.`)
 * with `under` / `renamed`.
 */
export class ValidationError extends DomainError {
  readonly code = 'VALIDATION_FAILED';
  constructor(
    readonly problems: FieldProblem[],
    message = problems.map((p) => `${p.path}: ${p.message}`).join('; '),
  ) {
    super(message);
  }
  static field(path: string, message: string): ValidationError {
    return new ValidationError([{ path, message }]);
  }

  /** The same problems, as seen from a surface that passed the input as `prefix`. */
  under(prefix: string): ValidationError {
    return prefix ? this.renamed({}, prefix) : this;
  }

  /**
   * The same problems in a surface's own names: the first path segments found
   * in `names` are replaced (`{ name: 'displayName', values: 'value.props' }`),
   * then `prefix` is put in front.
   */
  renamed(names: Record<string, string>, prefix = ''): ValidationError {
    return new ValidationError(
      this.problems.map((p) => {
        const parts = p.path.split('.');
        let path = p.path;
        for (let n = parts.length; n > 0; n--) {
          const head = parts.slice(0, n).join('.');
          if (head in names) {
            path = [names[head], ...parts.slice(n)].filter((x) => x !== '').join('.');
            break;
          }
        }
        return { ...p, path: [prefix, path].filter((x) => x !== '').join('.') };
      }),
    );
  }
}

/** Runs `fn`; its validation problems are reported as under `prefix` (see ValidationError.under). */
export async function inputAt<T>(prefix: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw err instanceof ValidationError ? err.under(prefix) : err;
  }
}

export class ConflictError extends DomainError {
  readonly code = 'CONFLICT';
}

/**
 * A unique constraint the database enforced (two writers raced for one key),
 * as opposed to a conflict a service found and refused on purpose: only this
 * kind is worth retrying.
 */
export class UniqueViolation extends ConflictError {
  constructor() {
    super('A record with the same unique key already exists');
  }
}

export interface Usage {
  type: string;
  id: string;
  name: string;
}

/** Refusal to delete something that is still used: says what uses it. */
export class InUseError extends DomainError {
  readonly code = 'IN_USE';
  constructor(
    what: string,
    readonly usedBy: Usage[],
  ) {
    super(
      `${what} is in use by ${usedBy
        .slice(0, 5)
        .map((u) => `${u.type} "${u.name}"`)
        .join(', ')}${usedBy.length > 5 ? ` and ${usedBy.length - 5} more` : ''}; remove those references or archive it instead`,
    );
  }
}

export class ForbiddenError extends DomainError {
  readonly code = 'FORBIDDEN';
  constructor(message = 'Not allowed') {
    super(message);
  }
}

/** Depth, breadth or complexity over the limits (MAX_DEPTH…): the query was not run. */
export class QueryTooComplexError extends DomainError {
  readonly code = 'QUERY_TOO_COMPLEX';
}

/**
 * A client mistake the GraphQL layer found before or while reading arguments
 * (a variable of the wrong type, an unknown enum value, a garbage cursor,
 * `first: -1`, a NUL byte): nothing ran that could change anything.
 */
export class BadUserInputError extends DomainError {
  readonly code = 'BAD_USER_INPUT';
}

/** A request body over MAX_BODY_BYTES: refused before it is read further. */
export class PayloadTooLargeError extends DomainError {
  readonly code = 'PAYLOAD_TOO_LARGE';
  constructor(readonly maxBytes: number) {
    super(`The request body is larger than ${maxBytes} bytes`);
  }
}

export class UnauthenticatedError extends DomainError {
  readonly code = 'UNAUTHENTICATED';
  constructor(message = 'Authentication required') {
    super(message);
  }
}

/** Over the caller's request budget (http/rate-limit.ts), or a connection's (the proxy): nothing ran; retry after `Retry-After`. */
export class RateLimitedError extends DomainError {
  readonly code = 'RATE_LIMITED';
  constructor(
    message = 'Too many requests: retry after the time in Retry-After',
    /** Seconds, when the refusal knows (the proxy's budgets); the edge's limiter sets its own headers. */
    readonly retryAfter?: number,
  ) {
    super(message);
  }
}

/**
 * The API a proxy call was for did not answer usably: unreachable, reset,
 * too large (502 UPSTREAM_FAILED) or too slow (504 UPSTREAM_TIMEOUT). The
 * message names what happened, never request data.
 */
export class UpstreamError extends DomainError {
  constructor(
    readonly code: 'UPSTREAM_FAILED' | 'UPSTREAM_TIMEOUT',
    message: string,
    /** Whether the same call may pass later. */
    readonly retryable: boolean,
  ) {
    super(message);
  }
}

/**
 * A connection's credential cannot be used (the proxy): its authorization
 * expired — someone must authorize again (CREDENTIAL_EXPIRED) — or it is in
 * error (CREDENTIAL_ERROR: a refused refresh, undecryptable, fields that do
 * not make the API's address). The message says which, never a secret.
 */
export class CredentialError extends DomainError {
  constructor(
    readonly code: 'CREDENTIAL_EXPIRED' | 'CREDENTIAL_ERROR',
    message: string,
  ) {
    super(message);
  }
}

/** A request the gateway would send to an address its outbound policy refuses (loopback, private, metadata…): nothing was sent. */
export class DestinationNotAllowedError extends DomainError {
  readonly code = 'DESTINATION_NOT_ALLOWED';
}

/** A known path asked with a method it does not answer (`allow` lists the ones it does). */
export class MethodNotAllowedError extends DomainError {
  readonly code = 'METHOD_NOT_ALLOWED';
  constructor(
    method: string,
    readonly allow: string[],
  ) {
    super(`${method} is not allowed here`);
  }
}

/** What a surface answers for an error it did not expect (logged without values; the caller learns nothing more). */
export class InternalError extends DomainError {
  readonly code = 'INTERNAL_SERVER_ERROR';
  constructor() {
    super('Unexpected error');
  }
}

/**
 * The database (or another dependency) cannot serve the request right now:
 * unreachable, restarting, out of connections, or a lock not granted in time
 * (db/transaction.ts). Nothing was changed; the same request may succeed
 * after `retryAfter` seconds. HTTP 503 with `Retry-After` on every surface.
 */
export class ServiceUnavailableError extends DomainError {
  readonly code = 'SERVICE_UNAVAILABLE';
  readonly retryable = true;
  constructor(
    message = 'The service is temporarily unavailable; retry shortly',
    readonly retryAfter = 2,
  ) {
    super(message);
  }
}

// Driver and server signals that the database is unreachable or busy, rather than that the request is wrong:
// Node socket errors, PostgreSQL SQLSTATEs (08… connection exception, 57P0x shutdown, 53300 too many
// connections, 55P03 lock not available, 40P01 deadlock, 40001 serialization), Prisma's connection and
// transaction-API codes, and the driver adapters' error kinds.
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH',
  '57P01', '57P02', '57P03', '53300', '55P03', '40P01', '40001',
  'P1001', 'P1002', 'P1008', 'P1017', 'P2024', 'P2028', 'P2034',
]);
const UNAVAILABLE_KINDS = new Set(['DatabaseNotReachable', 'ConnectionClosed', 'SocketTimeout', 'TooManyConnections', 'TransactionWriteConflict', 'TransactionAlreadyClosed']);
const UNAVAILABLE_MESSAGES = /Connection terminated|PGlite is closed|Cannot use a pool after calling end|timeout exceeded when trying to connect|Client has encountered a connection error|Transaction API error|Can't reach database server|Server has closed the connection/i;

/** `err` and what it wraps: `cause`, and Prisma's `meta.driverAdapterError` (whose `cause` holds the SQLSTATE). */
function* causes(err: unknown): Generator<Record<string, unknown>> {
  const queue = [err];
  for (let seen = 0; queue.length && seen < 12; seen++) {
    const e = queue.shift();
    if (!e || typeof e !== 'object') continue;
    const r = e as Record<string, unknown>;
    yield r;
    queue.push(r.cause, (r.meta as Record<string, unknown> | undefined)?.driverAdapterError);
  }
}

/** The PostgreSQL SQLSTATE (`40P01`, `55P03`…) behind a driver or Prisma error, if any. */
export function sqlStateOf(err: unknown): string | undefined {
  for (const e of causes(err)) {
    for (const code of [e.originalCode, e.code]) if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) && !code.startsWith('P')) return code;
  }
  return undefined;
}

/** Whether `err` (or what caused it) says the database is unavailable or too busy, rather than the request being wrong. */
export function isUnavailable(err: unknown): boolean {
  for (const e of causes(err)) {
    if (e instanceof ServiceUnavailableError) return true;
    for (const code of [e.code, e.originalCode]) {
      if (typeof code === 'string' && (UNAVAILABLE_CODES.has(code) || /^08[0-9A-Z]{3}$/.test(code))) return true;
    }
    if (typeof e.kind === 'string' && UNAVAILABLE_KINDS.has(e.kind)) return true;
    if (typeof e.message === 'string' && UNAVAILABLE_MESSAGES.test(e.message)) return true;
  }
  return false;
}

/** Prisma's known request errors (and the database being unavailable), mapped to domain errors. */
export function fromPrismaError(err: unknown): DomainError | undefined {
  if (err instanceof DomainError) return err;
  if (isUnavailable(err)) return new ServiceUnavailableError();
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return undefined;
  if (code === 'P2025' || code === 'P2001') return new NotFoundError();
  if (code === 'P2002') return new UniqueViolation();
  if (code === 'P2003') return new ConflictError('The record is referenced by another record');
  // A value the column cannot hold (a cursor around a non-UUID): the caller's input, never a stored row.
  if (code === 'P2007' || code === 'P2023') return new BadUserInputError('A value does not have the form its field needs');
  return undefined;
}

/**
 * The HTTP status of each domain error, on every surface: REST and the
 * runtime path answer with it; GraphQL sets it only where the whole request
 * failed (UNAUTHENTICATED, QUERY_TOO_COMPLEX), as field errors travel in a 200.
 */
export const HTTP_STATUS: Record<string, number> = {
  VALIDATION_FAILED: 400,
  BAD_USER_INPUT: 400,
  QUERY_TOO_COMPLEX: 400,
  PAYLOAD_TOO_LARGE: 413,
  RATE_LIMITED: 429,
  DESTINATION_NOT_ALLOWED: 403,
  CREDENTIAL_EXPIRED: 409,
  CREDENTIAL_ERROR: 409,
  UPSTREAM_FAILED: 502,
  UPSTREAM_TIMEOUT: 504,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  CONFLICT: 409,
  IN_USE: 409,
  INTERNAL_SERVER_ERROR: 500,
  SERVICE_UNAVAILABLE: 503,
};

export function httpStatusOf(err: DomainError): number {
  return HTTP_STATUS[err.code] ?? 400;
}

const REQUEST_LEVEL = new Set(['UNAUTHENTICATED', 'QUERY_TOO_COMPLEX', 'PAYLOAD_TOO_LARGE', 'RATE_LIMITED', 'SERVICE_UNAVAILABLE']);

/** Response headers that go with an error on every surface (Retry-After for SERVICE_UNAVAILABLE, Allow for METHOD_NOT_ALLOWED). */
export function errorHeaders(err: DomainError): Record<string, string> {
  if (err instanceof ServiceUnavailableError) return { 'retry-after': String(err.retryAfter) };
  if (err instanceof MethodNotAllowedError) return { allow: err.allow.join(', ') };
  if (err instanceof RateLimitedError && err.retryAfter !== undefined) return { 'retry-after': String(err.retryAfter) };
  return {};
}

/**
 * A domain error as a GraphQL error. `at`, the GraphQL error it was raised
 * as, lends its `path` and `locations`. A client mistake found before
 * execution (no path: variables, the document) fails the whole request:
 * 400 as graphql-over-http asks for `application/graphql-response+json`
 * (`spec`: legacy `application/json` callers keep their 200).
 */
export function toGraphQLError(err: DomainError, at?: GraphQLError): GraphQLError {
  const requestError = err.code === 'BAD_USER_INPUT' && !at?.path;
  const headers = errorHeaders(err);
  return new GraphQLError(err.message, {
    ...(at ? { nodes: at.nodes, source: at.source, positions: at.positions, path: at.path } : {}),
    extensions: {
      code: err.code,
      ...(err instanceof ValidationError ? { problems: err.problems } : {}),
      ...(err instanceof ServiceUnavailableError ? { retryable: true } : {}),
      ...(REQUEST_LEVEL.has(err.code) ? { http: { status: httpStatusOf(err), ...(Object.keys(headers).length ? { headers } : {}) } } : {}),
      ...(requestError ? { http: { status: 400, spec: true } } : {}),
    },
  });
}

/** Codes that refuse a caller (logged at info, never error: they are the product working). */
export const REFUSAL_CODES = new Set(['UNAUTHENTICATED', 'FORBIDDEN', 'NOT_FOUND', 'RATE_LIMITED']);

/**
 * Pothos reports argument mistakes (a negative `first`, a cursor or global
 * id that does not decode) and its own programming errors with one class;
 * these messages are the argument ones (plugin-relay, plugin-prisma).
 */
const POTHOS_ARGUMENT_ERROR = /^(Argument "|Arguments "|Invalid cursor|Cursor must|Invalid offset cursor|Invalid global ID|Invalid id received|Expected compound cursor|ID: .* is not of type)/;

/** Pothos's argument messages, without the cursor or id they quote (the error's `path` names the field). */
function pothosArgumentMessage(message: string): string {
  if (/^(Invalid cursor|Cursor must|Invalid offset cursor|Expected compound cursor)/.test(message)) return 'The cursor (after/before) is not one this list gave out';
  if (/^(Invalid global ID|Invalid id received|ID: )/.test(message)) return 'An id argument is not a valid id';
  // `Argument "first" must be a non-negative integer` and the like: argument names only.
  return message;
}

/** The domain error an error stands for, when it is an expected one (a client mistake, a refusal, a known database answer). */
export function domainErrorOf(error: unknown): DomainError | undefined {
  const original = error instanceof GraphQLError && error.originalError ? error.originalError : error;
  if (original instanceof DomainError) return original;
  const prismaMapped = fromPrismaError(original);
  if (prismaMapped) return prismaMapped;
  if (original instanceof PothosValidationError && POTHOS_ARGUMENT_ERROR.test(original.message)) return new BadUserInputError(pothosArgumentMessage(original.message));
  // graphql-js's variable coercion (what http/value-free-errors.ts did not catch first): its message quotes the value, so only the variable is named.
  const node = error instanceof GraphQLError && !error.path ? error.nodes?.[0] : undefined;
  if (node?.kind === Kind.VARIABLE_DEFINITION) return new BadUserInputError(`Variable "$${node.variable.name.value}" got an invalid value.`);
  return undefined;
}

/** The log level of an error that reached a surface: client mistakes at debug, refusals at info, the rest at error. */
export function logLevelOf(error: unknown): 'debug' | 'info' | 'error' {
  const typed = domainErrorOf(error);
  const code = typed?.code ?? (error instanceof GraphQLError ? error.extensions?.code : undefined);
  if (typeof code !== 'string') return 'error';
  if (REFUSAL_CODES.has(code)) return 'info';
  return code === 'INTERNAL_SERVER_ERROR' ? 'error' : 'debug';
}
