import { randomBytes } from 'node:crypto';
import { SignJWT, decodeProtectedHeader, errors as joseErrors, importSPKI, jwtVerify, type JWTPayload } from 'jose';
import { LRUCache } from 'lru-cache';
import { sha256Hex } from '../crypto/digest.js';
import type { PrismaClient } from '../generated/prisma/client.js';
import { isUuid } from '../ids.js';
import type { Principal } from './principal.js';

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
/** Seen again within this, a customer user's profile is not written again. */
const SEEN_WRITE_INTERVAL_MS = 60_000;

/**
 * What verifying a credential writes down, done by the services (access and
 * tenancy) in a unit of work of their own, attributed to the gateway: an API
 * key's last use, and the customer user an embed token names (created on
 * first use, its profile kept current).
 */
export interface CredentialUse {
  apiKeyUsed(key: { id: string; orgId: string }): Promise<void>;
  customerUserSeen(user: { orgId: string; customerId: string; externalId: string; email: string | null; name: string | null; isNew: boolean; profileChanged: boolean }): Promise<{ id: string }>;
}

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

  constructor(
    secret: string,
    private readonly prisma: PrismaClient,
    private readonly use: CredentialUse,
  ) {
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
    claims: { orgId: string; customerId: string; instanceId?: string | null; workflowId?: string | null },
    ttlSeconds = 3600,
  ): Promise<string> {
    return new SignJWT({
      org: claims.orgId,
      ...(claims.instanceId ? { instance: claims.instanceId } : {}),
      ...(claims.workflowId ? { workflow: claims.workflowId } : {}),
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

  /** Resolves a bearer credential to a principal, or throws AuthError. */
  async authenticate(bearer: string): Promise<Principal> {
    if (bearer.startsWith(API_KEY_PREFIX)) return this.apiKey(bearer);
    let alg: string | undefined;
    try {
      alg = decodeProtectedHeader(bearer).alg;
    } catch {
      throw new AuthError('malformed token');
    }
    return alg === 'HS256' ? this.gatewayToken(bearer) : this.embedToken(bearer);
  }

  private async apiKey(secret: string): Promise<Principal> {
    const key = await this.prisma.apiKey.findUnique({ where: { hash: hashApiKey(secret) } });
    if (!key || key.revokedAt) throw new AuthError('invalid API key');
    // Last-used is advisory: refresh it at most once a minute per key.
    if (!key.lastUsedAt || Date.now() - key.lastUsedAt.getTime() > 60_000) await this.use.apiKeyUsed(key);
    return {
      kind: 'API_KEY',
      id: key.id,
      orgId: key.orgId,
      readOnly: key.readOnly,
      noCredentialWrites: key.noCredentialWrites,
    };
  }

  private async verifyGatewayToken(token: string): Promise<JWTPayload> {
    const known = this.verified.get(token);
    if (known && known.exp! * 1000 > Date.now()) return known;
    const { payload } = await jwtVerify(token, this.key, {
      issuer: ISSUER,
      algorithms: ['HS256'],
      requiredClaims: ['exp', 'iat', 'sub', 'aud'],
    }).catch(rethrow);
    this.verified.set(token, payload, { ttl: Math.max(1, payload.exp! * 1000 - Date.now()) });
    return payload;
  }

  private async gatewayToken(token: string): Promise<Principal> {
    const payload = await this.verifyGatewayToken(token);
    const org = typeof payload.org === 'string' ? payload.org : undefined;
    if (!org || !payload.sub || !payload.exp) throw new AuthError('invalid token claims');
    if (payload.aud === 'org' || payload.aud === 'runtime' || payload.aud === 'connect') assertLifetime(payload, MAX_LIFETIME_S[payload.aud], 'token');
    if (payload.aud === 'org') {
      const user = await this.prisma.orgUser.findFirst({ where: { id: payload.sub, orgId: org } });
      if (!user) throw new AuthError('unknown user');
      return { kind: 'ORG_USER', id: user.id, orgId: user.orgId, email: user.email };
    }
    if (payload.aud === 'runtime') {
      const customer = await this.prisma.customer.findFirst({ where: { id: payload.sub, orgId: org }, select: { id: true } });
      if (!customer) throw new AuthError('unknown customer');
      return {
        kind: 'RUNTIME',
        id: payload.jti ?? payload.sub,
        orgId: org,
        customerId: customer.id,
        instanceId: typeof payload.instance === 'string' ? payload.instance : null,
        workflowId: typeof payload.workflow === 'string' ? payload.workflow : null,
        expiresAt: new Date(payload.exp * 1000),
      };
    }
    if (payload.aud === 'connect') {
      const linkId = typeof payload.link === 'string' && isUuid(payload.link) ? payload.link : undefined;
      const link = linkId ? await this.prisma.connectLink.findFirst({ where: { id: linkId, orgId: org, revokedAt: null } }) : null;
      if (!link) throw new AuthError('connect link revoked');
      const user = await this.prisma.customerUser.findFirst({ where: { id: payload.sub, customerId: link.customerId } });
      if (!user) throw new AuthError('unknown user');
      return {
        kind: 'CUSTOMER_USER',
        id: user.id,
        orgId: org,
        customerId: link.customerId,
        signingKeyId: link.id,
        connectionIds: link.connectionIds,
        expiresAt: new Date(payload.exp * 1000),
      };
    }
    throw new AuthError('invalid token audience');
  }

  private async embedToken(token: string): Promise<Principal> {
    const { kid, alg } = decodeProtectedHeader(token);
    if (!kid || (alg !== 'RS256' && alg !== 'ES256')) throw new AuthError('embed token needs kid and RS256/ES256');
    if (!isUuid(kid)) throw new AuthError('unknown signing key');
    const signingKey = await this.prisma.embedSigningKey.findUnique({ where: { id: kid } });
    if (!signingKey || signingKey.revokedAt || signingKey.alg !== alg) throw new AuthError('unknown signing key');
    const spkiKey = `${signingKey.id}:${alg}:${signingKey.publicKey}`;
    let key = this.spki.get(spkiKey);
    if (!key) this.spki.set(spkiKey, (key = await importSPKI(signingKey.publicKey, alg)));
    const { payload } = await jwtVerify(token, key, { algorithms: [alg], requiredClaims: ['exp', 'iat', 'sub'] }).catch(rethrow);
    assertLifetime(payload, MAX_LIFETIME_S.embed, 'embed token');
    const externalId = typeof payload.customer === 'string' ? payload.customer : undefined;
    if (!externalId || !payload.sub) throw new AuthError('embed token needs sub and customer claims');
    // The customer and its user in one statement; the user is written only when new, changed or not seen for a minute.
    const customer = await this.prisma.customer.findUnique({
      where: { orgId_externalId: { orgId: signingKey.orgId, externalId } },
      select: { id: true, orgId: true, users: { where: { externalId: payload.sub }, select: { id: true, email: true, name: true, lastSeenAt: true } } },
    });
    if (!customer) throw new AuthError('unknown customer');
    const profile = {
      email: typeof payload.email === 'string' ? payload.email : null,
      name: typeof payload.name === 'string' ? payload.name : null,
    };
    const seen = customer.users[0];
    const profileChanged = !!seen && (seen.email !== profile.email || seen.name !== profile.name);
    const user =
      seen && !profileChanged && Date.now() - seen.lastSeenAt.getTime() < SEEN_WRITE_INTERVAL_MS
        ? seen
        : await this.use.customerUserSeen({ orgId: customer.orgId, customerId: customer.id, externalId: payload.sub, ...profile, isNew: !seen, profileChanged });
    return {
      kind: 'CUSTOMER_USER',
      id: user.id,
      orgId: customer.orgId,
      customerId: customer.id,
      signingKeyId: signingKey.id,
      connectionIds: null,
      expiresAt: new Date(payload.exp! * 1000),
    };
  }

  /**
   * Which of these principals' credentials no longer stand: a revoked (or
   * deleted) API key, or a customer user whose grant — embed signing key or
   * connect link (`signingKeyId` names either; ids are UUIDs) — was revoked.
   * Long-lived uses — subscriptions, OAuth flows — ask again; two statements
   * whatever the number of principals.
   */
  async revokedAmong<P extends Pick<Principal, 'kind' | 'id'> & { signingKeyId?: string | null }>(principals: P[]): Promise<Set<P>> {
    const keyIds = [...new Set(principals.filter((p) => p.kind === 'API_KEY').map((p) => p.id))];
    const signingKeyIds = [...new Set(principals.flatMap((p) => (p.kind === 'CUSTOMER_USER' && p.signingKeyId ? [p.signingKeyId] : [])))];
    const [keys, signingKeys, links] = await Promise.all([
      keyIds.length ? this.prisma.apiKey.findMany({ where: { id: { in: keyIds }, revokedAt: null }, select: { id: true } }) : [],
      signingKeyIds.length ? this.prisma.embedSigningKey.findMany({ where: { id: { in: signingKeyIds }, revokedAt: null }, select: { id: true } }) : [],
      signingKeyIds.length ? this.prisma.connectLink.findMany({ where: { id: { in: signingKeyIds }, revokedAt: null }, select: { id: true } }) : [],
    ]);
    const standing = new Set([...keys, ...signingKeys, ...links].map((k) => k.id));
    return new Set(
      principals.filter((p) =>
        p.kind === 'API_KEY' ? !standing.has(p.id) : p.kind === 'CUSTOMER_USER' ? !p.signingKeyId || !standing.has(p.signingKeyId) : false,
      ),
    );
  }
}

function rethrow(err: unknown): never {
  if (err instanceof joseErrors.JWTExpired) throw new AuthError('token expired');
  if (err instanceof joseErrors.JOSEError) throw new AuthError('invalid token');
  throw err;
}
