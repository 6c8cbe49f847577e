import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Prisma } from '../../generated/prisma/client.js';
import { isUuid } from '../../ids.js';

/**
 * Who may complete an OAuth2 flow. Starting one is a credential write on a
 * value (values/scope.ts `valueTarget` says which); the provider's redirect
 * back carries no principal, so the flow's `state` is its credential:
 * `<OAuthState id>.<HMAC-SHA256(AUTH_SECRET, id)>` — a forged state fails the
 * signature, a replayed one finds its row already used, an old one finds it
 * expired.
 */
function stateSignature(secret: string, id: string): string {
  return createHmac('sha256', secret).update(`oauth-state:${id}`).digest('base64url');
}

export function signState(secret: string, id: string): string {
  return `${id}.${stateSignature(secret, id)}`;
}

/** The state row id when the signature is valid, else null. */
export function verifyState(secret: string, state: string): string | null {
  const dot = state.indexOf('.');
  if (dot <= 0) return null;
  const id = state.slice(0, dot);
  const given = Buffer.from(state.slice(dot + 1));
  const expected = Buffer.from(stateSignature(secret, id));
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
  return isUuid(id) ? id : null;
}

/** A flow that may still be completed: not used, not expired. */
export function usableStateWhere(id: string, now: Date): Prisma.OAuthStateWhereInput {
  return { id, usedAt: null, expiresAt: { gt: now } };
}
