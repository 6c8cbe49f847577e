import type { Actor } from '../../auth/principal.js';
import type { Prisma } from '../../generated/prisma/client.js';

/**
 * Who may complete an OAuth2 flow. Starting one is a credential write on a
 * value (values/scope.ts `valueTarget` says which); completing it is bound
 * to the flow's signed state, the browser that opened its start link and
 * its starter's standing credential (binding.ts).
 */
/** Who starts a flow, as the flow records it (customer users with the key their token was signed with). */
export function starterOf(p: Actor): { startedByKind: string; startedById: string; startedViaKey: string | null } {
  return { startedByKind: p.kind, startedById: p.id, startedViaKey: p.kind === 'CUSTOMER_USER' ? p.signingKeyId : null };
}

/** A flow that may still be completed: not used, not expired. */
export function usableStateWhere(id: string, now: Date): Prisma.OAuthStateWhereInput {
  return { id, usedAt: null, expiresAt: { gt: now } };
}
