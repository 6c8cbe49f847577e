import { GraphQLError, visit, type DocumentNode } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { MiddlewareHandler } from 'hono';
import { BadUserInputError, ValidationError, toGraphQLError } from '../errors.js';
import { errorResponse } from './answers.js';
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
