import { encodeGlobalID } from '@pothos/plugin-relay';
import type { PrismaClient } from '../../src/generated/prisma/client.js';
import type { ConnectionType, ValueStatus } from '../../src/generated/prisma/enums.js';
import { refreshAvailability } from '../../src/modules/feed/availability.js';
import type { SeededOrg } from '../../src/seed/demo.js';

/**
 * Connectors, connections and values for integration/workflow tests, written
 * straight to the database (the connections API has its own tests) and with
 * the availability set refreshed exactly as the connections service does.
 *
 * Per org (customers A and B):
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

export async function seedConnections(prisma: PrismaClient, org: SeededOrg): Promise<ConnectionFixture> {
  const [a, b] = org.customers;
  const orgId = org.orgId;
  const connector = (key: string) =>
    prisma.connector.create({
      data: {
        orgId,
        key,
        name: key[0]!.toUpperCase() + key.slice(1),
        authType: 'SECRET_TEXT',
        fields: [{ key: 'secret_text', label: 'Secret', type: 'STRING', required: true, secret: true }],
      },
    });
  const slack = await connector('slack');
  const twilio = await connector('twilio');
  const connection = (stableKey: string, connectorId: string, type: ConnectionType, availableInWorkflows: boolean, restrictToAllowList = false) =>
    prisma.connection.create({
      data: { orgId, stableKey, name: `${stableKey} connection`, connectorId, type, availableInWorkflows, restrictToAllowList },
    });
  const cust = await connection('cust', slack.id, 'CUSTOMER_ACTIVATED', true);
  const orgCust = await connection('orgCust', slack.id, 'ORG_ACTIVATED_CUSTOMER', true);
  const global = await connection('global', slack.id, 'ORG_ACTIVATED_GLOBAL', true, true);
  const hidden = await connection('hidden', slack.id, 'ORG_ACTIVATED_CUSTOMER', false);
  const tw = await connection('twilio', twilio.id, 'CUSTOMER_ACTIVATED', true);
  await prisma.globalAllowance.create({ data: { connectionId: global.id, customerId: a!.id } });
  await setValue(prisma, cust.id, a!.id, 'ACTIVE');
  await setValue(prisma, cust.id, b!.id, 'PENDING');
  await setValue(prisma, orgCust.id, a!.id, 'ACTIVE');
  await setValue(prisma, global.id, 'GLOBAL', 'ACTIVE');
  await setValue(prisma, hidden.id, a!.id, 'ACTIVE');
  await setValue(prisma, tw.id, a!.id, 'ACTIVE');
  const ids = { cust: cust.id, orgCust: orgCust.id, global: global.id, hidden: hidden.id, twilio: tw.id };
  return {
    connectors: { slack: slack.id, twilio: twilio.id },
    ids,
    gid: Object.fromEntries(Object.entries(ids).map(([k, v]) => [k, encodeGlobalID('Connection', v)])) as ConnectionFixture['gid'],
    connectorGid: { slack: encodeGlobalID('Connector', slack.id), twilio: encodeGlobalID('Connector', twilio.id) },
  };
}

/** Sets (creating if needed) the value of one slot — a customer id or 'GLOBAL' — and refreshes availability. */
export async function setValue(prisma: PrismaClient, connectionId: string, slot: string, status: ValueStatus): Promise<void> {
  const c = await prisma.connection.findUniqueOrThrow({ where: { id: connectionId } });
  const global = slot === 'GLOBAL';
  await prisma.$transaction(async (tx) => {
    await tx.connectionValue.upsert({
      where: { connectionId_slot: { connectionId, slot } },
      create: { orgId: c.orgId, connectionId, slot, kind: global ? 'GLOBAL' : 'CUSTOMER', customerId: global ? null : slot, status },
      update: { status },
    });
    await refreshAvailability(tx, connectionId, { updated: true });
  });
}

export async function archive(prisma: PrismaClient, connectionId: string, archived = true): Promise<void> {
  await prisma.$transaction(async (tx) => {
    await tx.connection.update({ where: { id: connectionId }, data: { archivedAt: archived ? new Date() : null } });
    await refreshAvailability(tx, connectionId);
  });
}

export const gidOf = encodeGlobalID;
