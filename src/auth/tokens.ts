import { randomBytes } from 'node:crypto';
import { SignJWT, decodeProtectedHeader, errors as joseErrors, importSPKI, jwtVerify, type JWTPayload } from 'jose';
import { LRUCache } from 'lru-cache';
import { sha256Hex } from '../crypto/digest.js';

/**
 * Bearer credentials the gateway accepts:
 *
 * - `cgk_…`            org API key (opaque; only its SHA-256 is stored).
 * - JWT, HS256         a token the gateway signed itself: org user session
 *                      (`aud: org`) or runtime token (`aud: runtime`).
 * - JWT, RS256/ES256   an *embed token* the vendor's backend signed for one of
 *                      its customer users with a key registered in the org
 *                      (`kid` = the EmbedSigningKey id). Claims: `sub` = the
 *                      vendor's user id, `customer` = the customer's externalId,
 *                      `exp` ≤ 24 h after `iat`. The user is created on first use.
 *
 * This file is their cryptography: signing, verifying, lifetimes. Who a
 * verified credential names (the key, the user, the customer) is looked up on
 * every request by modules/access/authenticate.ts.
 *
 * Lifetimes are enforced when a token is verified, not only when it is
 * signed: `iat` may not lie in the future (beyond a minute of clock skew) and
 * `exp` may be at most the cap after `iat` — so no token is valid for longer
 * than its cap from now, whoever signed it.
 */
export const API_KEY_PREFIX = 'cgk_';
const ISSUER = 'connections-gateway';
/** The longest a token of each kind may be valid (seconds). */
export const MAX_LIFETIME_S = { embed: 24 * 3600, org: 24 * 3600, runtime: 24 * 3600, connect: 3600 } as const;
const CLOCK_SKEW_S = 60;

/** After jose checked the signature and `exp`: `iat` not in the future, `exp` at most `cap` after it — so at most `cap` from now. */
function assertLifetime(payload: { iat?: number; exp?: number }, cap: number, what: string): void {
  if (!payload.exp || !payload.iat || payload.iat > Date.now() / 1000 + CLOCK_SKEW_S) throw new AuthError(`${what} issued in the future`);
  if (payload.exp - payload.iat > cap) throw new AuthError(`${what} lifetime exceeds ${cap / 3600} hours`);
}

export class AuthError extends Error {
  override name = 'AuthError';
}

export function hashApiKey(secret: string): string {
  return sha256Hex(secret);
}

export function newApiKeySecret(): { secret: string; prefix: string; hash: string } {
  const secret = API_KEY_PREFIX + randomBytes(32).toString('base64url');
  return { secret, prefix: secret.slice(0, API_KEY_PREFIX.length + 6), hash: hashApiKey(secret) };
}

/** How many verified gateway tokens are remembered (each for the rest of its lifetime). */
const VERIFIED_TOKENS = 10_000;

export class TokenService {
  private readonly key: Uint8Array;
  /**
   * Gateway-signed tokens whose signature and claims were verified, until
   * they expire: a token is a string the gateway signed, so verifying it
   * again can only give the same answer. What it names (the user, the
   * customer) is still looked up on every request.
   */
  private readonly verified = new LRUCache<string, JWTPayload>({ max: VERIFIED_TOKENS });
  /** Embed signing keys imported from their PEM, by id and PEM (a changed key is imported again). */
  private readonly spki = new LRUCache<string, CryptoKey>({ max: 1000 });

  constructor(secret: string) {
    this.key = new TextEncoder().encode(secret);
  }

  async signOrgUser(user: { id: string; orgId: string }, ttlSeconds = 12 * 3600): Promise<string> {
    return new SignJWT({ org: user.orgId })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer(ISSUER)
      .setAudience('org')
      .setSubject(user.id)
      .setIssuedAt()
      .setExpirationTime(Math.floor(Date.now() / 1000) + ttlSeconds)
      .sign(this.key);
  }

  async signRuntime(
    claims: { orgId: string; customerId: string; instanceId?: string | null; workflowId?: string | null; proxyOnly?: boolean },
    ttlSeconds = 3600,
  ): Promise<string> {
    return new SignJWT({
      org: claims.orgId,
      ...(claims.instanceId ? { instance: claims.instanceId } : {}),
      ...(claims.workflowId ? { workflow: claims.workflowId } : {}),
      // A proxy-only token: calls APIs through the gateway, never reads a credential.
      ...(claims.proxyOnly ? { use: 'proxy' } : {}),
    })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer(ISSUER)
      .setAudience('runtime')
      .setSubject(claims.customerId)
      .setJti(randomBytes(9).toString('base64url'))
      .setIssuedAt()
      .setExpirationTime(Math.floor(Date.now() / 1000) + ttlSeconds)
      .sign(this.key);
  }

  /**
   * The session a connect link is exchanged for (`aud: connect`, sub = the
   * link's customer user, `link` = the link): a customer user limited to the
   * link's connections, read from the link at every verification.
   */
  async signConnectSession(claims: { orgId: string; userId: string; linkId: string }, ttlSeconds: number): Promise<string> {
    return new SignJWT({ org: claims.orgId, link: claims.linkId })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer(ISSUER)
      .setAudience('connect')
      .setSubject(claims.userId)
      .setIssuedAt()
      .setExpirationTime(Math.floor(Date.now() / 1000) + Math.min(ttlSeconds, MAX_LIFETIME_S.connect))
      .sign(this.key);
  }

  /** Whether this is a gateway-signed token verified lately (then its header need not be read to know it is HS256). */
  remembers(token: string): boolean {
    return this.verified.has(token);
  }

  /** The protected header of a JWT (which key, which algorithm), or AuthError. */
  header(token: string): { alg?: string; kid?: string } {
    try {
      return decodeProtectedHeader(token);
    } catch {
      throw new AuthError('malformed token');
    }
  }

  /**
   * The claims of a token this gateway signed (HS256), verified: signature,
   * issuer, expiry, and the lifetime cap of its audience. Remembered until it
   * expires: verifying it again could only give the same answer.
   */
  async verifyGatewayToken(token: string): Promise<JWTPayload & { sub: string; exp: number }> {
    let payload = this.verified.get(token);
    if (!payload || payload.exp! * 1000 <= Date.now()) {
      payload = (
        await jwtVerify(token, this.key, {
          issuer: ISSUER,
          algorithms: ['HS256'],
          requiredClaims: ['exp', 'iat', 'sub', 'aud'],
        }).catch(rethrow)
      ).payload;
      this.verified.set(token, payload, { ttl: Math.max(1, payload.exp! * 1000 - Date.now()) });
    }
    if (payload.aud === 'org' || payload.aud === 'runtime' || payload.aud === 'connect') assertLifetime(payload, MAX_LIFETIME_S[payload.aud], 'token');
    return payload as JWTPayload & { sub: string; exp: number };
  }

  /** The claims of an embed token, verified with the vendor's registered public key (imported once per key). */
  async verifyEmbedToken(token: string, signingKey: { id: string; alg: string; publicKey: string }): Promise<JWTPayload & { sub: string; exp: number }> {
    const spkiKey = `${signingKey.id}:${signingKey.alg}:${signingKey.publicKey}`;
    let key = this.spki.get(spkiKey);
    if (!key) this.spki.set(spkiKey, (key = await importSPKI(signingKey.publicKey, signingKey.alg)));
    const { payload } = await jwtVerify(token, key, { algorithms: [signingKey.alg], requiredClaims: ['exp', 'iat', 'sub'] }).catch(rethrow);
    assertLifetime(payload, MAX_LIFETIME_S.embed, 'embed token');
    return payload as JWTPayload & { sub: string; exp: number };
  }
}

function rethrow(err: unknown): never {
  if (err instanceof joseErrors.JWTExpired) throw new AuthError('token expired');
  if (err instanceof joseErrors.JOSEError) throw new AuthError('invalid token');
  throw err;
}
