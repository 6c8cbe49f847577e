import { isOrgPrincipal, type Actor, type Principal } from '../../auth/principal.js';
import type { Prisma, PrismaClient } from '../../generated/prisma/client.js';
import { NO_ROW } from '../../ids.js';
import type { Tx } from '../../db/transaction.js';

/**
 * Who sees which tenancy records. Every read of organizations, customers and
 * their users goes through these filters, so a principal never reads a row
 * outside its org or customer, whatever id it guesses.
 *
 * - org principals: their organization and everything in it;
 * - customer users and runtimes: their organization (name only) and their own customer;
 * - anonymous: nothing.
 */
export function orgWhere(p: Principal | null): Prisma.OrganizationWhereInput {
  return { id: p ? p.orgId : NO_ROW };
}

/** Rows an org owns (API keys, org users, catalogue rows…), for org principals; anyone else owns nothing. */
export function orgOwned(p: Actor | null): { orgId: string } {
  return { orgId: isOrgPrincipal(p) ? p.orgId : NO_ROW };
}

export function customerWhere(p: Principal | null): Prisma.CustomerWhereInput {
  if (!p) return { id: NO_ROW };
  if (isOrgPrincipal(p)) return { orgId: p.orgId };
  return { orgId: p.orgId, id: p.customerId };
}

/**
 * "Which customer" an operation is about, the same way everywhere: customer
 * users always act on their own customer (naming another is naming one that
 * does not exist); org principals name one of their org. Answers the
 * customer's id, `null` when there is none this principal may act on, or
 * `'REQUIRED'` when an org principal named none.
 */
export async function whichCustomer(
  db: PrismaClient | Tx,
  p: Principal | null,
  customerId: string | undefined,
): Promise<string | null | 'REQUIRED'> {
  if (p?.kind === 'CUSTOMER_USER') return customerId === undefined || customerId === p.customerId ? p.customerId : null;
  if (!isOrgPrincipal(p)) return null;
  if (customerId === undefined) return 'REQUIRED';
  const found = await db.customer.findFirst({ where: { id: customerId, orgId: p.orgId }, select: { id: true } });
  return found?.id ?? null;
}
