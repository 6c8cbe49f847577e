import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { KeyRing } from '../../crypto/keyring.js';
import { connectorSecretAad, hintFor, openSecrets, sealSecrets, type SecretHint } from '../../crypto/secrets.js';
import { ConflictError, InUseError, NotFoundError, ValidationError } from '../../errors.js';
import { Prisma, type Connection, type ConnectionValue, type Connector } from '../../generated/prisma/client.js';
import type { ConnectionType, ValueStatus } from '../../generated/prisma/enums.js';
import { parseInput } from '../../validation.js';
import { lockValue } from '../../db/locks.js';
import { refreshAvailability } from '../feed/availability.js';
import {
  FieldDefsSchema,
  clearedKeys,
  defaultFields,
  effectiveFields,
  parseFieldDefs,
  validateValues,
  type FieldDef,
} from './fields.js';

/**
 * Domain operations on connectors, connections and connection values. Plain
 * functions over a transaction, shared by GraphQL, REST and the runtime, so
 * every surface applies the same rules. Callers check authorization first
 * (which org, which principal); these functions enforce the data rules.
 */
export type Tx = Prisma.TransactionClient;

export type Slot = { kind: 'CUSTOMER'; customerId: string } | { kind: 'GLOBAL' } | { kind: 'TEST' };

export function slotKey(slot: Slot): string {
  return slot.kind === 'CUSTOMER' ? slot.customerId : slot.kind;
}

// ───────────────────────────── connectors ─────────────────────────────

const AUTH_TYPES = ['OAUTH2', 'SECRET_TEXT', 'BASIC_AUTH', 'CUSTOM_AUTH', 'NO_AUTH'] as const;
/** Stable keys, connector keys and external ids: URL- and file-safe, npm-scope style allowed (`@acme/piece-x`). */
export const KEY_PATTERN = /^[A-Za-z0-9@][A-Za-z0-9._:@/-]{0,127}$/;
export const KEY_MESSAGE = 'letters, digits and . _ - : @ / only; ≤ 128 chars; starts with a letter, digit or @';
const stableKeySchema = z.string().regex(KEY_PATTERN, KEY_MESSAGE);

const httpUrl = z
  .string()
  .url('must be a URL')
  .refine((u) => /^https?:\/\//.test(u), 'must be an http(s) URL');

export const OAuth2SettingsSchema = z.object({
  grantType: z.enum(['authorization_code', 'client_credentials']).default('authorization_code'),
  authorizeUrl: httpUrl.optional(),
  tokenUrl: httpUrl,
  scopes: z.array(z.string().min(1)).default([]),
  clientId: z.string().min(1, 'must not be empty'),
  pkce: z.boolean().default(true),
  audience: z.string().optional(),
  extraAuthorizeParams: z.record(z.string(), z.string()).optional(),
});
export type OAuth2Settings = z.infer<typeof OAuth2SettingsSchema>;

export const TestRequestSchema = z.object({
  method: z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD']).default('GET'),
  url: z.string().min(1),
  headers: z.record(z.string(), z.string()).default({}),
  body: z.string().optional(),
  expectStatus: z.array(z.number().int().min(100).max(599)).optional(),
});
export type TestRequest = z.infer<typeof TestRequestSchema>;

const ConnectorFieldsSchema = z.object({
  key: stableKeySchema,
  name: z.string().trim().min(1, 'must not be empty').max(200),
  description: z.string().max(5000).optional(),
  authType: z.enum(AUTH_TYPES),
  fields: FieldDefsSchema.optional(),
  oauth2: OAuth2SettingsSchema.nullish(),
  oauthClientSecret: z.string().min(1).nullish(),
  testRequest: TestRequestSchema.nullish(),
});
export type ConnectorInput = z.input<typeof ConnectorFieldsSchema>;

function checkConnectorShape(c: {
  authType: (typeof AUTH_TYPES)[number];
  fields: FieldDef[];
  oauth2: OAuth2Settings | null | undefined;
}): void {
  if (c.authType === 'OAUTH2') {
    if (!c.oauth2) throw ValidationError.field('input.oauth2', 'is required for OAUTH2 connectors');
    if (c.oauth2.grantType === 'authorization_code' && !c.oauth2.authorizeUrl) {
      throw ValidationError.field('input.oauth2.authorizeUrl', 'is required for the authorization_code grant');
    }
  } else if (c.oauth2) {
    throw ValidationError.field('input.oauth2', 'only OAUTH2 connectors have OAuth2 settings');
  }
  if (c.authType === 'NO_AUTH' && c.fields.length) throw ValidationError.field('input.fields', 'NO_AUTH connectors take no fields');
  if (c.authType === 'OAUTH2') {
    const reserved = new Set(['accessToken', 'refreshToken', 'tokenType', 'scope']);
    c.fields.forEach((f, i) => {
      if (reserved.has(f.key)) throw ValidationError.field(`input.fields.${i}.key`, `"${f.key}" is reserved for OAuth2 tokens`);
    });
  }
}

export async function createConnector(tx: Tx, ring: KeyRing, orgId: string, raw: unknown): Promise<Connector> {
  const input = parseInput(ConnectorFieldsSchema, raw);
  const fields = input.fields?.length ? input.fields : defaultFields(input.authType);
  checkConnectorShape({ authType: input.authType, fields, oauth2: input.oauth2 });
  const id = randomUUID();
  return tx.connector.create({
    data: {
      id,
      orgId,
      key: input.key,
      name: input.name,
      description: input.description ?? '',
      authType: input.authType,
      fields: fields as object[],
      oauth2: (input.oauth2 ?? undefined) as object | undefined,
      oauthClientSecret: input.oauthClientSecret ? ring.encrypt(input.oauthClientSecret, connectorSecretAad(id)) : null,
      testRequest: (input.testRequest ?? undefined) as object | undefined,
    },
  });
}

/** Changes a connector; its key is its stable identity and never changes. */
export async function updateConnector(tx: Tx, ring: KeyRing, connector: Connector, raw: unknown): Promise<Connector> {
  const patch = parseInput(ConnectorFieldsSchema.omit({ key: true }).partial(), raw, 'patch');
  if (patch.authType && patch.authType !== connector.authType) {
    const values = await tx.connectionValue.count({ where: { connection: { connectorId: connector.id } } });
    if (values > 0) throw ValidationError.field('patch.authType', 'cannot change while connections of this connector hold values');
  }
  const authType = patch.authType ?? connector.authType;
  const fields = patch.fields ?? parseFieldDefs(connector.fields);
  const oauth2 = patch.oauth2 === undefined ? (connector.oauth2 as OAuth2Settings | null) : patch.oauth2;
  checkConnectorShape({ authType, fields, oauth2 });
  return tx.connector.update({
    where: { id: connector.id },
    data: {
      name: patch.name,
      description: patch.description,
      authType,
      fields: fields as object[],
      oauth2: jsonPatch(patch.oauth2),
      oauthClientSecret:
        patch.oauthClientSecret === undefined
          ? undefined
          : patch.oauthClientSecret === null
            ? null
            : ring.encrypt(patch.oauthClientSecret, connectorSecretAad(connector.id)),
      testRequest: jsonPatch(patch.testRequest),
    },
  });
}

/** undefined: keep; null: clear (SQL NULL); object: set. */
function jsonPatch(v: object | null | undefined): object | typeof Prisma.DbNull | undefined {
  return v === undefined ? undefined : v === null ? Prisma.DbNull : v;
}

export async function upsertConnector(tx: Tx, ring: KeyRing, orgId: string, raw: unknown): Promise<Connector> {
  const key = parseInput(z.object({ key: stableKeySchema }).passthrough(), raw).key;
  const existing = await tx.connector.findUnique({ where: { orgId_key: { orgId, key } } });
  if (!existing) return createConnector(tx, ring, orgId, raw);
  const { key: _key, ...patch } = raw as Record<string, unknown>;
  return updateConnector(tx, ring, existing, patch);
}

export async function deleteConnector(tx: Tx, connector: Connector): Promise<void> {
  const used = await tx.connection.findMany({
    where: { connectorId: connector.id },
    select: { id: true, name: true },
    take: 50,
  });
  if (used.length) {
    throw new InUseError(`Connector "${connector.key}"`, used.map((c) => ({ type: 'Connection', id: c.id, name: c.name })));
  }
  await tx.connector.delete({ where: { id: connector.id } });
}

export function connectorFields(connector: Pick<Connector, 'authType' | 'fields'>): FieldDef[] {
  return effectiveFields(connector.authType, parseFieldDefs(connector.fields));
}

export function connectorClientSecret(ring: KeyRing, connector: Connector): string | null {
  return connector.oauthClientSecret ? ring.decrypt(connector.oauthClientSecret, connectorSecretAad(connector.id)) : null;
}

// ───────────────────────────── connections ─────────────────────────────

const CONNECTION_TYPES = ['CUSTOMER_ACTIVATED', 'ORG_ACTIVATED_CUSTOMER', 'ORG_ACTIVATED_GLOBAL'] as const;

const ConnectionFieldsSchema = z.object({
  stableKey: stableKeySchema,
  name: z.string().trim().min(1, 'must not be empty').max(200),
  description: z.string().max(5000).optional(),
  connectorId: z.string().uuid('must be a connector id'),
  type: z.enum(CONNECTION_TYPES),
  availableInWorkflows: z.boolean().optional(),
  restrictToAllowList: z.boolean().optional(),
  allowedCustomerIds: z.array(z.string().uuid('must be customer ids')).max(10_000).optional(),
  externalId: stableKeySchema.nullish(),
  metadata: z.record(z.string(), z.unknown()).optional(),
});
export type ConnectionInput = z.input<typeof ConnectionFieldsSchema>;

function checkGlobalOnly(type: ConnectionType, input: { restrictToAllowList?: boolean; allowedCustomerIds?: string[] }, prefix: string) {
  if (type !== 'ORG_ACTIVATED_GLOBAL' && (input.restrictToAllowList || input.allowedCustomerIds?.length)) {
    throw ValidationError.field(`${prefix}.allowedCustomerIds`, 'only ORG_ACTIVATED_GLOBAL connections have an allow-list');
  }
}

async function checkCustomersInOrg(tx: Tx, orgId: string, ids: string[], path: string): Promise<void> {
  if (!ids.length) return;
  const found = await tx.customer.count({ where: { orgId, id: { in: ids } } });
  if (found !== new Set(ids).size) throw ValidationError.field(path, 'contains a customer that does not exist');
}

async function checkConnectorInOrg(tx: Tx, orgId: string, connectorId: string, path: string): Promise<void> {
  const c = await tx.connector.findFirst({ where: { id: connectorId, orgId }, select: { id: true } });
  if (!c) throw ValidationError.field(path, 'connector not found');
}

async function assertUniqueKeys(tx: Tx, orgId: string, keys: { stableKey?: string; externalId?: string | null }, exceptId?: string) {
  const clash = await tx.connection.findFirst({
    where: {
      orgId,
      id: exceptId ? { not: exceptId } : undefined,
      OR: [
        ...(keys.stableKey ? [{ stableKey: keys.stableKey }] : []),
        ...(keys.externalId ? [{ externalId: keys.externalId }] : []),
      ],
    },
    select: { stableKey: true, externalId: true },
  });
  if (!clash) return;
  if (keys.stableKey && clash.stableKey === keys.stableKey) throw new ConflictError(`A connection with stableKey "${keys.stableKey}" already exists`);
  throw new ConflictError(`A connection with externalId "${keys.externalId}" already exists`);
}

export async function createConnection(tx: Tx, orgId: string, raw: unknown): Promise<Connection> {
  const input = parseInput(ConnectionFieldsSchema, raw);
  checkGlobalOnly(input.type, input, 'input');
  await checkConnectorInOrg(tx, orgId, input.connectorId, 'input.connectorId');
  await checkCustomersInOrg(tx, orgId, input.allowedCustomerIds ?? [], 'input.allowedCustomerIds');
  await assertUniqueKeys(tx, orgId, input);
  const connection = await tx.connection.create({
    data: {
      orgId,
      stableKey: input.stableKey,
      name: input.name,
      description: input.description ?? '',
      connectorId: input.connectorId,
      type: input.type,
      availableInWorkflows: input.availableInWorkflows ?? false,
      restrictToAllowList: input.restrictToAllowList ?? false,
      externalId: input.externalId ?? null,
      metadata: (input.metadata ?? {}) as object,
      allowances: input.allowedCustomerIds?.length
        ? { createMany: { data: [...new Set(input.allowedCustomerIds)].map((customerId) => ({ customerId })) } }
        : undefined,
    },
  });
  await refreshAvailability(tx, connection.id);
  return connection;
}

/** Stable key, type and connector are a connection's identity: they never change. */
export async function updateConnection(tx: Tx, connection: Connection, raw: unknown): Promise<Connection> {
  const patch = parseInput(
    ConnectionFieldsSchema.omit({ stableKey: true, type: true, connectorId: true }).partial(),
    raw,
    'patch',
  );
  checkGlobalOnly(connection.type, patch, 'patch');
  await checkCustomersInOrg(tx, connection.orgId, patch.allowedCustomerIds ?? [], 'patch.allowedCustomerIds');
  if (patch.externalId) await assertUniqueKeys(tx, connection.orgId, { externalId: patch.externalId }, connection.id);
  if (patch.allowedCustomerIds) {
    await tx.globalAllowance.deleteMany({ where: { connectionId: connection.id } });
    await tx.globalAllowance.createMany({
      data: [...new Set(patch.allowedCustomerIds)].map((customerId) => ({ connectionId: connection.id, customerId })),
    });
  }
  const updated = await tx.connection.update({
    where: { id: connection.id },
    data: {
      name: patch.name,
      description: patch.description,
      availableInWorkflows: patch.availableInWorkflows,
      restrictToAllowList: patch.restrictToAllowList,
      externalId: patch.externalId,
      metadata: patch.metadata as object | undefined,
    },
  });
  // A renamed option is an UPDATED event for everyone who can pick it.
  const visibleChange = patch.name !== undefined && patch.name !== connection.name;
  await refreshAvailability(tx, connection.id, { updated: visibleChange });
  return updated;
}

/** Creates or updates by stable key (automation, tenant sync); the type and connector must match. */
export async function upsertConnection(tx: Tx, orgId: string, raw: unknown): Promise<Connection> {
  const input = parseInput(ConnectionFieldsSchema, raw);
  const existing = await tx.connection.findUnique({ where: { orgId_stableKey: { orgId, stableKey: input.stableKey } } });
  if (!existing) return createConnection(tx, orgId, input);
  if (existing.type !== input.type) throw ValidationError.field('input.type', `cannot change (connection is ${existing.type})`);
  if (existing.connectorId !== input.connectorId) throw ValidationError.field('input.connectorId', 'cannot change');
  const { stableKey: _s, type: _t, connectorId: _c, ...patch } = input;
  return updateConnection(tx, existing, patch);
}

export async function setArchived(tx: Tx, connection: Connection, archived: boolean): Promise<Connection> {
  const updated = await tx.connection.update({
    where: { id: connection.id },
    data: { archivedAt: archived ? (connection.archivedAt ?? new Date()) : null },
  });
  await refreshAvailability(tx, connection.id);
  return updated;
}

/** What uses a connection: integrations that require it and workflow steps that selected it. */
export async function connectionUsage(tx: Tx, connectionId: string) {
  const [integrations, steps] = await Promise.all([
    tx.integrationConnection.findMany({
      where: { connectionId },
      select: { integration: { select: { id: true, name: true } } },
      take: 50,
    }),
    tx.workflowStep.findMany({
      where: { connectionId },
      select: { id: true, name: true, workflow: { select: { name: true } } },
      take: 50,
    }),
  ]);
  return [
    ...integrations.map((i) => ({ type: 'Integration', id: i.integration.id, name: i.integration.name })),
    ...steps.map((s) => ({ type: 'WorkflowStep', id: s.id, name: `${s.workflow.name} / ${s.name}` })),
  ];
}

/** Deletes a connection and its values, unless something uses it (then says what). */
export async function deleteConnection(tx: Tx, connection: Connection): Promise<void> {
  const usedBy = await connectionUsage(tx, connection.id);
  if (usedBy.length) throw new InUseError(`Connection "${connection.stableKey}"`, usedBy);
  await tx.connection.delete({ where: { id: connection.id } });
  // REMOVED events for every customer that could pick it.
  await refreshAvailability(tx, connection.id);
}

// ─────────────────────────── connection values ───────────────────────────

export type ConnectionWithConnector = Connection & { connector: Connector };

function checkSlot(connection: Connection, slot: Slot): void {
  if (slot.kind === 'TEST') return;
  if (connection.type === 'ORG_ACTIVATED_GLOBAL' && slot.kind !== 'GLOBAL') {
    throw ValidationError.field('input.customerId', 'a global connection has one GLOBAL value, not per-customer values');
  }
  if (connection.type !== 'ORG_ACTIVATED_GLOBAL' && slot.kind === 'GLOBAL') {
    throw ValidationError.field('input.slot', `a ${connection.type} connection has per-customer values`);
  }
}

type Hints = Record<string, SecretHint>;

/**
 * Sets the credentials of one slot. On an existing value, absent fields are
 * kept and `null` clears an optional field, unless `replace` (then the
 * values are the whole new credential). Secrets are sealed to this value's
 * id; only masked hints are ever read back.
 */
export async function setConnectionValue(
  tx: Tx,
  ring: KeyRing,
  args: {
    connection: ConnectionWithConnector;
    slot: Slot;
    values: unknown;
    replace?: boolean;
    status?: ValueStatus;
    expiresAt?: Date | null;
  },
): Promise<ConnectionValue> {
  const { connection, slot } = args;
  checkSlot(connection, slot);
  if (connection.archivedAt) throw ValidationError.field('input.connectionId', 'the connection is archived');
  if (slot.kind === 'CUSTOMER') await checkCustomersInOrg(tx, connection.orgId, [slot.customerId], 'input.customerId');

  const slotId = slotKey(slot);
  const existing = await readValueLocked(tx, connection.id, slotId);
  const merge = existing && !args.replace;
  const defs = connectorFields(connection.connector);
  const validated = validateValues(defs, args.values, { partial: !!merge });
  const cleared = merge ? clearedKeys(args.values) : [];

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
  Object.assign(secrets, sealSecrets(ring, id, validated.secrets));
  for (const [k, v] of Object.entries(validated.secrets)) hints[k] = hintFor(v);

  const isOAuth = connection.connector.authType === 'OAUTH2';
  const status: ValueStatus = args.status ?? (isOAuth && !secrets.accessToken ? 'PENDING' : 'ACTIVE');
  const now = new Date();
  const data = {
    fields: fields as object,
    secrets,
    secretHints: hints as object,
    status,
    lastError: status === 'ACTIVE' ? null : undefined,
    lastErrorAt: status === 'ACTIVE' ? null : undefined,
    activatedAt: status === 'ACTIVE' ? now : undefined,
    expiresAt: args.expiresAt,
    refreshFailures: status === 'ACTIVE' ? 0 : undefined,
  };
  const value = existing
    ? await tx.connectionValue.update({ where: { id }, data: { ...data, version: { increment: 1 } } })
    : await tx.connectionValue.create({
        data: {
          ...data,
          id,
          orgId: connection.orgId,
          connectionId: connection.id,
          kind: slot.kind,
          customerId: slot.kind === 'CUSTOMER' ? slot.customerId : null,
          slot: slotId,
        },
      });
  await refreshAfterValueChange(tx, connection.id, slot);
  return value;
}

/**
 * Reads a slot's value under its per-value lock, so a write never races a
 * token refresh or OAuth2 store of the same value (a lost rotated refresh
 * token would force re-authorization): lock, then read again.
 */
async function readValueLocked(tx: Tx, connectionId: string, slot: string): Promise<ConnectionValue | null> {
  const where = { connectionId_slot: { connectionId, slot } };
  const found = await tx.connectionValue.findUnique({ where, select: { id: true } });
  if (!found) return null;
  await lockValue(tx, found.id);
  return tx.connectionValue.findUnique({ where });
}

/** Removes one slot's credentials. */
export async function clearConnectionValue(tx: Tx, connection: Connection, slot: Slot): Promise<boolean> {
  const { count } = await tx.connectionValue.deleteMany({ where: { connectionId: connection.id, slot: slotKey(slot) } });
  if (count) await refreshAfterValueChange(tx, connection.id, slot);
  return count > 0;
}

/** Status changes (test connection, OAuth refresh outcome…). Messages must not contain secrets. */
export async function setValueStatus(
  tx: Tx,
  valueId: string,
  status: ValueStatus,
  lastError?: string | null,
): Promise<ConnectionValue> {
  const now = new Date();
  const value = await tx.connectionValue.update({
    where: { id: valueId },
    data: {
      status,
      lastError: status === 'ACTIVE' ? null : (lastError ?? null),
      lastErrorAt: status === 'ACTIVE' ? null : now,
      ...(status === 'ACTIVE' ? { activatedAt: now, refreshFailures: 0 } : {}),
    },
  });
  const slot: Slot = value.kind === 'CUSTOMER' ? { kind: 'CUSTOMER', customerId: value.customerId! } : { kind: value.kind };
  await refreshAfterValueChange(tx, value.connectionId, slot);
  return value;
}

async function refreshAfterValueChange(tx: Tx, connectionId: string, slot: Slot): Promise<void> {
  // Test credentials are never offered in workflows.
  if (slot.kind === 'TEST') return;
  await refreshAvailability(tx, connectionId, { updated: slot.kind === 'CUSTOMER' ? [slot.customerId] : true });
}

/** Decrypts a value: for the runtime path only, never for GraphQL reads. */
export function openValue(ring: KeyRing, value: ConnectionValue): { fields: Record<string, unknown>; secrets: Record<string, string> } {
  return {
    fields: { ...(value.fields as Record<string, unknown>) },
    secrets: openSecrets(ring, value.id, value.secrets as Record<string, string>),
  };
}

/** Loads a connection with its connector within an org, or throws NOT_FOUND. */
export async function loadConnection(
  tx: Tx,
  where: Prisma.ConnectionWhereInput,
): Promise<ConnectionWithConnector> {
  const c = await tx.connection.findFirst({ where, include: { connector: true } });
  if (!c) throw new NotFoundError('Connection');
  return c;
}
