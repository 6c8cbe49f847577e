import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { assertWithinLimits } from '../../auth/limits.js';
import type { KeyRing } from '../../crypto/keyring.js';
import { connectorSecretAad } from '../../crypto/secrets.js';
import { lockKey } from '../../db/locks.js';
import { ConflictError, InUseError, NotFoundError, ValidationError } from '../../errors.js';
import { AuthType, Prisma, type Connector } from '../../generated/prisma/client.js';
import type { Op } from '../../op.js';
import { displayName, parseInput, stableKey } from '../../validation.js';
import { orgOwned } from '../tenancy/scope.js';
import { checkProxySettings, ProxySettingsSchema, type ProxySettings } from '../proxy/settings.js';
import { FieldDefsSchema, defaultFields, effectiveFields, parseFieldDefs, type FieldDef } from './fields.js';

/**
 * Connectors: how a third-party app authenticates. Every write, for GraphQL,
 * REST, the manifest and the seed. The OAuth2 client secret is sealed at rest
 * and never read back except to call the provider.
 *
 * A connector decides where credentials are sent (its token URL receives the
 * client secret and every refresh token; its test request the values it
 * names), so changing one is a credential write (auth/limits.ts), and moving
 * the token URL to another origin needs the client secret entered again —
 * else whoever may edit connectors could collect the write-only secret.
 */
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
  /** How often every value is checked with it (health/checks.ts), within the gateway's bounds; absent: the default; 0: never on a schedule. */
  checkIntervalSeconds: z.number().int().min(0, 'at least 0').max(604_800, 'at most 604800 (a week)').optional(),
});
export type TestRequest = z.infer<typeof TestRequestSchema>;

export const ConnectorFields = z.object({
  key: stableKey,
  name: displayName,
  description: z.string().max(5000).optional(),
  authType: z.enum(AuthType),
  fields: FieldDefsSchema.optional(),
  oauth2: OAuth2SettingsSchema.nullish(),
  oauthClientSecret: z.string().min(1).nullish(),
  testRequest: TestRequestSchema.nullish(),
  /** How the proxy calls the API (modules/proxy/settings.ts); null: no proxy. */
  proxy: ProxySettingsSchema.nullish(),
});
export type ConnectorInput = z.input<typeof ConnectorFields>;
const ConnectorPatch = ConnectorFields.omit({ key: true }).partial();

function checkShape(c: { authType: AuthType; fields: FieldDef[]; oauth2: OAuth2Settings | null | undefined; proxy: ProxySettings | null | undefined }): void {
  if (c.authType === 'OAUTH2') {
    if (!c.oauth2) throw ValidationError.field('oauth2', 'is required for OAUTH2 connectors');
    if (c.oauth2.grantType === 'authorization_code' && !c.oauth2.authorizeUrl) {
      throw ValidationError.field('oauth2.authorizeUrl', 'is required for the authorization_code grant');
    }
  } else if (c.oauth2) {
    throw ValidationError.field('oauth2', 'only OAUTH2 connectors have OAuth2 settings');
  }
  if (c.authType === 'NO_AUTH' && c.fields.length) throw ValidationError.field('fields', 'NO_AUTH connectors take no fields');
  if (c.authType === 'OAUTH2') {
    const reserved = new Set(['accessToken', 'refreshToken', 'tokenType', 'scope']);
    c.fields.forEach((f, i) => {
      if (reserved.has(f.key)) throw ValidationError.field(`fields.${i}.key`, `is reserved for OAuth2 tokens (${[...reserved].join(', ')})`);
    });
  }
  if (c.proxy) checkProxySettings(c.proxy, c.authType, effectiveFields(c.authType, c.fields));
}

function originOf(url: string | undefined): string | null {
  try {
    return url ? new URL(url).origin : null;
  } catch {
    return null;
  }
}

/** undefined: keep; null: clear (SQL NULL); object: set. */
function jsonPatch(v: object | null | undefined): object | typeof Prisma.DbNull | undefined {
  return v === undefined ? undefined : v === null ? Prisma.DbNull : v;
}

function seal(ring: KeyRing, connectorId: string, secret: string): string {
  return ring.encrypt(secret, connectorSecretAad(connectorId));
}

async function insert(op: Op, input: z.output<typeof ConnectorFields>, action: string): Promise<Connector> {
  assertWithinLimits(op.actor, 'credentials');
  const fields = input.fields?.length ? input.fields : defaultFields(input.authType);
  checkShape({ authType: input.authType, fields, oauth2: input.oauth2, proxy: input.proxy });
  const id = randomUUID();
  const connector = await op.tx.connector.create({
    data: {
      id,
      ...orgOwned(op.actor),
      key: input.key,
      name: input.name,
      description: input.description ?? '',
      authType: input.authType,
      fields: fields as object[],
      oauth2: (input.oauth2 ?? undefined) as object | undefined,
      oauthClientSecret: input.oauthClientSecret ? seal(op.app.config.keyRing, id, input.oauthClientSecret) : null,
      testRequest: (input.testRequest ?? undefined) as object | undefined,
      proxy: (input.proxy ?? undefined) as object | undefined,
    },
  });
  await op.audit(action, 'Connector', connector.id);
  return connector;
}

/** Changes a connector; its key is its stable identity and never changes. */
async function patch(op: Op, connector: Connector, raw: unknown, action: string): Promise<Connector> {
  assertWithinLimits(op.actor, 'credentials');
  const p = parseInput(ConnectorPatch, raw);
  if (p.authType && p.authType !== connector.authType) {
    const values = await op.tx.connectionValue.count({ where: { connection: { connectorId: connector.id } } });
    if (values > 0) throw ValidationError.field('authType', 'cannot change while connections of this connector hold values');
  }
  const authType = p.authType ?? connector.authType;
  const fields = p.fields ?? parseFieldDefs(connector.fields);
  const oauth2 = p.oauth2 === undefined ? (connector.oauth2 as OAuth2Settings | null) : p.oauth2;
  const proxy = p.proxy === undefined ? (connector.proxy as ProxySettings | null) : p.proxy;
  checkShape({ authType, fields, oauth2, proxy });
  const keepsSecret = connector.oauthClientSecret !== null && p.oauthClientSecret === undefined;
  if (keepsSecret && oauth2 && originOf((connector.oauth2 as OAuth2Settings | null)?.tokenUrl) !== originOf(oauth2.tokenUrl)) {
    throw ValidationError.field('oauthClientSecret', 'enter the client secret again (or clear it): the token URL moves to another origin');
  }
  const updated = await op.tx.connector.update({
    where: { id: connector.id },
    data: {
      name: p.name,
      description: p.description,
      authType,
      fields: fields as object[],
      oauth2: jsonPatch(p.oauth2),
      oauthClientSecret:
        p.oauthClientSecret === undefined ? undefined : p.oauthClientSecret === null ? null : seal(op.app.config.keyRing, connector.id, p.oauthClientSecret),
      testRequest: jsonPatch(p.testRequest),
      proxy: jsonPatch(p.proxy),
    },
  });
  await op.audit(action, 'Connector', connector.id);
  return updated;
}

/** The caller's org's connector with this id or key, or NOT_FOUND. */
export async function findConnector(op: Op, by: { id: string } | { key: string }): Promise<Connector> {
  const found = await op.tx.connector.findFirst({ where: { ...by, ...orgOwned(op.actor) } });
  if (!found) throw new NotFoundError('Connector');
  return found;
}

export async function createConnector(op: Op, raw: unknown): Promise<Connector> {
  const input = parseInput(ConnectorFields, raw);
  await lockKey(op.tx, 'connector.key', `${orgOwned(op.actor).orgId}:${input.key}`);
  if (await op.tx.connector.findFirst({ where: { key: input.key, ...orgOwned(op.actor) }, select: { id: true } })) {
    throw new ConflictError('A connector with this key already exists');
  }
  return insert(op, input, 'connector.create');
}

export async function updateConnector(op: Op, id: string, raw: unknown): Promise<Connector> {
  return patch(op, await findConnector(op, { id }), raw, 'connector.update');
}

/** Creates the connector with this key or updates it (automation, tenant sync). */
export async function upsertConnector(op: Op, raw: unknown): Promise<Connector> {
  const { key, ...rest } = parseInput(z.object({ key: stableKey }).passthrough(), raw);
  await lockKey(op.tx, 'connector.key', `${orgOwned(op.actor).orgId}:${key}`);
  const existing = await op.tx.connector.findFirst({ where: { key, ...orgOwned(op.actor) } });
  return existing ? patch(op, existing, rest, 'connector.upsert') : insert(op, parseInput(ConnectorFields, raw), 'connector.upsert');
}

/**
 * The connector with this key, created from a definition when missing
 * (automation that names an app it has not described yet). An existing one
 * must use the same auth type; OAuth2 connectors are never created this way
 * (they need their OAuth2 settings).
 */
export async function ensureConnector(
  op: Op,
  definition: { key: string; name: string; description: string; authType: AuthType; fields?: FieldDef[] },
): Promise<Connector> {
  // Two new connections of one new app must not both create its connector.
  await lockKey(op.tx, 'connector.key', `${orgOwned(op.actor).orgId}:${definition.key}`);
  const existing = await op.tx.connector.findFirst({ where: { key: definition.key, ...orgOwned(op.actor) } });
  if (existing) {
    if (existing.authType !== definition.authType) throw ValidationError.field('authType', `connector "${existing.key}" uses ${existing.authType}`);
    return existing;
  }
  if (definition.authType === 'OAUTH2') {
    throw ValidationError.field('key', 'no OAuth2 connector has this key: create it first (GraphQL createConnector) with its OAuth2 settings');
  }
  return insert(op, parseInput(ConnectorFields, definition), 'connector.create');
}

/** Deletes a connector no connection uses (otherwise IN_USE says which do). */
export async function deleteConnector(op: Op, id: string): Promise<void> {
  const connector = await findConnector(op, { id });
  const used = await op.tx.connection.findMany({ where: { connectorId: connector.id }, select: { id: true, name: true }, take: 50 });
  if (used.length) {
    throw new InUseError(`Connector "${connector.key}"`, used.map((c) => ({ type: 'Connection', id: c.id, name: c.name })));
  }
  await op.tx.connector.delete({ where: { id: connector.id } });
  await op.audit('connector.delete', 'Connector', connector.id);
}

/** The connector's OAuth2 client secret, decrypted to call the provider (never to answer a read). */
export function connectorClientSecret(ring: KeyRing, connector: Pick<Connector, 'id' | 'oauthClientSecret'>): string | null {
  return connector.oauthClientSecret ? ring.decrypt(connector.oauthClientSecret, connectorSecretAad(connector.id)) : null;
}

/** The connector's OAuth2 settings, or a ValidationError at `path` when it is not a usable OAuth2 connector. */
export function oauthSettings(connector: Pick<Connector, 'authType' | 'oauth2'>, path = 'connectionId'): OAuth2Settings {
  if (connector.authType !== 'OAUTH2' || !connector.oauth2) {
    throw ValidationError.field(path, 'the connection does not use an OAuth2 connector');
  }
  const parsed = OAuth2SettingsSchema.safeParse(connector.oauth2);
  if (!parsed.success) throw ValidationError.field(path, "the connector's OAuth2 settings are invalid");
  return parsed.data;
}
