import { assertWithinLimits } from '../../auth/limits.js';
import { z } from 'zod';
import type { App } from '../../app.js';
import { systemActor, type OrgPrincipal } from '../../auth/principal.js';
import { lockKey } from '../../db/locks.js';
import { transaction } from '../../db/transaction.js';
import { ConflictError, NotFoundError } from '../../errors.js';
import type { Customer, Organization, OrgUser } from '../../generated/prisma/client.js';
import { audit, type Surface } from '../../audit.js';
import { write, type Op } from '../../op.js';
import { displayName, parseInput, metadata } from '../../validation.js';
import { lockAvailability, refreshCustomerAvailability } from '../feed/service.js';
import { emitEvent } from '../webhooks/outbox.js';
import { orgOwned } from './scope.js';

/**
 * Customers: every write, for GraphQL, REST (Activepieces projects) and the
 * seed alike. Creations of one externalId are serialized across instances by
 * an advisory lock, so "create if missing" never makes two.
 */
export const CustomerFields = z.object({
  externalId: z.string().trim().min(1, 'must not be empty').max(200, 'at most 200 characters'),
  name: z.string().trim().min(1, 'must not be empty').max(200, 'at most 200 characters'),
  description: z.string().max(2000).optional(),
  metadata: metadata.optional(),
});
export type CustomerInput = z.input<typeof CustomerFields>;

const CustomerPatch = CustomerFields.omit({ externalId: true }).partial();

async function lockExternalId(op: Op, orgId: string, externalId: string): Promise<Customer | null> {
  await lockKey(op.tx, 'customer.externalId', `${orgId}:${externalId}`);
  return op.tx.customer.findUnique({ where: { orgId_externalId: { orgId, externalId } } });
}

/** Creates the customer; its org's unrestricted global connections become available to it (feed events commit with it). */
async function insert(op: Op, orgId: string, input: z.output<typeof CustomerFields>, action: string): Promise<Customer> {
  const customer = await op.tx.customer.create({ data: { ...input, orgId, metadata: (input.metadata ?? {}) as object } });
  await refreshCustomerAvailability(op, orgId);
  await emitEvent(op, orgId, 'customer.created', () => customerEventData(customer));
  await op.audit(action, 'Customer', customer.id);
  return customer;
}

export async function createCustomer(op: Op, raw: unknown): Promise<Customer> {
  const input = parseInput(CustomerFields, raw);
  const { orgId } = orgOwned(op.actor);
  if (await lockExternalId(op, orgId, input.externalId)) {
    throw new ConflictError('A customer with this externalId already exists');
  }
  return insert(op, orgId, input, 'customer.create');
}

/**
 * The customer user an embed token names (auth/tokens.ts): created on first
 * use, its profile (email, name) kept as the vendor's latest token says, and
 * when it was last seen — as the gateway's own bookkeeping. Creations and
 * profile changes are audited; a mere sighting is not.
 */
export async function recordCustomerUser(
  app: App,
  user: { orgId: string; customerId: string; externalId: string; email: string | null; name: string | null; isNew: boolean; profileChanged: boolean },
): Promise<{ id: string }> {
  const { orgId, customerId, externalId, email, name } = user;
  return write(app, systemActor(orgId, 'embed-token'), 'system', async (op) => {
    const row = await op.tx.customerUser.upsert({
      where: { customerId_externalId: { customerId, externalId } },
      create: { orgId, customerId, externalId, email, name },
      update: { email, name, lastSeenAt: new Date() },
      select: { id: true },
    });
    if (user.isNew || user.profileChanged) await op.audit(user.isNew ? 'customerUser.create' : 'customerUser.update', 'CustomerUser', row.id, { customerId });
    return row;
  });
}

/** The customer with this externalId, created when missing (unchanged when it exists). */
export async function ensureCustomer(op: Op, raw: unknown): Promise<{ customer: Customer; created: boolean }> {
  const input = parseInput(CustomerFields, raw);
  const { orgId } = orgOwned(op.actor);
  const existing = await lockExternalId(op, orgId, input.externalId);
  if (existing) return { customer: existing, created: false };
  return { customer: await insert(op, orgId, input, 'customer.create'), created: true };
}

/** Creates the customer with this externalId, or updates its name, description and metadata. */
export async function upsertCustomer(op: Op, raw: unknown): Promise<Customer> {
  const input = parseInput(CustomerFields, raw);
  const { orgId } = orgOwned(op.actor);
  const existing = await lockExternalId(op, orgId, input.externalId);
  if (!existing) return insert(op, orgId, input, 'customer.upsert');
  // Name and metadata do not change what the customer may pick: no availability refresh.
  const { externalId: _e, ...data } = input;
  const updated = await op.tx.customer.update({ where: { id: existing.id }, data: { ...data, metadata: data.metadata as object | undefined } });
  await op.audit('customer.upsert', 'Customer', existing.id);
  return updated;
}

async function findOwn(op: Op, id: string): Promise<Customer> {
  const found = await op.tx.customer.findFirst({ where: { id, ...orgOwned(op.actor) } });
  if (!found) throw new NotFoundError('Customer');
  return found;
}

export async function updateCustomer(op: Op, id: string, raw: unknown): Promise<Customer> {
  const patch = parseInput(CustomerPatch, raw);
  const found = await findOwn(op, id);
  const customer = await op.tx.customer.update({ where: { id: found.id }, data: { ...patch, metadata: patch.metadata as object | undefined } });
  await op.audit('customer.update', 'Customer', customer.id);
  return customer;
}

/** Deletes the customer with its users, credential values, instances and workflows. */
export async function deleteCustomer(op: Op, id: string): Promise<void> {
  const found = await findOwn(op, id);
  await op.tx.customer.delete({ where: { id: found.id } });
  // The materialized picker set has no foreign keys; its rows go with the customer, under the feed lock (lock order).
  await lockAvailability(op.tx);
  await op.tx.availableSelection.deleteMany({ where: { customerId: found.id } });
  await emitEvent(op, found.orgId, 'customer.deleted', () => customerEventData(found));
  await op.audit('customer.delete', 'Customer', found.id);
}

/** What a customer's webhook events say about it. */
function customerEventData(c: Customer): Record<string, unknown> {
  return { customerId: c.id, externalId: c.externalId, name: c.name };
}

/**
 * Organizations and their users. An organization has no principal before it
 * exists: it is created by an operator (the admin CLI, the demo seed) together
 * with its first admin, and the creation is audited as that admin's.
 */
const OrgUserFields = z.object({
  email: z.string().trim().toLowerCase().email('must be an email address').max(320),
  name: z.string().trim().min(1, 'must not be empty').max(200, 'at most 200 characters'),
});

const OrganizationFields = z.object({
  name: displayName,
  slug: z
    .string()
    .trim()
    .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'lower-case letters, digits and -; ≤ 63 chars; starts with a letter or digit'),
  admin: OrgUserFields,
});
export type OrganizationInput = z.input<typeof OrganizationFields>;

export async function createOrganization(
  app: App,
  raw: unknown,
  via: Surface = 'system',
): Promise<{ organization: Organization; admin: OrgUser; principal: OrgPrincipal }> {
  const input = parseInput(OrganizationFields, raw);
  return transaction(app.db.prisma, async (unit) => {
    if (await unit.tx.organization.findUnique({ where: { slug: input.slug }, select: { id: true } })) {
      throw new ConflictError('An organization with this slug already exists');
    }
    const organization = await unit.tx.organization.create({ data: { name: input.name, slug: input.slug } });
    const admin = await unit.tx.orgUser.create({ data: { orgId: organization.id, ...input.admin } });
    const principal: OrgPrincipal = { kind: 'ORG_USER', id: admin.id, orgId: organization.id, email: admin.email };
    await audit(unit.tx, principal, via, 'organization.create', 'Organization', organization.id);
    await audit(unit.tx, principal, via, 'orgUser.create', 'OrgUser', admin.id);
    return { organization, admin, principal };
  });
}

/** Adds a user to the acting principal's organization (they sign in with OpenID Connect by this email). */
export async function addOrgUser(op: Op, raw: unknown): Promise<OrgUser> {
  const input = parseInput(OrgUserFields, raw);
  const { orgId } = orgOwned(op.actor);
  if (await op.tx.orgUser.findUnique({ where: { orgId_email: { orgId, email: input.email } }, select: { id: true } })) {
    throw new ConflictError('A user with this email already exists in the organization');
  }
  const user = await op.tx.orgUser.create({ data: { orgId, ...input } });
  await op.audit('orgUser.create', 'OrgUser', user.id);
  return user;
}

// ───────────────────────────── organization settings ─────────────────────────────

const origin = z
  .string()
  .max(300)
  .refine((v) => {
    try {
      const u = new URL(v);
      return (u.protocol === 'https:' || u.protocol === 'http:') && u.origin === v;
    } catch {
      return false;
    }
  }, 'must be an origin: scheme://host[:port], nothing after it');

const colour = z.string().regex(/^#[0-9a-fA-F]{6}$/, 'must be a colour as #rrggbb').nullish();

/**
 * A logo the Connect page shows: an https URL, or a small image as a data URL
 * (an <img> never runs what an image holds; the page's CSP allows only these).
 */
const logoUrl = z
  .string()
  .max(16_000, 'at most 16000 characters (a data URL for a small logo; otherwise an https URL)')
  .refine((v) => {
    if (/^data:image\/(png|jpeg|gif|webp|svg\+xml);base64,[A-Za-z0-9+/=]+$/.test(v)) return true;
    try {
      return new URL(v).protocol === 'https:';
    } catch {
      return false;
    }
  }, 'must be an https URL or a data:image/…;base64 URL')
  .nullish();

/** The organization's settings; absent ones are kept, null clears a list (or a branding setting). */
const OrganizationSettings = z.object({
  /** Origins an OAuth2 flow may send the browser back to (successUrl / failureUrl). */
  oauthRedirectOrigins: z.array(origin).max(50, 'at most 50 origins').nullish(),
  brandLogoUrl: logoUrl,
  brandPrimaryColor: colour,
  brandBackgroundColor: colour,
  /** Proxy calls may name any base URL (`Base-Url-Override`), not only their connector's own origin. */
  allowProxyBaseUrlOverride: z.boolean().nullish(),
});

export async function updateOrganizationSettings(op: Op, raw: unknown): Promise<Organization> {
  const input = parseInput(OrganizationSettings, raw);
  const { orgId } = orgOwned(op.actor);
  // Where credentials may be sent is a credential decision (auth/limits.ts).
  if (input.allowProxyBaseUrlOverride) assertWithinLimits(op.actor, 'credentials');
  const org = await op.tx.organization.update({
    where: { id: orgId },
    data: {
      ...(input.oauthRedirectOrigins !== undefined ? { oauthRedirectOrigins: [...new Set(input.oauthRedirectOrigins ?? [])] } : {}),
      ...(input.brandLogoUrl !== undefined ? { brandLogoUrl: input.brandLogoUrl } : {}),
      ...(input.brandPrimaryColor !== undefined ? { brandPrimaryColor: input.brandPrimaryColor?.toLowerCase() ?? null } : {}),
      ...(input.brandBackgroundColor !== undefined ? { brandBackgroundColor: input.brandBackgroundColor?.toLowerCase() ?? null } : {}),
      ...(input.allowProxyBaseUrlOverride != null ? { allowProxyBaseUrlOverride: input.allowProxyBaseUrlOverride } : {}),
    },
  });
  await op.audit('organization.settings', 'Organization', orgId, { changed: Object.keys(input) });
  return org;
}
