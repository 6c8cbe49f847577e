import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { encodeGlobalID } from '@pothos/plugin-relay';
import { print } from 'graphql';
import { openSecrets } from '../../src/crypto/secrets.js';
import type { ConnectionValue } from '../../src/generated/prisma/client.js';
import { createConnection, createConnector, loadConnection, setConnectionValue, type Slot } from '../../src/modules/connections/service.js';
import type { Services } from '../../src/services.js';
import type { GraphQLResponse } from './gateway.js';

/**
 * Fixtures and HTTP helpers of the credential tests. Fixtures go through the
 * connections service (the same code the API runs); every response received
 * is recorded for the secret scan, except runtime resolutions (whose job is
 * to return the decrypted secret) which are recorded apart.
 */
export const responses: string[] = [];
export const resolutionResponses: string[] = [];

export async function call<TResult, TVars>(
  url: string,
  document: TypedDocumentNode<TResult, TVars>,
  variables: TVars,
  token: string,
  opts: { resolution?: boolean } = {},
): Promise<GraphQLResponse<TResult>> {
  const res = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/graphql-response+json, application/json',
      authorization: `Bearer ${token}`,
    },
    body: JSON.stringify({ query: print(document), variables }),
  });
  const text = await res.text();
  (opts.resolution ? resolutionResponses : responses).push(text);
  return { status: res.status, ...(JSON.parse(text) as Omit<GraphQLResponse<TResult>, 'status'>) };
}

/** Fetches a non-GraphQL URL (callback), recording status, location and body. */
export async function visit(url: string): Promise<{ status: number; location: string | null; body: string }> {
  const res = await fetch(url, { redirect: 'manual' });
  const body = await res.text();
  const location = res.headers.get('location');
  responses.push(`${res.status} ${location ?? ''} ${body}`);
  return { status: res.status, location, body };
}

export const gid = (type: string, id: string) => encodeGlobalID(type, id);

export async function makeConnector(services: Services, orgId: string, input: Record<string, unknown>) {
  return services.db.prisma.$transaction((tx) => createConnector(tx, services.config.keyRing, orgId, input));
}

export async function makeConnection(services: Services, orgId: string, input: Record<string, unknown>) {
  const c = await services.db.prisma.$transaction((tx) => createConnection(tx, orgId, input));
  return loadConnection(services.db.prisma, { id: c.id });
}

export async function putValue(
  services: Services,
  connectionId: string,
  slot: Slot,
  values: Record<string, unknown>,
  extra: { expiresAt?: Date | null; status?: 'ACTIVE' | 'PENDING' | 'ERROR' | 'EXPIRED' } = {},
): Promise<ConnectionValue> {
  const connection = await loadConnection(services.db.prisma, { id: connectionId });
  return services.db.prisma.$transaction((tx) =>
    setConnectionValue(tx, services.config.keyRing, { connection, slot, values, ...extra }),
  );
}

export async function valueOf(services: Services, connectionId: string, slot: string) {
  return services.db.prisma.connectionValue.findUniqueOrThrow({ where: { connectionId_slot: { connectionId, slot } } });
}

/** Test-side decryption, to compare with what the provider issued. */
export function secretsOf(services: Services, value: ConnectionValue): Record<string, string> {
  return openSecrets(services.config.keyRing, value.id, value.secrets as Record<string, string>);
}

/** Makes the stored access token look about to expire, so the next resolution refreshes it. */
export async function expireSoon(services: Services, valueId: string) {
  await services.db.prisma.connectionValue.update({ where: { id: valueId }, data: { expiresAt: new Date(Date.now() - 1000) } });
}

/** Every place a secret may not appear: recorded responses and captured logs. */
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
