import { randomUUID } from 'node:crypto';
import type { App } from '../../app.js';
import { providerErrorCode, providerErrorMeaning } from '../../auth/provider-errors.js';
import type { Actor, Principal } from '../../auth/principal.js';
import type { KeyRing } from '../../crypto/keyring.js';
import { hintFor, oauthStateAad, sealSecrets, type SecretHint } from '../../crypto/secrets.js';
import { ValidationError, type FieldProblem } from '../../errors.js';
import type { ConnectionValue } from '../../generated/prisma/client.js';
import type { Surface } from '../../audit.js';
import { write, type Op } from '../../op.js';
import { connectorClientSecret, oauthSettings, type OAuth2Settings } from '../connectors/service.js';
import type { ConnectionWithConnector } from '../connections/scope.js';
import { setValue, slotKey, slotOfKey, type Slot } from '../values/service.js';
import { OAuthGrantError, authorizeUrl, mergeTokens, newCodeVerifier, tokenRequest, type TokenSet } from './client.js';
import { flowCookieName, newBrowserBinding, sameBrowser, signStartLink, signState, verifyStartLink, verifyState } from './binding.js';
import { starterOf, usableStateWhere } from './scope.js';
import { revokedAmong } from '../access/authenticate.js';

/**
 * OAuth2 for connection values: the authorization-code flow (with PKCE) from
 * "start" to stored, sealed tokens; the client-credentials grant; and token
 * refresh at resolve time. The PKCE verifier lives only in the flow's row,
 * sealed. Nothing here logs request bodies (codes, secrets, tokens).
 */
export const STATE_TTL_MS = 10 * 60_000;
export const CALLBACK_PATH = '/oauth/callback';
/** The link a flow's browser opens first: it is given the flow's cookie there, then sent to the provider. */
export const START_PATH = '/oauth/start';
/** Where the Connect page's OAuth popup returns (rest/connect.ts); always an allowed success/failure URL. */
export const CONNECT_OAUTH_RETURN_PATH = '/connect/oauth-return';

export function callbackUrl(app: App): string {
  return app.config.publicUrl + CALLBACK_PATH;
}

/**
 * Success and failure URLs: http(s), on an origin of the organization's
 * settings (`oauthRedirectOrigins`), or the gateway's own Connect page
 * return (`PUBLIC_URL/connect/oauth-return`: the page's OAuth popup ends there).
 */
function redirectTargets(
  urls: { successUrl?: string | null; failureUrl?: string | null },
  allowedOrigins: string[],
  connectReturn: string,
): { successUrl: string | null; failureUrl: string | null } {
  const problems: FieldProblem[] = [];
  const check = (path: 'successUrl' | 'failureUrl'): string | null => {
    const v = urls[path];
    if (v == null) return null;
    let u: URL | null = null;
    try {
      u = new URL(v);
    } catch {}
    if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:')) problems.push({ path, message: 'must be an http(s) URL' });
    else if (!allowedOrigins.includes(u.origin) && `${u.origin}${u.pathname}` !== connectReturn) {
      problems.push({ path, message: "its origin is not one of the organization's OAuth redirect origins (updateOrganizationSettings)" });
    } else return u.toString();
    return null;
  };
  const out = { successUrl: check('successUrl'), failureUrl: check('failureUrl') };
  if (problems.length) throw new ValidationError(problems);
  return out;
}

/**
 * Creates a pending flow for one value and returns the gateway link to send
 * the user's browser to (it goes on to the provider: openStartLink).
 */
export async function startAuthorization(
  op: Op,
  target: { connection: ConnectionWithConnector; slot: Slot },
  urls: { successUrl?: string | null; failureUrl?: string | null },
): Promise<{ authorizeUrl: string; expiresAt: Date; redirectUri: string }> {
  const settings = oauthSettings(target.connection.connector);
  if (settings.grantType !== 'authorization_code') {
    throw ValidationError.field('connectionId', 'the connector uses the client_credentials grant: use connectOAuthClientCredentials');
  }
  const org = await op.tx.organization.findUniqueOrThrow({ where: { id: target.connection.orgId }, select: { oauthRedirectOrigins: true } });
  const { successUrl, failureUrl } = redirectTargets(urls, org.oauthRedirectOrigins, op.app.config.publicUrl + CONNECT_OAUTH_RETURN_PATH);
  const id = randomUUID();
  const verifier = settings.pkce ? newCodeVerifier() : '';
  const expiresAt = new Date(Date.now() + STATE_TTL_MS);
  const redirectUri = callbackUrl(op.app);
  const providerUrl = authorizeUrl(settings, {
    redirectUri,
    state: signState(op.app.config.authSecret, id),
    codeVerifier: verifier || undefined,
  });
  await op.tx.oAuthState.create({
    data: {
      id,
      orgId: target.connection.orgId,
      connectionId: target.connection.id,
      valueSlot: slotKey(target.slot),
      codeVerifier: op.app.config.keyRing.encrypt(verifier, oauthStateAad(id)),
      redirectUri,
      successUrl,
      failureUrl,
      ...starterOf(op.actor),
      providerUrl,
      expiresAt,
    },
  });
  await op.audit('oauth.start', 'Connection', target.connection.id, { slot: target.slot.kind });
  const link = `${op.app.config.publicUrl}${START_PATH}?flow=${encodeURIComponent(signStartLink(op.app.config.authSecret, id))}`;
  return { authorizeUrl: link, expiresAt, redirectUri };
}

export type StartLinkOutcome =
  | { ok: true; providerUrl: string; cookie: { name: string; value: string; maxAgeSeconds: number } }
  | { ok: false; message: string };

/**
 * A browser opens a flow's start link: the first one (only) is given the
 * flow's cookie and sent on to the provider. A link opened again, forged or
 * expired leads nowhere.
 */
export async function openStartLink(app: App, flow: string): Promise<StartLinkOutcome> {
  const id = verifyStartLink(app.config.authSecret, flow);
  const refused = { ok: false, message: 'This authorization link is invalid, expired or was already opened; start again from the app.' } as const;
  if (!id) return refused;
  const binding = newBrowserBinding();
  const now = new Date();
  const { count } = await app.db.prisma.oAuthState.updateMany({
    where: { ...usableStateWhere(id, now), claimedAt: null },
    data: { claimedAt: now, browserHash: binding.hash },
  });
  const state = count === 1 ? await app.db.prisma.oAuthState.findUnique({ where: { id } }) : null;
  if (!state?.providerUrl) return refused;
  const maxAgeSeconds = Math.max(1, Math.ceil((state.expiresAt.getTime() - now.getTime()) / 1000));
  return { ok: true, providerUrl: state.providerUrl, cookie: { name: flowCookieName(id), value: binding.value, maxAgeSeconds } };
}

/** Stores freshly granted tokens as the slot's value, ACTIVE (availability and feed follow), audited as `action`. */
export async function storeGrantedTokens(op: Op, target: { connection: ConnectionWithConnector; slot: Slot }, tokens: TokenSet, action: string): Promise<ConnectionValue> {
  const merged = mergeTokens({}, tokens);
  return setValue(op, target.connection, target.slot, { values: { ...merged.secrets, ...merged.fields }, status: 'ACTIVE', expiresAt: merged.expiresAt }, action);
}

function clientCredentialsParams(settings: OAuth2Settings): Record<string, string> {
  return {
    grant_type: 'client_credentials',
    ...(settings.scopes.length ? { scope: settings.scopes.join(' ') } : {}),
    ...(settings.audience ? { audience: settings.audience } : {}),
  };
}

/** Client-credentials grant: a token from the connector's client, stored as the value (ACTIVE). */
export async function connectClientCredentials(app: App, actor: Actor, via: Surface, target: { connection: ConnectionWithConnector; slot: Slot }): Promise<ConnectionValue> {
  const settings = oauthSettings(target.connection.connector);
  if (settings.grantType !== 'client_credentials') {
    throw ValidationError.field('connectionId', 'the connector uses the authorization_code grant: use startOAuthAuthorization');
  }
  let tokens: TokenSet;
  try {
    tokens = await tokenRequest(app.outbound, settings, connectorClientSecret(app.config.keyRing, target.connection.connector), clientCredentialsParams(settings));
  } catch (err) {
    if (err instanceof OAuthGrantError) throw ValidationError.field('connectionId', `the provider did not issue a token: ${err.message}`);
    throw err;
  }
  return write(app, actor, via, (op) => storeGrantedTokens(op, target, tokens, 'oauth.clientCredentials'));
}

export type CallbackOutcome = (
  | { ok: true; redirect: string | null; connectionId: string }
  | { ok: false; redirect: string | null; error: string; message: string }
) & {
  /** The flow's browser cookie, to delete once the flow is over. */
  cookie?: string;
};

function withParams(url: string, params: Record<string, string>): string {
  const u = new URL(url);
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
  return u.toString();
}

/**
 * Handles the provider's redirect back: checks the state, that this is the
 * browser that opened the flow's link (`cookie` reads the request's cookies)
 * and consumes the state (once); then that the starter's credential still
 * stands, exchanges the code (with the PKCE verifier) and stores the tokens.
 * Acts as the flow itself (`OAUTH_CALLBACK`, the state's id) in the audit log.
 */
export async function completeAuthorization(app: App, query: URLSearchParams, cookie: (name: string) => string | undefined): Promise<CallbackOutcome> {
  const prisma = app.db.prisma;
  const ring = app.config.keyRing;
  const id = verifyState(app.config.authSecret, query.get('state') ?? '');
  if (!id) return { ok: false, redirect: null, error: 'invalid_state', message: 'The authorization state is invalid.' };
  const found = await prisma.oAuthState.findUnique({ where: { id }, select: { browserHash: true } });
  if (!found) return { ok: false, redirect: null, error: 'invalid_state', message: 'The authorization state is unknown.' };
  // Another browser (a leaked provider URL, a forwarded link): nothing happens, and its user is not sent anywhere.
  if (!sameBrowser(cookie(flowCookieName(id)), found.browserHash)) {
    return { ok: false, redirect: null, error: 'browser_mismatch', message: 'This authorization was started in another browser; start again from the app.' };
  }

  // Single use: exactly one callback can flip usedAt.
  const now = new Date();
  const { count } = await prisma.oAuthState.updateMany({ where: usableStateWhere(id, now), data: { usedAt: now } });
  const state = await prisma.oAuthState.findUniqueOrThrow({ where: { id } });
  const fail = (error: string, message: string): CallbackOutcome => ({
    ok: false,
    redirect: state.failureUrl ? withParams(state.failureUrl, { error, ...(count === 1 ? { connection: state.connectionId } : {}) }) : null,
    error,
    message,
    cookie: flowCookieName(id),
  });
  if (count !== 1) {
    return state.expiresAt <= now && !state.usedAt
      ? fail('state_expired', 'The authorization request expired; start again.')
      : fail('state_used', 'This authorization response was already used.');
  }
  const startedBy = { kind: state.startedByKind as Principal['kind'], id: state.startedById ?? '', signingKeyId: state.startedViaKey };
  const actor: Actor = { kind: 'OAUTH_CALLBACK', id: state.id, orgId: state.orgId };
  const audit = (action: string, detail: Record<string, unknown>) =>
    write(app, actor, 'oauth', (op) => op.audit(action, 'Connection', state.connectionId, { ...detail, startedBy: { kind: startedBy.kind, id: startedBy.id } }));
  if (!state.startedByKind || (await revokedAmong(app, [startedBy])).size) {
    await audit('oauth.failed', { error: 'access_revoked' });
    return fail('access_revoked', 'The credential that started this authorization was revoked; start again.');
  }

  // The callback's URL is anyone's to craft: only a known error code is repeated (page, redirect, audit).
  const providerError = query.get('error');
  if (providerError) {
    const error = providerErrorCode(providerError);
    await audit('oauth.denied', { error });
    return fail(error, `The provider did not grant access: ${providerErrorMeaning(providerError)}.`);
  }
  const code = query.get('code');
  if (!code) return fail('invalid_request', 'The provider sent no authorization code.');

  const connection = await prisma.connection.findFirst({
    where: { id: state.connectionId, orgId: state.orgId, archivedAt: null },
    include: { connector: true },
  });
  if (!connection) return fail('connection_not_found', 'The connection no longer exists.');
  try {
    const settings = oauthSettings(connection.connector);
    const verifier = ring.decrypt(state.codeVerifier, oauthStateAad(state.id));
    const tokens = await tokenRequest(app.outbound, settings, connectorClientSecret(ring, connection.connector), {
      grant_type: 'authorization_code',
      code,
      redirect_uri: state.redirectUri,
      ...(verifier ? { code_verifier: verifier } : {}),
    });
    await write(app, actor, 'oauth', (op) => storeGrantedTokens(op, { connection, slot: slotOfKey(state.valueSlot) }, tokens, 'oauth.authorized'));
  } catch (err) {
    const e = err as { error?: string; message?: string; name?: string };
    const error = typeof e.error === 'string' ? e.error : e instanceof ValidationError ? 'invalid_value' : 'server_error';
    // Provider messages are safe to keep (no secrets); anything else is summarized.
    const message = e.name === 'OAuthGrantError' || err instanceof ValidationError ? String(e.message) : 'The token exchange failed.';
    app.log.warn({ connectionId: connection.id, error }, 'oauth callback failed');
    await audit('oauth.failed', { error });
    return fail(error, message);
  }
  return {
    ok: true,
    redirect: state.successUrl ? withParams(state.successUrl, { connection: connection.id, status: 'connected' }) : null,
    connectionId: connection.id,
    cookie: flowCookieName(id),
  };
}

// ───────────────────────────── refresh ─────────────────────────────

/**
 * What renewing a token needs, shared by every path that renews one (the
 * background refresher, a resolution, the proxy: health/refresh.ts, one
 * claim → call → compare-and-set path): when a token is due, what a renewal
 * writes, which token request renews it.
 */
/** Refresh when the token expires within this margin. */
export const REFRESH_MARGIN_MS = 60_000;

export function needsRefresh(value: Pick<ConnectionValue, 'expiresAt'>, now = Date.now()): boolean {
  return value.expiresAt !== null && value.expiresAt.getTime() - now < REFRESH_MARGIN_MS;
}

type Hints = Record<string, SecretHint>;

/** The columns of a value after a successful refresh: new tokens sealed, a refresh token not sent again kept, failures reset. */
export function refreshedValueData(ring: KeyRing, value: ConnectionValue, refreshToken: string | undefined, tokens: TokenSet) {
  const merged = mergeTokens({ refreshToken }, tokens);
  const hints: Hints = { ...(value.secretHints as unknown as Hints) };
  for (const [k, v] of Object.entries(merged.secrets)) hints[k] = hintFor(v);
  return {
    secrets: { ...(value.secrets as Record<string, string>), ...sealSecrets(ring, value.id, merged.secrets) },
    secretHints: hints as object,
    fields: { ...(value.fields as object), ...merged.fields },
    expiresAt: merged.expiresAt,
    refreshFailures: 0,
    lastError: null,
    lastErrorAt: null,
    version: { increment: 1 },
  };
}

/** The token request that renews a value: client credentials again, or its refresh token; null when it has none. */
export function renewalParams(settings: OAuth2Settings, secrets: Record<string, string>): Record<string, string> | null {
  if (settings.grantType === 'client_credentials') return clientCredentialsParams(settings);
  if (!secrets.refreshToken) return null;
  return { grant_type: 'refresh_token', refresh_token: secrets.refreshToken, ...(settings.scopes.length ? { scope: settings.scopes.join(' ') } : {}) };
}
