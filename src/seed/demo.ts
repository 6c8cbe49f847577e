import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { exportJWK, importJWK, type CryptoKey, type JWK } from 'jose';
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

/** The demo's credentials as printed: `apiKey` only when just created (only its hash is kept), user tokens only with the demo's signing key. */
export interface DemoCredentials {
  slug: string;
  adminToken: string;
  apiKey?: string;
  customers: { externalId: string; userToken?: string; runtimeToken: string }[];
}

/**
 * What a newcomer needs to make a first query with each kind of principal:
 * a token per principal for GraphiQL's headers pane, and the same as shell
 * variables for the README's curl examples.
 */
export function demoBanner(demo: DemoCredentials, publicUrl: string, heading: string): string {
  const first = demo.customers[0];
  const rows: [string, string][] = [
    ['org admin (user)', demo.adminToken],
    ...(demo.apiKey ? [['org API key', demo.apiKey] as [string, string]] : []),
    ...demo.customers.flatMap((c): [string, string][] => [
      ...(c.userToken ? [[`customer user of ${c.externalId}`, c.userToken] as [string, string]] : []),
      [`runtime of ${c.externalId}`, c.runtimeToken],
    ]),
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  const exports: [string, string | undefined][] = [
    ['GATEWAY', publicUrl],
    ['ADMIN_TOKEN', demo.adminToken],
    ['API_KEY', demo.apiKey],
    ['USER_TOKEN', first?.userToken],
    ['RUNTIME_TOKEN', first?.runtimeToken],
  ];
  return [
    heading,
    `Open ${publicUrl}/graphql and paste into its "Headers" pane: {"Authorization": "Bearer <token>"}`,
    '',
    ...rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`),
    '',
    `For the README's shell examples (${first ? `user and runtime tokens of ${first.externalId}` : 'no customer'}):`,
    ...exports.filter(([, v]) => v).map(([k, v]) => `export ${k}=${v}`),
    ...(demo.apiKey ? [] : ['(API key: the one printed at the first start, or a new one: mutation { createApiKey(input: { name: "me" }) { ... } } as the admin)']),
    '',
    'First query:  { viewer { kind organization { name } customer { externalId } } }',
    ...(first?.userToken ? [`Connect page (as the customer user of ${first.externalId}):  ${publicUrl}/connect#token=${first.userToken}`] : []),
  ].join('\n');
}

export function credentialsOf(seeded: SeededOrg): DemoCredentials {
  return { slug: seeded.slug, adminToken: seeded.adminToken, apiKey: seeded.apiKey, customers: seeded.customers };
}

const GATEWAY_URL_FILE = 'gateway-url';

/** Notes, beside the embedded database, the address the gateway started on (best effort: only a hint for `npm run seed`). */
export async function saveGatewayUrl(dataDir: string, url: string): Promise<void> {
  await writeFile(path.join(dataDir, GATEWAY_URL_FILE), `${url}\n`).catch(() => {});
}

/** The address the gateway last started on with this data directory, if it noted one. */
export async function lastGatewayUrl(dataDir: string): Promise<string | null> {
  const text = await readFile(path.join(dataDir, GATEWAY_URL_FILE), 'utf8').catch(() => null);
  const url = text?.trim();
  return url && /^https?:\/\/\S+$/.test(url) ? url : null;
}

const DEMO_KEY_FILE = 'demo-embed-key.json';

/** Keeps the demo's embed signing key (the vendor backend's, in real life) beside the embedded database, so a restart can issue customer-user tokens again. */
export async function saveDemoSigner(dataDir: string, signer: EmbedSigner): Promise<void> {
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(path.join(dataDir, DEMO_KEY_FILE), JSON.stringify({ keyId: signer.keyId, jwk: await exportJWK(signer.privateKey) }), { mode: 0o600 });
}

/** Fresh tokens for an existing demo organization (tokens last 24 hours; the data stays). Null when there is no such organization. */
export async function reissueDemoCredentials(app: App, slug: string, dataDir: string): Promise<DemoCredentials | null> {
  const org = await app.db.prisma.organization.findUnique({ where: { slug }, include: { customers: { orderBy: { createdAt: 'asc' } } } });
  if (!org) return null;
  const admin = await adminOf(app, org.id);
  let signer: EmbedSigner | null = null;
  try {
    const saved = JSON.parse(readFileSync(path.join(dataDir, DEMO_KEY_FILE), 'utf8')) as { keyId: string; jwk: JWK };
    signer = { keyId: saved.keyId, privateKey: (await importJWK(saved.jwk, 'ES256')) as CryptoKey };
  } catch {
    // No saved key (a demo seeded elsewhere): runtime and admin tokens only.
  }
  return {
    slug,
    adminToken: await app.tokens.signOrgUser(admin, 24 * 3600),
    customers: await Promise.all(
      org.customers.map(async (c) => ({
        externalId: c.externalId,
        ...(signer ? { userToken: await signEmbedToken(signer, { userId: `user-of-${c.externalId}`, customerExternalId: c.externalId }, 24 * 3600) } : {}),
        runtimeToken: await app.tokens.signRuntime({ orgId: org.id, customerId: c.id }, 24 * 3600),
      })),
    ),
  };
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
        { key: 'baseUrl', label: 'Base URL', type: 'URL', required: true, description: 'The address of your Acme API, like https://api.acme.example' },
        { key: 'apiKey', label: 'API key', type: 'STRING', required: true, secret: true, description: 'In Acme: Settings → API keys → Create key' },
      ],
      // The proxy calls each customer's own base URL with its API key as a bearer token (the convention for one secret field).
      proxy: { baseUrl: '{{baseUrl}}' },
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
