import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { App } from '../../app.js';
import { assertWithinLimits } from '../../auth/limits.js';
import { principalOfActor } from '../../auth/principal.js';
import { sha256Hex } from '../../crypto/digest.js';
import { MAX_LIFETIME_S } from '../../auth/tokens.js';
import { NotFoundError, UnauthenticatedError, ValidationError, type FieldProblem } from '../../errors.js';
import type { ConnectLink } from '../../generated/prisma/client.js';
import { audit } from '../../audit.js';
import type { Op } from '../../op.js';
import { transaction } from '../../db/transaction.js';
import { parseInput } from '../../validation.js';
import { customerWhere } from '../tenancy/scope.js';
import { connectLinkWhere, usableLinkWhere } from './scope.js';

/**
 * Connect links: a vendor's backend invites someone with no login to set the
 * credentials of some customer-activated connections of one customer, on the
 * hosted Connect page (`/connect`). A link is single use (exchanged once for
 * a short-lived session), time-limited, limited to the connections it names
 * and revocable; only its token's SHA-256 is stored.
 */
export const CONNECT_PAGE_PATH = '/connect';

/** A link's token: `cgl_` and 32 random bytes; only its SHA-256 is stored. */
const CONNECT_LINK_PREFIX = 'cgl_';

export type ConnectLinkStatus = 'ACTIVE' | 'USED' | 'EXPIRED' | 'REVOKED';

/** Where a link stands, as its lists show it. */
export function linkStatus(l: Pick<ConnectLink, 'usedAt' | 'revokedAt' | 'expiresAt'>, now = new Date()): ConnectLinkStatus {
  if (l.revokedAt) return 'REVOKED';
  if (l.usedAt) return 'USED';
  return l.expiresAt <= now ? 'EXPIRED' : 'ACTIVE';
}
export const DEFAULT_LINK_TTL_S = 30 * 60;
export const MAX_LINK_TTL_S = 24 * 3600;
/** How long the session a link is exchanged for lasts (the page needs minutes; an OAuth flow included). */
export const SESSION_TTL_S = MAX_LIFETIME_S.connect;

const LinkInput = z.object({
  customerId: z.string().optional(),
  customerExternalId: z.string().min(1).max(256).nullish(),
  connections: z
    .array(z.string().min(1, 'must not be empty').max(256))
    .min(1, 'name at least one connection (by stableKey)')
    .max(50, 'at most 50 connections'),
  expiresIn: z
    .number()
    .int('whole seconds')
    .min(60, 'at least 60 seconds')
    .max(MAX_LINK_TTL_S, `at most ${MAX_LINK_TTL_S} seconds (24 hours)`)
    .nullish()
    .transform((v) => v ?? DEFAULT_LINK_TTL_S),
});
export type ConnectLinkInput = z.input<typeof LinkInput>;

/** The page's address for a link: the token rides in the fragment, which browsers never send to a server or in a Referer. */
export function linkUrl(app: App, token: string): string {
  return `${app.config.publicUrl}${CONNECT_PAGE_PATH}#link=${token}`;
}

/**
 * Creates a link for one customer of the caller's org and the named
 * connections (stable keys; each must be customer-activated and not
 * archived). Whoever holds it may set those credentials: a credential write.
 */
export async function createConnectLink(op: Op, raw: unknown): Promise<{ link: ConnectLink; token: string; url: string }> {
  assertWithinLimits(op.actor, 'credentials');
  const input = parseInput(LinkInput, raw);
  if (input.customerId === undefined && !input.customerExternalId) {
    throw ValidationError.field('customerId', 'give customerId or customerExternalId');
  }
  const customer = await op.tx.customer.findFirst({
    where: {
      AND: [customerWhere(principalOfActor(op.actor))],
      ...(input.customerId !== undefined ? { id: input.customerId } : { externalId: input.customerExternalId! }),
    },
    select: { id: true, orgId: true },
  });
  if (!customer) throw new NotFoundError('Customer');
  const keys = [...new Set(input.connections)];
  const found = await op.tx.connection.findMany({
    where: { orgId: customer.orgId, stableKey: { in: keys } },
    select: { id: true, stableKey: true, type: true, archivedAt: true },
  });
  const byKey = new Map(found.map((c) => [c.stableKey, c]));
  const problems: FieldProblem[] = [];
  input.connections.forEach((key, i) => {
    const c = byKey.get(key);
    if (!c) problems.push({ path: `connections.${i}`, message: 'no connection has this stableKey' });
    else if (c.type !== 'CUSTOMER_ACTIVATED') problems.push({ path: `connections.${i}`, message: `the connection is ${c.type}: customers do not configure it` });
    else if (c.archivedAt) problems.push({ path: `connections.${i}`, message: 'the connection is archived' });
  });
  if (problems.length) throw new ValidationError(problems);
  const token = CONNECT_LINK_PREFIX + randomBytes(32).toString('base64url');
  const link = await op.tx.connectLink.create({
    data: {
      orgId: customer.orgId,
      customerId: customer.id,
      connectionIds: keys.map((k) => byKey.get(k)!.id),
      tokenHash: sha256Hex(token),
      expiresAt: new Date(Date.now() + input.expiresIn * 1000),
      createdByKind: op.actor.kind,
      createdById: op.actor.id,
    },
  });
  await op.audit('connectLink.create', 'ConnectLink', link.id, { customerId: customer.id, connections: keys, expiresIn: input.expiresIn });
  return { link, token, url: linkUrl(op.app, token) };
}

/** Revokes a link: it can no longer be exchanged, and the session it was exchanged for ends at once (its subscriptions too, on every instance). Idempotent. */
export async function revokeConnectLink(op: Op, id: string): Promise<ConnectLink> {
  const found = await op.tx.connectLink.findFirst({ where: { id, ...connectLinkWhere(principalOfActor(op.actor)) } });
  if (!found) throw new NotFoundError('Connect link');
  const link = await op.tx.connectLink.update({ where: { id: found.id }, data: { revokedAt: found.revokedAt ?? new Date() } });
  await op.audit('connectLink.revoke', 'ConnectLink', link.id);
  // Its session's subscriptions (a session stands on its link as on a signing key) have ended everywhere when this answers.
  op.afterCommit(() => op.app.feed.endSubscriptionsOf({ kind: 'SIGNING_KEY', id: link.id }));
  return link;
}

/**
 * Exchanges a link's token, once, for a session: a customer user of the
 * link's customer (one per link) whose credential is limited to the link's
 * connections and lasts SESSION_TTL_S. A token that is unknown, used,
 * expired or revoked gets the same answer (no way to tell which).
 */
export async function exchangeConnectLink(app: App, token: string): Promise<{ accessToken: string; expiresAt: Date }> {
  const refused = new UnauthenticatedError('This link is invalid, expired, revoked or was already used; ask for a new one.');
  if (!token.startsWith(CONNECT_LINK_PREFIX) || token.length > 200) throw refused;
  const tokenHash = sha256Hex(token);
  return transaction(app.db.prisma, async ({ tx }) => {
    const now = new Date();
    const { count } = await tx.connectLink.updateMany({ where: usableLinkWhere(tokenHash, now), data: { usedAt: now } });
    if (count !== 1) throw refused;
    const link = await tx.connectLink.findUniqueOrThrow({ where: { tokenHash } });
    const user = await tx.customerUser.upsert({
      where: { customerId_externalId: { customerId: link.customerId, externalId: `connect-link:${link.id}` } },
      create: { orgId: link.orgId, customerId: link.customerId, externalId: `connect-link:${link.id}`, name: 'Connect link' },
      update: { lastSeenAt: now },
    });
    const actor = { kind: 'CUSTOMER_USER' as const, id: user.id, orgId: link.orgId, customerId: link.customerId, signingKeyId: link.id, connectionIds: link.connectionIds, expiresAt: now };
    await audit(tx, actor, 'connect', 'connectLink.exchange', 'ConnectLink', link.id);
    const accessToken = await app.tokens.signConnectSession({ orgId: link.orgId, userId: user.id, linkId: link.id }, SESSION_TTL_S);
    return { accessToken, expiresAt: new Date(now.getTime() + SESSION_TTL_S * 1000) };
  });
}
