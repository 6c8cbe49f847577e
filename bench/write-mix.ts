import type { App } from '../src/app.js';
import { write } from '../src/op.js';
import { createConnection } from '../src/modules/connections/service.js';
import { createConnector } from '../src/modules/connectors/service.js';
import { findConnection } from '../src/modules/connections/service.js';
import { setValue } from '../src/modules/values/service.js';
import { adminOf, seedOrg, type SeededOrg } from '../src/seed/demo.js';
import { encodeId } from '../src/ids.js';

/**
 * A mix of writers that meet on the same rows and locks through the public
 * surfaces (GraphQL and REST), for the concurrency tests, the fault suite
 * and `npm run bench:writes`: the GLOBAL value of a shared global connection
 * (its value lock, then availability), renames of it (availability with
 * UPDATED events), automation's upsert of one global connection by external
 * id (key lock, row lock, allow-list, value), first values of per-customer
 * slots (the slot's unique key), new customers (availability of every
 * global connection), getOrCreate of projects and upserts of one stable key.
 * Every operation either succeeds or fails typed; `Outcome` says which.
 */
export interface WriteWorld {
  url: string;
  org: SeededOrg;
  globalId: string;
  perCustomerId: string;
}

export interface Outcome {
  kind: string;
  ok: boolean;
  /** HTTP status. */
  status: number;
  /** `extensions.code` / REST `code` when it failed. */
  code?: string;
  retryAfter?: string | null;
  ms: number;
}

/** Seeds one organization with what the writers meet on (through the services, as its admin). */
export async function seedWriteWorld(app: App, url: string, customers = 5): Promise<WriteWorld> {
  const org = await seedOrg(app, { customers: Array.from({ length: customers }, (_, i) => `mix-${i}`) });
  const admin = await adminOf(app, org.orgId);
  return write(app, admin, 'system', async (op) => {
    const connector = await createConnector(op, { key: 'mix-api', name: 'Mix API', authType: 'SECRET_TEXT' });
    const global = await createConnection(op, { stableKey: 'mix-global', name: 'Mix global', connectorId: connector.id, type: 'ORG_ACTIVATED_GLOBAL', availableInWorkflows: true });
    await setValue(op, await findConnection(op, { id: global.id }), { kind: 'GLOBAL' }, { values: { secret_text: 'mix-global-0' } });
    const perCustomer = await createConnection(op, { stableKey: 'mix-per-customer', name: 'Mix per customer', connectorId: connector.id, type: 'CUSTOMER_ACTIVATED', availableInWorkflows: true });
    return { url, org, globalId: global.id, perCustomerId: perCustomer.id };
  });
}

async function timed(kind: string, fn: () => Promise<Omit<Outcome, 'kind' | 'ms'>>): Promise<Outcome> {
  const started = performance.now();
  try {
    return { kind, ...(await fn()), ms: performance.now() - started };
  } catch (err) {
    // The connection itself failed (the gateway went away): no HTTP status.
    return { kind, ok: false, status: 0, code: (err as { cause?: { code?: string } }).cause?.code ?? 'NETWORK', ms: performance.now() - started };
  }
}

/** One GraphQL operation; ok when it answered without errors and its result is not an Error member. */
export async function graphql(url: string, token: string, query: string, variables: Record<string, unknown> = {}): Promise<Omit<Outcome, 'kind' | 'ms'> & { data?: Record<string, unknown> }> {
  const res = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const text = await res.text();
  let body: { data?: Record<string, { __typename?: string; code?: string } | null>; errors?: { extensions?: { code?: string } }[] };
  try {
    body = JSON.parse(text);
  } catch {
    return { ok: false, status: res.status, code: 'NOT_JSON' };
  }
  const retryAfter = res.headers.get('retry-after');
  if (body.errors?.length) return { ok: false, status: res.status, code: body.errors[0]!.extensions?.code ?? 'UNKNOWN', retryAfter };
  const first = Object.values(body.data ?? {})[0];
  if (first && typeof first === 'object' && first.code) return { ok: false, status: res.status, code: first.code, retryAfter };
  return { ok: res.ok, status: res.status, data: body.data as Record<string, unknown>, retryAfter };
}

export async function rest(url: string, token: string, method: string, path: string, body?: unknown): Promise<Omit<Outcome, 'kind' | 'ms'> & { body?: Record<string, unknown> }> {
  const res = await fetch(`${url}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  let json: Record<string, unknown> | undefined;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {}
  return { ok: res.ok, status: res.status, ...(res.ok ? {} : { code: String(json?.code ?? 'NOT_JSON') }), retryAfter: res.headers.get('retry-after'), ...(json ? { body: json } : {}) };
}

const SET_VALUE = `mutation ($target: ConnectionValueTarget!, $values: JSON!) {
  setConnectionValue(target: $target, values: $values) { __typename ... on Error { code message } }
}`;
const UPDATE_CONNECTION = `mutation ($id: ID!, $patch: ConnectionPatch!) {
  updateConnection(id: $id, patch: $patch) { __typename ... on Error { code message } }
}`;
const UPSERT_CONNECTION = `mutation ($input: ConnectionInput!) {
  upsertConnection(input: $input) { __typename ... on Error { code message } }
}`;
const CREATE_CUSTOMER = `mutation ($input: CustomerInput!) {
  createCustomer(input: $input) { __typename ... on Error { code message } }
}`;

export const WRITE_KINDS = ['globalValue', 'rename', 'automationUpsert', 'firstSlotValue', 'newCustomer', 'ensureProject', 'upsertStableKey'] as const;
export type WriteKind = (typeof WRITE_KINDS)[number];

/**
 * The `i`-th write of `writer`: kinds rotate per writer, so every kind runs
 * side by side with every other. `run` makes names unique per run (first
 * values and new customers are new each time).
 */
export function writeOnce(w: WriteWorld, kind: WriteKind, writer: number, i: number, run: string): Promise<Outcome> {
  const admin = w.org.adminToken;
  const customers = w.org.customers;
  const customer = customers[(writer + i) % customers.length]!;
  switch (kind) {
    case 'globalValue':
      return timed(kind, () =>
        graphql(w.url, admin, SET_VALUE, { target: { connectionId: encodeId('Connection', w.globalId), slot: 'GLOBAL' }, values: { secret_text: `g-${writer}-${i}` } }),
      );
    case 'rename':
      return timed(kind, () => graphql(w.url, admin, UPDATE_CONNECTION, { id: encodeId('Connection', w.globalId), patch: { name: `Mix global ${writer}.${i}` } }));
    case 'automationUpsert':
      return timed(kind, () =>
        rest(w.url, w.org.apiKey, 'POST', '/global-connections', {
          displayName: `Automation ${writer}.${i}`,
          pieceName: '@activepieces/piece-mix',
          metadata: {},
          type: 'SECRET_TEXT',
          value: { type: 'SECRET_TEXT', props: { secret_text: `a-${writer}-${i}` } },
          projectIds: [customers[0]!.id, customer.id],
          externalId: 'mix_automation',
        }),
      );
    case 'firstSlotValue': {
      // A slot of a connection made for this round: several writers write its first value at once.
      return timed(kind, async () => {
        const stableKey = `mix-slot-${run}-${i}`;
        const up = await graphql(w.url, admin, UPSERT_CONNECTION, {
          input: { stableKey, name: stableKey, connectorKey: 'mix-api', type: 'CUSTOMER_ACTIVATED', availableInWorkflows: true },
        });
        if (!up.ok) return up;
        return graphql(w.url, admin, SET_VALUE, {
          target: { connectionStableKey: stableKey, customerId: encodeId('Customer', customers[i % customers.length]!.id), slot: 'CUSTOMER' },
          values: { secret_text: `s-${writer}-${i}` },
        });
      });
    }
    case 'newCustomer':
      return timed(kind, () => graphql(w.url, admin, CREATE_CUSTOMER, { input: { externalId: `mix-new-${run}-${writer}-${i}`, name: `New ${writer}.${i}` } }));
    case 'ensureProject':
      return timed(kind, () => rest(w.url, w.org.apiKey, 'POST', '/projects', { displayName: `Project ${i}`, externalId: `mix-project-${run}-${i % 3}` }));
    case 'upsertStableKey':
      return timed(kind, () =>
        graphql(w.url, admin, UPSERT_CONNECTION, {
          input: { stableKey: `mix-upsert-${run}-${i % 3}`, name: `Upserted ${writer}.${i}`, connectorKey: 'mix-api', type: 'ORG_ACTIVATED_GLOBAL', availableInWorkflows: true },
        }),
      );
  }
}

/** A read every kind of client makes: the admin's connections with their availability. */
export function readOnce(w: WriteWorld): Promise<Outcome> {
  return timed('read', () => graphql(w.url, w.org.adminToken, '{ connections(first: 20) { edges { node { stableKey name values { edges { node { status } } } } } } }'));
}
