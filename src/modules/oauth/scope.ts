import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Actor } from '../../auth/principal.js';
import type { Prisma } from '../../generated/prisma/client.js';
import { isUuid } from '../../ids.js';

/**
 * Who may complete an OAuth2 flow. Starting one is a credential write on a
 * value (values/scope.ts `valueTarget` says which); the provider's redirect
 * back carries no principal, so the flow is bound three ways (RFC 6749
 * §10.12):
 *
 * - its `state`, `<OAuthState id>.<HMAC-SHA256(AUTH_SECRET, id)>`: a forged
 *   state fails the signature, a replayed one finds its row already used, an
 *   old one finds it expired;
 * - the browser: the start link (signed the same way, for another purpose)
 *   opens once; the gateway gives that browser a cookie and keeps its hash;
 *   the callback completes only with it — a leaked provider URL completed in
 *   another browser stores nothing;
 * - the principal that started it: the callback checks its credential still
 *   stands (an API key or embed signing key revoked meanwhile stops it).
 */
function signature(secret: string, purpose: 'oauth-state' | 'oauth-start', id: string): string {
  return createHmac('sha256', secret).update(`${purpose}:${id}`).digest('base64url');
}

function verify(secret: string, purpose: 'oauth-state' | 'oauth-start', signed: string): string | null {
  const dot = signed.indexOf('.');
  if (dot <= 0) return null;
  const id = signed.slice(0, dot);
  const given = Buffer.from(signed.slice(dot + 1));
  const expected = Buffer.from(signature(secret, purpose, id));
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
  return isUuid(id) ? id : null;
}

export function signState(secret: string, id: string): string {
  return `${id}.${signature(secret, 'oauth-state', id)}`;
}

/** The state row id when the signature is valid, else null. */
export function verifyState(secret: string, state: string): string | null {
  return verify(secret, 'oauth-state', state);
}

/** The `flow` parameter of a start link. */
export function signStartLink(secret: string, id: string): string {
  return `${id}.${signature(secret, 'oauth-start', id)}`;
}

export function verifyStartLink(secret: string, flow: string): string | null {
  return verify(secret, 'oauth-start', flow);
}

/** The cookie that binds a flow to the browser that opened its start link: its name, a fresh value, and the hash kept. */
export function flowCookieName(id: string): string {
  return `cg_oauth_${id}`;
}

export function newBrowserBinding(): { value: string; hash: string } {
  const value = randomBytes(32).toString('base64url');
  return { value, hash: hashBinding(value) };
}

function hashBinding(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}

/** Whether the browser's cookie is the one given when the link was opened. */
export function sameBrowser(cookie: string | undefined, hash: string | null): boolean {
  if (!cookie || !hash) return false;
  const given = Buffer.from(hashBinding(cookie));
  const expected = Buffer.from(hash);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** Who starts a flow, as the flow records it (customer users with the key their token was signed with). */
export function starterOf(p: Actor): { startedByKind: string; startedById: string; startedViaKey: string | null } {
  return { startedByKind: p.kind, startedById: p.id, startedViaKey: p.kind === 'CUSTOMER_USER' ? p.signingKeyId : null };
}

/** A flow that may still be completed: not used, not expired. */
export function usableStateWhere(id: string, now: Date): Prisma.OAuthStateWhereInput {
  return { id, usedAt: null, expiresAt: { gt: now } };
}
