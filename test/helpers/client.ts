import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print } from 'graphql';
import { encodeId } from '../../src/ids.js';

/**
 * The one client of the tests: GraphQL (typed documents), raw HTTP and REST
 * over real HTTP. Every response body received is recorded for the secret
 * scans — runtime resolutions, whose job is to return the decrypted secret,
 * apart.
 */
export const responseLog: string[] = [];
export const resolutionLog: string[] = [];

export interface GraphQLResponse<T> {
  status: number;
  data?: T | null;
  errors?: { message: string; extensions?: Record<string, unknown>; path?: unknown[] }[];
}

export async function gql<TResult, TVars>(
  url: string,
  document: TypedDocumentNode<TResult, TVars>,
  variables?: TVars,
  token?: string | null,
  opts: { resolution?: boolean } = {},
): Promise<GraphQLResponse<TResult>> {
  const res = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/graphql-response+json, application/json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify({ query: print(document), variables }),
  });
  const text = await res.text();
  (opts.resolution ? resolutionLog : responseLog).push(text);
  return { status: res.status, ...(JSON.parse(text) as Omit<GraphQLResponse<TResult>, 'status'>) };
}

/** Sends raw text to /graphql (for malformed requests). */
export async function rawPost(url: string, body: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  const res = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json', ...headers },
    body,
  });
  const text = await res.text();
  responseLog.push(text);
  return { status: res.status, body: text };
}

/** Any other request (REST, runtime path, OAuth callback), without following redirects. */
export async function http(
  url: string,
  init: { method?: string; token?: string | null; body?: unknown; raw?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; location: string | null; body: string; json: () => unknown; headers: Headers }> {
  const res = await fetch(url, {
    method: init.method ?? 'GET',
    redirect: 'manual',
    headers: {
      ...(init.token ? { authorization: `Bearer ${init.token}` } : {}),
      ...(init.body !== undefined || init.raw !== undefined ? { 'content-type': 'application/json' } : {}),
      ...init.headers,
    },
    ...(init.raw !== undefined ? { body: init.raw } : init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
  });
  const text = await res.text();
  const location = res.headers.get('location');
  responseLog.push(`${res.status} ${location ?? ''} ${text}`);
  return { status: res.status, location, body: text, json: () => (text ? JSON.parse(text) : null), headers: res.headers };
}

/** A GraphQL global id. */
export const gid = encodeId;

/** Every place a secret may not appear: recorded responses, captured logs… */
export function findLeaks(secrets: Iterable<string>, haystacks: string[]): string[] {
  const leaks: string[] = [];
  for (const s of secrets) {
    if (s.length < 6) continue;
    for (const h of haystacks) {
      if (h.includes(s)) {
        leaks.push(`${s.slice(0, 4)}… in ${h.slice(0, 120)}`);
        break;
      }
    }
  }
  return leaks;
}
