import { decodeGlobalID } from '@pothos/plugin-relay';
import type { Principal } from '../../auth/principal.js';
import { CryptoError } from '../../crypto/keyring.js';
import { DomainError } from '../../errors.js';
import type { ConnectionValue, Prisma } from '../../generated/prisma/client.js';
import type { Services } from '../../services.js';
import { openValue, type ConnectionWithConnector } from '../connections/service.js';
import { needsRefresh, refreshValue } from '../oauth/refresh.js';
import { uuidOrNone } from '../tenancy/scope.js';

/**
 * Runtime resolution: a runtime principal (one customer, optionally bound to
 * one instance or workflow) asks for a connection by stable key or external
 * id and gets the decrypted credential or a typed reason why not.
 *
 * Type rules (design.md):
 *   - CUSTOMER_ACTIVATED / ORG_ACTIVATED_CUSTOMER: the customer's own value;
 *   - ORG_ACTIVATED_GLOBAL: the GLOBAL value, if `restrictToAllowList` is off
 *     or the allow-list admits the customer;
 *   - TEST values are never served at run time.
 * A connection of another org, or an archived one, is NOT_FOUND. An
 * instance-bound token may only resolve connections its instance's
 * integration uses; a workflow-bound token only those its workflow's steps
 * selected. Every resolution is audited (who, which connection, outcome —
 * never the value).
 */
export type RuntimePrincipal = Extract<Principal, { kind: 'RUNTIME' }>;

export type ResolveBy = { stableKey: string } | { externalId: string };

export type Resolution =
  | {
      kind: 'RESOLVED';
      connection: ConnectionWithConnector;
      value: ConnectionValue;
      fields: Record<string, unknown>;
      secrets: Record<string, string>;
    }
  | { kind: 'NOT_FOUND'; reason: 'CONNECTION' | 'VALUE'; message: string; connection?: ConnectionWithConnector }
  | { kind: 'NOT_PERMITTED'; message: string; connection: ConnectionWithConnector }
  | { kind: 'EXPIRED'; message: string; connection: ConnectionWithConnector }
  | { kind: 'ERROR'; message: string; retryable: boolean; connection: ConnectionWithConnector };

export async function resolveConnection(services: Services, principal: RuntimePrincipal, by: ResolveBy): Promise<Resolution> {
  const result = await resolveUnaudited(services, principal, by);
  const connectionId = 'connection' in result && result.connection ? result.connection.id : null;
  // Audited outside any transaction: a failed resolution is recorded too.
  await services.db.prisma.auditEvent.create({
    data: {
      orgId: principal.orgId,
      principalKind: principal.kind,
      principalId: principal.id,
      action: 'connection.resolve',
      targetType: 'Connection',
      targetId: connectionId,
      detail: {
        ...('stableKey' in by ? { stableKey: by.stableKey } : { externalId: by.externalId }),
        customerId: principal.customerId,
        ...(principal.instanceId ? { instanceId: principal.instanceId } : {}),
        ...(principal.workflowId ? { workflowId: principal.workflowId } : {}),
        outcome: result.kind,
        ...(result.kind === 'RESOLVED' ? { valueKind: result.value.kind } : {}),
      },
    },
  });
  return result;
}

async function resolveUnaudited(services: Services, principal: RuntimePrincipal, by: ResolveBy): Promise<Resolution> {
  const prisma = services.db.prisma;
  const where: Prisma.ConnectionWhereInput =
    'stableKey' in by ? { orgId: principal.orgId, stableKey: by.stableKey } : { orgId: principal.orgId, externalId: by.externalId };
  const connection = await prisma.connection.findFirst({ where: { ...where, archivedAt: null }, include: { connector: true } });
  if (!connection) return { kind: 'NOT_FOUND', reason: 'CONNECTION', message: 'Connection not found' };

  const denied = await bindingDenial(prisma, principal, connection.id);
  if (denied) return { kind: 'NOT_PERMITTED', message: denied, connection };

  let slot: string;
  if (connection.type === 'ORG_ACTIVATED_GLOBAL') {
    if (connection.restrictToAllowList) {
      const allowed = await prisma.globalAllowance.findUnique({
        where: { connectionId_customerId: { connectionId: connection.id, customerId: principal.customerId } },
      });
      if (!allowed) return { kind: 'NOT_PERMITTED', message: 'The connection is not shared with this customer', connection };
    }
    slot = 'GLOBAL';
  } else {
    slot = principal.customerId;
  }

  let value = await prisma.connectionValue.findUnique({ where: { connectionId_slot: { connectionId: connection.id, slot } } });
  if (!value) {
    return { kind: 'NOT_FOUND', reason: 'VALUE', message: 'The connection has no credentials for this customer', connection };
  }
  const status = statusAnswer(value, connection);
  if (status) return status;

  if (connection.connector.authType === 'OAUTH2' && needsRefresh(value)) {
    let outcome;
    try {
      outcome = await refreshValue(services, connection, value.id);
    } catch (err) {
      // A connector whose OAuth2 settings or client secret cannot be used: the value cannot be refreshed here.
      if (!(err instanceof CryptoError) && !(err instanceof DomainError)) throw err;
      services.log.error({ valueId: value.id, reason: err.message }, 'oauth refresh impossible');
      return { kind: 'ERROR', message: "The connector's OAuth2 client cannot be used to refresh the token", retryable: false, connection };
    }
    if (outcome.kind === 'EXPIRED') return { kind: 'EXPIRED', message: outcome.message, connection };
    if (outcome.kind === 'ERROR') return { kind: 'ERROR', message: outcome.message, retryable: outcome.retryable, connection };
    value = outcome.value;
    const after = statusAnswer(value, connection);
    if (after) return after;
  }

  try {
    const opened = openValue(services.config.keyRing, value);
    return { kind: 'RESOLVED', connection, value, ...opened };
  } catch (err) {
    if (!(err instanceof CryptoError)) throw err;
    services.log.error({ valueId: value.id, reason: err.message }, 'credential cannot be decrypted');
    return {
      kind: 'ERROR',
      message: 'The credential cannot be decrypted by this gateway (its key is missing from ENCRYPTION_KEYS?)',
      retryable: false,
      connection,
    };
  }
}

function statusAnswer(value: ConnectionValue, connection: ConnectionWithConnector): Resolution | null {
  switch (value.status) {
    case 'ACTIVE':
      return null;
    case 'PENDING':
      return { kind: 'NOT_FOUND', reason: 'VALUE', message: 'The connection is not activated for this customer yet', connection };
    case 'EXPIRED':
      return { kind: 'EXPIRED', message: value.lastError ?? 'The authorization expired; authorize again', connection };
    case 'ERROR':
      return { kind: 'ERROR', message: value.lastError ?? 'The credential is in error', retryable: false, connection };
  }
}

/** Why an instance- or workflow-bound token may not use this connection, or null. */
async function bindingDenial(
  prisma: Services['db']['prisma'],
  principal: RuntimePrincipal,
  connectionId: string,
): Promise<string | null> {
  if (principal.instanceId) {
    const instance = await prisma.instance.findFirst({
      where: { id: uuidOrNone(rawId(principal.instanceId)), customerId: principal.customerId, orgId: principal.orgId },
      select: { integration: { select: { connections: { where: { connectionId }, select: { connectionId: true } } } } },
    });
    if (!instance) return "The token's instance does not exist for this customer";
    if (instance.integration.connections.length === 0) return "The instance's integration does not use this connection";
  }
  if (principal.workflowId) {
    const workflow = await prisma.workflow.findFirst({
      where: { id: uuidOrNone(rawId(principal.workflowId)), customerId: principal.customerId, orgId: principal.orgId },
      select: { steps: { where: { connectionId }, select: { id: true }, take: 1 } },
    });
    if (!workflow) return "The token's workflow does not exist for this customer";
    if (workflow.steps.length === 0) return 'No step of the workflow uses this connection';
  }
  return null;
}

/** Token bindings may carry a raw uuid or a GraphQL global id. */
function rawId(id: string): string {
  if (/^[0-9a-f-]{36}$/i.test(id)) return id;
  try {
    return decodeGlobalID(id).id;
  } catch {
    return id;
  }
}
