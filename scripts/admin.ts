/**
 * `npm run admin -- <command>`: the operator's way in, on the embedded
 * database and on PostgreSQL alike. Everything goes through the services
 * (validation, audit), acting as the organization's first admin.
 */
import { readFileSync } from 'node:fs';
import { createApp, type App } from '../src/app.js';
import type { OrgPrincipal } from '../src/auth/principal.js';
import { loadConfig } from '../src/config.js';
import { openDatabase } from '../src/db/database.js';
import { NotFoundError, ValidationError } from '../src/errors.js';
import { isUuid } from '../src/ids.js';
import { write } from '../src/op.js';
import { createApiKey, registerEmbedSigningKey, revokeApiKey } from '../src/modules/access/service.js';
import { addOrgUser, createOrganization } from '../src/modules/tenancy/service.js';
import { adminOf } from '../src/seed/demo.js';
import { runCli, UsageError } from './cli.js';

const USAGE = `
Usage: npm run admin -- <command> [options]

Commands:
  org create --name <name> --slug <slug> --admin-email <email> [--admin-name <name>]
        Creates an organization and its first admin; prints their ids and a
        token for that admin.
  org list
        Lists organizations (slug, name, users, customers).
  user add --org <slug> --email <email> [--name <name>]
        Adds an org user (who can then sign in with OpenID Connect, or get a token).
  token --org <slug> [--email <email>] [--ttl-hours <1-720>]
        Prints an org-user token (default: the org's first admin, 12 hours).
  apikey create --org <slug> --name <name> [--read-only] [--no-credential-writes] [--credential-reads]
        Prints a new org API key (cgk_…): shown once, only its hash is stored.
        --credential-reads: the key may read decrypted credentials (Nango's SDK).
  apikey list --org <slug>
  apikey revoke --org <slug> <keyId>
  embedkey register --org <slug> --alg <ES256|RS256> [--public-key-file <file.pem>]
        Registers your backend's public key for embed tokens (PEM; from the
        file, or from standard input); prints the key id to put in "kid".
  embedkey list --org <slug>

Configuration comes from the environment, as for the gateway: DATABASE_URL
(with AUTH_SECRET and ENCRYPTION_KEYS) for PostgreSQL, else the embedded
database in DATA_DIR (stop the gateway first: one process per data directory).
Tokens are printed alone on standard output, e.g.
  TOKEN=$(npm run --silent admin -- token --org acme)
`;

const options = {
  name: { type: 'string' },
  slug: { type: 'string' },
  'admin-email': { type: 'string' },
  'admin-name': { type: 'string' },
  org: { type: 'string' },
  email: { type: 'string' },
  'ttl-hours': { type: 'string' },
  'read-only': { type: 'boolean', default: false },
  'no-credential-writes': { type: 'boolean', default: false },
  'credential-reads': { type: 'boolean', default: false },
  alg: { type: 'string' },
  'public-key-file': { type: 'string' },
} as const;

type Values = { [K in keyof typeof options]?: (typeof options)[K]['type'] extends 'boolean' ? boolean : string };

function need(values: Values, name: keyof Values): string {
  const v = values[name];
  if (typeof v !== 'string' || !v.trim()) throw new UsageError(`missing --${name}`);
  return v;
}

async function orgAdmin(app: App, values: Values): Promise<OrgPrincipal> {
  const slug = need(values, 'org');
  const org = await app.db.prisma.organization.findUnique({ where: { slug }, select: { id: true } });
  if (!org) throw new UsageError(`no organization with slug "${slug}" (see: npm run admin -- org list)`);
  return adminOf(app, org.id);
}

function table(rows: Record<string, unknown>[]): string {
  if (!rows.length) return '(none)';
  const keys = Object.keys(rows[0]!);
  const cells = rows.map((r) => keys.map((k) => (r[k] instanceof Date ? (r[k] as Date).toISOString() : String(r[k] ?? '-'))));
  const widths = keys.map((k, i) => Math.max(k.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => c.map((v, i) => v.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(keys), ...cells.map(line)].join('\n');
}

async function orgCreate(app: App, values: Values): Promise<void> {
  try {
    const { organization, admin } = await createOrganization(app, {
      name: need(values, 'name'),
      slug: need(values, 'slug'),
      admin: { email: need(values, 'admin-email'), name: values['admin-name'] ?? 'Admin' },
    });
    console.error(`Created organization "${organization.slug}" (${organization.id}) with admin ${admin.email} (${admin.id}).`);
    console.error(`A token for ${admin.email}, valid 12 hours (more: npm run admin -- token --org ${organization.slug}):`);
    console.log(await app.tokens.signOrgUser(admin, 12 * 3600));
  } catch (err) {
    // The service names its own input (admin.email); say it in this command's options.
    throw err instanceof ValidationError ? err.renamed({ 'admin.email': '--admin-email', 'admin.name': '--admin-name', name: '--name', slug: '--slug' }) : err;
  }
}

async function token(app: App, values: Values): Promise<void> {
  const admin = await orgAdmin(app, values);
  const hours = values['ttl-hours'] === undefined ? 12 : Number(values['ttl-hours']);
  if (!Number.isInteger(hours) || hours < 1 || hours > 720) throw new UsageError('--ttl-hours: a whole number from 1 to 720');
  const user = values.email
    ? await app.db.prisma.orgUser.findFirst({ where: { orgId: admin.orgId, email: values.email.trim().toLowerCase() } })
    : await app.db.prisma.orgUser.findUnique({ where: { id: admin.id } });
  if (!user) throw new NotFoundError(`Org user ${values.email}`);
  console.error(`Org-user token for ${user.email}, valid ${hours} hours:`);
  console.log(await app.tokens.signOrgUser(user, hours * 3600));
}

async function run(app: App, words: string[], values: Values): Promise<void> {
  const command = words.join(' ');
  const prisma = app.db.prisma;
  switch (command) {
    case 'org create':
      return orgCreate(app, values);
    case 'org list': {
      const orgs = await prisma.organization.findMany({ orderBy: { createdAt: 'asc' }, include: { _count: { select: { users: true, customers: true } } } });
      console.log(table(orgs.map((o) => ({ slug: o.slug, name: o.name, users: o._count.users, customers: o._count.customers, id: o.id }))));
      return;
    }
    case 'user add': {
      const user = await write(app, await orgAdmin(app, values), 'system', (op) =>
        addOrgUser(op, { email: need(values, 'email'), name: values.name ?? need(values, 'email') }),
      );
      console.log(`Added ${user.email} (${user.id}).`);
      return;
    }
    case 'token':
      return token(app, values);
    case 'apikey create': {
      const { secret, key } = await write(app, await orgAdmin(app, values), 'system', (op) =>
        createApiKey(op, {
          name: need(values, 'name'),
          readOnly: values['read-only'],
          noCredentialWrites: values['no-credential-writes'],
          credentialReads: values['credential-reads'],
        }),
      );
      console.error(`API key "${key.name}" (keyId ${key.id}); the secret is shown once:`);
      console.log(secret);
      return;
    }
    case 'apikey list': {
      const admin = await orgAdmin(app, values);
      const keys = await prisma.apiKey.findMany({ where: { orgId: admin.orgId }, orderBy: { createdAt: 'desc' } });
      console.log(
        table(keys.map((k) => ({ keyId: k.id, name: k.name, prefix: k.prefix, readOnly: k.readOnly, noCredentialWrites: k.noCredentialWrites, credentialReads: k.credentialReads, lastUsedAt: k.lastUsedAt, revokedAt: k.revokedAt }))),
      );
      return;
    }
    case 'embedkey register': {
      const file = values['public-key-file'];
      const publicKey = file ? readFileSync(file, 'utf8') : readFileSync(0, 'utf8');
      const key = await write(app, await orgAdmin(app, values), 'system', (op) => registerEmbedSigningKey(op, { publicKey, alg: need(values, 'alg') }));
      console.error('Registered; sign embed tokens with header "kid":');
      console.log(key.id);
      return;
    }
    case 'embedkey list': {
      const admin = await orgAdmin(app, values);
      const keys = await prisma.embedSigningKey.findMany({ where: { orgId: admin.orgId }, orderBy: { createdAt: 'desc' } });
      console.log(table(keys.map((k) => ({ keyId: k.id, alg: k.alg, createdAt: k.createdAt, revokedAt: k.revokedAt }))));
      return;
    }
  }
  if (words[0] === 'apikey' && words[1] === 'revoke' && words.length === 3) {
    if (!isUuid(words[2]!)) throw new UsageError(`"${words[2]}" is not a keyId (see: npm run admin -- apikey list --org <slug>)`);
    const key = await write(app, await orgAdmin(app, values), 'system', (op) => revokeApiKey(op, words[2]!));
    console.log(`Revoked ${key.id} at ${key.revokedAt?.toISOString()}.`);
    return;
  }
  throw new UsageError(command ? `unknown command "${command}"` : 'no command');
}

runCli('admin', {
  usage: USAGE,
  options,
  allowPositionals: true,
  async run({ values, positionals }) {
    if (!positionals.length) throw new UsageError('no command');
    const config = loadConfig();
    const db = await openDatabase(config.database);
    try {
      await db.migrate();
      await run(createApp(config, db), positionals, values as Values);
    } finally {
      await db.close();
    }
  },
});
