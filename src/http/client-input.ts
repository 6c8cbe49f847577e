import { GraphQLError, Kind, visit, type DocumentNode } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { MiddlewareHandler } from 'hono';
import { PothosValidationError } from '@pothos/core';
import { BadUserInputError, DomainError, REFUSAL_CODES, ValidationError, fromPrismaError, toGraphQLError } from '../errors.js';
import { errorResponse } from '../rest/route.js';
import { nulPath } from '../validation.js';

/**
 * One taxonomy for client mistakes on every surface: they are answered as
 * typed 400s naming the field (GraphQL `BAD_USER_INPUT` with `path` and
 * `locations`; REST `VALIDATION_FAILED` with `problems`), change nothing, and
 * are logged below error level. Only what is left is a server error.
 */


/** The NUL byte problem of a GraphQL request: in a variable (`$input.name`) or a string literal of the document. */
function nulProblem(document: DocumentNode, variables: unknown): GraphQLError | null {
  const inVariables = variables && typeof variables === 'object' ? nulPath(variables) : null;
  if (inVariables !== null) {
    return toGraphQLError(new BadUserInputError(`Variable "$${inVariables}" must not contain NUL characters`));
  }
  let literal: GraphQLError | null = null;
  visit(document, {
    StringValue(node) {
      if (!literal && node.value.includes('\u0000')) {
        literal = new GraphQLError('String literals must not contain NUL characters', { nodes: [node], extensions: { code: 'BAD_USER_INPUT', http: { status: 400, spec: true } } });
      }
    },
  });
  return literal;
}

/** Refuses NUL characters in variables and literals before anything runs (HTTP and WebSocket alike). */
export function clientInputPlugin(): Plugin {
  return {
    onExecute({ args, setResultAndStopExecution }) {
      const problem = nulProblem(args.document, args.variableValues);
      if (problem) setResultAndStopExecution({ errors: [problem] });
    },
    onSubscribe({ args, setResultAndStopExecution }) {
      const problem = nulProblem(args.document, args.variableValues);
      if (problem) setResultAndStopExecution({ errors: [problem] });
    },
  };
}

/**
 * Pothos reports argument mistakes (a negative `first`, a cursor or global
 * id that does not decode) and its own programming errors with one class;
 * these messages are the argument ones (plugin-relay, plugin-prisma).
 */
const POTHOS_ARGUMENT_ERROR = /^(Argument "|Arguments "|Invalid cursor|Cursor must|Invalid offset cursor|Invalid global ID|Invalid id received|Expected compound cursor|ID: .* is not of type)/;

/** The domain error a GraphQL error stands for, when it is an expected one (a client mistake, a refusal, a known database answer). */
export function domainErrorOf(error: unknown): DomainError | undefined {
  const original = error instanceof GraphQLError && error.originalError ? error.originalError : error;
  if (original instanceof DomainError) return original;
  const prismaMapped = fromPrismaError(original);
  if (prismaMapped) return prismaMapped;
  if (original instanceof PothosValidationError && POTHOS_ARGUMENT_ERROR.test(original.message)) return new BadUserInputError(original.message);
  // graphql-js's variable coercion: a variable of the wrong type, an unknown enum value (the scalar's own error is kept as originalError).
  if (error instanceof GraphQLError && !error.path && error.nodes?.[0]?.kind === Kind.VARIABLE_DEFINITION) return new BadUserInputError(error.message);
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

/**
 * Hand-written check of the raw request target (REST, runtime path, OAuth
 * callback, sign-in): the router and URLSearchParams decode leniently or
 * throw deep inside a route, so a malformed `%` escape, an escape that is not
 * UTF-8, or a NUL anywhere is refused here, as a typed 400 naming the part.
 */
export function requestTargetGuard(): MiddlewareHandler {
  return async (c, next) => {
    const target = c.req.url.slice(c.req.url.indexOf('/', c.req.url.indexOf('//') + 2));
    const [path = '', query = ''] = splitOnce(target, '?');
    const problem = componentProblem(path, 'path') ?? queryProblem(query);
    if (problem) return errorResponse(problem);
    await next();
  };
}

function splitOnce(s: string, sep: string): [string, string] {
  const i = s.indexOf(sep);
  return i < 0 ? [s, ''] : [s.slice(0, i), s.slice(i + 1)];
}

function componentProblem(raw: string, name: string): ValidationError | null {
  if (/%(?![0-9a-fA-F]{2})/.test(raw)) return ValidationError.field(name, 'has a malformed percent-escape');
  let decoded: string;
  try {
    decoded = decodeURIComponent(raw.replace(/\+/g, ' '));
  } catch {
    return ValidationError.field(name, 'has a percent-escape that is not UTF-8');
  }
  return decoded.includes('\u0000') ? ValidationError.field(name, 'must not contain NUL characters') : null;
}

function queryProblem(query: string): ValidationError | null {
  for (const pair of query.split('&')) {
    if (!pair) continue;
    const [key, value] = splitOnce(pair, '=');
    const keyProblem = componentProblem(key, 'query');
    if (keyProblem) return keyProblem;
    let name = 'query';
    try {
      name = `query.${decodeURIComponent(key.replace(/\+/g, ' '))}`;
    } catch {
      // already refused above
    }
    const problem = componentProblem(value, name);
    if (problem) return problem;
  }
  return null;
}
