import { randomBytes } from 'node:crypto';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print } from 'graphql';
import { type Config, loadConfig } from '../../src/config.js';
import { newKeySpec } from '../../src/crypto/keyring.js';
import { openDatabase, type Database } from '../../src/db/database.js';
import { createGateway, type Gateway } from '../../src/server.js';
import { createLogger, createServices, type Services } from '../../src/services.js';
import { freshDatabase } from './database.js';

export interface TestGateway {
  url: string;
  db: Database;
  services: Services;
  gateway: Gateway;
  /** SQL statements sent by the Prisma client since the last `resetQueries()`. */
  queries: string[];
  resetQueries(): void;
  close(): Promise<void>;
}

/**
 * Starts a real gateway (HTTP + WebSocket on an ephemeral port) on a fresh
 * database, migrated with the committed migrations.
 */
export async function startGateway(env: Record<string, string> = {}): Promise<TestGateway> {
  const fresh = await freshDatabase();
  const config: Config = {
    ...loadConfig({
      PORT: '0',
      HOST: '127.0.0.1',
      AUTH_SECRET: randomBytes(32).toString('base64url'),
      ENCRYPTION_KEYS: newKeySpec('test1'),
      LOG_LEVEL: 'silent',
      ...env,
    }),
    database: fresh.database,
  };
  const queries: string[] = [];
  const db = await openDatabase(config.database, { onQuery: (sql) => queries.push(sql) });
  await db.migrate();
  const services = createServices(config, db, createLogger(config));
  const gateway = createGateway(services);
  await new Promise<void>((resolve) => gateway.http.listen(0, '127.0.0.1', resolve));
  return {
    url: gateway.url,
    db,
    services,
    gateway,
    queries,
    resetQueries: () => void queries.splice(0),
    async close() {
      await gateway.close();
      await db.close();
      await fresh.drop();
    },
  };
}

export interface GraphQLResponse<T> {
  status: number;
  data?: T | null;
  errors?: { message: string; extensions?: Record<string, unknown>; path?: unknown[] }[];
}

/** Every response body this test file received, for secret scans. */
export const responseLog: string[] = [];

/** Sends a typed document over real HTTP. */
export async function gql<TResult, TVars>(
  url: string,
  document: TypedDocumentNode<TResult, TVars>,
  variables?: TVars,
  token?: string,
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
  responseLog.push(text);
  const body = JSON.parse(text) as Omit<GraphQLResponse<TResult>, 'status'>;
  return { status: res.status, ...body };
}

/** Sends raw text (for malformed requests). */
export async function rawPost(url: string, body: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  const res = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json', ...headers },
    body,
  });
  return { status: res.status, body: await res.text() };
}
