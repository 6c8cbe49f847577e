import type { App } from '../../app.js';
import type { Principal } from '../../auth/principal.js';
import { API_KEY_PREFIX, AuthError, hashApiKey } from '../../auth/tokens.js';
import { UnauthenticatedError } from '../../errors.js';
import { isUuid } from '../../ids.js';
import { recordCustomerUser } from '../tenancy/service.js';
import { recordApiKeyUse } from './service.js';

/**
 * Who is calling: a bearer credential (auth/tokens.ts checks its
 * cryptography) resolved to a principal by what it names, looked up on every
 * request — a revoked key, a deleted user or customer, a revoked link stops
 * working at once on every instance. What the lookup notes down (an API
 * key's last use, the customer user an embed token names) goes through the
 * services, as the gateway's own bookkeeping.
 */

/** Seen again within this, a customer user's profile is not written again. */
const SEEN_WRITE_INTERVAL_MS = 60_000;

/**
 * The principal of a credential (null without one); a bad credential is
 * UNAUTHENTICATED. `cached`: what an API key or a runtime token names may come
 * from the proxy's cache (modules/proxy/cache.ts), which every change of the
 * organization — a revoked key, a deleted customer — drops on every instance
 * before it answers; the token's signature and lifetime are checked every time.
 */
export async function principalOf(app: App, credential: string | null, cached = false): Promise<Principal | null> {
  if (!credential) return null;
  try {
    return await authenticate(app, credential, cached);
  } catch (err) {
    if (err instanceof AuthError) throw new UnauthenticatedError(`Invalid credential: ${err.message}`);
    throw err;
  }
}

/** Resolves a bearer credential to a principal, or throws AuthError. */
export async function authenticate(app: App, bearer: string, cached = false): Promise<Principal> {
  if (bearer.startsWith(API_KEY_PREFIX)) return apiKey(app, bearer, cached);
  // A token verified lately is one of the gateway's own (HS256): its header is not read again.
  if (app.tokens.remembers(bearer)) return gatewayToken(app, bearer, cached);
  const { alg, kid } = app.tokens.header(bearer);
  return alg === 'HS256' ? gatewayToken(app, bearer, cached) : embedToken(app, bearer, alg, kid);
}

async function apiKey(app: App, secret: string, cached: boolean): Promise<Principal> {
  const hash = hashApiKey(secret);
  const find = () => app.db.prisma.apiKey.findUnique({ where: { hash } });
  const key = cached
    ? (
        await app.proxyCache.load(null, `api-key:${hash}`, async () => {
          const row = await find();
          return { orgId: row?.orgId ?? null, value: { row } };
        })
      ).row
    : await find();
  if (!key || key.revokedAt) throw new AuthError('invalid API key');
  // Last-used is advisory: noted at most once a minute per key.
  if (!key.lastUsedAt || Date.now() - key.lastUsedAt.getTime() > 60_000) await recordApiKeyUse(app, key);
  return { kind: 'API_KEY', id: key.id, orgId: key.orgId, readOnly: key.readOnly, noCredentialWrites: key.noCredentialWrites, credentialReads: key.credentialReads };
}

async function gatewayToken(app: App, token: string, cached: boolean): Promise<Principal> {
  const payload = await app.tokens.verifyGatewayToken(token);
  const prisma = app.db.prisma;
  const org = typeof payload.org === 'string' ? payload.org : undefined;
  if (!org || !payload.sub) throw new AuthError('invalid token claims');
  if (payload.aud === 'org') {
    // Every admin request starts here: one indexed read straight on the driver, not through the ORM's result mapping.
    const claims = orgUserClaims(payload);
    const [user] = claims ? await app.db.driverQuery(`SELECT "id", "orgId", "email" ${ORG_USER_ROW}`, [claims.sub, claims.org]) : [];
    if (!user) throw new AuthError('unknown user');
    const [id, orgId, email] = user as [string, string, string];
    return { kind: 'ORG_USER', id, orgId, email };
  }
  if (payload.aud === 'runtime') {
    const sub = payload.sub;
    // Every runtime call starts here: one indexed driver read (no ORM result mapping); a non-UUID subject names no customer.
    const find = async () => {
      const [row] = isUuid(sub) && isUuid(org) ? await app.db.driverQuery('SELECT "id", "externalId" FROM "Customer" WHERE "id" = $1 AND "orgId" = $2', [sub, org]) : [];
      return row ? { id: row[0] as string, externalId: row[1] as string } : null;
    };
    const customer = cached
      ? (await app.proxyCache.load(org, `runtime-customer:${org}:${sub}`, async () => ({ orgId: org, value: { row: await find() } }))).row
      : await find();
    if (!customer) throw new AuthError('unknown customer');
    return {
      kind: 'RUNTIME',
      id: payload.jti ?? payload.sub,
      orgId: org,
      customerId: customer.id,
      customerExternalId: customer.externalId,
      instanceId: typeof payload.instance === 'string' ? payload.instance : null,
      workflowId: typeof payload.workflow === 'string' ? payload.workflow : null,
      proxyOnly: payload.use === 'proxy',
      expiresAt: new Date(payload.exp * 1000),
    };
  }
  if (payload.aud === 'connect') {
    const linkId = typeof payload.link === 'string' && isUuid(payload.link) ? payload.link : undefined;
    const link = linkId ? await prisma.connectLink.findFirst({ where: { id: linkId, orgId: org, revokedAt: null } }) : null;
    if (!link) throw new AuthError('connect link revoked');
    const user = await prisma.customerUser.findFirst({ where: { id: payload.sub, customerId: link.customerId } });
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

/** Where an org user's token finds its user: it stands while that row exists ($1 the user, $2 the organization). */
const ORG_USER_ROW = 'FROM "OrgUser" WHERE "id" = $1 AND "orgId" = $2';

/** The user and organization an org user's verified token names, or null when it is not one, or names ids no row can have. */
function orgUserClaims(payload: { aud?: unknown; sub?: unknown; org?: unknown }): { sub: string; org: string } | null {
  const { aud, sub, org } = payload;
  return aud === 'org' && typeof sub === 'string' && typeof org === 'string' && isUuid(sub) && isUuid(org) ? { sub, org } : null;
}

/**
 * An org user's bearer, checked inside a statement the caller sends anyway
 * (http/hot-lists.ts saves the request's other round trip): the token
 * verified here exactly as `authenticate` verifies it, and the same row check
 * as a SQL expression for the caller's statement — true while the user
 * exists, NULL once it is gone, and then the caller must discard what the
 * statement read and authenticate the ordinary way (which refuses). The
 * principal is for planning that statement: kind, user and organization as
 * the token names them (the row check matches both); its email is the row's
 * and not known until then. Null for any other bearer, or claims no user can
 * match; a bad token throws, as `authenticate` does.
 */
export async function orgUserBearer(
  app: App,
  bearer: string,
): Promise<{ principal: Principal; check(param: (value: string) => string): string } | null> {
  if (bearer.startsWith(API_KEY_PREFIX) || !(app.tokens.remembers(bearer) || app.tokens.header(bearer).alg === 'HS256')) return null;
  const claims = orgUserClaims(await app.tokens.verifyGatewayToken(bearer));
  if (!claims) return null;
  const { sub, org } = claims;
  return {
    principal: { kind: 'ORG_USER', id: sub, orgId: org, email: '' },
    check: (param) => {
      const placeholders = [param(sub), param(org)];
      return `(SELECT true ${ORG_USER_ROW.replace(/\$([12])/g, (_, n: string) => placeholders[Number(n) - 1]!)})`;
    },
  };
}

async function embedToken(app: App, token: string, alg: string | undefined, kid: string | undefined): Promise<Principal> {
  if (!kid || (alg !== 'RS256' && alg !== 'ES256')) throw new AuthError('embed token needs kid and RS256/ES256');
  if (!isUuid(kid)) throw new AuthError('unknown signing key');
  const prisma = app.db.prisma;
  const signingKey = await prisma.embedSigningKey.findUnique({ where: { id: kid } });
  if (!signingKey || signingKey.revokedAt || signingKey.alg !== alg) throw new AuthError('unknown signing key');
  const payload = await app.tokens.verifyEmbedToken(token, signingKey);
  const externalId = typeof payload.customer === 'string' ? payload.customer : undefined;
  if (!externalId || !payload.sub) throw new AuthError('embed token needs sub and customer claims');
  // The customer and its user in one statement; the user is written only when new, changed or not seen for a minute.
  const customer = await prisma.customer.findUnique({
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
      : await recordCustomerUser(app, { orgId: customer.orgId, customerId: customer.id, externalId: payload.sub, ...profile, isNew: !seen, profileChanged });
  return {
    kind: 'CUSTOMER_USER',
    id: user.id,
    orgId: customer.orgId,
    customerId: customer.id,
    signingKeyId: signingKey.id,
    connectionIds: null,
    expiresAt: new Date(payload.exp * 1000),
  };
}

/**
 * Which of these principals' credentials no longer stand: a revoked (or
 * deleted) API key, or a customer user whose grant — embed signing key or
 * connect link (`signingKeyId` names either; ids are UUIDs) — was revoked.
 * Long-lived uses — subscriptions, OAuth flows — ask again; two statements
 * whatever the number of principals.
 */
export async function revokedAmong<P extends Pick<Principal, 'kind' | 'id'> & { signingKeyId?: string | null }>(app: App, principals: P[]): Promise<Set<P>> {
  const prisma = app.db.prisma;
  const keyIds = [...new Set(principals.filter((p) => p.kind === 'API_KEY').map((p) => p.id))];
  const signingKeyIds = [...new Set(principals.flatMap((p) => (p.kind === 'CUSTOMER_USER' && p.signingKeyId ? [p.signingKeyId] : [])))];
  const [keys, signingKeys, links] = await Promise.all([
    keyIds.length ? prisma.apiKey.findMany({ where: { id: { in: keyIds }, revokedAt: null }, select: { id: true } }) : [],
    signingKeyIds.length ? prisma.embedSigningKey.findMany({ where: { id: { in: signingKeyIds }, revokedAt: null }, select: { id: true } }) : [],
    signingKeyIds.length ? prisma.connectLink.findMany({ where: { id: { in: signingKeyIds }, revokedAt: null }, select: { id: true } }) : [],
  ]);
  const standing = new Set([...keys, ...signingKeys, ...links].map((k) => k.id));
  return new Set(
    principals.filter((p) =>
      p.kind === 'API_KEY' ? !standing.has(p.id) : p.kind === 'CUSTOMER_USER' ? !p.signingKeyId || !standing.has(p.signingKeyId) : false,
    ),
  );
}
