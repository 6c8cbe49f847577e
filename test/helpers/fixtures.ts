import type { App } from '../../src/app.js';
import type { OrgPrincipal } from '../../src/auth/principal.js';
import { openSecrets } from '../../src/crypto/secrets.js';
import type { ConnectionValue, ValueStatus } from '../../src/generated/prisma/client.js';
import { encodeId } from '../../src/ids.js';
import { write, type Op } from '../../src/op.js';
import { archiveConnection, createConnection, findConnection, type ConnectionWithConnector } from '../../src/modules/connections/service.js';
import { createApiKey } from '../../src/modules/access/service.js';
import { createConnector } from '../../src/modules/connectors/service.js';
import { setValue, setValueStatus, slotOfKey, type Slot } from '../../src/modules/values/service.js';
import { adminOf, type SeededOrg } from '../../src/seed/demo.js';

/**
 * The one fixture style: test data goes through the same services the API
 * runs (availability, feed events and audit included), as the organization's
 * admin. Only what no service does is written directly (making a token look
 * about to expire).
 */
export async function asOrg<T>(app: App, orgId: string, fn: (op: Op) => Promise<T>): Promise<T> {
  let admin = admins.get(orgId);
  if (!admin) admins.set(orgId, (admin = await adminOf(app, orgId)));
  return write(app, admin, 'system', fn);
}

/** An org's admin never changes during a test file: looked up once. */
const admins = new Map<string, OrgPrincipal>();

export function makeConnector(app: App, orgId: string, input: Record<string, unknown>) {
  return asOrg(app, orgId, (op) => createConnector(op, input));
}

export function makeConnection(app: App, orgId: string, input: Record<string, unknown>): Promise<ConnectionWithConnector> {
  return asOrg(app, orgId, async (op) => findConnection(op, { id: (await createConnection(op, input)).id }));
}

async function orgOf(app: App, connectionId: string): Promise<string> {
  return (await app.db.prisma.connection.findUniqueOrThrow({ where: { id: connectionId }, select: { orgId: true } })).orgId;
}

export async function putValue(
  app: App,
  connectionId: string,
  slot: Slot,
  values: Record<string, unknown>,
  extra: { expiresAt?: Date | null; status?: ValueStatus } = {},
): Promise<ConnectionValue> {
  return asOrg(app, await orgOf(app, connectionId), async (op) => setValue(op, await findConnection(op, { id: connectionId }), slot, { values, ...extra }));
}

/** Sets the status of one slot's value (a customer id, GLOBAL or TEST), creating the value (empty) when it has none. */
export async function setStatus(app: App, connectionId: string, slot: string, status: ValueStatus, lastError?: string): Promise<ConnectionValue> {
  return asOrg(app, await orgOf(app, connectionId), async (op) => {
    const existing = await op.tx.connectionValue.findUnique({ where: { connectionId_slot: { connectionId, slot } } });
    if (!existing) return setValue(op, await findConnection(op, { id: connectionId }), slotOfKey(slot), { values: { secret_text: 'fixture-secret' }, status });
    return setValueStatus(op, existing.id, status, lastError);
  });
}

export async function archive(app: App, connectionId: string, archived = true): Promise<void> {
  await asOrg(app, await orgOf(app, connectionId), (op) => archiveConnection(op, connectionId, archived));
}

export function valueOf(app: App, connectionId: string, slot: string) {
  return app.db.prisma.connectionValue.findUniqueOrThrow({ where: { connectionId_slot: { connectionId, slot } } });
}

/** Test-side decryption, to compare with what a provider issued. */
export function secretsOf(app: App, value: ConnectionValue): Record<string, string> {
  return openSecrets(app.config.keyRing, value.id, value.secrets as Record<string, string>);
}

/** Makes the stored access token look about to expire, so the next resolution refreshes it. */
export async function expireSoon(app: App, valueId: string): Promise<void> {
  await app.db.prisma.connectionValue.update({ where: { id: valueId }, data: { expiresAt: new Date(Date.now() - 1000) } });
  // Stands for time passing, written past the services: what instances kept of the value (the proxy's cache) is as old as it would be then.
  await app.proxyCache.changed(null);
}

/**
 * The connections of the integration, workflow and authorization tests. Per
 * org (customers A and B):
 * - `cust`     CUSTOMER_ACTIVATED slack, in workflows; A ACTIVE, B PENDING
 * - `orgCust`  ORG_ACTIVATED_CUSTOMER slack, in workflows; A ACTIVE, B none
 * - `global`   ORG_ACTIVATED_GLOBAL slack, in workflows, allow-list = A; GLOBAL ACTIVE
 * - `hidden`   ORG_ACTIVATED_CUSTOMER slack, NOT in workflows; A ACTIVE
 * - `twilio`   CUSTOMER_ACTIVATED twilio, in workflows; A ACTIVE
 */
export interface ConnectionFixture {
  connectors: { slack: string; twilio: string };
  ids: Record<'cust' | 'orgCust' | 'global' | 'hidden' | 'twilio', string>;
  gid: Record<'cust' | 'orgCust' | 'global' | 'hidden' | 'twilio', string>;
  connectorGid: { slack: string; twilio: string };
}

export async function seedConnections(app: App, org: SeededOrg): Promise<ConnectionFixture> {
  const [a, b] = org.customers;
  const connector = (key: string) => makeConnector(app, org.orgId, { key, name: key[0]!.toUpperCase() + key.slice(1), authType: 'SECRET_TEXT' });
  const slack = await connector('slack');
  const twilio = await connector('twilio');
  const connection = (stableKey: string, connectorId: string, type: string, availableInWorkflows: boolean, allowedCustomerIds?: string[]) =>
    makeConnection(app, org.orgId, {
      stableKey,
      name: `${stableKey} connection`,
      connectorId,
      type,
      availableInWorkflows,
      ...(allowedCustomerIds ? { restrictToAllowList: true, allowedCustomerIds } : {}),
    });
  const cust = await connection('cust', slack.id, 'CUSTOMER_ACTIVATED', true);
  const orgCust = await connection('orgCust', slack.id, 'ORG_ACTIVATED_CUSTOMER', true);
  const global = await connection('global', slack.id, 'ORG_ACTIVATED_GLOBAL', true, [a!.id]);
  const hidden = await connection('hidden', slack.id, 'ORG_ACTIVATED_CUSTOMER', false);
  const tw = await connection('twilio', twilio.id, 'CUSTOMER_ACTIVATED', true);
  await setStatus(app, cust.id, a!.id, 'ACTIVE');
  await setStatus(app, cust.id, b!.id, 'PENDING');
  await setStatus(app, orgCust.id, a!.id, 'ACTIVE');
  await setStatus(app, global.id, 'GLOBAL', 'ACTIVE');
  await setStatus(app, hidden.id, a!.id, 'ACTIVE');
  await setStatus(app, tw.id, a!.id, 'ACTIVE');
  const ids = { cust: cust.id, orgCust: orgCust.id, global: global.id, hidden: hidden.id, twilio: tw.id };
  return {
    connectors: { slack: slack.id, twilio: twilio.id },
    ids,
    gid: Object.fromEntries(Object.entries(ids).map(([k, v]) => [k, encodeId('Connection', v)])) as ConnectionFixture['gid'],
    connectorGid: { slack: encodeId('Connector', slack.id), twilio: encodeId('Connector', twilio.id) },
  };
}

/** An API key of the org (secret and row id), with the limits asked for. */
export async function makeApiKey(app: App, orgId: string, input: { name?: string; readOnly?: boolean; noCredentialWrites?: boolean; credentialReads?: boolean } = {}) {
  const { secret, key } = await asOrg(app, orgId, (op) => createApiKey(op, { name: 'test', ...input }));
  return { secret, id: key.id };
}
