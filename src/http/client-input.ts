import { GraphQLError, visit, type DocumentNode, type GraphQLSchema, type StringValueNode } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { MiddlewareHandler } from 'hono';
import { BadUserInputError, ValidationError, toGraphQLError } from '../errors.js';
import { errorResponse, type ErrorShape } from './answers.js';
import { nulPath } from '../validation.js';
import { rephraseLiteralErrors, rephraseSyntaxError, variableErrors } from './value-free-errors.js';

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
  const node = nulLiteralOf(document);
  return node ? new GraphQLError('String literals must not contain NUL characters', { nodes: [node], extensions: { code: 'BAD_USER_INPUT', http: { status: 400, spec: true } } }) : null;
}

/** The first string literal of a document holding a NUL, once per document (Yoga's parser cache hands the same document to every request sending it). */
const nulLiterals = new WeakMap<DocumentNode, StringValueNode | null>();
function nulLiteralOf(document: DocumentNode): StringValueNode | null {
  let found = nulLiterals.get(document);
  if (found !== undefined) return found;
  found = null;
  visit(document, {
    StringValue(node) {
      if (!found && node.value.includes('\u0000')) found = node;
    },
  });
  nulLiterals.set(document, found);
  return found;
}

/** A GraphQL-over-HTTP request that is not one: 400 under either response media type (the spec's recommendation for both). */
function notAGraphQLRequest(message: string): GraphQLError {
  return new GraphQLError(message, { extensions: { code: 'BAD_REQUEST', http: { status: 400 } } });
}

const SEND_JSON = 'send the request as JSON with `Content-Type: application/json`: {"query": "…", "variables": {…}}';

/** The media type of a Content-Type header, lower-cased, without parameters ('' when absent). */
export function mediaType(header: string | null): string {
  return (header ?? '').split(';', 1)[0]!.trim().toLowerCase();
}

/** What the body of a POST with this media type is refused for, or null when Yoga reads it. */
function mediaTypeProblem(type: string): string | null {
  if (type === 'application/json' || type === 'application/graphql+json' || type === 'application/graphql') return null;
  if (!type) return `The request has no Content-Type; ${SEND_JSON}`;
  // `curl -d` without -H sends a form: the usual way to get here.
  if (type === 'application/x-www-form-urlencoded') return `A form body is not accepted (curl -d sends one unless told otherwise); ${SEND_JSON}`;
  return `This Content-Type is not accepted; ${SEND_JSON}`;
}

/**
 * A POST body's JSON: what is not a JSON object is refused naming the problem
 * (never quoting the body, as the JSON parser's message would). Arrays go on
 * to Yoga, which refuses batches.
 */
async function parseJsonBody(request: Request): Promise<Record<string, unknown>> {
  const text = await request.text();
  if (!text.trim()) throw notAGraphQLRequest(`The request body is empty; ${SEND_JSON}`);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw notAGraphQLRequest(`The request body is not valid JSON; ${SEND_JSON}`);
  }
  if (Array.isArray(body)) return body as unknown as Record<string, unknown>;
  if (!body || typeof body !== 'object') throw notAGraphQLRequest(`The request body must be a JSON object; ${SEND_JSON}`);
  return body as Record<string, unknown>;
}

/**
 * GraphQL over HTTP: a POST must carry JSON (or `application/graphql`); any
 * other or no Content-Type, and a body that is not a JSON object, are a 400
 * naming the problem before anything is parsed.
 */
export function graphqlRequestPlugin(): Plugin {
  return {
    onRequestParse({ request, setRequestParser }) {
      if (request.method !== 'POST') return;
      const type = mediaType(request.headers.get('content-type'));
      const problem = mediaTypeProblem(type);
      if (problem) {
        setRequestParser(() => {
          throw notAGraphQLRequest(problem);
        });
      } else if (type !== 'application/graphql') setRequestParser(parseJsonBody);
    },
  };
}

/** Yoga's own answers to a request that is not a GraphQL request, in the gateway's words. */
const YOGA_REQUEST_ERRORS: Record<string, string> = {
  'Must provide query string.': `The request has no "query" (a GraphQL document, as a string); ${SEND_JSON}`,
};

/**
 * A request-shape error of Yoga's (`BAD_REQUEST`) as the gateway answers it,
 * changed in place: 400 under either media type (Yoga keeps legacy
 * `application/json` callers at 200 for some; the spec recommends 400 for
 * both), and in the gateway's words where it has some.
 */
export function asRequestError(error: GraphQLError): GraphQLError {
  if (error.extensions?.code !== 'BAD_REQUEST') return error;
  const http = error.extensions.http as { spec?: boolean } | undefined;
  if (http?.spec) delete http.spec;
  const ours = YOGA_REQUEST_ERRORS[error.message];
  if (ours) error.message = ours;
  return error;
}

/** What is wrong with an operation's variables before it runs: NUL characters, then what coercion refuses (value-free-errors.ts). */
export function variableProblems(args: { schema: GraphQLSchema; document: DocumentNode; operationName?: string | null | undefined; variableValues?: unknown }): GraphQLError[] {
  const nul = nulProblem(args.document, args.variableValues);
  return nul ? [nul] : variableErrors(args.schema, args.document, args.operationName, args.variableValues);
}

/**
 * Client mistakes in a document and its variables, answered before anything
 * runs and without repeating what was sent (HTTP and WebSocket alike): NUL
 * characters refused; variables coerced up front, their errors naming the
 * variable, the path inside it and the type expected; syntax and literal
 * errors rephrased without the token or value they would quote.
 */
export function clientInputPlugin(): Plugin {
  return {
    onParse() {
      return ({ result }) => {
        if (result instanceof GraphQLError) rephraseSyntaxError(result);
      };
    },
    onValidate({ params }) {
      return ({ result }) => rephraseLiteralErrors(params.schema, params.documentAST, result.filter((e): e is GraphQLError => e instanceof GraphQLError));
    },
    onExecute({ args, setResultAndStopExecution }) {
      const problems = variableProblems(args);
      if (problems.length) setResultAndStopExecution({ errors: problems });
    },
    onSubscribe({ args, setResultAndStopExecution }) {
      const problems = variableProblems(args);
      if (problems.length) setResultAndStopExecution({ errors: problems });
    },
  };
}

/**
 * Hand-written check of the raw request target (REST, runtime path, OAuth
 * callback, sign-in): the router and URLSearchParams decode leniently or
 * throw deep inside a route, so a malformed `%` escape, an escape that is not
 * UTF-8, or a NUL anywhere is refused here, as a typed 400 naming the part.
 */
export function requestTargetGuard(shapeOf: (path: string) => ErrorShape): MiddlewareHandler {
  return async (c, next) => {
    const problem = requestTargetProblem(c.req.url.slice(c.req.url.indexOf('/', c.req.url.indexOf('//') + 2)));
    if (problem) return errorResponse(problem, shapeOf(c.req.path));
    await next();
  };
}

/** What is wrong with a request target (`/path?query`): a malformed or non-UTF-8 percent-escape, an escaped NUL; or null. */
export function requestTargetProblem(target: string): ValidationError | null {
  // Without a percent sign there is nothing to decode, so nothing malformed and no NUL (a raw one never passes the URL parser).
  if (!target.includes('%')) return null;
  const [path = '', query = ''] = splitOnce(target, '?');
  return componentProblem(path, 'path') ?? queryProblem(query);
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
