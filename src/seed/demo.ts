import { randomBytes } from 'node:crypto';
import { newApiKeySecret, type TokenService } from '../auth/tokens.js';
import type { PrismaClient } from '../generated/prisma/client.js';
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
  ].join('\n');
}
