import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import { oauthStateAad } from '../../crypto/secrets.js';
import { transaction } from '../../db/transaction.js';
import { ValidationError } from '../../errors.js';
import type { Prisma, PrismaClient } from '../../generated/prisma/client.js';
import type { Services } from '../../services.js';
import {
  OAuth2SettingsSchema,
  connectorClientSecret,
  setConnectionValue,
  slotKey,
  type ConnectionWithConnector,
  type OAuth2Settings,
  type Slot,
} from '../connections/service.js';
import { lockValue } from '../../db/locks.js';
import { authorizeUrl, mergeTokens, newCodeVerifier, tokenRequest, type TokenSet } from './client.js';

/**
 * The OAuth2 authorization-code flow (with PKCE) and the client-credentials
 * grant, from "start" to stored, sealed tokens.
 *
 * `state` = `<OAuthState id>.<HMAC-SHA256(AUTH_SECRET, id)>`: a forged state
 * fails the signature, a replayed one finds its row already used, an old one
 * finds it expired. The PKCE verifier lives only in the row, sealed.
 */
export const STATE_TTL_MS = 10 * 60_000;
export const CALLBACK_PATH = '/oauth/callback';

export function callbackUrl(services: Services): string {
  return services.config.publicUrl + CALLBACK_PATH;
}

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
  return /^[0-9a-f-]{36}$/i.test(id) ? id : null;
}

export function slotFromKey(key: string): Slot {
  return key === 'GLOBAL' || key === 'TEST' ? { kind: key } : { kind: 'CUSTOMER', customerId: key };
}

/** The connector's OAuth2 settings, or a ValidationError when it is not an OAuth2 connector. */
export function oauthSettings(connection: ConnectionWithConnector, path = 'connectionId'): OAuth2Settings {
  if (connection.connector.authType !== 'OAUTH2' || !connection.connector.oauth2) {
    throw ValidationError.field(path, 'the connection does not use an OAuth2 connector');
  }
  const parsed = OAuth2SettingsSchema.safeParse(connection.connector.oauth2);
  if (!parsed.success) throw ValidationError.field(path, "the connector's OAuth2 settings are invalid");
  return parsed.data;
}

const redirectTarget = (path: string) => (v: string | null | undefined) => {
  if (v == null) return null;
  try {
    const u = new URL(v);
    if (u.protocol === 'http:' || u.protocol === 'https:') return u.toString();
  } catch {}
  throw ValidationError.field(path, 'must be an http(s) URL');
};

/** Creates a pending flow and returns the provider URL to send the user's browser to. */
export async function startAuthorization(
  prisma: Prisma.TransactionClient,
  services: Services,
  args: { connection: ConnectionWithConnector; slot: Slot; successUrl?: string | null; failureUrl?: string | null },
): Promise<{ authorizeUrl: string; expiresAt: Date; stateId: string }> {
  const settings = oauthSettings(args.connection);
  if (settings.grantType !== 'authorization_code') {
    throw ValidationError.field('connectionId', 'the connector uses the client_credentials grant: use connectOAuthClientCredentials');
  }
  const successUrl = redirectTarget('successUrl')(args.successUrl);
  const failureUrl = redirectTarget('failureUrl')(args.failureUrl);
  const id = randomUUID();
  const verifier = settings.pkce ? newCodeVerifier() : '';
  const expiresAt = new Date(Date.now() + STATE_TTL_MS);
  const redirectUri = callbackUrl(services);
  await prisma.oAuthState.create({
    data: {
      id,
      orgId: args.connection.orgId,
      connectionId: args.connection.id,
      valueSlot: slotKey(args.slot),
      codeVerifier: services.config.keyRing.encrypt(verifier, oauthStateAad(id)),
      redirectUri,
      successUrl,
      failureUrl,
      expiresAt,
    },
  });
  const url = authorizeUrl(settings, {
    redirectUri,
    state: signState(services.config.authSecret, id),
    codeVerifier: verifier || undefined,
  });
  return { authorizeUrl: url, expiresAt, stateId: id };
}

/** Stores freshly granted tokens as the slot's value, ACTIVE, through the connections service (availability, feed). */
export async function storeGrantedTokens(
  prisma: PrismaClient,
  services: Services,
  args: { connection: ConnectionWithConnector; slot: Slot; tokens: TokenSet; audit: { principalKind: string; principalId: string; action: string } },
) {
  const merged = mergeTokens({}, args.tokens);
  return transaction({ prisma, services }, async (tx) => {
    // Serialize with a refresh of the same value (see refresh.ts).
    const existing = await tx.connectionValue.findUnique({
      where: { connectionId_slot: { connectionId: args.connection.id, slot: slotKey(args.slot) } },
      select: { id: true },
    });
    if (existing) await lockValue(tx, existing.id);
    const value = await setConnectionValue(tx, services.config.keyRing, {
      connection: args.connection,
      slot: args.slot,
      values: { ...merged.secrets, ...merged.fields },
      status: 'ACTIVE',
      expiresAt: merged.expiresAt,
    });
    await tx.auditEvent.create({
      data: {
        orgId: args.connection.orgId,
        principalKind: args.audit.principalKind,
        principalId: args.audit.principalId,
        action: args.audit.action,
        targetType: 'ConnectionValue',
        targetId: value.id,
        detail: { connectionId: args.connection.id, slot: args.slot.kind },
      },
    });
    return value;
  });
}

/** Client-credentials grant: fetches a token with the connector's client and stores it. */
export async function clientCredentialsTokens(services: Services, connection: ConnectionWithConnector): Promise<TokenSet> {
  const settings = oauthSettings(connection);
  if (settings.grantType !== 'client_credentials') {
    throw ValidationError.field('connectionId', 'the connector uses the authorization_code grant: use startOAuthAuthorization');
  }
  return tokenRequest(settings, connectorClientSecret(services.config.keyRing, connection.connector), clientCredentialsParams(settings));
}

export function clientCredentialsParams(settings: OAuth2Settings): Record<string, string> {
  return {
    grant_type: 'client_credentials',
    ...(settings.scopes.length ? { scope: settings.scopes.join(' ') } : {}),
    ...(settings.audience ? { audience: settings.audience } : {}),
  };
}

export type CallbackOutcome =
  | { ok: true; redirect: string | null; connectionId: string }
  | { ok: false; redirect: string | null; error: string; message: string };

function withParams(url: string, params: Record<string, string>): string {
  const u = new URL(url);
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
  return u.toString();
}

/**
 * Handles the provider's redirect back: checks and consumes the state (once),
 * exchanges the code (with the PKCE verifier), stores the tokens.
 */
export async function completeAuthorization(services: Services, query: URLSearchParams): Promise<CallbackOutcome> {
  const prisma = services.db.prisma;
  const ring = services.config.keyRing;
  const stateParam = query.get('state') ?? '';
  const id = verifyState(services.config.authSecret, stateParam);
  if (!id) return { ok: false, redirect: null, error: 'invalid_state', message: 'The authorization state is invalid.' };

  // Single use: exactly one callback can flip usedAt.
  const now = new Date();
  const { count } = await prisma.oAuthState.updateMany({
    where: { id, usedAt: null, expiresAt: { gt: now } },
    data: { usedAt: now },
  });
  const state = await prisma.oAuthState.findUnique({ where: { id } });
  if (!state) return { ok: false, redirect: null, error: 'invalid_state', message: 'The authorization state is unknown.' };
  const fail = (error: string, message: string): CallbackOutcome => ({
    ok: false,
    redirect: state.failureUrl ? withParams(state.failureUrl, { error, ...(count === 1 ? { connection: state.connectionId } : {}) }) : null,
    error,
    message,
  });
  if (count !== 1) {
    return state.expiresAt <= now && !state.usedAt
      ? fail('state_expired', 'The authorization request expired; start again.')
      : fail('state_used', 'This authorization response was already used.');
  }
  const audit = (action: string, detail: Record<string, unknown>) =>
    prisma.auditEvent.create({
      data: {
        orgId: state.orgId,
        principalKind: 'OAUTH_CALLBACK',
        principalId: state.id,
        action,
        targetType: 'Connection',
        targetId: state.connectionId,
        detail: detail as object,
      },
    });

  const providerError = query.get('error');
  if (providerError) {
    await audit('oauth.denied', { error: providerError.slice(0, 100) });
    return fail(providerError.slice(0, 100), 'The provider did not grant access.');
  }
  const code = query.get('code');
  if (!code) return fail('invalid_request', 'The provider sent no authorization code.');

  const connection = await prisma.connection.findFirst({
    where: { id: state.connectionId, orgId: state.orgId, archivedAt: null },
    include: { connector: true },
  });
  if (!connection) return fail('connection_not_found', 'The connection no longer exists.');
  try {
    const settings = oauthSettings(connection);
    const verifier = ring.decrypt(state.codeVerifier, oauthStateAad(state.id));
    const tokens = await tokenRequest(settings, connectorClientSecret(ring, connection.connector), {
      grant_type: 'authorization_code',
      code,
      redirect_uri: state.redirectUri,
      ...(verifier ? { code_verifier: verifier } : {}),
    });
    await storeGrantedTokens(prisma, services, {
      connection,
      slot: slotFromKey(state.valueSlot),
      tokens,
      audit: { principalKind: 'OAUTH_CALLBACK', principalId: state.id, action: 'oauth.authorized' },
    });
  } catch (err) {
    const e = err as { error?: string; message?: string; name?: string };
    const error = typeof e.error === 'string' ? e.error : e instanceof ValidationError ? 'invalid_value' : 'server_error';
    // Provider messages are safe to keep (no secrets); anything else is summarized.
    const message = e.name === 'OAuthGrantError' || err instanceof ValidationError ? String(e.message) : 'The token exchange failed.';
    services.log.warn({ connectionId: connection.id, error }, 'oauth callback failed');
    await audit('oauth.failed', { error });
    return fail(error, message);
  }
  return {
    ok: true,
    redirect: state.successUrl ? withParams(state.successUrl, { connection: connection.id, status: 'connected' }) : null,
    connectionId: connection.id,
  };
}
