import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Digests and signatures of the gateway's own opaque values (API keys, link
 * tokens, OAuth2 flow ids, browser bindings): stored as hashes, handed out
 * signed with AUTH_SECRET, compared in constant time.
 */
export function sha256Hex(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}

/** `a` and `b` equal, compared in constant time (for the same length). */
export function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function hmac(secret: string, purpose: string, id: string): string {
  return createHmac('sha256', secret).update(`${purpose}:${id}`).digest('base64url');
}

/** `<id>.<HMAC-SHA256(secret, purpose:id)>`: an id handed out for one purpose, which only this gateway could have signed. */
export function signId(secret: string, purpose: string, id: string): string {
  return `${id}.${hmac(secret, purpose, id)}`;
}

/** The id of a value `signId` made for this purpose, or null when the signature does not hold. */
export function verifySignedId(secret: string, purpose: string, signed: string): string | null {
  const dot = signed.indexOf('.');
  if (dot <= 0) return null;
  const id = signed.slice(0, dot);
  return sameSecret(signed.slice(dot + 1), hmac(secret, purpose, id)) ? id : null;
}
