import { GraphQLError } from 'graphql';
import type { Logger } from 'pino';
import { DomainError, logLevelOf } from './errors.js';

/**
 * What a log line may say about an error: its kind, its code, and where in
 * the code it happened — not its message when the message can quote what a
 * caller sent. GraphQL coercion and validation messages quote variables and
 * literals ("Variable "$i" got invalid value { … }"), JSON parse errors quote
 * the body, database errors the query's values, and domain messages may name
 * input (an externalId). Programming errors (TypeError, RangeError,
 * ReferenceError) describe code, not data: their message is kept.
 */
const CODE_ERRORS = new Set(['TypeError', 'RangeError', 'ReferenceError']);

export function errorSummary(err: unknown): Record<string, unknown> {
  if (!(err instanceof Error)) return { type: typeof err };
  const code =
    err instanceof DomainError
      ? err.code
      : err instanceof GraphQLError
        ? err.extensions.code
        : (err as { code?: unknown }).code;
  const frames = err.stack?.split('\n').filter((l) => l.trimStart().startsWith('at ')).slice(0, 8).join('\n');
  return {
    name: err.name,
    ...(typeof code === 'string' ? { code } : {}),
    ...(CODE_ERRORS.has(err.constructor.name) ? { message: err.message } : {}),
    ...(err instanceof GraphQLError || err instanceof DomainError || !frames ? {} : { stack: frames }),
  };
}

/**
 * graphql-yoga's logger, writing to ours: its own debug lines are fixed
 * strings; the errors it reports are summarized (errorSummary), never printed.
 * Yoga reports every error it masks at error level; client mistakes and
 * refusals are the product working, so they go lower (logLevelOf).
 */
export function yogaLogger(log: Logger) {
  const line = (level: 'debug' | 'info' | 'warn' | 'error') => (...args: unknown[]) => {
    const errors = args.filter((a) => a instanceof Error);
    const text = args.filter((a) => typeof a === 'string').join(' ');
    if (errors.length) log[level === 'error' ? logLevelOf(errors[0]) : level]({ err: errorSummary(errors[0]) }, text || 'graphql error');
    else log[level](text);
  };
  return { debug: line('debug'), info: line('info'), warn: line('warn'), error: line('error') };
}
