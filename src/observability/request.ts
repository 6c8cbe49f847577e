import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';

/**
 * The request being served, for whatever runs on its behalf: its id (in every
 * log line and in the `x-request-id` response header) and, once known, the
 * operation it runs (for metrics and traces).
 */
export interface RequestContext {
  id: string;
  surface: 'graphql' | 'http';
  operation: string;
  /** GraphQL: set when the result carried errors (HTTP 200 with errors). */
  failed: boolean;
}

export const requestContext = new AsyncLocalStorage<RequestContext>();

export const REQUEST_ID_HEADER = 'x-request-id';

/** A caller's own request id is kept when it is a sane token (a load balancer's, a client's); otherwise a new one. */
export function requestIdFrom(header: string | string[] | undefined): string {
  const given = Array.isArray(header) ? header[0] : header;
  return given && /^[A-Za-z0-9._:-]{1,128}$/.test(given) ? given : randomUUID();
}

export function currentRequest(): RequestContext | undefined {
  return requestContext.getStore();
}
