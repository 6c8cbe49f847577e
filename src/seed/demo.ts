import { randomBytes } from 'node:crypto';
import { newApiKeySecret, type TokenService } from '../auth/tokens.js';
import type { KeyRing } from '../crypto/keyring.js';
import type { PrismaClient } from '../generated/prisma/client.js';
import { createConnection, createConnector, setConnectionValue } from '../modules/connections/service.js';
import { newEmbedKeyPair, signEmbedToken, type EmbedSigner } from './embed.js';

export interface SeededOrg {
  orgId: string;
  slug: string;
  adminUserId: string;
  adminToken: string;
  apiKey: string;
  signer: EmbedSigner;
  customers: { id: string; externalId: string; userToken: string; runtimeToken: string }[];
}

/**
 * Creates an organization with an admin, an API key, an embed signing key and
 * customers, and returns ready-to-use credentials for each kind of principal.
 */
export async function seedOrg(
  prisma: PrismaClient,
  tokens: TokenService,
  opts: { name?: string; slug?: string; customers?: string[] } = {},
): Promise<SeededOrg> {
  const slug = opts.slug ?? `org-${randomBytes(4).toString('hex')}`;
  const org = await prisma.organization.create({ data: { name: opts.name ?? slug, slug } });
  const admin = await prisma.orgUser.create({
    data: { orgId: org.id, email: `admin@${slug}.example`, name: 'Admin' },
  });
  const key = newApiKeySecret();
  await prisma.apiKey.create({ data: { orgId: org.id, name: 'seed', prefix: key.prefix, hash: key.hash } });
  const pair = await newEmbedKeyPair();
  const signing = await prisma.embedSigningKey.create({
    data: { orgId: org.id, publicKey: pair.publicKeyPem, alg: 'ES256' },
  });
  const signer: EmbedSigner = { keyId: signing.id, privateKey: pair.privateKey };

  const customers: SeededOrg['customers'] = [];
  for (const externalId of opts.customers ?? ['customer-a', 'customer-b']) {
    const c = await prisma.customer.create({ data: { orgId: org.id, externalId, name: externalId } });
    customers.push({
      id: c.id,
      externalId,
      userToken: await signEmbedToken(signer, { userId: `user-of-${externalId}`, customerExternalId: externalId }, 24 * 3600),
      runtimeToken: await tokens.signRuntime({ orgId: org.id, customerId: c.id }, 24 * 3600),
    });
  }
  return {
    orgId: org.id,
    slug,
    adminUserId: admin.id,
    adminToken: await tokens.signOrgUser(admin, 24 * 3600),
    apiKey: key.secret,
    signer,
    customers,
  };
}

/** What a newcomer needs to make a first query with each kind of principal. */
export function demoBanner(seeded: SeededOrg, port: number): string {
  const rows: [string, string][] = [
    ['org admin (user)', seeded.adminToken],
    ['org API key', seeded.apiKey],
    ...seeded.customers.flatMap((c): [string, string][] => [
      [`customer user of ${c.externalId}`, c.userToken],
      [`runtime of ${c.externalId}`, c.runtimeToken],
    ]),
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  return [
    `Demo organization "${seeded.slug}" created. Tokens are valid for 24 hours.`,
    `Open http://localhost:${port}/graphql and set the header {"Authorization": "Bearer <token>"}.`,
    '',
    ...rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`),
    '',
    'First query:  { viewer { kind organization { name } customer { externalId } } }',
    'Then:         { connections { edges { node { stableKey type connector { key } } } } }',
  ].join('\n');
}

/**
 * Example connectors and connections for the demo organization, so a
 * newcomer's first queries return something: a global Twilio connection
 * shared with every customer, and a customer-activated Acme API connection
 * that the first customer has already filled in.
 */
export async function seedDemoContent(prisma: PrismaClient, ring: KeyRing, seeded: SeededOrg): Promise<void> {
  await prisma.$transaction(async (tx) => {
    const twilio = await createConnector(tx, ring, seeded.orgId, { key: 'twilio', name: 'Twilio', authType: 'SECRET_TEXT' });
    const acme = await createConnector(tx, ring, seeded.orgId, {
      key: 'acme-api',
      name: 'Acme API',
      authType: 'CUSTOM_AUTH',
      fields: [
        { key: 'baseUrl', label: 'Base URL', type: 'URL', required: true },
        { key: 'apiKey', label: 'API key', type: 'STRING', required: true, secret: true },
      ],
    });
    const sms = await createConnection(tx, seeded.orgId, {
      stableKey: 'twilio-sms',
      name: 'Twilio SMS',
      connectorId: twilio.id,
      type: 'ORG_ACTIVATED_GLOBAL',
      availableInWorkflows: true,
      externalId: 'twilio_demo',
    });
    const acmeConnection = await createConnection(tx, seeded.orgId, {
      stableKey: 'acme-api',
      name: 'Acme API',
      connectorId: acme.id,
      type: 'CUSTOMER_ACTIVATED',
      availableInWorkflows: true,
    });
    const withConnector = async (id: string) => tx.connection.findUniqueOrThrow({ where: { id }, include: { connector: true } });
    await setConnectionValue(tx, ring, {
      connection: await withConnector(sms.id),
      slot: { kind: 'GLOBAL' },
      values: { secret_text: `demo-${randomBytes(12).toString('hex')}` },
    });
    const first = seeded.customers[0];
    if (first) {
      await setConnectionValue(tx, ring, {
        connection: await withConnector(acmeConnection.id),
        slot: { kind: 'CUSTOMER', customerId: first.id },
        values: { baseUrl: 'https://api.acme.example', apiKey: `demo-${randomBytes(12).toString('hex')}` },
      });
    }
  });
}
