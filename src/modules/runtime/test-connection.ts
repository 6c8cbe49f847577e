import { z } from 'zod';
import { CryptoError } from '../../crypto/keyring.js';
import { transaction } from '../../db/transaction.js';
import { NotFoundError, ValidationError } from '../../errors.js';
import type { ConnectionValue, Prisma } from '../../generated/prisma/client.js';
import { builder } from '../../schema/builder.js';
import { mutationErrors } from '../../schema/errors.js';
import type { Services } from '../../services.js';
import { parseInput } from '../../validation.js';
import { audit } from '../audit/audit.js';
import { ConnectionRef, ValueKindEnum, ValueStatusEnum } from '../connections/types.js';
import {
  TestRequestSchema,
  openValue,
  setValueStatus,
  slotKey,
  type ConnectionWithConnector,
} from '../connections/service.js';
import { networkReason } from '../oauth/client.js';
import { needsRefresh, refreshValue } from '../oauth/refresh.js';
import { loadTarget } from '../oauth/target.js';
import { CustomerRef } from '../tenancy/types.js';

/**
 * "Test connection": runs the connector's test request with one value's
 * credentials (`{{field}}` placeholders filled from its fields and secrets,
 * OAuth2 token refreshed first if due) under a time limit, and records the
 * outcome on the value's status (ACTIVE, or ERROR with the reason).
 * The response body is never read back to the caller: it could echo secrets.
 */
export type TestFailure = 'TIMEOUT' | 'CONNECTION_REFUSED' | 'HOST_NOT_FOUND' | 'NETWORK' | 'UNEXPECTED_STATUS' | 'CREDENTIAL';

export interface TestOutcome {
  ok: boolean;
  failure: TestFailure | null;
  httpStatus: number | null;
  message: string;
  value: ConnectionValue;
}

export const DEFAULT_TEST_TIMEOUT_MS = 10_000;

function fill(template: string, vars: Record<string, string>): string {
  return template.replace(/\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g, (_m, k: string) => vars[k] ?? '');
}

function failureOf(err: unknown): TestFailure {
  const e = err as { name?: string; cause?: { code?: string } } | null;
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return 'TIMEOUT';
  if (e?.cause?.code === 'ECONNREFUSED') return 'CONNECTION_REFUSED';
  if (e?.cause?.code === 'ENOTFOUND' || e?.cause?.code === 'EAI_AGAIN') return 'HOST_NOT_FOUND';
  return 'NETWORK';
}

export async function runConnectionTest(
  services: Services,
  connection: ConnectionWithConnector,
  slot: string,
  timeoutMs: number,
  /** Runs in the transaction that records the outcome (the caller's audit row). */
  onRecord?: (tx: Prisma.TransactionClient, outcome: Omit<TestOutcome, 'value'> & { valueId: string }) => Promise<void>,
): Promise<TestOutcome> {
  const prisma = services.db.prisma;
  const request = TestRequestSchema.safeParse(connection.connector.testRequest);
  if (!connection.connector.testRequest || !request.success) {
    throw ValidationError.field('connectionId', 'the connector has no test request');
  }
  let value = await prisma.connectionValue.findUnique({ where: { connectionId_slot: { connectionId: connection.id, slot } } });
  if (!value) throw new NotFoundError('Connection value');

  const record = async (ok: boolean, failure: TestFailure | null, httpStatus: number | null, message: string): Promise<TestOutcome> => {
    const updated = await transaction({ prisma, services }, async (tx) => {
      const v = await setValueStatus(tx, value!.id, ok ? 'ACTIVE' : 'ERROR', ok ? null : message);
      await onRecord?.(tx, { ok, failure, httpStatus, message, valueId: v.id });
      return v;
    });
    return { ok, failure, httpStatus, message, value: updated };
  };

  if (connection.connector.authType === 'OAUTH2' && needsRefresh(value) && value.status !== 'EXPIRED') {
    let refreshed;
    try {
      refreshed = await refreshValue(services, connection, value.id);
    } catch (err) {
      if (!(err instanceof CryptoError) && !(err instanceof ValidationError)) throw err;
      return record(false, 'CREDENTIAL', null, "The connector's OAuth2 client cannot be used to refresh the token");
    }
    if (refreshed.kind !== 'FRESH') {
      // Refresh outcomes already set EXPIRED/ERROR on the value.
      const current = await transaction({ prisma, services }, async (tx) => {
        await onRecord?.(tx, { ok: false, failure: 'CREDENTIAL', httpStatus: null, message: refreshed.message, valueId: value!.id });
        return tx.connectionValue.findUniqueOrThrow({ where: { id: value!.id } });
      });
      return { ok: false, failure: 'CREDENTIAL', httpStatus: null, message: refreshed.message, value: current };
    }
    value = refreshed.value;
  }

  let vars: Record<string, string>;
  try {
    const opened = openValue(services.config.keyRing, value);
    vars = {
      ...Object.fromEntries(Object.entries(opened.fields).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)])),
      ...opened.secrets,
    };
  } catch (err) {
    if (!(err instanceof CryptoError)) throw err;
    return record(false, 'CREDENTIAL', null, 'The credential cannot be decrypted by this gateway');
  }

  const spec = request.data;
  let url: URL;
  try {
    url = new URL(fill(spec.url, vars));
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('scheme');
  } catch {
    return record(false, 'NETWORK', null, 'The test request URL is not a valid http(s) URL');
  }
  const headers = Object.fromEntries(Object.entries(spec.headers).map(([k, v]) => [k, fill(v, vars)]));
  let res: Response;
  try {
    res = await fetch(url, {
      method: spec.method,
      headers,
      body: spec.body !== undefined && spec.method !== 'GET' && spec.method !== 'HEAD' ? fill(spec.body, vars) : undefined,
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
    });
    // The body is not needed; release the socket.
    await res.body?.cancel().catch(() => {});
  } catch (err) {
    const failure = failureOf(err);
    return record(false, failure, null, `Test request to ${url.host} failed: ${networkReason(err, timeoutMs)}`);
  }
  const ok = spec.expectStatus?.length ? spec.expectStatus.includes(res.status) : res.status >= 200 && res.status < 300;
  return ok
    ? record(true, null, res.status, `Test request succeeded (HTTP ${res.status})`)
    : record(false, 'UNEXPECTED_STATUS', res.status, `Test request answered HTTP ${res.status}`);
}

const TestFailureEnum = builder.enumType('ConnectionTestFailure', {
  values: {
    TIMEOUT: { description: 'No answer within the time limit.' },
    CONNECTION_REFUSED: { description: 'The server refused the connection.' },
    HOST_NOT_FOUND: { description: 'The host name does not resolve.' },
    NETWORK: { description: 'Another network failure, or an invalid URL.' },
    UNEXPECTED_STATUS: { description: 'The server answered with a status the connector does not expect.' },
    CREDENTIAL: { description: 'The credential could not be used (expired authorization, failed refresh, undecryptable).' },
  } as const,
});

const ConnectionTestResult = builder.objectRef<TestOutcome>('ConnectionTestResult').implement({
  description: "Outcome of a test request; also recorded on the value's status.",
  fields: (t) => ({
    ok: t.exposeBoolean('ok'),
    failure: t.field({ type: TestFailureEnum, nullable: true, resolve: (o) => o.failure }),
    httpStatus: t.exposeInt('httpStatus', { nullable: true }),
    message: t.exposeString('message'),
    status: t.field({ type: ValueStatusEnum, description: "The value's status after the test.", resolve: (o) => o.value.status }),
    value: t.prismaField({
      type: 'ConnectionValue',
      resolve: (query, o, _args, ctx) => ctx.prisma.connectionValue.findUniqueOrThrow({ ...query, where: { id: o.value.id } }),
    }),
  }),
});

builder.mutationField('testConnection', (t) =>
  t.field({
    type: ConnectionTestResult,
    description:
      "Runs the connector's test request with one value (a customer's, GLOBAL, or the TEST credentials) and records the outcome " +
      'on its status. Time-outs and refused connections come back as a failed result, never a hang.',
    authScopes: { credentialWrite: true, customerUser: true },
    errors: { types: mutationErrors },
    args: {
      connectionId: t.arg.globalID({ required: true, for: ConnectionRef }),
      slot: t.arg({ type: ValueKindEnum, description: 'Default: GLOBAL for global connections, else CUSTOMER.' }),
      customerId: t.arg.globalID({ for: CustomerRef }),
      timeoutMs: t.arg.int({ description: `1000–30000; default ${DEFAULT_TEST_TIMEOUT_MS}.` }),
    },
    resolve: async (_root, args, ctx) => {
      const timeoutMs = parseInput(z.number().int().min(1000).max(30_000).default(DEFAULT_TEST_TIMEOUT_MS), args.timeoutMs ?? undefined, 'timeoutMs');
      const target = await loadTarget(ctx.prisma, ctx.principal, {
        connectionId: args.connectionId.id,
        kind: args.slot,
        customerId: args.customerId?.id,
      });
      return runConnectionTest(ctx.services, target.connection, slotKey(target.slot), timeoutMs, (tx, o) =>
        audit(tx, ctx.principal, 'connection.test', 'ConnectionValue', o.valueId, {
          ok: o.ok,
          failure: o.failure,
          httpStatus: o.httpStatus,
        }),
      );
    },
  }),
);
