import type { Principal } from '../../auth/principal.js';
import type { Prisma } from '../../generated/prisma/client.js';

/**
 * Row-level visibility of tenancy records, in one place. Every query for
 * customers goes through these `where` builders, so a principal can never
 * read a row outside its org/customer, whatever id it guesses.
 */
const NOTHING = '00000000-0000-0000-0000-000000000000';

export function customerWhere(p: Principal | null): Prisma.CustomerWhereInput {
  if (!p) return { id: NOTHING };
  if (p.kind === 'ORG_USER' || p.kind === 'API_KEY') return { orgId: p.orgId };
  return { orgId: p.orgId, id: p.customerId };
}

export function orgWhere(p: Principal | null): Prisma.OrganizationWhereInput {
  return p ? { id: p.orgId } : { id: NOTHING };
}

/** An id no row has: used when a principal may see nothing. */
export const NO_ROW = NOTHING;

/** Guessed ids that are not UUIDs must not reach PostgreSQL (it would raise). */
export function uuidOrNone(id: string): string {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id) ? id : NOTHING;
}

/** `where` for org-owned rows: org principals see their org's, others nothing. */
export function orgOwnedWhere(p: Principal | null): { orgId: string } {
  return { orgId: p && (p.kind === 'ORG_USER' || p.kind === 'API_KEY') ? p.orgId : NOTHING };
}
