import { randomBytes } from 'node:crypto';
import type { App } from '../app.js';
import type { OrgPrincipal } from '../auth/principal.js';
import { write } from '../op.js';
import { createApiKey, registerEmbedSigningKey } from '../modules/access/service.js';
import { createConnection, findConnection } from '../modules/connections/service.js';
import { createConnector } from '../modules/connectors/service.js';
import { createCustomer, createOrganization } from '../modules/tenancy/service.js';
import { setValue } from '../modules/values/service.js';
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

/** An org's admin as a principal: the seed (and test fixtures) act as the org's first admin. */
export async function adminOf(app: App, orgId: string): Promise<OrgPrincipal> {
  const admin = await app.db.prisma.orgUser.findFirstOrThrow({ where: { orgId }, orderBy: { createdAt: 'asc' } });
  return { kind: 'ORG_USER', id: admin.id, orgId, email: admin.email };
}

/**
 * Creates an organization with an admin, an API key, an embed signing key and
 * customers, and returns ready-to-use credentials for each kind of principal.
 * Everything after the organization and its admin goes through the services,
 * as that admin.
 */
export async function seedOrg(app: App, opts: { name?: string; slug?: string; customers?: string[] } = {}): Promise<SeededOrg> {
  const slug = opts.slug ?? `org-${randomBytes(4).toString('hex')}`;
  const { organization: org, admin, principal } = await createOrganization(app, {
    name: opts.name ?? slug,
    slug,
    admin: { email: `admin@${slug}.example`, name: 'Admin' },
  });
  const pair = await newEmbedKeyPair();
  const { apiKey, signer, customers } = await write(app, principal, 'system', async (op) => {
    const key = await createApiKey(op, { name: 'seed' });
    const signing = await registerEmbedSigningKey(op, { publicKey: pair.publicKeyPem, alg: 'ES256' });
    const created = [];
    for (const externalId of opts.customers ?? ['customer-a', 'customer-b']) {
      created.push(await createCustomer(op, { externalId, name: externalId }));
    }
    return { apiKey: key.secret, signer: { keyId: signing.id, privateKey: pair.privateKey } as EmbedSigner, customers: created };
  });
  return {
    orgId: org.id,
    slug,
    adminUserId: admin.id,
    adminToken: await app.tokens.signOrgUser(admin, 24 * 3600),
    apiKey,
    signer,
    customers: await Promise.all(
      customers.map(async (c) => ({
        id: c.id,
        externalId: c.externalId,
        userToken: await signEmbedToken(signer, { userId: `user-of-${c.externalId}`, customerExternalId: c.externalId }, 24 * 3600),
        runtimeToken: await app.tokens.signRuntime({ orgId: org.id, customerId: c.id }, 24 * 3600),
      })),
    ),
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
export async function seedDemoContent(app: App, seeded: SeededOrg): Promise<void> {
  await write(app, await adminOf(app, seeded.orgId), 'system', async (op) => {
    await createConnector(op, { key: 'twilio', name: 'Twilio', authType: 'SECRET_TEXT' });
    await createConnector(op, {
      key: 'acme-api',
      name: 'Acme API',
      authType: 'CUSTOM_AUTH',
      fields: [
        { key: 'baseUrl', label: 'Base URL', type: 'URL', required: true },
        { key: 'apiKey', label: 'API key', type: 'STRING', required: true, secret: true },
      ],
    });
    const sms = await createConnection(op, {
      stableKey: 'twilio-sms',
      name: 'Twilio SMS',
      connectorKey: 'twilio',
      type: 'ORG_ACTIVATED_GLOBAL',
      availableInWorkflows: true,
      externalId: 'twilio_demo',
    });
    const acme = await createConnection(op, {
      stableKey: 'acme-api',
      name: 'Acme API',
      connectorKey: 'acme-api',
      type: 'CUSTOMER_ACTIVATED',
      availableInWorkflows: true,
    });
    await setValue(op, await findConnection(op, { id: sms.id }), { kind: 'GLOBAL' }, { values: { secret_text: `demo-${randomBytes(12).toString('hex')}` } });
    const first = seeded.customers[0];
    if (first) {
      await setValue(op, await findConnection(op, { id: acme.id }), { kind: 'CUSTOMER', customerId: first.id }, {
        values: { baseUrl: 'https://api.acme.example', apiKey: `demo-${randomBytes(12).toString('hex')}` },
      });
    }
  });
}
