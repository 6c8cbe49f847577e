import { isOrgPrincipal, type Principal } from '../../auth/principal.js';
import type { Prisma } from '../../generated/prisma/client.js';
import { NO_ROW } from '../../ids.js';

/**
 * Who sees which connect links: org principals those of their org (links are
 * the vendor's invitations; the person who opens one never reads them back);
 * anyone else none. What a link's session may then do is the business of the
 * connections scope: its principal carries the link's connection set
 * (connections/scope.ts `customerVisibleConnection`).
 */
export function connectLinkWhere(p: Principal | null): Prisma.ConnectLinkWhereInput {
  return isOrgPrincipal(p) ? { orgId: p.orgId } : { id: NO_ROW };
}

/** A link that may still be exchanged: not used, not revoked, not expired. */
export function usableLinkWhere(tokenHash: string, now: Date): Prisma.ConnectLinkWhereInput {
  return { tokenHash, usedAt: null, revokedAt: null, expiresAt: { gt: now } };
}
