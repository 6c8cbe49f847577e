import { createHash, randomBytes } from 'node:crypto';
import { SignJWT, decodeProtectedHeader, errors as joseErrors, importSPKI, jwtVerify } from 'jose';
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
 */
export const API_KEY_PREFIX = 'cgk_';
const ISSUER = 'connections-gateway';
const EMBED_MAX_LIFETIME_S = 24 * 3600;

export class AuthError extends Error {
  override name = 'AuthError';
}

export function hashApiKey(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

export function newApiKeySecret(): { secret: string; prefix: string; hash: string } {
  const secret = API_KEY_PREFIX + randomBytes(32).toString('base64url');
  return { secret, prefix: secret.slice(0, API_KEY_PREFIX.length + 6), hash: hashApiKey(secret) };
}

export class TokenService {
  private readonly key: Uint8Array;

  constructor(
    secret: string,
    private readonly prisma: PrismaClient,
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
    if (!key.lastUsedAt || Date.now() - key.lastUsedAt.getTime() > 60_000) {
      await this.prisma.apiKey.update({ where: { id: key.id }, data: { lastUsedAt: new Date() } });
    }
    return {
      kind: 'API_KEY',
      id: key.id,
      orgId: key.orgId,
      readOnly: key.readOnly,
      noCredentialWrites: key.noCredentialWrites,
    };
  }

  private async gatewayToken(token: string): Promise<Principal> {
    const { payload } = await jwtVerify(token, this.key, {
      issuer: ISSUER,
      algorithms: ['HS256'],
      requiredClaims: ['exp', 'sub', 'aud'],
    }).catch(rethrow);
    const org = typeof payload.org === 'string' ? payload.org : undefined;
    if (!org || !payload.sub || !payload.exp) throw new AuthError('invalid token claims');
    if (payload.aud === 'org') {
      const user = await this.prisma.orgUser.findFirst({ where: { id: payload.sub, orgId: org } });
      if (!user) throw new AuthError('unknown user');
      return { kind: 'ORG_USER', id: user.id, orgId: user.orgId, email: user.email };
    }
    if (payload.aud === 'runtime') {
      const customer = await this.prisma.customer.findFirst({ where: { id: payload.sub, orgId: org } });
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
    throw new AuthError('invalid token audience');
  }

  private async embedToken(token: string): Promise<Principal> {
    const { kid, alg } = decodeProtectedHeader(token);
    if (!kid || (alg !== 'RS256' && alg !== 'ES256')) throw new AuthError('embed token needs kid and RS256/ES256');
    if (!isUuid(kid)) throw new AuthError('unknown signing key');
    const signingKey = await this.prisma.embedSigningKey.findUnique({ where: { id: kid } });
    if (!signingKey || signingKey.revokedAt || signingKey.alg !== alg) throw new AuthError('unknown signing key');
    const key = await importSPKI(signingKey.publicKey, alg);
    const { payload } = await jwtVerify(token, key, {
      algorithms: [alg],
      requiredClaims: ['exp', 'iat', 'sub'],
    }).catch(rethrow);
    if (!payload.exp || !payload.iat || payload.exp - payload.iat > EMBED_MAX_LIFETIME_S) {
      throw new AuthError('embed token lifetime exceeds 24 hours');
    }
    const externalId = typeof payload.customer === 'string' ? payload.customer : undefined;
    if (!externalId || !payload.sub) throw new AuthError('embed token needs sub and customer claims');
    const customer = await this.prisma.customer.findUnique({
      where: { orgId_externalId: { orgId: signingKey.orgId, externalId } },
    });
    if (!customer) throw new AuthError('unknown customer');
    const profile = {
      email: typeof payload.email === 'string' ? payload.email : null,
      name: typeof payload.name === 'string' ? payload.name : null,
    };
    const user = await this.prisma.customerUser.upsert({
      where: { customerId_externalId: { customerId: customer.id, externalId: payload.sub } },
      create: { orgId: customer.orgId, customerId: customer.id, externalId: payload.sub, ...profile },
      update: { ...profile, lastSeenAt: new Date() },
    });
    return {
      kind: 'CUSTOMER_USER',
      id: user.id,
      orgId: customer.orgId,
      customerId: customer.id,
      expiresAt: new Date(payload.exp * 1000),
    };
  }
}

function rethrow(err: unknown): never {
  if (err instanceof joseErrors.JWTExpired) throw new AuthError('token expired');
  if (err instanceof joseErrors.JOSEError) throw new AuthError('invalid token');
  throw err;
}
