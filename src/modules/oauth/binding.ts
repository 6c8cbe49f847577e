import { randomBytes } from 'node:crypto';
import { sameSecret, sha256Hex, signId, verifySignedId } from '../../crypto/digest.js';
import { isUuid } from '../../ids.js';

/**
 * How an OAuth2 flow is bound to whoever may complete it. The provider's
 * redirect back carries no principal, so the flow is bound three ways
 * (RFC 6749 §10.12):
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
export function signState(secret: string, id: string): string {
  return signId(secret, 'oauth-state', id);
}

/** The state row id when the signature is valid, else null. */
export function verifyState(secret: string, state: string): string | null {
  const id = verifySignedId(secret, 'oauth-state', state);
  return id && isUuid(id) ? id : null;
}

/** The `flow` parameter of a start link. */
export function signStartLink(secret: string, id: string): string {
  return signId(secret, 'oauth-start', id);
}

export function verifyStartLink(secret: string, flow: string): string | null {
  const id = verifySignedId(secret, 'oauth-start', flow);
  return id && isUuid(id) ? id : null;
}

/** The cookie that binds a flow to the browser that opened its start link: its name, a fresh value, and the hash kept. */
export function flowCookieName(id: string): string {
  return `cg_oauth_${id}`;
}

export function newBrowserBinding(): { value: string; hash: string } {
  const value = randomBytes(32).toString('base64url');
  return { value, hash: sha256Hex(value) };
}

/** Whether the browser's cookie is the one given when the link was opened. */
export function sameBrowser(cookie: string | undefined, hash: string | null): boolean {
  return !!cookie && !!hash && sameSecret(sha256Hex(cookie), hash);
}
