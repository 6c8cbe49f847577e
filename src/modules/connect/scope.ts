import { createHash } from 'node:crypto';
import { isOrgPrincipal, type Principal } from '../../auth/principal.js';
import type { ConnectLink, Prisma } from '../../generated/prisma/client.js';
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

export type ConnectLinkStatus = 'ACTIVE' | 'USED' | 'EXPIRED' | 'REVOKED';

/** Where a link stands, as its lists show it. */
export function linkStatus(l: Pick<ConnectLink, 'usedAt' | 'revokedAt' | 'expiresAt'>, now = new Date()): ConnectLinkStatus {
  if (l.revokedAt) return 'REVOKED';
  if (l.usedAt) return 'USED';
  return l.expiresAt <= now ? 'EXPIRED' : 'ACTIVE';
}

export const CONNECT_LINK_PREFIX = 'cgl_';

export function hashLinkToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}
