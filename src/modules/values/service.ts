import { randomUUID } from 'node:crypto';
import { assertWithinLimits } from '../../auth/limits.js';
import { isOrgPrincipal } from '../../auth/principal.js';
import type { KeyRing } from '../../crypto/keyring.js';
import { hintFor, openSecrets, sealSecrets, type SecretHint } from '../../crypto/secrets.js';
import { lockKey, lockValue } from '../../db/locks.js';
import { ValidationError } from '../../errors.js';
import type { Connection, ConnectionValue, ValueStatus } from '../../generated/prisma/client.js';
import type { Op } from '../../op.js';
import { clearedKeys, connectorFields, testRequestOrigin, validateValues } from '../connectors/fields.js';
import { proxyOrigin } from '../proxy/settings.js';
import type { ConnectionWithConnector } from '../connections/scope.js';
import { refreshAvailability } from '../feed/service.js';
import { recordTransition } from '../health/history.js';

/**
 * Connection values: the credentials themselves, one per slot of a
 * connection — a customer's (per-customer types), GLOBAL (global
 * connections) or TEST. Every write of one, for GraphQL, REST, OAuth2 and the
 * seed. Secret fields are sealed to the value's id; only masked hints are
 * ever read back, and only the runtime path decrypts (`openValue`).
 */
export type Slot = { kind: 'CUSTOMER'; customerId: string } | { kind: 'GLOBAL' } | { kind: 'TEST' };

/** A slot as stored in `ConnectionValue.slot`: the customer's id, or GLOBAL / TEST. */
export function slotKey(slot: Slot): string {
  return slot.kind === 'CUSTOMER' ? slot.customerId : slot.kind;
}

export function slotOfKey(key: string): Slot {
  return key === 'GLOBAL' || key === 'TEST' ? { kind: key } : { kind: 'CUSTOMER', customerId: key };
}

/** The slot whose value serves a customer at run time: the global one, or the customer's own. */
export function servingSlot(connection: Pick<Connection, 'type'>, customerId: string): string {
  return connection.type === 'ORG_ACTIVATED_GLOBAL' ? 'GLOBAL' : customerId;
}

function checkSlot(connection: Connection, slot: Slot): void {
  if (slot.kind === 'TEST') return;
  if (connection.type === 'ORG_ACTIVATED_GLOBAL' && slot.kind !== 'GLOBAL') {
    throw ValidationError.field('slot', 'a global connection has one GLOBAL value, not per-customer values');
  }
  if (connection.type !== 'ORG_ACTIVATED_GLOBAL' && slot.kind === 'GLOBAL') {
    throw ValidationError.field('slot', `a ${connection.type} connection has per-customer values`);
  }
}

type Hints = Record<string, SecretHint>;

export interface ValueInput {
  values: unknown;
  /** Start over instead of merging into the existing value. */
  replace?: boolean;
  status?: ValueStatus;
  expiresAt?: Date | null;
}

/**
 * Sets the credentials of one slot. On an existing value, absent fields are
 * kept and `null` clears an optional field, unless `replace` (then the values
 * are the whole new credential). Problems name `values.<field>`. Audited as
 * `action` (default `connectionValue.set`) on the connection.
 */
export async function setValue(
  op: Op,
  connection: ConnectionWithConnector,
  slot: Slot,
  input: ValueInput,
  action = 'connectionValue.set',
): Promise<ConnectionValue> {
  assertWithinLimits(op.actor, 'credentials');
  checkSlot(connection, slot);
  if (connection.archivedAt) throw ValidationError.field('connectionId', 'the connection is archived');
  if (slot.kind === 'CUSTOMER') {
    const inOrg = await op.tx.customer.count({ where: { id: slot.customerId, orgId: connection.orgId } });
    if (!inOrg) throw ValidationError.field('customerId', 'contains a customer that does not exist');
  }
  const key = slotKey(slot);
  const existing = await readValueLocked(op, connection.id, key);
  const merge = existing && !input.replace;
  const validated = validateValues(connectorFields(connection.connector), input.values, { partial: !!merge });
  const cleared = merge ? clearedKeys(input.values) : [];

  const id = existing?.id ?? randomUUID();
  const fields: Record<string, unknown> = merge ? { ...(existing.fields as object) } : {};
  const secrets: Record<string, string> = merge ? { ...(existing.secrets as Record<string, string>) } : {};
  const hints: Hints = merge ? { ...(existing.secretHints as unknown as Hints) } : {};
  for (const k of cleared) {
    delete fields[k];
    delete secrets[k];
    delete hints[k];
  }
  Object.assign(fields, validated.fields);
  if (merge && !isOrgPrincipal(op.actor)) assertKeptSecretsStay(connection, existing.fields as Record<string, unknown>, fields, secrets, validated.secrets);
  Object.assign(secrets, sealSecrets(op.app.config.keyRing, id, validated.secrets));
  for (const [k, v] of Object.entries(validated.secrets)) hints[k] = hintFor(v);

  const isOAuth = connection.connector.authType === 'OAUTH2';
  const status: ValueStatus = input.status ?? (isOAuth && !secrets.accessToken ? 'PENDING' : 'ACTIVE');
  const now = new Date();
  const data = {
    fields: fields as object,
    secrets,
    secretHints: hints as object,
    status,
    lastError: status === 'ACTIVE' ? null : undefined,
    lastErrorAt: status === 'ACTIVE' ? null : undefined,
    activatedAt: status === 'ACTIVE' ? now : undefined,
    expiresAt: input.expiresAt,
    refreshFailures: status === 'ACTIVE' ? 0 : undefined,
  };
  const value = existing
    ? await op.tx.connectionValue.update({ where: { id }, data: { ...data, version: { increment: 1 } } })
    : await op.tx.connectionValue.create({
        data: {
          ...data,
          id,
          orgId: connection.orgId,
          connectionId: connection.id,
          kind: slot.kind,
          customerId: slot.kind === 'CUSTOMER' ? slot.customerId : null,
          slot: key,
        },
      });
  await recordTransition(op, value, existing?.status ?? null, value.status, action, value.lastError);
  await refreshAfterValueChange(op, connection.id, slot);
  await op.audit(action, 'Connection', connection.id, { slot: slot.kind, valueId: value.id });
  return value;
}

/**
 * A secret kept from before (not entered again in this change) may not be sent
 * somewhere new: when the fields change the test request's or the proxy's
 * destination, every kept secret must be entered again. Otherwise a customer user could send a
 * colleague's write-only secret to a host of its choosing with one test.
 * Organization principals may (they configure where credentials go).
 */
function assertKeptSecretsStay(
  connection: ConnectionWithConnector,
  before: Record<string, unknown>,
  after: Record<string, unknown>,
  stored: Record<string, string>,
  entered: Record<string, string>,
): void {
  const testMoves = testRequestOrigin(connection.connector, before) !== testRequestOrigin(connection.connector, after);
  const proxyMoves = proxyOrigin(connection.connector, before) !== proxyOrigin(connection.connector, after);
  if (!testMoves && !proxyMoves) return;
  const kept = Object.keys(stored).filter((k) => !(k in entered));
  if (kept.length) {
    const where = testMoves ? 'the test request' : 'the proxy';
    throw new ValidationError(kept.map((k) => ({ path: `values.${k}`, message: `enter it again: ${where} now goes to another host` })));
  }
}

/**
 * Reads a slot's value under its locks, so a write never races a token
 * refresh or OAuth2 store of the same value (a lost rotated refresh token
 * would force re-authorization), nor another first write of the same slot
 * (which would collide on the slot's unique key): the slot's lock, then the
 * value's own (the one refreshes take), then read again.
 */
async function readValueLocked(op: Op, connectionId: string, slot: string): Promise<ConnectionValue | null> {
  const where = { connectionId_slot: { connectionId, slot } };
  await lockKey(op.tx, 'connection-value.slot', `${connectionId}:${slot}`);
  const found = await op.tx.connectionValue.findUnique({ where, select: { id: true } });
  if (!found) return null;
  await lockValue(op.tx, found.id);
  return op.tx.connectionValue.findUnique({ where });
}

/** Removes one slot's credentials; answers whether there were any. */
export async function clearValue(op: Op, connection: Connection, slot: Slot): Promise<boolean> {
  assertWithinLimits(op.actor, 'credentials');
  const existing = await readValueLocked(op, connection.id, slotKey(slot));
  const { count } = await op.tx.connectionValue.deleteMany({ where: { connectionId: connection.id, slot: slotKey(slot) } });
  if (existing && count) await recordTransition(op, existing, existing.status, null, 'connectionValue.clear');
  if (count) await refreshAfterValueChange(op, connection.id, slot);
  await op.audit('connectionValue.clear', 'Connection', connection.id, { slot: slot.kind });
  return count > 0;
}

/**
 * Status changes (test connection, OAuth refresh outcome, scheduled check…),
 * recorded in the value's history with `cause`. Messages must not contain secrets.
 */
export async function setValueStatus(
  op: Op,
  valueId: string,
  status: ValueStatus,
  lastError?: string | null,
  cause = 'status.set',
): Promise<ConnectionValue> {
  const now = new Date();
  const before = await op.tx.connectionValue.findUniqueOrThrow({ where: { id: valueId }, select: { status: true } });
  const value = await op.tx.connectionValue.update({
    where: { id: valueId },
    data: {
      status,
      lastError: status === 'ACTIVE' ? null : (lastError ?? null),
      lastErrorAt: status === 'ACTIVE' ? null : now,
      ...(status === 'ACTIVE' ? { activatedAt: now, refreshFailures: 0 } : {}),
    },
  });
  await recordTransition(op, value, before.status, status, cause, value.lastError);
  await refreshAfterValueChange(op, value.connectionId, slotOfKey(value.slot));
  return value;
}

async function refreshAfterValueChange(op: Op, connectionId: string, slot: Slot): Promise<void> {
  // Test credentials are never offered in workflows.
  if (slot.kind === 'TEST') return;
  await refreshAvailability(op, connectionId, { updated: slot.kind === 'CUSTOMER' ? [slot.customerId] : true });
}

/** Decrypts a value: for the runtime path only, never for GraphQL reads. */
export function openValue(ring: KeyRing, value: ConnectionValue): { fields: Record<string, unknown>; secrets: Record<string, string> } {
  return {
    fields: { ...(value.fields as Record<string, unknown>) },
    secrets: openSecrets(ring, value.id, value.secrets as Record<string, string>),
  };
}
